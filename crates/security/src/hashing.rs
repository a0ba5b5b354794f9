//! argon2id password hashing (the domain's `PasswordHasher` port).

use std::sync::Arc;

use argon2::password_hash::{self, CustomizedPasswordHasher, phc};
use argon2::{
    Algorithm, Argon2, Params, PasswordHasher as Argon2PasswordHasher,
    PasswordVerifier as Argon2Verifier, Version,
};
use async_trait::async_trait;
use gatehouse_domain::PasswordHash;
use gatehouse_domain::ports::{
    HashingError, HashingTurn, PasswordHasher, PasswordVerifier, Verification,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::kept_memory::with_kept_memory;
use crate::pool::HashingPool;

/// Stored hashes asking for more memory than this are refused rather than computed: a
/// tampered or imported hash must not be able to exhaust the server's memory.
const MAX_VERIFY_M_COST_KIB: u32 = 1024 * 1024;

/// argon2id cost parameters. The defaults are OWASP's: 19 MiB, 2 passes, 1 lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

impl Argon2Config {
    fn params(&self) -> Result<Params, HashingError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|error| HashingError::Failed(format!("invalid argon2 parameters: {error}")))
    }
}

/// Hashes with argon2id v1.3 on a [`HashingPool`].
pub struct Argon2Hasher {
    params: Params,
    pool: Arc<HashingPool>,
    dummy: PasswordHash,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// Validates the parameters and computes the dummy hash (one hash, on this thread).
    pub fn new(config: Argon2Config, pool: Arc<HashingPool>) -> Result<Self, HashingError> {
        let params = config.params()?;
        let mut unguessable = [0u8; 32];
        rand::rng().fill_bytes(&mut unguessable);
        // On the calling thread, which keeps no working memory (the pool's threads do).
        let dummy = argon2id(params.clone())
            .hash_password(&unguessable)
            .map(|hash| PasswordHash::new(hash.to_string()))
            .map_err(|error| HashingError::Failed(error.to_string()))?;
        Ok(Self {
            params,
            pool,
            dummy,
        })
    }
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_with(params: &Params, password: &[u8]) -> Result<PasswordHash, HashingError> {
    WithKeptMemory::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| PasswordHash::new(hash.to_string()))
        .map_err(|error| HashingError::Failed(error.to_string()))
}

/// argon2, as the `argon2` crate computes it, over this thread's kept working memory
/// instead of a fresh allocation per hash. Verification is the `password-hash` crate's own
/// (its blanket `PasswordVerifier`, with its constant-time comparison).
#[derive(Debug, Clone)]
struct WithKeptMemory {
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

impl WithKeptMemory {
    fn new(algorithm: Algorithm, version: Version, params: Params) -> Self {
        Self {
            algorithm,
            version,
            params,
        }
    }
}

impl Argon2PasswordHasher<phc::PasswordHash> for WithKeptMemory {
    fn hash_password_with_salt(
        &self,
        password: &[u8],
        salt: &[u8],
    ) -> password_hash::Result<phc::PasswordHash> {
        let salt = phc::Salt::new(salt)?;
        let output_len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let mut buffer = [0u8; phc::Output::MAX_LENGTH];
        let out = buffer
            .get_mut(..output_len)
            .ok_or(password_hash::Error::OutputSize)?;
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        with_kept_memory(self.params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(password, &salt, out, memory)
        })?;
        Ok(phc::PasswordHash {
            algorithm: self.algorithm.ident(),
            version: Some(self.version.into()),
            params: phc::ParamsString::try_from(&self.params)?,
            salt: Some(salt),
            hash: Some(phc::Output::new(out)?),
        })
    }
}

impl CustomizedPasswordHasher<phc::PasswordHash> for WithKeptMemory {
    type Params = Params;

    fn hash_password_customized(
        &self,
        password: &[u8],
        salt: &[u8],
        algorithm: Option<&str>,
        version: Option<password_hash::Version>,
        params: Params,
    ) -> password_hash::Result<phc::PasswordHash> {
        let algorithm = algorithm
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        Self::new(algorithm, version, params).hash_password_with_salt(password, salt)
    }
}

/// bcrypt costs above this are refused rather than computed (each step doubles the work).
const MAX_BCRYPT_COST: u32 = 16;
/// bcrypt reads at most 72 bytes of a password.
const BCRYPT_MAX_BYTES: usize = 72;

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

