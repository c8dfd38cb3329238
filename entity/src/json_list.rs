//! `StringList`: a list of strings kept in one JSON column (given names, prefixes, suffixes,
//! address lines, organization aliases). It serialises as a plain JSON array.

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

/// A list of strings stored as a JSON array (`jsonb` on PostgreSQL, JSON text on SQLite).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, FromJsonQueryResult,
)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl StringList {
    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The items.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The items joined with single spaces ("Mary Ann").
    pub fn joined(&self) -> String {
        self.0.join(" ")
    }
}

impl<S: Into<String>> FromIterator<S> for StringList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

impl From<Vec<String>> for StringList {
    fn from(v: Vec<String>) -> Self {
        Self(v)
    }
}

impl<const N: usize> From<[&str; N]> for StringList {
    fn from(v: [&str; N]) -> Self {
        v.into_iter().collect()
    }
}
