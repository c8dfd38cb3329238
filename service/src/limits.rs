//! Bounds on every text and list a caller can hand the service, and the control-character
//! rule, in one place: the documented limits, and the checks that refuse an input over them
//! with a validation error naming the field (never echoing the value).
//!
//! Why: an unbounded name made the matcher's quadratic comparison take 22 s for an
//! 80,000-character family name (and minutes for megabytes, holding SQLite's write gate);
//! more than about 2,340 (SQLite) or 4,681 (PostgreSQL) names or identifiers in one record
//! overran the database's bind-variable limit; and a NUL character was stored by SQLite but
//! refused by PostgreSQL (a 500). The limits sit well above real data: HL7 v2.5 gives a family
//! name 194 characters (XPN.1), an identifier 15 (CX.1, often exceeded in practice), an address
//! line 120 (XAD.1), and FHIR R4 bounds none of them.

use crate::patients::{PatientInput, PatientQuery};
use crate::{Error, Result};

/// Most characters in one name part: a family name, a given name, a prefix or a suffix.
pub const MAX_NAME_PART: usize = 200;
/// Most characters in a free-text field: a name's or an address's `text`.
pub const MAX_TEXT: usize = 500;
/// Most characters in an identifier's `system` (a URI or a code).
pub const MAX_IDENTIFIER_SYSTEM: usize = 500;
/// Most characters in an identifier's `value`.
pub const MAX_IDENTIFIER_VALUE: usize = 200;
/// Most characters in one address line, city, district, state, postal code or country.
pub const MAX_ADDRESS_PART: usize = 300;
/// Most characters in a telecom value (a number or an e-mail address).
pub const MAX_TELECOM_VALUE: usize = 300;

/// Most names in one record.
pub const MAX_NAMES: usize = 20;
/// Most given names, prefixes or suffixes in one name.
pub const MAX_NAME_PARTS: usize = 10;
/// Most identifiers in one record.
pub const MAX_IDENTIFIERS: usize = 50;
/// Most addresses in one record.
pub const MAX_ADDRESSES: usize = 20;
/// Most lines in one address.
pub const MAX_ADDRESS_LINES: usize = 5;
/// Most telecoms (contact points) in one record.
pub const MAX_TELECOMS: usize = 20;
/// Most languages (FHIR `Patient.communication`) in one record.
pub const MAX_COMMUNICATIONS: usize = 20;
/// Most characters in a language's code (BCP 47 tags are at most a few dozen).
pub const MAX_LANGUAGE_CODE: usize = 100;

/// Most characters in a search or audit-filter criterion.
pub const MAX_CRITERION: usize = 500;

