//! Seeded generator of realistic synthetic person records with ground truth.
//!
//! People live in households (spouses, siblings, twins, a father and his junior share a family
//! name, an address and often a phone), are registered one or more times at several facilities,
//! and every registration after the first may carry the errors a real Master Patient Index sees:
//! nicknames, typing and OCR errors, swapped given and family names, day-month swaps, moves,
//! married-name changes, missing fields and placeholder names. Each [`SyntheticRecord`] carries
//! the true person (`cluster_id`), the household and the hard cases applied to it.
//!
//! Names follow the US Census 1990 frequency tables, so common surnames are common (Smith,
//! Johnson, Williams ...); addresses use real ZIP codes with their city, state and telephone area
//! code. The tables ship in `data/` (see its README for sources).
//!
//! On request ([`GeneratorConfig::international`]) a share of the households is of one of eleven
//! international origins, whose names follow their own conventions (family name first, mononyms,
//! double surnames, articles and particles, generation syllables, diacritics) and whose later
//! registrations write them in the ways those conventions invite, each tagged with its
//! [`HardCase`]. Estimated birth dates and sequential medical record numbers are also on request
//! ([`HardCaseRates::estimated_birth_date`], [`GeneratorConfig::sequential_mrns`]); without these
//! options the output is the same as before they existed.
//!
//! In the person CSV of the batch commands a record maps as: `given_names[0]` -> `given_name`,
//! `given_names[1]` (a middle name or initial, when present) -> `middle_name`, `family_names[0]` ->
//! `family_name` (a former family name, when present, has no column), the first address's lines,
//! city, state, postal code and country -> `address_line`, `address_line2`, `city`, `state`,
//! `postal_code`, `country`, the identifier whose system is [`NATIONAL_ID_SYSTEM`] ->
//! `national_id`, the other (one per record, see [`mrn_system`]) -> `mrn` and `mrn_system`, and
//! `cluster_id` is the ground-truth column. Birth dates are written `YYYY-MM-DD` or `YYYYMMDD`
//! depending on the facility.
//!
//! Output is a pure function of the configuration: records are generated in fixed-size chunks,
//! each from its own ChaCha8 stream derived from the master seed, so the same seed gives the same
//! records on every machine and for every thread count.
//!
//! ```
//! use matcher::synth::{GeneratorConfig, generate};
//!
//! let records = generate(&GeneratorConfig { records: 1_000, seed: 42, ..Default::default() });
//! assert_eq!(records.len(), 1_000);
//! assert_eq!(records, generate(&GeneratorConfig { records: 1_000, seed: 42, ..Default::default() }));
//! ```

mod corrupt;
mod international;
mod person;
mod tables;

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::record::PersonRecord;
use crate::{Error, Result};

pub use person::{NATIONAL_ID_SYSTEM, mrn_system};

/// Records per chunk. Part of the output definition: changing it changes the generated data.
pub const CHUNK_RECORDS: usize = 8_192;

