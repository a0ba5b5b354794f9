//! The session check of every authenticated request, answered from memory.
//!
//! `find_with_user` is the one read each request makes. Its answers are kept in memory, at
//! most [`CAPACITY`] of them (the least recently used go first), and forgotten by what a
//! write changed ([`Change`]): a write to a session forgets that session, a write to a user
//! forgets every session of that user. They are forgotten
//! - after every write through this process's session and user repositories (the
//!   decorators below), once the write is committed;
//! - on PostgreSQL, whenever another instance commits such a write: triggers on `users` and
//!   `sessions` send `NOTIFY gatehouse_invalidate` with the changed ids (or `*` when a
//!   statement changed too many rows to list), which every instance listens for. A refresh
//!   sends none (it only records the session's use and pushes its idle expiry back): an
//!   answer whose session looks ended by its kept times is read again instead.
//!
//! Every write also moves a generation on; an answer read from the database before it is
//! not kept, so an answer read before a write can never be served after it, even if it
//! arrives late. While the listener is not connected (PostgreSQL restarting, say) nothing
//! is served from memory, and everything is forgotten: a write by another instance could go
//! unnoticed.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::oauth::ClientId;
use gatehouse_domain::ports::{
    InsertUserError, Rotation, RotationRecord, SaveUserError, SessionRepository, TokenDigest,
    UserRepository,
};
use gatehouse_domain::{
    Email, Page, PasswordHash, RepositoryError, Session, SessionId, SessionLifetimes, User,
    UserFilter, UserId,
};
use lru::LruCache;

/// The PostgreSQL channel of invalidations.
pub const CHANNEL: &str = "gatehouse_invalidate";

/// Answers kept at most (about 1 KiB each).
pub const CAPACITY: usize = 100_000;

/// What a write may have changed, and so what the cache forgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// One session (rotated, revoked).
    Session(SessionId),
    /// A user, and so every answer about their sessions.
    User(UserId),
    /// Anything: a write whose extent is unknown (it failed, or changed many rows).
    Everything,
}

impl Change {
    /// The changes a notification on [`CHANNEL`] announces: `s:<id>,<id>…` for sessions,
    /// `u:<id>,…` for users, anything else (`*`, or a payload this version cannot read) for
    /// everything.
    pub fn from_notification(payload: &str) -> Vec<Change> {
        let parse = |ids: &str, change: fn(uuid::Uuid) -> Change| {
            ids.split(',')
                .map(|id| uuid::Uuid::parse_str(id).map(change))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|_| vec![Change::Everything])
        };
        match payload.split_once(':') {
            Some(("s", ids)) => parse(ids, |id| Change::Session(SessionId::from_uuid(id))),
            Some(("u", ids)) => parse(ids, |id| Change::User(UserId::from_uuid(id))),
            _ => vec![Change::Everything],
        }
    }

    /// As a notification on [`CHANNEL`] (or a SQLite notice) names it.
    pub fn notification(&self) -> String {
        match self {
            Change::Session(id) => format!("s:{id}"),
            Change::User(id) => format!("u:{id}"),
            Change::Everything => "*".to_owned(),
        }
    }
}

/// The answers, and which sessions each user has among them.
struct Entries {
    answers: LruCache<SessionId, (Session, User)>,
    by_user: HashMap<UserId, HashSet<SessionId>>,
}

impl Entries {
    fn remove(&mut self, id: SessionId) {
        if let Some((_, user)) = self.answers.pop(&id) {
            self.unlink(user.id, id);
        }
    }

