//! Households, persons and the rendering of their registrations into `PersonRecord`s.
//!
//! A chunk is filled household by household: a household draws its members (head, spouse,
//! children, possibly twins or a junior), each member draws how many times they are registered,
//! and each registration is rendered with the facility's writing style and the hard cases the
//! configuration asks for. Records are then shuffled within the chunk so that duplicates are not
//! adjacent.

use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;

use super::corrupt;
use super::international::{self, ORIGINS, Origin};
use super::tables::{TABLES, ZipArea};
use super::{CHUNK_RECORDS, GeneratorConfig, HardCase, HardCases, SyntheticRecord};
use crate::normalize::{group_names, nickname_groups};
use crate::record::{Address, Identifier, PersonRecord, Sex};

/// Identifier system of the national id (a US social security number).
pub const NATIONAL_ID_SYSTEM: &str = "http://hl7.org/fhir/sid/us-ssn";

/// Identifier system of the medical record numbers issued by facility `facility` (0-based).
pub fn mrn_system(facility: u32) -> String {
    format!("urn:mpi:facility:{:02}", facility + 1)
}

/// Birth dates are drawn relative to this year: nobody is born after its first half.
const REFERENCE_YEAR: u16 = 2025;

/// `true` with probability `p`; values above 1 always, below 0 or NaN never.
fn chance<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    rng.random::<f64>() < p
}

