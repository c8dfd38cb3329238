//! The matcher's input (`PersonRecord`, raw as registered) and its normalized form (`NormalizedRecord`).
//!
//! Every field may be missing. The service and the CLI build `PersonRecord`s; the matcher turns them
//! into `NormalizedRecord`s once (see `normalize::normalize`) and compares only those.

use serde::{Deserialize, Serialize};

/// The string type of normalized records: up to 24 bytes are held inline, so a normalized record
/// (names, phonetic codes, postal codes, phones) needs almost no heap allocation of its own.
/// A batch holds millions of records; with `String` their heap blocks were half their memory.
pub use compact_str::CompactString;

/// Administrative sex, as FHIR's `AdministrativeGender`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
    /// Other.
    Other,
    /// Recorded as unknown (treated as missing when comparing).
    Unknown,
}

/// A postal address as registered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street lines, first line first (house number and street name usually in the first).
    pub lines: Vec<String>,
    /// City, town or suburb.
    pub city: Option<String>,
    /// State, province or region.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// An identifier issued by some system (national id, medical record number, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// The issuing system (a URI or a short code); empty when unknown.
    pub system: String,
    /// The identifier value.
    pub value: String,
}

/// A person as registered: the raw input of the matcher. Any field may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// Given names, first name first, then middle names.
    pub given_names: Vec<String>,
    /// Family names: the current one first, then former ones (maiden name, old names).
    pub family_names: Vec<String>,
    /// Administrative sex.
    pub sex: Option<Sex>,
    /// Birth date as written (`YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY`, ...); validated by normalization.
    pub birth_date: Option<String>,
    /// Postal addresses, current first.
    pub addresses: Vec<Address>,
    /// Phone numbers as written.
    pub phones: Vec<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Identifiers (system + value).
    pub identifiers: Vec<Identifier>,
    /// The mother's maiden name and identifier, and the birth order (see [`Maternity`]).
    #[serde(default)]
    pub maternity: Maternity,
}

/// What a record says of the person's mother and of the birth: the mother's maiden name and
/// identifier (HL7 v2 PID-6 and PID-21, FHIR's `patient-mothersMaidenName`) and the order of
/// birth in a multiple birth (PID-25, FHIR `multipleBirthInteger`). Compared by
/// [`crate::maternity`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maternity {
    /// The mother's maiden family name.
    pub mother_maiden_name: Option<String>,
    /// The mother's identifier.
    pub mother_identifier: Option<Identifier>,
    /// Birth order within a multiple birth (1, 2, ...).
    pub birth_order: Option<u32>,
}

/// The normalized [`Maternity`] of a record, with whether its given name was a newborn
/// placeholder ("Baby Girl", "Twin A"; see [`crate::maternity::newborn_placeholder`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedMaternity {
    /// The mother's maiden family name, folded.
    pub mother_maiden_name: Option<NormalizedName>,
    /// The mother's identifier.
    pub mother_identifier: Option<NormalizedIdentifier>,
    /// Birth order within a multiple birth, as given or read from a "Twin A/B" placeholder.
    pub birth_order: Option<u32>,
    /// The given name was a newborn placeholder, dropped (a missing given name).
    pub newborn_placeholder: bool,
}

/// A birth date as far as it is known: a calendar date, a year and month (`day` 0), a year alone
/// (`month` and `day` 0), or a mistyped date kept digit by digit (`19551192`: a month or day out of
/// range, see [`BirthDate::is_mistyped`]), which still agrees digit by digit with the true date.
/// [`crate::normalize::parse_birth_date`] yields calendar dates only; normalization keeps the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BirthDate {
    /// Year, e.g. 1984.
    pub year: u16,
    /// Month, 1..=12; 0 when only the year is known; up to 99 in a mistyped date.
    pub month: u8,
    /// Day, 1..=31 (valid for the month); 0 when only the year or year and month are known; up to
    /// 99 in a mistyped date.
    pub day: u8,
}

/// How much of a birth date is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DatePrecision {
    /// The year only.
    Year,
    /// Year and month.
    Month,
    /// A full date (or a mistyped full date).
    Day,
}

impl BirthDate {
    /// How much of the date is known.
    pub fn precision(self) -> DatePrecision {
        if self.month == 0 {
            DatePrecision::Year
        } else if self.day == 0 {
            DatePrecision::Month
        } else {
            DatePrecision::Day
        }
    }