/// Rates of the hard cases. Each rate is a probability in `0.0..=1.0`; what it is a probability
/// *of* is said per field. Record-level rates apply to every record of a person after the first
/// (the first registration is the reference; it can still miss fields or be a placeholder).
#[derive(Clone, Debug, PartialEq)]
pub struct HardCaseRates {
    /// Share of households with two or more registered members (spouses, children, siblings).
    pub household: f64,
    /// Share of households that include a pair of twins (same family name, birth date and
    /// address, different given names).
    pub twins: f64,
    /// Share of households with a father and his junior (same given and family name and address,
    /// different birth dates).
    pub junior: f64,
    /// Share of persons with two or more records who moved: their first record shows the previous
    /// address (and usually a previous phone).
    pub mover: f64,
    /// Share of adult women with two or more records who changed family name: their first record
    /// shows the former name as current; later records keep it as a former name half the time,
    /// and one in five writes the two hyphenated (`Former-Current`).
    pub name_change: f64,
    /// Per later record whose given name is in the normalizer's nickname table: another name of
    /// its group is used instead (William -> Bill, Liam; Bill -> William).
    pub nickname: f64,
    /// Per later record: one or two typing errors (keyboard neighbour, transposition, deletion,
    /// doubled letter) in a name, the street, the city, the phone or the national id.
    pub typo: f64,
    /// Per later record: an OCR confusion (0/O, 1/l, rn/m, 5/S ...) in a name, street or id.
    pub ocr: f64,
    /// Per later record: given and family names swapped.
    pub name_swap: f64,
    /// Per later record whose birth date allows it (day 1..=12, day != month): day and month
    /// swapped.
    pub day_month_swap: f64,
    /// Per later record: the birth date is off by one digit, the year by one, or two year digits
    /// are transposed.
    pub date_error: f64,
    /// Per record and per optional field the person has (sex, birth date, address, phone, e-mail,
    /// national id): the field is left empty.
    pub missing: f64,
    /// Per record: the name is a placeholder (John/Jane Doe, Unknown, Baby Boy/Girl for infants),
    /// often with a missing or default (1900-01-01) birth date.
    pub placeholder: f64,
    /// Per later record of a person of an international origin (see
    /// [`GeneratorConfig::international`]): the names are written in one of the ways the origin's
    /// conventions invite (family name first, whole name in one field, initials, another
    /// romanization, the article or particle joined or dropped, one of two surnames, one part of
    /// a compound given name, a syllable break, umlauts written out).
    pub name_convention: f64,
    /// Per person (0 by default): the birth date was unknown at the first registration and
    /// estimated: that record shows 1 January (70 %), 1 July (20 %) or the 15th of the true
    /// month (10 %) of a year up to two years off; later registrations bring the real date, or
    /// (one in four) repeat the estimate. What registries do for an unknown date: many unrelated
    /// people share such a date.
    pub estimated_birth_date: f64,
}

impl Default for HardCaseRates {
    fn default() -> Self {
        Self {
            household: 0.35,
            twins: 0.01,
            junior: 0.01,
            mover: 0.15,
            name_change: 0.15,
            nickname: 0.10,
            typo: 0.20,
            ocr: 0.03,
            name_swap: 0.02,
            day_month_swap: 0.03,
            date_error: 0.03,
            missing: 0.05,
            placeholder: 0.002,
            name_convention: 0.35,
            estimated_birth_date: 0.0,
        }
    }
}

impl HardCaseRates {
    fn named(&self) -> [(&'static str, f64); 15] {
        [
            ("household", self.household),
            ("twins", self.twins),
            ("junior", self.junior),
            ("mover", self.mover),
            ("name_change", self.name_change),
            ("nickname", self.nickname),
            ("typo", self.typo),
            ("ocr", self.ocr),
            ("name_swap", self.name_swap),
            ("day_month_swap", self.day_month_swap),
            ("date_error", self.date_error),
            ("missing", self.missing),
            ("placeholder", self.placeholder),
            ("name_convention", self.name_convention),
            ("estimated_birth_date", self.estimated_birth_date),
        ]
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Number of records to generate (exactly).
    pub records: usize,
    /// Master seed: the same seed gives the same records.
    pub seed: u64,
    /// Share of persons registered more than once (clusters of 2..=`max_cluster_size` records).
    pub duplicate_rate: f64,
    /// Largest number of records for one person (at least 2).
    pub max_cluster_size: usize,
    /// Number of facilities issuing medical record numbers (at least 1).
    pub facilities: u32,
    /// Rates of the hard cases.
    pub rates: HardCaseRates,
    /// Every record gets identifiers of its own, as separate facilities would assign them: a
    /// fresh medical record number each time (never a facility's earlier number for the person)
    /// and the national id on the person's first record that has one only. The file then
    /// imports into the MPI without a record refused for an identifier another record holds;
    /// the rest of the file (names, dates, addresses, typos) is the same as without it.
    pub distinct_identifiers: bool,
    /// Share of households of an international origin (0 by default: the US census population
    /// alone, as before). Origins, with their share among these households and conventions:
    /// Hispanic 22 % (two surnames, paternal then maternal; compound given names such as María
    /// José; diacritics), South Asian 14 % (initials, whole names in one field, a few mononyms),
    /// Chinese 12 % and Korean 8 % (family name first; two-syllable given names written joined,
    /// hyphenated or apart, siblings sharing a generation syllable; Wade-Giles and Korean
    /// romanizations), Arabic 10 % (romanizations of Muhammad, Husayn ...; the article `Al-`
    /// joined, apart, as `El-` or dropped), Vietnamese 8 % (family name first, Nguyễn for about a
    /// third, middle names Văn / Thị, diacritics), Filipino 8 % (particles: Dela Cruz, De la
    /// Cruz, Delacruz, Cruz), Russian 6 % (romanizations: Yuri, Yury, Iurii), Japanese 4 %
    /// (family name first; long vowels: Satō, Sato, Satou), German 4 % (umlauts: Müller, Muller,
    /// Mueller), Indonesian 4 % (40 % of households have one name each: mononyms, written alone,
    /// in either field, repeated or beside `FNU` / `LNU`). Women of Chinese, Korean, Vietnamese,
    /// Arabic and Hispanic origin keep their family name at marriage; Hispanic children take the
    /// first surname of each parent. Every record is tagged with the hard cases its names carry
    /// ([`HardCase::NameOrder`] ... [`HardCase::Diacritics`]); facilities that keep accents
    /// (every fourth) write the diacritics, the others plain letters.
    pub international: f64,
    /// Facilities number their patients in registration order (`false` by default: scrambled
    /// numbers): each record's medical record number is the facility's next number, so people
    /// registered one after the other (a family at one visit) get numbers a few apart, like
    /// `M6001` and `M6002`. Unique across the output (the chunk's first record number plus the
    /// facility's running count in the chunk).
    pub sequential_mrns: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            records: 10_000,
            seed: 1,
            duplicate_rate: 0.2,
            max_cluster_size: 6,
            facilities: 4,
            rates: HardCaseRates::default(),
            distinct_identifiers: false,
            international: 0.0,
            sequential_mrns: false,
        }
    }
}

