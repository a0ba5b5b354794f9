//! The use cases of the authorization code flow: registering clients, judging an
//! authorization request, issuing a code to a signed-in person, and exchanging it for
//! tokens (with PKCE and, under `openid`, an ID token).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::client::{
    Client, ClientId, ClientKind, ClientName, MAX_REDIRECT_URIS, RedirectUri, RedirectUriError,
};
use super::code::{
    AuthorizationCode, CODE_LIFETIME, CodeChallenge, Nonce, State, is_code_verifier,
};
use super::ports::{
    AuthorizationCodeRepository, ClientRepository, IdClaims, IdTokenSigner, InsertClientError,
    Redemption,
};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::ports::TokenGrant;
use crate::ports::{
    AccessTokenService, OpaqueTokens, SessionRepository, TokenError, UserRepository,
};
use crate::scope::{Scope, ScopeSet};
use crate::session::{ClientInfo, Session, SessionId, SessionLifetimes};
use crate::user::User;

/// A client to register, as an operator typed it.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub id: String,
    pub name: String,
    /// A public client (SPA, native app) has no secret and must use PKCE.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    /// May introspect tokens (an API that accepts gatehouse's tokens).
    pub resource_server: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterClientError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error("a client with this id exists")]
    IdTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID
/// Connect Core §3.1.2.1), as the browser sent them.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    /// `none`, `login`, `consent` and/or `select_account`, space-separated.
    pub prompt: Option<String>,
    /// Seconds since the person last signed in beyond which they must sign in again.
    pub max_age: Option<String>,
    /// Who the app thinks is signing in (an email): filled in on the sign-in page.
    pub login_hint: Option<String>,
    /// An ID token issued earlier, naming who should be signed in.
    pub id_token_hint: Option<String>,
    /// Request objects (not supported: refused with the errors OpenID Connect names).
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub registration: Option<String>,
    /// A parameter that was sent more than once (RFC 6749 §3.1 forbids it).
    pub repeated: Option<String>,
}

/// What `prompt` asks for (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show nothing: answer at once, or with the error that says what the person would
    /// have had to do (`login_required`, `consent_required`).
    pub none: bool,
    /// Sign in again, even with a session (`login`, and `select_account`, since a browser
    /// holds one account: signing in again is how another is chosen).
    pub login: bool,
    /// Ask for consent, even for a first-party app.
    pub consent: bool,
}

impl Prompt {
    fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut prompt = Prompt::default();
        for value in raw.split_ascii_whitespace() {
            match value {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => {
                    return Err("`prompt` takes `none`, `login`, `consent` or `select_account`.");
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err("`prompt=none` cannot be combined with another value.");
        }
        Ok(prompt)
    }
}

/// Where an authorization request goes next, for the browser that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// The person must sign in (again), then come back with the request.
    SignIn,
    /// The person is asked whether the app may have what it asks for.
    Consent,
    /// A code is issued now ([`OAuthService::issue_code`]).
    Issue,
    /// `prompt=none`, and the person would have had to act: the error goes back to the
    /// client at `location`.
    Refused { location: String },
}

/// A valid authorization request, waiting for the person to sign in (and consent).
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Client,
    /// The redirect URI as sent, which names a registered one.
    pub redirect_uri: String,
    /// The scopes asked for (`None`: the role's defaults), known names only.
    pub scope: Option<ScopeSet>,
    pub state: Option<State>,
    pub code_challenge: Option<CodeChallenge>,
    pub nonce: Option<Nonce>,
    pub prompt: Prompt,
    /// Seconds: a sign-in longer ago than this must be repeated.
    pub max_age: Option<u32>,
    /// The email to fill in on the sign-in page.
    pub login_hint: Option<String>,
    /// The user a valid `id_token_hint` names.
    pub hinted_user: Option<crate::user::UserId>,
}

