//! Data-entry errors applied to field values: keyboard-neighbour substitutions, transpositions,
//! deletions, doubled letters and OCR confusions (0/O, 1/l, rn/m, 5/S ...).
//!
//! Every function returns `None` when it could not change the value (too short, nothing to
//! confuse), so the generator only flags a record as corrupted when it really is.

use rand::{Rng, RngExt};

/// QWERTY neighbours of a lower-case letter or digit.
fn neighbours(c: char) -> &'static str {
    match c {
        'q' => "wa",
        'w' => "qeas",
        'e' => "wrsd",
        'r' => "etdf",
        't' => "ryfg",
        'y' => "tugh",
        'u' => "yihj",
        'i' => "uojk",
        'o' => "ipkl",
        'p' => "ol",
        'a' => "qwsz",
        's' => "awedxz",
        'd' => "serfcx",
        'f' => "drtgvc",
        'g' => "ftyhbv",
        'h' => "gyujnb",
        'j' => "huikmn",
        'k' => "jiolm",
        'l' => "kop",
        'z' => "asx",
        'x' => "zsdc",
        'c' => "xdfv",
        'v' => "cfgb",
        'b' => "vghn",
        'n' => "bhjm",
        'm' => "njk",
        '1' => "2",
        '2' => "13",
        '3' => "24",
        '4' => "35",
        '5' => "46",
        '6' => "57",
        '7' => "68",
        '8' => "79",
        '9' => "80",
        '0' => "9",
        _ => "",
    }
}

fn pick<R: Rng + ?Sized>(rng: &mut R, s: &str) -> Option<char> {
    let n = s.chars().count();
    if n == 0 {
        return None;
    }
    s.chars().nth(rng.random_range(0..n))
}

/// Positions of characters that are letters or digits.
fn alnum_positions(chars: &[char]) -> Vec<usize> {
    chars
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .collect()
}

/// Replaces one letter or digit by a neighbouring key, keeping its case.
pub(crate) fn keyboard_substitution<R: Rng + ?Sized>(rng: &mut R, value: &str) -> Option<String> {
    let mut chars: Vec<char> = value.chars().collect();
    let positions = alnum_positions(&chars);
    if positions.len() < 2 {
        return None;
    }
    // Errors are rarer on the first character, as in real registrations.
    let i = positions[rng.random_range(1..positions.len())];
    let original = chars[i];
    let replacement = pick(rng, neighbours(original.to_ascii_lowercase()))?;
    chars[i] = if original.is_ascii_uppercase() {
        replacement.to_ascii_uppercase()
    } else {
        replacement
    };
    Some(chars.into_iter().collect())
}

