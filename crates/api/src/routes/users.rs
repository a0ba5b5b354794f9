//! The `/users` resource.

use actix_web::{HttpResponse, get, web};

use crate::dto::UserResponse;
use crate::extractors::{CurrentUser, scopes};
use crate::openapi::responses::{Forbidden, Unauthorized};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(me);
}

/// The account the bearer token belongs to.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "users",
    security(("oauth2" = ["me"])),
    responses(
        (status = 200, description = "The current user", body = UserResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
#[get("/users/me")]
pub async fn me(current: CurrentUser<scopes::Me>) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(&current.user))
}
