//! Personal access tokens: a bearer secret a person makes for their own scripts, with the
//! scopes they choose among those they hold (on gatehouse's API or one registered API),
//! shown once and kept as a digest.
//!
//! A token is a session of kind [`SessionKind::Personal`], so everything that ends
//! sessions ends tokens too, on every instance: revocation, a password change (the session
//! records the credential version it was made under), deactivation, deletion. Its scopes
//! are judged against the role stored now on every request, so a demotion narrows what a
//! token can do at once. Making one needs re-authentication and is throttled per person;
//! a token can never make another, nor pass a re-authentication.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::apis::{ApiGrant, ApiIdentifier, ApiRepository};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::mfa::MfaPolicy;
use crate::ports::{OpaqueTokens, SessionRepository, TokenDigest, is_opaque_token};
use crate::reauth::Reauthentication;
use crate::scope::ScopeSet;
use crate::session::{Caller, Session, SessionId, SessionKind, SessionLifetimes};
use crate::text::Line;
use crate::throttle::{Bucket, Throttle};
use crate::user::{User, UserId};
use crate::users::ManageUserError;

/// What every personal access token begins with, so that secret scanners can find leaked
/// ones: the whole token matches `gatehouse_pat_[A-Za-z0-9_-]{43}`.
pub const PREFIX: &str = "gatehouse_pat_";

/// A token's use is recorded (`used_at`, `used_ip`, the `pat_used` event) at most this often.
pub const USE_RECORD_GAP: Duration = Duration::minutes(1);

/// How long a token "without expiry" lives: longer than anything it will serve.
const NO_EXPIRY: Duration = Duration::days(365 * 100);

/// The longest `scope` a request may give.
const SCOPE_MAX: usize = 1000;

/// What a person calls a token.
pub type TokenName = Line<100>;

/// Whether `token` has the shape of a personal access token, so that anything else is
/// judged as the other tokens are.
pub fn looks_personal(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(is_opaque_token)
}

/// When a token expires; `None` for one made without expiry.
pub fn expires_at(session: &Session) -> Option<DateTime<Utc>> {
    (session.absolute_expires_at - session.created_at < NO_EXPIRY - Duration::days(1))
        .then_some(session.absolute_expires_at)
}

/// What operators allow (`personal_tokens.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalTokenPolicy {
    /// The longest lifetime a token may be given, in days.
    pub max_days: u32,
    /// The lifetime of a token made without one, within `max_days`.
    pub default_days: u32,
    /// Whether a token may be made without expiry.
    pub allow_no_expiry: bool,
    /// Whether an admin holds admin scopes without a second factor.
    pub mfa: MfaPolicy,
}

impl Default for PersonalTokenPolicy {
    fn default() -> Self {
        Self {
            max_days: 365,
            default_days: 30,
            allow_no_expiry: false,
            mfa: MfaPolicy::default(),
        }
    }
}

/// How long a new token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// This many days.
    Days(i64),
    /// Until revoked (where the operator allows it).
    Never,
}

/// A token to make, as its person asked for it.
#[derive(Debug, Clone, Default)]
pub struct NewPersonalToken {
    pub name: String,
    /// Space-separated scope names; none: every scope the person holds there.
    pub scope: Option<String>,
    /// A registered API's identifier; none: gatehouse's own API.
    pub resource: Option<String>,
    /// None: the operator's default.
    pub expiry: Option<Expiry>,
}

/// A token as its person sees it in a list (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalToken {
    pub session: Session,
    pub name: String,
    /// When and where from it was last used, to a minute.
    pub used_at: Option<DateTime<Utc>>,
    pub used_ip: Option<String>,
}

impl PersonalToken {
    pub fn id(&self) -> SessionId {
        self.session.id
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        expires_at(&self.session)
    }

    /// The registered API it is for, if not gatehouse's own.
    pub fn audience(&self) -> Option<&ApiIdentifier> {
        self.session.resources.first().map(|grant| &grant.audience)
    }

    /// Its scopes, space-separated, on its API.
    pub fn scope(&self) -> String {
        match self.session.resources.first() {
            Some(grant) => grant
                .scopes
                .iter()
                .map(|scope| scope.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            None => self.session.scopes.to_string(),
        }
    }
}

/// Storage of personal access tokens (sessions of kind [`SessionKind::Personal`]; they are
/// revoked through [`SessionRepository::revoke`]). Errors only when storage fails.
#[async_trait]
pub trait PersonalTokenRepository: Send + Sync {
    /// Stores a new token, found afterwards by `digest`.
    async fn create(
        &self,
        token: &PersonalToken,
        digest: &TokenDigest,
    ) -> Result<(), RepositoryError>;

