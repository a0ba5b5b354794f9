//! The account page: profile, password, two-step verification and sessions, for the
//! person signed in to this browser. Each form runs the same use case as its API twin under
//! `/api/v1/users/me`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_domain::mfa::Factor;
use gatehouse_domain::upstream::{Begun, IdentityError};
use gatehouse_domain::users::ProfileChanges;
use gatehouse_domain::{SessionId, SessionKind, User};
use secrecy::{ExposeSecret, SecretString};

use serde::Deserialize;

use crate::shared::{
    ACCOUNT_PATH, browser_session, csrf_token, describe, error_page, page, query, resource,
    scripted_page, see_other, sign_in_first, signed_in_form, unavailable, with_cookie,
};
use gatehouse_http::caller::Caller;
use gatehouse_http::problem::ApiError;
use gatehouse_http::qr::qr_svg;
use gatehouse_http::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(ACCOUNT_PATH).route(web::get().to(account)))
        .service(resource("/account/profile").route(web::post().to(profile)))
        .service(resource("/account/password").route(web::post().to(password)))
        .service(resource("/account/sessions/revoke").route(web::post().to(revoke_session)))
        .service(resource("/account/identities/link").route(web::post().to(link_identity)))
        .service(resource("/account/identities/unlink").route(web::post().to(unlink_identity)))
        .service(resource("/account/reauthenticate").route(web::post().to(reauthenticate)))
        .service(resource("/account/passkeys/begin").route(web::post().to(passkey_begin)))
        .service(resource("/account/passkeys").route(web::post().to(passkey_finish)))
        .service(resource("/account/passkeys/rename").route(web::post().to(passkey_rename)))
        .service(resource("/account/passkeys/remove").route(web::post().to(passkey_remove)))
        .service(resource("/account/mfa/start").route(web::post().to(mfa_start)))
        .service(resource("/account/mfa/confirm").route(web::post().to(mfa_confirm)))
        .service(resource("/account/mfa/disable").route(web::post().to(mfa_disable)))
        .service(resource("/account/mfa/recovery-codes").route(web::post().to(mfa_recovery_codes)));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProfileForm {
    full_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

/// A form that may re-authenticate: the current password, when the form has the field
/// (an account without a password has none to give).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ReauthForm {
    current_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IdentityForm {
    provider: String,
    subject: String,
    current_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProviderForm {
    provider: String,
}

/// The steps of adding a passkey: the current password (when there is one) to begin; the
/// name, the ceremony and the authenticator's answer to finish.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    current_password: Option<String>,
    name: String,
    ceremony: String,
    credential: String,
}

/// A change to one passkey: its id, and a new name or the current password.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyChangeForm {
    id: String,
    name: String,
    current_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RevokeSessionForm {
    id: String,
    current_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfirmMfaForm {
    code: String,
}

/// A change to MFA: re-authentication and a second factor.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MfaChangeForm {
    current_password: Option<String>,
    otp: Option<String>,
    recovery_code: Option<String>,
}

/// A new authenticator to scan.
struct EnrolmentView {
    qr_svg: String,
    secret: String,
}

/// Enrolment (the QR code and its confirmation), or recovery codes shown once.
#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage<'a> {
    csrf: &'a str,
    enrolment: Option<EnrolmentView>,
    recovery_codes: Vec<String>,
}

/// One row of the sessions table.
struct IdentityRow {
    provider: String,
    subject: String,
    email: String,
    linked_at: String,
}

/// One row of the passkeys table.
struct PasskeyRow {
    id: String,
    name: String,
    created_at: String,
    last_used_at: String,
    synced: bool,
}

/// One row of the personal access tokens table.
pub(crate) struct TokenRow {
    id: String,
    name: String,
    scope: String,
    created_at: String,
    expires_at: String,
    last_used: String,
}

struct SessionRow {
    id: String,
    created_at: String,
    last_used_at: String,
    device: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    email: &'a str,
    verified: bool,
    /// Forms that need re-authentication ask for the password only when there is one.
    has_password: bool,
    full_name: &'a str,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    /// The longest lifetime a new token may have, in days, and the default one.
    token_max_days: u32,
    token_default_days: u32,
    identities: Vec<IdentityRow>,
    /// Providers to link: id, name, available.
    providers: Vec<(String, String, bool)>,
    /// Providers this account (without a password) can confirm it is theirs with: id,
    /// name, available.
    confirm_with: Vec<(String, String, bool)>,
    /// Passkeys can be added here (the page then carries the passkey script).
    passkeys_available: bool,
    passkeys: Vec<PasskeyRow>,
    notice: Option<&'static str>,
    errors: Vec<String>,
    mfa_enabled: bool,
    mfa_since: String,
    recovery_codes_left: u32,
}

