//! Login sessions: one per successful password login, kept alive by refresh-token rotation,
//! ended by logout, expiry or revocation. Access tokens name their session (`sid`), so ending
//! a session ends its access tokens too, on every instance.

use chrono::{DateTime, Duration, Utc};

use crate::id::ClientId;
use crate::scope::ScopeSet;
use crate::user::{User, UserId};

crate::id::uuid_id!(
    /// A login session's identifier.
    SessionId
);

/// The default of [`SessionLifetimes::reuse_leeway`], in seconds.
pub const DEFAULT_REUSE_LEEWAY_SECS: i64 = 5;

/// How long sessions live without and with use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// A session unused (not refreshed) for this long expires.
    pub idle: Duration,
    /// No session outlives this, however often it is refreshed.
    pub absolute: Duration,
    /// A refresh token presented again this soon after its rotation, while the token that
    /// replaced it is unused, is a client retrying a refresh whose answer it lost: the
    /// session goes on. Zero treats every such presentation as a replay.
    pub reuse_leeway: Duration,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self {
            idle: Duration::days(7),
            absolute: Duration::days(30),
            reuse_leeway: Duration::seconds(DEFAULT_REUSE_LEEWAY_SECS),
        }
    }
}

/// Who is calling, over the network: the user agent and IP address a request came from, for
/// throttling, the audit trail and the user's session list. (The OAuth client a request is
/// made for is a [`ClientId`].)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// What a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Tokens for an API client: a refresh token keeps it alive.
    Api,
    /// A person signed in to the hosted pages: a cookie, never a token.
    Browser,
    /// A personal access token: a long-lived bearer secret its person made, never
    /// refreshed ([`crate::personal`]).
    Personal,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Api => "api",
            SessionKind::Browser => "browser",
            SessionKind::Personal => "personal",
        }
    }

    /// Reads a stored kind; anything unknown is treated as an API session.
    pub fn parse(raw: &str) -> Self {
        match raw {
            "browser" => SessionKind::Browser,
            "personal" => SessionKind::Personal,
            _ => SessionKind::Api,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// The scopes granted at login; a refresh may narrow them, never widen.
    pub scopes: ScopeSet,
    /// The registered APIs (RFC 8707 `resource`) and their scopes granted at login: a
    /// token request names one to get a token for it.
    pub resources: Vec<crate::apis::ApiGrant>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub caller: Caller,
    /// The user's [`User::credential_version`] when the session was opened: a session
    /// opened with a password that has since changed is dead, even if the login that opened
    /// it committed after the change.
    pub credential_version: i64,
    pub kind: SessionKind,
    /// The OAuth client an authorization code opened this session for; `None` for the
    /// password grant and browser sessions.
    pub client_id: Option<ClientId>,
    /// How the person proved who they are when the session was opened.
    pub amr: Amr,
    /// The upstream provider that signed the person in (`idp`), when one did.
    pub idp: Option<crate::id::ProviderId>,
    /// When the person last proved who they are for this session (`auth_time`): when it was
    /// opened, or for a session an authorization code opened, when its browser signed in.
    pub authenticated_at: DateTime<Utc>,
}

impl Session {
    /// A new session of `user`, under the credential they authenticated with.
    pub fn start(
        user: &User,
        scopes: ScopeSet,
        caller: Caller,
        lifetimes: SessionLifetimes,
        now: DateTime<Utc>,
    ) -> Self {
        let absolute_expires_at = now + lifetimes.absolute;
        Self {
            id: SessionId::generate(),
            user_id: user.id,
            scopes,
            resources: Vec::new(),
            created_at: now,
            last_used_at: now,
            idle_expires_at: (now + lifetimes.idle).min(absolute_expires_at),
            absolute_expires_at,
            revoked_at: None,
            caller,
            credential_version: user.credential_version,
            kind: SessionKind::Api,
            client_id: None,
            amr: Amr::Password,
            idp: None,
            authenticated_at: now,
        }
    }

    /// The same session, whose person proved who they are at `at` (before it was opened).
    pub fn authenticated_at(self, at: DateTime<Utc>) -> Self {
        Self {
            authenticated_at: at,
            ..self
        }
    }

    /// Whether the person proved who they are for this session within `window` of `now`.
    pub fn authenticated_within(&self, window: Duration, now: DateTime<Utc>) -> bool {
        now - self.authenticated_at <= window
    }

    /// The same session, holding grants for these registered APIs.
    pub fn with_resources(self, resources: Vec<crate::apis::ApiGrant>) -> Self {
        Self { resources, ..self }
    }

    /// The same session, opened by the methods `amr`.
    pub fn with_amr(self, amr: Amr) -> Self {
        Self { amr, ..self }
    }

    /// The same session, whose person the upstream provider `idp` signed in.
    pub fn with_idp(self, idp: Option<crate::id::ProviderId>) -> Self {
        Self { idp, ..self }
    }

    /// The same session as a browser session (hosted pages).
    pub fn in_browser(self) -> Self {
        Self {
            kind: SessionKind::Browser,
            ..self
        }
    }

    /// The same session, opened by an authorization code for `client` under the id the
    /// code reserved.
    pub fn for_client(self, id: SessionId, client: ClientId) -> Self {
        Self {
            id,
            client_id: Some(client),
            ..self
        }
    }

    /// Whether this session was opened under `user`'s current credential.
    pub fn opened_under(&self, user: &User) -> bool {
        self.user_id == user.id && self.credential_version == user.credential_version
    }

    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }

    /// The session after a refresh at `now`: used now, idle expiry pushed back, never past
    /// the absolute expiry.
    pub fn refreshed(&self, lifetimes: SessionLifetimes, now: DateTime<Utc>) -> Self {
        Self {
            last_used_at: now,
            idle_expires_at: (now + lifetimes.idle).min(self.absolute_expires_at),
            ..self.clone()
        }
    }
}

