//! Jaro-Winkler similarity (prefix scale 0.1, prefix up to 4, boost above 0.7), as `strsim`.
//!
//! Short ASCII inputs (both at most 64 bytes, the case of every name) take an allocation-free path
//! with bit masks that returns exactly `strsim::jaro_winkler`'s value; anything else goes to `strsim`.

/// Jaro similarity in `0.0..=1.0`.
///
/// ```
/// use matcher::compare::jaro_winkler::jaro;
/// assert!((jaro("martha", "marhta") - 0.9444).abs() < 1e-4);
/// ```
pub fn jaro(a: &str, b: &str) -> f64 {
    match jaro_ascii(a.as_bytes(), b.as_bytes()) {
        Some(sim) if a.is_ascii() && b.is_ascii() => sim,
        _ => strsim::jaro(a, b),
    }
}

/// Jaro-Winkler similarity in `0.0..=1.0`; 1.0 exactly when the strings are equal.
///
/// ```
/// use matcher::compare::jaro_winkler::similarity;
/// assert!((similarity("martha", "marhta") - 0.9611).abs() < 1e-4);
/// assert!((similarity("dwayne", "duane") - 0.84).abs() < 1e-4);
/// assert!((similarity("dixon", "dicksonx") - 0.8133).abs() < 1e-4);
/// assert_eq!(similarity("anne", "anne"), 1.0);
/// ```
pub fn similarity(a: &str, b: &str) -> f64 {
    if a.is_ascii()
        && b.is_ascii()
        && let Some(sim) = jaro_winkler_bytes(a.as_bytes(), b.as_bytes())
    {
        return sim;
    }
    strsim::jaro_winkler(a, b)
}

/// Jaro-Winkler on byte slices of at most 64 bytes each (`None` when longer).
pub fn jaro_winkler_bytes(a: &[u8], b: &[u8]) -> Option<f64> {
    let sim = jaro_ascii(a, b)?;
    if sim > 0.7 {
        let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
        Some(sim + 0.1 * prefix as f64 * (1.0 - sim))
    } else {
        Some(sim)
    }
}

fn jaro_ascii(a: &[u8], b: &[u8]) -> Option<f64> {
    let (a_len, b_len) = (a.len(), b.len());
    if a_len > 64 || b_len > 64 {
        return None;
    }
    if a_len == 0 && b_len == 0 {
        return Some(1.0);
    }
    if a_len == 0 || b_len == 0 {
        return Some(0.0);
    }
    if a == b {
        return Some(1.0);
    }
    let range = (a_len.max(b_len) / 2).saturating_sub(1);
    // Positions of every byte value in `b`, bucketed by the low six bits; a bucket may hold
    // other bytes with the same low bits, so candidates are checked.
    let mut positions = [0u64; 64];
    for (j, &y) in b.iter().enumerate() {
        positions[(y & 63) as usize] |= 1u64 << j;
    }
    let mut a_flags = 0u64;
    let mut b_flags = 0u64;
    let mut matches = 0usize;
    for (i, &x) in a.iter().enumerate() {
        let lo = i.saturating_sub(range);
        let hi = (i + range + 1).min(b_len);
        if lo >= hi {
            continue;
        }
        let window = (u64::MAX >> (64 - (hi - lo))) << lo;
        let mut candidates = positions[(x & 63) as usize] & window & !b_flags;
        while candidates != 0 {
            let j = candidates.trailing_zeros() as usize;
            if b[j] == x {
                a_flags |= 1u64 << i;
                b_flags |= 1u64 << j;
                matches += 1;
                break;
            }
            candidates &= candidates - 1;
        }
    }
    if matches == 0 {
        return Some(0.0);
    }
    let mut transpositions = 0usize;
    let mut j = 0usize;
    for (i, &x) in a.iter().enumerate() {
        if a_flags & (1u64 << i) == 0 {
            continue;
        }
        while b_flags & (1u64 << j) == 0 {
            j += 1;
        }
        if x != b[j] {
            transpositions += 1;
        }
        j += 1;
    }
    transpositions /= 2;
    let m = matches as f64;
    Some((m / a_len as f64 + m / b_len as f64 + (matches - transpositions) as f64 / m) / 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_values() {
        // Winkler (1990) / Wikipedia reference values.
        for (a, b, expected) in [
            ("MARTHA", "MARHTA", 0.9611),
            ("DWAYNE", "DUANE", 0.84),
            ("DIXON", "DICKSONX", 0.8133),
            ("JELLYFISH", "SMELLYFISH", 0.8963),
        ] {
            let got = similarity(a, b);
            assert!((got - expected).abs() < 1e-4, "{a}/{b}: {got}");
        }
        assert!((jaro("CRATE", "TRACE") - 0.7333).abs() < 1e-4);
    }

    #[test]
    fn fast_path_equals_strsim() {
        let words = [
            "",
            "a",
            "ab",
            "smith",
            "smyth",
            "schmidt",
            "van der berg",
            "vanderberg",
            "catherine",
            "kathryn",
            "o",
            "aaaaab",
            "baaaaa",
        ];
        for a in words {
            for b in words {
                assert_eq!(similarity(a, b), strsim::jaro_winkler(a, b), "{a}/{b}");
            }
        }
        assert_eq!(similarity("zoë", "zoe"), strsim::jaro_winkler("zoë", "zoe"));
    }
}