fn pick<'a, R: Rng + ?Sized, T>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl Date {
    fn for_age<R: Rng + ?Sized>(rng: &mut R, age: u16) -> Date {
        let year = REFERENCE_YEAR - age;
        let last_month = if year == REFERENCE_YEAR { 6 } else { 12 };
        let month = rng.random_range(1..=last_month);
        let day = rng.random_range(1..=days_in_month(year, month));
        Date { year, month, day }
    }

    fn is_valid(self) -> bool {
        (1900..=REFERENCE_YEAR).contains(&self.year)
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
    }

    fn format(self, compact: bool) -> String {
        if compact {
            format!("{:04}{:02}{:02}", self.year, self.month, self.day)
        } else {
            format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
        }
    }

    /// Day and month swapped, when that gives a different valid date.
    fn day_month_swapped(self) -> Option<Date> {
        (self.day <= 12 && self.day != self.month).then_some(Date {
            year: self.year,
            month: self.day,
            day: self.month,
        })
    }

    /// A data-entry error: one digit of day or month off, the year off by one, or the last two
    /// year digits transposed. `None` when the drawn kind gives no valid different date.
    fn with_error<R: Rng + ?Sized>(self, rng: &mut R) -> Option<Date> {
        let changed = match rng.random_range(0..4u8) {
            0 => {
                let year = if chance(rng, 0.5) {
                    self.year + 1
                } else {
                    self.year - 1
                };
                Date { year, ..self }
            }
            1 => {
                let units = rng.random_range(0..10u8);
                Date {
                    day: self.day / 10 * 10 + units,
                    ..self
                }
            }
            2 => {
                let units = rng.random_range(0..10u8);
                Date {
                    month: self.month / 10 * 10 + units,
                    ..self
                }
            }
            _ => {
                let (tens, units) = (self.year / 10 % 10, self.year % 10);
                Date {
                    year: self.year / 100 * 100 + units * 10 + tens,
                    ..self
                }
            }
        };
        (changed != self && changed.is_valid()).then_some(changed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Phone {
    area: &'static str,
    exchange: u16,
    line: u16,
}

impl Phone {
    fn new<R: Rng + ?Sized>(rng: &mut R, area: &'static str) -> Phone {
        let mut exchange = rng.random_range(200..1000u16);
        if exchange % 100 == 11 {
            exchange -= 1;
        }
        Phone {
            area,
            exchange,
            line: rng.random_range(0..10_000u16),
        }
    }

    fn format(self, style: u32) -> String {
        let Phone {
            area,
            exchange,
            line,
        } = self;
        match style % 5 {
            0 => format!("({area}) {exchange:03}-{line:04}"),
            1 => format!("{area}-{exchange:03}-{line:04}"),
            2 => format!("{area}{exchange:03}{line:04}"),
            3 => format!("+1 {area} {exchange:03} {line:04}"),
            _ => format!("{area}.{exchange:03}.{line:04}"),
        }
    }
}

/// Street suffixes: (abbreviation, full form, weight).
const SUFFIXES: &[(&str, &str, u32)] = &[
    ("St", "Street", 30),
    ("Ave", "Avenue", 20),
    ("Rd", "Road", 15),
    ("Dr", "Drive", 12),
    ("Ln", "Lane", 8),
    ("Ct", "Court", 5),
    ("Blvd", "Boulevard", 3),
    ("Way", "Way", 3),
    ("Pl", "Place", 2),
    ("Cir", "Circle", 2),
];

#[derive(Clone, Debug)]
struct Home {
    number: u32,
    street: &'static str,
    suffix: usize,
    unit: Option<String>,
    zip: &'static ZipArea,
    /// The household landline, if any.
    landline: Option<Phone>,
    /// What a child's record shows: the landline or the head's mobile.
    contact: Option<Phone>,
}

impl Home {
    /// A new home; near `zip_index` (same region, the ZIP list is sorted) when given.
    fn new<R: Rng + ?Sized>(rng: &mut R, zip_index: Option<usize>) -> (Home, usize) {
        let zips = &TABLES.zips;
        let index = match zip_index {
            Some(i) => {
                let lo = i.saturating_sub(40);
                let hi = (i + 40).min(zips.len() - 1);
                rng.random_range(lo..=hi)
            }
            None => rng.random_range(0..zips.len()),
        };
        // House numbers: mostly small, a long tail up to five digits.
        let number = match rng.random_range(0..10u8) {
            0..=4 => rng.random_range(1..1_000),
            5..=8 => rng.random_range(100..10_000),
            _ => rng.random_range(10_000..100_000),
        };
        let suffix_total: u32 = SUFFIXES.iter().map(|s| s.2).sum();
        let mut roll = rng.random_range(0..suffix_total);
        let suffix = SUFFIXES
            .iter()
            .position(|s| {
                if roll < s.2 {
                    true
                } else {
                    roll -= s.2;
                    false
                }
            })
            .unwrap_or(0);
        let unit = chance(rng, 0.2).then(|| {
            let n = rng.random_range(1..40u8);
            match rng.random_range(0..3u8) {
                0 => format!("Apt {n}"),
                1 => format!("Apt {n}{}", char::from(b'A' + rng.random_range(0..4u8))),
                _ => format!("Unit {n}"),
            }
        });
        let zip = &zips[index];
        let landline = chance(rng, 0.35).then(|| Phone::new(rng, zip.area_code));
        let home = Home {
            number,
            street: TABLES.streets.sample(rng),
            suffix,
            unit,
            zip,
            landline,
            contact: landline,
        };
        (home, index)
    }
}

#[derive(Clone, Debug)]
struct Person {
    cluster_id: u64,
    sex: Sex,
    age: u16,
    given: &'static str,
    middle: Option<&'static str>,
    family: &'static str,
    /// Birth family name, when the person took a spouse's name.
    former_family: Option<&'static str>,
    /// Generation suffix sometimes written after the family name (`Jr`, `Sr`).
    generation: Option<&'static str>,
    dob: Date,
    /// The estimate a registry wrote while the birth date was unknown.
    estimated_dob: Option<Date>,
    ssn: Option<u64>,
    email: Option<String>,
    mobile: Option<Phone>,
    cases: HardCases,
    records: usize,
    /// The first record shows the former family name.
    name_change: bool,
    /// Previous home and phone (`None` phone: the phone did not change).
    previous: Option<(Home, Option<Phone>)>,
    /// The names of a person of an international origin (in place of `given`, `middle` and
    /// `family`).
    intl: Option<IntlNames>,
}

/// Names of a person of an international origin, in their reference spelling.
#[derive(Clone, Debug)]
struct IntlNames {
    origin: &'static Origin,
    given: String,
    middle: Option<&'static str>,
    family: String,
    /// One name only (held in `family`).
    mononym: bool,
}

fn given_name<R: Rng + ?Sized>(rng: &mut R, sex: Sex) -> &'static str {
    match sex {
        Sex::Female => TABLES.given_female.sample(rng),
        _ => TABLES.given_male.sample(rng),
    }
}

fn other_sex(sex: Sex) -> Sex {
    if sex == Sex::Female {
        Sex::Male
    } else {
        Sex::Female
    }
}

fn random_sex<R: Rng + ?Sized>(rng: &mut R) -> Sex {
    if chance(rng, 0.5) {
        Sex::Female
    } else {
        Sex::Male
    }
}

/// Another name of `given`'s nickname groups (the normalizer's table: William -> Bill, Will,
/// Liam ...; Bill -> William), in title case; `None` when the name is in no group.
fn nickname_for<R: Rng + ?Sized>(rng: &mut R, given: &str) -> Option<String> {
    let folded = given.to_ascii_lowercase();
    let others: Vec<&str> = nickname_groups(&folded)
        .iter()
        .flat_map(|&group| group_names(group).iter().copied())
        .filter(|name| *name != folded)
        .collect();
    if others.is_empty() {
        return None;
    }
    let name = pick(rng, &others);
    Some(
        name.split(' ')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Lower-case ASCII letters of a name, for e-mail local parts.
fn letters(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

const EMAIL_DOMAINS: &[(&str, u32)] = &[
    ("gmail.com", 40),
    ("yahoo.com", 15),
    ("hotmail.com", 10),
    ("outlook.com", 8),
    ("icloud.com", 7),
    ("aol.com", 5),
    ("comcast.net", 4),
    ("msn.com", 2),
    ("live.com", 2),
    ("att.net", 2),
    ("verizon.net", 2),
    ("me.com", 2),
    ("protonmail.com", 1),
];

fn email<R: Rng + ?Sized>(rng: &mut R, given: &str, family: &str, year: u16) -> String {
    let (g, f) = (letters(given), letters(family));
    let initial = g.chars().next().unwrap_or('x');
    let digits = rng.random_range(1..1000u16);
    let local = match rng.random_range(0..8u8) {
        0 => format!("{g}.{f}"),
        1 => format!("{g}{f}{digits}"),
        2 => format!("{initial}{f}{digits}"),
        3 => format!("{g}.{f}{}", year % 100),
        4 => format!("{f}.{g}{digits}"),
        5 => format!("{g}_{f}{digits}"),
        6 => format!("{g}{year}"),
        _ => format!("{initial}.{f}{year}"),
    };
    let total: u32 = EMAIL_DOMAINS.iter().map(|d| d.1).sum();
    let mut roll = rng.random_range(0..total);
    let domain = EMAIL_DOMAINS
        .iter()
        .find(|d| {
            if roll < d.1 {
                true
            } else {
                roll -= d.1;
                false
            }
        })
        .map_or("gmail.com", |d| d.0);
    format!("{local}@{domain}")
}

/// A bijection of `0..10^digits` (multiplication by a unit modulo 10^k plus an offset), so that
/// distinct persons or records get distinct identifiers that still look random.
fn scramble(x: u64, salt: u64, digits: u32) -> u64 {
    let modulus = 10u128.pow(digits);
    // 3^19 is odd and not a multiple of 5: a unit modulo every power of ten.
    const MULTIPLIER: u128 = 1_162_261_467;
    ((u128::from(x) * MULTIPLIER + u128::from(salt)) % modulus) as u64
}

/// SplitMix64 step, to derive independent salts from the master seed.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Per-chunk state: counters that make ids unique across chunks.
struct ChunkContext<'a> {
    config: &'a GeneratorConfig,
    base: u64,
    next_person: u64,
    next_household: u64,
    next_record: u64,
    ssn_salt: u64,
    mrn_salt: u64,
    /// Next running number per facility, for sequential medical record numbers.
    next_mrn: Vec<u64>,
}

impl ChunkContext<'_> {
    fn new_cluster(&mut self) -> u64 {
        let id = self.base + self.next_person;
        self.next_person += 1;
        id
    }

    fn person<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        sex: Sex,
        age: u16,
        family: &'static str,
        area: &'static str,
    ) -> Person {
        let config = self.config;
        let cluster_id = self.new_cluster();
        let given = given_name(rng, sex);
        let middle = chance(rng, 0.6).then(|| given_name(rng, sex));
        let dob = Date::for_age(rng, age);
        // Drawn only when asked for, so the default population is the same as without it.
        let rate = config.rates.estimated_birth_date;
        let estimated_dob = (rate > 0.0 && chance(rng, rate)).then(|| {
            let year = (i32::from(dob.year) + rng.random_range(-2..=2))
                .clamp(1900, i32::from(REFERENCE_YEAR) - 1) as u16;
            let (month, day) = match rng.random_range(0..10u8) {
                0..=6 => (1, 1),
                7 | 8 => (7, 1),
                _ => (dob.month, 15),
            };
            Date { year, month, day }
        });
        let mut records = 1;
        if chance(rng, config.duplicate_rate) {
            records = 2;
            while records < config.max_cluster_size && chance(rng, 0.4) {
                records += 1;
            }
        }
        // Mobiles: mostly local to the home, some kept from elsewhere.
        let mobile = (age >= 13 && chance(rng, 0.85)).then(|| {
            let area = if chance(rng, 0.8) {
                area
            } else {
                pick(rng, &TABLES.zips).area_code
            };
            Phone::new(rng, area)
        });
        Person {
            cluster_id,
            sex,
            age,
            given,
            middle,
            family,
            former_family: None,
            generation: None,
            dob,
            estimated_dob,
            ssn: chance(rng, 0.75).then(|| scramble(cluster_id, self.ssn_salt, 9)),
            email: None,
            mobile,
            cases: HardCases::default(),
            records,
            name_change: false,
            previous: None,
            intl: None,
        }
    }

    /// One household: its home and members, with person-level hard cases decided.
    fn household<R: Rng + ?Sized>(&mut self, rng: &mut R) -> (Home, Vec<Person>) {
        // Drawn only when asked for, so the US-only population is the same as without the option.
        let origin = (self.config.international > 0.0 && chance(rng, self.config.international))
            .then(|| ORIGINS.sample(rng));
        let rates = &self.config.rates;
        let twins = chance(rng, rates.twins);
        let junior = chance(rng, rates.junior);
        let mut size = if twins || junior || chance(rng, rates.household) {
            match rng.random_range(0..100u8) {
                0..=44 => 2,
                45..=69 => 3,
                70..=89 => 4,
                _ => 5,
            }
        } else {
            1
        };
        if twins {
            size = size.max(3);
        }
        if junior {
            size = size.max(if twins { 4 } else { 2 });
        }
        self.next_household += 1;
        let (mut home, zip_index) = Home::new(rng, None);
        let family = TABLES.surnames.sample(rng);
        let area = home.zip.area_code;
        let head_sex = if junior { Sex::Male } else { random_sex(rng) };
        let head_age = if size > 2 || twins || junior {
            rng.random_range(36..=62)
        } else {
            rng.random_range(18..=90)
        };
        let mut members = vec![self.person(rng, head_sex, head_age, family, area)];
        let mut slots = size - 1;
        let mut spouse_index = None;
        // Places the twins and the junior need, so a spouse never takes them.
        let reserved = 2 * usize::from(twins) + usize::from(junior);
        let wants_spouse = if size == 2 { 0.75 } else { 0.8 };
        if slots > reserved && chance(rng, wants_spouse) {
            let sex = if chance(rng, 0.97) {
                other_sex(head_sex)
            } else {
                head_sex
            };
            let age = (i32::from(head_age) + rng.random_range(-6..=6)).clamp(18, 95) as u16;
            let shares_name = chance(rng, 0.8);
            let spouse_family = if shares_name {
                family
            } else {
                TABLES.surnames.sample(rng)
            };
            let mut spouse = self.person(rng, sex, age, spouse_family, area);
            if shares_name {
                // Whoever took the other's name has a birth name of their own.
                let birth_name = TABLES.surnames.sample(rng);
                if sex == Sex::Female {
                    spouse.former_family = Some(birth_name);
                } else if head_sex == Sex::Female {
                    members[0].former_family = Some(birth_name);
                }
            }
            spouse_index = Some(members.len());
            members.push(spouse);
            slots -= 1;
        }
        let child_age_max = head_age.saturating_sub(18).clamp(1, 30);
        if junior && slots > 0 {
            let age = rng.random_range(1..=head_age.saturating_sub(18).max(1));
            let mut son = self.person(rng, Sex::Male, age, family, area);
            son.given = members[0].given;
            if chance(rng, 0.5) {
                son.middle = members[0].middle;
            }
            son.generation = Some("Jr");
            members[0].generation = Some("Sr");
            son.cases.insert(HardCase::Junior);
            members[0].cases.insert(HardCase::Junior);
            members.push(son);
            slots -= 1;
        }
        if twins && slots >= 2 {
            let age = rng.random_range(0..=child_age_max.min(25));
            let first_sex = random_sex(rng);
            let second_sex = if chance(rng, 0.6) {
                first_sex
            } else {
                other_sex(first_sex)
            };
            let mut a = self.person(rng, first_sex, age, family, area);
            let mut b = self.person(rng, second_sex, age, family, area);
            b.dob = a.dob;
            for _ in 0..20 {
                if b.given != a.given {
                    break;
                }
                b.given = given_name(rng, second_sex);
            }
            a.cases.insert(HardCase::Twin);
            b.cases.insert(HardCase::Twin);
            members.push(a);
            members.push(b);
            slots -= 2;
        }
        for _ in 0..slots {
            let age = rng.random_range(0..=child_age_max);
            let sex = random_sex(rng);
            members.push(self.person(rng, sex, age, family, area));
        }
        // A child's record shows the family contact: the landline or the head's mobile.
        if home.contact.is_none() {
            home.contact = members[0].mobile;
        }
        if let Some(origin) = origin {
            international_names(rng, origin, &mut members, spouse_index);
        }
        let multi = members.len() > 1;
        let rates = &self.config.rates;
        for member in &mut members {
            if multi {
                member.cases.insert(HardCase::Household);
            }
            if member.sex == Sex::Female
                && member.age >= 20
                && member.records >= 2
                && chance(rng, rates.name_change)
            {
                if member.former_family.is_none() {
                    member.former_family = Some(TABLES.surnames.sample(rng));
                }
                member.name_change = member.former_family != Some(member.family);
            }
            if member.records >= 2 && chance(rng, rates.mover) {
                let near = chance(rng, 0.7).then_some(zip_index);
                let (old_home, _) = Home::new(rng, near);
                let old_phone = chance(rng, 0.7).then(|| Phone::new(rng, old_home.zip.area_code));
                member.previous = Some((old_home, old_phone));
            }
            if member.age >= 14 && chance(rng, 0.55) {
                let family_for_email = match member.former_family {
                    Some(former) if chance(rng, 0.5) => former,
                    _ => member.family,
                };
                member.email = Some(match &member.intl {
                    Some(names) => {
                        let given = international::ascii(&names.given);
                        let family = international::ascii(&names.family);
                        email(rng, &given, &family, member.dob.year)
                    }
                    None => email(rng, member.given, family_for_email, member.dob.year),
                });
            }
        }
        (home, members)
    }
}

/// Gives the members of a household of `origin` their names: the head's family name (a double
/// surname for Hispanic origins), a spouse's own or the head's by the origin's custom, the
/// children's (the first surname of each parent for double surnames), given names of the origin
/// (children sharing a generation syllable where the origin has them; twins never the same), or
/// one name each for a household of mononyms. Married-name changes are US-population only.
fn international_names<R: Rng + ?Sized>(
    rng: &mut R,
    origin: &'static Origin,
    members: &mut [Person],
    spouse_index: Option<usize>,
) {
    let generation = origin.generation(rng);
    let mononyms = origin.draws_mononym(rng);
    let head_family = origin.family(rng);
    let spouse_family = spouse_index.map(|_| {
        if origin.keeps_name() {
            origin.family(rng)
        } else {
            head_family.clone()
        }
    });
    let children_family = match (&spouse_family, members[0].sex) {
        (Some(spouse), Sex::Male) if origin.paternal(&head_family) != head_family => {
            format!(
                "{} {}",
                origin.paternal(&head_family),
                origin.paternal(spouse)
            )
        }
        (Some(spouse), _) if origin.paternal(spouse) != spouse.as_str() => {
            format!(
                "{} {}",
                origin.paternal(spouse),
                origin.paternal(&head_family)
            )
        }
        _ => head_family.clone(),
    };
    let head_given = origin.given(rng, members[0].sex, None);
    let mut twin_given: Option<String> = None;
    for (i, member) in members.iter_mut().enumerate() {
        let child = i > 0 && Some(i) != spouse_index;
        let family = match (i, child) {
            (0, _) => head_family.clone(),
            (_, false) => spouse_family.clone().unwrap_or_else(|| head_family.clone()),
            _ => children_family.clone(),
        };
        let mut given = if i == 0 || member.generation == Some("Jr") {
            head_given.clone()
        } else {
            origin.given(rng, member.sex, child.then_some(generation).flatten())
        };
        if member.cases.contains(HardCase::Twin) {
            for _ in 0..20 {
                if twin_given.as_deref() != Some(given.as_str()) {
                    break;
                }
                given = origin.given(rng, member.sex, generation);
            }
            twin_given = Some(given.clone());
        }
        member.former_family = None;
        member.name_change = false;
        member.intl = Some(if mononyms {
            IntlNames {
                origin,
                given: String::new(),
                middle: None,
                family: given,
                mononym: true,
            }
        } else {
            IntlNames {
                origin,
                given,
                middle: origin.middle(member.sex),
                family,
                mononym: false,
            }
        });
    }
}

impl ChunkContext<'_> {
    /// A new medical record number at `facility` for record `record_number`: scrambled, or the
    /// facility's next running number with [`GeneratorConfig::sequential_mrns`].
    fn fresh_mrn(&mut self, record_number: u64, facility: u32) -> String {
        if self.config.sequential_mrns {
            let slot = facility as usize % self.next_mrn.len();
            let next = &mut self.next_mrn[slot];
            *next += 1;
            format!("{:08}", self.base + *next)
        } else {
            format!("{:08}", scramble(record_number, self.mrn_salt, 8))
        }
    }

    /// The facility whose medical record number `record` carries.
    fn facility_of(&self, record: &PersonRecord) -> u32 {
        (0..self.config.facilities.max(1))
            .find(|f| {
                record
                    .identifiers
                    .iter()
                    .any(|id| id.system == mrn_system(*f))
            })
            .unwrap_or(0)
    }

    /// The names of registration `index` of a person of the US population: nickname, middle name
    /// or its initial, married-name change, spellings with accents or without punctuation, a
    /// generation suffix. Returns given, middle, family and former family name.
    fn us_record_names<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        person: &Person,
        index: usize,
        facility: u32,
        cases: &mut HardCases,
    ) -> (String, Option<String>, String, Option<String>) {
        let rates = &self.config.rates;
        let later = index > 0;
        let mut given = person.given.to_owned();
        if later
            && chance(rng, rates.nickname)
            && let Some(nickname) = nickname_for(rng, person.given)
        {
            given = nickname;
            cases.insert(HardCase::Nickname);
        }
        let middle = person.middle.and_then(|m| match rng.random_range(0..20u8) {
            0..=10 => Some(m.to_owned()),
            11..=15 => m.get(..1).map(str::to_owned),
            _ => None,
        });
        let (mut family, mut former) = (person.family.to_owned(), None);
        if let Some(birth_name) = person.former_family {
            if person.name_change && index == 0 {
                family = birth_name.to_owned();
                cases.insert(HardCase::NameChange);
            } else if (person.name_change && chance(rng, 0.5)) || chance(rng, 0.05) {
                former = Some(birth_name.to_owned());
            }
        }
        if person.name_change
            && index > 0
            && let Some(birth_name) = person.former_family
            && chance(rng, 0.2)
        {
            family = format!("{birth_name}-{family}");
            cases.insert(HardCase::NameChange);
        }
        // Spelling: facilities that keep accents write them; compound names lose punctuation.
        if facility % 4 == 2 {
            if let Some(accented) = TABLES.accented(&given) {
                given = accented.to_owned();
                cases.insert(HardCase::Spelling);
            }
            if let Some(accented) = TABLES.accented(&family) {
                family = accented.to_owned();
                cases.insert(HardCase::Spelling);
            }
        }
        if family.contains([' ', '\'']) && chance(rng, 0.3) {
            let variant = if family.contains('\'') && chance(rng, 0.5) {
                family.replace('\'', " ")
            } else {
                family.replace([' ', '\''], "")
            };
            if variant != family {
                family = variant;
                cases.insert(HardCase::Spelling);
            }
        }
        if let Some(generation) = person.generation {
            let p = if generation == "Jr" { 0.3 } else { 0.1 };
            if chance(rng, p) {
                family = format!("{family} {generation}");
            }
        }

        (given, middle, family, former)
    }
}

