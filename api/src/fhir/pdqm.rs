//! IHE PDQm (ITI-78) Patient search criteria: the parameters, modifiers, comma alternatives
//! and repeats translated into the service's `PatientQuery` (which does the searching), `POST
//! /fhir/Patient/_search` with the criteria as a form body, and the `Prefer: handling=` header
//! (lenient, the default: an unknown parameter or modifier is ignored and left out of the self
//! link, as FHIR R4 search and PDQm ITI-78 2:3.78.4.1.2.1 say a server SHOULD; strict: it is
//! refused with 400).

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use service::patients::{PatientQuery, parse_code, parse_partial_date, partial_date_range};
use service::search_criteria::{
    DateComparator, DateCriterion, InstantCriterion, LanguageCriterion, MAX_ALTERNATIVES,
    PhoneCriterion, TelecomCriterion, TextCriterion, TextMatch,
};
use uuid::Uuid;

use super::operation_outcome::FhirError;
use super::routes::{bad_request, invalid};
use crate::error::ApiError;

/// Whether unknown search parameters and modifiers are ignored: yes unless the request says
/// `Prefer: handling=strict` (FHIR R4 search, "Handling Errors": servers SHOULD ignore them, and
/// a client may ask for strict handling). Another `handling` value is a 400.
pub(super) fn lenient(req: &HttpRequest) -> Result<bool, FhirError> {
    let mut lenient = true;
    for value in req.headers().get_all("prefer") {
        let text = value.to_str().unwrap_or_default();
        for part in text.split([',', ';']) {
            let Some((name, v)) = part.split_once('=') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("handling") {
                continue;
            }
            match v.trim().trim_matches('"') {
                "lenient" => lenient = true,
                "strict" => lenient = false,
                _ => {
                    return Err(bad_request(
                        "Prefer: handling must be strict or lenient".to_owned(),
                        Some("Prefer"),
                    ));
                }
            }
        }
    }
    Ok(lenient)
}

/// The criteria of a `POST .../_search` body (`application/x-www-form-urlencoded`; 415 for
/// another media type).
pub(super) fn form_pairs(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Vec<(String, String)>, FhirError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime != "application/x-www-form-urlencoded" {
        return Err(FhirError::Api(ApiError::UnsupportedMediaType));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| bad_request("the form body is not UTF-8".to_owned(), None))?;
    web::Query::<Vec<(String, String)>>::from_query(text)
        .map(web::Query::into_inner)
        .map_err(|e| bad_request(format!("malformed form body: {e}"), None))
}

/// The Patient search parameters this server supports: name, type, what it does. The
/// CapabilityStatement lists exactly these.
pub(super) const SEARCH_PARAMS: [(&str, &str, &str); 21] = [
    (
        "_id",
        "token",
        "The record's id; a comma separates alternatives",
    ),
    (
        "_lastUpdated",
        "date",
        "When the record last changed (meta.lastUpdated): YYYY, YYYY-MM, YYYY-MM-DD (UTC days) or \
         a dateTime with a time zone, with the prefixes eq, ne, lt, gt, le, ge, ap",
    ),
    (
        "active",
        "token",
        "true or false (merged-away records are inactive)",
    ),
    (
        "name",
        "string",
        "Start of any family or given name, ignoring case",
    ),
    ("family", "string", "Start of a family name, ignoring case"),
    (
        "given",
        "string",
        "Start of a given name, ignoring case; alone with family (no modifier, one value), of the same name",
    ),
    (
        "birthdate",
        "date",
        "YYYY, YYYY-MM or YYYY-MM-DD with the prefixes eq, ne, lt, gt, le, ge, ap; a stored partial date is a period",
    ),
    ("gender", "token", "male, female, other, unknown"),
    (
        "identifier",
        "token",
        "system|value, a value alone (any system) or system| (any value in that domain, and \
         only that domain's identifiers in each result); |value (no system) finds nothing, \
         since every identifier here is in a domain; repeated: all must hold; a domain \
         neither registered nor held by any record answers 404",
    ),
    (
        "telecom",
        "token",
        "The exact value of a phone, email...; system|value limits the system",
    ),
    (
        "phone",
        "token",
        "A phone number by its digits (spaces, dashes, brackets, dots, + and / ignored); a value with letters, exactly",
    ),
    (
        "email",
        "token",
        "The exact value of an email (telecom with system email)",
    ),
    (
        "address",
        "string",
        "Start of any part of an address (line, city, district, state, postal code, country, text)",
    ),
    ("address-city", "string", "Start of an address's city"),
    ("address-state", "string", "Start of an address's state"),
    ("address-country", "string", "Start of an address's country"),
    (
        "address-postalcode",
        "string",
        "Start of an address's postal code",
    ),
    (
        "mothersMaidenName",
        "string",
        "Start of the mother's maiden name (the patient-mothersMaidenName extension), ignoring case",
    ),
    (
        "language",
        "token",
        "A language the patient speaks (Patient.communication.language): system|code, |code \
         (stored without a system) or a code alone (any system); the code's case is ignored",
    ),
    ("_count", "number", "Page size (default 20, at most 500)"),
    ("_page", "number", "Page number from 1"),
];

