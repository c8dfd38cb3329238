//! The nickname / diminutive table (`nicknames.csv`, shipped in the crate): William ~ Bill ~ Will ~ Liam.
//!
//! Each line of the data file is one group, formal name first. A name may belong to several groups
//! (`al` is Albert, Alfred and Alexander); two names are nickname-equivalent when they share a group.

use std::collections::HashMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("nicknames.csv");

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
            let id = groups.len() as u32;
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

/// The first nickname group `name` (folded, lower case) belongs to.
///
/// ```
/// use matcher::normalize::{nickname_group, nickname_equivalent};
/// assert!(nickname_group("bill").is_some());
/// assert!(nickname_equivalent("bill", "william"));
/// assert!(nickname_equivalent("peggy", "margaret"));
/// assert!(!nickname_equivalent("bill", "robert"));
/// assert_eq!(nickname_group("zzyzx"), None);
/// ```
pub fn nickname_group(name: &str) -> Option<u32> {
    nickname_groups(name).first().copied()
}

/// Every nickname group `name` (folded, lower case) belongs to; empty when none.
pub fn nickname_groups(name: &str) -> &'static [u32] {
    table().by_name.get(name).map_or(&[], Vec::as_slice)
}

/// The names of group `id`, formal name first; empty for an unknown id.
///
/// ```
/// use matcher::normalize::{group_names, nickname_group};
/// let id = nickname_group("liam").unwrap();
/// assert!(group_names(id).contains(&"william"));
/// ```
pub fn group_names(id: u32) -> &'static [&'static str] {
    table().groups.get(id as usize).map_or(&[], Vec::as_slice)
}

/// Number of nickname groups in the table (ids are `0..group_count()`).
pub fn group_count() -> u32 {
    table().groups.len() as u32
}

/// True when the two folded names share a nickname group.
pub fn nickname_equivalent(a: &str, b: &str) -> bool {
    let ga = nickname_groups(a);
    let gb = nickname_groups(b);
    ga.iter().any(|g| gb.contains(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_hundreds_of_groups_and_classic_pairs() {
        assert!(group_count() >= 300, "{}", group_count());
        for (a, b) in [
            ("william", "bill"),
            ("william", "liam"),
            ("william", "billy"),
            ("margaret", "peggy"),
            ("margaret", "maggie"),
            ("margaret", "meg"),
            ("robert", "bob"),
            ("robert", "bobby"),
            ("elizabeth", "liz"),
            ("elizabeth", "betty"),
            ("elizabeth", "eliza"),
            ("richard", "dick"),
            ("al", "alfred"),
            ("al", "albert"),
        ] {
            assert!(nickname_equivalent(a, b), "{a} ~ {b}");
        }
        assert!(!nickname_equivalent("william", "margaret"));
    }

    #[test]
    fn every_entry_is_folded_lowercase_letters() {
        for id in 0..group_count() {
            for name in group_names(id) {
                assert!(name.bytes().all(|b| b.is_ascii_lowercase()), "{name}");
            }
        }
    }
}
