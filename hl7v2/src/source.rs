//! Who sent a message: the sending application (MSH-3) must be a registered source, the sending
//! facility (MSH-4) must be the source's facility when one is registered, and MSH-8 must carry
//! the source's secret (`APP+SECRET`, or the secret alone) when it has one. The source becomes
//! the `Ctx` the service's use cases audit and authorise.

use service::context::{Actor, RequestMeta, Role};
use service::sources::{self, SourceRole};
use service::{Ctx, Mpi};

use crate::ack::{ErrorCode, ErrorLocation, HlError};
use crate::inbound::Header;

/// The caller of one message, or why it is refused (AR).
pub async fn authenticate(
    mpi: &Mpi,
    header: &Header,
    peer: std::net::SocketAddr,
) -> Result<Ctx, HlError> {
    let refuse = |field: usize, message: &str| {
        HlError::new(ErrorCode::ApplicationInternalError, message)
            .at(ErrorLocation::field("MSH", 1, field))
    };
    let name = header.sending_application.trim();
    if name.is_empty() {
        return Err(HlError::new(
            ErrorCode::RequiredFieldMissing,
            "MSH-3 (sending application) is required",
        )
        .at(ErrorLocation::field("MSH", 1, 3)));
    }
    let source = sources::find(mpi.db(), name)
        .await
        .map_err(|_| {
            HlError::new(
                ErrorCode::ApplicationInternalError,
                "the sender could not be checked; send the message again",
            )
        })?
        .ok_or_else(|| refuse(3, "the sending application is not a registered source"))?;
    if let Some(facility) = source.facility.as_deref()
        && !facility.eq_ignore_ascii_case(header.sending_facility.trim())
    {
        return Err(refuse(
            4,
            "the sending facility is not the one registered for this source",
        ));
    }
    if source.has_secret {
        let given = header.security.trim();
        let secret = given
            .split_once('+')
            .filter(|(app, _)| app.eq_ignore_ascii_case(name))
            .map_or(given, |(_, secret)| secret);
        let ok = sources::check_secret(mpi.db(), name, secret)
            .await
            .unwrap_or(false);
        if !ok {
            return Err(refuse(
                8,
                "the security field does not hold this source's secret",
            ));
        }
    }
    let role = match source.role.parse::<SourceRole>() {
        Ok(SourceRole::Steward) => Role::Steward,
        _ => Role::Registrar,
    };
    Ok(Ctx {
        actor: Actor {
            name: source.name.clone(),
            role,
            source: Some(source.name),
        },
        meta: RequestMeta {
            request_id: Some(format!("hl7:{}", header.control_id)),
            client_addr: Some(peer.ip().to_string()),
            user_agent: Some(format!(
                "HL7 v{} {}^{}",
                header.version, header.message_code, header.trigger_event
            )),
        },
        unconfirmed_key: None,
    })
}
