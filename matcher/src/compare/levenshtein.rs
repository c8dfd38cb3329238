//! Normalized Levenshtein similarity: `1 - distance / max(len)` (through `strsim`).

/// Similarity in `0.0..=1.0` (1.0 for two empty strings).
///
/// ```
/// use matcher::compare::levenshtein::{distance, similarity};
/// assert_eq!(distance("kitten", "sitting"), 3);
/// assert!((similarity("kitten", "sitting") - (1.0 - 3.0 / 7.0)).abs() < 1e-12);
/// assert_eq!(similarity("", ""), 1.0);
/// ```
pub fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(a, b)
}

/// Levenshtein edit distance (insertions, deletions, substitutions), in characters.
pub fn distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn published_values() {
        assert_eq!(super::distance("saturday", "sunday"), 3);
        assert_eq!(super::distance("flaw", "lawn"), 2);
        assert!((super::similarity("saturday", "sunday") - 0.625).abs() < 1e-12);
    }
}