    fn unlink(&mut self, user: UserId, id: SessionId) {
        if let Some(sessions) = self.by_user.get_mut(&user) {
            sessions.remove(&id);
            if sessions.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }
}

/// How a cache's lookups were answered.
#[derive(Debug, Default)]
pub struct CacheCounts {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheCounts {
    /// Lookups answered from memory, and from the database, so far.
    pub fn read(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

pub struct SessionCache {
    generation: AtomicU64,
    /// Lookups answered from memory and from the database, since start (metrics).
    counts: Arc<CacheCounts>,
    /// Whether every write of other instances reaches us (always, on SQLite).
    in_sync: AtomicBool,
    entries: Mutex<Entries>,
    /// Where this process writes down its changes for a server beside it (SQLite).
    announce: Option<sea_orm::DatabaseConnection>,
}

impl SessionCache {
    /// `in_sync`: whether writes of other processes are already accounted for (true when
    /// this process is the only writer).
    pub fn new(in_sync: bool) -> Self {
        Self::with_capacity(in_sync, CAPACITY)
    }

    /// As [`SessionCache::new`], counting its lookups in `counts`.
    pub(crate) fn counted(in_sync: bool, counts: Arc<CacheCounts>) -> Self {
        Self {
            counts,
            ..Self::new(in_sync)
        }
    }

    fn with_capacity(in_sync: bool, capacity: usize) -> Self {
        // Bounded, but grown as answers come rather than allocated for all of them at once
        // (`LruCache::new` reserves a table for `capacity`, 2 MiB of it resident once a
        // thousand answers are spread over it).
        let mut answers = LruCache::unbounded();
        answers.resize(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN));
        Self {
            generation: AtomicU64::new(0),
            counts: Arc::default(),
            in_sync: AtomicBool::new(in_sync),
            entries: Mutex::new(Entries {
                answers,
                by_user: HashMap::new(),
            }),
            announce: None,
        }
    }

    /// Forgets what `change` may have made wrong.
    pub fn forget(&self, change: &Change) {
        // Under the lock, so a `put` either sees the new generation or is forgotten here.
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        match change {
            Change::Session(id) => entries.remove(*id),
            Change::User(user) => {
                for id in entries.by_user.remove(user).unwrap_or_default() {
                    entries.answers.pop(&id);
                }
            }
            Change::Everything => {
                entries.answers.clear();
                entries.by_user.clear();
            }
        }
    }

    /// Marks whether other instances' writes are heard; forgets everything either way.
    pub fn set_in_sync(&self, in_sync: bool) {
        self.in_sync.store(in_sync, Ordering::SeqCst);
        self.forget(&Change::Everything);
    }

    /// The answers. A poisoned lock is taken over rather than given up, so forgetting never
    /// fails: a change cut short leaves at most an index entry whose answer is gone already.
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many answers are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().answers.len()
    }

    /// The kept answer for `id`, unless its session looks ended by the times it was kept
    /// with: a refresh (by another instance, on PostgreSQL) pushes the idle expiry back
    /// without a notice, so such an answer is read again rather than refused from memory.
    fn get(&self, id: SessionId) -> Option<(Session, User)> {
        if !self.in_sync.load(Ordering::SeqCst) {
            return None;
        }
        let mut entries = self.lock();
        match entries.answers.get(&id) {
            Some((session, _)) if !session.is_live(Utc::now()) => {
                entries.remove(id);
                None
            }
            found => found.cloned(),
        }
    }

    /// The same cache, writing every change down in `cache_notices` on `writer` too (see
    /// `Database::announce_changes`).
    pub(crate) fn announcing_to(self, writer: sea_orm::DatabaseConnection) -> Self {
        Self {
            announce: Some(writer),
            ..self
        }
    }

    /// Runs a write, then forgets what it changes: also when it failed, since it may have
    /// committed.
    async fn after<T>(&self, change: Change, write: impl Future<Output = T>) -> T {
        let result = write.await;
        self.forget(&change);
        if let Some(writer) = &self.announce {
            announce(writer, &change).await;
        }
        result
    }