/// Checks one text: at most `max_chars` characters, and no control character other than
/// tab, line feed and carriage return (FHIR R4's rule for `string`: "SHALL NOT contain Unicode
/// character points below 32, except for u0009, u000D and u000A"). NUL is refused this way on
/// both databases alike.
pub fn check_text(field: impl FnOnce() -> String, value: &str, max_chars: usize) -> Result<()> {
    // Bytes first: a megabyte of text is refused without counting its characters.
    if value.len() > max_chars * 4 || value.chars().count() > max_chars {
        return Err(Error::validation(
            field(),
            format!("is longer than {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Error::validation(
            field(),
            "contains a control character (only tab, line feed and carriage return are allowed)",
        ));
    }
    Ok(())
}

/// Checks that a list holds at most `max` items.
pub fn check_count(field: &str, count: usize, max: usize) -> Result<()> {
    if count > max {
        return Err(Error::validation(
            field,
            format!("has more than {max} items"),
        ));
    }
    Ok(())
}

fn check_opt(field: impl FnOnce() -> String, value: &Option<String>, max: usize) -> Result<()> {
    value
        .as_deref()
        .map_or(Ok(()), |v| check_text(field, v, max))
}

fn check_all(field: &str, values: &[String], max_items: usize, max_chars: usize) -> Result<()> {
    check_count(field, values.len(), max_items)?;
    for (i, v) in values.iter().enumerate() {
        check_text(|| format!("{field}[{i}]"), v, max_chars)?;
    }
    Ok(())
}

/// Checks every text and list of a patient against the limits above.
pub fn check_patient(input: &PatientInput) -> Result<()> {
    check_count("names", input.names.len(), MAX_NAMES)?;
    check_count("identifiers", input.identifiers.len(), MAX_IDENTIFIERS)?;
    check_count("addresses", input.addresses.len(), MAX_ADDRESSES)?;
    check_count("telecoms", input.telecoms.len(), MAX_TELECOMS)?;
    for (i, n) in input.names.iter().enumerate() {
        check_opt(|| format!("names[{i}].family"), &n.family, MAX_NAME_PART)?;
        check_all(
            &format!("names[{i}].given"),
            &n.given,
            MAX_NAME_PARTS,
            MAX_NAME_PART,
        )?;
        check_all(
            &format!("names[{i}].prefix"),
            &n.prefix,
            MAX_NAME_PARTS,
            MAX_NAME_PART,
        )?;
        check_all(
            &format!("names[{i}].suffix"),
            &n.suffix,
            MAX_NAME_PARTS,
            MAX_NAME_PART,
        )?;
        check_opt(|| format!("names[{i}].text"), &n.text, MAX_TEXT)?;
    }
    for (i, id) in input.identifiers.iter().enumerate() {
        check_text(
            || format!("identifiers[{i}].system"),
            &id.system,
            MAX_IDENTIFIER_SYSTEM,
        )?;
        check_text(
            || format!("identifiers[{i}].value"),
            &id.value,
            MAX_IDENTIFIER_VALUE,
        )?;
    }
    for (i, a) in input.addresses.iter().enumerate() {
        check_all(
            &format!("addresses[{i}].lines"),
            &a.lines,
            MAX_ADDRESS_LINES,
            MAX_ADDRESS_PART,
        )?;
        for (name, value) in [
            ("city", &a.city),
            ("district", &a.district),
            ("state", &a.state),
            ("postal_code", &a.postal_code),
            ("country", &a.country),
        ] {
            check_opt(|| format!("addresses[{i}].{name}"), value, MAX_ADDRESS_PART)?;
        }
        check_opt(|| format!("addresses[{i}].text"), &a.text, MAX_TEXT)?;
    }
    for (i, t) in input.telecoms.iter().enumerate() {
        check_text(
            || format!("telecoms[{i}].value"),
            &t.value,
            MAX_TELECOM_VALUE,
        )?;
    }
    check_count(
        "communication",
        input.communications.len(),
        MAX_COMMUNICATIONS,
    )?;
    for (i, c) in input.communications.iter().enumerate() {
        check_opt(
            || format!("communication[{i}].language.system"),
            &c.system,
            MAX_IDENTIFIER_SYSTEM,
        )?;
        check_text(
            || format!("communication[{i}].language.code"),
            &c.code,
            MAX_LANGUAGE_CODE,
        )?;
        check_opt(
            || format!("communication[{i}].language.display"),
            &c.display,
            MAX_NAME_PART,
        )?;
    }
    Ok(())
}

/// Checks the criteria of a patient search.
pub fn check_query(query: &PatientQuery) -> Result<()> {
    for (name, value) in [
        ("name", &query.name),
        ("family", &query.family),
        ("given", &query.given),
        ("postal_code", &query.postal_code),
    ] {
        check_opt(|| name.to_owned(), value, MAX_CRITERION)?;
    }
    if let Some((system, value)) = &query.identifier {
        check_text(|| "identifier".to_owned(), system, MAX_IDENTIFIER_SYSTEM)?;
        check_text(|| "identifier".to_owned(), value, MAX_IDENTIFIER_VALUE)?;
    }
    query.more.check(MAX_CRITERION)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_at_the_limit_passes_and_one_more_character_is_refused_by_name() {
        let at = "é".repeat(MAX_NAME_PART);
        assert!(check_text(|| "f".into(), &at, MAX_NAME_PART).is_ok());
        let over = format!("{at}x");
        let Err(Error::Validation { field, message }) =
            check_text(|| "names[0].family".into(), &over, MAX_NAME_PART)
        else {
            panic!("over the limit passed");
        };
        assert_eq!(field, "names[0].family");
        assert!(!message.contains('é'), "the value is not echoed");
    }

    #[test]
    fn control_characters_are_refused_but_tab_and_line_breaks_pass() {
        for bad in ["a\0b", "a\u{1}", "\u{1b}[31m", "x\u{7}"] {
            assert!(check_text(|| "f".into(), bad, 50).is_err(), "{bad:?}");
        }
        for good in ["a\tb", "line 1\r\nline 2", "Zoë O'Brien-Łukasz", ""] {
            assert!(check_text(|| "f".into(), good, 50).is_ok(), "{good:?}");
        }
    }
}
