//! The JSON API of gatehouse, a module per feature: [`auth`] (sign-up, the token endpoint,
//! logout, recovery by email), [`oauth`] (the OpenID Connect provider's API side and
//! client registration), [`apis`] (the registered resource servers), [`mfa`], [`passkeys`], [`users`] (your account, your sessions,
//! and the admins' user management), [`audit`], [`health`] and the owner-scoped resources
//! ([`owned`]).
//! Each feature holds its handlers, bodies and OpenAPI [`utoipa::OpenApi`] `Doc`;
//! [`shared`] holds what they share and imports none of them; [`openapi`] merges the docs.
//! Shared HTTP plumbing is `gatehouse-http`; the server (`gatehouse-server`) mounts these
//! routes beside the hosted pages.

pub mod apis;
pub mod audit;
pub mod auth;
pub mod health;
pub mod mail;
pub mod mfa;
pub mod oauth;
pub mod openapi;
pub mod owned;
pub mod passkeys;
pub mod shared;
pub mod users;

use actix_web::web;

pub use owned::OwnedResources;

/// Every route of the JSON API (the hosted pages are `gatehouse-pages`), the owned
/// resources over `owned`.
pub fn configure(cfg: &mut web::ServiceConfig, owned: &web::Data<OwnedResources>) {
    cfg.configure(health::configure)
        .configure(oauth::configure_provider)
        .service(
            web::scope("/api/v1")
                // Every API answer is about an account: no cache may keep it.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((actix_web::http::header::CACHE_CONTROL, "no-store")),
                )
                .configure(auth::configure)
                .configure(mfa::configure)
                .configure(passkeys::configure)
                .configure(users::configure)
                .configure(audit::configure)
                .configure(mail::configure)
                .configure(oauth::configure_clients)
                .configure(apis::configure)
                .configure(|cfg| owned::configure(cfg, owned)),
        );
}

/// Every `<resource>_not_found` code (404): users, sessions, clients and each owned
/// resource.
pub fn not_found_codes() -> Vec<&'static str> {
    use gatehouse_http::problem::{
        API_NOT_FOUND, CLIENT_NOT_FOUND, IDENTITY_NOT_FOUND, MAIL_NOT_FOUND, PASSKEY_NOT_FOUND,
        PERSONAL_TOKEN_NOT_FOUND, SESSION_NOT_FOUND, USER_NOT_FOUND,
    };
    let mut codes = vec![
        USER_NOT_FOUND,
        SESSION_NOT_FOUND,
        PERSONAL_TOKEN_NOT_FOUND,
        IDENTITY_NOT_FOUND,
        PASSKEY_NOT_FOUND,
        CLIENT_NOT_FOUND,
        API_NOT_FOUND,
        MAIL_NOT_FOUND,
    ];
    codes.extend(owned::not_found_codes());
    codes
}

#[cfg(test)]
mod tests {
    use gatehouse_http::problem::Code;

    use super::*;

    /// The rows docs/frontend.md's table of codes must have, in order.
    fn table() -> Vec<String> {
        let fixed = Code::ALL.iter().map(|code| {
            let status = code.status().as_u16();
            format!("| `{}` | {status} | {} |", code.as_str(), code.meaning())
        });
        let not_found = not_found_codes().into_iter().map(|code| {
            let resource = code.trim_end_matches("_not_found").replace('_', " ");
            format!("| `{code}` | 404 | There is no {resource} with this id that you may see. |")
        });
        fixed.chain(not_found).collect()
    }

    #[test]
    fn the_documented_codes_are_the_served_ones() {
        let docs = include_str!("../../../docs/frontend.md");
        let documented: Vec<&str> = docs
            .lines()
            .skip_while(|line| !line.starts_with("## Error codes"))
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .filter(|line| line.starts_with("| `"))
            .collect();
        let expected = table();
        assert_eq!(
            documented,
            expected,
            "docs/frontend.md's table of codes should read:\n{}",
            expected.join("\n")
        );
    }
}