/// The names of one registration of a person of an international origin: a mononym written
/// one of its ways; diacritics kept by facilities that keep accents and folded by the others;
/// on a later registration, sometimes one of the origin's writing variants.
fn international_record_names<R: Rng + ?Sized>(
    rng: &mut R,
    names: &IntlNames,
    later: bool,
    facility: u32,
    rates: &super::HardCaseRates,
    cases: &mut HardCases,
) -> (String, Option<String>, String, Option<String>) {
    let mut written = if names.mononym {
        cases.insert(HardCase::Mononym);
        international::mononym(rng, &names.family)
    } else {
        international::Names {
            given: names.given.clone(),
            middle: names.middle.map(str::to_owned),
            family: names.family.clone(),
        }
    };
    if later
        && !names.mononym
        && chance(rng, rates.name_convention)
        && let Some(case) = international::vary(rng, names.origin, &mut written)
    {
        cases.insert(case);
    }
    let accented = |s: &str| !s.is_ascii();
    if facility % 4 == 2 {
        if accented(&written.given) || accented(&written.family) {
            cases.insert(HardCase::Diacritics);
        }
    } else {
        written.given = international::ascii(&written.given);
        written.family = international::ascii(&written.family);
        written.middle = written.middle.map(|m| international::ascii(&m));
    }
    (written.given, written.middle, written.family, None)
}

