//! The token endpoint's authorization code grant: the client authenticated, the code
//! redeemed once (a replay revokes what it issued), PKCE checked, tokens and an ID token.

use super::*;

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
    /// The `resource` parameters (RFC 8707): which of the code's APIs the access token is
    /// for; none, its only one (or gatehouse's own when it has none).
    pub resources: Vec<String>,
}

/// Tokens from a code, with an ID token under `openid`.
#[derive(Debug)]
pub struct CodeGrant {
    pub tokens: SessionTokens,
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
    /// The client authenticated but may not use this grant.
    #[error("{0}")]
    UnauthorizedClient(&'static str),
    /// The `resource` is not one the client may ask for (RFC 8707 `invalid_target`).
    #[error("{0}")]
    InvalidTarget(String),
    /// A scope the client may not ask for.
    #[error("{0}")]
    InvalidScope(String),
    /// The device code is unknown, used, or another client's.
    #[error("invalid device code: {0}")]
    InvalidDeviceCode(&'static str),
    /// Too many device sign-ins begun from this network: wait `retry_after`.
    #[error("too many device sign-ins begun")]
    TooManyDevices { retry_after: std::time::Duration },
    /// A device's poll before its person decided (RFC 8628 §3.5).
    #[error("the person has not decided yet")]
    AuthorizationPending,
    /// A device's poll sooner than its interval: the interval grows by 5 seconds.
    #[error("polling too often")]
    SlowDown,
    /// The person denied the device's request.
    #[error("the person denied the request")]
    AccessDenied,
    /// The device code expired before its person approved it.
    #[error("the device code has expired")]
    ExpiredToken,
    /// Too many wrong secrets for this client or from this network: wait `retry_after`
    /// (a right secret too).
    #[error("too many failed client authentications")]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(ExchangeError);

/// How long a secret seen accepted is taken as no guess.
const ACCEPTED_FOR: chrono::Duration = chrono::Duration::minutes(5);

/// The client secrets an instance saw accepted, one per client (the last), by digest: a
/// client presents its secret on every token request, and counting each presentation as a
/// possible guess (two writes) tells nothing new once it was accepted. Only accepted
/// digests are kept, so a guess never matches one; whether the client still accepts it is
/// asked of the client as read on every request.
#[derive(Default)]
pub(crate) struct AcceptedSecrets(
    std::sync::Mutex<
        std::collections::HashMap<ClientId, (crate::ports::TokenDigest, DateTime<Utc>)>,
    >,
);

impl AcceptedSecrets {
    fn holds(
        &self,
        client: &ClientId,
        digest: &crate::ports::TokenDigest,
        now: DateTime<Utc>,
    ) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(client)
            .is_some_and(|(seen, at)| seen == digest && now - *at < ACCEPTED_FOR)
    }

    fn remember(&self, client: &ClientId, digest: crate::ports::TokenDigest, now: DateTime<Utc>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(client.clone(), (digest, now));
    }
}

impl From<audience::ApiTokenError> for ExchangeError {
    fn from(error: audience::ApiTokenError) -> Self {
        match error {
            audience::ApiTokenError::Target(reason) => ExchangeError::InvalidTarget(reason.into()),
            audience::ApiTokenError::Scope(reason) => ExchangeError::InvalidScope(reason),
            audience::ApiTokenError::Token(error) => ExchangeError::Token(error),
            audience::ApiTokenError::Repository(error) => ExchangeError::Repository(error),
        }
    }
}

impl OAuthService {
    /// Authenticates the client of a token-endpoint request: a confidential client by its
    /// secret, a public client by its id alone (and it must not send a secret). A secret is
    /// judged as a password is: an attempt is reserved against the client and the caller's
    /// network before it is checked, so a burst of guesses is bounded as a whole; a right
    /// secret gives its attempt back, a wrong one is audited. A secret this instance saw
    /// accepted within 5 minutes counts nothing, but waits while either is throttled.
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
        caller: &Caller,
    ) -> Result<Client, ExchangeError> {
        let Some(id) = credentials.id.as_deref() else {
            return Err(ExchangeError::InvalidClient);
        };
        let Some(client) = self.client(id).await? else {
            return Err(ExchangeError::InvalidClient);
        };
        let given = match (&client.kind, &credentials.secret) {
            (ClientKind::Public, None) => return Ok(client),
            (ClientKind::Confidential { .. }, Some(given)) => given,
            _ => return Err(ExchangeError::InvalidClient),
        };
        let throttle = &self.ports.throttle;
        let network = caller.ip.as_deref().map(crate::throttle::ip_subject);
        let digest = self.ports.opaque.digest(given);
        let now = self.ports.clock.now();
        // A secret this instance saw accepted, and that the client (read afresh) still
        // accepts, is no guess: nothing is counted, but it waits while the client or the
        // network is throttled, as any secret does.
        if self.accepted.holds(&client.id, &digest, now) && client.kind.accepts(&digest, now) {
            let mut counters = vec![(Bucket::ClientSecret, client.id.as_str())];
            counters.extend(network.as_deref().map(|n| (Bucket::ClientIp, n)));
            if let Some(retry_after) = throttle.held_back(&counters).await? {
                return Err(ExchangeError::Throttled { retry_after });
            }
            return Ok(client);
        }
        let attempt = match &network {
            Some(network) => {
                let (client_attempt, network_attempt) = throttle
                    .reserve_pair(
                        (Bucket::ClientSecret, client.id.as_str()),
                        (Bucket::ClientIp, network),
                    )
                    .await?;
                vec![client_attempt, network_attempt]
            }
            None => vec![
                throttle
                    .reserve(Bucket::ClientSecret, client.id.as_str())
                    .await?,
            ],
        };
        if client.kind.accepts(&digest, self.ports.clock.now()) {
            if let Err(error) = throttle.release_all(&attempt).await {
                tracing::warn!(%error, "could not give back a client authentication attempt");
            }
            self.accepted.remember(&client.id, digest, now);
            return Ok(client);
        }
        self.ports
            .audit
            .record(
                AuditKind::ClientAuthenticationFailed,
                None,
                None,
                caller,
                Some(client.id.to_string()),
            )
            .await;
        Err(ExchangeError::InvalidClient)
    }

    /// The `authorization_code` grant. The code is redeemed before anything else is
    /// judged, so it is spent whatever the outcome; a code presented a second time
    /// revokes the session its first exchange opened.
    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        exchange: CodeExchange,
        caller: Caller,
    ) -> Result<CodeGrant, ExchangeError> {
        let client = self.authenticate_client(&exchange.client, &caller).await?;
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
        // Which API the token is for is judged before anything is stored.
        if let Err(reason) =
            audience::choose(&code.resources, &exchange.resources, &self.policy.audience)
        {
            return Err(ExchangeError::InvalidTarget(reason.into()));
        }
        let session = Session::start(&user, scopes.clone(), caller, self.policy.sessions, now)
            .with_resources(code.resources.clone())
            .for_client(code.session_id, client.id.clone())
            .with_amr(code.amr)
            .with_idp(code.idp.clone())
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
        let access = match audience::choose(
            &session.resources,
            &exchange.resources,
            &self.policy.audience,
        ) {
            Ok(audience::Audience::Api(grant)) => {
                let role = self.policy.mfa.scope_role(user.role, code.amr);
                GrantedAccess::Api(
                    self.api_tokens()
                        .issue(&user, role, &session, grant, None, now)
                        .await?,
                )
            }
            _ => GrantedAccess::Own(self.ports.tokens.issue(
                &user,
                &session,
                scopes.clone(),
                now,
            )?),
        };
        let id_token = if scopes.contains(Scope::OpenId) {
            let claims = self.id_claims(&user, &client, &code, &scopes, &access.expires_at(), now);
            Some(
                self.ports
                    .id_tokens
                    .sign_id_token(&claims, access.token())?,
            )
        } else {
            None
        };
        self.ports
            .audit
            .record(
                AuditKind::LoginSucceeded,
                Some(user.id),
                None,
                &session.caller,
                Some(format!("authorization code for client {}", client.id)),
            )
            .await;
        tracing::info!(event = "login_succeeded", user_id = %user.id, session_id = %session.id, client_id = %client.id, "authorization code exchanged: session started");
        Ok(CodeGrant {
            tokens: SessionTokens { access, refresh },
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
        caller: &Caller,
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
            idp: code.idp.as_ref().map(ToString::to_string),
            email: scopes
                .contains(Scope::EmailAddress)
                .then(|| (user.email.as_str().to_owned(), user.is_verified)),
            name: scopes
                .contains(Scope::Profile)
                .then(|| user.full_name.as_ref().map(|n| n.as_str().to_owned())),
        }
    }
}
