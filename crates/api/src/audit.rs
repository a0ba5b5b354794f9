//! `/api/v1/audit`: the audit trail, for admins.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::{AuditFilter, AuditKind};
use gatehouse_domain::{UserId, ValidationErrors};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::shared::query::Paging;
use crate::shared::responses::{InvalidInput, Protected};
use crate::shared::schemas::{PageResponse, one_of_schema};
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::problem::ApiError;
use gatehouse_http::state::AppState;

/// The audit event types, from the domain's list.
fn event_type_schema() -> utoipa::openapi::Object {
    one_of_schema(
        gatehouse_domain::audit::AuditKind::ALL.map(gatehouse_domain::audit::AuditKind::as_str),
        "The kind of event.",
    )
}

/// One security event of the audit trail.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-aa10-7b2c-8d3e-4f5a6b7c8d9e",
    "type": "role_changed",
    "user_id": "019a4d3e-7b6f-7c52-9d7e-2f1a3b4c5d6e",
    "actor_id": "019a4d3e-1111-7c52-9d7e-2f1a3b4c5d6e",
    "ip": null,
    "user_agent": null,
    "detail": "user -> admin",
    "created_at": "2026-11-23T10:00:00Z"
}))]
pub struct AuditEventResponse {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(schema_with = event_type_schema)]
    pub kind: &'static str,
    pub user_id: Option<Uuid>,
    /// The admin who acted, when not the user.
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&gatehouse_domain::audit::AuditEvent> for AuditEventResponse {
    fn from(event: &gatehouse_domain::audit::AuditEvent) -> Self {
        Self {
            id: event.id.as_uuid(),
            kind: event.kind.as_str(),
            user_id: event.user_id.map(|id| id.as_uuid()),
            actor_id: event.actor_id.map(|id| id.as_uuid()),
            ip: event.caller.ip.clone(),
            user_agent: event.caller.user_agent.clone(),
            detail: event.detail.clone(),
            created_at: event.at,
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list), components(schemas(AuditEventResponse)))]
pub struct Doc;

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
    #[param(rename = "type", schema_with = event_type_schema)]
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