/// Legacy bcrypt hashes (passlib, pwdlib): verified, then always due for a re-hash.
/// A password longer than bcrypt's 72 bytes never matches: bcrypt would compare only its
/// start, and we do not truncate silently.
fn verify_bcrypt(password: &[u8], stored: &str) -> Verification {
    let cost = stored
        .get(4..6)
        .and_then(|cost| cost.parse::<u32>().ok())
        .unwrap_or(u32::MAX);
    if cost > MAX_BCRYPT_COST {
        tracing::warn!(cost, "stored bcrypt hash is too costly to verify");
        return Verification::Mismatch;
    }
    if password.len() > BCRYPT_MAX_BYTES {
        return Verification::Mismatch;
    }
    match bcrypt::verify(password, stored) {
        Ok(true) => Verification::Match { needs_rehash: true },
        Ok(false) => Verification::Mismatch,
        Err(error) => {
            tracing::warn!(%error, "stored bcrypt hash is malformed");
            Verification::Mismatch
        }
    }
}

/// Whether `stored` is a hash this hasher can verify: argon2 (any variant and parameters
/// within limits) or bcrypt.
pub fn supports(stored: &str) -> bool {
    if is_bcrypt(stored) {
        return stored.len() == 60;
    }
    phc::PasswordHash::new(stored)
        .ok()
        .filter(|parsed| parsed.algorithm.as_str().starts_with("argon2"))
        .and_then(|parsed| Params::try_from(&parsed).ok())
        .is_some_and(|params| params.m_cost() <= MAX_VERIFY_M_COST_KIB)
}

fn verify_with(configured: &Params, password: &[u8], stored: &str) -> Verification {
    if is_bcrypt(stored) {
        return verify_bcrypt(password, stored);
    }
    let Ok(parsed) = phc::PasswordHash::new(stored) else {
        tracing::warn!("stored password hash is not a PHC string");
        return Verification::Mismatch;
    };
    let Ok(stored_params) = Params::try_from(&parsed) else {
        tracing::warn!("stored password hash has unreadable argon2 parameters");
        return Verification::Mismatch;
    };
    if stored_params.m_cost() > MAX_VERIFY_M_COST_KIB {
        tracing::warn!(
            m_cost = stored_params.m_cost(),
            "stored password hash asks for too much memory"
        );
        return Verification::Mismatch;
    }
    // Verification follows the algorithm, version and parameters written in the hash.
    if WithKeptMemory::new(Algorithm::Argon2id, Version::V0x13, configured.clone())
        .verify_password(password, &parsed)
        .is_err()
    {
        return Verification::Mismatch;
    }
    let needs_rehash = parsed.algorithm.as_str() != argon2::ARGON2ID_IDENT.as_str()
        || parsed.version != Some(Version::V0x13.into())
        || stored_params.m_cost() < configured.m_cost()
        || stored_params.t_cost() < configured.t_cost()
        || stored_params.p_cost() < configured.p_cost();
    Verification::Match { needs_rehash }
}

/// Whether verifying against `stored` costs at least what the configured parameters cost:
/// an argon2id v1.3 hash whose work (memory × passes, what the time of one verification
/// follows) is no less than the configured one's. OWASP's equivalent settings
/// (m=47104,t=1 beside m=19456,t=2) count as full cost.
fn at_full_cost(configured: &Params, stored: &str) -> bool {
    let Ok(parsed) = phc::PasswordHash::new(stored) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let work = |params: &Params| u64::from(params.m_cost()) * u64::from(params.t_cost());
    parsed.algorithm.as_str() == argon2::ARGON2ID_IDENT.as_str()
        && parsed.version == Some(Version::V0x13.into())
        && work(&params) >= work(configured)
}