impl GeneratorConfig {
    /// Checks that every rate is a probability and the sizes make sense.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name: &str, reason: &str| Error::InvalidParameter {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let rates = self.rates.named();
        let all = [
            ("duplicate_rate", self.duplicate_rate),
            ("international", self.international),
        ]
        .into_iter()
        .chain(rates);
        for (name, rate) in all {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(name, "must be a probability in 0..=1"));
            }
        }
        if self.max_cluster_size < 2 {
            return Err(invalid("max_cluster_size", "must be at least 2"));
        }
        if self.facilities == 0 {
            return Err(invalid("facilities", "must be at least 1"));
        }
        Ok(())
    }
}

/// One hard case a record can carry (see [`HardCases`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HardCase {
    /// The person lives with other registered persons (same address, often same phone).
    Household,
    /// The person is one of twins.
    Twin,
    /// The person is a father or his junior (same given and family name).
    Junior,
    /// This record shows the person's previous address.
    Moved,
    /// This record shows a former family name as current (married-name change).
    NameChange,
    /// This record uses a nickname for the given name.
    Nickname,
    /// This record has one or two typing errors.
    Typo,
    /// This record has an OCR confusion.
    Ocr,
    /// Given and family names are swapped in this record.
    NameSwap,
    /// Day and month of the birth date are swapped in this record.
    DayMonthSwap,
    /// The birth date has an error (digit, year off by one, transposition).
    DateError,
    /// A field the person has is missing from this record.
    MissingField,
    /// The name is a placeholder (John Doe, Baby Boy ...).
    Placeholder,
    /// A name is spelled differently but equivalently: with diacritics (José, García; written by
    /// every fourth facility), or a compound family name without its apostrophe or spaces
    /// (O'Brien as OBrien or O Brien, De La Cruz as DeLaCruz).
    Spelling,
    /// International origins only, from here on. Given and family names swapped by a clerk
    /// reading a family-first name (Chinese, Korean, Vietnamese, Japanese; some South Asian).
    NameOrder,
    /// The person has one name only (written alone, in either field, repeated, or with
    /// `FNU` / `LNU`): every record of the person carries it.
    Mononym,
    /// The whole name in the given field or the family field, the other empty.
    WholeName,
    /// The given name as an initial (`R. Kumar`), or written family first with the initial after
    /// it (`Kumar`, `R`).
    Initials,
    /// Another romanization of the given or family name (Mohammed / Muhammad, Yuri / Iurii,
    /// Lee / Yi, Zhang / Chang, Park / Pak, Sato / Satou).
    Transliteration,
    /// The Arabic article written apart, joined, as `El-` or dropped (Al-Hassan, Al Hassan,
    /// Alhassan, El-Hassan, Hassan).
    Article,
    /// A particle joined or dropped (Dela Cruz, De la Cruz, Delacruz, Cruz).
    Particle,
    /// One of two surnames only (the paternal), both hyphenated, or the second in the middle-name
    /// field.
    DoubleSurname,
    /// The first part of a compound given name only (María José as María).
    CompoundGiven,
    /// A two-syllable given name with or without its hyphen or space (Min-jun, Minjun, Min Jun).
    HyphenSpace,
    /// Diacritics written (Nguyễn, Müller: by facilities that keep them) or umlauts written out
    /// (Mueller).
    Diacritics,
    /// The birth date is a registry's estimate for an unknown date (1 January, 1 July or the
    /// 15th of a year near the true one; see [`HardCaseRates::estimated_birth_date`]).
    EstimatedBirthDate,
}

