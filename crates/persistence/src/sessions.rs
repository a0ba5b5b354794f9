//! The domain's `SessionRepository` on SeaORM: sessions and the digests of their refresh
//! tokens, with rotation as a compare-and-swap.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::AuditKind;
use gatehouse_domain::mfa::Amr;
use gatehouse_domain::oauth::ClientId;
use gatehouse_domain::ports::{Rotation, RotationRecord, SessionRepository, TokenDigest};
use gatehouse_domain::upstream::ProviderId;
use gatehouse_domain::{
    Caller, RepositoryError, ScopeSet, Session, SessionId, SessionKind, SessionLifetimes, User,
    UserId,
};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait,
};

use crate::database::Database;
use crate::entity::sessions::{self, Column, Entity};
use crate::entity::{audit_events, refresh_tokens};
use crate::errors::storage;
use crate::writes::Writes;

#[derive(Debug, Clone)]
pub struct SeaSessionRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
    /// Writes that may be grouped (see [`crate::writes`]).
    writes: Writes,
}

impl SeaSessionRepository {
    /// Crate-private: the api wires sessions through [`crate::AccountStores`].
    pub(crate) fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
            writes: database.writes().clone(),
        }
    }
}

pub(crate) fn to_domain(model: sessions::Model) -> Result<Session, RepositoryError> {
    // A scope renamed or removed since the login narrows the session; it never breaks it.
    let scopes = ScopeSet::parse_granted(&model.scope);
    Ok(Session {
        id: SessionId::from_uuid(model.id),
        user_id: UserId::from_uuid(model.user_id),
        scopes,
        resources: crate::grants::read(&model.resources),
        created_at: model.created_at,
        last_used_at: model.last_used_at,
        idle_expires_at: model.idle_expires_at,
        absolute_expires_at: model.absolute_expires_at,
        revoked_at: model.revoked_at,
        caller: Caller {
            user_agent: model.user_agent,
            ip: model.ip,
        },
        credential_version: model.credential_version,
        kind: SessionKind::parse(&model.kind),
        // An id that no longer parses names no caller.
        client_id: model.client_id.and_then(|id| ClientId::parse(&id).ok()),
        amr: Amr::parse(&model.amr),
        // An id that no longer parses names no provider.
        idp: model.idp.and_then(|id| ProviderId::parse(&id).ok()),
        authenticated_at: model.authenticated_at.unwrap_or(model.created_at),
    })
}

pub(crate) fn to_active_model(session: &Session) -> sessions::ActiveModel {
    sessions::ActiveModel {
        id: Set(session.id.as_uuid()),
        user_id: Set(session.user_id.as_uuid()),
        scope: Set(session.scopes.to_string()),
        created_at: Set(session.created_at),
        last_used_at: Set(session.last_used_at),
        idle_expires_at: Set(session.idle_expires_at),
        absolute_expires_at: Set(session.absolute_expires_at),
        revoked_at: Set(session.revoked_at),
        user_agent: Set(session.caller.user_agent.clone()),
        ip: Set(session.caller.ip.clone()),
        credential_version: Set(session.credential_version),
        client_id: Set(session.client_id.as_ref().map(|id| id.as_str().to_owned())),
        kind: Set(session.kind.as_str().to_owned()),
        browser_token_hash: Set(None),
        amr: Set(session.amr.as_str().to_owned()),
        idp: Set(session.idp.as_ref().map(ToString::to_string)),
        authenticated_at: Set(Some(session.authenticated_at)),
        resources: Set(crate::grants::write(&session.resources)),
        name: Set(None),
        used_at: Set(None),
        used_ip: Set(None),
    }
}

/// The audit row of a rotation (its user is the session's, set once it is known).
fn audit_row(
    record: &RotationRecord,
    kind: AuditKind,
    now: DateTime<Utc>,
) -> audit_events::ActiveModel {
    audit_events::ActiveModel {
        id: Set(record.id.as_uuid()),
        kind: Set(kind.as_str().to_owned()),
        user_id: Set(None),
        actor_id: Set(None),
        ip: Set(record.caller.ip.clone()),
        user_agent: Set(record.caller.user_agent.clone()),
        detail: Set(None),
        created_at: Set(now),
    }
}

