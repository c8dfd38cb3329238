//! IHE ITI-21 Patient Demographics Query: `QBP^Q22^QBP_Q21` answered by `RSP^K22^RSP_K21`
//! (ITI TF-2 3.21), through the service's patient search, the one REST's search calls. QPD-3
//! holds `@PID.n.m^value` parameters, combined with AND (identifier, names, birth date full or
//! partial, sex, address parts, phone by its digits, e-mail: see [`PARAMETERS`]); QPD-8 limits the domains returned;
//! RCP-2 the count, with DSC continuation for the rest. QPD-5 (or `--hl7-pdq-mode`) picks the
//! service's name search mode (exact, wildcard, phonetic, alias); without either, a name query
//! that finds nothing by prefix is asked again phonetically. Each PID is followed by a QRI
//! with the hit's score and the algorithm that found it. A query
//! cancel (`QCN^J01`) is acknowledged: continuation is stateless here, so nothing is held.
//! The mother's maiden name (`@PID.6.1`, `@PID.6.2`, a prefix, case ignored) and identifier
//! (`@PID.21.1` with `@PID.21.4.x`) are parameters too, and PID-6 and PID-21 are answered; a
//! child naming its mother by identifier only is found by her own record's names and answered
//! with them in PID-6. Phones go to PID-13 (home) and PID-14 (business) with their parts in
//! XTN.5 to XTN.7, the primary language to PID-15.

use hl7_parser::Message;
use service::name_search::SearchMode;
use service::patients::{self, Patient, PatientQuery};
use service::search_criteria::{PhoneCriterion, TelecomCriterion, TextCriterion, TextMatch};
use service::{Ctx, Error, Mpi};

use entity::enums::{DatePrecision, Gender, IdentifierType, NameUse, TelecomSystem, TelecomUse};

use crate::ack::{AckCode, ErrorCode, ErrorLocation, HlError, query_answer, query_refused};
use crate::encode::{Cx, Segment, Value};
use crate::feed::FeedConfig;
use crate::inbound::{Header, component};
use crate::pix_query::{Authority, hd_of};

/// The answer's trigger event and message structure (MSH-9.2, MSH-9.3).
const ANSWER: (&str, &str) = ("K22", "RSP_K21");

/// The most records one answer carries, whatever RCP-2 asks.
pub const MAX_COUNT: u64 = 100;

fn qpd_error(code: ErrorCode, message: &str, location: ErrorLocation) -> (AckCode, HlError) {
    (AckCode::Error, HlError::new(code, message).at(location))
}

/// What one QPD-3 parameter searches (ITI TF-2 3.21.4.1.2.2: `@PID.n.m` names a PID field or
/// component; several parameters combine with AND).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    /// PID-3.1: the identifier's value.
    IdValue,
    /// PID-3.4.1: its domain's namespace.
    IdNamespace,
    /// PID-3.4.2: its domain's universal id.
    IdUniversal,
    /// PID-3.4.3 and PID-3.5: accepted, not needed to find the domain.
    IdIgnored,
    /// PID-5.1: family name.
    Family,
    /// PID-5.2: given name.
    Given,
    /// PID-7: birth date, full (`YYYYMMDD`) or partial (`YYYY`, `YYYYMM`).
    BirthDate,
    /// PID-8: administrative sex (HL7 table 0001).
    Sex,
    /// PID-11.1: street address (any address line).
    Street,
    /// PID-11.3: city.
    City,
    /// PID-11.4: state or province.
    State,
    /// PID-11.5: postal code.
    PostalCode,
    /// PID-11.6: country.
    Country,
    /// PID-13, PID-13.1, PID-13.12: the whole phone number (its digits).
    Phone,
    /// PID-13.4: e-mail address.
    Email,
    /// PID-13.5: the phone number's country code.
    PhoneCountry,
    /// PID-13.6: its area code.
    PhoneArea,
    /// PID-13.7: its local number.
    PhoneLocal,
    /// PID-6.1: mother's maiden family name.
    MotherFamily,
    /// PID-6.2: mother's maiden given name.
    MotherGiven,
    /// PID-21.1: mother's identifier value.
    MotherIdValue,
    /// PID-21.4.1: its domain's namespace (`PID.21.3.4`, as some harnesses spell it, too).
    MotherIdNamespace,
    /// PID-21.4.2: its domain's universal id.
    MotherIdUniversal,
    /// PID-18.1: the patient account number's value (an identifier, as PID-3's).
    AccountValue,
    /// PID-18.4.1: its domain's namespace.
    AccountNamespace,
    /// PID-18.4.2: its domain's universal id.
    AccountUniversal,
}

