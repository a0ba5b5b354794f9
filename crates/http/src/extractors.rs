//! Authentication extractors. A handler states what it needs in its signature:
//! `CurrentUser<scopes::Me>` is a verified bearer token carrying scope `me`, for an account
//! that still exists and is active, checked on every request against the session and user
//! as stored now (served from the session cache, which forgets them on any write).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use gatehouse_domain::auth::CurrentUserError;
use gatehouse_domain::ports::AccessClaims;
use gatehouse_domain::{Scope, User};

use crate::problem::{ApiError, Code, ProblemDetails, problem_response};
use crate::state::AppState;

/// The realm of our `WWW-Authenticate` challenges.
pub const REALM: &str = "gatehouse";

/// The scope markers for [`CurrentUser`], one per scope, declared with the scopes.
pub use gatehouse_domain::scope::{RequiredScope, required as scopes};

/// The authenticated caller, holding a token with scope `S`.
pub struct CurrentUser<S: RequiredScope> {
    pub user: User,
    pub claims: AccessClaims,
    _scope: PhantomData<S>,
}

/// Why a request was not authenticated (RFC 6750 §3).
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// 401 with a bare challenge: no bearer token was sent.
    #[error("no bearer token")]
    Missing,
    /// 401 `invalid_token`: expired, malformed, forged or revoked token, or a gone account.
    #[error("invalid bearer token")]
    Invalid,
    /// 403 `insufficient_scope`: the token lacks the scope the endpoint requires.
    #[error("token lacks scope {0}")]
    InsufficientScope(Scope),
    /// Anything else (the database is down): a problem response of its own.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            BearerError::Missing | BearerError::Invalid => StatusCode::UNAUTHORIZED,
            BearerError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            BearerError::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, detail, challenge) = match self {
            BearerError::Missing => (
                Code::Unauthorized,
                "This endpoint needs a bearer token.".to_owned(),
                format!(r#"Bearer realm="{REALM}""#),
            ),
            BearerError::Invalid => (
                Code::InvalidToken,
                "The access token is invalid or has expired.".to_owned(),
                format!(
                    r#"Bearer realm="{REALM}", error="invalid_token", error_description="The access token is invalid or has expired""#
                ),
            ),
            BearerError::InsufficientScope(scope) => (
                Code::InsufficientScope,
                format!("This endpoint needs a token with scope `{scope}`."),
                format!(r#"Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}""#),
            ),
            BearerError::Api(error) => return error.error_response(),
        };
        let status = self.status_code();
        let mut builder = problem_response(status);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            builder.insert_header((header::WWW_AUTHENTICATE, value));
        }
        builder.json(ProblemDetails::new(status, code.as_str(), detail))
    }
}

/// Longer than any token we issue by far; longer ones are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 4096;

/// What the `Authorization` header holds.
enum Presented {
    None,
    Bearer(String),
    /// Something that cannot be one of our tokens (too long, not ASCII): refused without
    /// parsing.
    Malformed,
}

fn bearer_token(req: &HttpRequest) -> Presented {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Presented::None;
    };
    if value.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        return Presented::Malformed;
    }
    let Ok(value) = value.to_str() else {
        return Presented::Malformed;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return Presented::None;
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Bearer(token.trim().to_owned())
    } else {
        Presented::None
    }
}

impl<S: RequiredScope> CurrentUser<S> {
    /// The caller of a request whose token may also come in a form body (RFC 6750 §2.2:
    /// `access_token`, for endpoints that take POST such as userinfo). A token sent both
    /// ways is refused.
    pub async fn from_header_or_form(
        req: &HttpRequest,
        form: &[u8],
        state: &AppState,
    ) -> Result<Self, BearerError> {
        let in_form = crate::json::is_form(req)
            .then(|| {
                form_urlencoded::parse(form)
                    .find(|(key, _)| key == "access_token")
                    .map(|(_, value)| value.into_owned())
            })
            .flatten();
        let presented = match (bearer_token(req), in_form) {
            (Presented::None, Some(token)) if token.len() <= MAX_TOKEN_BYTES => {
                Presented::Bearer(token)
            }
            (Presented::None, Some(_)) => Presented::Malformed,
            (Presented::None, None) => Presented::None,
            (_, Some(_)) => return Err(BearerError::Invalid),
            (header, None) => header,
        };
        Self::authenticate(presented, req, state).await
    }

    async fn authenticate(
        token: Presented,
        req: &HttpRequest,
        state: &AppState,
    ) -> Result<Self, BearerError> {
        let token = match token {
            Presented::None => return Err(BearerError::Missing),
            Presented::Malformed => return Err(BearerError::Invalid),
            Presented::Bearer(token) => token,
        };
        {
            // Who called is read only for a personal access token, whose use is recorded.
            let caller = || crate::caller::Caller::of(req, &state.trusted_proxies).0;
            let (user, claims) = match state.auth.resolve_caller(&token, caller).await {
                Ok(found) => found,
                Err(CurrentUserError::InvalidToken(reason)) => {
                    tracing::info!(%reason, "bearer token refused");
                    return Err(BearerError::Invalid);
                }
                Err(CurrentUserError::Repository(error)) => {
                    return Err(ApiError::from(error).into());
                }
            };
            // The role is the stored one (the cache forgets it on any write), so a demoted
            // admin's token stops opening admin endpoints at once.
            if let Some(scope) = S::SCOPE
                && (!claims.scopes.contains(scope) || !scope.allowed_for(user.role))
            {
                return Err(BearerError::InsufficientScope(scope));
            }
            crate::request_context::authenticated(user.id);
            Ok(CurrentUser {
                user,
                claims,
                _scope: PhantomData,
            })
        }
    }
}

impl<S: RequiredScope> FromRequest for CurrentUser<S> {
    type Error = BearerError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                BearerError::Api(ApiError::Internal("application state missing".into()))
            })?;
            Self::authenticate(token, &req, &state).await
        })
    }
}
