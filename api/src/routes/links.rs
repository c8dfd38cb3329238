//! `POST /api/v1/links` and `DELETE /api/v1/links/{id}` (`seealso` and `refer` links).

use actix_web::{HttpResponse, http::header, web};
use serde::Deserialize;
use uuid::Uuid;

use service::patients::parse_code;

use crate::auth::Caller;
use crate::dto::LinkDto;
use crate::error::{ApiError, ErrorBody};

/// Body of `POST /links`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LinkBody {
    /// The record the link belongs to.
    pub patient_id: Uuid,
    /// The record it points to.
    pub other_patient_id: Uuid,
    /// `seealso` or `refer`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/links`.
#[utoipa::path(operation_id = "create_link", post, path = "/api/v1/links", tag = "links", request_body = LinkBody,
    responses((status = 201, description = "Linked", body = LinkDto),
        (status = 409, description = "`duplicate_link`", body = ErrorBody),
        (status = 400, description = "Malformed JSON, query or header", body = ErrorBody), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn create(
    caller: Caller,
    body: crate::extract::Json<LinkBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let link_type = parse_code("type", body.type_.trim())?;
    let link = service::links::create(
        &caller.mpi,
        &caller.ctx,
        body.patient_id,
        body.other_patient_id,
        link_type,
        body.reason,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/links/{}", link.id)))
        .json(LinkDto::from(&link)))
}

/// `DELETE /api/v1/links/{id}`.
#[utoipa::path(operation_id = "delete_link", delete, path = "/api/v1/links/{id}", tag = "links", params(("id" = Uuid, Path, description = "The link's id")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No valid bearer key", body = ErrorBody), (status = 403, description = "The key's role may not do this", body = ErrorBody), (status = 404, description = "No such record", body = ErrorBody), (status = 422, description = "An invalid value; `field` names it", body = ErrorBody)))]
pub async fn delete(caller: Caller, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    service::links::delete(&caller.mpi, &caller.ctx, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