/// The QPD-3 parameters understood, by name (without `@`, upper case). A new parameter is a
/// row here and an arm in [`read_query`].
const PARAMETERS: &[(&str, Param)] = &[
    ("PID.3", Param::IdValue),
    ("PID.3.1", Param::IdValue),
    ("PID.3.4", Param::IdNamespace),
    ("PID.3.4.1", Param::IdNamespace),
    ("PID.3.4.2", Param::IdUniversal),
    ("PID.3.4.3", Param::IdIgnored),
    ("PID.3.5", Param::IdIgnored),
    ("PID.5", Param::Family),
    ("PID.5.1", Param::Family),
    ("PID.5.1.1", Param::Family),
    ("PID.5.2", Param::Given),
    ("PID.7", Param::BirthDate),
    ("PID.7.1", Param::BirthDate),
    ("PID.8", Param::Sex),
    ("PID.11.1", Param::Street),
    ("PID.11.1.1", Param::Street),
    ("PID.11.3", Param::City),
    ("PID.11.4", Param::State),
    ("PID.11.5", Param::PostalCode),
    ("PID.11.6", Param::Country),
    ("PID.13", Param::Phone),
    ("PID.13.1", Param::Phone),
    ("PID.13.12", Param::Phone),
    ("PID.13.4", Param::Email),
    ("PID.13.5", Param::PhoneCountry),
    ("PID.13.6", Param::PhoneArea),
    ("PID.13.7", Param::PhoneLocal),
    ("PID.6", Param::MotherFamily),
    ("PID.6.1", Param::MotherFamily),
    ("PID.6.1.1", Param::MotherFamily),
    ("PID.6.2", Param::MotherGiven),
    ("PID.21", Param::MotherIdValue),
    ("PID.21.1", Param::MotherIdValue),
    ("PID.21.3.4", Param::MotherIdNamespace),
    ("PID.21.4", Param::MotherIdNamespace),
    ("PID.21.4.1", Param::MotherIdNamespace),
    ("PID.21.4.2", Param::MotherIdUniversal),
    ("PID.21.4.3", Param::IdIgnored),
    ("PID.21.5", Param::IdIgnored),
    ("PID.18", Param::AccountValue),
    ("PID.18.1", Param::AccountValue),
    ("PID.18.4", Param::AccountNamespace),
    ("PID.18.4.1", Param::AccountNamespace),
    ("PID.18.4.2", Param::AccountUniversal),
    ("PID.18.4.3", Param::IdIgnored),
    ("PID.18.5", Param::IdIgnored),
];

/// The ASCII digits of `text`.
fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// A birth date parameter: `YYYY`, `YYYYMM` or `YYYYMMDD` (a longer DTM keeps its date), as
/// the first day of its period and the period's precision.
fn partial_date(text: &str) -> Option<(chrono::NaiveDate, DatePrecision)> {
    let text = text.trim();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let whole = digits.len() == text.len();
    let (full, precision) = match digits.len() {
        4 if whole => (format!("{digits}0101"), DatePrecision::Year),
        6 if whole => (format!("{digits}01"), DatePrecision::Month),
        n if n >= 8 => (digits[..8].to_owned(), DatePrecision::Day),
        _ => return None,
    };
    chrono::NaiveDate::parse_from_str(&full, "%Y%m%d")
        .ok()
        .map(|d| (d, precision))
}

/// An address part: a case-insensitive prefix, as a name is searched without a mode.
fn prefix(text: &str) -> TextCriterion {
    TextCriterion {
        any_of: vec![text.to_owned()],
        how: TextMatch::Prefix,
    }
}