/// The string parameters, which take the `:exact` and `:contains` modifiers.
const STRING_PARAMS: [&str; 9] = [
    "name",
    "family",
    "given",
    "address",
    "address-city",
    "address-state",
    "address-country",
    "address-postalcode",
    "mothersMaidenName",
];

/// The criteria of a search as given (name with modifier, value), repeated in its links.
pub(super) type Criteria = Vec<(String, String)>;

/// The resources a Patient search adds to its matches (`search.mode` `include`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Includes {
    /// `_include=Patient:organization`: the managing organizations of the matches.
    pub organization: bool,
    /// `_revinclude=RelatedPerson:patient`: the RelatedPersons of the matches.
    pub related_persons: bool,
}

/// The `_include` and `_revinclude` values supported (the CapabilityStatement lists them).
pub(super) const INCLUDE: &str = "Patient:organization";
/// See [`INCLUDE`].
pub(super) const REVINCLUDE: &str = "RelatedPerson:patient";

/// Reads one `_include` / `_revinclude` parameter into `includes`; `false` when its value is
/// not supported.
fn include(raw_name: &str, value: &str, includes: &mut Includes) -> bool {
    match (raw_name, value) {
        // `Organization:managingOrganization` is how some clients (the OpenHIE CR test cases)
        // spell it.
        (
            "_include",
            "Patient:organization"
            | "Patient:organization:Organization"
            | "Organization:managingOrganization",
        ) => {
            includes.organization = true;
            true
        }
        ("_revinclude", "RelatedPerson:patient" | "RelatedPerson:patient:Patient") => {
            includes.related_persons = true;
            true
        }
        _ => false,
    }
}