/// Verifies, and always pays at least the configured cost: a hash that is cheaper to check
/// (bcrypt, argon2i, weaker argon2id, unreadable) is followed by a verification against the
/// dummy hash, so an imported account answers no faster than an unknown email does.
fn verify_at_full_cost(
    configured: &Params,
    password: &[u8],
    stored: &str,
    dummy: &str,
) -> Verification {
    let verification = verify_with(configured, password, stored);
    if !at_full_cost(configured, stored) {
        std::hint::black_box(verify_with(configured, password, dummy));
    }
    verification
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    #[tracing::instrument(skip_all)]
    async fn hash(&self, password: &SecretString) -> Result<PasswordHash, HashingError> {
        let params = self.params.clone();
        let password = password.clone();
        self.pool
            .run(move || hash_with(&params, password.expose_secret().as_bytes()))
            .await?
    }

    async fn admit(&self) -> Result<HashingTurn, HashingError> {
        match self.pool.admit() {
            Some(admission) => Ok(HashingTurn::holding(self.pool.id(), admission)),
            None => Err(self.pool.refuse().await),
        }
    }

    fn dummy_hash(&self) -> &PasswordHash {
        &self.dummy
    }

    fn supports(&self, hash: &PasswordHash) -> bool {
        supports(hash.as_str())
    }
}