    /// The id of the token with this digest, live or not (the session check judges it).
    async fn find(&self, digest: &TokenDigest) -> Result<Option<SessionId>, RepositoryError>;

    /// The user's tokens neither revoked nor expired at `now`, newest first.
    async fn list(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<PersonalToken>, RepositoryError>;

    /// Records a use of token `id` at `now` from `ip` (when known), unless one was
    /// recorded within `gap` before: of uses racing each other, one records. Returns
    /// whether this one did.
    async fn record_use(
        &self,
        id: SessionId,
        ip: Option<&str>,
        now: DateTime<Utc>,
        gap: Duration,
    ) -> Result<bool, RepositoryError>;
}

/// Making, listing and revoking personal access tokens.
#[derive(Clone)]
pub struct PersonalTokens {
    tokens: Arc<dyn PersonalTokenRepository>,
    sessions: Arc<dyn SessionRepository>,
    apis: Arc<dyn ApiRepository>,
    reauth: Reauthentication,
    throttle: Throttle,
    opaque: Arc<dyn OpaqueTokens>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    policy: PersonalTokenPolicy,
}

/// The ports [`PersonalTokens`] works through.
pub struct PersonalTokenPorts {
    pub tokens: Arc<dyn PersonalTokenRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub apis: Arc<dyn ApiRepository>,
    pub opaque: Arc<dyn OpaqueTokens>,
    pub clock: Arc<dyn Clock>,
}

impl PersonalTokens {
    pub fn new(
        ports: PersonalTokenPorts,
        reauth: Reauthentication,
        throttle: Throttle,
        audit: Audit,
        policy: PersonalTokenPolicy,
    ) -> Self {
        Self {
            tokens: ports.tokens,
            sessions: ports.sessions,
            apis: ports.apis,
            opaque: ports.opaque,
            clock: ports.clock,
            reauth,
            throttle,
            audit,
            policy,
        }
    }

    pub fn policy(&self) -> PersonalTokenPolicy {
        self.policy
    }

