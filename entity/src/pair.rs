//! Pairs of patient records in canonical order. `match_score` and `review_task` store a pair as
//! `patient_a < patient_b` (a CHECK constraint), so each unordered pair has one row and a
//! `not_duplicate` decision is found whichever way round the pair comes up again.
//!
//! The order is the UUIDs' byte order, which is the same for Rust's `Uuid::cmp`, PostgreSQL's
//! `uuid` comparison and SQLite's BLOB comparison.

use sea_orm::Select;
use sea_orm::entity::prelude::*;

use crate::{match_score, review_task};

/// The pair in canonical order (smaller UUID first).
pub fn ordered_pair(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a <= b { (a, b) } else { (b, a) }
}

impl review_task::Entity {
    /// The review task of the unordered pair {a, b}, whatever its status.
    pub fn find_by_pair(a: Uuid, b: Uuid) -> Select<Self> {
        let (a, b) = ordered_pair(a, b);
        Self::find()
            .filter(review_task::Column::PatientA.eq(a))
            .filter(review_task::Column::PatientB.eq(b))
    }
}

impl match_score::Entity {
    /// The scores of the unordered pair {a, b}, one per model version.
    pub fn find_by_pair(a: Uuid, b: Uuid) -> Select<Self> {
        let (a, b) = ordered_pair(a, b);
        Self::find()
            .filter(match_score::Column::PatientA.eq(a))
            .filter(match_score::Column::PatientB.eq(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_either_way_round_to_the_same_pair() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(ordered_pair(a, b), (a, b));
        assert_eq!(ordered_pair(b, a), (a, b));
        // Byte order, not the order of the last group.
        let hi = Uuid::parse_str("ff000000-0000-0000-0000-000000000000").unwrap();
        let lo = Uuid::parse_str("00ffffff-ffff-ffff-ffff-ffffffffffff").unwrap();
        assert_eq!(ordered_pair(hi, lo), (lo, hi));
    }
}
