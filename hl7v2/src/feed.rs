//! IHE ITI-8 Patient Identity Feed: ADT^A01/A04/A05 (and A28, add person information, as IHE
//! PAM's ITI-30 sends it) register a record and A08 (and A31, update person information) updates it, both
//! through the service's register-or-update use case (a record whose identifier this source's
//! live record holds is an update, as ITI-8 says; the feed never refuses a duplicate, whose
//! candidates go to the stewards' review queue), and A40 merges the record MRG-1 names into
//! the one PID-3 names. The answer is `ACK^<event>^ACK`: AA after the commit, AE with ERR
//! located in PID or MRG when the content is wrong, AR when the message cannot be processed.

use hl7_parser::Message;
use service::merge::{self, MergeRequest};
use service::patients::{self, Patient};
use service::{Ctx, Error, Mpi};

use crate::ack::{AckCode, ErrorCode, ErrorLocation, HlError, ack};
use crate::inbound::{Header, component, subcomponent};
use crate::pid;
use crate::pix_query::Authority;

/// What the HL7 v2 handlers were configured with (the feed's and the PDQ query's settings).
#[derive(Debug, Clone, Default)]
pub struct FeedConfig {
    /// The domain PID-19 (SSN) is stored in; PID-19 is ignored when `None`.
    pub ssn_domain: Option<String>,
    /// The name search mode of an ITI-21 query whose QPD-5 names none; `None`: names are
    /// prefixes (and a pattern with `*` or `?` inside is a wildcard search).
    pub pdq_mode: Option<service::name_search::SearchMode>,
}

/// Answers an ADT message of the feed.
pub async fn answer(
    mpi: &Mpi,
    ctx: &Ctx,
    config: &FeedConfig,
    header: &Header,
    message: &Message<'_>,
    touched: &mut Vec<uuid::Uuid>,
) -> String {
    let outcome = match header.trigger_event.as_str() {
        "A40" => merge_records(mpi, ctx, message, touched).await,
        _ => register_or_update(mpi, ctx, config, message, touched).await,
    };
    match outcome {
        Ok(()) => ack(header, AckCode::Accept, &[]).render(),
        Err((code, error)) => ack(header, code, &[error]).render(),
    }
}

type Failure = (AckCode, HlError);

async fn register_or_update(
    mpi: &Mpi,
    ctx: &Ctx,
    config: &FeedConfig,
    message: &Message<'_>,
    touched: &mut Vec<uuid::Uuid>,
) -> Result<(), Failure> {
    let seps = &message.separators;
    let source = ctx.actor.source.clone().unwrap_or_default();
    let pid = message.segment("PID").ok_or_else(|| {
        (
            AckCode::Error,
            HlError::new(ErrorCode::SegmentSequence, "the PID segment is missing")
                .at(ErrorLocation::segment("PID")),
        )
    })?;
    let (input, origins) = pid::read_located(mpi, &source, pid, seps, config.ssn_domain.as_deref())
        .map_err(|e| (AckCode::Error, e))?;
    let outcome = patients::register_or_update(mpi, ctx, input, true)
        .await
        .map_err(|e| failure(&e, |field| pid::locate_in(field, &origins)))?;
    match outcome {
        patients::UpsertOutcome::Registered(patients::RegisterOutcome::Created {
            patient, ..
        }) => {
            touched.push(patient.id());
            // The service logged the registration ("patient registered") at info.
            tracing::debug!(patient_id = %patient.id(), "HL7 feed registered a patient");
        }
        patients::UpsertOutcome::Updated(patient) => {
            touched.push(patient.id());
            tracing::debug!(patient_id = %patient.id(), "HL7 feed updated a patient");
        }
        patients::UpsertOutcome::Registered(patients::RegisterOutcome::Duplicates { .. }) => {
            // `force` registers whatever the candidates; this cannot be reached.
            return Err((
                AckCode::Reject,
                HlError::new(
                    ErrorCode::ApplicationInternalError,
                    "the record was not stored",
                ),
            ));
        }
    }
    Ok(())
}