/// Why an authorization request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted, so the answer must not go to it
    /// (RFC 6749 §4.1.2.1): the person is told instead.
    #[error("{0}")]
    Unredirectable(String),
    /// Sent back to the client at `location`, which carries `error`, `error_description`,
    /// `state` and `iss`.
    #[error("{error}: {description}")]
    Redirect {
        location: String,
        error: &'static str,
        description: String,
    },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// How a client authenticated at the token endpoint, as sent (RFC 6749 §2.3.1).
#[derive(Debug, Default)]
pub struct ClientCredentials {
    pub id: Option<String>,
    pub secret: Option<SecretString>,
}

/// A `grant_type=authorization_code` request.
#[derive(Debug)]
pub struct CodeExchange {
    pub code: SecretString,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<SecretString>,
    pub client: ClientCredentials,
}

/// Tokens from a code, with an ID token under `openid`.
#[derive(Debug)]
pub struct CodeGrant {
    pub tokens: TokenGrant,
    pub id_token: Option<SecretString>,
}

/// Why a code exchange (or client authentication) was refused; each is an RFC 6749 §5.2
/// error.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Unknown client, wrong or missing secret, a secret from a public client.
    #[error("client authentication failed")]
    InvalidClient,
    /// The code is unknown, used, expired, another client's, for another redirect URI, or
    /// its PKCE verifier does not match; or its user can no longer sign in.
    #[error("invalid authorization code: {0}")]
    InvalidGrant(&'static str),
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// An RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0 §2), as sent.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What a logout request asks for, once judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    /// The user a valid `id_token_hint` names: the browser may be signed out without asking.
    pub hinted_user: Option<crate::user::UserId>,
    /// Where to send the browser afterwards: a registered post-logout URI, with `state`.
    pub redirect: Option<String>,
}

/// Why a logout request was refused (shown to the person; nothing is redirected).
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Deployment choices of the flow.
#[derive(Debug, Clone)]
pub struct OAuthPolicy {
    /// The issuer identifier (`server.public_url`), sent as `iss` with every code.
    pub issuer: String,
    pub sessions: SessionLifetimes,
    /// Clients defined by the deployment rather than registered (Swagger UI's): found like
    /// registered ones, never stored, listed, replaced or removed.
    pub built_in: Vec<Client>,
    pub mfa: crate::mfa::MfaPolicy,
}

/// The adapters the flow runs on.
#[derive(Clone)]
pub struct OAuthPorts {
    pub clients: Arc<dyn ClientRepository>,
    pub codes: Arc<dyn AuthorizationCodeRepository>,
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub tokens: Arc<dyn AccessTokenService>,
    pub id_tokens: Arc<dyn IdTokenSigner>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub clock: Arc<dyn Clock>,
    pub audit: Audit,
}

#[derive(Clone)]
pub struct OAuthService {
    ports: OAuthPorts,
    policy: OAuthPolicy,
}

impl OAuthService {
    pub fn new(ports: OAuthPorts, policy: OAuthPolicy) -> Self {
        Self { ports, policy }
    }

    pub fn issuer(&self) -> &str {
        &self.policy.issuer
    }

    /// Whether `openid` can be granted: ID tokens need an asymmetric signing key.
    pub fn signs_id_tokens(&self) -> bool {
        self.ports.id_tokens.signs_id_tokens()
    }