/// Reads QPD-3's parameters into a search; every parameter it cannot use is an error naming it.
fn read_query(mpi: &Mpi, message: &Message<'_>) -> Result<PatientQuery, (AckCode, HlError)> {
    let seps = &message.separators;
    let qpd = message.segment("QPD").ok_or_else(|| {
        qpd_error(
            ErrorCode::SegmentSequence,
            "the QPD segment is missing",
            ErrorLocation::segment("QPD"),
        )
    })?;
    let mut query = PatientQuery::default();
    let (mut id_value, mut id_ns, mut id_oid) = (String::new(), String::new(), String::new());
    // PID-13.5/.6/.7 make one number together; the location of the first, for errors.
    let (mut country, mut area, mut local) = (String::new(), String::new(), String::new());
    let mut phone_at = None;
    // The mother's identifier (PID.21), as PID.3.
    let (mut mother_value, mut mother_ns, mut mother_oid) =
        (String::new(), String::new(), String::new());
    // The patient account number (PID.18), as PID.3.
    let (mut account_value, mut account_ns, mut account_oid) =
        (String::new(), String::new(), String::new());
    let Some(field) = qpd.field(3) else {
        return Err(qpd_error(
            ErrorCode::RequiredFieldMissing,
            "QPD-3 (query parameters) is required",
            ErrorLocation::field("QPD", 1, 3),
        ));
    };
    for (n, repeat) in field.repeats().enumerate() {
        let at = || ErrorLocation::field("QPD", 1, 3).repetition(n + 1);
        let name = repeat
            .component(1)
            .map(|c| c.display(seps).to_string())
            .unwrap_or_default();
        let value = repeat
            .component(2)
            .map(|c| c.display(seps).to_string().trim().to_owned())
            .unwrap_or_default();
        if name.is_empty() && value.is_empty() {
            continue;
        }
        let key = name.trim().trim_start_matches('@').to_ascii_uppercase();
        let Some(param) = PARAMETERS
            .iter()
            .find(|(known, _)| *known == key)
            .map(|(_, p)| *p)
        else {
            return Err(qpd_error(
                ErrorCode::TableValueNotFound,
                &format!("{} is not a supported query parameter", sanitize(&key)),
                at(),
            ));
        };
        // Names keep their wildcards (`*`, `?`) until the mode is known ([`apply_mode`]).
        if value.trim_matches(['*', '?']).is_empty() {
            continue;
        }
        let wildcard = value.ends_with('*');
        let text = match param {
            Param::Family | Param::Given => value.clone(),
            _ => value.trim_end_matches('*').trim().to_owned(),
        };
        match param {
            Param::IdValue => id_value = text,
            Param::IdNamespace => id_ns = text,
            Param::IdUniversal => id_oid = text,
            Param::IdIgnored => {}
            Param::Family => query.family = Some(text),
            Param::Given => query.given = Some(text),
            Param::BirthDate => match partial_date(&text) {
                Some((date, precision)) => {
                    query.birth_date = Some(date);
                    query.birth_date_precision = precision;
                }
                None => {
                    return Err(qpd_error(
                        ErrorCode::DataType,
                        "PID.7 must be a date: YYYY, YYYYMM or YYYYMMDD",
                        at(),
                    ));
                }
            },
            Param::Sex => {
                query.gender = Some(match text.to_ascii_uppercase().as_str() {
                    "M" => Gender::Male,
                    "F" => Gender::Female,
                    "O" | "A" | "N" => Gender::Other,
                    "U" => Gender::Unknown,
                    _ => {
                        return Err(qpd_error(
                            ErrorCode::TableValueNotFound,
                            "PID.8 is not in HL7 table 0001",
                            at(),
                        ));
                    }
                })
            }
            Param::MotherFamily => query.more.mother_maiden_family.push(prefix(&text)),
            Param::MotherGiven => query.more.mother_maiden_given.push(prefix(&text)),
            Param::MotherIdValue => mother_value = text,
            Param::MotherIdNamespace => mother_ns = text,
            Param::MotherIdUniversal => mother_oid = text,
            Param::AccountValue => account_value = text,
            Param::AccountNamespace => account_ns = text,
            Param::AccountUniversal => account_oid = text,
            Param::Street => query.more.address_line.push(prefix(&text)),
            Param::City => query.more.address_city.push(prefix(&text)),
            Param::State => query.more.address_state.push(prefix(&text)),
            Param::Country => query.more.address_country.push(prefix(&text)),
            // A postal code is a code: exact, unless it ends with `*`.
            Param::PostalCode if wildcard => query.more.address_postalcode.push(prefix(&text)),
            Param::PostalCode => query.postal_code = Some(text),
            Param::Phone => {
                let digits = digits_of(&text);
                if digits.is_empty() {
                    return Err(qpd_error(
                        ErrorCode::DataType,
                        "PID.13 must hold a phone number's digits",
                        at(),
                    ));
                }
                query.more.phones.push(vec![PhoneCriterion {
                    digits,
                    ending: false,
                }]);
            }
            Param::Email => query.more.telecoms.push(vec![TelecomCriterion {
                system: Some(TelecomSystem::Email),
                value: text,
            }]),
            Param::PhoneCountry | Param::PhoneArea | Param::PhoneLocal => {
                let digits = digits_of(&text);
                if digits.is_empty() {
                    return Err(qpd_error(
                        ErrorCode::DataType,
                        "a phone number component must hold digits",
                        at(),
                    ));
                }
                phone_at.get_or_insert_with(at);
                match param {
                    Param::PhoneCountry => country = digits,
                    Param::PhoneArea => area = digits,
                    _ => local = digits,
                }
            }
        }
    }
    if let Some(location) = phone_at {
        // Stored numbers are whole (`+1 555 123 4567`) or without the country code: the
        // components given are the number's end, unless the country code is among them.
        if local.is_empty() {
            return Err(qpd_error(
                ErrorCode::RequiredFieldMissing,
                "PID.13.5 and PID.13.6 need the local number (PID.13.7)",
                location,
            ));
        }
        query.more.phones.push(vec![PhoneCriterion {
            ending: country.is_empty(),
            digits: format!("{country}{area}{local}"),
        }]);
    }
    if !id_value.is_empty() {
        let system = known_system(mpi, id_ns, id_oid, "PID.3.4")?;
        query.identifier = Some((system, id_value));
    }
    if !account_value.is_empty() {
        let system = known_system(mpi, account_ns, account_oid, "PID.18.4")?;
        query.more.identifiers.push(vec![(system, account_value)]);
    }
    if !mother_value.is_empty() {
        let authority = Authority {
            namespace: mother_ns,
            universal_id: mother_oid,
        };
        // A mother's identifier may be of a domain this server does not register: searched as
        // given (nothing found if no record names it).
        let system = if authority.is_empty() {
            String::new()
        } else {
            authority.system(mpi)
        };
        query.more.mother_identifiers = vec![vec![(system, mother_value)]];
    }
    Ok(query)
}

