//! IHE ITI-21 Patient Demographics Query: `QBP^Q22^QBP_Q21` answered by `RSP^K22^RSP_K21`
//! (ITI TF-2 3.21), through the service's patient search, the one REST's search calls. QPD-3
//! holds `@PID.n.m^value` parameters, combined with AND; QPD-8 limits the domains returned;
//! RCP-2 the count, with DSC continuation for the rest. QPD-5 (or `--hl7-pdq-mode`) picks the
//! service's name search mode (exact, wildcard, phonetic, alias); each PID is followed by a QRI
//! with the hit's score and the algorithm that found it. A query
//! cancel (`QCN^J01`) is acknowledged: continuation is stateless here, so nothing is held.
//! The mother's maiden name (`@PID.6.1`, `@PID.6.2`, a prefix, case ignored) and identifier
//! (`@PID.21.1` with `@PID.21.4.x`) are parameters too, and PID-6 and PID-21 are answered.

use hl7_parser::Message;
use hl7_parser::message::Separators;
use service::name_search::SearchMode;
use service::patients::{self, Patient, PatientQuery};
use service::search_criteria::{TextCriterion, TextMatch};
use service::{Ctx, Error, Mpi};

use entity::enums::{
    AddressType, AddressUse, DatePrecision, Gender, NameUse, TelecomSystem, TelecomUse,
};

use crate::ack::{AckCode, ErrorCode, ErrorLocation, HlError, err_segments, msa};
use crate::encode::{Cx, Outbound, Segment, Value};
use crate::feed::FeedConfig;
use crate::inbound::{Header, component};
use crate::pix_query::{Authority, hd_of};

/// The most records one answer carries, whatever RCP-2 asks.
pub const MAX_COUNT: u64 = 100;

