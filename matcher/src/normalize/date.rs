//! Birth-date parsing and validation.
//!
//! Accepted formats: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, `YYYYMMDD`, `DD.MM.YYYY`, `DD-MM-YYYY` and
//! `DD/MM/YYYY`. Slashed dates are read day first (the international and Australian convention),
//! except when the first number cannot be a day-of-month reading (`12/31/1980` is read as `MM/DD`
//! because 31 is no month). Dates in the future or before 1850 are rejected (normalization keeps
//! a date from the year 1000 on for comparison: [`parse_birth_date_kept`]).

use crate::error::DateError;
use crate::record::BirthDate;
use chrono::{Datelike, NaiveDate};

/// Earliest accepted birth year.
pub const EARLIEST_YEAR: u16 = 1850;

/// Earliest year of a date normalization keeps for comparison ([`parse_birth_date_kept`]).
pub const KEPT_EARLIEST_YEAR: u16 = 1000;

/// Parses and validates a birth date against today's date (UTC).
///
/// ```
/// use matcher::normalize::parse_birth_date;
/// use matcher::BirthDate;
/// let d = BirthDate { year: 1984, month: 3, day: 7 };
/// assert_eq!(parse_birth_date("1984-03-07"), Ok(d));
/// assert_eq!(parse_birth_date("19840307"), Ok(d));
/// assert_eq!(parse_birth_date("07/03/1984"), Ok(d));
/// assert_eq!(parse_birth_date("07.03.1984"), Ok(d));
/// assert_eq!(parse_birth_date("03/31/1984").map(|d| d.day), Ok(31));
/// assert!(parse_birth_date("1984-02-30").is_err());
/// assert!(parse_birth_date("2999-01-01").is_err());
/// ```
pub fn parse_birth_date(text: &str) -> Result<BirthDate, DateError> {
    parse_birth_date_on(text, chrono::Utc::now().date_naive())
}

/// Parses and validates a birth date, rejecting dates after `today`.
pub fn parse_birth_date_on(text: &str, today: NaiveDate) -> Result<BirthDate, DateError> {
    let (year, month, day) = split(text.trim())?;
    if year < u32::from(EARLIEST_YEAR) {
        return Err(DateError::TooEarly);
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(DateError::NoSuchDate)?;
    if date > today {
        return Err(DateError::Future);
    }
    Ok(BirthDate {
        year: date.year() as u16,
        month: date.month() as u8,
        day: date.day() as u8,
    })
}

/// What normalization keeps of a birth date as written: a calendar date ([`parse_birth_date`]),
/// a partial date (`YYYY`, `YYYY-MM`, `YYYYMM`, `MM/YYYY`: the unknown parts are 0), or a mistyped
/// full date whose month or day is out of range (`19551192`, `1953-78-25`), kept digit by digit
/// because it still agrees with the true date in all but one or two digits. A year before 1850
/// (from [`KEPT_EARLIEST_YEAR`]) is kept too: no living patient's, but a mistyped year (`1058` for
/// `1958`) still agrees with the true date in all other digits, and a file of historical records
/// holds such dates as written. `None` for anything else (no date, a future date, a year before
/// 1000, a zero month or day).
///
/// ```
/// use matcher::normalize::parse_birth_date_kept;
/// use matcher::BirthDate;
/// let d = |year, month, day| Some(BirthDate { year, month, day });
/// assert_eq!(parse_birth_date_kept("1984-03-07"), d(1984, 3, 7));
/// assert_eq!(parse_birth_date_kept("19551192"), d(1955, 11, 92));
/// assert!(parse_birth_date_kept("19551192").unwrap().is_mistyped());
/// assert_eq!(parse_birth_date_kept("1953-78-25"), d(1953, 78, 25));
/// assert_eq!(parse_birth_date_kept("1984"), d(1984, 0, 0));
/// assert_eq!(parse_birth_date_kept("1984-03"), d(1984, 3, 0));
/// assert_eq!(parse_birth_date_kept("03/1984"), d(1984, 3, 0));
/// assert_eq!(parse_birth_date_kept("1630-08-01"), d(1630, 8, 1));
/// assert_eq!(parse_birth_date_kept("1984-00-07"), None);
/// assert_eq!(parse_birth_date_kept("2999"), None);
/// assert_eq!(parse_birth_date_kept("soon"), None);
/// ```
pub fn parse_birth_date_kept(text: &str) -> Option<BirthDate> {
    kept_on(text, chrono::Utc::now().date_naive())
}

fn kept_on(text: &str, today: NaiveDate) -> Option<BirthDate> {
    let text = text.trim();
    match parse_birth_date_on(text, today) {
        Ok(d) => return Some(d),
        Err(DateError::NoSuchDate | DateError::TooEarly) => {}
        Err(DateError::Format) => return partial(text, today),
        Err(_) => return None,
    }
    let (year, month, day) = split(text).ok()?;
    let plausible = (1..=99).contains(&month) && (1..=99).contains(&day);
    let kept_year = (u32::from(KEPT_EARLIEST_YEAR)..=today.year() as u32).contains(&year);
    (plausible && kept_year).then_some(BirthDate {
        year: year as u16,
        month: month as u8,
        day: day as u8,
    })
}

/// `YYYY`, `YYYY-MM`, `YYYY/MM`, `YYYYMM`, `MM/YYYY`, `MM-YYYY`, `MM.YYYY`: a year, or a year and
/// month, not in the future and not before the year 1000.
fn partial(text: &str, today: NaiveDate) -> Option<BirthDate> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (year, month) = if text.len() == 4 && digits(text) {
        (text.parse().ok()?, 0)
    } else if text.len() == 6 && digits(text) {
        (text[..4].parse().ok()?, text[4..].parse().ok()?)
    } else {
        let sep = text.find(['-', '/', '.'])?;
        let (a, b) = (&text[..sep], &text[sep + 1..]);
        if !digits(a) || !digits(b) {
            return None;
        }
        match (a.len(), b.len()) {
            (4, 1..=2) => (a.parse().ok()?, b.parse().ok()?),
            (1..=2, 4) => (b.parse().ok()?, a.parse().ok()?),
            _ => return None,
        }
    };
    let year: u32 = year;
    let month: u32 = month;
    let in_range = year >= u32::from(KEPT_EARLIEST_YEAR)
        && month <= 12
        && (year < today.year() as u32 || (year == today.year() as u32 && month <= today.month()));
    in_range.then_some(BirthDate {
        year: year as u16,
        month: month as u8,
        day: 0,
    })
}

