//! The domain's `UserRepository` on SeaORM.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::ports::{InsertUserError, SaveUserError, UserRepository};
use gatehouse_domain::{
    Email, FullName, Page, PasswordHash, RepositoryError, Role, SessionId, User, UserFilter, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, SqlErr, TransactionTrait,
};

use crate::database::Database;
use crate::entity::users::{self, Column, Entity};
use crate::errors::{corrupt, storage};
use crate::paging::page_of;

#[derive(Debug, Clone)]
pub struct SeaUserRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaUserRepository {
    /// Crate-private: the api wires users through [`crate::AccountStores`].
    pub(crate) fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

pub(crate) fn to_domain(model: users::Model) -> Result<User, RepositoryError> {
    let corrupt = |e: &dyn std::fmt::Display| corrupt("users", model.id, e);
    Ok(User {
        id: UserId::from_uuid(model.id),
        email: Email::parse(&model.email).map_err(|e| corrupt(&e))?,
        full_name: FullName::parse_optional(model.full_name.as_deref()).map_err(|e| corrupt(&e))?,
        role: Role::parse(&model.role).map_err(|e| corrupt(&e))?,
        is_active: model.is_active,
        is_verified: model.is_verified,
        password_hash: PasswordHash::new(model.password_hash),
        password_changed_at: model.password_changed_at,
        credential_version: model.credential_version,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn to_active_model(user: &User) -> users::ActiveModel {
    users::ActiveModel {
        id: Set(user.id.as_uuid()),
        email: Set(user.email.as_str().to_owned()),
        full_name: Set(user.full_name.as_ref().map(|n| n.as_str().to_owned())),
        role: Set(user.role.as_str().to_owned()),
        is_active: Set(user.is_active),
        is_verified: Set(user.is_verified),
        password_hash: Set(user.password_hash.as_str().to_owned()),
        password_changed_at: Set(user.password_changed_at),
        credential_version: Set(user.credential_version),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    }
}

fn is_active_admin(role: &str, is_active: bool) -> bool {
    role == Role::Admin.as_str() && is_active
}

/// Stores `user` over its row inside `txn`, provided the row is still the version read at
/// `read_at` and the change leaves an active admin (see `UserRepository::update`).
async fn save_in(
    txn: &DatabaseTransaction,
    user: &User,
    read_at: DateTime<Utc>,
) -> Result<(), SaveUserError> {
    let current = lock_for_change(txn, user.id.as_uuid()).await?;
    if current.updated_at != read_at {
        return Err(SaveUserError::Conflict);
    }
    if is_active_admin(&current.role, current.is_active)
        && !is_active_admin(user.role.as_str(), user.is_active)
    {
        ensure_another_active_admin(txn, current.id).await?;
    }
    if let Err(error) = Entity::update(to_active_model(user)).exec(txn).await {
        return Err(match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => SaveUserError::EmailTaken,
            _ => storage(error).into(),
        });
    }
    Ok(())
}

/// Locks, as the transaction's first statement, the row of `id` and the rows of every
/// active admin, with a no-op write: on PostgreSQL it row-locks them all in one statement
/// (so two admins demoting each other cannot deadlock), on SQLite it takes the write lock
/// before anything is read (so the transaction never has to upgrade a read lock). Then
/// returns the row of `id`.
async fn lock_for_change(
    txn: &DatabaseTransaction,
    id: uuid::Uuid,
) -> Result<users::Model, SaveUserError> {
    Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::col(Column::UpdatedAt))
        .filter(
            Condition::any().add(Column::Id.eq(id)).add(
                Condition::all()
                    .add(Column::Role.eq(Role::Admin.as_str()))
                    .add(Column::IsActive.eq(true)),
            ),
        )
        .exec(txn)
        .await
        .map_err(storage)?;
    Entity::find_by_id(id)
        .one(txn)
        .await
        .map_err(storage)?
        .ok_or(SaveUserError::NotFound)
}

/// Fails with `LastAdmin` unless an active admin other than `id` exists. The caller holds
/// the locks taken by [`lock_for_change`].
async fn ensure_another_active_admin(
    txn: &DatabaseTransaction,
    id: uuid::Uuid,
) -> Result<(), SaveUserError> {
    let others = Entity::find()
        .filter(Column::Role.eq(Role::Admin.as_str()))
        .filter(Column::IsActive.eq(true))
        .filter(Column::Id.ne(id))
        .count(txn)
        .await
        .map_err(storage)?;
    if others == 0 {
        return Err(SaveUserError::LastAdmin);
    }
    Ok(())
}

/// `LIKE` pattern matching `text` anywhere, with the wildcards in `text` taken literally.
/// Whether a trigram index (PostgreSQL's or SQLite's) can find `text`: it needs three
/// characters.
fn indexed(text: &str) -> bool {
    text.chars().count() >= 3
}

impl SeaUserRepository {
    /// Accounts whose email or name contains `text`, ignoring case. PostgreSQL's `LIKE` is
    /// served by the trigram indexes on both (see the `lists_at_scale` migration); SQLite's
    /// by its FTS5 trigram table once `text` has three characters (fewer: a scan).
    fn containing(&self, text: &str) -> Condition {
        let text = text.to_lowercase();
        if self.db.get_database_backend() == DbBackend::Sqlite && indexed(&text) {
            // An FTS5 phrase is matched literally: only its quotes need doubling.
            let phrase = format!("{{email full_name}} : \"{}\"", text.replace('"', "\"\""));
            return Condition::all().add(Expr::cust_with_values(
                "users.rowid IN (SELECT rowid FROM users_search WHERE users_search MATCH ?)",
                [phrase],
            ));
        }
        let pattern = contains_pattern(&text);
        Condition::any()
            .add(Expr::col(Column::Email).like(pattern.clone()))
            .add(Func::lower(Expr::col(Column::FullName)).like(pattern))
    }
}

fn contains_pattern(text: &str) -> LikeExpr {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

#[async_trait]
impl UserRepository for SeaUserRepository {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: &User) -> Result<(), InsertUserError> {
        match Entity::insert(to_active_model(user))
            .exec_without_returning(&self.writer)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Err(InsertUserError::EmailTaken),
                _ => Err(storage(error).into()),
            },
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepositoryError> {
        Entity::find()
            .filter(Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn upgrade_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let result = Entity::update_many()
            .col_expr(Column::PasswordHash, Expr::value(new.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::PasswordHash.eq(expected.as_str()))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), RepositoryError> {
        let mut query = Entity::find();
        let text = filter
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        if let Some(text) = text {
            query = query.filter(self.containing(text));
        }
        if let Some(role) = filter.role {
            query = query.filter(Column::Role.eq(role.as_str()));
        }
        if let Some(is_active) = filter.is_active {
            query = query.filter(Column::IsActive.eq(is_active));
        }
        let oldest_first = (Column::CreatedAt, Column::Id);
        if !text.is_some_and(indexed) || self.db.get_database_backend() != DbBackend::Postgres {
            return page_of(&self.db, query, oldest_first, Order::Asc, page, to_domain).await;
        }
        // The trigram indexes read only the matches, so the search always goes through
        // them. Left to itself, the planner walked the accounts in their order testing each
        // (190 ms with a million, against 13 ms through the indexes) whenever it guessed
        // many would match: under a prepared statement's generic plan, which knows nothing
        // of the text, and for a broad text. So: planned for its text every time, with
        // bitmap scans (the trigram indexes') as the only way to the rows.
        let txn = self.db.begin().await.map_err(storage)?;
        txn.execute_unprepared(
            "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = off; \
             SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off;",
        )
        .await
        .map_err(storage)?;
        // So planned, the search reads every match and sorts them: the same statement
        // counts them too (a second one would search again).
        let statement = query
            .clone()
            .column_as(Expr::cust("COUNT(*) OVER ()"), "matching")
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .limit(page.limit())
            .offset(page.offset())
            .build(DbBackend::Postgres);
        let rows = txn.query_all_raw(statement).await.map_err(storage)?;
        let found = match rows.first() {
            Some(first) => {
                let matching: i64 = first.try_get("", "matching").map_err(storage)?;
                let users = rows
                    .iter()
                    .map(|row| users::Model::from_query_result(row, "").map_err(storage))
                    .map(|model| model.and_then(to_domain))
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    users,
                    Ord::min(u64::try_from(matching).unwrap_or(0), page.count_limit()),
                )
            }
            // Past the last match: counted as every list counts.
            None => page_of(&txn, query, oldest_first, Order::Asc, page, to_domain).await?,
        };
        txn.commit().await.map_err(storage)?;
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn update(&self, user: &User, read_at: DateTime<Utc>) -> Result<(), SaveUserError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        save_in(&txn, user, read_at).await?;
        txn.commit().await.map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn update_credential(
        &self,
        user: &User,
        read_at: DateTime<Utc>,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, SaveUserError> {
        use crate::entity::sessions::{Column as S, Entity as Sessions};
        let txn = self.writer.begin().await.map_err(storage)?;
        save_in(&txn, user, read_at).await?;
        let mut others = Sessions::update_many()
            .col_expr(S::RevokedAt, Expr::value(now))
            .filter(S::UserId.eq(user.id.as_uuid()))
            .filter(S::RevokedAt.is_null());
        if let Some(keep) = keep {
            others = others.filter(S::Id.ne(keep.as_uuid()));
            Sessions::update_many()
                .col_expr(S::CredentialVersion, Expr::value(user.credential_version))
                .filter(S::Id.eq(keep.as_uuid()))
                .filter(S::UserId.eq(user.id.as_uuid()))
                .filter(S::RevokedAt.is_null())
                .exec(&txn)
                .await
                .map_err(storage)?;
        }
        let ended = others.exec(&txn).await.map_err(storage)?.rows_affected;
        // A reset link sets a credential too: those sent before this one are used up with
        // it, so none can replace it afterwards.
        {
            use crate::entity::action_tokens::{Column as T, Entity as Tokens};
            use gatehouse_domain::recovery::TokenPurpose;
            Tokens::update_many()
                .col_expr(T::UsedAt, Expr::value(now))
                .filter(T::UserId.eq(user.id.as_uuid()))
                .filter(T::Purpose.eq(TokenPurpose::PasswordReset.as_str()))
                .filter(T::UsedAt.is_null())
                .exec(&txn)
                .await
                .map_err(storage)?;
        }
        txn.commit().await.map_err(storage)?;
        Ok(ended)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn delete(&self, id: UserId) -> Result<(), SaveUserError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        let current = lock_for_change(&txn, id.as_uuid()).await?;
        if is_active_admin(&current.role, current.is_active) {
            ensure_another_active_admin(&txn, current.id).await?;
        }
        // What the user owns (todos and every resource built like them) goes with them
        // through the foreign keys' `ON DELETE CASCADE`, which `Database` keeps on.
        crate::entity::action_tokens::Entity::delete_many()
            .filter(crate::entity::action_tokens::Column::UserId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        crate::entity::sessions::Entity::delete_many()
            .filter(crate::entity::sessions::Column::UserId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        Entity::delete_by_id(id.as_uuid())
            .exec(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.db.ping().await.map_err(storage)?;
        // A connection that answers is not enough: the schema must be there too.
        self.db
            .execute_unprepared("SELECT 1 FROM users WHERE 1 = 0")
            .await
            .map(|_| ())
            .map_err(storage)
    }
}
