//! Account management: admins list, edit and delete users; users edit their profile, change
//! their password and delete their account.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::attempts::{ConfirmError, PasswordAttempts};
use crate::audit::{Audit, AuditKind};
use crate::clock::Clock;
use crate::email::Email;
use crate::error::{RepositoryError, ValidationErrors};
use crate::pagination::{Page, Paged};
use crate::password::Password;
use crate::ports::{
    HashingError, PasswordHasher, PasswordVerifier, SaveUserError, SessionRepository,
    UserRepository,
};
use crate::reauth::{ClientTrust, ReauthError, ReauthRefusal, Reauthentication};
use crate::session::{Caller, Session, SessionId};
use crate::throttle::Throttle;
use crate::user::{FullName, Role, User, UserFilter, UserId};

/// Moves `user`'s account to a new credential version, carrying `keep` (the caller's
/// session) over: every other session ends, and so do sign-ins still in flight, which open
/// under the old version (turning a second factor on, SPEC §10). How many sessions ended;
/// `None` when the account is gone.
pub(crate) async fn end_other_sessions(
    users: &dyn UserRepository,
    sessions: &dyn SessionRepository,
    user: UserId,
    keep: SessionId,
    now: DateTime<Utc>,
) -> Result<Option<u64>, RepositoryError> {
    for _ in 0..3 {
        let Some(mut current) = users.find_by_id(user).await? else {
            return Ok(None);
        };
        let read_at = current.updated_at;
        current.renew_credential(now);
        match users
            .update_credential(&current, read_at, Some(keep), now)
            .await
        {
            Ok(ended) => return Ok(Some(ended)),
            // Changed meanwhile (a login upgrading its hash, an admin): read it again.
            Err(SaveUserError::Conflict) => continue,
            Err(SaveUserError::NotFound) => return Ok(None),
            Err(SaveUserError::Repository(error)) => return Err(error),
            // Unreachable: only the credential version changed.
            Err(error @ (SaveUserError::EmailTaken | SaveUserError::LastAdmin)) => {
                return Err(RepositoryError::new(error));
            }
        }
    }
    // Still changing under us: end the other sessions without the new version.
    Ok(Some(sessions.revoke_all(user, Some(keep), now).await?))
}

#[derive(Debug, thiserror::Error)]
pub enum ManageUserError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error("user not found")]
    NotFound,
    /// The caller has no live session with this id.
    #[error("session not found")]
    SessionNotFound,
    /// The user has no live personal access token with this id.
    #[error("personal access token not found")]
    TokenNotFound,
    #[error("email is already registered")]
    EmailTaken,
    /// The change would leave no active admin.
    #[error("the last active admin cannot be demoted, deactivated or deleted")]
    LastAdmin,
    /// An admin changing their own role or activation, or deleting their own account,
    /// through the admin endpoints: their own account goes through `/users/me`, which asks
    /// for re-authentication.
    #[error("your own account is changed through /users/me")]
    OwnAccount,
    /// The account changed while this request worked on it; nothing was stored.
    #[error("the account changed meanwhile")]
    Conflict,
    /// The `current_password` given to confirm a sensitive change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// Too many password attempts for this account or from this network: wait
    /// `retry_after`. Nothing was verified.
    #[error("too many password attempts")]
    Throttled { retry_after: std::time::Duration },
    /// Re-authentication refused: a third-party app's session, or a sign-in too old.
    #[error(transparent)]
    NotReauthenticated(ReauthRefusal),
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl From<ReauthError> for ManageUserError {
    fn from(error: ReauthError) -> Self {
        match error {
            ReauthError::Refused(refusal) => ManageUserError::NotReauthenticated(refusal),
            ReauthError::Password(error) => error.into(),
        }
    }
}

impl From<SaveUserError> for ManageUserError {
    fn from(error: SaveUserError) -> Self {
        match error {
            SaveUserError::NotFound => ManageUserError::NotFound,
            SaveUserError::EmailTaken => ManageUserError::EmailTaken,
            SaveUserError::LastAdmin => ManageUserError::LastAdmin,
            SaveUserError::Conflict => ManageUserError::Conflict,
            SaveUserError::Repository(error) => ManageUserError::Repository(error),
        }
    }
}

crate::throttle::throttled_error!(ManageUserError);

