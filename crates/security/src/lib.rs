//! Cryptography adapters of gatehouse: argon2id password hashing on a bounded worker pool,
//! signed JWT access tokens, and opaque random tokens stored as digests. Implements the domain's `PasswordHasher` and
//! `AccessTokenService` ports; knows nothing of HTTP or storage.

pub mod csrf;
pub mod flow_keys;
pub mod hashing;
pub mod jwt;
mod kept_memory;
pub mod keys;
pub mod mail_seal;
pub mod opaque;
pub mod pool;
pub mod sealing;
pub mod totp;

pub use csrf::CsrfKey;
pub use flow_keys::FlowKey;
pub use hashing::{Argon2Config, Argon2Hasher};
pub use jwt::{JwtConfig, JwtService, SigningKeys};
pub use keys::{ActiveKey, RetiredKey, RsaScheme, SecretVerdict, generate_secret, judge_secret};
pub use mail_seal::MailSeal;
pub use opaque::RandomTokens;
pub use pool::HashingPool;
pub use totp::{SealingKey, TotpAuthenticators};