    /// Keeps an answer read from the database while the generation was `read_in`, unless
    /// a write has happened since.
    fn put(&self, read_in: u64, session: &Session, user: &User) {
        let mut entries = self.lock();
        if read_in != self.generation.load(Ordering::SeqCst) {
            return;
        }
        let answer = (session.clone(), user.clone());
        if let Some((evicted, (_, owner))) = entries.answers.push(session.id, answer)
            && evicted != session.id
        {
            entries.unlink(owner.id, evicted);
        }
        entries
            .by_user
            .entry(user.id)
            .or_default()
            .insert(session.id);
    }
}

/// Notices older than this are deleted: every server has read them long before.
const NOTICES_KEPT: chrono::Duration = chrono::Duration::hours(1);

/// Writes `change` down for a server beside this process (SQLite), and deletes old notices.
async fn announce(writer: &sea_orm::DatabaseConnection, change: &Change) {
    use sea_orm::{ConnectionTrait, Statement};
    let now = Utc::now();
    let backend = writer.get_database_backend();
    let statements = [
        Statement::from_sql_and_values(
            backend,
            "INSERT INTO cache_notices (payload, created_at) VALUES (?, ?)",
            [change.notification().into(), now.into()],
        ),
        Statement::from_sql_and_values(
            backend,
            "DELETE FROM cache_notices WHERE created_at < ?",
            [(now - NOTICES_KEPT).into()],
        ),
    ];
    for statement in statements {
        if let Err(error) = writer.execute_raw(statement).await {
            tracing::warn!(%error, "could not tell a running server of a change: restart it");
            return;
        }
    }
}

/// How often a SQLite server reads the notices of commands run beside it.
const NOTICE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Forgets in `cache` what each notice in `cache_notices` names, as commands run beside this
/// server write them, until the cache is dropped. While they cannot be read, nothing is
/// served from memory.
pub(crate) async fn watch_notices(
    db: sea_orm::DatabaseConnection,
    cache: std::sync::Weak<SessionCache>,
) {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = db.get_database_backend();
    let mut seen: Option<i64> = None;
    loop {
        let Some(held) = cache.upgrade() else {
            return;
        };
        let read = match seen {
            None => db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT COALESCE(MAX(id), 0) AS id, '' AS payload FROM cache_notices",
                ))
                .await
                .map(|row| row.into_iter().collect::<Vec<_>>()),
            Some(after) => {
                db.query_all_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT id, payload FROM cache_notices WHERE id > ? ORDER BY id LIMIT 1000",
                    [after.into()],
                ))
                .await
            }
        };
        match read {
            Ok(rows) => {
                if !held.in_sync.load(Ordering::SeqCst) {
                    held.set_in_sync(true);
                }
                for row in rows {
                    let (Ok(id), Ok(payload)) = (
                        row.try_get_by_index::<i64>(0),
                        row.try_get_by_index::<String>(1),
                    ) else {
                        held.forget(&Change::Everything);
                        continue;
                    };
                    if seen.is_some() {
                        for change in Change::from_notification(&payload) {
                            held.forget(&change);
                        }
                    }
                    seen = Some(id);
                }
            }
            Err(error) => {
                if held.in_sync.load(Ordering::SeqCst) {
                    tracing::warn!(%error, "cannot read the notices of commands; serving sessions from the database");
                    held.set_in_sync(false);
                }
            }
        }
        drop(held);
        tokio::time::sleep(NOTICE_POLL).await;
    }
}

/// Sessions, with `find_with_user` served from the cache.
pub struct CachedSessions {
    inner: Arc<dyn SessionRepository>,
    cache: Arc<SessionCache>,
}

impl CachedSessions {
    pub(crate) fn new(inner: Arc<dyn SessionRepository>, cache: Arc<SessionCache>) -> Self {
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
            self.cache.counts.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(found));
        }
        self.cache.counts.misses.fetch_add(1, Ordering::Relaxed);
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

    async fn find_by_any_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        self.inner.find_by_any_refresh(refresh).await
    }

    async fn rotate(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
        record: &RotationRecord,
    ) -> Result<Rotation, RepositoryError> {
        let rotation = self.inner.rotate(old, new, now, lifetimes, record).await;
        // The token says which session only once it is read: the answer says what changed.
        let change = match &rotation {
            Ok(Rotation::Rotated(rotated) | Rotation::Retried(rotated)) => {
                Some(Change::Session(rotated.0.id))
            }
            Ok(Rotation::Reused { session, .. }) => Some(Change::Session(*session)),
            Ok(Rotation::Lost | Rotation::Invalid) => None,
            Err(_) => Some(Change::Everything),
        };
        if let Some(change) = change {
            self.cache.forget(&change);
        }
        rotation
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
        let revoke = self.inner.revoke(user, id, now);
        self.cache.after(Change::Session(id), revoke).await
    }

    async fn reauthenticated(
        &self,
        user: UserId,
        id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let write = self.inner.reauthenticated(user, id, at);
        self.cache.after(Change::Session(id), write).await
    }

    async fn revoke_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let revoke = self.inner.revoke_all(user, keep, now);
        self.cache.after(Change::User(user), revoke).await
    }

    /// Forgets nothing: a purge deletes only sessions that had ended, and a kept answer is
    /// judged by its session's revocation (a write, which was forgotten) and expiry times,
    /// so it refuses them already. Forgetting everything would send every request to the
    /// database for as long as a purge of many sessions lasts.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        self.inner.purge(before).await
    }

    async fn create_browser(
        &self,
        session: &Session,
        cookie: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        self.inner.create_browser(session, cookie).await
    }

    async fn find_browser(
        &self,
        cookie: &TokenDigest,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        // Hosted pages are few: read through, so a browser session is never served stale.
        self.inner.find_browser(cookie).await
    }

    async fn revoke_client(
        &self,
        client: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        // The client's sessions are not indexed here: forget everything (a rare write).
        self.cache
            .after(Change::Everything, self.inner.revoke_client(client, now))
            .await
    }
}