/// A record under construction, field by field.
struct Draft {
    given: String,
    middle: Option<String>,
    family: String,
    former: Option<String>,
    sex: Option<Sex>,
    dob: Option<String>,
    address: Option<(String, Option<String>)>,
    city: Option<String>,
    zip: &'static ZipArea,
    zip4: Option<u16>,
    country: bool,
    phone: Option<String>,
    email: Option<String>,
    ssn: Option<String>,
    mrn: String,
    facility: u32,
}

/// Which field a typo or OCR confusion hits.
#[derive(Clone, Copy)]
enum Field {
    Given,
    Family,
    Street,
    City,
    Phone,
    NationalId,
    Email,
}

impl Draft {
    fn field_mut(&mut self, field: Field) -> Option<&mut String> {
        match field {
            Field::Given => Some(&mut self.given),
            Field::Family => Some(&mut self.family),
            Field::Street => self.address.as_mut().map(|a| &mut a.0),
            Field::City => self.city.as_mut(),
            Field::Phone => self.phone.as_mut(),
            Field::NationalId => self.ssn.as_mut(),
            Field::Email => self.email.as_mut(),
        }
    }

    /// Applies `error` to `field`; `true` when the value changed.
    fn corrupt<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        field: Field,
        error: fn(&mut R, &str) -> Option<String>,
    ) -> bool {
        let Some(value) = self.field_mut(field) else {
            return false;
        };
        match error(rng, value) {
            Some(changed) => {
                *value = changed;
                true
            }
            None => false,
        }
    }
}