    /// True for a full date that is no calendar date (month above 12 or day beyond the month's
    /// length): a typing error kept for a digit-by-digit comparison.
    pub fn is_mistyped(self) -> bool {
        // On the scoring path (every pair of differing dates): arithmetic, no calendar library.
        const DAYS: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if self.precision() != DatePrecision::Day {
            return false;
        }
        if self.month > 12 {
            return true;
        }
        let y = self.year;
        let leap = y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
        let days = DAYS[usize::from(self.month - 1)] + u8::from(self.month == 2 && leap);
        self.day > days
    }

    /// True for the dates registries write for an unknown birth date of an estimated year:
    /// 1 January and 1 July.
    pub fn is_conventional_placeholder(self) -> bool {
        self.day == 1 && (self.month == 1 || self.month == 7)
    }
}

/// Phonetic keys of one name (see `phonetic`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneticKeys {
    /// Double Metaphone primary code.
    pub metaphone: CompactString,
    /// Double Metaphone alternate code (equal to the primary when there is none).
    pub metaphone_alt: CompactString,
    /// NYSIIS code.
    pub nysiis: CompactString,
}

/// One normalized name token or compound name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedName {
    /// Folded text: no diacritics, lower case, letters and single spaces only, particles kept
    /// (`"van der berg"`), titles and suffixes removed.
    pub text: CompactString,
    /// Phonetic keys of `text`.
    pub phonetic: PhoneticKeys,
    /// Id of the nickname group this name belongs to (William, Bill, Will, Liam share one), if any.
    pub nickname_group: Option<u32>,
    /// Every nickname group this name belongs to (`"al"` is Albert, Alfred and Alexander); the first is
    /// `nickname_group`. Empty when the name is in no group.
    #[serde(default)]
    pub nickname_groups: Vec<u32>,
    /// `text` without spaces (`"van der berg"` -> `"vanderberg"`): what string metrics compare.
    #[serde(default)]
    pub compact: CompactString,
}

/// A normalized address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedAddress {
    /// House number (digits and letters), if one was found in the first line.
    pub house_number: CompactString,
    /// Street of the first line (after the house number), folded and with common abbreviations
    /// expanded (`st` -> `street`).
    pub street: CompactString,
    /// Remaining lines (building, locality), folded, abbreviations expanded; empty when none.
    #[serde(default)]
    pub extra: CompactString,
    /// Folded city.
    pub city: CompactString,
    /// Folded state.
    pub state: CompactString,
    /// Postal code without separators, upper case.
    pub postal_code: CompactString,
    /// Folded country.
    pub country: CompactString,
}

/// A normalized identifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NormalizedIdentifier {
    /// Folded system (lower case, trimmed).
    pub system: CompactString,
    /// Value without separators (spaces, dashes, dots, slashes), upper case.
    pub value: CompactString,
}

/// A person record after normalization: what comparators, the candidate index and batch work on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedRecord {
    /// Given names, first name first.
    pub given: Vec<NormalizedName>,
    /// Family names, current first, then former ones.
    pub family: Vec<NormalizedName>,
    /// Sex; `Unknown` is normalized to `None`.
    pub sex: Option<Sex>,
    /// Birth date, when present and valid.
    pub birth_date: Option<BirthDate>,
    /// Addresses, current first.
    pub addresses: Vec<NormalizedAddress>,
    /// Phones reduced to digits (country prefix kept as written).
    pub phones: Vec<CompactString>,
    /// E-mails, lower case and trimmed.
    pub emails: Vec<CompactString>,
    /// Identifiers.
    pub identifiers: Vec<NormalizedIdentifier>,
    /// True when the name is a placeholder identity (John/Jane Doe, Unknown, Test Patient...).
    /// A newborn placeholder given name (Baby Girl) is dropped instead and noted in `maternity`.
    pub placeholder: bool,
    /// Mother, birth order and newborn placeholder; `None` (no allocation) when the record says
    /// none of them, as most records do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maternity: Option<Box<NormalizedMaternity>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistyped_means_no_calendar_date() {
        let d = |year, month, day| BirthDate { year, month, day };
        for (date, mistyped) in [
            (d(2000, 2, 29), false),
            (d(1900, 2, 29), true),
            (d(1996, 2, 29), false),
            (d(1997, 2, 29), true),
            (d(1980, 4, 31), true),
            (d(1980, 12, 31), false),
            (d(1980, 13, 1), true),
            (d(1955, 11, 92), true),
            (d(1980, 0, 0), false),
            (d(1980, 3, 0), false),
        ] {
            assert_eq!(date.is_mistyped(), mistyped, "{date:?}");
        }
    }
}
