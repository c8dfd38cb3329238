//! Reduction of a normalized record to blocking features: tagged 64-bit hashes of name trigrams
//! and blocking keys (see the module documentation of `blocking`).

use serde::{Deserialize, Serialize};

use crate::record::NormalizedRecord;

/// The kind of a blocking feature; the kind sets its weight and whether caps by block size or
/// by trigram rarity apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum FeatureKind {
    /// A trigram of a given or family name word.
    Trigram = 1,
    /// An identifier value.
    Identifier = 2,
    /// An e-mail address.
    Email = 3,
    /// The last seven digits of a phone.
    Phone = 4,
    /// The birth date, day and month in sorted order.
    BirthDate = 5,
    /// The Double Metaphone code of a given or family name, with the birth year.
    NameYear = 6,
    /// A postal code with the initial of the current family name.
    PostalInitial = 7,
}

impl FeatureKind {
    /// The kind encoded in the top byte of a feature.
    pub(crate) fn of(feature: u64) -> Self {
        match feature >> 56 {
            1 => Self::Trigram,
            2 => Self::Identifier,
            3 => Self::Email,
            4 => Self::Phone,
            5 => Self::BirthDate,
            6 => Self::NameYear,
            _ => Self::PostalInitial,
        }
    }
}

const LOW_56: u64 = (1 << 56) - 1;

/// FNV-1a, 64 bits: stable across runs, platforms and library versions, unlike `Hash`.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    fn tag(self, kind: FeatureKind) -> u64 {
        ((kind as u64) << 56) | (self.0 & LOW_56)
    }
}

fn trigram(a: u8, b: u8, c: u8) -> u64 {
    // Exact, not hashed: three bytes fit.
    ((FeatureKind::Trigram as u64) << 56)
        | (u64::from(a) << 16)
        | (u64::from(b) << 8)
        | u64::from(c)
}

fn push_trigrams(text: &str, out: &mut Vec<u64>) {
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = word.as_bytes();
        let padded_len = w.len() + 2;
        let at = |i: usize| {
            if i == 0 || i == padded_len - 1 {
                b' '
            } else {
                w[i - 1]
            }
        };
        for i in 0..padded_len.saturating_sub(2) {
            out.push(trigram(at(i), at(i + 1), at(i + 2)));
        }
    }
}

/// The features of `record`, sorted and without duplicates.
pub(crate) fn record_features(record: &NormalizedRecord) -> Vec<u64> {
    let mut out = Vec::with_capacity(32);
    let names = record.given.iter().chain(record.family.iter());
    for name in names.clone() {
        push_trigrams(&name.text, &mut out);
    }
    for id in &record.identifiers {
        if id.value.len() >= 2 {
            out.push(
                Fnv::new()
                    .bytes(id.value.as_bytes())
                    .tag(FeatureKind::Identifier),
            );
        }
    }
    for email in &record.emails {
        if email.contains('@') {
            out.push(Fnv::new().bytes(email.as_bytes()).tag(FeatureKind::Email));
        }
    }
    for phone in &record.phones {
        let digits = phone.as_bytes();
        if digits.len() >= 7 {
            let tail = &digits[digits.len() - 7..];
            out.push(Fnv::new().bytes(tail).tag(FeatureKind::Phone));
        }
    }
    if let Some(date) = record.birth_date {
        let (lo, hi) = if date.day <= date.month {
            (date.day, date.month)
        } else {
            (date.month, date.day)
        };
        let [y0, y1] = date.year.to_le_bytes();
        out.push(
            Fnv::new()
                .bytes(&[y0, y1, lo, hi])
                .tag(FeatureKind::BirthDate),
        );
        for name in names {
            let code = if name.phonetic.metaphone.is_empty() {
                // Keys not computed: fall back to the first four letters.
                name.text.get(..4).unwrap_or(&name.text)
            } else {
                &name.phonetic.metaphone
            };
            if !code.is_empty() {
                out.push(
                    Fnv::new()
                        .bytes(code.as_bytes())
                        .bytes(&[0, y0, y1])
                        .tag(FeatureKind::NameYear),
                );
            }
        }
    }
    if let Some(initial) = record.family.first().and_then(|f| f.text.bytes().next()) {
        for address in &record.addresses {
            if !address.postal_code.is_empty() {
                out.push(
                    Fnv::new()
                        .bytes(address.postal_code.as_bytes())
                        .bytes(&[0, initial])
                        .tag(FeatureKind::PostalInitial),
                );
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BirthDate, NormalizedName};

    fn name(text: &str) -> NormalizedName {
        NormalizedName {
            text: text.into(),
            ..NormalizedName::default()
        }
    }

    #[test]
    fn trigrams_are_padded_per_word() {
        let mut out = Vec::new();
        push_trigrams("al bo", &mut out);
        let expected = vec![
            trigram(b' ', b'a', b'l'),
            trigram(b'a', b'l', b' '),
            trigram(b' ', b'b', b'o'),
            trigram(b'b', b'o', b' '),
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn day_month_swap_shares_the_birth_date_key() {
        let mut a = NormalizedRecord {
            family: vec![name("smith")],
            birth_date: Some(BirthDate {
                year: 1980,
                month: 3,
                day: 11,
            }),
            ..NormalizedRecord::default()
        };
        let fa = record_features(&a);
        a.birth_date = Some(BirthDate {
            year: 1980,
            month: 11,
            day: 3,
        });
        let fb = record_features(&a);
        assert_eq!(fa, fb);
        a.birth_date = Some(BirthDate {
            year: 1981,
            month: 11,
            day: 3,
        });
        assert_ne!(fa, record_features(&a));
    }

    #[test]
    fn swapped_names_share_every_name_feature() {
        let date = Some(BirthDate {
            year: 1970,
            month: 1,
            day: 2,
        });
        let a = NormalizedRecord {
            given: vec![name("lee")],
            family: vec![name("chen")],
            birth_date: date,
            ..NormalizedRecord::default()
        };
        let b = NormalizedRecord {
            given: vec![name("chen")],
            family: vec![name("lee")],
            birth_date: date,
            ..NormalizedRecord::default()
        };
        assert_eq!(record_features(&a), record_features(&b));
    }

    #[test]
    fn kinds_round_trip() {
        let f = Fnv::new().bytes(b"x").tag(FeatureKind::NameYear);
        assert_eq!(FeatureKind::of(f), FeatureKind::NameYear);
        assert_eq!(FeatureKind::of(trigram(1, 2, 3)), FeatureKind::Trigram);
    }
}
