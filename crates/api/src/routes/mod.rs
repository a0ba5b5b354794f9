//! HTTP routes, one module per area; each registers itself through `configure`.

pub mod audit;
pub mod auth;
pub mod clients;
pub mod health;
pub mod jwks;
pub mod mfa;
pub mod oidc;
pub mod owned;
mod query;
pub mod todos;
pub mod users;

use actix_web::web;
use utoipa::OpenApi;

/// A part of the API that registers its own routes and documents them.
struct Area {
    configure: fn(&mut web::ServiceConfig),
    doc: fn() -> utoipa::openapi::OpenApi,
    /// The 404 `code` of its items.
    not_found: &'static str,
}

/// The owner-scoped resources: adding one is adding it here.
const OWNED: [Area; 1] = [Area {
    configure: todos::configure,
    doc: todos::Doc::openapi,
    not_found: <gatehouse_domain::Todo as gatehouse_domain::owned::Owned>::NOT_FOUND,
}];

/// Every `<resource>_not_found` code (404): users, sessions, clients and each owned
/// resource.
pub fn not_found_codes() -> Vec<&'static str> {
    use gatehouse_http::problem::{CLIENT_NOT_FOUND, SESSION_NOT_FOUND, USER_NOT_FOUND};
    let mut codes = vec![USER_NOT_FOUND, SESSION_NOT_FOUND, CLIENT_NOT_FOUND];
    codes.extend(OWNED.iter().map(|area| area.not_found));
    codes
}

/// The document's parts that the owned resources declare.
pub fn owned_docs() -> impl Iterator<Item = utoipa::openapi::OpenApi> {
    OWNED.iter().map(|area| (area.doc)())
}

/// Every route of the JSON API (the hosted pages are `gatehouse-pages`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::configure)
        .configure(jwks::configure)
        .configure(oidc::configure)
        .service(
            web::scope("/api/v1")
                // Every API answer is about an account: no cache may keep it.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((actix_web::http::header::CACHE_CONTROL, "no-store")),
                )
                .configure(auth::configure)
                .configure(mfa::configure)
                .configure(users::configure)
                .configure(audit::configure)
                .configure(clients::configure)
                .configure(|cfg| {
                    for area in &OWNED {
                        (area.configure)(cfg);
                    }
                }),
        );
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
            let resource = code.trim_end_matches("_not_found");
            format!("| `{code}` | 404 | There is no {resource} with this id that you may see. |")
        });
        fixed.chain(not_found).collect()
    }

    #[test]
    fn the_documented_codes_are_the_served_ones() {
        let docs = include_str!("../../../../docs/frontend.md");
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