/// What a completed form says when the page comes back (never text from the request).
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "profile" => Some("Your profile is saved."),
        "password" => Some("Your password is changed; every other device was signed out."),
        "session" => Some("That session is signed out."),
        "linked" => Some("The provider is linked: you can sign in with it."),
        "unlinked" => Some("The provider is unlinked."),
        "reauthenticated" => {
            Some("You signed in again: you can now make changes to how you sign in.")
        }
        "passkey" => Some("The passkey is added: you can sign in with it."),
        "passkey-renamed" => Some("The passkey is renamed."),
        "passkey-removed" => Some("The passkey is removed."),
        "mfa-off" => Some("Two-step verification is off."),
        "token-revoked" => Some("The token is revoked: it no longer works anywhere."),
        _ => None,
    }
}

pub(crate) async fn render(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    current: SessionId,
    errors: Vec<String>,
    status: StatusCode,
) -> HttpResponse {
    let sessions = match state.users.sessions(user).await {
        Ok(sessions) => sessions,
        Err(error) => return error_page(error.into(), "Try again shortly"),
    };
    let mfa = match state.mfa.status(user.id).await {
        Ok(mfa) => mfa,
        Err(error) => return unavailable(error),
    };
    let linked = match state.upstream.identities(user).await {
        Ok(linked) => linked,
        Err(error) => return unavailable(error),
    };
    let passkeys = match state.passkeys.list(user).await {
        Ok(passkeys) => passkeys,
        Err(error) => return unavailable(error),
    };
    let tokens = match state.personal.list(user).await {
        Ok(tokens) => tokens,
        Err(error) => return unavailable(error),
    };
    let when = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    let rows = sessions
        .iter()
        .map(|session| SessionRow {
            id: session.id.to_string(),
            created_at: when(session.created_at),
            last_used_at: when(session.last_used_at),
            device: match session.kind {
                SessionKind::Browser => "Browser",
                SessionKind::Api => "App",
                SessionKind::Personal => "Personal access token",
            }
            .to_owned()
                + &session
                    .caller
                    .user_agent
                    .as_deref()
                    .map(|agent| format!(": {}", agent.chars().take(60).collect::<String>()))
                    .unwrap_or_default(),
            current: session.id == current,
        })
        .collect();
    let (csrf, new_cookie) = csrf_token(req, state);
    let mut sent = query(req);
    let done = sent.remove("done");
    let enrol_first = sent.get("mfa").is_some_and(|v| v == "required") && !mfa.enabled;
    let providers = state.upstream.providers();
    let is_linked = |provider: &&gatehouse_domain::upstream::ProviderInfo| {
        linked
            .iter()
            .any(|identity| identity.provider == provider.id)
    };
    let policy = state.personal.policy();
    let view = AccountPage {
        tokens: tokens
            .iter()
            .map(|token| TokenRow {
                id: token.id().to_string(),
                name: token.name.clone(),
                scope: match token.audience() {
                    Some(api) => format!("{} on {}", token.scope(), api.as_str()),
                    None => token.scope(),
                },
                created_at: when(token.session.created_at),
                expires_at: token.expires_at().map_or_else(|| "Never".to_owned(), when),
                last_used: match (token.used_at, &token.used_ip) {
                    (Some(at), Some(ip)) => format!("{} from {ip}", when(at)),
                    (Some(at), None) => when(at),
                    (None, _) => "Never".to_owned(),
                },
            })
            .collect(),
        token_max_days: policy.max_days,
        token_default_days: policy.default_days.min(policy.max_days),
        csrf: &csrf,
        email: user.email.as_str(),
        verified: user.is_verified,
        has_password: user.has_password(),
        full_name: user.full_name.as_ref().map_or("", |name| name.as_str()),
        sessions: rows,
        identities: linked
            .iter()
            .map(|identity| IdentityRow {
                provider: identity.provider.to_string(),
                subject: identity.subject.clone(),
                email: identity.email.clone().unwrap_or_default(),
                linked_at: when(identity.linked_at),
            })
            .collect(),
        providers: providers
            .iter()
            .filter(|provider| !is_linked(provider))
            .map(|provider| {
                (
                    provider.id.to_string(),
                    provider.name.clone(),
                    provider.available,
                )
            })
            .collect(),
        confirm_with: providers
            .iter()
            .filter(|provider| !user.has_password() && is_linked(provider))
            .map(|provider| {
                (
                    provider.id.to_string(),
                    provider.name.clone(),
                    provider.available,
                )
            })
            .collect(),
        notice: if !errors.is_empty() {
            None
        } else if enrol_first {
            Some("Your role needs two-step verification: set it up below to get its permissions.")
        } else {
            notice(done.as_deref())
        },
        errors,
        passkeys_available: state.passkeys.available(),
        passkeys: passkeys
            .iter()
            .map(|passkey| PasskeyRow {
                id: passkey.id.to_string(),
                name: passkey.name.clone(),
                created_at: when(passkey.created_at),
                last_used_at: passkey.last_used_at.map(when).unwrap_or_default(),
                synced: passkey.backed_up,
            })
            .collect(),
        mfa_enabled: mfa.enabled,
        mfa_since: mfa.enrolled_at.map(when).unwrap_or_default(),
        recovery_codes_left: mfa.recovery_codes_left,
    };
    let response = if view.passkeys_available {
        scripted_page(status, &view)
    } else {
        page(status, &view)
    };
    with_cookie(response, new_cookie)
}