/// Splits the text into (year, month, day) numbers according to the accepted formats.
fn split(text: &str) -> Result<(u32, u32, u32), DateError> {
    let bytes = text.as_bytes();
    if bytes.len() == 8 && bytes.iter().all(u8::is_ascii_digit) {
        let n = |r: std::ops::Range<usize>| number(&text[r]);
        return Ok((n(0..4)?, n(4..6)?, n(6..8)?));
    }
    let sep = bytes
        .iter()
        .copied()
        .find(|b| matches!(b, b'-' | b'/' | b'.'))
        .ok_or(DateError::Format)?;
    let mut parts = text.split(sep as char);
    let (Some(p1), Some(p2), Some(p3), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DateError::Format);
    };
    let (a, b, c) = (number(p1)?, number(p2)?, number(p3)?);
    if p1.len() == 4 {
        return Ok((a, b, c));
    }
    if p3.len() != 4 {
        return Err(DateError::Format);
    }
    if sep == b'/' && a <= 12 && b > 12 {
        // Only an MM/DD reading is possible.
        return Ok((c, a, b));
    }
    Ok((c, b, a))
}

fn number(part: &str) -> Result<u32, DateError> {
    if part.is_empty() || part.len() > 4 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Format);
    }
    part.parse().map_err(|_| DateError::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(text: &str) -> Result<BirthDate, DateError> {
        parse_birth_date_on(text, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap())
    }

    #[test]
    fn formats() {
        let d = BirthDate {
            year: 1990,
            month: 11,
            day: 2,
        };
        for text in [
            "1990-11-02",
            "1990/11/02",
            "19901102",
            "02/11/1990",
            "02.11.1990",
            "02-11-1990",
            " 1990-11-2 ",
        ] {
            assert_eq!(on(text), Ok(d), "{text}");
        }
        assert_eq!(
            on("11/25/1990"),
            Ok(BirthDate {
                year: 1990,
                month: 11,
                day: 25
            })
        );
    }

    #[test]
    fn kept_dates() {
        let today = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let kept = |t: &str| kept_on(t, today);
        let d = |year, month, day| Some(BirthDate { year, month, day });
        assert_eq!(kept("02/11/1990"), d(1990, 11, 2));
        assert_eq!(kept("1990-02-30"), d(1990, 2, 30));
        assert_eq!(kept("31/31/1990"), d(1990, 31, 31));
        assert_eq!(kept("2024-05"), d(2024, 5, 0));
        assert_eq!(kept("2024-07"), None);
        assert_eq!(kept("2025-13-01"), None);
        // A year before 1850 is kept from the year 1000 on: a mistyped year, or a historical record.
        assert_eq!(kept("1700-01-01"), d(1700, 1, 1));
        assert!(kept("1700-01-01").is_some_and(|d| !d.is_mistyped()));
        assert_eq!(kept("1700-13-01"), d(1700, 13, 1));
        assert_eq!(kept("1849"), d(1849, 0, 0));
        assert_eq!(kept("0999-01-01"), None);
        assert_eq!(kept("0999"), None);
        assert_eq!(kept("1990-13"), None);
        assert_eq!(kept("90-11-02"), None);
        assert_eq!(kept(""), None);
    }

    #[test]
    fn rejections() {
        assert_eq!(on("1990-02-29"), Err(DateError::NoSuchDate));
        assert_eq!(on("2000-02-29").map(|d| d.day), Ok(29));
        assert_eq!(on("1990-13-01"), Err(DateError::NoSuchDate));
        assert_eq!(on("2024-06-02"), Err(DateError::Future));
        assert_eq!(on("1700-01-01"), Err(DateError::TooEarly));
        assert_eq!(on("yesterday"), Err(DateError::Format));
        assert_eq!(on("1990-11"), Err(DateError::Format));
        assert_eq!(on("90-11-02"), Err(DateError::Format));
        assert_eq!(on(""), Err(DateError::Format));
    }
}
