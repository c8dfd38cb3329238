//! Pure record-matching engine for a Master Patient Index: normalization, phonetic keys,
//! comparators, Fellegi-Sunter scoring trained without labels, an in-memory candidate index,
//! rayon-parallel batch deduplication and linkage, synthetic data and quality evaluation.
//!
//! The crate knows nothing of databases, HTTP or async runtimes.
//!
//! # Example
//!
//! Normalize two registrations of the same woman, score them with the built-in Fellegi-Sunter
//! model and ask why:
//!
//! ```
//! use matcher::{normalize, Address, MatchDecision, Model, PersonRecord};
//!
//! let first = PersonRecord {
//!     given_names: vec!["Margaret".into()],
//!     family_names: vec!["Whitfield".into()],
//!     birth_date: Some("1961-04-12".into()),
//!     addresses: vec![Address {
//!         lines: vec!["14 Kent Street".into()],
//!         postal_code: Some("2600".into()),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let second = PersonRecord {
//!     given_names: vec!["Peggy".into()],               // a nickname
//!     family_names: vec!["WHITFEILD".into()],          // a typo
//!     birth_date: Some("12/04/1961".into()),           // another format
//!     addresses: vec![Address {
//!         lines: vec!["14 kent st".into()],            // an abbreviation
//!         postal_code: Some("2600".into()),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let (a, b) = (normalize(&first), normalize(&second));
//!
//! let model = Model::builtin();
//! let score = model.score(&a, &b);
//! assert_eq!(model.decide(&score, &a, &b), MatchDecision::Certain);
//!
//! let why = model.explain(&a, &b);
//! let levels: Vec<(&str, &str)> = why
//!     .comparisons
//!     .iter()
//!     .filter(|c| c.level != "missing")
//!     .map(|c| (c.comparison.as_str(), c.level.as_str()))
//!     .collect();
//! assert_eq!(
//!     levels,
//!     [("given_name", "nickname"), ("family_name", "phonetic"), ("birth_date", "exact"), ("address", "exact")]
//! );
//! ```
//!
//! Train a model on your own records without labels with [`training::train`], over candidate
//! pairs from [`blocking::candidate_pairs`].
#![warn(missing_docs)]

pub mod batch;
pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod error;
pub mod eval;
pub mod maternity;
pub mod normalize;
pub mod phonetic;
pub mod record;
pub mod scoring;
pub mod synth;
pub mod training;

pub use error::{DateError, Error, Result};
pub use normalize::normalize;
pub use record::{
    Address, BirthDate, CompactString, DatePrecision, Identifier, Maternity, NormalizedAddress,
    NormalizedIdentifier, NormalizedMaternity, NormalizedName, NormalizedRecord, PersonRecord,
    PhoneticKeys, Sex,
};
pub use scoring::{Explanation, HouseholdMixture, MatchDecision, Model, Score, Thresholds};
