//! The `[upstream.<id>]` settings as the upstream adapter's provider configurations: the
//! kinds' defaults (Google's issuer, GitHub's endpoints, the scopes), the client secret
//! from the settings or its file. A provider whose settings are wrong is kept, with the
//! reason, and shown unavailable: it never stops the server.

use std::time::Duration;

use gatehouse_domain::upstream::ProviderId;
use gatehouse_upstream::{GOOGLE_ISSUER, Protocol, ProviderConfig, Upstreams, github};
use secrecy::SecretString;

use crate::settings::{Settings, UpstreamKind, UpstreamSettings};

/// Every configured provider, in the order of their ids.
pub fn providers(settings: &Settings) -> Upstreams {
    let configs = settings
        .upstream
        .iter()
        .filter_map(|(id, provider)| match ProviderId::parse(id) {
            Ok(id) => Some(config(id, provider)),
            Err(error) => {
                tracing::error!(provider = %id, %error, "upstream provider ignored: its id is not valid");
                None
            }
        })
        .collect();
    Upstreams::new(configs, &settings.server.public_url)
}

fn config(id: ProviderId, provider: &UpstreamSettings) -> ProviderConfig {
    let mut problems = Vec::new();
    let protocol = match provider.kind {
        UpstreamKind::Oidc => match &provider.issuer {
            Some(issuer) => Protocol::Oidc {
                issuer: issuer.clone(),
            },
            None => {
                problems.push("an `oidc` provider needs its `issuer`".to_owned());
                Protocol::Oidc {
                    issuer: String::new(),
                }
            }
        },
        UpstreamKind::Google => Protocol::Oidc {
            issuer: provider
                .issuer
                .clone()
                .unwrap_or_else(|| GOOGLE_ISSUER.to_owned()),
        },
        UpstreamKind::Github => Protocol::Github {
            authorization_url: provider
                .authorization_url
                .clone()
                .unwrap_or_else(|| github::AUTHORIZATION_URL.to_owned()),
            token_url: provider
                .token_url
                .clone()
                .unwrap_or_else(|| github::TOKEN_URL.to_owned()),
            api_url: provider
                .api_url
                .clone()
                .unwrap_or_else(|| github::API_URL.to_owned()),
        },
    };
    let client_secret = match (&provider.client_secret, &provider.client_secret_file) {
        (Some(secret), _) => Some(secret.clone()),
        (None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(text) => text
                .lines()
                .next()
                .map(|line| SecretString::from(line.trim().to_owned())),
            Err(error) => {
                problems.push(format!(
                    "its client_secret_file {} cannot be read: {error}",
                    file.display()
                ));
                None
            }
        },
        (None, None) => None,
    };
    let scopes = if provider.scopes.is_empty() {
        match provider.kind {
            UpstreamKind::Github => vec!["read:user".into(), "user:email".into()],
            _ => vec!["openid".into(), "email".into(), "profile".into()],
        }
    } else {
        provider.scopes.clone()
    };
    let name = provider
        .name
        .clone()
        .unwrap_or_else(|| match provider.kind {
            UpstreamKind::Google => "Google".into(),
            UpstreamKind::Github => "GitHub".into(),
            UpstreamKind::Oidc => id.to_string(),
        });
    ProviderConfig {
        id,
        name,
        protocol,
        client_id: provider.client_id.clone(),
        client_secret,
        scopes,
        allow_signup: provider.allow_signup,
        allowed_email_domains: provider
            .allowed_email_domains
            .iter()
            .map(|domain| domain.trim().to_lowercase())
            .collect(),
        timeout: Duration::from_secs(provider.timeout_secs.clamp(1, 60).into()),
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}
