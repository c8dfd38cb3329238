//! The PID segment to the service's `PatientInput`: identifiers (PID-3, with the assigning
//! authority completed from the sending source where CX.4 is missing, IHE ITI TF-2 3.8.4.1.3),
//! names (PID-5, every repetition, name type codes), mother's maiden name (PID-6), birth date
//! (PID-7), sex (PID-8), mother's identifier (PID-21, CX with its HD in any form), addresses
//! (PID-11), phones and e-mail (PID-13/14), primary language (PID-15, the patient's preferred
//! language), marital status (PID-16), the patient account number (PID-18, an identifier of
//! type AN), SSN (PID-19, into the registered domain its CX.4 names, else a configured domain),
//! multiple birth (PID-24/25) and death (PID-29/30). Coded values go through [`crate::codes`].
//! Values are decoded from HL7 escapes; nothing here logs them.

use hl7_parser::message::{Field, Segment, Separators};
use service::Mpi;
use service::patients::{
    AddressInput, CommunicationInput, DatePrecision, IdentifierInput, MotherIdentifier, NameInput,
    PatientInput, TelecomInput, parse_partial_date,
};

use entity::enums::{Gender, TelecomSystem, TelecomUse};

use crate::ack::{ErrorCode, ErrorLocation, HlError};

/// A component of one repetition, decoded; empty when absent.
fn comp(rep: &hl7_parser::message::Repeat<'_>, n: usize, seps: &Separators) -> String {
    rep.component(n)
        .map(|c| c.display(seps).to_string().trim().to_owned())
        .unwrap_or_default()
}

/// A subcomponent of a component of one repetition, decoded.
fn sub(rep: &hl7_parser::message::Repeat<'_>, n: usize, s: usize, seps: &Separators) -> String {
    rep.component(n)
        .and_then(|c| c.subcomponent(s))
        .map(|c| c.display(seps).to_string().trim().to_owned())
        .unwrap_or_default()
}

fn repeats<'a>(
    field: Option<&'a Field<'a>>,
) -> impl Iterator<Item = &'a hl7_parser::message::Repeat<'a>> {
    field
        .into_iter()
        .flat_map(|f| f.repeats())
        .filter(|r| !r.is_empty())
}

fn first(field: Option<&Field<'_>>, seps: &Separators) -> String {
    field
        .and_then(|f| f.repeat(1))
        .map(|r| comp(r, 1, seps))
        .unwrap_or_default()
}

/// An HL7 date (`YYYY[MM[DD[...]]]`) with its precision: a year, a year and month, or a day
/// (a time after the day is ignored).
fn date(text: &str) -> Result<Option<(chrono::NaiveDate, DatePrecision)>, ()> {
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
    // HL7 TS: YYYY[MM[DD[...]]]; a year or a year and month is kept at its precision.
    let partial = match digits.len() {
        0 => return Ok(None),
        4 => digits.clone(),
        6 => format!("{}-{}", &digits[..4], &digits[4..]),
        n if n >= 8 => format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..8]),
        _ => return Err(()),
    };
    parse_partial_date(&partial).map(Some).ok_or(())
}

