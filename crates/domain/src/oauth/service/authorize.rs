//! The authorization endpoint's use cases: judging a request (RFC 6749 §4.1.1, PKCE,
//! OpenID Connect's `prompt`, `max_age` and hints), deciding the next step for the browser,
//! and issuing a code, or the error, to the client's redirect URI.

use super::*;

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
    /// The registered APIs the app wants a token for (RFC 8707 `resource`, the one
    /// parameter that may repeat).
    pub resources: Vec<String>,
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
    /// The registered APIs asked for with `resource`, each once.
    pub resources: Vec<ResourceAsked>,
}

/// How many `resource`s one authorization request may name.
pub const MAX_RESOURCES: usize = 10;

/// A registered API an authorization request names (RFC 8707), and its scopes.
#[derive(Debug, Clone)]
pub struct ResourceAsked {
    pub api: crate::apis::RegisteredApi,
    /// The scopes the client may ask for there.
    pub client_may: Vec<crate::apis::ScopeName>,
    /// Those `scope` names; `None`: none named, so all the client may ask for.
    pub asked: Option<Vec<crate::apis::ScopeName>>,
}

/// The `error` codes an authorization response carries back to the client (RFC 6749
/// §4.1.2.1, OpenID Connect Core §3.1.2.6 and §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnsupportedResponseType,
    InvalidScope,
    /// A `resource` the client may not ask for (RFC 8707 §2).
    InvalidTarget,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
        error: ErrorCode,
        description: String,
    },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl OAuthService {
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
        let refuse = |error: ErrorCode, description: &str| {
            Err(AuthorizeError::Redirect {
                location: self.redirect(
                    &redirect_uri,
                    &[
                        ("error", error.as_str()),
                        ("error_description", description),
                    ],
                    state.as_ref(),
                ),
                error,
                description: description.to_owned(),
            })
        };
        if let Some(name) = &params.repeated {
            return refuse(
                ErrorCode::InvalidRequest,
                &format!("The parameter `{name}` was sent more than once."),
            );
        }
        if params.state.is_some() && state.is_none() {
            return refuse(
                ErrorCode::InvalidRequest,
                "`state` must be 1 to 1000 printable characters.",
            );
        }
        match params.response_type.as_deref() {
            Some("code") => {}
            None => return refuse(ErrorCode::InvalidRequest, "`response_type` is missing."),
            Some(_) => {
                return refuse(
                    ErrorCode::UnsupportedResponseType,
                    "Only `response_type=code` is supported.",
                );
            }
        }
        // Request objects are not supported: OpenID Connect Core §6 names the errors.
        if params.request.is_some() {
            return refuse(
                ErrorCode::RequestNotSupported,
                "Request objects (`request`) are not supported: send the parameters themselves.",
            );
        }
        if params.request_uri.is_some() {
            return refuse(
                ErrorCode::RequestUriNotSupported,
                "`request_uri` is not supported: send the parameters themselves.",
            );
        }
        if params.registration.is_some() {
            return refuse(
                ErrorCode::RegistrationNotSupported,
                "`registration` is not supported: clients are registered by an administrator.",
            );
        }
        if params.resources.len() > MAX_RESOURCES {
            return refuse(
                ErrorCode::InvalidTarget,
                &format!("Name at most {MAX_RESOURCES} `resource`s."),
            );
        }
        let mut named: Vec<(crate::apis::RegisteredApi, Vec<crate::apis::ScopeName>)> = Vec::new();
        for identifier in &params.resources {
            match self.resource_asked(&client, identifier).await? {
                Ok((api, _)) if named.iter().any(|(known, _)| known.id == api.id) => {}
                Ok(found) => named.push(found),
                Err(description) => return refuse(ErrorCode::InvalidTarget, description),
            }
        }
        // With `resource`s, the scope names that are not gatehouse's are theirs: each goes
        // to every API named that the client may ask it of.
        let (own_scope, resources) = if named.is_empty() {
            (params.scope.clone(), Vec::new())
        } else {
            let names: Vec<&str> = params
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_ascii_whitespace()
                .collect();
            let openid = names.contains(&Scope::OpenId.as_str());
            let mut own = Vec::new();
            let mut asked: Vec<Vec<crate::apis::ScopeName>> = vec![Vec::new(); named.len()];
            for name in &names {
                if Scope::parse(name).is_ok() {
                    own.push(*name);
                    continue;
                }
                let mut anywhere = false;
                for ((_, client_may), theirs) in named.iter().zip(asked.iter_mut()) {
                    if let Some(scope) = client_may.iter().find(|s| s.as_str() == *name) {
                        anywhere = true;
                        if !theirs.contains(scope) {
                            theirs.push(scope.clone());
                        }
                    }
                }
                if !anywhere && !openid {
                    let shown: String = name.chars().take(64).collect();
                    return refuse(
                        ErrorCode::InvalidScope,
                        &format!(
                            "The client may not ask for the scope `{shown}` of the APIs named."
                        ),
                    );
                }
            }
            let resources = named
                .into_iter()
                .zip(asked)
                .map(|((api, client_may), theirs)| ResourceAsked {
                    api,
                    client_may,
                    asked: (!theirs.is_empty()).then_some(theirs),
                })
                .collect();
            (Some(own.join(" ")), resources)
        };
        let scope = match own_scope.as_deref().map(str::trim) {
            None => None,
            // With a `resource` and no scope of gatehouse's, the tokens are the APIs' alone.
            Some("") if !resources.is_empty() => Some(ScopeSet::default()),
            Some("") => None,
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
                Err(error) => return refuse(ErrorCode::InvalidScope, &error.to_string()),
            },
        };
        if !client.first_party
            && let Some(scope) = scope
                .as_ref()
                .and_then(|asked| asked.iter().find(|s| !s.third_parties_may_hold()))
        {
            return refuse(
                ErrorCode::InvalidScope,
                &format!(
                    "The scope `{scope}` reads or manages the account itself: only first-party apps may ask for it."
                ),
            );
        }
        let prompt = match params.prompt.as_deref().map(Prompt::parse).transpose() {
            Ok(prompt) => prompt.unwrap_or_default(),
            Err(description) => return refuse(ErrorCode::InvalidRequest, description),
        };
        let max_age = match params.max_age.as_deref().map(str::parse::<u32>).transpose() {
            Ok(max_age) => max_age,
            Err(_) => {
                return refuse(
                    ErrorCode::InvalidRequest,
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
                        ErrorCode::InvalidRequest,
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
                ErrorCode::InvalidScope,
                "This server signs tokens with a shared secret (HS256), so it issues no ID tokens: `openid` needs `jwt.algorithm` EdDSA or RS256.",
            );
        }
        let code_challenge = match (
            params.code_challenge.as_deref(),
            params.code_challenge_method.as_deref(),
        ) {
            (None, None) if client.is_public() => {
                return refuse(
                    ErrorCode::InvalidRequest,
                    "Public clients must use PKCE: send `code_challenge` and `code_challenge_method=S256`.",
                );
            }
            (None, None) => None,
            (Some(challenge), Some("S256")) => match CodeChallenge::parse(challenge) {
                Ok(challenge) => Some(challenge),
                Err(error) => {
                    return refuse(
                        ErrorCode::InvalidRequest,
                        &format!("`code_challenge` {error}."),
                    );
                }
            },
            (Some(_), None | Some("plain")) | (None, Some(_)) => {
                return refuse(
                    ErrorCode::InvalidRequest,
                    "PKCE needs both `code_challenge` and `code_challenge_method=S256` (`plain` is not accepted).",
                );
            }
            (Some(_), Some(_)) => {
                return refuse(
                    ErrorCode::InvalidRequest,
                    "`code_challenge_method` must be `S256`.",
                );
            }
        };
        let nonce = match params.nonce.as_deref().map(Nonce::parse).transpose() {
            Ok(nonce) => nonce,
            Err(error) => return refuse(ErrorCode::InvalidRequest, &format!("`nonce` {error}.")),
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
            resources,
        })
    }

    /// The registered API `identifier` names and the scopes `client` may ask for there, or
    /// why it cannot be asked for.
    async fn resource_asked(
        &self,
        client: &Client,
        identifier: &str,
    ) -> Result<
        Result<(crate::apis::RegisteredApi, Vec<crate::apis::ScopeName>), &'static str>,
        RepositoryError,
    > {
        if !self.ports.tokens.signs_for_apis() {
            return Ok(Err(
                "This server signs tokens with a shared secret (HS256): tokens for other APIs need `jwt.algorithm` EdDSA or RS256.",
            ));
        }
        let api = match crate::apis::ApiIdentifier::parse(identifier) {
            Ok(identifier) => self.ports.apis.find(&identifier).await?,
            Err(_) => None,
        };
        let Some(api) = api else {
            return Ok(Err("The `resource` is no registered API."));
        };
        let access = self
            .ports
            .clients
            .api_access(&client.id)
            .await?
            .into_iter()
            .find(|access| access.api == api.id);
        Ok(match access {
            Some(access) => Ok((api, access.scopes)),
            None => Err("The client may not ask for tokens for this `resource`."),
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
                ErrorCode::LoginRequired,
                "The person must sign in (`prompt=none` forbids asking).",
            )
        } else if !request.client.first_party || request.prompt.consent {
            (
                NextStep::Consent,
                ErrorCode::ConsentRequired,
                "The person must consent (`prompt=none` forbids asking).",
            )
        } else {
            return NextStep::Issue;
        };
        if request.prompt.none {
            return NextStep::Refused {
                location: self.redirect(
                    &request.redirect_uri,
                    &[
                        ("error", error.as_str()),
                        ("error_description", description),
                    ],
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

    /// What a code for `request` would grant `user` on the APIs it names: for each, the
    /// scopes asked for (or, none named, all the client may ask for), each one the role may
    /// hold (`Err` names the first asked for that it may not; unasked ones are left out).
    pub fn api_grants_to_grant(
        &self,
        request: &AuthorizeRequest,
        browser: &Session,
        user: &User,
    ) -> Result<Vec<crate::apis::ApiGrant>, crate::apis::ScopeName> {
        let role = self.policy.mfa.scope_role(user.role, browser.amr);
        let mut grants = Vec::with_capacity(request.resources.len());
        for resource in &request.resources {
            let may = |name: &crate::apis::ScopeName| {
                resource
                    .api
                    .scopes
                    .iter()
                    .any(|scope| scope.name == *name && scope.roles.contains(&role))
            };
            let scopes = match &resource.asked {
                Some(asked) => match asked.iter().find(|name| !may(name)) {
                    Some(refused) => return Err(refused.clone()),
                    None => asked.clone(),
                },
                None => resource
                    .client_may
                    .iter()
                    .filter(|n| may(n))
                    .cloned()
                    .collect(),
            };
            grants.push(crate::apis::ApiGrant {
                audience: resource.api.identifier.clone(),
                scopes,
            });
        }
        Ok(grants)
    }

    /// The answer to a request the person refused on the consent page.
    pub fn denied(&self, request: &AuthorizeRequest) -> String {
        self.redirect(
            &request.redirect_uri,
            &[
                ("error", ErrorCode::AccessDenied.as_str()),
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
                            ("error", ErrorCode::InvalidScope.as_str()),
                            ("error_description", &description),
                        ],
                        request.state.as_ref(),
                    ),
                    error: ErrorCode::InvalidScope,
                    description,
                });
            }
        };
        let resources = match self.api_grants_to_grant(request, browser, user) {
            Ok(grants) => grants,
            Err(scope) => {
                let description = format!(
                    "This account may not hold the scope `{}` of this API.",
                    scope.as_str()
                );
                return Err(AuthorizeError::Redirect {
                    location: self.redirect(
                        &request.redirect_uri,
                        &[
                            ("error", ErrorCode::InvalidScope.as_str()),
                            ("error_description", &description),
                        ],
                        request.state.as_ref(),
                    ),
                    error: ErrorCode::InvalidScope,
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
            resources,
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            session_id: SessionId::generate(),
            browser_session_id: browser.id,
            credential_version: user.credential_version,
            auth_time: browser.authenticated_at,
            amr: browser.amr,
            idp: browser.idp.clone(),
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