    /// Registers a client. A confidential client's secret is returned once and stored
    /// only as its digest.
    pub async fn register_client(
        &self,
        input: NewClient,
    ) -> Result<(Client, Option<SecretString>), RegisterClientError> {
        let mut errors = ValidationErrors::new();
        let id = errors.check("id", ClientId::parse(&input.id));
        let name = errors.check("name", ClientName::parse(&input.name));
        let redirect_uris = errors.check("redirect_uris", uris(&input.redirect_uris, true));
        let post_logout = errors.check(
            "post_logout_redirect_uris",
            uris(&input.post_logout_redirect_uris, false),
        );
        if input.public && input.resource_server {
            errors.add(
                "resource_server",
                "a resource server authenticates to introspect: it must be confidential, not public",
            );
        }
        let (Some(id), Some(name), Some(redirect_uris), Some(post_logout_redirect_uris)) =
            (id, name, redirect_uris, post_logout)
        else {
            return Err(RegisterClientError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(RegisterClientError::Invalid(errors));
        }
        if self.built_in(id.as_str()).is_some() {
            return Err(RegisterClientError::IdTaken);
        }
        let secret = (!input.public).then(|| self.ports.opaque.generate());
        let kind = match &secret {
            Some(secret) => ClientKind::Confidential {
                secret: self.ports.opaque.digest(secret),
            },
            None => ClientKind::Public,
        };
        let client = Client {
            id,
            name,
            kind,
            redirect_uris,
            post_logout_redirect_uris,
            first_party: input.first_party,
            resource_server: input.resource_server,
            created_at: self.ports.clock.now_stored(),
        };
        match self.ports.clients.insert(&client).await {
            Ok(()) => {
                tracing::info!(client_id = %client.id, kind = client.kind.as_str(), "client registered");
                Ok((client, secret))
            }
            Err(InsertClientError::IdTaken) => Err(RegisterClientError::IdTaken),
            Err(InsertClientError::Repository(error)) => Err(error.into()),
        }
    }

    /// Every registered client (not the built-in ones).
    pub async fn clients(&self) -> Result<Vec<Client>, RepositoryError> {
        self.ports.clients.list().await
    }

    /// The registered client with this id (an id of the wrong shape is none).
    pub async fn registered_client(&self, id: &str) -> Result<Option<Client>, RepositoryError> {
        match ClientId::parse(id) {
            Ok(id) => self.ports.clients.find(&id).await,
            Err(_) => Ok(None),
        }
    }

    /// The client with this id, built-in or registered.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, RepositoryError> {
        if let Some(client) = self.built_in(id) {
            return Ok(Some(client.clone()));
        }
        self.registered_client(id).await
    }

    fn built_in(&self, id: &str) -> Option<&Client> {
        self.policy.built_in.iter().find(|c| c.id.as_str() == id)
    }

    /// Removes a client: its codes go with it and its sessions are revoked at once.
    /// Returns whether it existed.
    pub async fn remove_client(&self, id: &str) -> Result<bool, RepositoryError> {
        let Ok(id) = ClientId::parse(id) else {
            return Ok(false);
        };
        if self.built_in(id.as_str()).is_some() {
            return Ok(false);
        }
        let revoked = self
            .ports
            .sessions
            .revoke_client(&id, self.ports.clock.now())
            .await?;
        let removed = self.ports.clients.delete(&id).await?;
        if removed {
            tracing::info!(client_id = %id, sessions_revoked = revoked, "client removed");
        }
        Ok(removed)
    }

    /// Judges an RP-initiated logout: the hint must be an ID token we signed, the client
    /// (named by the hint or `client_id`, which must agree) must be registered, and a
    /// `post_logout_redirect_uri` must be one it registered, exactly.
    pub async fn logout(&self, request: LogoutRequest) -> Result<Logout, LogoutError> {
        let hint = match request.id_token_hint.as_deref() {
            Some(token) => Some(self.ports.id_tokens.id_token_subject(token).ok_or(
                LogoutError::Invalid("The `id_token_hint` is not an ID token of this server."),
            )?),
            None => None,
        };
        let client_id = match (&hint, request.client_id.as_deref()) {
            (Some((_, aud)), Some(named)) if aud.as_str() != named => {
                return Err(LogoutError::Invalid(
                    "`client_id` differs from the audience of the `id_token_hint`.",
                ));
            }
            (Some((_, aud)), _) => Some(aud.as_str().to_owned()),
            (None, named) => named.map(str::to_owned),
        };
        let redirect = match request.post_logout_redirect_uri.as_deref() {
            None => None,
            Some(uri) => {
                let client = match client_id.as_deref() {
                    Some(id) => self.client(id).await?,
                    None => None,
                }
                .ok_or(LogoutError::Invalid(
                    "A `post_logout_redirect_uri` needs the client: send `id_token_hint` or `client_id`.",
                ))?;
                let registered =
                    client
                        .post_logout_redirect_uri(uri)
                        .ok_or(LogoutError::Invalid(
                            "The `post_logout_redirect_uri` is not one the client registered.",
                        ))?;
                let state = request.state.as_deref().and_then(|s| State::parse(s).ok());
                let mut url = Url::parse(registered.as_str())
                    .map_err(|_| LogoutError::Invalid("The registered URI cannot be used."))?;
                if let Some(state) = state {
                    url.query_pairs_mut().append_pair("state", state.as_str());
                }
                Some(url.into())
            }
        };
        Ok(Logout {
            hinted_user: hint.map(|(user, _)| user),
            redirect,
        })
    }

