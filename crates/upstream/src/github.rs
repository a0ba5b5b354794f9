//! GitHub, which is not an OpenID Connect provider: OAuth 2.0 with PKCE and state, then its
//! API for who signed in (`/user`) and their addresses (`/user/emails`); only a verified,
//! primary address counts.

use gatehouse_domain::upstream::{Asserted, Callback, FlowSecrets, UpstreamError};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::http::Http;
use crate::oidc::chain;

/// GitHub's endpoints (github.com's unless the settings name GitHub Enterprise Server's).
pub const AUTHORIZATION_URL: &str = "https://github.com/login/oauth/authorize";
pub const TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
pub const API_URL: &str = "https://api.github.com";

pub struct Github {
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    authorization: AuthUrl,
    token: TokenUrl,
    api: url::Url,
    scopes: Vec<String>,
    redirect: RedirectUrl,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Address {
    email: String,
    primary: bool,
    verified: bool,
}

macro_rules! client {
    ($github:expr) => {{
        let client = BasicClient::new($github.client_id.clone())
            .set_auth_uri($github.authorization.clone())
            .set_token_uri($github.token.clone())
            .set_redirect_uri($github.redirect.clone());
        match &$github.client_secret {
            Some(secret) => client.set_client_secret(secret.clone()),
            None => client,
        }
    }};
}

impl Github {
    pub fn new(
        client_id: &str,
        client_secret: Option<&SecretString>,
        urls: (&str, &str, &str),
        scopes: Vec<String>,
        redirect: RedirectUrl,
    ) -> Result<Self, String> {
        let (authorization, token, api) = urls;
        let bad = |what: &str, url: &str| format!("the {what} `{url}` is not a URL");
        Ok(Self {
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: client_secret
                .map(|secret| ClientSecret::new(secret.expose_secret().to_owned())),
            authorization: AuthUrl::new(authorization.to_owned())
                .map_err(|_| bad("authorization URL", authorization))?,
            token: TokenUrl::new(token.to_owned()).map_err(|_| bad("token URL", token))?,
            api: url::Url::parse(&format!("{}/", api.trim_end_matches('/')))
                .map_err(|_| bad("API URL", api))?,
            scopes,
            redirect,
        })
    }

    /// With `fresh`, GitHub is asked to show its account picker (it has no way to ask for
    /// the password again).
    pub fn authorization_url(&self, flow: &FlowSecrets, fresh: bool) -> url::Url {
        let client = client!(self);
        let state = flow.state.expose_secret().to_owned();
        let mut request = client.authorize_url(move || CsrfToken::new(state));
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if fresh {
            request = request.add_extra_param("prompt", "select_account");
        }
        let verifier = PkceCodeVerifier::new(flow.pkce_verifier.expose_secret().to_owned());
        let (url, _) = request
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();
        url
    }

    pub async fn complete(
        &self,
        http: &Http,
        callback: &Callback,
        flow: &FlowSecrets,
    ) -> Result<Asserted, UpstreamError> {
        if let Some(iss) = &callback.iss {
            let ours = self.authorization.url().origin().ascii_serialization();
            if !iss.starts_with(&ours) {
                return Err(UpstreamError::Refused(format!(
                    "the answer's iss `{iss}` is not GitHub's (a mix-up)"
                )));
            }
        }
        let client = client!(self);
        let token = client
            .exchange_code(AuthorizationCode::new(
                callback.code.expose_secret().to_owned(),
            ))
            .set_pkce_verifier(PkceCodeVerifier::new(
                flow.pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(answer) => UpstreamError::Refused(format!(
                    "the token endpoint refused the code: {}",
                    answer.error()
                )),
                RequestTokenError::Request(error) => UpstreamError::Unavailable(format!(
                    "the token endpoint could not be reached: {}",
                    chain(&error)
                )),
                other => UpstreamError::Refused(format!(
                    "the token endpoint's answer: {}",
                    chain(&other)
                )),
            })?;
        let bearer = token.access_token().secret();
        let api = |path: &str| {
            self.api
                .join(path)
                .map_err(|e| UpstreamError::Unavailable(e.to_string()))
        };
        let user: User = http
            .get_json(&api("user")?, bearer)
            .await
            .map_err(UpstreamError::Unavailable)?;
        let addresses: Vec<Address> = http
            .get_json(&api("user/emails")?, bearer)
            .await
            .map_err(UpstreamError::Unavailable)?;
        let email = addresses
            .into_iter()
            .find(|address| address.primary && address.verified)
            .map(|address| address.email);
        Ok(Asserted {
            subject: user.id.to_string(),
            email_verified: email.is_some(),
            email,
            name: user.name.or(Some(user.login)),
        })
    }
}