/// Parses the criteria of a Patient search (URL and form body) into the service's query, the
/// criteria to repeat in the Bundle's links (unknown parameters and modifiers ignored, the
/// default unless `Prefer: handling=strict`, are left out) and the resources to include. A comma separates
/// alternatives (OR) in one parameter; repeated parameters must all hold.
/// A search's parameters as the service takes them, the criteria as given (for the links), the
/// resources to include, and whether only the total is asked for (`_summary=count`, or
/// `_count=0`, which FHIR R4 reads the same).
pub(super) fn search_query(
    req: &HttpRequest,
    form: Option<&[u8]>,
) -> Result<(PatientQuery, Criteria, Includes, bool), FhirError> {
    let mut pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("malformed query: {e}"), None))?
        .into_inner();
    if let Some(form) = form {
        pairs.extend(form_pairs(req, form)?);
    }
    if pairs.len() > 2 * MAX_ALTERNATIVES {
        return Err(bad_request(
            format!("at most {} search parameters", 2 * MAX_ALTERNATIVES),
            None,
        ));
    }
    let lenient = lenient(req)?;
    let mut query = PatientQuery {
        page: 1,
        per_page: 20,
        ..PatientQuery::default()
    };
    let mut criteria = Vec::new();
    let mut includes = Includes::default();
    let mut paging_seen: Vec<&str> = Vec::new();
    let mut count_only = false;
    for (raw_name, value) in &pairs {
        match (raw_name.as_str(), value.trim()) {
            ("_summary", "count") | ("_count", "0") => {
                count_only = true;
                continue;
            }
            // The other summaries are the resource as it is: PDQm asks no more.
            ("_summary", _) if lenient => continue,
            ("_summary", _) => {
                return Err(bad_request(
                    "_summary: only count is supported".to_owned(),
                    Some("_summary"),
                ));
            }
            _ => {}
        }
        if raw_name.starts_with("_include") || raw_name.starts_with("_revinclude") {
            if include(raw_name, value.trim(), &mut includes) {
                criteria.push((raw_name.clone(), value.trim().to_owned()));
            } else if !lenient {
                return Err(bad_request(
                    format!(
                        "{}: supported are _include={INCLUDE} and _revinclude={REVINCLUDE}",
                        safe(raw_name)
                    ),
                    Some(if raw_name.starts_with("_include") {
                        "_include"
                    } else {
                        "_revinclude"
                    }),
                ));
            }
            continue;
        }
        let (name, modifier) = match raw_name.split_once(':') {
            Some((name, modifier)) => (name, Some(modifier)),
            None => (raw_name.as_str(), None),
        };
        let known = SEARCH_PARAMS.iter().any(|(n, _, _)| *n == name) || name == "_format";
        if !known {
            // Lenient handling (FHIR search): an unknown parameter is ignored.
            if lenient {
                continue;
            }
            let names: Vec<&str> = SEARCH_PARAMS.iter().map(|(n, _, _)| *n).collect();
            return Err(bad_request(
                format!(
                    "{}: unsupported search parameter (supported: {})",
                    safe(raw_name),
                    names.join(", ")
                ),
                Some(name),
            ));
        }
        let how = match modifier {
            None => TextMatch::Prefix,
            Some("exact") if STRING_PARAMS.contains(&name) => TextMatch::Exact,
            Some("contains") if STRING_PARAMS.contains(&name) => TextMatch::Contains,
            // PDQm 2:3.78.4.1.2.2: a supplier MAY ignore other modifiers; lenient handling
            // ignores the whole criterion (and leaves it out of the links), strict refuses it.
            Some(_) if lenient => continue,
            Some(_) => {
                return Err(bad_request(
                    format!("{name}: unsupported modifier (strings take :exact and :contains)"),
                    Some(name),
                ));
            }
        };
        let value = value.trim();
        if matches!(name, "_count" | "_page") {
            if paging_seen.contains(&name) {
                return Err(bad_request(
                    format!("{name}: given more than once"),
                    Some(name),
                ));
            }
            paging_seen.push(name);
        }
        if value.is_empty() {
            return Err(invalid(format!("{name}: is empty"), name));
        }
        let alternatives: Vec<String> = value.split(',').map(|v| v.trim().to_owned()).collect();
        if alternatives.len() > MAX_ALTERNATIVES {
            return Err(invalid(
                format!("{name}: at most {MAX_ALTERNATIVES} alternatives"),
                name,
            ));
        }
        if alternatives.iter().any(String::is_empty) {
            return Err(invalid(format!("{name}: has an empty alternative"), name));
        }
        let number = |field: &str| {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(format!("{field}: must be a positive integer"), field))
        };
        let text = || TextCriterion {
            any_of: alternatives.clone(),
            how,
        };
        let more = &mut query.more;
        match name {
            "_count" => query.per_page = number("_count")?.min(service::MAX_PER_PAGE),
            "_page" => query.page = number("_page")?,
            // The answer's format is negotiated outside the search (and checked there).
            "_format" => continue,
            // An id that is not a UUID names no record here: it finds nothing.
            "_id" => more.ids.extend(
                alternatives
                    .iter()
                    .map(|a| Uuid::parse_str(a).unwrap_or(Uuid::nil())),
            ),
            "active" => {
                more.active = Some(match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("active: true or false".to_owned(), "active")),
                });
            }
            // One value, no modifier: the indexed prefix search the desk uses.
            "family" if single(&alternatives, how) && query.family.is_none() => {
                query.family = Some(value.to_owned());
            }
            "given" if single(&alternatives, how) && query.given.is_none() => {
                query.given = Some(value.to_owned());
            }
            "name" if single(&alternatives, how) && query.name.is_none() => {
                query.name = Some(value.to_owned());
            }
            "family" => more.family.push(text()),
            "given" => more.given.push(text()),
            "name" => more.name.push(text()),
            "address" => more.address.push(text()),
            "address-city" => more.address_city.push(text()),
            "address-state" => more.address_state.push(text()),
            "address-country" => more.address_country.push(text()),
            "address-postalcode" => more.address_postalcode.push(text()),
            "mothersMaidenName" => more.mother_maiden_family.push(text()),
            "gender" if alternatives.len() == 1 && query.gender.is_none() => {
                query.gender = Some(parse_code("gender", value)?);
            }
            "gender" => {
                if !more.genders.is_empty() {
                    return Err(bad_request(
                        "gender: given more than once".to_owned(),
                        Some("gender"),
                    ));
                }
                for a in &alternatives {
                    more.genders.push(parse_code("gender", a)?);
                }
            }
            // One date, `eq`: the indexed search the desk uses (the same periods).
            "birthdate"
                if alternatives.len() == 1
                    && query.birth_date.is_none()
                    && birth_date(value)?.comparator == DateComparator::Eq =>
            {
                let wanted = birth_date(value)?;
                query.birth_date = Some(wanted.date);
                query.birth_date_precision = wanted.precision;
            }
            "birthdate" => {
                let mut list = Vec::new();
                for a in &alternatives {
                    list.push(birth_date(a)?);
                }
                more.birth_dates.push(list);
            }
            "_lastUpdated" => {
                let mut list = Vec::new();
                for a in &alternatives {
                    list.push(last_updated(a)?);
                }
                more.last_updated.push(list);
            }
            "identifier" => {
                let mut list = Vec::new();
                for a in &alternatives {
                    match a.split_once('|') {
                        // `system|`: that domain's identifiers only, in each result too.
                        Some((system, "")) if !system.trim().is_empty() => {
                            more.identifier_domains.push(system.trim().to_owned());
                            list.push((system.trim().to_owned(), String::new()));
                        }
                        Some((system, v)) if !system.trim().is_empty() => {
                            list.push((system.trim().to_owned(), v.trim().to_owned()));
                        }
                        // `|value` asks for an identifier without a system (FHIR R4 search
                        // 3.1.1.4.8), which this server never stores: this alternative finds
                        // nothing.
                        Some((_, v)) if !v.trim().is_empty() => {}
                        Some(_) => {
                            return Err(invalid(
                                "identifier: use system|value, system|, |value or a value alone"
                                    .to_owned(),
                                "identifier",
                            ));
                        }
                        None => list.push((String::new(), a.clone())),
                    }
                }
                if list.is_empty() {
                    more.unmeetable = true;
                } else {
                    more.identifiers.push(list);
                }
            }
            "language" => {
                let mut list = Vec::new();
                for a in &alternatives {
                    let (system, code) = match a.split_once('|') {
                        Some((system, code)) => (Some(system.trim().to_owned()), code.trim()),
                        None => (None, a.as_str()),
                    };
                    if code.is_empty() {
                        return Err(invalid(
                            "language: use system|code, |code or a code alone (a code is required)"
                                .to_owned(),
                            "language",
                        ));
                    }
                    list.push(LanguageCriterion {
                        system,
                        code: code.to_owned(),
                    });
                }
                more.languages.push(list);
            }
            "telecom" => {
                let mut list = Vec::new();
                for a in &alternatives {
                    let (system, v) = match a.split_once('|') {
                        Some((s, v)) if !s.trim().is_empty() => {
                            (Some(parse_code("telecom", s.trim())?), v)
                        }
                        Some((_, v)) => (None, v),
                        None => (None, a.as_str()),
                    };
                    if v.trim().is_empty() {
                        return Err(invalid("telecom: has no value".to_owned(), "telecom"));
                    }
                    list.push(TelecomCriterion {
                        system,
                        value: v.trim().to_owned(),
                    });
                }
                more.telecoms.push(list);
            }
            // FHIR R4's `individual-phone`: a phone number, compared by its digits as PDQ's
            // PID.13 is (`555-123-4567` finds `(555) 123 4567`); written with letters, the
            // exact value of a telecom of system phone.
            "phone" => {
                let (mut by_digits, mut by_value) = (Vec::new(), Vec::new());
                for a in &alternatives {
                    let v = a.split_once('|').map_or(a.as_str(), |(_, v)| v).trim();
                    let digits = v.replace(service::search_criteria::PHONE_PUNCTUATION, "");
                    if digits.is_empty() {
                        return Err(invalid("phone: has no value".to_owned(), "phone"));
                    }
                    if digits.bytes().all(|b| b.is_ascii_digit()) {
                        by_digits.push(PhoneCriterion {
                            digits,
                            ending: false,
                        });
                    } else {
                        by_value.push(TelecomCriterion {
                            system: Some(entity::enums::TelecomSystem::Phone),
                            value: v.to_owned(),
                        });
                    }
                }
                match (by_digits.is_empty(), by_value.is_empty()) {
                    (false, true) => more.phones.push(by_digits),
                    (true, false) => more.telecoms.push(by_value),
                    _ => {
                        return Err(invalid(
                            "phone: give numbers, or values with letters, not both in one list"
                                .to_owned(),
                            "phone",
                        ));
                    }
                }
            }
            // FHIR R4's `individual-email`: the exact value of a telecom of system email.
            "email" => {
                let mut list = Vec::new();
                for a in &alternatives {
                    let v = a.split_once('|').map_or(a.as_str(), |(_, v)| v);
                    if v.trim().is_empty() {
                        return Err(invalid("email: has no value".to_owned(), "email"));
                    }
                    list.push(TelecomCriterion {
                        system: Some(entity::enums::TelecomSystem::Email),
                        value: v.trim().to_owned(),
                    });
                }
                more.telecoms.push(list);
            }
            _ => {}
        }
        if !matches!(name, "_count" | "_page") {
            criteria.push((raw_name.clone(), value.to_owned()));
        }
    }
    Ok((query, criteria, includes, count_only))
}