/// How a session's person proved who they are (OpenID Connect `amr`, RFC 8176): only the
/// methods gatehouse itself checked. An upstream provider's sign-in is none of them (the
/// provider checked what it checked), so it has no method name of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Amr {
    /// A password alone.
    #[default]
    Password,
    /// A password and a one-time code (or a recovery code).
    PasswordOtp,
    /// An upstream identity provider alone.
    Upstream,
    /// An upstream identity provider and a one-time code (or a recovery code).
    UpstreamOtp,
    /// A passkey bound to its device (not backup-eligible), unlocked by the person: `hwk`,
    /// `user` (their presence) and `mfa` (the key, and the verification that unlocked it).
    PasskeyDevice,
    /// A passkey that may be synced to other devices: `swk` instead of `hwk`.
    PasskeySynced,
    /// A password, then a passkey bound to its device as the second factor.
    PasswordPasskeyDevice,
    /// A password, then a passkey that may be synced.
    PasswordPasskeySynced,
}

impl Amr {
    /// The RFC 8176 method names.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Amr::Password => &["pwd"],
            Amr::PasswordOtp => &["pwd", "otp"],
            Amr::Upstream => &[],
            Amr::UpstreamOtp => &["otp"],
            Amr::PasskeyDevice => &["hwk", "mfa", "user"],
            Amr::PasskeySynced => &["swk", "mfa", "user"],
            Amr::PasswordPasskeyDevice => &["pwd", "hwk", "mfa", "user"],
            Amr::PasswordPasskeySynced => &["pwd", "swk", "mfa", "user"],
        }
    }

    /// As stored: the method names separated by spaces.
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Password => "pwd",
            Amr::PasswordOtp => "pwd otp",
            Amr::Upstream => "",
            Amr::UpstreamOtp => "otp",
            Amr::PasskeyDevice => "hwk mfa user",
            Amr::PasskeySynced => "swk mfa user",
            Amr::PasswordPasskeyDevice => "pwd hwk mfa user",
            Amr::PasswordPasskeySynced => "pwd swk mfa user",
        }
    }

    /// Reads a stored or claimed value: with `hwk` or `swk` a passkey, with `pwd` a
    /// password, without either an upstream.
    pub fn parse(raw: &str) -> Self {
        let has = |name: &str| raw.split([' ', ',']).any(|method| method == name);
        match (has("pwd"), has("hwk"), has("swk")) {
            (true, true, _) => return Amr::PasswordPasskeyDevice,
            (true, _, true) => return Amr::PasswordPasskeySynced,
            (false, true, _) => return Amr::PasskeyDevice,
            (false, _, true) => return Amr::PasskeySynced,
            _ => {}
        }
        let methods = raw.split([' ', ',']);
        let (pwd, otp) = methods.fold((false, false), |(pwd, otp), method| {
            (pwd || method == "pwd", otp || method == "otp")
        });
        match (pwd, otp) {
            (true, false) => Amr::Password,
            (true, true) => Amr::PasswordOtp,
            (false, false) => Amr::Upstream,
            (false, true) => Amr::UpstreamOtp,
        }
    }

    /// The same first factor, with a one-time code after it.
    pub fn with_otp(self) -> Self {
        match self {
            Amr::Password | Amr::PasswordOtp => Amr::PasswordOtp,
            Amr::Upstream | Amr::UpstreamOtp => Amr::UpstreamOtp,
            other => other,
        }
    }

    /// The same first factor, with a passkey after it (one that may be synced, or not).
    /// After an upstream provider, only the passkey is what gatehouse checked.
    pub fn with_passkey(self, synced: bool) -> Self {
        match (self, synced) {
            (Amr::Password, false) => Amr::PasswordPasskeyDevice,
            (Amr::Password, true) => Amr::PasswordPasskeySynced,
            (Amr::Upstream, synced) => Amr::passkey(synced),
            (other, _) => other,
        }
    }

    pub fn has_otp(self) -> bool {
        matches!(self, Amr::PasswordOtp | Amr::UpstreamOtp)
    }

    /// Whether the sign-in took more than one factor: a one-time code after the first, or
    /// a passkey (held, and unlocked by the person).
    pub fn multi_factor(self) -> bool {
        self.has_otp() || self.is_passkey()
    }

    pub fn is_passkey(self) -> bool {
        matches!(
            self,
            Amr::PasskeyDevice
                | Amr::PasskeySynced
                | Amr::PasswordPasskeyDevice
                | Amr::PasswordPasskeySynced
        )
    }

    /// The amr of a passkey sign-in, by whether the credential may be synced.
    pub fn passkey(backup_eligible: bool) -> Self {
        if backup_eligible {
            Amr::PasskeySynced
        } else {
            Amr::PasskeyDevice
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;
    use crate::password::PasswordHash;
    use crate::user::Role;

    #[test]
    fn sessions_expire_when_idle_and_at_their_absolute_limit() {
        let now = Utc::now();
        let lifetimes = SessionLifetimes::default();
        let user = User::new(
            Email::parse("ada@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new("x"),
            now,
        );
        let session = Session::start(
            &user,
            ScopeSet::all_for(Role::User),
            Caller::default(),
            lifetimes,
            now,
        );
        assert!(session.is_live(now + Duration::days(6)));
        assert!(!session.is_live(now + Duration::days(7)));

        let mut kept_alive = session.clone();
        for day in (6..30).step_by(6) {
            assert!(kept_alive.is_live(now + Duration::days(day)), "day {day}");
            kept_alive = kept_alive.refreshed(lifetimes, now + Duration::days(day));
        }
        assert_eq!(kept_alive.idle_expires_at, session.absolute_expires_at);
        assert!(!kept_alive.is_live(now + Duration::days(30)));
    }
}