impl HardCase {
    /// Every hard case, in declaration order.
    pub const ALL: [HardCase; 26] = [
        HardCase::Household,
        HardCase::Twin,
        HardCase::Junior,
        HardCase::Moved,
        HardCase::NameChange,
        HardCase::Nickname,
        HardCase::Typo,
        HardCase::Ocr,
        HardCase::NameSwap,
        HardCase::DayMonthSwap,
        HardCase::DateError,
        HardCase::MissingField,
        HardCase::Placeholder,
        HardCase::Spelling,
        HardCase::NameOrder,
        HardCase::Mononym,
        HardCase::WholeName,
        HardCase::Initials,
        HardCase::Transliteration,
        HardCase::Article,
        HardCase::Particle,
        HardCase::DoubleSurname,
        HardCase::CompoundGiven,
        HardCase::HyphenSpace,
        HardCase::Diacritics,
        HardCase::EstimatedBirthDate,
    ];

    /// A short snake_case name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            HardCase::Household => "household",
            HardCase::Twin => "twin",
            HardCase::Junior => "junior",
            HardCase::Moved => "moved",
            HardCase::NameChange => "name_change",
            HardCase::Nickname => "nickname",
            HardCase::Typo => "typo",
            HardCase::Ocr => "ocr",
            HardCase::NameSwap => "name_swap",
            HardCase::DayMonthSwap => "day_month_swap",
            HardCase::DateError => "date_error",
            HardCase::MissingField => "missing_field",
            HardCase::Placeholder => "placeholder",
            HardCase::Spelling => "spelling",
            HardCase::NameOrder => "name_order",
            HardCase::Mononym => "mononym",
            HardCase::WholeName => "whole_name",
            HardCase::Initials => "initials",
            HardCase::Transliteration => "transliteration",
            HardCase::Article => "article",
            HardCase::Particle => "particle",
            HardCase::DoubleSurname => "double_surname",
            HardCase::CompoundGiven => "compound_given",
            HardCase::HyphenSpace => "hyphen_space",
            HardCase::Diacritics => "diacritics",
            HardCase::EstimatedBirthDate => "estimated_birth_date",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// The set of hard cases applied to one record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HardCases(u32);

impl HardCases {
    /// Whether `case` was applied.
    pub fn contains(self, case: HardCase) -> bool {
        self.0 & case.bit() != 0
    }

    /// Marks `case` as applied.
    pub fn insert(&mut self, case: HardCase) {
        self.0 |= case.bit();
    }

    /// Whether no hard case was applied.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The applied cases, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = HardCase> {
        HardCase::ALL.into_iter().filter(move |&c| self.contains(c))
    }
}

/// One generated record with its ground truth.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticRecord {
    /// Record id, unique in the output (`r00000001`, ...).
    pub id: String,
    /// The true person: records of one person share it, different persons never do.
    pub cluster_id: u64,
    /// The household the person lives in (shared by spouses, children, twins, juniors).
    pub household_id: u64,
    /// The hard cases applied to this record.
    pub cases: HardCases,
    /// The person's international origin (`"korean"`, `"hispanic"`, ...; see
    /// [`GeneratorConfig::international`]), `None` for the US census population.
    pub origin: Option<&'static str>,
    /// The record as a facility registered it.
    pub record: PersonRecord,
}

/// A validated generator: produces chunks on demand, in parallel or one by one.
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
}

