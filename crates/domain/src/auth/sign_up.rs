//! Sign-up: a new account from what a person typed, throttled per network.

use super::*;

/// What a new account is made from, as typed by a person.
pub struct Registration {
    pub email: String,
    pub password: SecretString,
    pub full_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// One or more fields broke the rules; nothing was stored.
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error("email is already registered")]
    EmailTaken,
    /// Too many registrations from this client's network: wait `retry_after`.
    #[error("too many registrations")]
    Throttled { retry_after: std::time::Duration },
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(RegisterError);

impl AuthService {
    /// Creates an account with role `user`. Every field is validated before the password
    /// is hashed, so bad input costs nothing and stores nothing.
    /// Registrations are counted per client network before anything else.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        input: Registration,
        caller: &Caller,
    ) -> Result<User, RegisterError> {
        if let Some(ip) = &caller.ip {
            self.throttle
                .admit(Bucket::RegisterIp, &ip_subject(ip))
                .await?;
        }
        self.register_with_role(input, Role::User).await
    }

    /// Creates an account with the given role, unthrottled (the `create-admin` command
    /// uses it with `Admin`).
    #[tracing::instrument(skip_all, fields(role = %role))]
    pub async fn register_with_role(
        &self,
        input: Registration,
        role: Role,
    ) -> Result<User, RegisterError> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&input.email));
        let full_name = errors.check(
            "full_name",
            FullName::parse_optional(input.full_name.as_deref()),
        );
        let password = errors.check("password", Password::parse(input.password, email.as_ref()));
        let (Some(email), Some(full_name), Some(password)) = (email, full_name, password) else {
            return Err(RegisterError::Invalid(errors));
        };

        let hash = self.hasher.hash(password.secret()).await?;
        let user = User::new(email, full_name, role, hash, self.clock.now());
        match self.users.insert(&user).await {
            Ok(()) => {
                tracing::info!(user_id = %user.id, "user registered");
                Ok(user)
            }
            Err(InsertUserError::EmailTaken) => Err(RegisterError::EmailTaken),
            Err(InsertUserError::Repository(error)) => Err(error.into()),
        }
    }
}