fn typo_field<R: Rng + ?Sized>(rng: &mut R) -> Field {
    match rng.random_range(0..100u8) {
        0..=34 => Field::Family,
        35..=64 => Field::Given,
        65..=79 => Field::Street,
        80..=84 => Field::City,
        85..=91 => Field::Phone,
        92..=96 => Field::NationalId,
        _ => Field::Email,
    }
}

fn ocr_field<R: Rng + ?Sized>(rng: &mut R) -> Field {
    match rng.random_range(0..100u8) {
        0..=39 => Field::Family,
        40..=69 => Field::Given,
        70..=84 => Field::Street,
        85..=94 => Field::NationalId,
        _ => Field::Phone,
    }
}

fn format_ssn(ssn: u64, dashed: bool) -> String {
    if dashed {
        format!(
            "{:03}-{:02}-{:04}",
            ssn / 1_000_000,
            ssn / 10_000 % 100,
            ssn % 10_000
        )
    } else {
        format!("{ssn:09}")
    }
}

fn street_line(home: &Home, full_suffix: bool, unit_inline: bool) -> String {
    let (abbr, full, _) = SUFFIXES[home.suffix];
    let suffix = if full_suffix { full } else { abbr };
    match (&home.unit, unit_inline) {
        (Some(unit), true) => format!("{} {} {}, {}", home.number, home.street, suffix, unit),
        _ => format!("{} {} {}", home.number, home.street, suffix),
    }
}

