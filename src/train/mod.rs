//! Contrastive training of encoders on unlabelled photos (work in progress: the losses and
//! the trainable layers come first).

pub mod augment;
pub mod loss;
pub mod net;
pub mod optim;
