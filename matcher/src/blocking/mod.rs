//! Candidate selection: which records are worth scoring against which.
//!
//! Two entry points share one feature model:
//! - [`CandidateIndex`]: an in-memory index that supports insert, update and remove (the service
//!   registers one record at a time) and answers top-K candidate queries;
//! - [`candidate_pairs`] and [`candidate_pairs_between`]: the candidate pairs of a whole batch
//!   (deduplication of one set, linkage of two), built on the same index and queried in parallel.
//!
//! # Features
//! Every record is reduced to a set of features, each one a 64-bit hash tagged with its kind
//! ([`FeatureKind`]):
//! - name trigrams: the trigrams of every word of every given and family name, padded with a
//!   space on each side (`" al"`, `"ali"`, `"lic"`, `"ice"`, `"ce "`); given and family names
//!   share one bag, so swapped names still meet;
//! - blocking keys: identifier values (the system is ignored, so one national id typed under two
//!   system labels still meets), e-mails, the last seven digits of each phone, the birth date
//!   with day and month in sorted order (so a day-month swap still meets), the Double Metaphone
//!   code of each given and family name together with the birth year, and each postal code
//!   together with the initial of the current family name.
//!
//! # Ranking
//! A candidate's blocking score is the sum, over the features it shares with the query, of the
//! weight of the feature's kind ([`KeyWeights`]). Candidates are ranked by score, descending, ties
//! broken by key, ascending; the ranking is therefore deterministic and independent of insertion
//! order.
//!
//! # Caps
//! Common values must not explode the work. A blocking key whose posting list holds more than
//! [`BlockingConfig::max_block_size`] records is skipped. Trigrams are sorted by posting length and
//! only the rarest are used: at most [`BlockingConfig::max_trigrams`] of them, while the sum of
//! their posting lengths stays within [`BlockingConfig::max_trigram_postings`].

mod features;
mod index;
mod pairs;

pub use features::FeatureKind;
pub use index::{Candidate, CandidateIndex, IndexStats};
pub use pairs::{candidate_pairs, candidate_pairs_between};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The weight each kind of shared feature adds to a candidate's blocking score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyWeights {
    /// One shared name trigram.
    pub trigram: u32,
    /// A shared identifier value.
    pub identifier: u32,
    /// A shared e-mail address.
    pub email: u32,
    /// A shared phone (last seven digits).
    pub phone: u32,
    /// A shared birth date (day and month in either order).
    pub birth_date: u32,
    /// A shared phonetic name code and birth year.
    pub name_year: u32,
    /// A shared postal code and family-name initial.
    pub postal_initial: u32,
}

impl Default for KeyWeights {
    fn default() -> Self {
        Self {
            trigram: 1,
            identifier: 12,
            email: 10,
            phone: 6,
            birth_date: 5,
            name_year: 4,
            postal_initial: 3,
        }
    }
}

impl KeyWeights {
    /// The weight of one shared feature of `kind`.
    pub fn weight(&self, kind: FeatureKind) -> u32 {
        match kind {
            FeatureKind::Trigram => self.trigram,
            FeatureKind::Identifier => self.identifier,
            FeatureKind::Email => self.email,
            FeatureKind::Phone => self.phone,
            FeatureKind::BirthDate => self.birth_date,
            FeatureKind::NameYear => self.name_year,
            FeatureKind::PostalInitial => self.postal_initial,
        }
    }
}

/// How candidates are selected: caps, weights and, for batches, how many candidates per record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockingConfig {
    /// Blocking keys (everything but trigrams) shared by more records than this are skipped.
    pub max_block_size: usize,
    /// At most this many of the query's trigrams are used, the rarest first.
    pub max_trigrams: usize,
    /// The posting lists of the trigrams used may hold at most this many entries in total;
    /// a trigram whose list alone is longer is never used.
    pub max_trigram_postings: usize,
    /// Candidates scoring below this are dropped (one shared trigram alone is noise).
    pub min_score: u32,
    /// Candidates kept per record in batch pair generation ([`candidate_pairs`]).
    pub k: usize,
    /// Weights of the feature kinds.
    pub weights: KeyWeights,
}

impl Default for BlockingConfig {
    /// Settings for the interactive index (top-K queries against up to millions of records).
    fn default() -> Self {
        Self {
            max_block_size: 1_000,
            max_trigrams: 10,
            max_trigram_postings: 5_000,
            min_score: 3,
            k: 10,
            weights: KeyWeights::default(),
        }
    }
}

impl BlockingConfig {
    /// Settings for batch pair generation: every record is a query, so each query gets a smaller
    /// work budget than an interactive one. On 100k synthetic records these keep pair
    /// completeness at about 0.995 with about 5 candidate pairs per record.
    pub fn batch() -> Self {
        Self {
            max_block_size: 300,
            max_trigrams: 8,
            max_trigram_postings: 1_000,
            min_score: 3,
            k: 8,
            weights: KeyWeights::default(),
        }
    }

    /// Checks that the caps are usable.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name: &str, reason: &str| {
            Err(Error::InvalidParameter {
                name: name.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.max_block_size == 0 {
            return invalid("max_block_size", "must be at least 1");
        }
        if self.k == 0 {
            return invalid("k", "must be at least 1");
        }
        Ok(())
    }
}
