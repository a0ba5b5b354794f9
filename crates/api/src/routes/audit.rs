//! `/api/v1/audit`: the audit trail, for admins.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::{AuditFilter, AuditKind};
use gatehouse_domain::{UserId, ValidationErrors};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::dto::{AuditEventResponse, PageResponse};
use crate::openapi::responses::{InvalidInput, Protected};
use crate::routes::query::Paging;
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list);
}

/// Filters of `GET /api/v1/audit` (paging is [`Paging`]).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events about this user.
    #[param(value_type = Option<Uuid>)]
    user_id: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = crate::dto::event_type_schema)]
    kind: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    until: Option<String>,
}

fn parse_time(
    errors: &mut ValidationErrors,
    field: &'static str,
    raw: Option<&str>,
) -> Option<DateTime<Utc>> {
    let raw = raw?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(time) => Some(time.with_timezone(&Utc)),
        Err(_) => {
            errors.add(field, format!("{field} must be an RFC 3339 time"));
            None
        }
    }
}

/// Security events, newest first (admins).
#[utoipa::path(
    operation_id = "list_audit_events",
    context_path = "/api/v1",
    tag = "admin",
    params(Paging, AuditQuery),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "A page of events", body = PageResponse<AuditEventResponse>),
        Protected,
        (status = 422, response = InvalidInput),
    )
)]
#[get("/audit")]
pub async fn list(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
    params: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::new();
    let user_id = match params.user_id.as_deref().map(Uuid::parse_str) {
        Some(Ok(id)) => Some(UserId::from_uuid(id)),
        Some(Err(_)) => {
            errors.add("user_id", "user_id must be a UUID");
            None
        }
        None => None,
    };
    let kind = match params.kind.as_deref() {
        Some(raw) => {
            let kind = AuditKind::parse(raw);
            if kind.is_none() {
                errors.add("type", format!("unknown event type `{raw}`"));
            }
            kind
        }
        None => None,
    };
    let since = parse_time(&mut errors, "since", params.since.as_deref());
    let until = parse_time(&mut errors, "until", params.until.as_deref());
    let page = paging.page(&mut errors);
    let Some(page) = page.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let filter = AuditFilter {
        user_id,
        kind,
        since,
        until,
    };
    let paged = state.audit.list(filter, page).await?;
    Ok(
        HttpResponse::Ok().json(PageResponse::from_paged(paged, |event| {
            AuditEventResponse::from(event)
        })),
    )
}