/// The placeholder names a registration clerk uses when the real name is not known.
fn placeholder_name<R: Rng + ?Sized>(rng: &mut R, person: &Person) -> (String, String) {
    if person.age == 0 {
        let given = if person.sex == Sex::Female {
            "Baby Girl"
        } else {
            "Baby Boy"
        };
        return (given.to_owned(), person.family.to_owned());
    }
    let (given, family) = match rng.random_range(0..4u8) {
        0 => ("Unknown", "Unknown"),
        1 => ("Unknown", "Patient"),
        _ if person.sex == Sex::Female => ("Jane", "Doe"),
        _ => ("John", "Doe"),
    };
    (given.to_owned(), family.to_owned())
}

impl ChunkContext<'_> {
    /// Renders registration `index` of `person` living in `home`.
    fn render<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        person: &Person,
        home: &Home,
        index: usize,
        mrn_by_facility: &mut Vec<(u32, String)>,
    ) -> (PersonRecord, HardCases) {
        let config = self.config;
        let rates = &config.rates;
        let mut cases = person.cases;
        let later = index > 0;
        let facility = rng.random_range(0..config.facilities.max(1));
        let record_number = self.base + self.next_record;
        self.next_record += 1;

        // The facility's medical record number: reused when the person was found at a
        // facility they had visited, fresh for a duplicate registration.
        let fresh = self.fresh_mrn(record_number, facility);
        let mrn = match mrn_by_facility.iter().find(|(f, _)| *f == facility) {
            Some((_, known)) if chance(rng, 0.5) => known.clone(),
            Some(_) => fresh,
            None => {
                mrn_by_facility.push((facility, fresh.clone()));
                fresh
            }
        };

        // Names.
        let (given, middle, family, former) = match &person.intl {
            Some(names) => {
                international_record_names(rng, names, later, facility, rates, &mut cases)
            }
            None => self.us_record_names(rng, person, index, facility, &mut cases),
        };
        // Birth date: the registry's estimate on the first record (and on some later ones) of a
        // person whose date was unknown then.
        let mut dob = person.dob;
        if let Some(estimate) = person.estimated_dob
            && (index == 0 || chance(rng, 0.25))
        {
            dob = estimate;
            cases.insert(HardCase::EstimatedBirthDate);
        }
        if later
            && chance(rng, rates.day_month_swap)
            && let Some(swapped) = dob.day_month_swapped()
        {
            dob = swapped;
            cases.insert(HardCase::DayMonthSwap);
        }
        if later
            && chance(rng, rates.date_error)
            && let Some(wrong) = dob.with_error(rng)
        {
            dob = wrong;
            cases.insert(HardCase::DateError);
        }
        let compact_date = facility % 2 == 1;
        let mut dob_text = Some(dob.format(compact_date));

        // Address and phone: a mover's first record shows the previous ones.
        let (shown_home, moved_phone) = match &person.previous {
            Some((old_home, old_phone)) if index == 0 => {
                cases.insert(HardCase::Moved);
                (old_home, *old_phone)
            }
            _ => (home, None),
        };
        let full_suffix = (facility % 2 == 0) != chance(rng, 0.15);
        let unit_inline = chance(rng, 0.3);
        let line2 = match (&shown_home.unit, unit_inline) {
            (Some(unit), false) => Some(unit.clone()),
            _ => None,
        };
        let address = Some((street_line(shown_home, full_suffix, unit_inline), line2));
        let phone = moved_phone
            .or_else(|| match (person.mobile, shown_home.landline) {
                (Some(mobile), Some(landline)) => {
                    Some(if chance(rng, 0.6) { mobile } else { landline })
                }
                (Some(mobile), None) => Some(mobile),
                (None, _) if person.age < 18 => shown_home.contact,
                (None, landline) => landline,
            })
            .map(|p| p.format(facility + u32::from(chance(rng, 0.2))));
        let ssn = person
            .ssn
            .filter(|_| chance(rng, 0.85))
            .map(|s| format_ssn(s, chance(rng, 0.7)));

        let mut draft = Draft {
            given,
            middle,
            family,
            former,
            sex: Some(person.sex),
            dob: None,
            address,
            city: Some(shown_home.zip.city.to_owned()),
            zip: shown_home.zip,
            zip4: chance(rng, 0.1).then(|| rng.random_range(0..10_000u16)),
            country: chance(rng, 0.5),
            phone,
            email: person.email.clone().filter(|_| chance(rng, 0.8)),
            ssn,
            mrn,
            facility,
        };

        if chance(rng, rates.placeholder) {
            let (g, f) = placeholder_name(rng, person);
            draft.given = g;
            draft.family = f;
            draft.middle = None;
            draft.former = None;
            cases.insert(HardCase::Placeholder);
            match rng.random_range(0..5u8) {
                0 | 1 => dob_text = None,
                2 => {
                    dob_text = Some(String::from(if compact_date {
                        "19000101"
                    } else {
                        "1900-01-01"
                    }))
                }
                _ => {}
            }
        }
        if later && chance(rng, rates.name_swap) {
            std::mem::swap(&mut draft.given, &mut draft.family);
            cases.insert(HardCase::NameSwap);
        }
        if later && chance(rng, rates.typo) {
            let errors = if chance(rng, 0.2) { 2 } else { 1 };
            for _ in 0..errors {
                let field = typo_field(rng);
                if draft.corrupt(rng, field, corrupt::typo) {
                    cases.insert(HardCase::Typo);
                }
            }
        }
        if later && chance(rng, rates.ocr) {
            let field = ocr_field(rng);
            if draft.corrupt(rng, field, corrupt::ocr) {
                cases.insert(HardCase::Ocr);
            }
        }

        // Missing fields: each optional field the record has is dropped independently.
        let mut dropped = false;
        let mut drop = |rng: &mut R, present: bool| {
            let hit = present && chance(rng, rates.missing);
            dropped |= hit;
            hit
        };
        if drop(rng, draft.sex.is_some()) {
            draft.sex = None;
        }
        if drop(rng, dob_text.is_some()) {
            dob_text = None;
        }
        if drop(rng, draft.address.is_some()) {
            draft.address = None;
            draft.city = None;
        }
        if drop(rng, draft.phone.is_some()) {
            draft.phone = None;
        }
        if drop(rng, draft.email.is_some()) {
            draft.email = None;
        }
        if drop(rng, draft.ssn.is_some()) {
            draft.ssn = None;
        }
        if dropped {
            cases.insert(HardCase::MissingField);
        }
        draft.dob = dob_text;

        (finish(draft, facility % 3 == 1), cases)
    }
}

