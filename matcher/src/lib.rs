//! Pure record-matching engine for a Master Patient Index: normalization, phonetic keys,
//! comparators, Fellegi-Sunter scoring trained without labels, an in-memory candidate index,
//! rayon-parallel batch deduplication and linkage, synthetic data and quality evaluation.
//!
//! The crate knows nothing of databases, HTTP or async runtimes.
#![warn(missing_docs)]

pub mod batch;
pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod error;
pub mod eval;
pub mod normalize;
pub mod phonetic;
pub mod record;
pub mod scoring;
pub mod synth;
pub mod training;

pub use error::{DateError, Error, Result};
pub use normalize::normalize;
pub use record::{
    Address, BirthDate, Identifier, NormalizedAddress, NormalizedIdentifier, NormalizedName,
    NormalizedRecord, PersonRecord, PhoneticKeys, Sex,
};
pub use scoring::{Explanation, MatchDecision, Model, Score, Thresholds};