/// One value without a modifier.
fn single(alternatives: &[String], how: TextMatch) -> bool {
    alternatives.len() == 1 && how == TextMatch::Prefix
}

/// A parameter name as echoed in an error: only the characters a parameter name has.
pub(super) fn safe(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .take(64)
        .collect()
}

/// One `_lastUpdated` alternative: an optional prefix and a date or dateTime, as the period it
/// covers (a date without a time is a UTC day, month or year; a time needs its zone and
/// covers its last digit: a minute, a second or a fraction of one).
fn last_updated(text: &str) -> Result<InstantCriterion, FhirError> {
    let (comparator, value) = match text.get(..2).and_then(DateComparator::from_prefix) {
        Some(comparator) => (comparator, &text[2..]),
        None => (DateComparator::Eq, text),
    };
    let (start, end) = instant_period(value).ok_or_else(|| {
        invalid(
            "_lastUpdated: use [eq|ne|lt|gt|le|ge|ap] and YYYY, YYYY-MM, YYYY-MM-DD or \
             YYYY-MM-DDThh:mm[:ss[.fff]] with a time zone (Z or +hh:mm)"
                .to_owned(),
            "_lastUpdated",
        )
    })?;
    Ok(InstantCriterion {
        comparator,
        start,
        end,
    })
}

