//! The stable `code` of every problem document, with its status and its meaning: the one
//! place each is decided.

use actix_web::http::StatusCode;

/// Declares [`Code`]: each line a variant, its wire name and its status; its doc comment
/// is its meaning, as docs/frontend.md's table gives it.
macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $code:literal, $status:ident;)+) => {
        /// Every `code` a problem document can carry, besides the `<resource>_not_found`
        /// codes (`gatehouse_api::not_found_codes`). Clients branch on these; they never change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $code,)+
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$name => StatusCode::$status,)+
                }
            }

            /// What it means, for the documentation.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$name => concat!($($doc),+).trim(),)+
                }
            }
        }
    };
}

codes! {
    /// A field of the body, the path or the query is invalid; `errors` names each one.
    ValidationFailed = "validation_failed", UNPROCESSABLE_ENTITY;
    /// The body is not valid JSON.
    MalformedJson = "malformed_json", BAD_REQUEST;
    /// The request could not be read (its body broke off).
    BadRequest = "bad_request", BAD_REQUEST;
    /// The body is larger than 64 KiB.
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE;
    /// The body is not of the type the endpoint takes (`application/json`).
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE;
    /// There is nothing at this address.
    NotFound = "not_found", NOT_FOUND;
    /// The address does not take this method; `Allow` lists those it takes.
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED;
    /// No bearer token was sent; `WWW-Authenticate` carries the challenge.
    Unauthorized = "unauthorized", UNAUTHORIZED;
    /// The bearer token is expired, malformed, forged or revoked, or its account is gone or disabled: get a new one (refresh, or log in).
    InvalidToken = "invalid_token", UNAUTHORIZED;
    /// The token lacks the scope (or its account the role) the endpoint needs.
    InsufficientScope = "insufficient_scope", FORBIDDEN;
    /// The `current_password` confirming a change is wrong.
    WrongPassword = "wrong_password", FORBIDDEN;
    /// The change needs re-authentication: send `current_password`, or (for an account without a password) sign in again — `/oauth2/authorize` with `prompt=login`, which asks the upstream provider for a fresh sign-in too — and retry with the new tokens within `auth.reauthentication_seconds`.
    ReauthenticationRequired = "reauthentication_required", FORBIDDEN;
    /// The token belongs to a third-party app: changes to how the account signs in are for its owner, in gatehouse's pages or a first-party app.
    FirstPartyOnly = "first_party_only", FORBIDDEN;
    /// An account with this email already exists.
    EmailTaken = "email_taken", CONFLICT;
    /// The change would leave no active admin.
    LastAdmin = "last_admin", CONFLICT;
    /// Admins change their own role or activation, and delete their own account, through `/users/me` (which asks for re-authentication), not the admin endpoints.
    OwnAccount = "own_account", FORBIDDEN;
    /// The identity or passkey is the account's only way to sign in: set a password, link another provider or add another passkey first.
    LastSignInMethod = "last_sign_in_method", CONFLICT;
    /// This deployment cannot use passkeys: its public URL's host is not a domain name.
    PasskeysUnavailable = "passkeys_unavailable", CONFLICT;
    /// The passkey ceremony is unknown, expired, already finished, or another session's: begin again.
    CeremonyInvalid = "ceremony_invalid", BAD_REQUEST;
    /// The authenticator's answer could not be verified (its signature, challenge, origin or user verification, an unknown or removed passkey, a signature counter that went backwards).
    PasskeyRefused = "passkey_refused", BAD_REQUEST;
    /// This passkey is registered already.
    PasskeyTaken = "passkey_taken", CONFLICT;
    /// A client with this `id` is already registered.
    ClientIdTaken = "client_id_taken", CONFLICT;
    /// An API with this `identifier` is already registered (or it is gatehouse's own).
    ApiTaken = "api_taken", CONFLICT;
    /// A public client has no secret to rotate.
    PublicClient = "public_client", CONFLICT;
    /// The account changed while the request ran; send it again.
    Conflict = "conflict", CONFLICT;
    /// The one-time code or recovery code is wrong or was already used.
    InvalidMfaCode = "invalid_mfa_code", FORBIDDEN;
    /// Multi-factor authentication is already on; turn it off first.
    MfaAlreadyEnabled = "mfa_already_enabled", CONFLICT;
    /// Multi-factor authentication is not on (or no enrolment is waiting for its code).
    MfaNotEnabled = "mfa_not_enabled", CONFLICT;
    /// The emailed link's token is unknown, expired, used, or meant for something else: ask for a new email.
    TokenInvalid = "token_invalid", BAD_REQUEST;
    /// Too many attempts (failed passwords per account or network, sign-ups or reset requests per network); wait `Retry-After` seconds.
    TooManyRequests = "too_many_requests", TOO_MANY_REQUESTS;
    /// Password hashing is saturated; retry after `Retry-After` seconds.
    Overloaded = "overloaded", SERVICE_UNAVAILABLE;
    /// The database is not answering; retry after `Retry-After` seconds.
    DatabaseUnavailable = "database_unavailable", SERVICE_UNAVAILABLE;
    /// A fault on the server's side; it is logged, never described.
    InternalError = "internal_error", INTERNAL_SERVER_ERROR;
}