#[async_trait]
impl PasswordVerifier for Argon2Hasher {
    #[tracing::instrument(skip_all)]
    async fn verify(
        &self,
        turn: HashingTurn,
        password: &SecretString,
        hash: &PasswordHash,
    ) -> Result<Verification, HashingError> {
        let params = self.params.clone();
        let password = password.clone();
        let stored = hash.clone();
        let dummy = self.dummy.clone();
        let job = move || {
            verify_at_full_cost(
                &params,
                password.expose_secret().as_bytes(),
                stored.as_str(),
                dummy.as_str(),
            )
        };
        match turn.place_from(self.pool.id()) {
            Some(place) => self.pool.run_in_place(place, job).await,
            None => self.pool.run(job).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(config: Argon2Config) -> Argon2Hasher {
        Argon2Hasher::new(config, Arc::new(HashingPool::new(2, 8))).unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    const WEAK: Argon2Config = Argon2Config {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn kept_memory_gives_what_the_argon2_crate_gives() {
        let salt = [7u8; 16];
        // The default twice (the second over the first's memory), then smaller parameters
        // over the larger memory, then argon2i as an imported hash would ask.
        let cases = [
            (Algorithm::Argon2id, Argon2Config::default()),
            (Algorithm::Argon2id, Argon2Config::default()),
            (Algorithm::Argon2id, WEAK),
            (Algorithm::Argon2i, WEAK),
        ];
        for (algorithm, config) in cases {
            let params = config.params().unwrap();
            let ours = WithKeptMemory::new(algorithm, Version::V0x13, params.clone())
                .hash_password_with_salt(b"pw-for-test", &salt)
                .unwrap();
            let theirs = Argon2::new(algorithm, Version::V0x13, params.clone())
                .hash_password_with_salt(b"pw-for-test", &salt)
                .unwrap();
            assert_eq!(ours.to_string(), theirs.to_string());
            let random_salt = hash_with(&params, b"pw-for-test").unwrap();
            let parsed = phc::PasswordHash::new(random_salt.as_str()).unwrap();
            assert!(
                argon2id(params.clone())
                    .verify_password(b"pw-for-test", &parsed)
                    .is_ok()
            );
            assert!(
                argon2id(params.clone())
                    .verify_password(b"pw-for-tesT", &parsed)
                    .is_err()
            );
            assert_eq!(
                verify_with(&params, b"pw-for-tesT", &theirs.to_string()),
                Verification::Mismatch
            );
        }
        crate::kept_memory::release_kept_memory();
        crate::kept_memory::KEPT_MEMORY.with_borrow(|memory| assert!(memory.is_empty()));
    }

    #[tokio::test]
    async fn hashes_with_owasp_argon2id_by_default() {
        let hasher = hasher(Argon2Config::default());
        let hash = hasher.hash(&secret("correct horse battery")).await.unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert_eq!(
            hasher
                .verify(HashingTurn::none(), &secret("correct horse battery"), &hash)
                .await
                .unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(HashingTurn::none(), &secret("correct horse batterY"), &hash)
                .await
                .unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn an_admitted_verification_runs_in_the_place_admission_took() {
        let hasher = Argon2Hasher::new(WEAK, Arc::new(HashingPool::new(1, 0))).unwrap();
        let hash = hasher.hash(&secret("pw-for-test")).await.unwrap();
        let turn = hasher.admit().await.expect("the one place is free");
        // Held through the caller's other work: the next caller is refused.
        assert!(matches!(
            hasher.admit().await,
            Err(HashingError::Overloaded { .. })
        ));
        assert_eq!(
            hasher
                .verify(turn, &secret("pw-for-test"), &hash)
                .await
                .unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        // And given back when the verification ends.
        assert!(hasher.admit().await.is_ok());
    }

    #[tokio::test]
    async fn cheaper_stored_hashes_are_followed_by_a_full_cost_verification() {
        let configured = Argon2Config::default().params().unwrap();
        let strong = hasher(Argon2Config::default());
        let weak = hasher(WEAK).hash(&secret("pw-for-test")).await.unwrap();
        let bcrypt = bcrypt::hash("pw-for-test", 4).unwrap();
        assert!(at_full_cost(&configured, strong.dummy_hash().as_str()));
        let equivalent = hasher(Argon2Config {
            memory_kib: 47_104,
            iterations: 1,
            parallelism: 1,
        })
        .hash(&secret("pw-for-test"))
        .await
        .unwrap();
        assert!(at_full_cost(&configured, equivalent.as_str()));
        for cheaper in [weak.as_str(), bcrypt.as_str(), "not a hash"] {
            assert!(!at_full_cost(&configured, cheaper), "{cheaper}");
        }
    }

    #[tokio::test]
    async fn weaker_stored_parameters_ask_for_a_rehash() {
        let weak = hasher(WEAK).hash(&secret("pw-for-test")).await.unwrap();
        let strong = hasher(Argon2Config::default());
        assert_eq!(
            strong
                .verify(HashingTurn::none(), &secret("pw-for-test"), &weak)
                .await
                .unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn argon2i_hashes_verify_and_ask_for_a_rehash() {
        let params = Params::new(1024, 2, 1, None).unwrap();
        let hash = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"pw-for-test")
            .unwrap()
            .to_string();
        let verification = hasher(WEAK)
            .verify(
                HashingTurn::none(),
                &secret("pw-for-test"),
                &PasswordHash::new(hash),
            )
            .await
            .unwrap();
        assert_eq!(verification, Verification::Match { needs_rehash: true });
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_ask_for_a_rehash() {
        let hasher = hasher(WEAK);
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let hash = bcrypt::hash_with_result("pw-for-test", 4)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoB)
                .replacen("$2b$", prefix, 1);
            let stored = PasswordHash::new(hash);
            assert!(hasher.supports(&stored));
            assert_eq!(
                hasher
                    .verify(HashingTurn::none(), &secret("pw-for-test"), &stored)
                    .await
                    .unwrap(),
                Verification::Match { needs_rehash: true },
                "{prefix}"
            );
            assert_eq!(
                hasher
                    .verify(HashingTurn::none(), &secret("pw-for-tesT"), &stored)
                    .await
                    .unwrap(),
                Verification::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn bcrypt_never_truncates_long_passwords() {
        let hasher = hasher(WEAK);
        let long = "x".repeat(80);
        // bcrypt itself would accept any password sharing the first 72 bytes.
        let stored = PasswordHash::new(bcrypt::hash(&long[..72], 4).unwrap());
        assert_eq!(
            hasher
                .verify(HashingTurn::none(), &secret(&long), &stored)
                .await
                .unwrap(),
            Verification::Mismatch
        );
        assert_eq!(
            hasher
                .verify(HashingTurn::none(), &secret(&long[..72]), &stored)
                .await
                .unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn garbage_hashes_are_mismatches_not_errors() {
        let hasher = hasher(WEAK);
        for stored in [
            "",
            "plain text",
            "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert_eq!(
                hasher
                    .verify(
                        HashingTurn::none(),
                        &secret("whatever"),
                        &PasswordHash::new(stored)
                    )
                    .await
                    .unwrap(),
                Verification::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn the_dummy_hash_uses_the_configured_parameters() {
        let hasher = hasher(Argon2Config::default());
        assert!(hasher.dummy_hash().as_str().contains("m=19456,t=2,p=1"));
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let config = Argon2Config {
            memory_kib: 1,
            ..Argon2Config::default()
        };
        assert!(Argon2Hasher::new(config, Arc::new(HashingPool::new(1, 1))).is_err());
    }
}