/// The period `[start, end)` a FHIR date or dateTime search value covers.
fn instant_period(text: &str) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
    let midnight = |d: NaiveDate| {
        Some(
            Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
                .fixed_offset(),
        )
    };
    let Some((date, time)) = text.split_once('T') else {
        let (date, precision) = parse_partial_date(text)?;
        let (from, to) = partial_date_range(date, precision);
        return Some((midnight(from)?, midnight(to)?));
    };
    let (day, precision) = parse_partial_date(date)?;
    if precision != entity::enums::DatePrecision::Day {
        return None;
    }
    let (clock, zone) = match time.strip_suffix('Z') {
        Some(clock) => (clock, "+00:00"),
        None => time.split_at(time.rfind(['+', '-'])?),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let (clock, step) = match parts.as_slice() {
        [_, _] => (format!("{clock}:00"), TimeDelta::minutes(1)),
        [_, _, seconds] => match seconds.split_once('.') {
            None => (clock.to_owned(), TimeDelta::seconds(1)),
            Some((_, fraction)) if (1..=9).contains(&fraction.len()) => (
                clock.to_owned(),
                TimeDelta::nanoseconds(10_i64.pow(9 - fraction.len() as u32)),
            ),
            Some(_) => return None,
        },
        _ => return None,
    };
    let start = DateTime::parse_from_rfc3339(&format!("{day}T{clock}{zone}")).ok()?;
    Some((start, start.checked_add_signed(step)?))
}

