//! The hosted pages: server-rendered HTML (askama templates in `templates/`, one stylesheet,
//! no script) for signing in and up, consenting, recovering an account and managing it, and
//! the authorization endpoint that sends browsers through them. Pages call the same use
//! cases as the API, so throttling, audit and timing rules hold for them alike.
//!
//! - The browser session is a cookie holding an opaque token whose digest names a session
//!   of kind `browser` in the sessions table: logout, revocation and password changes end
//!   it like any other session. `HttpOnly`, `SameSite=Lax`, and `Secure` with the
//!   `__Host-` prefix when the public URL is `https`.
//! - Every form carries a CSRF token bound to the browser and to its sign-in: an HMAC, under
//!   a server key, of a random secret in a cookie of its own and of the session cookie
//!   (`gatehouse_security::CsrfKey`). The secret is renewed at sign-in and sign-out, which
//!   change the session cookie too, so every earlier token dies; a post whose token does not
//!   verify changes nothing.
//! - Every page is sent with a `Content-Security-Policy` that allows no script at all.

mod account;
mod authorize;
mod device;
mod logout;
mod recovery;
mod shared;
mod sign_in;
mod sign_up;
mod tokens;
mod upstream;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    authorize::configure(cfg);
    sign_in::configure(cfg);
    sign_up::configure(cfg);
    logout::configure(cfg);
    recovery::configure(cfg);
    account::configure(cfg);
    tokens::configure(cfg);
    device::configure(cfg);
    upstream::configure(cfg);
    cfg.service(shared::resource("/static/gatehouse.css").route(web::get().to(stylesheet)))
        .service(shared::resource("/static/passkeys.js").route(web::get().to(passkey_script)));
}

/// The one script of the pages (WebAuthn needs it), on the pages that offer passkeys.
async fn passkey_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(include_str!("../static/passkeys.js"))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../static/gatehouse.css"))
}