impl From<ConfirmError> for ManageUserError {
    fn from(error: ConfirmError) -> Self {
        match error {
            ConfirmError::Missing => {
                let mut errors = ValidationErrors::new();
                errors.add("current_password", "current password is required");
                ManageUserError::Invalid(errors)
            }
            ConfirmError::Wrong => ManageUserError::WrongPassword,
            ConfirmError::Throttled { retry_after } => ManageUserError::Throttled { retry_after },
            ConfirmError::Hashing(error) => ManageUserError::Hashing(error),
            ConfirmError::Repository(error) => ManageUserError::Repository(error),
        }
    }
}

/// What an admin may change about a user; `None` leaves a field alone and
/// `full_name: Some(None)` clears the name.
#[derive(Default)]
pub struct AdminChanges {
    pub full_name: Option<Option<String>>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
}

/// What users may change about themselves. Changing the email needs re-authentication
/// (`current_password`).
#[derive(Default)]
pub struct ProfileChanges {
    pub full_name: Option<Option<String>>,
    pub email: Option<String>,
    pub current_password: Option<SecretString>,
}

/// An account exported from another system, with the password hash it already has.
pub struct ImportedUser {
    pub email: String,
    pub hashed_password: String,
    pub full_name: Option<String>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

/// What importing one account did.
#[derive(Debug)]
pub enum ImportOutcome {
    Imported(User),
    /// An account with this email exists already; it was left as it is.
    AlreadyExists,
}

#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    sessions: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    reauth: Reauthentication,
}

/// The adapters account management runs on.
pub struct UserPorts {
    pub users: Arc<dyn UserRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    /// Only handed on to the password attempts: the use cases verify through them.
    pub verifier: Arc<dyn PasswordVerifier>,
    pub sessions: Arc<dyn SessionRepository>,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    pub audit: Audit,
    /// Which OAuth clients are first-party (re-authentication refuses the others).
    pub clients: Arc<dyn ClientTrust>,
    /// How recent a sign-in re-authenticates an account without a password.
    pub reauthentication: chrono::Duration,
}

impl UserService {
    pub fn new(ports: UserPorts) -> Self {
        let attempts = PasswordAttempts::new(ports.verifier, ports.throttle, ports.audit.clone());
        Self {
            reauth: Reauthentication::new(
                attempts,
                ports.sessions.clone(),
                ports.clients,
                ports.clock.clone(),
                ports.audit.clone(),
                ports.reauthentication,
            ),
            users: ports.users,
            hasher: ports.hasher,
            sessions: ports.sessions,
            clock: ports.clock,
            audit: ports.audit,
        }
    }

    async fn audit(
        &self,
        kind: AuditKind,
        user: UserId,
        actor: Option<UserId>,
        caller: &Caller,
        detail: Option<String>,
    ) {
        self.audit
            .record(kind, Some(user), actor, caller, detail)
            .await;
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now_stored()
    }

    pub async fn list(
        &self,
        filter: UserFilter,
        page: Page,
    ) -> Result<Paged<User>, ManageUserError> {
        let (items, total) = self.users.list(&filter, page).await?;
        Ok(Paged { items, total, page })
    }

    /// The account with this email (an operator's command names people so).
    pub async fn get_by_email(&self, email: &str) -> Result<User, ManageUserError> {
        let Ok(email) = crate::email::Email::parse(email) else {
            return Err(ManageUserError::NotFound);
        };
        self.users
            .find_by_email(&email)
            .await?
            .ok_or(ManageUserError::NotFound)
    }

