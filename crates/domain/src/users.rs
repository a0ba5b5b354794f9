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

#[derive(Debug, thiserror::Error)]
pub enum ManageUserError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error("user not found")]
    NotFound,
    /// The caller has no live session with this id.
    #[error("session not found")]
    SessionNotFound,
    #[error("email is already registered")]
    EmailTaken,
    /// The change would leave no active admin.
    #[error("the last active admin cannot be demoted, deactivated or deleted")]
    LastAdmin,
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

        let mut user = self.get(id).await?;
        let read_at = user.updated_at;
        let before = (user.role, user.is_active);
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
        self.users.update(&user, read_at).await?;
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
        if !user.is_active {
            self.sessions.revoke_all(user.id, None, self.now()).await?;
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
        sessions.retain(|session| session.opened_under(user));
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
        if !self.sessions.revoke(user.id, id, self.now()).await? {
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