/// Users, invalidating the session cache after every change.
pub struct InvalidatingUsers {
    inner: Arc<dyn UserRepository>,
    cache: Arc<SessionCache>,
}

impl InvalidatingUsers {
    pub(crate) fn new(inner: Arc<dyn UserRepository>, cache: Arc<SessionCache>) -> Self {
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
        let upgrade = self.inner.upgrade_password_hash(id, expected, new, at);
        self.cache.after(Change::User(id), upgrade).await
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
        let update = self.inner.update(user, read_at);
        self.cache.after(Change::User(user.id), update).await
    }

    async fn update_credential(
        &self,
        user: &User,
        read_at: DateTime<Utc>,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, SaveUserError> {
        let update = self.inner.update_credential(user, read_at, keep, now);
        self.cache.after(Change::User(user.id), update).await
    }

    async fn delete(&self, id: UserId) -> Result<(), SaveUserError> {
        self.cache
            .after(Change::User(id), self.inner.delete(id))
            .await
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
        cache.forget(&Change::Session(session.id)); // a write commits while the read is in flight
        cache.put(read_in, &session, &user);
        assert!(cache.get(session.id).is_none());

        let read_in = cache.generation.load(Ordering::SeqCst);
        cache.put(read_in, &session, &user);
        assert!(cache.get(session.id).is_some());
        cache.forget(&Change::Everything);
        assert!(cache.get(session.id).is_none());
    }

    #[test]
    fn an_answer_whose_session_looks_ended_is_read_again() {
        let cache = SessionCache::new(true);
        let (mut session, user) = pair();
        // Kept before another instance's refresh pushed its idle expiry back, unheard of.
        session.idle_expires_at = Utc::now() - chrono::Duration::seconds(1);
        cache.put(cache.generation.load(Ordering::SeqCst), &session, &user);
        assert!(cache.get(session.id).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_write_forgets_only_what_it_changed() {
        let cache = SessionCache::new(true);
        let (ada_1, ada) = pair();
        let ada_2 = Session::start(
            &ada,
            Default::default(),
            Default::default(),
            SessionLifetimes::default(),
            Utc::now(),
        );
        let (bob_1, bob) = pair();
        for (session, user) in [(&ada_1, &ada), (&ada_2, &ada), (&bob_1, &bob)] {
            cache.put(cache.generation.load(Ordering::SeqCst), session, user);
        }
        cache.forget(&Change::Session(ada_1.id));
        assert!(cache.get(ada_1.id).is_none());
        assert!(cache.get(ada_2.id).is_some() && cache.get(bob_1.id).is_some());

        cache.forget(&Change::User(ada.id));
        assert!(cache.get(ada_2.id).is_none());
        assert!(cache.get(bob_1.id).is_some());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_least_recently_used_answer_goes_first_when_full() {
        let cache = SessionCache::with_capacity(true, 2);
        let answers: Vec<(Session, User)> = (0..3).map(|_| pair()).collect();
        let put = |(session, user): &(Session, User)| {
            cache.put(cache.generation.load(Ordering::SeqCst), session, user)
        };
        put(&answers[0]);
        put(&answers[1]);
        assert!(cache.get(answers[0].0.id).is_some()); // now the most recently used
        put(&answers[2]);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(answers[1].0.id).is_none());
        assert!(cache.get(answers[0].0.id).is_some());
        // The evicted user's index went with it: forgetting them touches nothing else.
        cache.forget(&Change::User(answers[1].1.id));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.entries.lock().unwrap().by_user.len(), 2);
    }

    #[test]
    fn notifications_name_sessions_users_or_everything() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            Change::from_notification(&format!("s:{id},{id}")),
            vec![Change::Session(SessionId::from_uuid(id)); 2]
        );
        assert_eq!(
            Change::from_notification(&format!("u:{id}")),
            vec![Change::User(UserId::from_uuid(id))]
        );
        for payload in ["*", "", "users", "u:not-a-uuid", &format!("x:{id}")] {
            assert_eq!(Change::from_notification(payload), vec![Change::Everything]);
        }
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