/// The system of a queried identifier's assigning authority (`field` names it in the error):
/// empty when none is given (every domain), else a registered domain's, or AE 204 at QPD-3.
fn known_system(
    mpi: &Mpi,
    namespace: String,
    universal_id: String,
    field: &str,
) -> Result<String, (AckCode, HlError)> {
    let authority = Authority {
        namespace,
        universal_id,
    };
    if authority.is_empty() {
        return Ok(String::new());
    }
    let system = authority.system(mpi);
    if mpi.domains().resolve(&system).is_none() {
        return Err(qpd_error(
            ErrorCode::UnknownKeyIdentifier,
            &format!(
                "{field}: {}",
                service::domains::unknown_domain_message(&system)
            ),
            ErrorLocation::field("QPD", 1, 3),
        ));
    }
    Ok(system)
}

/// The name search mode: QPD-5 when given (`exact`, `wildcard`, `phonetic`, `alias`; an
/// unknown one is AE at QPD-5), else the configured default. Without either, a name with `*`
/// or `?` inside (not only at its end) is a wildcard search and the others are prefixes, as
/// before modes existed. A mode applies only to a query by family or given name.
///
/// Returns whether the query may fall back to a phonetic search when it finds nothing: a
/// name search with no mode asked, configured or implied, and no wildcard in any name (`JO*`
/// asks for names starting with `JO` and nothing else).
fn apply_mode(
    config: &FeedConfig,
    message: &Message<'_>,
    query: &mut PatientQuery,
) -> Result<bool, (AckCode, HlError)> {
    let seps = &message.separators;
    let asked = message
        .segment("QPD")
        .map(|q| component(q.field(5), 1, seps))
        .unwrap_or_default();
    let mode = if asked.trim().is_empty() {
        config.pdq_mode
    } else {
        Some(
            asked
                .trim()
                .to_ascii_lowercase()
                .parse::<SearchMode>()
                .map_err(|_| {
                    qpd_error(
                        ErrorCode::TableValueNotFound,
                        "QPD-5 is not a search mode (exact, wildcard, phonetic, alias)",
                        ErrorLocation::field("QPD", 1, 5),
                    )
                })?,
        )
    };
    let names = [&mut query.family, &mut query.given];
    let inner_wildcard = |t: &str| t.trim_end_matches('*').contains(['*', '?']);
    let mode = match mode {
        Some(mode) => Some(mode),
        None if names
            .iter()
            .any(|n| n.as_deref().is_some_and(inner_wildcard)) =>
        {
            Some(SearchMode::Wildcard)
        }
        None => None,
    };
    let has_name = names.iter().any(|n| n.is_some());
    let any_wildcard = names
        .iter()
        .any(|n| n.as_deref().is_some_and(|t| t.contains(['*', '?'])));
    let fallback = mode.is_none() && has_name && !any_wildcard;
    for name in names {
        if let Some(text) = name
            && mode != Some(SearchMode::Wildcard)
        {
            *text = text.replace(['*', '?'], "");
        }
    }
    query.mode = mode.filter(|_| has_name);
    Ok(fallback)
}

/// QRI (ITI TF-2 3.21.4.2.2.x): QRI-1 the candidate confidence (the name similarity, 0..1;
/// 1 for a search without a mode, whose hits satisfy every criterion as given), QRI-2 the
/// match reason (HL7 table 0392: `NP` phonetic name, `NA` name), QRI-3 the algorithm.
fn qri_of(patient: &Patient) -> Segment {
    let (score, reason, code, text) = match patient.found {
        Some(hit) => (
            format!("{:.4}", hit.score),
            if hit.mode == SearchMode::Phonetic {
                "NP"
            } else {
                "NA"
            },
            hit.mode.as_str(),
            match hit.mode {
                SearchMode::Exact => "folded name equality",
                SearchMode::Wildcard => "wildcard pattern over the folded name, Jaro-Winkler score",
                SearchMode::Phonetic => "Double Metaphone or NYSIIS key, Jaro-Winkler score",
                SearchMode::Alias => "nickname group of the given name, Jaro-Winkler score",
            },
        ),
        None => (
            "1.0".to_owned(),
            "NA",
            "MPI-SEARCH",
            "exact or prefix match on the given parameters",
        ),
    };
    Segment::new("QRI").field(1, score).field(2, reason).field(
        3,
        Value::Composite(vec![vec![code.to_owned()], vec![text.to_owned()]]),
    )
}