async fn account(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match browser_session(&req, &state).await {
        Ok(Some((session, user))) => {
            render(&req, &state, &user, session.id, Vec::new(), StatusCode::OK).await
        }
        Ok(None) => sign_in_first(),
        Err(error) => unavailable(error),
    }
}

/// After a form: back to the page with a notice, or the page with what went wrong.
pub(crate) async fn outcome(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    session: SessionId,
    result: Result<(), ApiError>,
    done: &str,
    labels: &[(&str, &str)],
) -> HttpResponse {
    match result {
        Ok(()) => see_other(&format!("{ACCOUNT_PATH}?done={done}")),
        Err(error) => {
            let (status, errors) = describe(&error, labels);
            render(req, state, user, session, errors, status).await
        }
    }
}

async fn profile(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<ProfileForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let name = &form.fields.full_name;
    let changes = ProfileChanges {
        full_name: Some((!name.trim().is_empty()).then(|| name.to_owned())),
        email: None,
        current_password: None,
    };
    let result = state
        .users
        .update_profile(&user, session, changes, &caller.0)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    outcome(
        &req,
        &state,
        &user,
        session,
        result,
        "profile",
        &[("full_name", "Full name")],
    )
    .await
}

/// Changes the password: every other session ends; this browser stays signed in.
async fn password(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<PasswordForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let current = SecretString::from(form.fields.current_password.as_str());
    let new = SecretString::from(form.fields.new_password.as_str());
    let result = state
        .users
        .change_password(&user, session, &current, new, &caller.0)
        .await
        .map_err(ApiError::from);
    let labels = [
        ("current_password", "Current password"),
        ("new_password", "New password"),
    ];
    outcome(&req, &state, &user, session, result, "password", &labels).await
}

