//! Dependencies point inward only. Reads `cargo metadata` and fails when a crate gains a
//! dependency its layer must not have.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::workspace_metadata;

/// What each workspace crate may depend on among its siblings. The JSON API and the hosted
/// pages know neither each other nor storage: both reach the use cases through
/// `gatehouse-http`'s state, which the server wires.
const INTERNAL: &[(&str, &[&str])] = &[
    ("gatehouse-domain", &[]),
    ("gatehouse-migration", &[]),
    ("gatehouse-security", &["gatehouse-domain"]),
    (
        "gatehouse-persistence",
        &["gatehouse-domain", "gatehouse-migration"],
    ),
    ("gatehouse-mail", &["gatehouse-domain"]),
    ("gatehouse-upstream", &["gatehouse-domain"]),
    ("gatehouse-passkeys", &["gatehouse-domain"]),
    // For other services: it knows no gatehouse crate, only the tokens on the wire.
    ("gatehouse-verifier", &[]),
    (
        "gatehouse-http",
        &["gatehouse-domain", "gatehouse-security"],
    ),
    (
        "gatehouse-api",
        &["gatehouse-domain", "gatehouse-security", "gatehouse-http"],
    ),
    (
        "gatehouse-pages",
        &["gatehouse-domain", "gatehouse-security", "gatehouse-http"],
    ),
];

/// The crates that speak HTTP: the frameworks are theirs.
const HTTP: &[&str] = &["gatehouse-http", "gatehouse-api", "gatehouse-pages"];

/// Adapters that are HTTP clients of other services, and the one framework each may use
/// for it: no server framework. The verifier fetches gatehouse's keys, and offers its
/// extractor to the two server frameworks other services use.
const HTTP_CLIENTS: &[(&str, &str)] = &[
    ("gatehouse-upstream", "reqwest"),
    ("gatehouse-verifier", "reqwest"),
    ("gatehouse-verifier", "actix-web"),
    ("gatehouse-verifier", "axum"),
];

/// The only external crates the domain may use: none of them knows HTTP, SQL, JSON,
/// hashing or tokens.
pub const DOMAIN_EXTERNAL: &[&str] = &[
    "async-trait",
    "chrono",
    "email_address",
    "secrecy",
    "thiserror",
    "tracing",
    // Parses redirect URIs (WHATWG URLs); knows nothing of HTTP.
    "url",
    "uuid",
];

/// Frameworks the inner adapters must not reach for.
pub const FRAMEWORKS: &[&str] = &[
    "actix-web",
    "axum",
    "hyper",
    "http",
    "utoipa",
    "utoipa-swagger-ui",
    "reqwest",
    "config",
    "clap",
];

/// Normal (non-dev) dependencies of every workspace member.
fn dependencies(metadata: &Value) -> BTreeMap<String, Vec<String>> {
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| dep["kind"].is_null())
                .map(|dep| dep["name"].as_str().unwrap().to_owned())
                .collect();
            (package["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

fn violations(metadata: &Value) -> Vec<String> {
    let deps = dependencies(metadata);
    let mut found = Vec::new();
    for (krate, allowed) in INTERNAL {
        let Some(krate_deps) = deps.get(*krate) else {
            found.push(format!("{krate} is missing from the workspace"));
            continue;
        };
        for dep in krate_deps {
            if dep.starts_with("gatehouse-") && !allowed.contains(&dep.as_str()) {
                found.push(format!("{krate} must not depend on {dep}"));
            }
            let client = HTTP_CLIENTS.contains(&(*krate, dep.as_str()));
            if FRAMEWORKS.contains(&dep.as_str()) && !HTTP.contains(krate) && !client {
                found.push(format!("{krate} must not depend on the framework {dep}"));
            }
        }
    }
    for dep in deps.get("gatehouse-domain").into_iter().flatten() {
        if !DOMAIN_EXTERNAL.contains(&dep.as_str()) {
            found.push(format!("gatehouse-domain must not depend on {dep}"));
        }
    }
    for dep in deps.get("gatehouse-persistence").into_iter().flatten() {
        if ["argon2", "jsonwebtoken", "serde_json"].contains(&dep.as_str()) {
            found.push(format!("gatehouse-persistence must not depend on {dep}"));
        }
    }
    for dep in deps.get("gatehouse-security").into_iter().flatten() {
        if dep.starts_with("sea-") || dep.starts_with("sqlx") {
            found.push(format!("gatehouse-security must not depend on {dep}"));
        }
    }
    found
}

#[test]
fn dependencies_point_inward_only() {
    let metadata = workspace_metadata();
    let found = violations(&metadata);
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_an_outward_dependency() {
    let mut metadata = workspace_metadata();
    for package in metadata["packages"].as_array_mut().unwrap() {
        let extra = match package["name"].as_str().unwrap() {
            "gatehouse-domain" => "sea-orm",
            "gatehouse-security" => "gatehouse-persistence",
            "gatehouse-persistence" => "actix-web",
            "gatehouse-mail" => "gatehouse-security",
            "gatehouse-pages" => "gatehouse-api",
            "gatehouse-upstream" => "actix-web",
            _ => continue,
        };
        package["dependencies"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": extra, "kind": null}));
    }
    let found = violations(&metadata);
    assert!(
        found
            .iter()
            .any(|v| v == "gatehouse-domain must not depend on sea-orm"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v == "gatehouse-security must not depend on gatehouse-persistence"),
        "{found:?}"
    );
    assert!(found.iter().any(|v| v.contains("gatehouse-persistence must not depend on the framework actix-web")), "{found:?}");
    assert!(
        found
            .iter()
            .any(|v| v.contains("gatehouse-upstream must not depend on the framework actix-web")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v == "gatehouse-mail must not depend on gatehouse-security"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v == "gatehouse-pages must not depend on gatehouse-api"),
        "{found:?}"
    );
}
