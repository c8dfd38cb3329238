//! IHE ITI-9 PIX Query: `QBP^Q23^QBP_Q21` answered by `RSP^K23^RSP_K23` (ITI TF-2 3.9.4.2),
//! through the service's cross-reference use case, the one REST's `/xref` and FHIR's `$ihe-pix`
//! call. Found: AA, QAK OK and one PID whose PID-3 lists the person's identifiers in the other
//! (or requested) domains, the queried one left out, PID-5 the empty name and the pseudo-name
//! `S`. Nothing in the requested domains: AA, QAK NF, no PID. Unknown identifier, unknown
//! domain in QPD-3, unknown domain in QPD-4: AE, QAK AE, ERR 204 at QPD-3.1, QPD-3.4, QPD-4(n).

use hl7_parser::Message;
use service::xref::{self, XrefQuery};
use service::{Ctx, Error, Mpi};

use crate::ack::{AckCode, ErrorCode, ErrorLocation, HlError, query_answer};
use crate::encode::{Cx, Hd, Segment, Value};
use crate::inbound::{Header, component, subcomponent};

/// An assigning authority as received: namespace (HD.1) and universal id (HD.2).
pub(crate) struct Authority {
    pub namespace: String,
    pub universal_id: String,
}

impl Authority {
    /// The system text to resolve: the namespace when the registry knows it, else the OID,
    /// else whichever is given (IHE ITI TF-2 3.8.4.1.3 lets either identify the domain).
    pub fn system(&self, mpi: &Mpi) -> String {
        let registry = mpi.domains();
        if !self.namespace.is_empty() && registry.resolve(&self.namespace).is_some() {
            return self.namespace.clone();
        }
        if !self.universal_id.is_empty() {
            return self.universal_id.clone();
        }
        self.namespace.clone()
    }

    pub fn is_empty(&self) -> bool {
        self.namespace.is_empty() && self.universal_id.is_empty()
    }
}

/// An HD as rendered by the registry (`NS&OID&ISO` or `NS`) or a bare system text.
pub(crate) fn hd_of(authority: Option<&str>, system: &str) -> Hd {
    match authority {
        Some(text) => {
            let mut parts = text.split('&');
            Hd {
                namespace: parts.next().unwrap_or_default().to_owned(),
                universal_id: parts.next().unwrap_or_default().to_owned(),
                universal_id_type: parts.next().unwrap_or_default().to_owned(),
            }
        }
        None => Hd {
            namespace: system.to_owned(),
            ..Hd::default()
        },
    }
}

