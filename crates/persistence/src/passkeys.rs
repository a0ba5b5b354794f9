//! The domain's `PasskeyRepository` on SeaORM: passkeys (unique by credential id) and the
//! ceremonies begun with them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::passkeys::{
    Assertion, Ceremony, CeremonyPurpose, CeremonyState, CredentialId, InsertPasskeyError, Passkey,
    PasskeyId, PasskeyName, PasskeyRepository, Removed, StoredCredential,
};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::{RepositoryError, SessionId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, SqlErr, TransactionTrait,
};

use crate::database::Database;
use crate::entity::{identities, passkey_ceremonies, passkeys, users};
use crate::errors::{corrupt, storage};

/// Passkeys and their ceremonies.
#[derive(Debug, Clone)]
pub struct SeaPasskeyRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaPasskeyRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

fn passkey(model: passkeys::Model) -> Result<Passkey, RepositoryError> {
    let counter =
        u32::try_from(model.counter).map_err(|error| corrupt("passkeys", model.id, error))?;
    Ok(Passkey {
        id: PasskeyId::from_uuid(model.id),
        user_id: UserId::from_uuid(model.user_id),
        name: model.name,
        credential_id: CredentialId::new(model.credential_id),
        credential: StoredCredential::new(model.credential),
        counter,
        backup_eligible: model.backup_eligible,
        backed_up: model.backed_up,
        created_at: model.created_at,
        last_used_at: model.last_used_at,
    })
}

const REGISTER: &str = "register";
const SIGN_IN: &str = "sign_in";
const SECOND_FACTOR: &str = "second_factor";

fn ceremony(model: passkey_ceremonies::Model) -> Result<Ceremony, RepositoryError> {
    let ids = (
        model.user_id,
        model.session_id,
        model.challenge_hash.clone(),
    );
    let purpose = match (model.purpose.as_str(), ids) {
        (REGISTER, (Some(user), Some(session), None)) => CeremonyPurpose::Register {
            user: UserId::from_uuid(user),
            session: SessionId::from_uuid(session),
        },
        (SIGN_IN, (None, None, None)) => CeremonyPurpose::SignIn,
        (SECOND_FACTOR, (None, None, Some(challenge))) => CeremonyPurpose::SecondFactor {
            challenge: TokenDigest::new(challenge),
        },
        _ => {
            return Err(corrupt(
                "passkey_ceremonies",
                &model.id_hash,
                format!("purpose `{}` with these ids", model.purpose),
            ));
        }
    };
    Ok(Ceremony {
        id: TokenDigest::new(model.id_hash),
        purpose,
        state: CeremonyState::new(model.state),
        created_at: model.created_at,
    })
}

fn mine(user: UserId, id: PasskeyId) -> Condition {
    Condition::all()
        .add(passkeys::Column::Id.eq(id.as_uuid()))
        .add(passkeys::Column::UserId.eq(user.as_uuid()))
}

