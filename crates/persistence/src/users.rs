//! The domain's `UserRepository` on SeaORM.

use async_trait::async_trait;
use chrono::Utc;
use gatehouse_domain::ports::{InsertUserError, UserRepository};
use gatehouse_domain::{Email, FullName, PasswordHash, RepositoryError, Role, User, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, SqlErr,
};

use crate::database::Database;
use crate::entity::users::{self, Column, Entity};

#[derive(Debug, Clone)]
pub struct SeaUserRepository {
    db: DatabaseConnection,
}

impl SeaUserRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
        }
    }
}

/// Stored data that the domain refuses: a bug or a hand-edited row, never client input.
#[derive(Debug, thiserror::Error)]
#[error("corrupt users row {id}: {reason}")]
struct CorruptRow {
    id: uuid::Uuid,
    reason: String,
}

fn to_domain(model: users::Model) -> Result<User, RepositoryError> {
    let corrupt = |reason: String| {
        RepositoryError::new(CorruptRow {
            id: model.id,
            reason,
        })
    };
    Ok(User {
        id: UserId::from_uuid(model.id),
        email: Email::parse(&model.email).map_err(|e| corrupt(e.to_string()))?,
        full_name: FullName::parse_optional(model.full_name.as_deref())
            .map_err(|e| corrupt(e.to_string()))?,
        role: Role::parse(&model.role).map_err(|e| corrupt(e.to_string()))?,
        is_active: model.is_active,
        is_verified: model.is_verified,
        password_hash: PasswordHash::new(model.password_hash),
        password_changed_at: model.password_changed_at,
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
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    }
}

fn storage(error: DbErr) -> RepositoryError {
    RepositoryError::new(error)
}

#[async_trait]
impl UserRepository for SeaUserRepository {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: &User) -> Result<(), InsertUserError> {
        match Entity::insert(to_active_model(user))
            .exec_without_returning(&self.db)
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
    ) -> Result<bool, RepositoryError> {
        let result = Entity::update_many()
            .col_expr(Column::PasswordHash, Expr::value(new.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::PasswordHash.eq(expected.as_str()))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
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