    pub async fn get(&self, id: UserId) -> Result<User, ManageUserError> {
        self.users
            .find_by_id(id)
            .await?
            .ok_or(ManageUserError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(actor = %actor.id, user_id = %id))]
    pub async fn admin_update(
        &self,
        actor: &User,
        id: UserId,
        changes: AdminChanges,
        caller: &Caller,
    ) -> Result<User, ManageUserError> {
        let mut errors = ValidationErrors::new();
        let full_name =
            errors.check_clearable("full_name", &changes.full_name, FullName::parse_optional);
        let Some(full_name) = full_name else {
            return Err(ManageUserError::Invalid(errors));
        };

        if actor.id == id && (changes.role.is_some() || changes.is_active.is_some()) {
            return Err(ManageUserError::OwnAccount);
        }
        let mut user = self.get(id).await?;
        let read_at = user.updated_at;
        let before = (user.role, user.is_active, user.is_verified);
        if let Some(full_name) = full_name {
            user.full_name = full_name;
        }
        if let Some(role) = changes.role {
            user.role = role;
        }
        if let Some(is_active) = changes.is_active {
            user.is_active = is_active;
        }
        if let Some(is_verified) = changes.is_verified {
            user.is_verified = is_verified;
        }
        user.updated_at = self.now();
        if user.is_active {
            self.users.update(&user, read_at).await?;
        } else {
            // An inactive account's sessions, sign-ins in flight and reset links end with
            // the change, in its transaction: none is left to come back with a later
            // reactivation, whatever fails after the commit.
            user.renew_credential(self.clock.now());
            self.users
                .update_credential(&user, read_at, None, self.now())
                .await?;
        }
        if before.0 != user.role {
            self.audit(
                AuditKind::RoleChanged,
                user.id,
                Some(actor.id),
                caller,
                Some(format!("{} -> {}", before.0, user.role)),
            )
            .await;
        }
        if before.1 != user.is_active {
            self.audit(
                AuditKind::ActiveChanged,
                user.id,
                Some(actor.id),
                caller,
                Some(format!("is_active={}", user.is_active)),
            )
            .await;
        }
        if before.2 != user.is_verified {
            self.audit(
                AuditKind::VerifiedChanged,
                user.id,
                Some(actor.id),
                caller,
                Some(format!("is_verified={}", user.is_verified)),
            )
            .await;
        }
        if before.0 != user.role {
            tracing::info!(event = "role_changed", from = %before.0, to = %user.role, "role changed");
        }
        if before.1 != user.is_active {
            tracing::info!(
                event = "active_changed",
                is_active = user.is_active,
                "account activation changed"
            );
        }
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(actor = %actor.id, user_id = %id))]
    pub async fn admin_delete(
        &self,
        actor: &User,
        id: UserId,
        caller: &Caller,
    ) -> Result<(), ManageUserError> {
        if actor.id == id {
            return Err(ManageUserError::OwnAccount);
        }
        self.users.delete(id).await?;
        self.audit(AuditKind::AccountDeleted, id, Some(actor.id), caller, None)
            .await;
        tracing::info!(event = "account_deleted", "account deleted by an admin");
        Ok(())
    }

    /// Re-authenticates the person behind `session` before a change to how `user` signs in
    /// ([`Reauthentication::check`]).
    async fn reauthenticate(
        &self,
        user: &User,
        session: SessionId,
        password: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<(), ManageUserError> {
        self.reauth
            .check(user, session, password, caller)
            .await
            .map_err(ManageUserError::from)
    }

    /// Changes the caller's name and/or email. A new email needs the current password and
    /// makes the account unverified again.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn update_profile(
        &self,
        user: &User,
        session: SessionId,
        changes: ProfileChanges,
        caller: &Caller,
    ) -> Result<User, ManageUserError> {
        let mut errors = ValidationErrors::new();
        let full_name =
            errors.check_clearable("full_name", &changes.full_name, FullName::parse_optional);
        let email = errors.check(
            "email",
            changes.email.as_deref().map(Email::parse).transpose(),
        );
        let (Some(full_name), Some(email)) = (full_name, email) else {
            return Err(ManageUserError::Invalid(errors));
        };

        let mut updated = user.clone();
        if let Some(email) = email.filter(|email| *email != user.email) {
            self.reauthenticate(user, session, changes.current_password.as_ref(), caller)
                .await?;
            updated.email = email;
            updated.is_verified = false;
        }
        if let Some(full_name) = full_name {
            updated.full_name = full_name;
        }
        updated.updated_at = self.now();
        self.users.update(&updated, user.updated_at).await?;
        if updated.email != user.email {
            self.audit(AuditKind::EmailChanged, user.id, None, caller, None)
                .await;
            tracing::info!(event = "email_changed", "email changed");
        }
        Ok(updated)
    }

    /// Replaces the caller's password. Every access token issued before now stops working and
    /// every other session ends, also those of logins still in flight (they open under the
    /// old credential version); `session` (the caller's) is carried over to the new version
    /// and continues through its refresh token.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn change_password(
        &self,
        user: &User,
        session: SessionId,
        current: &SecretString,
        new: SecretString,
        caller: &Caller,
    ) -> Result<(), ManageUserError> {
        let new = Password::parse(new, Some(&user.email)).map_err(|error| {
            let mut errors = ValidationErrors::new();
            errors.add("new_password", error);
            ManageUserError::Invalid(errors)
        })?;
        self.reauthenticate(user, session, Some(current), caller)
            .await?;
        let mut updated = user.clone();
        updated.set_password(self.hasher.hash(new.secret()).await?, self.clock.now());
        let revoked = self
            .users
            .update_credential(&updated, user.updated_at, Some(session), self.now())
            .await?;
        self.audit(AuditKind::PasswordChanged, user.id, None, caller, None)
            .await;
        tracing::info!(
            event = "password_changed",
            revoked_sessions = revoked,
            "password changed"
        );
        Ok(())
    }

    /// Checks an imported account without storing it: every field, and that the hash is in
    /// a format the hasher verifies (argon2 or bcrypt). The account keeps its hash until its
    /// first login, which upgrades it.
    pub fn validate_import(&self, record: ImportedUser) -> Result<User, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&record.email));
        let full_name = errors.check(
            "full_name",
            FullName::parse_optional(record.full_name.as_deref()),
        );
        let role = errors.check("role", record.role.as_deref().map(Role::parse).transpose());
        let hash = crate::password::PasswordHash::new(record.hashed_password);
        if !self.hasher.supports(&hash) {
            errors.add(
                "hashed_password",
                "not a supported hash (argon2i, argon2id or bcrypt $2a$/$2b$/$2y$)",
            );
        }
        let (Some(email), Some(full_name), Some(role)) = (email, full_name, role) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut user = User::new(
            email,
            full_name,
            role.unwrap_or(Role::User),
            hash,
            self.now(),
        );
        user.is_active = record.is_active.unwrap_or(true);
        Ok(user)
    }

    /// Stores a validated imported account unless its email is taken.
    pub async fn import(&self, user: &User) -> Result<ImportOutcome, ManageUserError> {
        match self.users.insert(user).await {
            Ok(()) => Ok(ImportOutcome::Imported(user.clone())),
            Err(crate::ports::InsertUserError::EmailTaken) => Ok(ImportOutcome::AlreadyExists),
            Err(crate::ports::InsertUserError::Repository(error)) => Err(error.into()),
        }
    }

    /// The caller's live sessions, newest first; sessions opened under an older password
    /// are dead and not shown.
    pub async fn sessions(&self, user: &User) -> Result<Vec<Session>, ManageUserError> {
        let mut sessions = self.sessions.list_live(user.id, self.now()).await?;
        // Personal access tokens are listed (and revoked) as tokens.
        sessions.retain(|session| {
            session.opened_under(user) && session.kind != crate::session::SessionKind::Personal
        });
        Ok(sessions)
    }

    /// Revokes one of the caller's sessions. Ending another session than the caller's own
    /// (`current`) needs re-authentication; ending one's own is logging out.
    #[tracing::instrument(skip_all, fields(user_id = %user.id, session_id = %id))]
    pub async fn revoke_session(
        &self,
        user: &User,
        current: SessionId,
        id: SessionId,
        password: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<(), ManageUserError> {
        if id != current {
            self.reauthenticate(user, current, password, caller).await?;
        }
        let is_token = self.sessions.find(id).await?.is_some_and(|session| {
            session.kind == crate::session::SessionKind::Personal && id != current
        });
        if is_token || !self.sessions.revoke(user.id, id, self.now()).await? {
            return Err(ManageUserError::SessionNotFound);
        }
        self.audit(
            AuditKind::SessionRevoked,
            user.id,
            None,
            caller,
            Some(format!("session {id}")),
        )
        .await;
        tracing::info!(event = "session_revoked", "session revoked");
        Ok(())
    }

    /// Revokes every session of the caller ("log out everywhere"), after re-authentication.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn revoke_all_sessions(
        &self,
        user: &User,
        current: SessionId,
        password: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<u64, ManageUserError> {
        self.reauthenticate(user, current, password, caller).await?;
        let revoked = self.sessions.revoke_all(user.id, None, self.now()).await?;
        self.audit(
            AuditKind::SessionRevoked,
            user.id,
            None,
            caller,
            Some("all sessions".into()),
        )
        .await;
        tracing::info!(event = "sessions_revoked", revoked, "every session revoked");
        Ok(revoked)
    }

    /// Deletes the caller's account and data, after re-authentication.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn delete_account(
        &self,
        user: &User,
        session: SessionId,
        current: Option<&SecretString>,
        caller: &Caller,
    ) -> Result<(), ManageUserError> {
        self.reauthenticate(user, session, current, caller).await?;
        self.users.delete(user.id).await?;
        self.audit(AuditKind::AccountDeleted, user.id, None, caller, None)
            .await;
        tracing::info!(event = "account_deleted", "account deleted by its owner");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::audit::AuditLog;
    use crate::id::ClientId;
    use crate::password::PasswordHash;
    use crate::ports::TokenDigest;
    use crate::scope::ScopeSet;
    use crate::session::SessionLifetimes;
    use crate::testing::{
        AllButThirdParty, FakeHasher, InMemoryAccounts, InMemoryCounters, RecordingAudit,
        SettableClock,
    };
    use crate::throttle::ThrottlePolicy;

    const PASSWORD: &str = "correct horse battery";

    struct Harness {
        service: UserService,
        accounts: Arc<InMemoryAccounts>,
        hasher: Arc<FakeHasher>,
        audit: Arc<RecordingAudit>,
        clock: Arc<SettableClock>,
    }

    fn harness() -> Harness {
        let clock = Arc::new(SettableClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
        ));
        let accounts = Arc::new(InMemoryAccounts::default());
        let hasher = Arc::new(FakeHasher::default());
        let audit = Arc::new(RecordingAudit::default());
        let service = UserService::new(UserPorts {
            users: accounts.clone(),
            hasher: hasher.clone(),
            verifier: hasher.clone(),
            sessions: accounts.clone(),
            clock: clock.clone(),
            throttle: Throttle::new(
                Arc::new(InMemoryCounters::default()),
                clock.clone(),
                ThrottlePolicy::default(),
            ),
            audit: Audit::new(audit.clone() as Arc<dyn AuditLog>, clock.clone()),
            clients: Arc::new(AllButThirdParty),
            reauthentication: crate::reauth::DEFAULT_WINDOW,
        });
        Harness {
            service,
            accounts,
            hasher,
            audit,
            clock,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn caller() -> Caller {
        Caller::default()
    }

    impl Harness {
        /// Stores a user with `email`, `role` and password `PASSWORD`.
        async fn add(&self, email: &str, role: Role) -> User {
            self.add_with(email, role, PasswordHash::new(format!("v2:{PASSWORD}")))
                .await
        }

        async fn add_with(&self, email: &str, role: Role, hash: PasswordHash) -> User {
            let user = User::new(
                Email::parse(email).unwrap(),
                None,
                role,
                hash,
                self.clock.now(),
            );
            self.service.import(&user).await.unwrap();
            user
        }

        /// The user as stored now.
        fn stored(&self, id: UserId) -> User {
            self.accounts.0.lock().unwrap().user(id).unwrap().clone()
        }

        /// Opens a session of `user`, signed in now.
        async fn sign_in(&self, user: &User) -> SessionId {
            self.open(Session::start(
                user,
                ScopeSet::all_for(user.role),
                caller(),
                SessionLifetimes::default(),
                self.clock.now(),
            ))
            .await
        }

        async fn open(&self, session: Session) -> SessionId {
            use crate::ports::SessionRepository;
            let id = session.id;
            self.accounts
                .create(&session, &TokenDigest::new(id.to_string()))
                .await
                .unwrap();
            id
        }

        fn is_live(&self, id: SessionId) -> bool {
            let accounts = self.accounts.0.lock().unwrap();
            accounts.session(id).unwrap().is_live(self.clock.now())
        }

        /// A minute passes, so every change is a new version of the row.
        fn later(&self) {
            self.clock.advance(Duration::minutes(1));
        }

        fn verifications(&self) -> usize {
            self.hasher.verifications.load(Ordering::SeqCst)
        }
    }

    fn new_email(email: &str, password: Option<&str>) -> ProfileChanges {
        ProfileChanges {
            email: Some(email.into()),
            current_password: password.map(secret),
            ..ProfileChanges::default()
        }
    }

    #[tokio::test]
    async fn a_new_email_needs_the_current_password_and_makes_the_account_unverified() {
        let h = harness();
        let mut ada = h.add("ada@example.com", Role::User).await;
        ada.is_verified = true;
        h.accounts.0.lock().unwrap().users[0].is_verified = true;
        let session = h.sign_in(&ada).await;
        h.later();

        // The same address, spelled otherwise, is no change: no password needed.
        let same = h
            .service
            .update_profile(&ada, session, new_email("ADA@example.com", None), &caller())
            .await
            .unwrap();
        assert!(same.is_verified);
        assert_eq!(h.verifications(), 0);
        let ada = h.stored(ada.id);

        let missing = h
            .service
            .update_profile(&ada, session, new_email("ada@new.example", None), &caller())
            .await;
        assert!(matches!(
            missing,
            Err(ManageUserError::NotReauthenticated(
                ReauthRefusal::PasswordRequired
            ))
        ));
        let wrong = h
            .service
            .update_profile(
                &ada,
                session,
                new_email("ada@new.example", Some("wrong horse battery")),
                &caller(),
            )
            .await;
        assert!(matches!(wrong, Err(ManageUserError::WrongPassword)));
        assert_eq!(h.stored(ada.id).email.as_str(), "ada@example.com");
        assert!(!h.audit.kinds().contains(&AuditKind::EmailChanged));

        h.later();
        let changed = h
            .service
            .update_profile(
                &ada,
                session,
                new_email("ada@new.example", Some(PASSWORD)),
                &caller(),
            )
            .await
            .unwrap();
        let stored = h.stored(ada.id);
        assert_eq!(stored.email.as_str(), "ada@new.example");
        assert!(!stored.is_verified);
        assert_eq!(changed.email, stored.email);
        assert!(h.audit.kinds().contains(&AuditKind::EmailChanged));
    }

    #[tokio::test]
    async fn a_new_password_ends_every_other_session_and_carries_the_callers_over() {
        let h = harness();
        let ada = h.add("ada@example.com", Role::User).await;
        let current = h.sign_in(&ada).await;
        let other = h.sign_in(&ada).await;
        h.later();

        // The policy is judged before anything is verified or hashed.
        let weak = h
            .service
            .change_password(&ada, current, &secret(PASSWORD), secret("short"), &caller())
            .await;
        let Err(ManageUserError::Invalid(errors)) = weak else {
            panic!("expected validation errors, got {weak:?}");
        };
        assert_eq!(errors.violations()[0].field, "new_password");
        assert_eq!(h.verifications(), 0);

        let wrong = h
            .service
            .change_password(
                &ada,
                current,
                &secret("wrong horse battery"),
                secret("a brand new secret"),
                &caller(),
            )
            .await;
        assert!(matches!(wrong, Err(ManageUserError::WrongPassword)));
        assert_eq!(h.hasher.hashes.load(Ordering::SeqCst), 0);
        assert_eq!(h.stored(ada.id).password_hash, ada.password_hash);
        assert!(h.is_live(other));

        h.service
            .change_password(
                &ada,
                current,
                &secret(PASSWORD),
                secret("a brand new secret"),
                &caller(),
            )
            .await
            .unwrap();
        let stored = h.stored(ada.id);
        assert_eq!(stored.password_hash.as_str(), "v2:a brand new secret");
        assert_eq!(stored.credential_version, ada.credential_version + 1);
        assert!(!h.is_live(other));
        let left: Vec<_> = h
            .service
            .sessions(&stored)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(left, [current]);
        assert!(h.audit.kinds().contains(&AuditKind::PasswordChanged));
    }

    #[tokio::test]
    async fn the_session_list_shows_live_sessions_under_the_current_password_newest_first() {
        let h = harness();
        let ada = h.add("ada@example.com", Role::User).await;
        let under_old_password = h.sign_in(&ada).await;
        {
            let mut accounts = h.accounts.0.lock().unwrap();
            accounts.users[0].set_password(PasswordHash::new("v2:another secret"), h.clock.now());
        }
        let ada = h.stored(ada.id);
        let older = h.sign_in(&ada).await;
        h.later();
        let newer = h.sign_in(&ada).await;
        let revoked = h.sign_in(&ada).await;
        h.service
            .revoke_session(&ada, revoked, revoked, None, &caller())
            .await
            .unwrap();
        let expired = h
            .open(Session::start(
                &ada,
                ScopeSet::all_for(Role::User),
                caller(),
                SessionLifetimes::default(),
                h.clock.now() - Duration::days(8),
            ))
            .await;
        let bob = h.add("bob@example.com", Role::User).await;
        let _bobs = h.sign_in(&bob).await;

        let listed: Vec<_> = h
            .service
            .sessions(&ada)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(listed, [newer, older]);
        assert!(
            h.is_live(under_old_password),
            "live in storage, dead by version"
        );
        assert!(!listed.contains(&expired));
    }

    #[tokio::test]
    async fn ending_another_session_needs_reauthentication_and_ending_ones_own_does_not() {
        let h = harness();
        let ada = h.add("ada@example.com", Role::User).await;
        let current = h.sign_in(&ada).await;
        let other = h.sign_in(&ada).await;
        let bob = h.add("bob@example.com", Role::User).await;
        let bobs = h.sign_in(&bob).await;

        let missing = h
            .service
            .revoke_session(&ada, current, other, None, &caller())
            .await;
        assert!(matches!(
            missing,
            Err(ManageUserError::NotReauthenticated(
                ReauthRefusal::PasswordRequired
            ))
        ));
        let wrong = h
            .service
            .revoke_session(&ada, current, other, Some(&secret("nope nope")), &caller())
            .await;
        assert!(matches!(wrong, Err(ManageUserError::WrongPassword)));
        assert!(h.is_live(other));

        h.service
            .revoke_session(&ada, current, other, Some(&secret(PASSWORD)), &caller())
            .await
            .unwrap();
        assert!(!h.is_live(other));

        // Someone else's session is not found, whatever the password.
        let foreign = h
            .service
            .revoke_session(&ada, current, bobs, Some(&secret(PASSWORD)), &caller())
            .await;
        assert!(matches!(foreign, Err(ManageUserError::SessionNotFound)));
        assert!(h.is_live(bobs));

        // Logging out: one's own session, no password.
        let verified = h.verifications();
        h.service
            .revoke_session(&ada, current, current, None, &caller())
            .await
            .unwrap();
        assert!(!h.is_live(current));
        assert_eq!(h.verifications(), verified);
    }

    #[tokio::test]
    async fn logging_out_everywhere_needs_reauthentication_then_ends_every_session() {
        let h = harness();
        let ada = h.add("ada@example.com", Role::User).await;
        let current = h.sign_in(&ada).await;
        let other = h.sign_in(&ada).await;

        let missing = h
            .service
            .revoke_all_sessions(&ada, current, None, &caller())
            .await;
        assert!(matches!(
            missing,
            Err(ManageUserError::NotReauthenticated(
                ReauthRefusal::PasswordRequired
            ))
        ));
        assert!(h.is_live(current) && h.is_live(other));

        let revoked = h
            .service
            .revoke_all_sessions(&ada, current, Some(&secret(PASSWORD)), &caller())
            .await
            .unwrap();
        assert_eq!(revoked, 2);
        assert!(!h.is_live(current) && !h.is_live(other));
    }

    #[tokio::test]
    async fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted() {
        let h = harness();
        let root = h.add("root@example.com", Role::Admin).await;
        let session = h.sign_in(&root).await;
        h.later();

        let demote = AdminChanges {
            role: Some(Role::User),
            ..AdminChanges::default()
        };
        let deactivate = AdminChanges {
            is_active: Some(false),
            ..AdminChanges::default()
        };
        // Root's own account is not changed through the admin use cases at all; the rule
        // is judged for any actor (the API lets only admins act, judged at the request).
        let actor = h.add("actor@example.com", Role::User).await;
        for changes in [demote, deactivate] {
            let own = AdminChanges {
                role: changes.role,
                is_active: changes.is_active,
                ..AdminChanges::default()
            };
            let refused = h.service.admin_update(&root, root.id, own, &caller()).await;
            assert!(matches!(refused, Err(ManageUserError::OwnAccount)));
            let refused = h
                .service
                .admin_update(&actor, root.id, changes, &caller())
                .await;
            assert!(matches!(refused, Err(ManageUserError::LastAdmin)));
        }
        let own = h.service.admin_delete(&root, root.id, &caller()).await;
        assert!(matches!(own, Err(ManageUserError::OwnAccount)));
        let deleted = h.service.admin_delete(&actor, root.id, &caller()).await;
        assert!(matches!(deleted, Err(ManageUserError::LastAdmin)));
        let own = h
            .service
            .delete_account(&root, session, Some(&secret(PASSWORD)), &caller())
            .await;
        assert!(matches!(own, Err(ManageUserError::LastAdmin)));

        let stored = h.stored(root.id);
        assert!(stored.role == Role::Admin && stored.is_active);
        assert!(h.is_live(session), "a refused deactivation ends no session");
        assert!(h.audit.kinds().is_empty());

        // With another active admin, the first may step down.
        let other = h.add("other@example.com", Role::Admin).await;
        let demoted = h
            .service
            .admin_update(
                &other,
                root.id,
                AdminChanges {
                    role: Some(Role::User),
                    ..AdminChanges::default()
                },
                &caller(),
            )
            .await
            .unwrap();
        assert_eq!(demoted.role, Role::User);
        assert_eq!(h.stored(root.id).role, Role::User);
        let events = h.audit.0.lock().unwrap().clone();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, AuditKind::RoleChanged);
        assert_eq!(events[0].actor_id, Some(other.id));
        assert_eq!(events[0].detail.as_deref(), Some("admin -> user"));
    }

    #[tokio::test]
    async fn a_deactivated_user_loses_every_session_and_bad_input_stores_nothing() {
        let h = harness();
        let root = h.add("root@example.com", Role::Admin).await;
        let ada = h.add("ada@example.com", Role::User).await;
        let first = h.sign_in(&ada).await;
        let second = h.sign_in(&ada).await;
        let roots = h.sign_in(&root).await;
        h.later();

        let invalid = h
            .service
            .admin_update(
                &root,
                ada.id,
                AdminChanges {
                    full_name: Some(Some("x".repeat(300))),
                    is_active: Some(false),
                    ..AdminChanges::default()
                },
                &caller(),
            )
            .await;
        assert!(matches!(invalid, Err(ManageUserError::Invalid(_))));
        assert!(h.stored(ada.id).is_active);
        assert!(h.is_live(first) && h.is_live(second));

        h.service
            .admin_update(
                &root,
                ada.id,
                AdminChanges {
                    is_active: Some(false),
                    ..AdminChanges::default()
                },
                &caller(),
            )
            .await
            .unwrap();
        assert!(!h.stored(ada.id).is_active);
        assert!(!h.is_live(first) && !h.is_live(second));
        assert!(h.is_live(roots));
        let events = h.audit.0.lock().unwrap().clone();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, AuditKind::ActiveChanged);
        assert_eq!(
            (events[0].user_id, events[0].actor_id),
            (Some(ada.id), Some(root.id))
        );
    }

    #[tokio::test]
    async fn an_account_without_a_password_reauthenticates_by_a_recent_sign_in() {
        let h = harness();
        let grace = h
            .add_with("grace@example.com", Role::User, PasswordHash::none())
            .await;
        let session = h.sign_in(&grace).await;
        h.later();

        h.service
            .update_profile(
                &grace,
                session,
                new_email("grace@new.example", None),
                &caller(),
            )
            .await
            .unwrap();
        let grace = h.stored(grace.id);
        assert_eq!(grace.email.as_str(), "grace@new.example");

        // Past the window, nothing she can type stands in for a new sign-in.
        h.clock.advance(crate::reauth::DEFAULT_WINDOW);
        let stale = h
            .service
            .delete_account(&grace, session, Some(&secret("anything at all")), &caller())
            .await;
        assert!(matches!(
            stale,
            Err(ManageUserError::NotReauthenticated(ReauthRefusal::Stale))
        ));
        assert_eq!(h.verifications(), 0);
        assert!(h.accounts.0.lock().unwrap().user(grace.id).is_some());

        let fresh = h.sign_in(&grace).await;
        h.service
            .delete_account(&grace, fresh, None, &caller())
            .await
            .unwrap();
        assert!(h.accounts.0.lock().unwrap().user(grace.id).is_none());
    }

    #[tokio::test]
    async fn a_third_party_apps_session_never_reaches_a_password_check() {
        let h = harness();
        let ada = h.add("ada@example.com", Role::User).await;
        let opened = |client: &str| {
            Session::start(
                &ada,
                ScopeSet::all_for(Role::User),
                caller(),
                SessionLifetimes::default(),
                h.clock.now(),
            )
            .for_client(SessionId::generate(), ClientId::parse(client).unwrap())
        };
        let third = h.open(opened("third-party")).await;
        let first = h.open(opened("spa")).await;

        let refused = h
            .service
            .delete_account(&ada, third, Some(&secret(PASSWORD)), &caller())
            .await;
        assert!(matches!(
            refused,
            Err(ManageUserError::NotReauthenticated(
                ReauthRefusal::ThirdParty
            ))
        ));
        assert_eq!(h.verifications(), 0);
        assert_eq!(h.audit.kinds(), [AuditKind::ReauthenticationRefused]);
        assert!(h.accounts.0.lock().unwrap().user(ada.id).is_some());

        // Another person's session does not re-authenticate Ada either.
        let bob = h.add("bob@example.com", Role::User).await;
        let bobs = h.sign_in(&bob).await;
        let foreign = h
            .service
            .delete_account(&ada, bobs, Some(&secret(PASSWORD)), &caller())
            .await;
        assert!(matches!(
            foreign,
            Err(ManageUserError::NotReauthenticated(ReauthRefusal::Stale))
        ));

        h.service
            .delete_account(&ada, first, Some(&secret(PASSWORD)), &caller())
            .await
            .unwrap();
        assert!(h.accounts.0.lock().unwrap().user(ada.id).is_none());
    }
}
