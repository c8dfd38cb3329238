//! Damerau-Levenshtein similarity (adjacent transpositions count as one edit), through `strsim`,
//! plus an allocation-free "at most one edit or one adjacent transposition" test for identifiers.

/// Similarity in `0.0..=1.0`: `1 - distance / max(len)`.
///
/// ```
/// use matcher::compare::damerau::{distance, similarity};
/// assert_eq!(distance("ca", "abc"), 2);
/// assert_eq!(distance("1234567", "1243567"), 1);
/// assert!((similarity("1234567", "1243567") - (1.0 - 1.0 / 7.0)).abs() < 1e-12);
/// ```
pub fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_damerau_levenshtein(a, b)
}

/// Unrestricted Damerau-Levenshtein distance.
pub fn distance(a: &str, b: &str) -> usize {
    strsim::damerau_levenshtein(a, b)
}

/// True when `a` and `b` differ by exactly one substitution, insertion, deletion or adjacent
/// transposition (equal strings are not within "one edit": they are exact). Byte-wise.
///
/// ```
/// use matcher::compare::damerau::one_edit_or_transposition;
/// assert!(one_edit_or_transposition("1234567", "1234568"));
/// assert!(one_edit_or_transposition("1234567", "1243567"));
/// assert!(one_edit_or_transposition("1234567", "123567"));
/// assert!(!one_edit_or_transposition("1234567", "1234567"));
/// assert!(!one_edit_or_transposition("1234567", "7654321"));
/// ```
pub fn one_edit_or_transposition(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return false;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let mut diffs = (0..a.len()).filter(|&i| a[i] != b[i]);
            let (Some(first), second, third) = (diffs.next(), diffs.next(), diffs.next()) else {
                return false;
            };
            match (second, third) {
                (None, _) => true,
                (Some(s), None) => s == first + 1 && a[first] == b[s] && a[s] == b[first],
                _ => false,
            }
        }
        1 => {
            let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
            short[prefix..] == long[prefix + 1..]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_values() {
        assert_eq!(distance("abcdef", "abcfed"), 2);
        assert_eq!(distance("hello", "ehllo"), 1);
        assert!(one_edit_or_transposition("", "a"));
        assert!(!one_edit_or_transposition("abc", "cba"));
        assert!(one_edit_or_transposition("ab", "ba"));
    }
}