    /// Makes a token for `user`, whose session `current` asks, after re-authentication
    /// (`password`, or a recent sign-in for an account without one). Returns the token,
    /// shown this once, with what was stored.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn create(
        &self,
        user: &User,
        current: SessionId,
        password: Option<&SecretString>,
        input: NewPersonalToken,
        caller: &Caller,
    ) -> Result<(SecretString, PersonalToken), ManageUserError> {
        let now = self.clock.now();
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", TokenName::parse(&input.name));
        if input
            .scope
            .as_ref()
            .is_some_and(|scope| scope.len() > SCOPE_MAX)
        {
            errors.add("scope", format!("must be at most {SCOPE_MAX} characters"));
        }
        let lifetime = errors.check("expires_in_days", self.lifetime(input.expiry));
        let api = match input.resource.as_deref() {
            None => None,
            Some(raw) => match ApiIdentifier::parse(raw) {
                Ok(identifier) => match self.apis.find(&identifier).await? {
                    Some(api) => Some(api),
                    None => {
                        errors.add("resource", "no API is registered with this identifier");
                        None
                    }
                },
                Err(error) => {
                    errors.add("resource", error);
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(ManageUserError::Invalid(errors));
        }
        // A personal access token never passes re-authentication, so it makes no other.
        let session = self.sessions.find(current).await?;
        self.reauth.check(user, current, password, caller).await?;
        let Some(session) = session else {
            return Err(ManageUserError::SessionNotFound);
        };
        let role = self.policy.mfa.scope_role(user.role, session.amr);
        let (scopes, resources) = match &api {
            None => match ScopeSet::grant(input.scope.as_deref(), role) {
                Ok(scopes) => (scopes, Vec::new()),
                Err(error) => {
                    errors.add("scope", error);
                    (ScopeSet::default(), Vec::new())
                }
            },
            Some(api) => {
                let held: Vec<_> = api
                    .scopes
                    .iter()
                    .filter(|scope| scope.roles.contains(&role))
                    .map(|scope| scope.name.clone())
                    .collect();
                match crate::apis::narrow(&held, input.scope.as_deref()) {
                    Ok(scopes) => (
                        ScopeSet::default(),
                        vec![ApiGrant {
                            audience: api.identifier.clone(),
                            scopes,
                        }],
                    ),
                    Err(name) => {
                        errors.add("scope", format!("you do not hold scope `{name}` there"));
                        (ScopeSet::default(), Vec::new())
                    }
                }
            }
        };
        let (Some(name), Some(lifetime), true) = (name, lifetime, errors.is_empty()) else {
            return Err(ManageUserError::Invalid(errors));
        };
        self.throttle
            .admit(Bucket::PersonalTokenUser, &user.id.to_string())
            .await?;
        let lifetimes = SessionLifetimes {
            idle: lifetime,
            absolute: lifetime,
            reuse_leeway: Duration::zero(),
        };
        let mut session = Session::start(user, scopes, caller.clone(), lifetimes, now)
            .with_resources(resources)
            .with_amr(session.amr);
        session.kind = SessionKind::Personal;
        let token = PersonalToken {
            session,
            name: name.as_str().to_owned(),
            used_at: None,
            used_ip: None,
        };
        let secret = self.opaque.generate();
        let secret = SecretString::from(format!("{PREFIX}{}", secret.expose_secret()));
        self.tokens
            .create(&token, &self.opaque.digest(&secret))
            .await?;
        self.audit
            .record(
                AuditKind::PatCreated,
                Some(user.id),
                None,
                caller,
                Some(format!(
                    "token {} ({}), scope: {}",
                    token.id(),
                    token.name,
                    token.scope()
                )),
            )
            .await;
        tracing::info!(event = "pat_created", token_id = %token.id(), "personal access token created");
        Ok((secret, token))
    }

    fn lifetime(&self, expiry: Option<Expiry>) -> Result<Duration, String> {
        let max = i64::from(self.policy.max_days);
        match expiry.unwrap_or(Expiry::Days(i64::from(self.policy.default_days))) {
            Expiry::Days(days) if (1..=max).contains(&days) => Ok(Duration::days(days)),
            Expiry::Days(_) => Err(format!("must be from 1 to {max} days")),
            Expiry::Never if self.policy.allow_no_expiry => Ok(NO_EXPIRY),
            Expiry::Never => Err(format!(
                "tokens must expire here: give from 1 to {max} days"
            )),
        }
    }

    /// What token `session` of `user` may do now, judged by the role stored now: its
    /// scopes (space-separated) and the registered API they are on (`None`: gatehouse's
    /// own). `None` when its API is no longer registered.
    pub async fn grants_now(
        &self,
        session: &Session,
        user: &User,
    ) -> Result<Option<(String, Option<ApiIdentifier>)>, RepositoryError> {
        let Some(grant) = session.resources.first() else {
            let scopes: ScopeSet = session
                .scopes
                .iter()
                .filter(|scope| scope.allowed_for(user.role))
                .collect();
            return Ok(Some((scopes.to_string(), None)));
        };
        let Some(api) = self.apis.find(&grant.audience).await? else {
            return Ok(None);
        };
        let scopes: Vec<&str> = grant
            .scopes
            .iter()
            .filter(|name| {
                api.scopes
                    .iter()
                    .any(|scope| scope.name == **name && scope.roles.contains(&user.role))
            })
            .map(|name| name.as_str())
            .collect();
        Ok(Some((scopes.join(" "), Some(api.identifier))))
    }

    /// The user's live tokens, newest first (those made under an earlier password are
    /// dead, and left out).
    pub async fn list(&self, user: &User) -> Result<Vec<PersonalToken>, RepositoryError> {
        let mut tokens = self.tokens.list(user.id, self.clock.now()).await?;
        tokens.retain(|token| token.session.opened_under(user));
        Ok(tokens)
    }

    /// Revokes the user's token `id`, at once on every instance; `actor` is the admin who
    /// did it, if not the user. [`ManageUserError::TokenNotFound`] when the user has no
    /// live token with this id.
    #[tracing::instrument(skip_all, fields(user_id = %user, token_id = %id))]
    pub async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        actor: Option<UserId>,
        caller: &Caller,
    ) -> Result<(), ManageUserError> {
        let now = self.clock.now();
        let is_token = self
            .sessions
            .find(id)
            .await?
            .is_some_and(|session| session.kind == SessionKind::Personal);
        if !is_token || !self.sessions.revoke(user, id, now).await? {
            return Err(ManageUserError::TokenNotFound);
        }
        self.audit
            .record(
                AuditKind::PatRevoked,
                Some(user),
                actor,
                caller,
                Some(format!("token {id}")),
            )
            .await;
        tracing::info!(event = "pat_revoked", "personal access token revoked");
        Ok(())
    }

    /// Revokes every live token of the user; returns how many (an operator's clean-up).
    pub async fn revoke_all(
        &self,
        user: &User,
        actor: Option<UserId>,
        caller: &Caller,
    ) -> Result<usize, ManageUserError> {
        let mut revoked = 0;
        for token in self.list(user).await? {
            match self.revoke(user.id, token.id(), actor, caller).await {
                Ok(()) => revoked += 1,
                // Revoked meanwhile.
                Err(ManageUserError::TokenNotFound) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(revoked)
    }
}