/// Swaps two adjacent different letters or digits.
pub(crate) fn transposition<R: Rng + ?Sized>(rng: &mut R, value: &str) -> Option<String> {
    let mut chars: Vec<char> = value.chars().collect();
    let candidates: Vec<usize> = (0..chars.len().saturating_sub(1))
        .filter(|&i| {
            chars[i].is_ascii_alphanumeric()
                && chars[i + 1].is_ascii_alphanumeric()
                && !chars[i].eq_ignore_ascii_case(&chars[i + 1])
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let i = candidates[rng.random_range(0..candidates.len())];
    chars.swap(i, i + 1);
    // Keep "Smith" -> "Msith" readable as a name: case follows position.
    if i == 0 && chars[1].is_ascii_uppercase() && chars[0].is_ascii_lowercase() {
        chars[0] = chars[0].to_ascii_uppercase();
        chars[1] = chars[1].to_ascii_lowercase();
    }
    Some(chars.into_iter().collect())
}

/// Drops one letter or digit (not the first), keeping at least two.
pub(crate) fn deletion<R: Rng + ?Sized>(rng: &mut R, value: &str) -> Option<String> {
    let mut chars: Vec<char> = value.chars().collect();
    let positions = alnum_positions(&chars);
    if positions.len() < 4 {
        return None;
    }
    let i = positions[rng.random_range(1..positions.len())];
    chars.remove(i);
    Some(chars.into_iter().collect())
}

/// Doubles one letter or digit (not the first).
pub(crate) fn insertion<R: Rng + ?Sized>(rng: &mut R, value: &str) -> Option<String> {
    let mut chars: Vec<char> = value.chars().collect();
    let positions = alnum_positions(&chars);
    if positions.len() < 2 {
        return None;
    }
    let i = positions[rng.random_range(1..positions.len())];
    let c = chars[i].to_ascii_lowercase();
    chars.insert(
        i,
        if chars[i].is_ascii_digit() {
            chars[i]
        } else {
            c
        },
    );
    Some(chars.into_iter().collect())
}

/// One typing error of a random kind: substitution, transposition, deletion or insertion.
pub(crate) fn typo<R: Rng + ?Sized>(rng: &mut R, value: &str) -> Option<String> {
    let first = rng.random_range(0..4u8);
    // Fall back to the other kinds when the chosen one cannot apply.
    (0..4u8).find_map(|k| match (first + k) % 4 {
        0 => keyboard_substitution(rng, value),
        1 => transposition(rng, value),
        2 => deletion(rng, value),
        _ => insertion(rng, value),
    })
}

/// Pairs that optical character recognition (and hurried reading of handwriting) confuses.
const OCR_CONFUSIONS: &[(&str, &str)] = &[
    ("rn", "m"),
    ("m", "rn"),
    ("cl", "d"),
    ("vv", "w"),
    ("w", "vv"),
    ("O", "0"),
    ("o", "0"),
    ("0", "O"),
    ("l", "1"),
    ("1", "l"),
    ("I", "1"),
    ("i", "l"),
    ("S", "5"),
    ("5", "S"),
    ("B", "8"),
    ("8", "B"),
    ("Z", "2"),
    ("2", "Z"),
    ("G", "6"),
    ("e", "c"),
    ("h", "b"),
    ("u", "v"),
];

/// One OCR confusion at a random applicable place.
pub(crate) fn ocr<R: Rng + ?Sized>(rng: &mut R, value: &str) -> Option<String> {
    let mut sites: Vec<(usize, &str, &str)> = Vec::new();
    for &(from, to) in OCR_CONFUSIONS {
        // Not the first character: a confused initial is rarer and would hide too much.
        for (at, _) in value.match_indices(from).filter(|&(at, _)| at > 0) {
            sites.push((at, from, to));
        }
    }
    if sites.is_empty() {
        return None;
    }
    let (at, from, to) = sites[rng.random_range(0..sites.len())];
    let mut out = String::with_capacity(value.len() + 1);
    out.push_str(&value[..at]);
    out.push_str(to);
    out.push_str(&value[at + from.len()..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(3)
    }

    /// Levenshtein distance, to check that each error is one edit away.
    fn edits(a: &str, b: &str) -> usize {
        strsim::levenshtein(a, b)
    }

    #[test]
    fn typing_errors_are_single_edits() {
        let mut rng = rng();
        for _ in 0..500 {
            let sub = keyboard_substitution(&mut rng, "Margaret").unwrap();
            assert_eq!(edits("Margaret", &sub), 1, "{sub}");
            let del = deletion(&mut rng, "Margaret").unwrap();
            assert_eq!(del.len(), 7);
            let ins = insertion(&mut rng, "Margaret").unwrap();
            assert_eq!(ins.len(), 9);
            let tr = transposition(&mut rng, "Margaret").unwrap();
            assert_eq!(
                strsim::damerau_levenshtein("margaret", &tr.to_lowercase()),
                1
            );
            assert!(sub.starts_with('M') && del.starts_with('M') && ins.starts_with('M'));
        }
    }

    #[test]
    fn keyboard_neighbours_are_adjacent_keys() {
        // "ab": only 'b' may change, into one of its neighbours v, g, h, n.
        let mut rng = rng();
        for _ in 0..100 {
            let out = keyboard_substitution(&mut rng, "ab").unwrap();
            assert!(["av", "ag", "ah", "an"].contains(&out.as_str()), "{out}");
        }
    }

    #[test]
    fn errors_refuse_values_they_cannot_change() {
        let mut rng = rng();
        assert_eq!(transposition(&mut rng, "aa"), None);
        assert_eq!(deletion(&mut rng, "Al"), None);
        assert_eq!(ocr(&mut rng, "xyz"), None);
        assert_eq!(typo(&mut rng, ""), None);
    }

    #[test]
    fn ocr_confusions_are_the_classic_ones() {
        let mut rng = rng();
        assert_eq!(ocr(&mut rng, "Barn").as_deref(), Some("Bam"));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(ocr(&mut rng, "Solomon 105").unwrap());
        }
        assert!(seen.contains("So1omon 105"));
        assert!(seen.contains("Solomon 1O5"));
        assert!(seen.contains("Solomon 10S"));
        assert!(seen.contains("Solornon 105"));
    }
}