impl Generator {
    /// A generator for `config`, after [`GeneratorConfig::validate`].
    pub fn new(config: GeneratorConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Number of chunks (the last may hold fewer than [`CHUNK_RECORDS`] records).
    pub fn chunk_count(&self) -> usize {
        self.config.records.div_ceil(CHUNK_RECORDS)
    }

    /// The records of chunk `index` (empty past the end). Depends only on the configuration and
    /// `index`, never on which thread runs it.
    pub fn chunk(&self, index: usize) -> Vec<SyntheticRecord> {
        let start = index.saturating_mul(CHUNK_RECORDS);
        let len = self.config.records.saturating_sub(start).min(CHUNK_RECORDS);
        if len == 0 {
            return Vec::new();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(index as u64);
        person::generate_chunk(&self.config, &mut rng, index as u64, len)
    }

    /// All chunks in order, generated in parallel a few at a time: memory stays bounded by a
    /// small multiple of the thread count times [`CHUNK_RECORDS`], whatever the record count.
    pub fn chunks(&self) -> Chunks<'_> {
        Chunks {
            generator: self,
            next: 0,
            ready: VecDeque::new(),
        }
    }

    /// Every record, generated in parallel.
    pub fn generate(&self) -> Vec<SyntheticRecord> {
        let chunks: Vec<Vec<SyntheticRecord>> = (0..self.chunk_count())
            .into_par_iter()
            .map(|i| self.chunk(i))
            .collect();
        let mut out = Vec::with_capacity(self.config.records);
        for chunk in chunks {
            out.extend(chunk);
        }
        out
    }
}

/// Iterator over a generator's chunks in order (see [`Generator::chunks`]).
#[derive(Debug)]
pub struct Chunks<'a> {
    generator: &'a Generator,
    next: usize,
    ready: VecDeque<Vec<SyntheticRecord>>,
}

impl Iterator for Chunks<'_> {
    type Item = Vec<SyntheticRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() {
            let end = self.generator.chunk_count();
            if self.next >= end {
                return None;
            }
            let batch = (2 * rayon::current_num_threads()).max(2);
            let stop = (self.next + batch).min(end);
            let generator = self.generator;
            let produced: Vec<Vec<SyntheticRecord>> = (self.next..stop)
                .into_par_iter()
                .map(|i| generator.chunk(i))
                .collect();
            self.ready.extend(produced);
            self.next = stop;
        }
        self.ready.pop_front()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.generator.chunk_count().saturating_sub(self.next) + self.ready.len();
        (left, Some(left))
    }
}

/// Every record for `config`. Invalid rates are treated as clamped to `0..=1`; call
/// [`GeneratorConfig::validate`] (or use [`Generator::new`]) to reject them instead.
pub fn generate(config: &GeneratorConfig) -> Vec<SyntheticRecord> {
    Generator {
        config: config.clone(),
    }
    .generate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_impossible_settings() {
        assert!(GeneratorConfig::default().validate().is_ok());
        let mut bad = GeneratorConfig::default();
        bad.rates.typo = 1.5;
        assert!(
            matches!(bad.validate(), Err(Error::InvalidParameter { name, .. }) if name == "typo")
        );
        let bad = GeneratorConfig {
            duplicate_rate: f64::NAN,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = GeneratorConfig {
            max_cluster_size: 1,
            ..Default::default()
        };
        assert!(Generator::new(bad).is_err());
    }

    #[test]
    fn hard_case_set_round_trips() {
        let mut cases = HardCases::default();
        assert!(cases.is_empty());
        cases.insert(HardCase::Twin);
        cases.insert(HardCase::Placeholder);
        assert!(cases.contains(HardCase::Twin) && !cases.contains(HardCase::Typo));
        assert_eq!(
            cases.iter().collect::<Vec<_>>(),
            [HardCase::Twin, HardCase::Placeholder]
        );
    }

    #[test]
    fn chunks_concatenate_to_the_whole() {
        let generator = Generator::new(GeneratorConfig {
            records: 2 * CHUNK_RECORDS + 17,
            seed: 5,
            ..Default::default()
        })
        .unwrap();
        let streamed: Vec<SyntheticRecord> = generator.chunks().flatten().collect();
        assert_eq!(streamed.len(), 2 * CHUNK_RECORDS + 17);
        assert_eq!(streamed, generator.generate());
        assert!(generator.chunk(3).is_empty());
    }
}