/// A session's refresh token, issued at `now` for the presentation of `parent` (none for
/// a session's first).
fn new_token(
    digest: &TokenDigest,
    session: SessionId,
    now: DateTime<Utc>,
    parent: Option<&TokenDigest>,
) -> refresh_tokens::ActiveModel {
    refresh_tokens::ActiveModel {
        token_hash: Set(digest.as_str().to_owned()),
        session_id: Set(session.as_uuid()),
        created_at: Set(now),
        rotated_at: Set(None),
        parent_hash: Set(parent.map(|parent| parent.as_str().to_owned())),
    }
}

/// Sessions deleted per transaction by [`SessionRepository::purge`].
const PURGE_CHUNK: u64 = 500;

/// Sessions neither revoked nor expired at `now`.
fn live_at(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::RevokedAt.is_null())
        .add(Column::IdleExpiresAt.gt(now))
        .add(Column::AbsoluteExpiresAt.gt(now))
}

#[async_trait]
impl SessionRepository for SeaSessionRepository {
    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    async fn create(
        &self,
        session: &Session,
        refresh: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        let row = to_active_model(session);
        let token = new_token(refresh, session.id, session.created_at, None);
        // New rows under new keys: only the database failing can refuse them.
        self.writes
            .run_unguarded(Box::new(move |txn| {
                Box::pin(async move {
                    Entity::insert(row).exec_without_returning(txn).await?;
                    refresh_tokens::Entity::insert(token)
                        .exec_without_returning(txn)
                        .await?;
                    Ok(())
                })
            }))
            .await
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError> {
        Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn find_with_user(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let row = Entity::find_by_id(id.as_uuid())
            .find_also_related(crate::entity::users::Entity)
            .one(&self.db)
            .await
            .map_err(storage)?;
        match row {
            Some((session, Some(user))) => {
                Ok(Some((to_domain(session)?, crate::users::to_domain(user)?)))
            }
            _ => Ok(None),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_any_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        let token = refresh_tokens::Entity::find_by_id(refresh.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?;
        match token {
            Some(token) => self.find(SessionId::from_uuid(token.session_id)).await,
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_refresh(
        &self,
        refresh: &TokenDigest,
    ) -> Result<Option<Session>, RepositoryError> {
        let token = refresh_tokens::Entity::find_by_id(refresh.as_str().to_owned())
            .filter(refresh_tokens::Column::RotatedAt.is_null())
            .one(&self.db)
            .await
            .map_err(storage)?;
        match token {
            Some(token) => self.find(SessionId::from_uuid(token.session_id)).await,
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn rotate(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
        record: &RotationRecord,
    ) -> Result<Rotation, RepositoryError> {
        if self.writer.get_database_backend() == DbBackend::Postgres {
            return self
                .rotate_in_one_statement(old, new, now, lifetimes, record)
                .await;
        }
        let (old_digest, new_digest) = (old.clone(), new.clone());
        let audited = audit_row(record, AuditKind::TokenRefreshed, now);
        // One write, grouped with others' (see `crate::writes`), run one at a time: what
        // the first statement finds stays true until the write ends. It changes nothing
        // unless it goes through, so it needs no savepoint.
        let swapped = self
            .writes
            .run_unguarded(Box::new(move |txn| {
                Box::pin(async move {
                    // The session of the unrotated token, refreshed while it is live (used
                    // now, the idle expiry pushed back but never past the absolute one, as
                    // `Session::refreshed`), and read back.
                    let idle = now + lifetimes.idle;
                    let token_session = Query::select()
                        .column(refresh_tokens::Column::SessionId)
                        .from(refresh_tokens::Entity)
                        .and_where(refresh_tokens::Column::TokenHash.eq(old_digest.as_str()))
                        .and_where(refresh_tokens::Column::RotatedAt.is_null())
                        .to_owned();
                    let refreshed = Entity::update_many()
                        .col_expr(Column::LastUsedAt, Expr::value(now))
                        .col_expr(
                            Column::IdleExpiresAt,
                            Expr::case(
                                Column::AbsoluteExpiresAt.lt(idle),
                                Expr::col(Column::AbsoluteExpiresAt),
                            )
                            .finally(Expr::value(idle))
                            .into(),
                        )
                        .filter(Column::Id.in_subquery(token_session))
                        .filter(live_at(now))
                        .exec_with_returning(txn)
                        .await?;
                    // Unknown, rotated already, or its session ended: nothing was changed.
                    let Some(row) = refreshed.into_iter().next() else {
                        return Ok(None);
                    };
                    // The token rotated and its successor stored in one statement: the
                    // old token's row is there (found above), so its values only mark it
                    // rotated.
                    let session = SessionId::from_uuid(row.id);
                    let rotated = refresh_tokens::ActiveModel {
                        rotated_at: Set(Some(now)),
                        ..new_token(&old_digest, session, now, None)
                    };
                    refresh_tokens::Entity::insert_many([
                        rotated,
                        new_token(&new_digest, session, now, Some(&old_digest)),
                    ])
                    .on_conflict(
                        OnConflict::column(refresh_tokens::Column::TokenHash)
                            .update_column(refresh_tokens::Column::RotatedAt)
                            .to_owned(),
                    )
                    .exec_without_returning(txn)
                    .await?;
                    crate::entity::audit_events::Entity::insert(audit_events::ActiveModel {
                        user_id: Set(Some(row.user_id)),
                        ..audited
                    })
                    .exec_without_returning(txn)
                    .await?;
                    Ok(Some(row))
                })
            }))
            .await?;
        match swapped {
            // Read beside the writer, which only writes.
            Some(row) => match crate::entity::users::Entity::find_by_id(row.user_id)
                .one(&self.db)
                .await
                .map_err(storage)?
            {
                Some(user) => Ok(Rotation::Rotated(Box::new((
                    to_domain(row)?,
                    crate::users::to_domain(user)?,
                )))),
                None => Ok(Rotation::Invalid),
            },
            // A retry, a replay (the session ends), or a token that opens nothing.
            None => self.on_stale_token(old, new, now, lifetimes, record).await,
        }
    }

    #[tracing::instrument(skip_all)]
    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepositoryError> {
        Entity::find()
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(live_at(now))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let result = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(now))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(live_at(now))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn reauthenticated(
        &self,
        user: UserId,
        id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let result = Entity::update_many()
            .col_expr(Column::AuthenticatedAt, Expr::value(at))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(live_at(at))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let mut query = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(now))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            query = query.filter(Column::Id.ne(keep.as_uuid()));
        }
        Ok(query
            .exec(&self.writer)
            .await
            .map_err(storage)?
            .rows_affected)
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let dead = Condition::any()
            .add(Column::RevokedAt.lt(before))
            .add(Column::IdleExpiresAt.lt(before))
            .add(Column::AbsoluteExpiresAt.lt(before));
        // In chunks, each its own short transaction: on SQLite the one writer connection is
        // free between them for the requests' writes, which a purge of many sessions in
        // one transaction would hold back for its whole length. Each chunk goes on in the
        // primary key's order from where the last one stopped, so live sessions are read
        // once per purge, not once per chunk (no index on the expiry times, which every
        // refresh would have to update). After each chunk the purge rests as long as the
        // chunk took: it takes at most half of the writer's time and of a core, however many
        // sessions it has to delete (a million take a minute or two).
        let mut removed = 0;
        let mut after: Option<uuid::Uuid> = None;
        loop {
            let began = std::time::Instant::now();
            let txn = self.writer.begin().await.map_err(storage)?;
            let mut chunk = Entity::find()
                .select_only()
                .column(Column::Id)
                .filter(dead.clone())
                .order_by_asc(Column::Id)
                .limit(PURGE_CHUNK);
            if let Some(after) = after {
                chunk = chunk.filter(Column::Id.gt(after));
            }
            let ids: Vec<uuid::Uuid> = chunk.into_tuple().all(&txn).await.map_err(storage)?;
            let Some(last) = ids.last() else {
                txn.commit().await.map_err(storage)?;
                return Ok(removed);
            };
            after = Some(*last);
            refresh_tokens::Entity::delete_many()
                .filter(refresh_tokens::Column::SessionId.is_in(ids.iter().copied()))
                .exec(&txn)
                .await
                .map_err(storage)?;
            removed += Entity::delete_many()
                .filter(Column::Id.is_in(ids.iter().copied()))
                .exec(&txn)
                .await
                .map_err(storage)?
                .rows_affected;
            txn.commit().await.map_err(storage)?;
            if (ids.len() as u64) < PURGE_CHUNK {
                return Ok(removed);
            }
            tokio::time::sleep(began.elapsed()).await;
        }
    }

    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    async fn create_browser(
        &self,
        session: &Session,
        cookie: &TokenDigest,
    ) -> Result<(), RepositoryError> {
        let mut row = to_active_model(session);
        row.browser_token_hash = Set(Some(cookie.as_str().to_owned()));
        Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
            .map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn find_browser(
        &self,
        cookie: &TokenDigest,
    ) -> Result<Option<(Session, User)>, RepositoryError> {
        let row = Entity::find()
            .filter(Column::BrowserTokenHash.eq(cookie.as_str()))
            .find_also_related(crate::entity::users::Entity)
            .one(&self.db)
            .await
            .map_err(storage)?;
        match row {
            Some((session, Some(user))) => {
                Ok(Some((to_domain(session)?, crate::users::to_domain(user)?)))
            }
            _ => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(client_id = %client))]
    async fn revoke_client(
        &self,
        client: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let result = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(now))
            .filter(Column::ClientId.eq(client.as_str()))
            .filter(Column::RevokedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }
}

/// A rotation in one round trip on PostgreSQL: the token marked rotated only while its
/// session is live (the compare-and-swap: of concurrent rotations of one token, one changes
/// the row and the others, once its lock is released, find it rotated), the session
/// refreshed and returned with its user (columns `A_…` and `B_…`, as
/// `find_also_related` names them), the new token and the audit event stored. No row back:
/// the token is unknown, rotated already, or its session has ended.
const ROTATE: &str = r#"
WITH swapped AS (
    UPDATE refresh_tokens AS token SET rotated_at = $1
    FROM sessions AS session
    WHERE token.token_hash = $2 AND token.rotated_at IS NULL
      AND session.id = token.session_id AND session.revoked_at IS NULL
      AND session.idle_expires_at > $1 AND session.absolute_expires_at > $1
    RETURNING token.session_id
), refreshed AS (
    UPDATE sessions SET last_used_at = $1, idle_expires_at = LEAST($3, absolute_expires_at)
    WHERE id = (SELECT session_id FROM swapped)
      AND revoked_at IS NULL AND idle_expires_at > $1 AND absolute_expires_at > $1
    RETURNING *
), stored AS (
    INSERT INTO refresh_tokens (token_hash, session_id, created_at, rotated_at, parent_hash)
    SELECT $4, id, $1, NULL, $2 FROM refreshed
), audited AS (
    INSERT INTO audit_events (id, kind, user_id, actor_id, ip, user_agent, detail, created_at)
    SELECT $5, $6, user_id, NULL, $7, $8, NULL, $1 FROM refreshed
)
SELECT {columns} FROM refreshed JOIN users ON users.id = refreshed.user_id
"#;

/// [`ROTATE`] with its columns named.
fn rotate_statement() -> &'static str {
    static STATEMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STATEMENT.get_or_init(|| {
        use sea_orm::{IdenStatic, Iterable};
        let session = sessions::Column::iter()
            .map(|column| format!(r#"refreshed."{0}" AS "A_{0}""#, column.as_str()));
        let user = crate::entity::users::Column::iter()
            .map(|column| format!(r#"users."{0}" AS "B_{0}""#, column.as_str()));
        ROTATE.replace(
            "{columns}",
            &session.chain(user).collect::<Vec<_>>().join(", "),
        )
    })
}

impl SeaSessionRepository {
    /// [`SessionRepository::rotate`] on PostgreSQL: one statement ([`ROTATE`]) instead of a
    /// transaction of three, its own transaction.
    async fn rotate_in_one_statement(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
        record: &RotationRecord,
    ) -> Result<Rotation, RepositoryError> {
        let row = self
            .writer
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                rotate_statement(),
                vec![
                    now.into(),
                    old.as_str().into(),
                    (now + lifetimes.idle).into(),
                    new.as_str().into(),
                    record.id.as_uuid().into(),
                    AuditKind::TokenRefreshed.as_str().into(),
                    record.caller.ip.clone().into(),
                    record.caller.user_agent.clone().into(),
                ],
            ))
            .await
            .map_err(storage)?;
        match row {
            Some(row) => {
                let session = sessions::Model::from_query_result(&row, "A_").map_err(storage)?;
                let user =
                    crate::entity::users::Model::from_query_result(&row, "B_").map_err(storage)?;
                Ok(Rotation::Rotated(Box::new((
                    to_domain(session)?,
                    crate::users::to_domain(user)?,
                ))))
            }
            // Unknown, rotated (a retry, or a replay: the session ends), or ended.
            None => self.on_stale_token(old, new, now, lifetimes, record).await,
        }
    }

    /// A refresh token that failed the compare-and-swap: unknown, or already rotated. A
    /// rotated one presented again within the leeway while its successor is unused is a
    /// client retrying a refresh whose answer it lost ([`Self::retry`]); otherwise it is a
    /// replay, by a thief or by a client racing itself, and the session is revoked, as
    /// OAuth 2.0 Security BCP §4.14 advises.
    async fn on_stale_token(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
        record: &RotationRecord,
    ) -> Result<Rotation, RepositoryError> {
        let token = refresh_tokens::Entity::find_by_id(old.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?;
        let Some((token, rotated_at)) =
            token.and_then(|token| token.rotated_at.map(|at| (token, at)))
        else {
            return Ok(Rotation::Invalid);
        };
        if lifetimes.reuse_leeway > chrono::Duration::zero()
            && now - rotated_at <= lifetimes.reuse_leeway
        {
            let session = SessionId::from_uuid(token.session_id);
            if let Some(rotation) = self
                .retry(session, old, new, now, lifetimes, record)
                .await?
            {
                return Ok(rotation);
            }
        }
        Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(now))
            .filter(Column::Id.eq(token.session_id))
            .filter(Column::RevokedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        let Some(session) = Entity::find_by_id(token.session_id)
            .one(&self.db)
            .await
            .map_err(storage)?
        else {
            return Ok(Rotation::Invalid);
        };
        Ok(Rotation::Reused {
            session: SessionId::from_uuid(session.id),
            user: UserId::from_uuid(session.user_id),
        })
    }

    /// A retry of `old`, rotated within the leeway: its session's current token, issued for
    /// `old` and never used, is replaced by `new` (a compare-and-swap, so that of racing
    /// retries one replaces it and the others find it gone: [`Rotation::Lost`]), the
    /// session refreshed and the retry recorded. `None` when the current token was not
    /// issued for `old` (it was used: `old` is a replay) or the session ended.
    async fn retry(
        &self,
        session: SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
        now: DateTime<Utc>,
        lifetimes: SessionLifetimes,
        record: &RotationRecord,
    ) -> Result<Option<Rotation>, RepositoryError> {
        let (old, new) = (old.clone(), new.clone());
        let audited = audit_row(record, AuditKind::RefreshRetried, now);
        let retried = self
            .writes
            .run(Box::new(move |txn| {
                Box::pin(async move {
                    let current = refresh_tokens::Entity::find()
                        .filter(refresh_tokens::Column::SessionId.eq(session.as_uuid()))
                        .filter(refresh_tokens::Column::RotatedAt.is_null())
                        .one(txn)
                        .await?;
                    let Some(current) = current
                        .filter(|current| current.parent_hash.as_deref() == Some(old.as_str()))
                    else {
                        return Ok(RetryFound::Replay);
                    };
                    let killed = refresh_tokens::Entity::update_many()
                        .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now))
                        .filter(refresh_tokens::Column::TokenHash.eq(current.token_hash))
                        .filter(refresh_tokens::Column::RotatedAt.is_null())
                        .exec(txn)
                        .await?;
                    if killed.rows_affected == 0 {
                        // Replaced meanwhile: by a racing retry (the current token is again
                        // one issued for `old`), or by the successor's own use (a replay).
                        let now_current = refresh_tokens::Entity::find()
                            .filter(refresh_tokens::Column::SessionId.eq(session.as_uuid()))
                            .filter(refresh_tokens::Column::RotatedAt.is_null())
                            .one(txn)
                            .await?;
                        return Ok(
                            if now_current.is_some_and(|current| {
                                current.parent_hash.as_deref() == Some(old.as_str())
                            }) {
                                RetryFound::Lost
                            } else {
                                RetryFound::Replay
                            },
                        );
                    }
                    let idle = now + lifetimes.idle;
                    let refreshed = Entity::update_many()
                        .col_expr(Column::LastUsedAt, Expr::value(now))
                        .col_expr(
                            Column::IdleExpiresAt,
                            Expr::case(
                                Column::AbsoluteExpiresAt.lt(idle),
                                Expr::col(Column::AbsoluteExpiresAt),
                            )
                            .finally(Expr::value(idle))
                            .into(),
                        )
                        .filter(Column::Id.eq(session.as_uuid()))
                        .filter(live_at(now))
                        .exec_with_returning(txn)
                        .await?;
                    let Some(row) = refreshed.into_iter().next() else {
                        return Ok(RetryFound::Replay);
                    };
                    refresh_tokens::Entity::insert(new_token(&new, session, now, Some(&old)))
                        .exec_without_returning(txn)
                        .await?;
                    audit_events::Entity::insert(audit_events::ActiveModel {
                        user_id: Set(Some(row.user_id)),
                        ..audited
                    })
                    .exec_without_returning(txn)
                    .await?;
                    Ok(RetryFound::Replaced(Box::new(row)))
                })
            }))
            .await?;
        match retried {
            RetryFound::Replay => Ok(None),
            RetryFound::Lost => Ok(Some(Rotation::Lost)),
            RetryFound::Replaced(row) => {
                match crate::entity::users::Entity::find_by_id(row.user_id)
                    .one(&self.db)
                    .await
                    .map_err(storage)?
                {
                    Some(user) => Ok(Some(Rotation::Retried(Box::new((
                        to_domain(*row)?,
                        crate::users::to_domain(user)?,
                    ))))),
                    None => Ok(Some(Rotation::Invalid)),
                }
            }
        }
    }
}

/// What a retry found.
enum RetryFound {
    /// The current token was not issued for the retried one, or the session ended.
    Replay,
    /// A racing retry replaced the successor first.
    Lost,
    /// The successor replaced: the session as refreshed.
    Replaced(Box<sessions::Model>),
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use gatehouse_domain::ports::UserRepository;
    use gatehouse_domain::{Email, PasswordHash, Role};

    use super::*;
    use crate::users::SeaUserRepository;

    #[tokio::test]
    async fn the_purge_goes_in_chunks_and_leaves_live_sessions_alone() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::connect(&format!("sqlite://{}/purge.db", dir.path().display()))
            .await
            .unwrap();
        database.migrate_up().await.unwrap();
        let now = Utc::now();
        let user = User::new(
            Email::parse("purged@example.com").unwrap(),
            None,
            Role::User,
            PasswordHash::new("$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            now,
        );
        SeaUserRepository::new(&database)
            .insert(&user)
            .await
            .unwrap();
        let sessions = SeaSessionRepository::new(&database);
        let lifetimes = SessionLifetimes {
            idle: Duration::minutes(30),
            absolute: Duration::days(1),
            ..SessionLifetimes::default()
        };
        // More dead sessions than one chunk holds, and a live one.
        let dead = PURGE_CHUNK as usize * 2 + 7;
        for _ in 0..dead {
            let session = Session::start(
                &user,
                ScopeSet::default(),
                Caller::default(),
                lifetimes,
                now - Duration::days(2),
            );
            let digest = TokenDigest::new(format!("dead-{}", session.id));
            sessions.create(&session, &digest).await.unwrap();
        }
        let live = Session::start(
            &user,
            ScopeSet::default(),
            Caller::default(),
            lifetimes,
            now,
        );
        sessions
            .create(&live, &TokenDigest::new("live"))
            .await
            .unwrap();

        assert_eq!(sessions.purge(now).await.unwrap(), dead as u64);
        assert_eq!(sessions.purge(now).await.unwrap(), 0);
        assert!(sessions.find(live.id).await.unwrap().is_some());
        assert!(
            sessions
                .find_by_refresh(&TokenDigest::new("live"))
                .await
                .unwrap()
                .is_some()
        );
        let tokens = refresh_tokens::Entity::find()
            .all(database.connection())
            .await
            .unwrap();
        assert_eq!(
            tokens.len(),
            1,
            "the dead sessions' refresh tokens went with them"
        );
    }
}