/// A parameter name as echoed in an error: only the characters a parameter name has.
fn sanitize(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .take(16)
        .collect()
}

/// QPD-8's domains: every name of each, and one name of each.
type WantedDomains = (Vec<String>, Vec<String>);

/// QPD-8's domains, resolved: every name of each (to pick PID-3's identifiers) and one name of
/// each (the criterion that leaves out patients with no identifier in any of them); an unknown
/// one is AE at its repetition.
fn wanted_domains(
    mpi: &Mpi,
    message: &Message<'_>,
) -> Result<Option<WantedDomains>, (AckCode, HlError)> {
    let seps = &message.separators;
    let Some(field) = message.segment("QPD").and_then(|q| q.field(8)) else {
        return Ok(None);
    };
    let mut systems = Vec::new();
    let mut primary = Vec::new();
    for (n, repeat) in field.repeats().enumerate() {
        let sub = |s: usize| {
            repeat
                .component(4)
                .and_then(|c| c.subcomponent(s))
                .map(|v| v.display(seps).to_string())
                .unwrap_or_default()
        };
        let authority = Authority {
            namespace: sub(1),
            universal_id: sub(2),
        };
        if authority.is_empty() {
            continue;
        }
        let system = authority.system(mpi);
        match mpi.domains().resolve(&system) {
            Some(domain) => {
                let aliases = domain.aliases();
                if let Some(first) = aliases.first()
                    && !primary.contains(first)
                {
                    primary.push(first.clone());
                }
                systems.extend(aliases);
            }
            None => {
                return Err(qpd_error(
                    ErrorCode::UnknownKeyIdentifier,
                    &service::domains::unknown_domain_message(&system),
                    ErrorLocation::field("QPD", 1, 8).repetition(n + 1),
                ));
            }
        }
    }
    Ok((!systems.is_empty()).then_some((systems, primary)))
}

/// An XTN for one stored telecom: XTN.1 the number as stored (v2.3.1's component), XTN.2 the
/// use (table 0201), XTN.3 the equipment (table 0202), XTN.4 an e-mail address, and XTN.5 to
/// XTN.7 the country code, area code and local number when the stored number is in the form a
/// feed writes them in (`+1 (419) 31495`, see [`crate::pid::xtn_parts`]).
fn xtn_of(t: &entity::patient_telecom::Model) -> Vec<Vec<String>> {
    let (use_code, equipment) = match (t.system, t.r#use) {
        (TelecomSystem::Email, _) => ("NET", "Internet"),
        (TelecomSystem::Fax, _) => ("PRN", "FX"),
        (TelecomSystem::Pager, _) => ("PRN", "BP"),
        (_, Some(TelecomUse::Mobile)) => ("PRN", "CP"),
        (_, Some(TelecomUse::Work)) => ("WPN", "PH"),
        _ => ("PRN", "PH"),
    };
    if t.system == TelecomSystem::Email {
        return vec![
            vec![String::new()],
            vec![use_code.to_owned()],
            vec![equipment.to_owned()],
            vec![t.value.clone()],
        ];
    }
    let mut xtn = vec![
        vec![t.value.clone()],
        vec![use_code.to_owned()],
        vec![equipment.to_owned()],
    ];
    if let Some((country, area, local)) = crate::pid::xtn_parts(&t.value) {
        xtn.extend([vec![String::new()], vec![country], vec![area], vec![local]]);
    }
    xtn
}

/// PID-15, the primary language (CE: code ^ text ^ coding system), from the preferred language
/// (else the first); HL7 table 0296's FHIR URI is named `HL70296` again.
fn language_of(record: &entity::patient_ext::PatientRecord) -> Value {
    let chosen = record
        .communications
        .iter()
        .find(|c| c.preferred)
        .or_else(|| record.communications.first());
    match chosen {
        Some(c) => Value::Composite(vec![
            vec![c.language_code.clone()],
            vec![c.language_display.clone().unwrap_or_default()],
            vec![match c.language_system.as_deref() {
                Some("http://terminology.hl7.org/CodeSystem/v2-0296") => "HL70296".to_owned(),
                other => other.unwrap_or_default().to_owned(),
            }],
        ]),
        None => Value::Text(String::new()),
    }
}