/// Turns a draft into a `PersonRecord`, upper-casing text for facilities that write that way.
fn finish(draft: Draft, upper: bool) -> PersonRecord {
    let case = |s: String| if upper { s.to_uppercase() } else { s };
    let mut given_names = vec![case(draft.given)];
    given_names.extend(draft.middle.map(case));
    let mut family_names = vec![case(draft.family)];
    family_names.extend(draft.former.map(case));
    let addresses = match draft.address {
        Some((line1, line2)) => {
            let mut lines = vec![case(line1)];
            lines.extend(line2.map(case));
            let postal_code = match draft.zip4 {
                Some(plus4) => format!("{}-{plus4:04}", draft.zip.zip),
                None => draft.zip.zip.to_owned(),
            };
            vec![Address {
                lines,
                city: draft.city.map(case),
                state: Some(draft.zip.state.to_owned()),
                postal_code: Some(postal_code),
                country: draft.country.then(|| "US".to_owned()),
            }]
        }
        None => Vec::new(),
    };
    let mut identifiers = Vec::with_capacity(2);
    if let Some(ssn) = draft.ssn {
        identifiers.push(Identifier {
            system: NATIONAL_ID_SYSTEM.to_owned(),
            value: ssn,
        });
    }
    identifiers.push(Identifier {
        system: mrn_system(draft.facility),
        value: draft.mrn,
    });
    PersonRecord {
        given_names,
        family_names,
        sex: draft.sex,
        birth_date: draft.dob,
        addresses,
        phones: draft.phone.into_iter().collect(),
        emails: draft.email.into_iter().collect(),
        identifiers,
        maternity: Default::default(),
    }
}