    /// Deletes codes that expired (redeemed or not); the housekeeping task calls it.
    pub async fn purge_codes(&self) -> Result<u64, RepositoryError> {
        self.ports.codes.purge(self.ports.clock.now()).await
    }

    /// Judges an authorization request. Client and redirect URI are checked first: until
    /// both are known good nothing is sent to the redirect URI.
    pub async fn authorize(
        &self,
        params: AuthorizeParams,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let unredirectable = |message: &str| Err(AuthorizeError::Unredirectable(message.into()));
        if let Some(name) = params
            .repeated
            .as_deref()
            .filter(|name| matches!(*name, "client_id" | "redirect_uri"))
        {
            return unredirectable(&format!("The parameter `{name}` was sent more than once."));
        }
        let Some(client_id) = params.client_id.as_deref() else {
            return unredirectable("The request names no client (`client_id` is missing).");
        };
        let Some(client) = self.client(client_id).await? else {
            return unredirectable("The request names a client that is not registered.");
        };
        let Some(redirect_uri) = params.redirect_uri.clone() else {
            return unredirectable("The request has no `redirect_uri`.");
        };
        if client.redirect_uri(&redirect_uri).is_none() {
            return unredirectable(
                "The `redirect_uri` is not one the client registered, so the answer cannot be sent back to it.",
            );
        }
        // From here on errors go back to the client, with its state if the state is sane.
        let state = params.state.as_deref().and_then(|s| State::parse(s).ok());
        let refuse = |error: &'static str, description: &str| {
            Err(AuthorizeError::Redirect {
                location: self.redirect(
                    &redirect_uri,
                    &[("error", error), ("error_description", description)],
                    state.as_ref(),
                ),
                error,
                description: description.to_owned(),
            })
        };
        if let Some(name) = &params.repeated {
            return refuse(
                "invalid_request",
                &format!("The parameter `{name}` was sent more than once."),
            );
        }
        if params.state.is_some() && state.is_none() {
            return refuse(
                "invalid_request",
                "`state` must be 1 to 1000 printable characters.",
            );
        }
        match params.response_type.as_deref() {
            Some("code") => {}
            None => return refuse("invalid_request", "`response_type` is missing."),
            Some(_) => {
                return refuse(
                    "unsupported_response_type",
                    "Only `response_type=code` is supported.",
                );
            }
        }
        // Request objects are not supported: OpenID Connect Core §6 names the errors.
        if params.request.is_some() {
            return refuse(
                "request_not_supported",
                "Request objects (`request`) are not supported: send the parameters themselves.",
            );
        }
        if params.request_uri.is_some() {
            return refuse(
                "request_uri_not_supported",
                "`request_uri` is not supported: send the parameters themselves.",
            );
        }
        if params.registration.is_some() {
            return refuse(
                "registration_not_supported",
                "`registration` is not supported: clients are registered by an administrator.",
            );
        }
        let scope = match params.scope.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match ScopeSet::parse(raw) {
                Ok(scopes) => Some(scopes),
                // Under `openid`, scope values the server does not know are ignored
                // (OpenID Connect Core §3.1.2.1: `address`, `phone`, `offline_access`…).
                Err(_)
                    if raw
                        .split_ascii_whitespace()
                        .any(|s| s == Scope::OpenId.as_str()) =>
                {
                    Some(ScopeSet::parse_granted(raw))
                }
                Err(error) => return refuse("invalid_scope", &error.to_string()),
            },
        };
        if !client.first_party
            && let Some(scope) = scope
                .as_ref()
                .and_then(|asked| asked.iter().find(|s| !s.third_parties_may_hold()))
        {
            return refuse(
                "invalid_scope",
                &format!(
                    "The scope `{scope}` reads or manages the account itself: only first-party apps may ask for it."
                ),
            );
        }
        let prompt = match params.prompt.as_deref().map(Prompt::parse).transpose() {
            Ok(prompt) => prompt.unwrap_or_default(),
            Err(description) => return refuse("invalid_request", description),
        };
        let max_age = match params.max_age.as_deref().map(str::parse::<u32>).transpose() {
            Ok(max_age) => max_age,
            Err(_) => {
                return refuse(
                    "invalid_request",
                    "`max_age` must be a whole number of seconds.",
                );
            }
        };
        let hinted_user = match params.id_token_hint.as_deref() {
            None => None,
            Some(hint) => match self.ports.id_tokens.id_token_subject(hint) {
                Some((user, _)) => Some(user),
                None => {
                    return refuse(
                        "invalid_request",
                        "The `id_token_hint` is not an ID token of this server.",
                    );
                }
            },
        };
        let login_hint = params
            .login_hint
            .filter(|hint| hint.len() <= 254 && !hint.chars().any(char::is_control));
        if scope.as_ref().is_some_and(|s| s.contains(Scope::OpenId)) && !self.signs_id_tokens() {
            return refuse(
                "invalid_scope",
                "This server signs tokens with a shared secret (HS256), so it issues no ID tokens: `openid` needs `jwt.algorithm` EdDSA or RS256.",
            );
        }
        let code_challenge = match (
            params.code_challenge.as_deref(),
            params.code_challenge_method.as_deref(),
        ) {
            (None, None) if client.is_public() => {
                return refuse(
                    "invalid_request",
                    "Public clients must use PKCE: send `code_challenge` and `code_challenge_method=S256`.",
                );
            }
            (None, None) => None,
            (Some(challenge), Some("S256")) => match CodeChallenge::parse(challenge) {
                Ok(challenge) => Some(challenge),
                Err(error) => {
                    return refuse("invalid_request", &format!("`code_challenge` {error}."));
                }
            },
            (Some(_), None | Some("plain")) | (None, Some(_)) => {
                return refuse(
                    "invalid_request",
                    "PKCE needs both `code_challenge` and `code_challenge_method=S256` (`plain` is not accepted).",
                );
            }
            (Some(_), Some(_)) => {
                return refuse("invalid_request", "`code_challenge_method` must be `S256`.");
            }
        };
        let nonce = match params.nonce.as_deref().map(Nonce::parse).transpose() {
            Ok(nonce) => nonce,
            Err(error) => return refuse("invalid_request", &format!("`nonce` {error}.")),
        };
        Ok(AuthorizeRequest {
            client,
            redirect_uri,
            scope,
            state,
            code_challenge,
            nonce,
            prompt,
            max_age,
            login_hint,
            hinted_user,
        })
    }

    /// Where `request` goes next for a browser signed in as `browser` (or not at all): a
    /// sign-in when there is none, it is someone else than `id_token_hint` names, older
    /// than `max_age`, or `prompt=login` asks for one; then consent for a third-party app
    /// (or `prompt=consent`); else a code. Under `prompt=none` a step that needs the person
    /// is the error OpenID Connect names for it.
    pub fn next_step(&self, request: &AuthorizeRequest, browser: Option<&Session>) -> NextStep {
        let now = self.ports.clock.now();
        let fresh = browser.filter(|session| {
            !request.prompt.login
                && request
                    .hinted_user
                    .is_none_or(|user| user == session.user_id)
                && request.max_age.is_none_or(|max_age| {
                    (now - session.authenticated_at).num_seconds() <= i64::from(max_age)
                })
        });
        let (needed, error, description) = if fresh.is_none() {
            (
                NextStep::SignIn,
                "login_required",
                "The person must sign in (`prompt=none` forbids asking).",
            )
        } else if !request.client.first_party || request.prompt.consent {
            (
                NextStep::Consent,
                "consent_required",
                "The person must consent (`prompt=none` forbids asking).",
            )
        } else {
            return NextStep::Issue;
        };
        if request.prompt.none {
            return NextStep::Refused {
                location: self.redirect(
                    &request.redirect_uri,
                    &[("error", error), ("error_description", description)],
                    request.state.as_ref(),
                ),
            };
        }
        needed
    }

    /// The scopes a code for `request` would grant `user`, signed in as `browser`: those
    /// asked for, each allowed for the role (`Err` names the first that is not); without
    /// `scope`, all the role's for a first-party app and nothing for a third-party one (it
    /// is registered for no scope of the account's).
    pub fn scopes_to_grant(
        &self,
        request: &AuthorizeRequest,
        browser: &Session,
        user: &User,
    ) -> Result<ScopeSet, Scope> {
        let role = self.policy.mfa.scope_role(user.role, browser.amr);
        match &request.scope {
            None if request.client.first_party => Ok(ScopeSet::all_for(role)),
            None => Ok(ScopeSet::default()),
            Some(asked) => match asked.iter().find(|scope| !scope.allowed_for(role)) {
                Some(scope) => Err(scope),
                None => Ok(asked.clone()),
            },
        }
    }

    /// The answer to a request the person refused on the consent page.
    pub fn denied(&self, request: &AuthorizeRequest) -> String {
        self.redirect(
            &request.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The person declined to grant access."),
            ],
            request.state.as_ref(),
        )
    }

    /// Issues a code for `user`, signed in through `browser`, and returns where to send
    /// the browser with it. A scope the user's role does not allow is refused there.
    pub async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        browser: &Session,
        user: &User,
    ) -> Result<String, AuthorizeError> {
        let scopes = match self.scopes_to_grant(request, browser, user) {
            Ok(scopes) => scopes,
            Err(scope) => {
                let description = format!("This account may not hold the scope `{scope}`.");
                return Err(AuthorizeError::Redirect {
                    location: self.redirect(
                        &request.redirect_uri,
                        &[
                            ("error", "invalid_scope"),
                            ("error_description", &description),
                        ],
                        request.state.as_ref(),
                    ),
                    error: "invalid_scope",
                    description,
                });
            }
        };
        let now = self.ports.clock.now_stored();
        let code = AuthorizationCode {
            client_id: request.client.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            user_id: user.id,
            scopes,
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            session_id: SessionId::generate(),
            browser_session_id: browser.id,
            credential_version: user.credential_version,
            auth_time: browser.authenticated_at,
            amr: browser.amr,
            expires_at: now + CODE_LIFETIME,
        };
        let secret = self.ports.opaque.generate();
        self.ports
            .codes
            .insert(&self.ports.opaque.digest(&secret), &code)
            .await?;
        tracing::info!(client_id = %code.client_id, user_id = %user.id, "authorization code issued");
        Ok(self.redirect(
            &request.redirect_uri,
            &[("code", secret.expose_secret())],
            request.state.as_ref(),
        ))
    }

    /// Authenticates the client of a token-endpoint request: a confidential client by its
    /// secret, a public client by its id alone (and it must not send a secret).
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Client, ExchangeError> {
        let Some(id) = credentials.id.as_deref() else {
            return Err(ExchangeError::InvalidClient);
        };
        let Some(client) = self.client(id).await? else {
            return Err(ExchangeError::InvalidClient);
        };
        match (&client.kind, &credentials.secret) {
            (ClientKind::Public, None) => Ok(client),
            (ClientKind::Confidential { secret }, Some(given))
                if self.ports.opaque.digest(given) == *secret =>
            {
                Ok(client)
            }
            _ => Err(ExchangeError::InvalidClient),
        }
    }

    /// The `authorization_code` grant. The code is redeemed before anything else is
    /// judged, so it is spent whatever the outcome; a code presented a second time
    /// revokes the session its first exchange opened.
    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        exchange: CodeExchange,
        caller: ClientInfo,
    ) -> Result<CodeGrant, ExchangeError> {
        let client = self.authenticate_client(&exchange.client).await?;
        let now = self.ports.clock.now();
        let digest = self.ports.opaque.digest(&exchange.code);
        let code = match self.ports.codes.redeem(&digest, now).await? {
            Redemption::Redeemed(code) => code,
            Redemption::Replayed(code) => {
                self.revoke_replayed(&code, &caller, now).await?;
                return Err(ExchangeError::InvalidGrant("the code was already used"));
            }
            Redemption::Unknown => return Err(ExchangeError::InvalidGrant("unknown code")),
        };
        if code.client_id != client.id {
            return Err(ExchangeError::InvalidGrant(
                "the code belongs to another client",
            ));
        }
        if now >= code.expires_at {
            return Err(ExchangeError::InvalidGrant("the code has expired"));
        }
        if exchange.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
            return Err(ExchangeError::InvalidGrant(
                "`redirect_uri` differs from the authorization request's",
            ));
        }
        self.check_verifier(&code, exchange.code_verifier.as_ref())?;
        let user = match self.ports.users.find_by_id(code.user_id).await? {
            Some(user) if user.is_active && user.credential_version == code.credential_version => {
                user
            }
            _ => {
                return Err(ExchangeError::InvalidGrant(
                    "the account can no longer sign in",
                ));
            }
        };
        let browser_live = self
            .ports
            .sessions
            .find(code.browser_session_id)
            .await?
            .is_some_and(|session| session.is_live(now));
        if !browser_live {
            return Err(ExchangeError::InvalidGrant("the sign-in has ended"));
        }
        // The role may have changed since the code was issued.
        let scopes: ScopeSet = code
            .scopes
            .iter()
            .filter(|scope| scope.allowed_for(self.policy.mfa.scope_role(user.role, code.amr)))
            .collect();
        let session = Session::start(&user, scopes.clone(), caller, self.policy.sessions, now)
            .for_client(code.session_id, client.id.clone())
            .with_amr(code.amr)
            .authenticated_at(code.auth_time);
        let refresh = self.ports.opaque.generate();
        self.ports
            .sessions
            .create(&session, &self.ports.opaque.digest(&refresh))
            .await?;
        // A replay that raced this exchange may have found no session to end yet.
        if self.ports.codes.replayed(&digest).await? {
            self.ports.sessions.revoke(user.id, session.id, now).await?;
            return Err(ExchangeError::InvalidGrant("the code was already used"));
        }
        let access = self
            .ports
            .tokens
            .issue(&user, &session, scopes.clone(), now)?;
        let id_token = if scopes.contains(Scope::OpenId) {
            let claims = self.id_claims(
                &user,
                &client,
                &code,
                &scopes,
                &access.claims.expires_at,
                now,
            );
            Some(self.ports.id_tokens.sign_id_token(&claims, &access.token)?)
        } else {
            None
        };
        self.ports
            .audit
            .record(
                AuditKind::LoginSucceeded,
                Some(user.id),
                None,
                &session.client,
                Some(format!("authorization code for client {}", client.id)),
            )
            .await;
        tracing::info!(event = "login_succeeded", user_id = %user.id, session_id = %session.id, client_id = %client.id, "authorization code exchanged: session started");
        Ok(CodeGrant {
            tokens: TokenGrant { access, refresh },
            id_token,
        })
    }

    fn check_verifier(
        &self,
        code: &AuthorizationCode,
        verifier: Option<&SecretString>,
    ) -> Result<(), ExchangeError> {
        match (&code.code_challenge, verifier) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(ExchangeError::InvalidGrant(
                "a `code_verifier` was sent for a code issued without PKCE",
            )),
            (Some(_), None) => Err(ExchangeError::InvalidGrant("`code_verifier` is missing")),
            (Some(challenge), Some(verifier)) => {
                let verifier = verifier.expose_secret();
                if is_code_verifier(verifier)
                    && self.ports.opaque.s256_challenge(verifier) == challenge.as_str()
                {
                    Ok(())
                } else {
                    Err(ExchangeError::InvalidGrant(
                        "the `code_verifier` does not match the challenge",
                    ))
                }
            }
        }
    }

    async fn revoke_replayed(
        &self,
        code: &AuthorizationCode,
        caller: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        self.ports
            .sessions
            .revoke(code.user_id, code.session_id, now)
            .await?;
        self.ports
            .audit
            .record(
                AuditKind::AuthorizationCodeReplayed,
                Some(code.user_id),
                None,
                caller,
                Some(format!("session {} revoked", code.session_id)),
            )
            .await;
        tracing::warn!(event = "authorization_code_replayed", session_id = %code.session_id, client_id = %code.client_id, "authorization code replayed: its session revoked");
        Ok(())
    }

    fn id_claims(
        &self,
        user: &User,
        client: &Client,
        code: &AuthorizationCode,
        scopes: &ScopeSet,
        expires_at: &DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> IdClaims {
        IdClaims {
            subject: user.id,
            audience: client.id.clone(),
            issued_at: now,
            expires_at: *expires_at,
            auth_time: code.auth_time,
            nonce: code.nonce.as_ref().map(|n| n.as_str().to_owned()),
            amr: code.amr.methods().to_vec(),
            email: scopes
                .contains(Scope::EmailAddress)
                .then(|| (user.email.as_str().to_owned(), user.is_verified)),
            name: scopes
                .contains(Scope::Profile)
                .then(|| user.full_name.as_ref().map(|n| n.as_str().to_owned())),
        }
    }

    /// `uri` (a redirect URI that matched a registered one) with `params`, `state` and
    /// `iss` (RFC 9207) added to its query.
    fn redirect(&self, uri: &str, params: &[(&str, &str)], state: Option<&State>) -> String {
        let Ok(mut url) = Url::parse(uri) else {
            // Unreachable: only URIs that matched a registered, parsed one get here.
            return uri.to_owned();
        };
        {
            let mut query = url.query_pairs_mut();
            query.extend_pairs(params);
            if let Some(state) = state {
                query.append_pair("state", state.as_str());
            }
            query.append_pair("iss", &self.policy.issuer);
        }
        url.into()
    }
}

#[async_trait::async_trait]
impl crate::reauth::ClientTrust for OAuthService {
    async fn is_first_party(&self, client: &ClientId) -> Result<bool, RepositoryError> {
        Ok(self
            .client(client.as_str())
            .await?
            .is_some_and(|client| client.first_party))
    }
}

#[derive(Debug, thiserror::Error)]
enum UriListError {
    #[error("must list at least one URI")]
    Empty,
    #[error("must list at most {MAX_REDIRECT_URIS} URIs")]
    TooMany,
    #[error("entry {0} {1}")]
    Invalid(usize, RedirectUriError),
}

fn uris(raw: &[String], required: bool) -> Result<Vec<RedirectUri>, UriListError> {
    if required && raw.is_empty() {
        return Err(UriListError::Empty);
    }
    if raw.len() > MAX_REDIRECT_URIS {
        return Err(UriListError::TooMany);
    }
    raw.iter()
        .enumerate()
        .map(|(i, uri)| RedirectUri::parse(uri).map_err(|e| UriListError::Invalid(i + 1, e)))
        .collect()
}