/// The name PID-6 answers from the mother's own record, for a child that names its mother by
/// identifier (PID-21, resolved to her record) without a maiden name of its own (OHIE CR 07-40):
/// her maiden name, else her legal (official) name, else her usual one, else her first name.
fn mothers_own_name(mother: &Patient) -> Option<&entity::patient_name::Model> {
    let names: Vec<&entity::patient_name::Model> = mother
        .record
        .names
        .iter()
        .filter(|n| n.family.as_deref().is_some_and(|f| !f.trim().is_empty()))
        .collect();
    [NameUse::Maiden, NameUse::Official, NameUse::Usual]
        .iter()
        .find_map(|u| names.iter().find(|n| n.r#use == Some(*u)))
        .or_else(|| names.first())
        .copied()
}

/// PID-6, the mother's maiden name (XPN: family ^ given ^ further given ^ ... ^ type in XPN.7).
/// The one the child's record holds (PID-6 or FHIR's `patient-mothersMaidenName` as given) has
/// no stored type: it is written with `L` (legal name, HL7 table 0200), as the OpenHIE CR test
/// (08-30) expects of a name sent with `L`; table 0200's `M` (maiden name) would repeat what
/// the field already says. Without one, the mother's own record's name ([`mothers_own_name`])
/// with its own type.
fn mother_maiden_name(p: &entity::patient::Model, mother: Option<&Patient>) -> Value {
    match (&p.mother_maiden_family, &p.mother_maiden_given) {
        (None, None) => match mother.and_then(mothers_own_name) {
            Some(name) => {
                let given = &name.given.0;
                Value::Composite(vec![
                    vec![name.family.clone().unwrap_or_default()],
                    vec![given.first().cloned().unwrap_or_default()],
                    vec![given.get(1..).map(|g| g.join(" ")).unwrap_or_default()],
                    vec![],
                    vec![],
                    vec![],
                    vec![crate::codes::name_use_out(name.r#use).to_owned()],
                ])
            }
            None => Value::Text(String::new()),
        },
        (family, given) => Value::Composite(vec![
            vec![family.clone().unwrap_or_default()],
            vec![given.clone().unwrap_or_default()],
            vec![],
            vec![],
            vec![],
            vec![],
            vec!["L".to_owned()],
        ]),
    }
}

/// The PID of one found patient, identifiers limited to `domains` when given; `mother` is the
/// mother's record, when the child names one and has no maiden name of its own.
fn pid_of(
    mpi: &Mpi,
    n: usize,
    patient: &Patient,
    domains: Option<&[String]>,
    mother: Option<&Patient>,
) -> Segment {
    let record = &patient.record;
    let registry = mpi.domains();
    let cx = |i: &entity::patient_identifier::Model| {
        let domain = registry.resolve(&i.system);
        Cx {
            id: i.value.clone(),
            authority: hd_of(domain.map(|d| d.hl7_authority()).as_deref(), &i.system),
            type_code: String::new(),
        }
    };
    // An account number (type AN, from a feed's PID-18) goes back to PID-18, not PID-3.
    let account = |i: &&entity::patient_identifier::Model| i.r#type == Some(IdentifierType::An);
    let ids: Vec<Cx> = record
        .identifiers
        .iter()
        .filter(|i| !account(i))
        .filter(|i| domains.is_none_or(|d| d.iter().any(|s| s == &i.system)))
        .map(cx)
        .collect();
    let account_number = record.identifiers.iter().find(account).map(cx);
    let mut names: Vec<Vec<Vec<String>>> = record
        .names
        .iter()
        .map(|name| {
            // HL7 table 0200.
            let kind = crate::codes::name_use_out(name.r#use);
            let given = &name.given.0;
            vec![
                vec![name.family.clone().unwrap_or_default()],
                vec![given.first().cloned().unwrap_or_default()],
                vec![given.get(1..).map(|g| g.join(" ")).unwrap_or_default()],
                vec![name.suffix.0.join(" ")],
                vec![name.prefix.0.join(" ")],
                vec![],
                vec![kind.to_owned()],
            ]
        })
        .collect();
    if names
        .iter()
        .all(|n| n.iter().flatten().all(String::is_empty))
    {
        // PID-5 is required: a record without a name answers a name of type U (unspecified,
        // HL7 table 0200) and nothing else, not the pseudo-name S, which says a name is hidden.
        let mut unspecified = vec![Vec::new(); 7];
        unspecified[6] = vec!["U".to_owned()];
        names = vec![unspecified];
    }
    let addresses = record
        .addresses
        .iter()
        .map(|a| {
            // HL7 table 0190.
            let kind = crate::codes::address_out(a.r#use, a.r#type);
            vec![
                vec![a.lines.0.first().cloned().unwrap_or_default()],
                vec![a.lines.0.get(1..).map(|l| l.join(", ")).unwrap_or_default()],
                vec![a.city.clone().unwrap_or_default()],
                vec![a.state.clone().unwrap_or_default()],
                vec![a.postal_code.clone().unwrap_or_default()],
                vec![a.country.clone().unwrap_or_default()],
                vec![kind.to_owned()],
            ]
        })
        .collect();
    // Business numbers go to PID-14 (business phone), the others to PID-13 (home phone).
    let (work, home): (Vec<_>, Vec<_>) = record
        .telecoms
        .iter()
        .partition(|t| t.r#use == Some(TelecomUse::Work) && t.system != TelecomSystem::Email);
    let phones: Vec<Vec<Vec<String>>> = home.into_iter().map(xtn_of).collect();
    let business: Vec<Vec<Vec<String>>> = work.into_iter().map(xtn_of).collect();
    let p = &record.patient;
    let sex = match p.gender {
        Some(Gender::Male) => "M",
        Some(Gender::Female) => "F",
        Some(Gender::Other) => "O",
        Some(Gender::Unknown) => "U",
        None => "",
    };
    Segment::new("PID")
        .field(1, (n + 1).to_string())
        .field(3, Cx::list(&ids))
        .field(5, Value::Repeated(names))
        .field(
            7,
            p.birth_date
                .map(|d| {
                    let format = match p.birth_date_precision.unwrap_or_default() {
                        DatePrecision::Year => "%Y",
                        DatePrecision::Month => "%Y%m",
                        DatePrecision::Day => "%Y%m%d",
                    };
                    d.format(format).to_string()
                })
                .unwrap_or_default(),
        )
        .field(6, mother_maiden_name(p, mother))
        .field(8, sex)
        .field(11, Value::Repeated(addresses))
        .field(13, Value::Repeated(phones))
        .field(14, Value::Repeated(business))
        .field(15, language_of(record))
        .field(
            16,
            // HL7 table 0002.
            p.marital_status
                .map(crate::codes::marital_status_out)
                .unwrap_or_default(),
        )
        .field(
            18,
            account_number
                .map(|a| Cx::list(&[a]))
                .unwrap_or_else(|| Value::Text(String::new())),
        )
        .field(
            21,
            match &p.mother_identifier_value {
                Some(value) => {
                    let system = p.mother_identifier_system.clone().unwrap_or_default();
                    let domain = registry.resolve(&system);
                    Cx::list(&[Cx {
                        id: value.clone(),
                        authority: hd_of(domain.map(|d| d.hl7_authority()).as_deref(), &system),
                        type_code: String::new(),
                    }])
                }
                None => Value::Text(String::new()),
            },
        )
        .field(
            24,
            match p.multiple_birth {
                Some(true) => "Y",
                Some(false) => "N",
                None => "",
            },
        )
        .field(
            25,
            p.multiple_birth_order
                .map(|o| o.to_string())
                .unwrap_or_default(),
        )
        .field(
            29,
            p.deceased_at
                .map(|d| d.format("%Y%m%d%H%M%S%z").to_string())
                .unwrap_or_default(),
        )
        .field(30, if p.deceased { "Y" } else { "" })
}

/// The mothers' own records of the found children that name their mother (resolved to her
/// record) but hold no maiden name of their own, by id: PID-6 is answered from them. Each is a
/// read of her record, audited as one; a mother not found (deleted since) is left out.
async fn mothers_of(
    mpi: &Mpi,
    ctx: &Ctx,
    children: &[Patient],
) -> std::collections::HashMap<uuid::Uuid, Patient> {
    let mut wanted: Vec<uuid::Uuid> = children
        .iter()
        .map(|c| &c.record.patient)
        .filter(|p| p.mother_maiden_family.is_none() && p.mother_maiden_given.is_none())
        .filter_map(|p| p.mother_patient_id)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut mothers = std::collections::HashMap::new();
    for id in wanted {
        match patients::get(mpi, ctx, id).await {
            Ok(mother) => {
                mothers.insert(id, mother);
            }
            Err(Error::NotFound { .. }) => {}
            Err(error) => tracing::warn!(%error, "PDQ answer: a mother's record not read"),
        }
    }
    mothers
}

/// Answers a PDQ query.
pub async fn answer(
    mpi: &Mpi,
    ctx: &Ctx,
    config: &FeedConfig,
    header: &Header,
    message: &Message<'_>,
    touched: &mut Vec<uuid::Uuid>,
) -> String {
    let seps = &message.separators;
    // QAK-2 is AE for a rejection too (IHE's error cases name AE only).
    let failed =
        |code: AckCode, error: HlError| query_refused(header, message, ANSWER, code, error);
    let mut query = match read_query(mpi, message) {
        Ok(query) => query,
        Err((code, error)) => return failed(code, error),
    };
    // QPD-8 is no criterion of its own: a query that asks nothing else stays refused.
    let asks = query != PatientQuery::default();
    let phonetic_fallback = match apply_mode(config, message, &mut query) {
        Ok(fallback) => fallback,
        Err((code, error)) => return failed(code, error),
    };
    let domains = match wanted_domains(mpi, message) {
        Ok(Some((aliases, primary))) => {
            // ITI TF-2a 3.21.4.2.2.8: with domains in QPD-8, a patient is answered only with
            // an identifier in one of them; the others are left out of the answer and its
            // counts (an empty value is any value in that domain).
            if asks {
                query
                    .more
                    .identifiers
                    .push(primary.into_iter().map(|s| (s, String::new())).collect());
            }
            Some(aliases)
        }
        Ok(None) => None,
        Err((code, error)) => return failed(code, error),
    };
    // RCP-2: quantity limited request (`10^RD`); DSC-1 of a continued query: the page.
    let count = message
        .segment("RCP")
        .map(|r| component(r.field(2), 1, seps))
        .and_then(|c| c.trim().parse::<u64>().ok())
        .filter(|c| *c > 0)
        .unwrap_or(MAX_COUNT)
        .min(MAX_COUNT);
    let page = message
        .segment("DSC")
        .map(|d| component(d.field(1), 1, seps))
        .and_then(|p| p.strip_prefix("page:").and_then(|n| n.parse::<u64>().ok()))
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    query.page = page;
    query.per_page = count;
    // A name that no record starts with may be one spelled as it sounds (OHIE CR 12-60:
    // `JONEZ^JENIPHER` for Jennifer Jones): without a mode asked for, such a query is asked
    // again phonetically, and each hit's QRI names the phonetic algorithm. A continuation
    // (DSC) of it does the same, so its pages are the phonetic search's.
    let retry = phonetic_fallback.then(|| PatientQuery {
        mode: Some(SearchMode::Phonetic),
        ..query.clone()
    });
    let mut searched = patients::search(mpi, ctx, query).await;
    if let (Ok(found), Some(retry)) = (&searched, retry)
        && found.total == 0
    {
        // A name the phonetic mode cannot search (no letters) keeps the prefix search's NF.
        match patients::search(mpi, ctx, retry).await {
            Err(Error::Validation { .. }) => {}
            again => searched = again,
        }
    }
    let found = match searched {
        Ok(found) => found,
        Err(Error::Validation { field, .. }) if field == "family" || field == "given" => {
            return failed(
                AckCode::Error,
                HlError::new(
                    ErrorCode::DataType,
                    "a name cannot be searched in this mode (no letters, or too many wildcards)",
                )
                .at(ErrorLocation::field("QPD", 1, 3)),
            );
        }
        Err(Error::Validation { .. }) => {
            return failed(
                AckCode::Error,
                HlError::new(
                    ErrorCode::RequiredFieldMissing,
                    "give at least one query parameter",
                )
                .at(ErrorLocation::field("QPD", 1, 3)),
            );
        }
        Err(error) => {
            tracing::warn!(error = %error, "PDQ query failed");
            return failed(
                AckCode::Reject,
                HlError::new(
                    ErrorCode::ApplicationInternalError,
                    "the query could not be answered; send it again",
                ),
            );
        }
    };
    touched.extend(found.items.iter().map(|p| p.id()));
    let shown = found.items.len() as u64;
    let before = (page - 1) * count;
    let remaining = found.total.saturating_sub(before + shown);
    let status = if shown == 0 { "NF" } else { "OK" };
    let mut out = query_answer(
        header,
        message,
        ANSWER,
        AckCode::Accept,
        status,
        Some((found.total, shown, remaining)),
        &[],
    );
    let mothers = mothers_of(mpi, ctx, &found.items).await;
    touched.extend(mothers.keys().copied());
    for (n, patient) in found.items.iter().enumerate() {
        let mother = patient
            .record
            .patient
            .mother_patient_id
            .and_then(|m| mothers.get(&m));
        out.push(pid_of(mpi, n, patient, domains.as_deref(), mother));
        out.push(qri_of(patient));
    }
    if remaining > 0 {
        out.push(
            Segment::new("DSC")
                .field(1, format!("page:{}", page + 1))
                .field(2, "I"),
        );
    }
    out.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_full_and_partial() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            partial_date("1984"),
            Some((d(1984, 1, 1), DatePrecision::Year))
        );
        assert_eq!(
            partial_date("198405"),
            Some((d(1984, 5, 1), DatePrecision::Month))
        );
        assert_eq!(
            partial_date("19840517"),
            Some((d(1984, 5, 17), DatePrecision::Day))
        );
        assert_eq!(
            partial_date("198405171230+0100"),
            Some((d(1984, 5, 17), DatePrecision::Day))
        );
        for bad in ["84", "19845", "1984-05-17", "19841317", "abcd"] {
            assert_eq!(partial_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_parameter_name_is_listed_once() {
        for (n, (name, _)) in PARAMETERS.iter().enumerate() {
            assert!(name.starts_with("PID."), "{name}");
            assert!(
                PARAMETERS[n + 1..].iter().all(|(other, _)| other != name),
                "{name} twice"
            );
        }
    }
}