fn qpd_error(code: ErrorCode, message: &str, location: ErrorLocation) -> (AckCode, HlError) {
    (AckCode::Error, HlError::new(code, message).at(location))
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
    // The mother's identifier (PID.21), as PID.3.
    let (mut mother_value, mut mother_ns, mut mother_oid) =
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
        // Names keep their wildcards (`*`, `?`) until the mode is known ([`apply_mode`]).
        let text = value.clone();
        if text.trim_matches(['*', '?']).is_empty() {
            continue;
        }
        let text = match key.as_str() {
            "PID.5" | "PID.5.1" | "PID.5.1.1" | "PID.5.2" => text,
            _ => text.trim_end_matches('*').to_owned(),
        };
        match key.as_str() {
            "PID.3" | "PID.3.1" => id_value = text,
            "PID.3.4" | "PID.3.4.1" => id_ns = text,
            "PID.3.4.2" => id_oid = text,
            "PID.3.4.3" | "PID.3.5" => {}
            "PID.5" | "PID.5.1" | "PID.5.1.1" => query.family = Some(text),
            "PID.5.2" => query.given = Some(text),
            "PID.7" | "PID.7.1" => {
                let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                let date = (digits.len() >= 8)
                    .then(|| chrono::NaiveDate::parse_from_str(&digits[..8], "%Y%m%d").ok())
                    .flatten();
                match date {
                    Some(d) => query.birth_date = Some(d),
                    None => {
                        return Err(qpd_error(
                            ErrorCode::DataType,
                            "PID.7 must be a full date (YYYYMMDD); partial dates are not searchable yet",
                            at(),
                        ));
                    }
                }
            }
            "PID.8" => {
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
            "PID.11.5" => query.postal_code = Some(text),
            "PID.6" | "PID.6.1" | "PID.6.1.1" => {
                query.more.mother_maiden_family.push(prefix_text(text));
            }
            "PID.6.2" => query.more.mother_maiden_given.push(prefix_text(text)),
            "PID.21" | "PID.21.1" => mother_value = text,
            "PID.21.4" | "PID.21.4.1" => mother_ns = text,
            "PID.21.4.2" => mother_oid = text,
            "PID.21.4.3" | "PID.21.5" => {}
            _ => {
                return Err(qpd_error(
                    ErrorCode::TableValueNotFound,
                    &format!("{} is not a supported query parameter", sanitize(&key)),
                    at(),
                ));
            }
        }
    }
    if !id_value.is_empty() {
        let authority = Authority {
            namespace: id_ns,
            universal_id: id_oid,
        };
        let system = if authority.is_empty() {
            String::new()
        } else {
            let system = authority.system(mpi);
            if mpi.domains().resolve(&system).is_none() {
                return Err(qpd_error(
                    ErrorCode::UnknownKeyIdentifier,
                    "PID.3.4 is not a known identifier domain",
                    ErrorLocation::field("QPD", 1, 3),
                ));
            }
            system
        };
        query.identifier = Some((system, id_value));
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

/// A PDQ string parameter: values starting with it, case ignored (as PID.5 without a mode).
fn prefix_text(text: String) -> TextCriterion {
    TextCriterion {
        any_of: vec![text],
        how: TextMatch::Prefix,
    }
}

/// The name search mode: QPD-5 when given (`exact`, `wildcard`, `phonetic`, `alias`; an
/// unknown one is AE at QPD-5), else the configured default. Without either, a name with `*`
/// or `?` inside (not only at its end) is a wildcard search and the others are prefixes, as
/// before modes existed. A mode applies only to a query by family or given name.
fn apply_mode(
    config: &FeedConfig,
    message: &Message<'_>,
    query: &mut PatientQuery,
) -> Result<(), (AckCode, HlError)> {
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
    for name in names {
        if let Some(text) = name
            && mode != Some(SearchMode::Wildcard)
        {
            *text = text.replace(['*', '?'], "");
        }
    }
    query.mode = mode.filter(|_| has_name);
    Ok(())
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

/// QPD-8's domains, resolved; an unknown one is AE at its repetition.
fn wanted_domains(
    mpi: &Mpi,
    message: &Message<'_>,
) -> Result<Option<Vec<String>>, (AckCode, HlError)> {
    let seps = &message.separators;
    let Some(field) = message.segment("QPD").and_then(|q| q.field(8)) else {
        return Ok(None);
    };
    let mut systems = Vec::new();
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
        match mpi.domains().resolve(&authority.system(mpi)) {
            Some(domain) => systems.extend(domain.aliases()),
            None => {
                return Err(qpd_error(
                    ErrorCode::UnknownKeyIdentifier,
                    "this domain is not a known identifier domain",
                    ErrorLocation::field("QPD", 1, 8).repetition(n + 1),
                ));
            }
        }
    }
    Ok((!systems.is_empty()).then_some(systems))
}

/// The PID of one found patient, identifiers limited to `domains` when given.
fn pid_of(mpi: &Mpi, n: usize, patient: &Patient, domains: Option<&[String]>) -> Segment {
    let record = &patient.record;
    let registry = mpi.domains();
    let ids: Vec<Cx> = record
        .identifiers
        .iter()
        .filter(|i| domains.is_none_or(|d| d.iter().any(|s| s == &i.system)))
        .map(|i| {
            let domain = registry.resolve(&i.system);
            Cx {
                id: i.value.clone(),
                authority: hd_of(domain.map(|d| d.hl7_authority()).as_deref(), &i.system),
                type_code: String::new(),
            }
        })
        .collect();
    let names = record
        .names
        .iter()
        .map(|name| {
            let kind = match name.r#use {
                Some(NameUse::Official) => "L",
                Some(NameUse::Usual) => "D",
                Some(NameUse::Maiden) => "M",
                Some(NameUse::Nickname) => "N",
                Some(NameUse::Anonymous) => "S",
                Some(NameUse::Temp) => "T",
                _ => "",
            };
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
    let addresses = record
        .addresses
        .iter()
        .map(|a| {
            let kind = match (a.r#use, a.r#type) {
                (Some(AddressUse::Home), _) => "H",
                (Some(AddressUse::Work), _) => "B",
                (Some(AddressUse::Temp), _) => "C",
                (Some(AddressUse::Old), _) => "BA",
                (_, Some(AddressType::Postal)) => "M",
                _ => "",
            };
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
    let phones = record
        .telecoms
        .iter()
        .map(|t| {
            let (use_code, equipment) = match (t.system, t.r#use) {
                (TelecomSystem::Email, _) => ("NET", "Internet"),
                (TelecomSystem::Fax, _) => ("PRN", "FX"),
                (TelecomSystem::Pager, _) => ("PRN", "BP"),
                (_, Some(TelecomUse::Mobile)) => ("PRN", "CP"),
                (_, Some(TelecomUse::Work)) => ("WPN", "PH"),
                _ => ("PRN", "PH"),
            };
            let email = t.system == TelecomSystem::Email;
            vec![
                vec![if email {
                    String::new()
                } else {
                    t.value.clone()
                }],
                vec![use_code.to_owned()],
                vec![equipment.to_owned()],
                vec![if email {
                    t.value.clone()
                } else {
                    String::new()
                }],
            ]
        })
        .collect();
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
        .field(
            6,
            match (&p.mother_maiden_family, &p.mother_maiden_given) {
                (None, None) => Value::Text(String::new()),
                (family, given) => Value::Composite(vec![
                    vec![family.clone().unwrap_or_default()],
                    vec![given.clone().unwrap_or_default()],
                ]),
            },
        )
        .field(8, sex)
        .field(11, Value::Repeated(addresses))
        .field(13, Value::Repeated(phones))
        .field(
            16,
            p.marital_status
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
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
    let qpd = message.segment("QPD");
    let tag = qpd
        .map(|q| component(q.field(2), 1, seps))
        .unwrap_or_default();
    let echo = qpd
        .filter(|_| *seps == Separators::default())
        .map(|q| q.raw_value().to_owned());
    let failed = |code: AckCode, error: HlError| {
        let mut out = Outbound::answer(header, "RSP", "K22", "RSP_K21");
        let errors = [error];
        out.push(msa(header, code.code(false), &errors));
        for segment in err_segments(header, &errors) {
            out.push(segment);
        }
        let status = if code == AckCode::Error { "AE" } else { "AR" };
        out.push(Segment::new("QAK").field(1, tag.as_str()).field(2, status));
        if let Some(q) = &echo {
            out.push_received(q);
        }
        out.render()
    };
    let mut query = match read_query(mpi, message) {
        Ok(query) => query,
        Err((code, error)) => return failed(code, error),
    };
    if let Err((code, error)) = apply_mode(config, message, &mut query) {
        return failed(code, error);
    }
    let domains = match wanted_domains(mpi, message) {
        Ok(domains) => domains,
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
    let found = match patients::search(mpi, ctx, query).await {
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
    let mut out = Outbound::answer(header, "RSP", "K22", "RSP_K21");
    out.push(msa(header, "AA", &[]));
    touched.extend(found.items.iter().map(|p| p.id()));
    let shown = found.items.len() as u64;
    let before = (page - 1) * count;
    let remaining = found.total.saturating_sub(before + shown);
    let status = if shown == 0 { "NF" } else { "OK" };
    out.push(
        Segment::new("QAK")
            .field(1, tag.as_str())
            .field(2, status)
            .field(4, found.total.to_string())
            .field(5, shown.to_string())
            .field(6, remaining.to_string()),
    );
    if let Some(q) = &echo {
        out.push_received(q);
    }
    for (n, patient) in found.items.iter().enumerate() {
        out.push(pid_of(mpi, n, patient, domains.as_deref()));
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
