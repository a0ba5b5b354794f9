//! Cryptography adapters of gatehouse: argon2id password hashing on a bounded worker pool,
//! and signed JWT access tokens. Implements the domain's `PasswordHasher` and
//! `AccessTokenService` ports; knows nothing of HTTP or storage.

pub mod hashing;
pub mod jwt;
pub mod pool;

pub use hashing::{Argon2Config, Argon2Hasher};
pub use jwt::{JwtConfig, JwtService};
pub use pool::HashingPool;
