//! The session check of every authenticated request, answered from memory.
//!
//! `find_with_user` is the one read each request makes. Its answers are kept in memory and
//! thrown away, all at once, whenever a session or a user may have changed:
//! - after every write through this process's session and user repositories (the
//!   decorators below), once the write is committed;
//! - on PostgreSQL, whenever another instance commits such a write: triggers on `users` and
//!   `sessions` send `NOTIFY gatehouse_invalidate`, which every instance listens for.
//!
//! Each entry records the generation it was read in; a write bumps the generation, so an
//! answer read before a write can never be served after it, even if it is stored late.
//! While the listener is not connected (PostgreSQL restarting, say) nothing is served from
//! memory: a write by another instance could go unnoticed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::ports::{
    InsertUserError, Rotation, SaveUserError, SessionRepository, TokenDigest, UserRepository,
};
use gatehouse_domain::{
    Email, Page, PasswordHash, RepositoryError, Session, SessionId, SessionLifetimes, User,
    UserFilter, UserId,
};

/// The PostgreSQL channel of invalidations.
pub const CHANNEL: &str = "gatehouse_invalidate";

/// Entries kept at most; past it the cache starts over (a memory bound, not an LRU).
const CAPACITY: usize = 100_000;

pub struct SessionCache {
    generation: AtomicU64,
    /// Whether every write of other instances reaches us (always, on SQLite).
    in_sync: AtomicBool,
    entries: Mutex<HashMap<SessionId, (u64, Session, User)>>,
}

impl SessionCache {
    /// `in_sync`: whether writes of other processes are already accounted for (true when
    /// this process is the only writer).
    pub fn new(in_sync: bool) -> Self {
        Self {
            generation: AtomicU64::new(0),
            in_sync: AtomicBool::new(in_sync),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets everything: a session or a user may have changed.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// Marks whether other instances' writes are heard; forgets everything either way.
    pub fn set_in_sync(&self, in_sync: bool) {
        self.in_sync.store(in_sync, Ordering::SeqCst);
        self.invalidate();
    }

    fn get(&self, id: SessionId) -> Option<(Session, User)> {
        if !self.in_sync.load(Ordering::SeqCst) {
            return None;
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let entries = self.entries.lock().ok()?;
        entries
            .get(&id)
            .filter(|(read_in, ..)| *read_in == generation)
            .map(|(_, session, user)| (session.clone(), user.clone()))
    }

    /// Runs a write, then invalidates: also when it failed, since it may have committed.
    async fn after<T>(&self, write: impl Future<Output = T>) -> T {
        let result = write.await;
        self.invalidate();
        result
    }

    fn put(&self, read_in: u64, session: &Session, user: &User) {
        if read_in != self.generation.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(session.id, (read_in, session.clone(), user.clone()));
        }
    }
}

/// The stores of users and sessions, wired the one way that keeps the session cache right:
/// every write through either forgets what the cache may remember of it. The plain SeaORM
/// stores are private to this crate, so nothing can wire them without their decorators.
pub struct AccountStores {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
}

impl AccountStores {
    pub fn new(database: &crate::Database) -> Self {
        let cache = database.session_cache();
        Self {
            users: Arc::new(InvalidatingUsers::new(
                Arc::new(crate::users::SeaUserRepository::new(database)),
                cache.clone(),
            )),
            sessions: Arc::new(CachedSessions::new(
                Arc::new(crate::sessions::SeaSessionRepository::new(database)),
                cache,
            )),
        }
    }
}

/// Sessions, with `find_with_user` served from the cache.
pub struct CachedSessions {
    inner: Arc<dyn SessionRepository>,
    cache: Arc<SessionCache>,
}

impl CachedSessions {
    fn new(inner: Arc<dyn SessionRepository>, cache: Arc<SessionCache>) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl SessionRepository for CachedSessions {
    async fn create(
        &self,
        session: &Session,
        refresh: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        // A new session changes no answer already given: lookups of unknown ids are not kept.
        self.inner.create(session, refresh).await
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError> {
        self.inner.find(id).await
    }

    async fn find_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        if let Some(found) = self.cache.get(id) {
            return Ok(Some(found));
        }
        let generation = self.cache.generation.load(Ordering::SeqCst);
        let found = self.inner.find_with_user(id).await?;
        if let Some((session, user)) = &found {
            self.cache.put(generation, session, user);
        }
        Ok(found)
    }

    async fn find_by_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        self.inner.find_by_refresh(refresh).await
    }

    async fn rotate(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
    ) -> Result<Rotation, RepositoryError> {
        self.cache
            .after(self.inner.rotate(old, new, now, lifetimes))
            .await
    }

    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepositoryError> {
        self.inner.list_live(user, now).await
    }

    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        self.cache.after(self.inner.revoke(user, id, now)).await
    }

    async fn revoke_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        self.cache
            .after(self.inner.revoke_all(user, keep, now))
            .await
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        self.cache.after(self.inner.purge(before)).await
    }
}

/// Users, invalidating the session cache after every change.
pub struct InvalidatingUsers {
    inner: Arc<dyn UserRepository>,
    cache: Arc<SessionCache>,
}

impl InvalidatingUsers {
    fn new(inner: Arc<dyn UserRepository>, cache: Arc<SessionCache>) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl UserRepository for InvalidatingUsers {
    async fn insert(&self, user: &User) -> Result<(), InsertUserError> {
        self.inner.insert(user).await
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        self.inner.find_by_id(id).await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepositoryError> {
        self.inner.find_by_email(email).await
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        self.cache
            .after(self.inner.upgrade_password_hash(id, expected, new, at))
            .await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.inner.ping().await
    }

    async fn list(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), RepositoryError> {
        self.inner.list(filter, page).await
    }

    async fn update(&self, user: &User, read_at: DateTime<Utc>) -> Result<(), SaveUserError> {
        self.cache.after(self.inner.update(user, read_at)).await
    }

    async fn update_credential(
        &self,
        user: &User,
        read_at: DateTime<Utc>,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, SaveUserError> {
        self.cache
            .after(self.inner.update_credential(user, read_at, keep, now))
            .await
    }

    async fn delete(&self, id: UserId) -> Result<(), SaveUserError> {
        self.cache.after(self.inner.delete(id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_domain::Role;

    fn pair() -> (Session, User) {
        let now = Utc::now();
        let user = User::new(
            Email::parse("ada@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new("x"),
            now,
        );
        let session = Session::start(
            &user,
            Default::default(),
            Default::default(),
            SessionLifetimes::default(),
            now,
        );
        (session, user)
    }

    #[test]
    fn an_answer_read_before_a_write_is_never_served_after_it() {
        let cache = SessionCache::new(true);
        let (session, user) = pair();
        let read_in = cache.generation.load(Ordering::SeqCst);
        cache.invalidate(); // a write commits while the read is in flight
        cache.put(read_in, &session, &user);
        assert!(cache.get(session.id).is_none());

        let read_in = cache.generation.load(Ordering::SeqCst);
        cache.put(read_in, &session, &user);
        assert!(cache.get(session.id).is_some());
        cache.invalidate();
        assert!(cache.get(session.id).is_none());
    }

    #[test]
    fn nothing_is_served_while_out_of_sync() {
        let cache = SessionCache::new(true);
        let (session, user) = pair();
        cache.put(0, &session, &user);
        cache.set_in_sync(false);
        cache.put(cache.generation.load(Ordering::SeqCst), &session, &user);
        assert!(cache.get(session.id).is_none());
    }
}
