//! `/api/v1/mail`: the queue of outgoing emails, for admins — what waits and what is dead
//! (never an email's contents, which stay sealed), and a retry for dead ones.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use gatehouse_domain::ValidationErrors;
use gatehouse_domain::mail::{MailId, MailKind, MailStatus, QueuedMail};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::shared::query::Paging;
use crate::shared::responses::{InvalidInput, MailNotFound, Protected};
use crate::shared::schemas::{PageResponse, one_of_schema};
use gatehouse_http::extractors::{CurrentUser, scopes};
use gatehouse_http::problem::{ApiError, MAIL_NOT_FOUND};
use gatehouse_http::state::AppState;

fn kind_schema() -> utoipa::openapi::Object {
    one_of_schema(
        MailKind::ALL.map(MailKind::as_str),
        "What the email is about.",
    )
}

fn status_schema() -> utoipa::openapi::Object {
    one_of_schema(
        [MailStatus::Pending, MailStatus::Dead].map(MailStatus::as_str),
        "`pending`: waiting for its next try; `dead`: given up until retried.",
    )
}

/// A queued email: what it is about and how its delivery goes, never what it says.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-aa10-7b2c-8d3e-4f5a6b7c8d9e",
    "kind": "password_reset",
    "user_id": "019a4d3e-7b6f-7c52-9d7e-2f1a3b4c5d6e",
    "status": "dead",
    "attempts": 10,
    "next_attempt_at": "2026-11-23T10:00:00Z",
    "last_error": "Connection refused (os error 111)",
    "created_at": "2026-11-23T09:00:00Z"
}))]
pub struct QueuedMailResponse {
    pub id: Uuid,
    #[schema(schema_with = kind_schema)]
    pub kind: &'static str,
    /// The account it is for; none for a reset request not yet looked up.
    pub user_id: Option<Uuid>,
    #[schema(schema_with = status_schema)]
    pub status: &'static str,
    /// Tries made so far.
    pub attempts: u32,
    /// When it is next tried (pending ones).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&QueuedMail> for QueuedMailResponse {
    fn from(mail: &QueuedMail) -> Self {
        Self {
            id: mail.id.as_uuid(),
            kind: mail.kind.as_str(),
            user_id: mail.user_id.map(|id| id.as_uuid()),
            status: mail.status.as_str(),
            attempts: mail.attempts,
            next_attempt_at: mail.next_attempt_at,
            last_error: mail.last_error.clone(),
            created_at: mail.created_at,
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, retry), components(schemas(QueuedMailResponse)))]
pub struct Doc;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(retry);
}

/// Filters of `GET /api/v1/mail` (paging is [`Paging`]).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MailQuery {
    /// Only emails in this state.
    #[param(schema_with = status_schema)]
    status: Option<String>,
}

/// Queued emails, oldest first (admins): pending and dead ones.
#[utoipa::path(
    operation_id = "list_queued_mail",
    context_path = "/api/v1",
    tag = "admin",
    params(Paging, MailQuery),
    security(("oauth2" = ["users:read"])),
    responses(
        (status = 200, description = "A page of queued emails", body = PageResponse<QueuedMailResponse>),
        Protected,
        (status = 422, response = InvalidInput),
    )
)]
#[get("/mail")]
pub async fn list(
    _admin: CurrentUser<scopes::UsersRead>,
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
    params: web::Query<MailQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::new();
    let status = match params.status.as_deref() {
        Some(raw) => {
            let status = MailStatus::parse(raw);
            if status.is_none() {
                errors.add("status", "status must be `pending` or `dead`");
            }
            status
        }
        None => None,
    };
    let page = paging.page(&mut errors);
    let Some(page) = page.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let paged = state.courier.list(status, page).await?;
    Ok(
        HttpResponse::Ok().json(PageResponse::from_paged(paged, |mail| {
            QueuedMailResponse::from(mail)
        })),
    )
}

/// Try a dead email again (admins): it is pending, due now, its tries counted afresh.
#[utoipa::path(
    operation_id = "retry_queued_mail",
    context_path = "/api/v1",
    tag = "admin",
    params(("id" = Uuid, Path, description = "The email's id")),
    security(("oauth2" = ["users:write"])),
    responses(
        (status = 204, description = "Queued again"),
        Protected,
        (status = 404, response = MailNotFound),
    )
)]
#[post("/mail/{id}/retry")]
pub async fn retry(
    _admin: CurrentUser<scopes::UsersWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    if state
        .courier
        .retry(MailId::from_uuid(id.into_inner()))
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::ResourceNotFound(MAIL_NOT_FOUND))
    }
}
