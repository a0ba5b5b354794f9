//! The domain's `SessionRepository` on SeaORM: sessions and the digests of their refresh
//! tokens, with rotation as a compare-and-swap.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::mfa::Amr;
use gatehouse_domain::oauth::ClientId;
use gatehouse_domain::ports::{Rotation, SessionRepository, TokenDigest};
use gatehouse_domain::upstream::ProviderId;
use gatehouse_domain::{
    Caller, RepositoryError, ScopeSet, Session, SessionId, SessionKind, SessionLifetimes, User,
    UserId,
};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};

use crate::database::Database;
use crate::entity::refresh_tokens;
use crate::entity::sessions::{self, Column, Entity};
use crate::errors::storage;

#[derive(Debug, Clone)]
pub struct SeaSessionRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaSessionRepository {
    /// Crate-private: the api wires sessions through [`crate::AccountStores`].
    pub(crate) fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

fn to_domain(model: sessions::Model) -> Result<Session, RepositoryError> {
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

fn to_active_model(session: &Session) -> sessions::ActiveModel {
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
    }
}

fn new_token(
    digest: &TokenDigest,
    session: SessionId,
    now: DateTime<Utc>,
) -> refresh_tokens::ActiveModel {
    refresh_tokens::ActiveModel {
        token_hash: Set(digest.as_str().to_owned()),
        session_id: Set(session.as_uuid()),
        created_at: Set(now),
        rotated_at: Set(None),
    }
}

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
        let txn = self.writer.begin().await.map_err(storage)?;
        Entity::insert(to_active_model(session))
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        refresh_tokens::Entity::insert(new_token(refresh, session.id, session.created_at))
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)
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
    ) -> Result<Rotation, RepositoryError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        // The compare-and-swap comes first: as the transaction's first statement it takes
        // the write lock (SQLite) or the row lock (PostgreSQL) before anything is read, so
        // concurrent refreshes queue here and exactly one sees its token unrotated.
        let swapped = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now))
            .filter(refresh_tokens::Column::TokenHash.eq(old.as_str()))
            .filter(refresh_tokens::Column::RotatedAt.is_null())
            .exec_with_returning(&txn)
            .await
            .map_err(storage)?;
        let Some(token) = swapped.into_iter().next() else {
            txn.rollback().await.map_err(storage)?;
            return self.on_stale_token(old, now).await;
        };
        // Only what a refresh changes (`Session::refreshed`: used now, the idle expiry pushed
        // back but never past the absolute one), and only while the session is still live: a
        // revocation or a credential change committed before stands. The row comes back.
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
            .filter(Column::Id.eq(token.session_id))
            .filter(live_at(now))
            .exec_with_returning(&txn)
            .await
            .map_err(storage)?;
        let Some(row) = refreshed.into_iter().next() else {
            txn.rollback().await.map_err(storage)?;
            return Ok(Rotation::Invalid);
        };
        let session = to_domain(row)?;
        refresh_tokens::Entity::insert(new_token(new, session.id, now))
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(Rotation::Rotated(Box::new(session)))
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
        let txn = self.writer.begin().await.map_err(storage)?;
        refresh_tokens::Entity::delete_many()
            .filter(
                refresh_tokens::Column::SessionId.in_subquery(
                    Query::select()
                        .column(Column::Id)
                        .from(Entity)
                        .cond_where(dead.clone())
                        .to_owned(),
                ),
            )
            .exec(&txn)
            .await
            .map_err(storage)?;
        let removed = Entity::delete_many()
            .filter(dead)
            .exec(&txn)
            .await
            .map_err(storage)?
            .rows_affected;
        txn.commit().await.map_err(storage)?;
        Ok(removed)
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

impl SeaSessionRepository {
    /// A refresh token that failed the compare-and-swap: unknown, or already rotated — a
    /// replay, by a thief or by a client racing itself; either way the session is revoked,
    /// as OAuth 2.0 Security BCP §4.14 advises.
    async fn on_stale_token(
        &self,
        old: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Rotation, RepositoryError> {
        let token = refresh_tokens::Entity::find_by_id(old.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?;
        let Some(token) = token.filter(|token| token.rotated_at.is_some()) else {
            return Ok(Rotation::Invalid);
        };
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
}