async fn revoke_session(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<RevokeSessionForm>(&req, &body, &state).await
    {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let given = form.fields.current_password.map(SecretString::from);
    let result = match uuid::Uuid::parse_str(&form.fields.id) {
        Ok(id) => state
            .users
            .revoke_session(
                &user,
                session,
                SessionId::from_uuid(id),
                given.as_ref(),
                &caller.0,
            )
            .await
            .map_err(ApiError::from),
        Err(_) => Err(ApiError::ResourceNotFound(
            gatehouse_http::problem::SESSION_NOT_FOUND,
        )),
    };
    let labels = [("current_password", "Current password")];
    outcome(&req, &state, &user, session, result, "session", &labels).await
}

/// Begins linking a provider to the account (re-authenticated): to the provider's page,
/// and back to the account page once it is linked.
async fn link_identity(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<IdentityForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let Some(browser) = req.cookie(state.cookies.csrf) else {
        return sign_in_first();
    };
    let given = form.fields.current_password.map(SecretString::from);
    let begun = state
        .upstream
        .begin_link(
            &user,
            session,
            given.as_ref(),
            &form.fields.provider,
            &SecretString::from(browser.value().to_owned()),
            format!("{ACCOUNT_PATH}?done=linked"),
            &caller.0,
        )
        .await;
    begun_or_page(&req, &state, &user, session, begun).await
}

/// To the provider, or the page of what went wrong: the account page for its own refusals,
/// the upstream failure page for the provider's.
async fn begun_or_page(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    session: SessionId,
    begun: Result<Begun, IdentityError>,
) -> HttpResponse {
    match begun {
        Ok(begun) => see_other(begun.redirect_to.as_str()),
        Err(IdentityError::SignIn(error)) => crate::upstream::failure(error, ACCOUNT_PATH),
        Err(error) => {
            let labels = [("current_password", "Current password")];
            let (status, errors) = describe(&ApiError::from(error), &labels);
            render(req, state, user, session, errors, status).await
        }
    }
}

/// Signs in again at a provider linked to the account (which has no password to give): the
/// re-authentication that changes to how it signs in need, then back to the account page.
async fn reauthenticate(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<ProviderForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let Some(browser) = req.cookie(state.cookies.csrf) else {
        return sign_in_first();
    };
    let begun = state
        .upstream
        .begin_reauthentication(
            &user,
            session,
            &form.fields.provider,
            &SecretString::from(browser.value().to_owned()),
            ACCOUNT_PATH.to_owned(),
            &caller.0,
        )
        .await;
    begun_or_page(&req, &state, &user, session, begun).await
}

/// Unlinks a provider from the account (re-authenticated), never its last way in.
async fn unlink_identity(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<IdentityForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let given = form.fields.current_password.map(SecretString::from);
    let result = state
        .upstream
        .unlink(
            &user,
            session,
            given.as_ref(),
            (&form.fields.provider, &form.fields.subject),
            &caller.0,
        )
        .await
        .map_err(ApiError::from);
    let labels = [("current_password", "Current password")];
    outcome(&req, &state, &user, session, result, "unlinked", &labels).await
}

/// Shows a page of the MFA forms, or the account page with what went wrong.
async fn mfa_outcome(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    session: SessionId,
    result: Result<MfaPage<'_>, ApiError>,
) -> HttpResponse {
    match result {
        Ok(view) => page(StatusCode::OK, &view),
        Err(error) => {
            let labels = [
                ("current_password", "Current password"),
                ("otp", "Code"),
                ("code", "Code"),
            ];
            let (status, errors) = describe(&error, &labels);
            render(req, state, user, session, errors, status).await
        }
    }
}

/// The MFA section showing new recovery codes, once.
fn recovery_codes_page<'a>(csrf: &'a str, codes: &[SecretString]) -> MfaPage<'a> {
    MfaPage {
        csrf,
        enrolment: None,
        recovery_codes: codes
            .iter()
            .map(|code| code.expose_secret().to_owned())
            .collect(),
    }
}

/// Starts enrolment: the QR code and key of a new authenticator, and the form that turns
/// it on.
async fn mfa_start(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<ReauthForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let given = form.fields.current_password.map(SecretString::from);
    let result = state
        .mfa
        .start(&user, session, given.as_ref(), &caller.0)
        .await
        .map(|enrolment| MfaPage {
            csrf: &form.csrf,
            enrolment: Some(EnrolmentView {
                qr_svg: inline_svg(&qr_svg(enrolment.uri.expose_secret())),
                secret: enrolment.secret.expose_secret().to_owned(),
            }),
            recovery_codes: Vec::new(),
        })
        .map_err(ApiError::from);
    mfa_outcome(&req, &state, &user, session, result).await
}

/// The SVG element of an SVG document, to sit inside HTML.
fn inline_svg(document: &str) -> String {
    document
        .find("<svg")
        .map_or_else(String::new, |start| document[start..].to_owned())
}

/// Turns MFA on with a code from the new authenticator, and shows the recovery codes once.
async fn mfa_confirm(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<ConfirmMfaForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let result = state
        .mfa
        .confirm(&user, session, &form.fields.code, &caller.0)
        .await
        .map(|codes| recovery_codes_page(&form.csrf, &codes))
        .map_err(ApiError::from);
    mfa_outcome(&req, &state, &user, session, result).await
}

/// What an MFA form confirmed by the password and a code changes.
#[derive(Clone, Copy)]
enum MfaChange {
    TurnOff,
    NewRecoveryCodes,
}