/// The answer to a PIX query.
pub async fn answer(
    mpi: &Mpi,
    ctx: &Ctx,
    header: &Header,
    message: &Message<'_>,
    touched: &mut Vec<uuid::Uuid>,
) -> String {
    let seps = &message.separators;
    let respond = |code: AckCode, status: &str, errors: &[HlError], pid: Option<Segment>| {
        let mut out = query_answer(
            header,
            message,
            ("K23", "RSP_K23"),
            code,
            status,
            None,
            errors,
        );
        if let Some(pid) = pid {
            out.push(pid);
        }
        out.render()
    };
    let Some(qpd) = message.segment("QPD") else {
        let error = HlError::new(ErrorCode::SegmentSequence, "the QPD segment is missing")
            .at(ErrorLocation::segment("QPD"));
        return respond(AckCode::Reject, "AE", &[error], None);
    };

    let id_field = qpd.field(3);
    let value = component(id_field, 1, seps);
    let authority = Authority {
        namespace: subcomponent(id_field, 4, 1, seps),
        universal_id: subcomponent(id_field, 4, 2, seps),
    };
    let qpd3 = || ErrorLocation::field("QPD", 1, 3).repetition(1);
    if value.trim().is_empty() {
        let error = HlError::new(
            ErrorCode::RequiredFieldMissing,
            "QPD-3.1 (the identifier) is required",
        )
        .at(qpd3().component(1));
        return respond(AckCode::Error, "AE", &[error], None);
    }
    if authority.is_empty() {
        let error = HlError::new(
            ErrorCode::UnknownKeyIdentifier,
            "QPD-3.4 (the identifier's assigning authority) is required",
        )
        .at(qpd3().component(4));
        return respond(AckCode::Error, "AE", &[error], None);
    }
    let mut targets = Vec::new();
    if let Some(field) = qpd.field(4) {
        for repeat in field.repeats() {
            let hd = repeat.component(4);
            let sub = |n: usize| {
                hd.and_then(|c| c.subcomponent(n))
                    .map(|s| s.display(seps).to_string())
                    .unwrap_or_default()
            };
            let authority = Authority {
                namespace: sub(1),
                universal_id: sub(2),
            };
            // An empty QPD-4 (or an empty repetition) asks for every domain.
            if !authority.is_empty() {
                targets.push(authority.system(mpi));
            }
        }
    }
    let query = XrefQuery {
        system: authority.system(mpi),
        value,
        targets,
    };
    let result = xref::xref(mpi, ctx, query).await;
    if let Ok(found) = &result {
        touched.extend(found.patient_ids.iter().copied());
    }
    match result {
        Ok(found) if found.identifiers.is_empty() => respond(AckCode::Accept, "NF", &[], None),
        Ok(found) => {
            let ids: Vec<Cx> = found
                .identifiers
                .iter()
                .map(|i| Cx {
                    id: i.value.clone(),
                    authority: hd_of(i.hl7_authority.as_deref(), &i.system),
                    type_code: String::new(),
                })
                .collect();
            // ITI TF-2 3.9.4.2.2.6: an empty first name and a second one whose only component
            // is the name type code S (pseudo-name), so no domain's name is preferred.
            let mut pseudo = vec![Vec::new(); 7];
            pseudo[6] = vec!["S".to_owned()];
            let pid = Segment::new("PID")
                .field(3, Cx::list(&ids))
                .field(5, Value::Repeated(vec![vec![], pseudo]));
            respond(AckCode::Accept, "OK", &[], Some(pid))
        }
        Err(error) => {
            let (code, errors) = query_error(&error);
            // QAK-2 is AE for a rejection too (IHE's error cases name AE only).
            respond(code, "AE", &errors, None)
        }
    }
}

/// A use case's refusal as ERR segments located in QPD.
fn query_error(error: &Error) -> (AckCode, Vec<HlError>) {
    let qpd3 = ErrorLocation::field("QPD", 1, 3).repetition(1);
    match error {
        Error::Refused {
            code: "unknown_identifier",
            ..
        } => (
            AckCode::Error,
            vec![
                HlError::new(
                    ErrorCode::UnknownKeyIdentifier,
                    "no record holds this identifier",
                )
                .at(qpd3.component(1)),
            ],
        ),
        Error::Refused {
            code: "unknown_domain",
            field: Some(field),
            message,
            ..
        } => {
            let location = match field
                .strip_prefix("target[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => ErrorLocation::field("QPD", 1, 4).repetition(n + 1),
                None => qpd3.component(4),
            };
            (
                AckCode::Error,
                vec![
                    // The service's message names the assigning authority as given.
                    HlError::new(ErrorCode::UnknownKeyIdentifier, message.as_str()).at(location),
                ],
            )
        }
        Error::Validation { .. } => (
            AckCode::Error,
            vec![HlError::new(ErrorCode::DataType, error.to_string()).at(qpd3)],
        ),
        Error::Forbidden { .. } => (
            AckCode::Reject,
            vec![
                HlError::new(
                    ErrorCode::ApplicationInternalError,
                    "this source may not query cross-references",
                )
                .at(ErrorLocation::field("MSH", 1, 3)),
            ],
        ),
        _ => {
            tracing::warn!(error = %error, "PIX query failed");
            (
                AckCode::Reject,
                vec![HlError::new(
                    ErrorCode::ApplicationInternalError,
                    "the query could not be answered; send it again",
                )],
            )
        }
    }
}
