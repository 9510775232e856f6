//! Contrastive training of encoders on unlabelled photos: two augmented views of each photo
//! are a positive pair, the other photos of the batch are negatives.

pub mod augment;
pub mod hard;
pub mod loss;
pub mod net;
pub mod optim;
pub mod trainer;

/// The current time (UTC, RFC 3339), for model metadata.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