async fn mfa_disable(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    mfa_change(req, caller, body, state, MfaChange::TurnOff).await
}

/// New recovery codes, shown once; the old ones stop working.
async fn mfa_recovery_codes(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    mfa_change(req, caller, body, state, MfaChange::NewRecoveryCodes).await
}

/// Turns MFA off, or replaces the recovery codes, with the current password and a code.
async fn mfa_change(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
    change: MfaChange,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<MfaChangeForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let MfaChangeForm {
        current_password,
        otp,
        recovery_code,
    } = form.fields;
    let current = current_password.map(SecretString::from);
    let factor = Factor::from_fields(otp, recovery_code);
    match change {
        MfaChange::TurnOff => {
            let result = state
                .mfa
                .disable(&user, session, current.as_ref(), factor, &caller.0)
                .await
                .map_err(ApiError::from);
            let labels = [("current_password", "Current password"), ("otp", "Code")];
            outcome(&req, &state, &user, session, result, "mfa-off", &labels).await
        }
        MfaChange::NewRecoveryCodes => {
            let result = state
                .mfa
                .regenerate(&user, session, current.as_ref(), factor, &caller.0)
                .await
                .map(|codes| recovery_codes_page(&form.csrf, &codes))
                .map_err(ApiError::from);
            mfa_outcome(&req, &state, &user, session, result).await
        }
    }
}

/// Begins adding a passkey (re-authenticated), for the page's script: `{ceremony, options}`,
/// or the API's problem (a wrong password, passkeys unavailable…).
async fn passkey_begin(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<PasskeyForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let given = form.fields.current_password.map(SecretString::from);
    match state
        .passkeys
        .begin_registration(&user, session, given.as_ref(), &caller.0)
        .await
    {
        Ok(begun) => HttpResponse::Ok()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({
                "ceremony": begun.ceremony.expose_secret(),
                "options": serde_json::from_str::<serde_json::Value>(begun.options.as_str())
                    .unwrap_or_default(),
            })),
        Err(error) => actix_web::ResponseError::error_response(&ApiError::from(error)),
    }
}

/// Finishes adding a passkey: back to the page, with it listed.
async fn passkey_finish(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<PasskeyForm>(&req, &body, &state).await {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let PasskeyForm {
        name,
        ceremony,
        credential,
        ..
    } = form.fields;
    let result = state
        .passkeys
        .finish_registration(
            &user,
            session,
            (&SecretString::from(ceremony), &name),
            &gatehouse_domain::passkeys::CeremonyResponse::new(credential),
            &caller.0,
        )
        .await
        .map(drop)
        .map_err(ApiError::from);
    let labels = [("name", "Passkey name")];
    outcome(&req, &state, &user, session, result, "passkey", &labels).await
}

/// The passkey a form names, by its id (one that is no id names none).
fn passkey_id(raw: &str) -> Result<gatehouse_domain::passkeys::PasskeyId, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(gatehouse_domain::passkeys::PasskeyId::from_uuid)
        .map_err(|_| ApiError::ResourceNotFound(gatehouse_http::problem::PASSKEY_NOT_FOUND))
}

async fn passkey_rename(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<PasskeyChangeForm>(&req, &body, &state).await
    {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let result = match passkey_id(&form.fields.id) {
        Ok(id) => state
            .passkeys
            .rename(&user, id, &form.fields.name)
            .await
            .map(drop)
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    let labels = [("name", "Passkey name")];
    outcome(
        &req,
        &state,
        &user,
        session,
        result,
        "passkey-renamed",
        &labels,
    )
    .await
}

/// Removes a passkey (re-authenticated), never the account's last way in.
async fn passkey_remove(
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (user, session, form) = match signed_in_form::<PasskeyChangeForm>(&req, &body, &state).await
    {
        Ok(found) => found,
        Err(refusal) => return refusal.page(),
    };
    let given = form.fields.current_password.map(SecretString::from);
    let result = match passkey_id(&form.fields.id) {
        Ok(id) => state
            .passkeys
            .remove(&user, session, given.as_ref(), id, &caller.0)
            .await
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    let labels = [("current_password", "Current password")];
    outcome(
        &req,
        &state,
        &user,
        session,
        result,
        "passkey-removed",
        &labels,
    )
    .await
}