#[async_trait]
impl PasskeyRepository for SeaPasskeyRepository {
    #[tracing::instrument(skip_all, fields(user_id = %stored.user_id))]
    async fn insert(&self, stored: &Passkey) -> Result<(), InsertPasskeyError> {
        let row = passkeys::ActiveModel {
            id: Set(stored.id.as_uuid()),
            user_id: Set(stored.user_id.as_uuid()),
            name: Set(stored.name.clone()),
            credential_id: Set(stored.credential_id.as_str().to_owned()),
            credential: Set(stored.credential.as_str().to_owned()),
            counter: Set(i64::from(stored.counter)),
            backup_eligible: Set(stored.backup_eligible),
            backed_up: Set(stored.backed_up),
            created_at: Set(stored.created_at),
            last_used_at: Set(stored.last_used_at),
        };
        match passkeys::Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Err(InsertPasskeyError::Taken),
                _ => Err(storage(error).into()),
            },
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn list(&self, user: UserId) -> Result<Vec<Passkey>, RepositoryError> {
        passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user.as_uuid()))
            .order_by_asc(passkeys::Column::CreatedAt)
            .order_by_asc(passkeys::Column::Id)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(passkey)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_credential(
        &self,
        credential: &CredentialId,
    ) -> Result<Option<Passkey>, RepositoryError> {
        passkeys::Entity::find()
            .filter(passkeys::Column::CredentialId.eq(credential.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(passkey)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn rename(
        &self,
        user: UserId,
        id: PasskeyId,
        name: &PasskeyName,
    ) -> Result<bool, RepositoryError> {
        let result = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Name, Expr::value(name.as_str()))
            .filter(mine(user, id))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn remove(
        &self,
        user: UserId,
        id: PasskeyId,
        keep_one: bool,
    ) -> Result<Removed, RepositoryError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        // The account's row lock (PostgreSQL) or the write lock (SQLite), as unlinking an
        // identity takes it: racing removals and unlinks count one after the other.
        users::Entity::update_many()
            .col_expr(
                users::Column::UpdatedAt,
                Expr::col(users::Column::UpdatedAt),
            )
            .filter(users::Column::Id.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        let exists = passkeys::Entity::find()
            .filter(mine(user, id))
            .count(&txn)
            .await
            .map_err(storage)?;
        if exists == 0 {
            return Ok(Removed::NotFound);
        }
        if keep_one {
            let keys = passkeys::Entity::find()
                .filter(passkeys::Column::UserId.eq(user.as_uuid()))
                .count(&txn)
                .await
                .map_err(storage)?;
            let linked = identities::Entity::find()
                .filter(identities::Column::UserId.eq(user.as_uuid()))
                .count(&txn)
                .await
                .map_err(storage)?;
            if keys + linked <= 1 {
                return Ok(Removed::Last);
            }
        }
        passkeys::Entity::delete_many()
            .filter(mine(user, id))
            .exec(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(Removed::Done)
    }

    #[tracing::instrument(skip_all, fields(passkey_id = %id))]
    async fn used(
        &self,
        id: PasskeyId,
        seen: u32,
        assertion: &Assertion,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        use passkeys::Column;
        let result = passkeys::Entity::update_many()
            .col_expr(Column::Counter, Expr::value(i64::from(assertion.counter)))
            .col_expr(
                Column::Credential,
                Expr::value(assertion.credential.as_str()),
            )
            .col_expr(
                Column::BackupEligible,
                Expr::value(assertion.backup_eligible),
            )
            .col_expr(Column::BackedUp, Expr::value(assertion.backed_up))
            .col_expr(Column::LastUsedAt, Expr::value(at))
            .filter(
                Condition::all()
                    .add(Column::Id.eq(id.as_uuid()))
                    .add(Column::Counter.eq(i64::from(seen))),
            )
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn insert_ceremony(&self, begun: &Ceremony) -> Result<(), RepositoryError> {
        let (purpose, user, session, challenge) = match &begun.purpose {
            CeremonyPurpose::Register { user, session } => (
                REGISTER,
                Some(user.as_uuid()),
                Some(session.as_uuid()),
                None,
            ),
            CeremonyPurpose::SignIn => (SIGN_IN, None, None, None),
            CeremonyPurpose::SecondFactor { challenge } => (
                SECOND_FACTOR,
                None,
                None,
                Some(challenge.as_str().to_owned()),
            ),
        };
        passkey_ceremonies::Entity::insert(passkey_ceremonies::ActiveModel {
            id_hash: Set(begun.id.as_str().to_owned()),
            purpose: Set(purpose.to_owned()),
            user_id: Set(user),
            session_id: Set(session),
            challenge_hash: Set(challenge),
            state: Set(begun.state.as_str().to_owned()),
            created_at: Set(begun.created_at),
            used_at: Set(None),
        })
        .exec_without_returning(&self.writer)
        .await
        .map(drop)
        .map_err(storage)
    }

    #[tracing::instrument(skip_all)]
    async fn take_ceremony(
        &self,
        id: &TokenDigest,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Ceremony>, RepositoryError> {
        use passkey_ceremonies::Column;
        let taken = passkey_ceremonies::Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(
                Condition::all()
                    .add(Column::IdHash.eq(id.as_str()))
                    .add(Column::UsedAt.is_null())
                    .add(Column::CreatedAt.gte(not_before)),
            )
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        if taken.rows_affected != 1 {
            return Ok(None);
        }
        passkey_ceremonies::Entity::find_by_id(id.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(ceremony)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn purge_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let result = passkey_ceremonies::Entity::delete_many()
            .filter(passkey_ceremonies::Column::CreatedAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected)
    }
}
