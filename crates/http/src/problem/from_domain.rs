//! The domain's errors as API errors: which status and `code` each refusal of a use case
//! becomes.

use gatehouse_domain::ValidationErrors;
use gatehouse_domain::ports::HashingError;

use super::{
    ApiError, FieldError, IDENTITY_NOT_FOUND, PASSKEY_NOT_FOUND, PERSONAL_TOKEN_NOT_FOUND,
    SESSION_NOT_FOUND, USER_NOT_FOUND,
};

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(
            errors
                .violations()
                .iter()
                .map(|v| FieldError {
                    field: v.field.to_owned(),
                    message: v.message.clone(),
                })
                .collect(),
        )
    }
}

impl From<gatehouse_domain::auth::RegisterError> for ApiError {
    fn from(error: gatehouse_domain::auth::RegisterError) -> Self {
        use gatehouse_domain::auth::RegisterError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::EmailTaken => ApiError::EmailTaken,
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

/// Every owner-scoped resource (todos and those built like them).
impl From<gatehouse_domain::oauth::RotateSecretError> for ApiError {
    fn from(error: gatehouse_domain::oauth::RotateSecretError) -> Self {
        use gatehouse_domain::oauth::RotateSecretError as E;
        match error {
            E::NotFound => ApiError::ResourceNotFound(crate::problem::CLIENT_NOT_FOUND),
            E::Public => ApiError::PublicClient,
            E::Invalid(errors) => errors.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::oauth::ApiAccessError> for ApiError {
    fn from(error: gatehouse_domain::oauth::ApiAccessError) -> Self {
        use gatehouse_domain::oauth::ApiAccessError as E;
        match error {
            E::NotFound => ApiError::ResourceNotFound(super::CLIENT_NOT_FOUND),
            E::Invalid(errors) => errors.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::apis::RegisterApiError> for ApiError {
    fn from(error: gatehouse_domain::apis::RegisterApiError) -> Self {
        use gatehouse_domain::apis::RegisterApiError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::Taken => ApiError::ApiTaken,
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::oauth::RegisterClientError> for ApiError {
    fn from(error: gatehouse_domain::oauth::RegisterClientError) -> Self {
        use gatehouse_domain::oauth::RegisterClientError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::IdTaken => ApiError::ClientIdTaken,
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::owned::OwnedError> for ApiError {
    fn from(error: gatehouse_domain::owned::OwnedError) -> Self {
        use gatehouse_domain::owned::OwnedError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::NotFound(code) => ApiError::ResourceNotFound(code),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::users::ManageUserError> for ApiError {
    fn from(error: gatehouse_domain::users::ManageUserError) -> Self {
        use gatehouse_domain::users::ManageUserError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::NotFound => ApiError::ResourceNotFound(USER_NOT_FOUND),
            E::SessionNotFound => ApiError::ResourceNotFound(SESSION_NOT_FOUND),
            E::TokenNotFound => ApiError::ResourceNotFound(PERSONAL_TOKEN_NOT_FOUND),
            E::EmailTaken => ApiError::EmailTaken,
            E::LastAdmin => ApiError::LastAdmin,
            E::OwnAccount => ApiError::OwnAccount,
            E::Conflict => ApiError::Conflict,
            E::WrongPassword => ApiError::WrongPassword,
            E::NotReauthenticated(refusal) => ApiError::NotReauthenticated(refusal),
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::upstream::IdentityError> for ApiError {
    fn from(error: gatehouse_domain::upstream::IdentityError) -> Self {
        use gatehouse_domain::attempts::ConfirmError;
        use gatehouse_domain::reauth::ReauthError;
        use gatehouse_domain::upstream::{IdentityError as E, UpstreamSignInError};
        match error {
            E::NotFound | E::SignIn(UpstreamSignInError::UnknownProvider) => {
                ApiError::ResourceNotFound(IDENTITY_NOT_FOUND)
            }
            E::LastWayIn => ApiError::LastSignInMethod,
            E::Reauth(ReauthError::Refused(refusal)) => ApiError::NotReauthenticated(refusal),
            E::Reauth(ReauthError::Password(error)) => match error {
                ConfirmError::Missing | ConfirmError::Wrong => ApiError::WrongPassword,
                ConfirmError::Throttled { retry_after } => ApiError::Throttled { retry_after },
                ConfirmError::Hashing(error) => error.into(),
                ConfirmError::Repository(error) => error.into(),
            },
            E::SignIn(UpstreamSignInError::Throttled(error)) => error.into(),
            E::SignIn(UpstreamSignInError::Repository(error)) | E::Repository(error) => {
                error.into()
            }
            E::SignIn(other) => ApiError::internal(other),
        }
    }
}

impl From<gatehouse_domain::passkeys::PasskeyError> for ApiError {
    fn from(error: gatehouse_domain::passkeys::PasskeyError) -> Self {
        use gatehouse_domain::passkeys::PasskeyError as E;
        match error {
            E::Unavailable => ApiError::PasskeysUnavailable,
            E::BadCeremony => ApiError::CeremonyInvalid,
            E::Refused | E::Inactive => ApiError::PasskeyRefused,
            E::Taken => ApiError::PasskeyTaken,
            E::NotFound => ApiError::ResourceNotFound(PASSKEY_NOT_FOUND),
            E::LastWayIn => ApiError::LastSignInMethod,
            E::Invalid(errors) => errors.into(),
            E::Reauth(error) => gatehouse_domain::upstream::IdentityError::Reauth(error).into(),
            E::Throttled(error) => error.into(),
            E::SignIn(error) => match error {
                gatehouse_domain::auth::PasswordGrantError::Repository(error) => error.into(),
                other => ApiError::internal(other),
            },
            E::SecondStep(error) => match error {
                gatehouse_domain::auth::MfaGrantError::Throttled { retry_after } => {
                    ApiError::Throttled { retry_after }
                }
                gatehouse_domain::auth::MfaGrantError::Repository(error) => error.into(),
                fault @ (gatehouse_domain::auth::MfaGrantError::Token(_)
                | gatehouse_domain::auth::MfaGrantError::Unreadable(_)) => {
                    ApiError::internal(fault)
                }
                _ => ApiError::CeremonyInvalid,
            },
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::mfa::MfaError> for ApiError {
    fn from(error: gatehouse_domain::mfa::MfaError) -> Self {
        use gatehouse_domain::mfa::MfaError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::AlreadyEnabled => ApiError::MfaAlreadyEnabled,
            E::NotEnabled => ApiError::MfaNotEnabled,
            E::InvalidCode => ApiError::InvalidMfaCode,
            E::WrongPassword => ApiError::WrongPassword,
            E::NotReauthenticated(refusal) => ApiError::NotReauthenticated(refusal),
            E::UserNotFound => ApiError::ResourceNotFound(USER_NOT_FOUND),
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Unreadable(error) => ApiError::internal(error),
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::recovery::RecoveryError> for ApiError {
    fn from(error: gatehouse_domain::recovery::RecoveryError) -> Self {
        use gatehouse_domain::recovery::RecoveryError as E;
        match error {
            E::Invalid(errors) => errors.into(),
            E::InvalidToken => ApiError::EmailedTokenInvalid,
            E::Throttled { retry_after } => ApiError::Throttled { retry_after },
            E::Hashing(error) => error.into(),
            E::Repository(error) => error.into(),
        }
    }
}

impl From<gatehouse_domain::throttle::ThrottleError> for ApiError {
    fn from(error: gatehouse_domain::throttle::ThrottleError) -> Self {
        use gatehouse_domain::throttle::ThrottleError as E;
        match error {
            E::Limited { retry_after } => ApiError::Throttled { retry_after },
            E::Repository(error) => error.into(),
        }
    }
}

impl From<HashingError> for ApiError {
    fn from(error: HashingError) -> Self {
        match error {
            HashingError::Overloaded { retry_after } => ApiError::Overloaded { retry_after },
            other => ApiError::internal(other),
        }
    }
}

impl From<gatehouse_domain::RepositoryError> for ApiError {
    fn from(error: gatehouse_domain::RepositoryError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(error = %error, source = ?std::error::Error::source(&error), "database unavailable");
            return ApiError::DatabaseUnavailable;
        }
        ApiError::internal(error)
    }
}