/// The live record holding the identifier in `field` (PID-3 or MRG-1), located for errors. A
/// CX without an assigning authority (CX.4) is in the sending source's own domain, as in A01,
/// A04 and A08 (ITI TF-2 3.8.4.1.3, ITI8-019).
async fn holder(
    mpi: &Mpi,
    ctx: &Ctx,
    message: &Message<'_>,
    segment: &str,
    field: usize,
) -> Result<Patient, Failure> {
    let seps = &message.separators;
    let location = || ErrorLocation::field(segment, 1, field).repetition(1);
    let f = message.segment(segment).and_then(|s| s.field(field));
    let value = component(f, 1, seps);
    let authority = Authority {
        namespace: subcomponent(f, 4, 1, seps),
        universal_id: subcomponent(f, 4, 2, seps),
    };
    if value.is_empty() {
        return Err((
            AckCode::Error,
            HlError::new(
                ErrorCode::RequiredFieldMissing,
                format!("{segment}-{field} needs an identifier"),
            )
            .at(location().component(1)),
        ));
    }
    let system = if authority.is_empty() {
        let source = ctx.actor.source.as_deref().unwrap_or_default();
        pid::own_domain(mpi, source).ok_or_else(|| {
            (
                AckCode::Error,
                HlError::new(
                    ErrorCode::RequiredFieldMissing,
                    format!(
                        "{segment}-{field}.4 (assigning authority) is missing and the source \
                         assigns no single domain"
                    ),
                )
                .at(location().component(4)),
            )
        })?
    } else {
        authority.system(mpi)
    };
    let Some(domain) = mpi.domains().resolve(&system).cloned() else {
        return Err((
            AckCode::Error,
            HlError::new(
                ErrorCode::UnknownKeyIdentifier,
                "unknown assigning authority",
            )
            .at(location().component(4)),
        ));
    };
    let row = entity::patient_identifier::Entity::find_live_by_systems_value(
        &domain.aliases(),
        value.trim(),
    )
    .one(mpi.db())
    .await
    .map_err(|e| failure(&Error::Db(e), |_| location()))?;
    let Some(row) = row else {
        return Err((
            AckCode::Error,
            HlError::new(
                ErrorCode::UnknownKeyIdentifier,
                "no live record holds this identifier",
            )
            .at(location().component(1)),
        ));
    };
    Patient::load_live(mpi.db(), row.patient_id)
        .await
        .map_err(|e| failure(&e, |_| location()))
}

async fn merge_records(
    mpi: &Mpi,
    ctx: &Ctx,
    message: &Message<'_>,
    touched: &mut Vec<uuid::Uuid>,
) -> Result<(), Failure> {
    if message.segment("MRG").is_none() {
        return Err((
            AckCode::Error,
            HlError::new(ErrorCode::SegmentSequence, "the MRG segment is missing")
                .at(ErrorLocation::segment("MRG")),
        ));
    }
    let survivor = holder(mpi, ctx, message, "PID", 3).await?;
    let retired = holder(mpi, ctx, message, "MRG", 1).await?;
    touched.push(survivor.id());
    if survivor.id() != retired.id() {
        touched.push(retired.id());
    }
    if survivor.id() == retired.id() {
        return Ok(());
    }
    let outcome = merge::merge(
        mpi,
        ctx,
        MergeRequest {
            target: survivor.id(),
            source: retired.id(),
            preview: false,
            review_task_id: None,
        },
    )
    .await
    .map_err(|e| failure(&e, |_| ErrorLocation::segment("MRG")))?;
    tracing::info!(
        merge_id = ?outcome.merge_id,
        target = %survivor.id(),
        source = %retired.id(),
        "HL7 feed merged two patients"
    );
    Ok(())
}

/// A use case's refusal as an acknowledgment code and an ERR.
fn failure(error: &Error, locate: impl Fn(&str) -> ErrorLocation) -> Failure {
    match error {
        Error::Validation { field, message } => (
            AckCode::Error,
            HlError::new(ErrorCode::DataType, format!("{field}: {message}")).at(locate(field)),
        ),
        Error::Refused {
            code,
            field,
            message,
            ..
        } => {
            let location = field
                .as_deref()
                .map(&locate)
                .unwrap_or_else(|| ErrorLocation::segment("PID"));
            let hl7_code = match *code {
                "unknown_domain" | "unknown_identifier" => ErrorCode::UnknownKeyIdentifier,
                _ => ErrorCode::ApplicationInternalError,
            };
            let location = if *code == "unknown_domain" {
                location.component(4)
            } else {
                location
            };
            (
                AckCode::Error,
                HlError::new(hl7_code, format!("{code}: {message}")).at(location),
            )
        }
        Error::Conflict { code, message, .. } => (
            AckCode::Error,
            HlError::new(
                ErrorCode::DuplicateKeyIdentifier,
                format!("{code}: {message}"),
            )
            .at(ErrorLocation::field("PID", 1, 3)),
        ),
        Error::Forbidden { .. } => (
            AckCode::Reject,
            HlError::new(
                ErrorCode::ApplicationInternalError,
                "this source's role may not do this (a merge needs a steward source)",
            )
            .at(ErrorLocation::field("MSH", 1, 3)),
        ),
        Error::NotFound { .. } | Error::StaleVersion { .. } => (
            AckCode::Error,
            HlError::new(
                ErrorCode::ApplicationRecordLocked,
                "the record changed or went away meanwhile; send the message again",
            ),
        ),
        _ => {
            tracing::warn!(error = %error, "HL7 feed failed");
            (
                AckCode::Reject,
                HlError::new(
                    ErrorCode::ApplicationInternalError,
                    "the message could not be processed; send it again",
                ),
            )
        }
    }
}