/// One `birthdate` alternative: an optional prefix and a (partial) date.
fn birth_date(text: &str) -> Result<DateCriterion, FhirError> {
    let (comparator, date) = match text.get(..2).and_then(DateComparator::from_prefix) {
        Some(comparator) => (comparator, &text[2..]),
        None => (DateComparator::Eq, text),
    };
    let (date, precision) = parse_partial_date(date).ok_or_else(|| {
        invalid(
            "birthdate: use [eq|ne|lt|gt|le|ge|ap]YYYY, YYYY-MM or YYYY-MM-DD".to_owned(),
            "birthdate",
        )
    })?;
    Ok(DateCriterion {
        comparator,
        date,
        precision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(text: &str) -> (String, String) {
        let (start, end) = instant_period(text).expect(text);
        (start.to_rfc3339(), end.to_rfc3339())
    }

    #[test]
    fn last_updated_values_cover_their_precision() {
        assert_eq!(
            period("2026"),
            (
                "2026-01-01T00:00:00+00:00".to_owned(),
                "2027-01-01T00:00:00+00:00".to_owned()
            )
        );
        assert_eq!(period("2026-12-06").1, "2026-12-07T00:00:00+00:00");
        assert_eq!(
            period("2026-12-06T13:26+02:00"),
            (
                "2026-12-06T13:26:00+02:00".to_owned(),
                "2026-12-06T13:27:00+02:00".to_owned()
            )
        );
        assert_eq!(
            period("2026-12-06T13:26:03Z").1,
            "2026-12-06T13:26:04+00:00"
        );
        assert_eq!(
            period("2026-12-06T13:26:03.5-05:00").1,
            "2026-12-06T13:26:03.600-05:00"
        );
        for bad in [
            "2026-12-06T13:26",
            "2026-12T13:26Z",
            "26-12-06",
            "2026-12-06T13Z",
            "2026-12-06T13:26:03.1234567890Z",
            "yesterday",
        ] {
            assert!(instant_period(bad).is_none(), "{bad}");
        }
    }
}
