//! Frequency tables shipped with the generator (names, streets, ZIP codes, accented spellings) and
//! weighted sampling over them.
//!
//! The tables are compiled in with `include_str!` and parsed once. See `data/README.md` for
//! their sources and `data/make_tables.py` for how they were built.

use std::sync::LazyLock;

use rand::{Rng, RngExt};

/// A table of values with integer weights, sampled by binary search over cumulative weights.
#[derive(Debug)]
pub(crate) struct Weighted<T> {
    items: Vec<T>,
    cumulative: Vec<u64>,
}

impl<T> Weighted<T> {
    pub(crate) fn new(pairs: Vec<(T, u64)>) -> Self {
        let mut total = 0u64;
        let mut items = Vec::with_capacity(pairs.len());
        let mut cumulative = Vec::with_capacity(pairs.len());
        for (item, weight) in pairs {
            total += weight.max(1);
            items.push(item);
            cumulative.push(total);
        }
        Self { items, cumulative }
    }

    /// One item drawn with probability proportional to its weight.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> &T {
        let total = self.cumulative.last().copied().unwrap_or(0);
        let target = rng.random_range(0..total.max(1));
        let index = self.cumulative.partition_point(|&c| c <= target);
        &self.items[index.min(self.items.len() - 1)]
    }

    /// Number of distinct items.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The items in table order (most frequent first for the census tables).
    #[cfg(test)]
    pub(crate) fn items(&self) -> &[T] {
        &self.items
    }
}

/// A ZIP code area: postal code, city, state and a telephone area code used there.
#[derive(Debug, Clone)]
pub(crate) struct ZipArea {
    pub(crate) zip: &'static str,
    pub(crate) city: &'static str,
    pub(crate) state: &'static str,
    pub(crate) area_code: &'static str,
}

/// Every table the generator draws from.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) surnames: Weighted<&'static str>,
    pub(crate) given_female: Weighted<&'static str>,
    pub(crate) given_male: Weighted<&'static str>,
    pub(crate) streets: Weighted<&'static str>,
    pub(crate) zips: Vec<ZipArea>,
    /// Plain spelling -> spelling with diacritics (`Jose` -> `José`).
    pub(crate) accents: Vec<(&'static str, &'static str)>,
}

const SURNAMES: &str = include_str!("data/surnames.csv");
const GIVEN_FEMALE: &str = include_str!("data/given_female.csv");
const GIVEN_MALE: &str = include_str!("data/given_male.csv");
const STREETS: &str = include_str!("data/streets.csv");
const ZIPCODES: &str = include_str!("data/zipcodes.csv");
const ACCENTS: &str = include_str!("data/accents.csv");

/// Data lines of a shipped table: comments (`#`) and blank lines skipped.
fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Parses `name,weight` lines; malformed lines are skipped (the unit tests check the counts).
fn weighted_names(text: &'static str) -> Weighted<&'static str> {
    let pairs = data_lines(text)
        .filter_map(|line| {
            let (name, weight) = line.split_once(',')?;
            Some((name, weight.trim().parse::<u64>().ok()?))
        })
        .collect();
    Weighted::new(pairs)
}

fn zip_areas(text: &'static str) -> Vec<ZipArea> {
    data_lines(text)
        .filter_map(|line| {
            let mut fields = line.split(',');
            Some(ZipArea {
                zip: fields.next()?,
                city: fields.next()?,
                state: fields.next()?,
                area_code: fields.next()?,
            })
        })
        .collect()
}

/// The parsed tables, built on first use.
pub(crate) static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    surnames: weighted_names(SURNAMES),
    given_female: weighted_names(GIVEN_FEMALE),
    given_male: weighted_names(GIVEN_MALE),
    streets: weighted_names(STREETS),
    zips: zip_areas(ZIPCODES),
    accents: {
        let mut pairs: Vec<(&'static str, &'static str)> = data_lines(ACCENTS)
            .filter_map(|line| line.split_once(','))
            .collect();
        pairs.sort_unstable();
        pairs
    },
});

impl Tables {
    /// The spelling of `name` with diacritics, if the table has one.
    pub(crate) fn accented(&self, name: &str) -> Option<&'static str> {
        self.accents
            .binary_search_by(|(plain, _)| (*plain).cmp(name))
            .ok()
            .map(|i| self.accents[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn shipped_tables_parse_completely() {
        let t = &*TABLES;
        assert_eq!(t.surnames.len(), 20_000);
        assert_eq!(t.given_female.len(), 4_275);
        assert_eq!(t.given_male.len(), 1_219);
        assert!(t.streets.len() > 150);
        assert!(t.zips.len() > 9_000);
        assert_eq!(t.accents.len(), 64);
        assert_eq!(t.accented("Munoz"), Some("Muñoz"));
        assert_eq!(t.accented("Smith"), None);
        assert_eq!(t.surnames.items()[0], "Smith");
        assert!(
            t.zips
                .iter()
                .all(|z| z.zip.len() == 5 && z.area_code.len() == 3)
        );
    }

    #[test]
    fn sampling_follows_the_weights() {
        let table = Weighted::new(vec![("a", 1), ("b", 3)]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let b = (0..40_000)
            .filter(|_| *table.sample(&mut rng) == "b")
            .count();
        // Expected 30,000; the binomial standard deviation is about 87.
        assert!((29_500..30_500).contains(&b), "b drawn {b} times");
    }

    #[test]
    fn common_surnames_are_common() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 200_000;
        let smith = (0..n)
            .filter(|_| *TABLES.surnames.sample(&mut rng) == "Smith")
            .count();
        // Smith is about 1.0 % of the 1990 population and 1.4 % of the 20,000 names shipped.
        let share = smith as f64 / n as f64;
        assert!((0.010..0.018).contains(&share), "Smith share {share}");
    }
}