/// The domain an identifier without an assigning authority (CX.4) is in: the sending source's
/// own domain, when it assigns exactly one (IHE ITI TF-2 3.8.4.1.3; ITI8-019).
pub fn own_domain(mpi: &Mpi, source: &str) -> Option<String> {
    let own: Vec<String> = mpi
        .domains()
        .domains()
        .iter()
        .filter(|d| !d.enterprise && !d.assigners.is_empty() && d.assigned_by(source))
        .map(|d| d.name.clone())
        .collect();
    match own.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Reads PID into a registration for `source`. `ssn_domain` receives PID-19 when configured
/// and PID-19 names no registered domain of its own.
pub fn read(
    mpi: &Mpi,
    source: &str,
    pid: &Segment<'_>,
    seps: &Separators,
    ssn_domain: Option<&str>,
) -> Result<PatientInput, HlError> {
    read_located(mpi, source, pid, seps, ssn_domain).map(|(input, _)| input)
}

/// The system of a CX's value (PID-3, PID-18, PID-21): its assigning authority (CX.4) by a
/// registered namespace, else its universal id, else its namespace, else the source's own
/// domain when it assigns exactly one (ITI TF-2 3.8.4.1.3); `None` when there is none of these.
fn cx_system(
    mpi: &Mpi,
    rep: &hl7_parser::message::Repeat<'_>,
    seps: &Separators,
    own_domains: &[String],
) -> Option<String> {
    let (namespace, oid) = (sub(rep, 4, 1, seps), sub(rep, 4, 2, seps));
    if !namespace.is_empty() && mpi.domains().resolve(&namespace).is_some() {
        Some(namespace)
    } else if !oid.is_empty() {
        Some(oid)
    } else if !namespace.is_empty() {
        Some(namespace)
    } else {
        match own_domains {
            [only] => Some(only.clone()),
            _ => None,
        }
    }
}

/// [`read`], with where each of the registration's identifiers came from (a PID-3 repetition,
/// PID-19 or PID-18), in their order, to locate an error the service finds in one.
pub fn read_located(
    mpi: &Mpi,
    source: &str,
    pid: &Segment<'_>,
    seps: &Separators,
    ssn_domain: Option<&str>,
) -> Result<(PatientInput, Vec<ErrorLocation>), HlError> {
    let at = |field: usize| ErrorLocation::field("PID", 1, field);
    let mut input = PatientInput::default();
    let mut origins = Vec::new();

    // PID-3: identifiers. A missing authority is the source's own domain when it assigns one.
    let own_domain = own_domain(mpi, source);
    let own_domains: Vec<String> = own_domain.into_iter().collect();
    for (i, rep) in repeats(pid.field(3)).enumerate() {
        let value = comp(rep, 1, seps);
        if value.is_empty() {
            continue;
        }
        let Some(system) = cx_system(mpi, rep, seps, &own_domains) else {
            return Err(HlError::new(
                ErrorCode::RequiredFieldMissing,
                "PID-3.4 (assigning authority) is missing and the source assigns no single domain",
            )
            .at(at(3).repetition(i + 1).component(4)));
        };
        input.identifiers.push(IdentifierInput {
            r#type: comp(rep, 5, seps).parse().ok(),
            r#use: None,
            system,
            value,
            assigner: None,
            period: None,
        });
        origins.push(at(3).repetition(i + 1));
    }
    if input.identifiers.is_empty() {
        return Err(HlError::new(
            ErrorCode::RequiredFieldMissing,
            "PID-3 (patient identifier list) is required",
        )
        .at(at(3)));
    }
    // PID-19: the SSN (an ST). A value that names a registered domain as a CX would in its
    // fourth component (`NID-000345439^^^NID`, as the OpenHIE CR tests 18-20 and 18-30 send a
    // national id) is stored in that domain; otherwise in the configured SSN domain, if any.
    if let Some(rep) = repeats(pid.field(19)).next() {
        let value = comp(rep, 1, seps);
        let (namespace, oid) = (sub(rep, 4, 1, seps), sub(rep, 4, 2, seps));
        let registry = mpi.domains();
        let named = [namespace, oid]
            .into_iter()
            .find(|s| !s.is_empty() && registry.resolve(s).is_some());
        // Its type: CX.5 when given, else SS in the configured SSN domain.
        let (system, r#type) = match named {
            Some(system) => (Some(system), comp(rep, 5, seps).parse().ok()),
            None => (
                ssn_domain.map(str::to_owned),
                Some(entity::enums::IdentifierType::Ss),
            ),
        };
        if let Some(system) = system.filter(|_| !value.is_empty()) {
            input.identifiers.push(IdentifierInput {
                r#type,
                r#use: None,
                system,
                value,
                assigner: None,
                period: None,
            });
            origins.push(at(19));
        }
    }

    // PID-18: the patient account number (CX), stored as an identifier of type AN in its
    // CX.4 domain, or, as PID-3's, the source's own domain when CX.4 is missing; a PDQ query
    // finds it by `@PID.18` (ITI TF-2 3.21.4.1.2.2: "Identifier List" is PID-3 and PID-18).
    if let Some(rep) = repeats(pid.field(18)).next() {
        let value = comp(rep, 1, seps);
        if !value.is_empty() {
            let Some(system) = cx_system(mpi, rep, seps, &own_domains) else {
                return Err(HlError::new(
                    ErrorCode::RequiredFieldMissing,
                    "PID-18.4 (assigning authority) is missing and the source assigns no single domain",
                )
                .at(at(18).component(4)));
            };
            input.identifiers.push(IdentifierInput {
                r#type: Some(entity::enums::IdentifierType::An),
                r#use: None,
                system,
                value,
                assigner: None,
                period: None,
            });
            origins.push(at(18));
        }
    }

    // PID-5: every name. XPN: family (FN.1) ^ given ^ middle ^ suffix ^ prefix ^ degree ^ type.
    for rep in repeats(pid.field(5)) {
        let family = sub(rep, 1, 1, seps);
        let mut given = Vec::new();
        for n in [2, 3] {
            let text = comp(rep, n, seps);
            given.extend(text.split_whitespace().map(str::to_owned));
        }
        let suffix: Vec<String> = [comp(rep, 4, seps), comp(rep, 6, seps)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let prefix: Vec<String> = Some(comp(rep, 5, seps))
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        // HL7 table 0200 (`T` is indigenous/tribal, no temporary name).
        let r#use = crate::codes::name_use_in(&comp(rep, 7, seps));
        if family.is_empty() && given.is_empty() {
            continue;
        }
        input.names.push(NameInput {
            family: (!family.is_empty()).then_some(family),
            given,
            prefix,
            suffix,
            text: None,
            r#use,
            period: None,
        });
    }

    // PID-6: mother's maiden name (XPN: family (FN.1) ^ given), the first repetition.
    if let Some(rep) = pid.field(6).and_then(|f| f.repeat(1)) {
        let (family, given) = (sub(rep, 1, 1, seps), comp(rep, 2, seps));
        input.mother.maiden_family = (!family.is_empty()).then_some(family);
        input.mother.maiden_given = (!given.is_empty()).then_some(given);
    }

    // PID-21: mother's identifier (CX), its assigning authority as in PID-3 (a registered
    // namespace, else the universal id, else the namespace, else the source's own domain).
    if let Some(rep) = repeats(pid.field(21)).next() {
        let value = comp(rep, 1, seps);
        if !value.is_empty() {
            let system = cx_system(mpi, rep, seps, &own_domains).unwrap_or_default();
            input.mother.identifier = Some(MotherIdentifier { system, value });
        }
    }

    // PID-7: birth date.
    let birth = date(&first(pid.field(7), seps))
        .map_err(|()| HlError::new(ErrorCode::DataType, "PID-7 is not a date").at(at(7)))?;
    input.birth_date = birth.map(|(d, _)| d);
    input.birth_date_precision = birth.map(|(_, p)| p).unwrap_or_default();

    // PID-8: administrative sex (HL7 table 0001).
    input.gender = match first(pid.field(8), seps).to_ascii_uppercase().as_str() {
        "M" => Some(Gender::Male),
        "F" => Some(Gender::Female),
        "O" | "A" | "N" => Some(Gender::Other),
        "U" => Some(Gender::Unknown),
        "" => None,
        _ => {
            return Err(HlError::new(
                ErrorCode::TableValueNotFound,
                "PID-8 is not in HL7 table 0001",
            )
            .at(at(8)));
        }
    };

    // PID-11: addresses. XAD: street (SAD.1) ^ other ^ city ^ state ^ zip ^ country ^ type.
    for rep in repeats(pid.field(11)) {
        let lines: Vec<String> = [sub(rep, 1, 1, seps), comp(rep, 2, seps)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let opt = |s: String| (!s.is_empty()).then_some(s);
        // HL7 table 0190.
        let (r#use, r#type) = crate::codes::address_in(&comp(rep, 7, seps));
        let address = AddressInput {
            lines,
            city: opt(comp(rep, 3, seps)),
            district: opt(comp(rep, 9, seps)),
            state: opt(comp(rep, 4, seps)),
            postal_code: opt(comp(rep, 5, seps)),
            country: opt(comp(rep, 6, seps)),
            text: None,
            r#use,
            r#type,
            period: None,
        };
        if address.lines.is_empty()
            && address.city.is_none()
            && address.postal_code.is_none()
            && address.state.is_none()
            && address.country.is_none()
        {
            continue;
        }
        input.addresses.push(address);
    }

    // PID-13 (home) and PID-14 (business): XTN. Number from the formatted value (XTN.1) or
    // from its parts, country code, area code and local number (XTN.5, XTN.6, XTN.7), written
    // as XTN.1's own format does (`+1 (419) 31495`, see [`xtn_parts`]); e-mail from XTN.4.
    for (field, default_use) in [(13, TelecomUse::Home), (14, TelecomUse::Work)] {
        for rep in repeats(pid.field(field)) {
            let equipment = comp(rep, 3, seps).to_ascii_uppercase();
            let email = comp(rep, 4, seps);
            let number = {
                let formatted = comp(rep, 1, seps);
                if formatted.is_empty() {
                    xtn_number(
                        &comp(rep, 5, seps),
                        &comp(rep, 6, seps),
                        &comp(rep, 7, seps),
                    )
                } else {
                    formatted
                }
            };
            let (system, value) =
                if !email.is_empty() || equipment == "INTERNET" || equipment == "X.400" {
                    (
                        TelecomSystem::Email,
                        if email.is_empty() { number } else { email },
                    )
                } else {
                    let system = match equipment.as_str() {
                        "FX" => TelecomSystem::Fax,
                        "BP" => TelecomSystem::Pager,
                        _ => TelecomSystem::Phone,
                    };
                    (system, number)
                };
            if value.trim().is_empty() {
                continue;
            }
            let r#use = match (comp(rep, 2, seps).as_str(), equipment.as_str()) {
                (_, "CP") => Some(TelecomUse::Mobile),
                ("WPN", _) => Some(TelecomUse::Work),
                ("PRN" | "ORN" | "VHN", _) => Some(TelecomUse::Home),
                _ if system == TelecomSystem::Email => None,
                _ => Some(default_use),
            };
            input.telecoms.push(TelecomInput {
                system,
                value,
                r#use,
                rank: None,
                period: None,
            });
        }
    }

    // PID-15: primary language, a CE/CWE (code ^ text ^ coding system), the preferred one;
    // HL7 table 0296 is named by its FHIR URI, another coding system as the sender names it.
    if let Some(rep) = repeats(pid.field(15)).next() {
        let code = comp(rep, 1, seps);
        if !code.is_empty() {
            let text = comp(rep, 2, seps);
            let system = comp(rep, 3, seps);
            let code = if language_table(&system) {
                crate::codes::language_tag_case(&code)
            } else {
                code
            };
            input.communications.push(CommunicationInput {
                system: match system.as_str() {
                    "" => None,
                    "HL70296" => Some("http://terminology.hl7.org/CodeSystem/v2-0296".to_owned()),
                    _ => Some(system),
                },
                code,
                display: (!text.is_empty()).then_some(text),
                preferred: true,
            });
        }
    }

    // PID-16: marital status, HL7 table 0002 (its letters are not FHIR's).
    input.marital_status = crate::codes::marital_status_in(&first(pid.field(16), seps));

    // PID-24, PID-25: multiple birth and birth order.
    match first(pid.field(24), seps).as_str() {
        "Y" => input.multiple_birth = Some(true),
        "N" => input.multiple_birth = Some(false),
        _ => {}
    }
    let order = first(pid.field(25), seps);
    if !order.is_empty() {
        input.multiple_birth_order =
            Some(order.parse().map_err(|_| {
                HlError::new(ErrorCode::DataType, "PID-25 is not a number").at(at(25))
            })?);
    }

    // PID-29, PID-30: death. PID-30 `Y`, or a date of death without PID-30 `N`, is a death;
    // the date is kept to the day (a time of death is not stored).
    let when = first(pid.field(29), seps);
    // A DTM: digits, then at most a fraction of a second and a time zone.
    let digits = when.chars().take_while(char::is_ascii_digit).count();
    let tail_ok = when[digits..]
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'));
    let day = date(&when)
        .ok()
        .filter(|_| tail_ok)
        .ok_or_else(|| HlError::new(ErrorCode::DataType, "PID-29 is not a date").at(at(29)))?;
    let indicator = first(pid.field(30), seps);
    if indicator.eq_ignore_ascii_case("Y") || (!when.is_empty() && indicator.is_empty()) {
        input.deceased = true;
        // A time of death needs the day; a year or a month alone is not stored.
        input.deceased_at = match day {
            Some((day, DatePrecision::Day)) => {
                day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().fixed_offset())
            }
            _ => None,
        };
    }
    Ok((input, origins))
}

/// A phone number given by its parts (XTN.5 country code, XTN.6 area code, XTN.7 local number)
/// as one stored value, in the format of XTN.1 (`[+C ][(AREA) ]LOCAL`), so that an answer can
/// give the parts back apart ([`xtn_parts`]) and a search by digits finds it as before.
pub fn xtn_number(country: &str, area: &str, local: &str) -> String {
    let mut number = String::new();
    if !country.is_empty() {
        number.push('+');
        number.push_str(country.trim_start_matches('+'));
        number.push(' ');
    }
    if !area.is_empty() {
        number.push('(');
        number.push_str(area);
        number.push_str(") ");
    }
    number.push_str(local);
    number.trim().to_owned()
}

/// A stored phone number's parts, country code, area code and local number, when it is in the
/// form [`xtn_number`] writes with an area code (`+1 (419) 31495`, `(034) 059434`: digits only
/// in each part); `None` for any other form, which is answered in XTN.1 alone.
pub fn xtn_parts(number: &str) -> Option<(String, String, String)> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (country, rest) = match number.strip_prefix('+') {
        Some(rest) => rest.split_once(' ')?,
        None => ("", number),
    };
    let (area, local) = rest.strip_prefix('(')?.split_once(") ")?;
    let country_ok = country.is_empty() || digits(country);
    (country_ok && digits(area) && digits(local))
        .then(|| (country.to_owned(), area.to_owned(), local.to_owned()))
}

/// Whether PID-15's coding system (CE.3) is absent or one whose codes are language tags (HL7
/// table 0296, whose suggested values are ISO 639 codes; ISO 639; BCP 47), so that its code's
/// case can be made the tag's canonical one.
fn language_table(system: &str) -> bool {
    matches!(
        system.to_ascii_uppercase().as_str(),
        "" | "HL70296" | "ISO639" | "ISO639-1" | "ISO639-2" | "URN:IETF:BCP:47"
    )
}

/// Where in PID a service error's field path points, an identifier at the place it came
/// from (`origins`, from [`read_located`]).
pub fn locate_in(field: &str, origins: &[ErrorLocation]) -> ErrorLocation {
    let identifier = field
        .strip_prefix("identifiers[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| origins.get(n));
    match identifier {
        Some(origin) => origin.clone(),
        None => locate(field),
    }
}

/// Where in PID a service validation error's field path points.
pub fn locate(field: &str) -> ErrorLocation {
    let index = |rest: &str| {
        rest.split(']')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .map(|n| n + 1)
    };
    let (pid_field, rest) = if let Some(rest) = field.strip_prefix("identifiers[") {
        (3, Some(rest))
    } else if let Some(rest) = field.strip_prefix("names[") {
        (5, Some(rest))
    } else if field == "names" {
        (5, None)
    } else if let Some(rest) = field.strip_prefix("addresses[") {
        (11, Some(rest))
    } else if field.starts_with("telecoms") {
        (13, None)
    } else if field.starts_with("birth_date") {
        (7, None)
    } else if field.starts_with("gender") {
        (8, None)
    } else if field.starts_with("deceased") {
        (29, None)
    } else if field.starts_with("communication") {
        (15, None)
    } else if field.starts_with("marital") {
        (16, None)
    } else if field.starts_with("multiple_birth") {
        (24, None)
    } else if field.starts_with("mother.maiden") {
        (6, None)
    } else if field.starts_with("mother.identifier") {
        (21, None)
    } else {
        return ErrorLocation::segment("PID");
    };
    let location = ErrorLocation::field("PID", 1, pid_field);
    match rest.and_then(index) {
        Some(n) => location.repetition(n),
        None => location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_parts_are_stored_in_xtn_1s_format_and_read_back() {
        assert_eq!(xtn_number("", "419", "31495"), "(419) 31495");
        assert_eq!(xtn_number("1", "419", "31495"), "+1 (419) 31495");
        assert_eq!(xtn_number("", "", "31495"), "31495");
        let parts = |c: &str, a: &str, l: &str| Some((c.to_owned(), a.to_owned(), l.to_owned()));
        assert_eq!(xtn_parts("(419) 31495"), parts("", "419", "31495"));
        assert_eq!(xtn_parts("(034) 059434"), parts("", "034", "059434"));
        assert_eq!(xtn_parts("+1 (419) 31495"), parts("1", "419", "31495"));
        // Any other form is answered in XTN.1 alone.
        for other in [
            "31495",
            "(555) 123-4567",
            "+1 555 1234",
            "41931495",
            "(41a) 1",
            "",
        ] {
            assert_eq!(xtn_parts(other), None, "{other}");
        }
    }
}