/// Generates chunk `chunk` with exactly `len` records.
pub(super) fn generate_chunk(
    config: &GeneratorConfig,
    rng: &mut ChaCha8Rng,
    chunk: u64,
    len: usize,
) -> Vec<SyntheticRecord> {
    let base = chunk * CHUNK_RECORDS as u64;
    let mut ctx = ChunkContext {
        config,
        base,
        next_person: 0,
        next_household: 0,
        next_record: 0,
        ssn_salt: splitmix(config.seed) % 1_000_000_000,
        mrn_salt: splitmix(config.seed ^ 0x5EED) % 100_000_000,
        next_mrn: vec![0; config.facilities.max(1) as usize],
    };
    let mut out: Vec<(PersonRecord, u64, u64, HardCases, Option<&'static str>)> =
        Vec::with_capacity(len);
    while out.len() < len {
        let household_id = base + ctx.next_household;
        let (home, members) = ctx.household(rng);
        let needed: usize = members.iter().map(|m| m.records).sum();
        let members = if out.len() + needed <= len {
            members
        } else {
            // The chunk's last few slots: fill with people registered once, living alone,
            // so no household or cluster is cut in half.
            let (sex, age) = (random_sex(rng), rng.random_range(18..=90));
            let mut alone = ctx.person(rng, sex, age, members[0].family, home.zip.area_code);
            alone.records = 1;
            vec![alone]
        };
        for person in &members {
            let mut mrns = Vec::new();
            let mut national_id_given = false;
            for index in 0..person.records {
                let (mut record, cases) = ctx.render(rng, person, &home, index, &mut mrns);
                if ctx.config.distinct_identifiers {
                    // After rendering, so the random stream (and so the rest of the file) is
                    // the same as without the option.
                    let number = ctx.base + ctx.next_record - 1;
                    let facility = ctx.facility_of(&record);
                    let fresh = ctx.fresh_mrn(number, facility);
                    record.identifiers.retain_mut(|id| {
                        if id.system == NATIONAL_ID_SYSTEM {
                            !std::mem::replace(&mut national_id_given, true)
                        } else {
                            id.value.clone_from(&fresh);
                            true
                        }
                    });
                }
                let origin = person.intl.as_ref().map(|n| n.origin.name);
                out.push((record, person.cluster_id, household_id, cases, origin));
            }
        }
    }
    // Fisher-Yates with the chunk's own stream: duplicates end up apart.
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    out.into_iter()
        .enumerate()
        .map(
            |(i, (record, cluster_id, household_id, cases, origin))| SyntheticRecord {
                id: format!("r{:08}", base + i as u64),
                cluster_id,
                household_id,
                cases,
                origin,
                record,
            },
        )
        .collect()
}
