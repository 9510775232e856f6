//! Contrastive training of encoders on unlabelled photos: two augmented views of each photo
//! are a positive pair, the other photos of the batch are negatives.
//!
//! Owns the views ([`augment`]), the losses ([`loss`]: NT-Xent, KoLeo, similarity
//! distillation), the trainable network ([`net`]), the optimiser and schedule ([`optim`]), where the projection starts ([`projection`]),
//! hard-negative batches ([`hard`]) and the loop with its checkpoints and export
//! ([`trainer`]). Invariant: a run is resumable exactly (batches are drawn from the seed and
//! the step) and the exported model is read by [`crate::model::Encoder`] like any other.
//!
//! Entry point: [`trainer::train`].

pub mod adapt;
pub mod augment;
pub mod hard;
pub mod loss;
pub mod net;
pub mod optim;
pub mod projection;
pub mod trainer;
pub mod verifier;
