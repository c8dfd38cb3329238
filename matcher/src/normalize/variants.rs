//! Spelling variants of names, hand-written because no maintained crate says which Latin spellings are one name.
//!
//! The table (`name_variants.csv`, shipped in the crate, sources cited there) groups
//! romanizations of one name (Muhammad ~ Mohammed ~ Mhd, Yuri ~ Iurii, Lee ~ Yi ~ Rhee, Zhang ~
//! Chang); transliteration crates map scripts to Latin letters one way and do not say that. The
//! module also has the allocation-free spelling keys the name comparisons use (an Arabic article
//! or a particle before a family name, umlauts written out).

use std::collections::HashMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("name_variants.csv");

/// Variant-group ids sit above this value in `NormalizedName::nickname_groups`, so one list
/// holds both kinds of name equivalence without a second vector per name.
pub const VARIANT_GROUP_BASE: u32 = 1 << 24;

struct Table {
    groups: Vec<Vec<&'static str>>,
    by_name: HashMap<&'static str, Vec<u32>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut groups: Vec<Vec<&'static str>> = Vec::new();
        let mut by_name: HashMap<&'static str, Vec<u32>> = HashMap::new();
        for line in DATA.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = VARIANT_GROUP_BASE + groups.len() as u32;
            let mut names: Vec<&'static str> = Vec::new();
            for name in line.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if names.contains(&name) {
                    continue;
                }
                names.push(name);
                let ids = by_name.entry(name).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            groups.push(names);
        }
        Table { groups, by_name }
    })
}

/// Every spelling-variant group of `name` (folded, no spaces); empty when none. Ids are at least
/// [`VARIANT_GROUP_BASE`].
///
/// ```
/// use matcher::normalize::{variant_groups, spelling_variants};
/// assert!(!variant_groups("mohammed").is_empty());
/// assert!(spelling_variants("mohammed", "mhd"));
/// assert!(spelling_variants("lee", "rhee"));
/// assert!(!spelling_variants("lee", "park"));
/// ```
pub fn variant_groups(name: &str) -> &'static [u32] {
    table().by_name.get(name).map_or(&[], Vec::as_slice)
}

/// The spellings of variant group `id`, commonest first; empty for an unknown id.
pub fn variant_group_names(id: u32) -> &'static [&'static str] {
    id.checked_sub(VARIANT_GROUP_BASE)
        .and_then(|i| table().groups.get(i as usize))
        .map_or(&[], Vec::as_slice)
}

/// Number of variant groups in the table.
pub fn variant_group_count() -> u32 {
    table().groups.len() as u32
}

/// True when the two folded names share a spelling-variant group.
pub fn spelling_variants(a: &str, b: &str) -> bool {
    let ga = variant_groups(a);
    let gb = variant_groups(b);
    ga.iter().any(|g| gb.contains(g))
}

/// Articles and particles that may be written before a family name, joined or apart, or left
/// out: `al hassan` / `alhassan` / `hassan`, `de la cruz` / `dela cruz` / `cruz`. Compact
/// (space-free) forms, longest first so `dela` is tried before `de`.
const PREFIXES: &[&str] = &[
    "vander", "vonder", "della", "dela", "delos", "delas", "van", "von", "del", "des", "dos",
    "das", "abu", "bin", "ben", "al", "el", "ul", "de", "da", "di", "du", "la", "le",
];

/// The compact family name without a leading article or particle (`alhassan` -> `hassan`,
/// `delacruz` -> `cruz`, `vanderberg` -> `berg`), or the name itself. What remains must keep at
/// least three letters, so `dean` or `leo` stay whole.
///
/// ```
/// use matcher::normalize::without_article;
/// assert_eq!(without_article("alhassan"), "hassan");
/// assert_eq!(without_article("delacruz"), "cruz");
/// assert_eq!(without_article("elamin"), "amin");
/// assert_eq!(without_article("hassan"), "hassan");
/// assert_eq!(without_article("leo"), "leo");
/// ```
pub fn without_article(compact: &str) -> &str {
    let mut rest = compact;
    // At most two prefixes (`de la`, `van der`), each leaving a name of three letters or more.
    for _ in 0..2 {
        match PREFIXES
            .iter()
            .find(|p| rest.len() >= p.len() + 3 && rest.starts_with(*p))
        {
            Some(p) => rest = &rest[p.len()..],
            None => break,
        }
    }
    rest
}

/// True when two compact names are the same once written-out umlauts are read as the vowel
/// (`mueller` / `muller`, `schroeder` / `schroder`, `jaeger` / `jager`): an `e` after `a`, `o`
/// or `u` is skipped on the side that has it where the other does not. Allocation-free.
///
/// ```
/// use matcher::normalize::umlaut_equal;
/// assert!(umlaut_equal("mueller", "muller"));
/// assert!(umlaut_equal("schroeder", "schroder"));
/// assert!(!umlaut_equal("mueller", "miller"));
/// assert!(!umlaut_equal("muller", "muller"));
/// ```
pub fn umlaut_equal(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        if x[i] == y[j] {
            i += 1;
            j += 1;
            continue;
        }
        let after_vowel = |s: &[u8], k: usize| k > 0 && matches!(s[k - 1], b'a' | b'o' | b'u');
        if x[i] == b'e' && after_vowel(x, i) {
            i += 1;
        } else if y[j] == b'e' && after_vowel(y, j) {
            j += 1;
        } else {
            return false;
        }
    }
    let tail_ok = |s: &[u8], mut k: usize| {
        while k < s.len() {
            if !(s[k] == b'e' && k > 0 && matches!(s[k - 1], b'a' | b'o' | b'u')) {
                return false;
            }
            k += 1;
        }
        true
    };
    tail_ok(x, i) && tail_ok(y, j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_groups_the_issue_examples() {
        for (a, b) in [
            ("mohammed", "muhammad"),
            ("mohamed", "mhd"),
            ("yuri", "yury"),
            ("yuri", "iurii"),
            ("lee", "yi"),
            ("lee", "rhee"),
            ("zhang", "chang"),
            ("park", "pak"),
        ] {
            assert!(spelling_variants(a, b), "{a} ~ {b}");
        }
        assert!(!spelling_variants("park", "kim"));
        assert!(variant_group_count() >= 100, "{}", variant_group_count());
    }

    #[test]
    fn every_entry_is_folded_compact_lowercase() {
        for i in 0..variant_group_count() {
            let names = variant_group_names(VARIANT_GROUP_BASE + i);
            assert!(names.len() >= 2, "{names:?}");
            for name in names {
                assert!(name.bytes().all(|b| b.is_ascii_lowercase()), "{name}");
            }
        }
    }

    #[test]
    fn articles_need_a_name_after_them() {
        assert_eq!(without_article("alhassan"), "hassan");
        assert_eq!(without_article("vanderberg"), "berg");
        assert_eq!(without_article("dean"), "dean");
        assert_eq!(without_article("ali"), "ali");
    }
}
