//! The domain's `DeviceAuthorizationRepository` on SeaORM: each step of a device's request
//! is a conditional update, so racing polls and decisions each change it once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::mfa::Amr;
use gatehouse_domain::oauth::ClientId;
use gatehouse_domain::oauth::device::{
    Approval, DeviceAuthorization, DeviceAuthorizationId, DeviceAuthorizationRepository,
    DeviceStatus, InsertDeviceError, UserCode,
};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::{RepositoryError, ScopeSet, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
};

use crate::database::Database;
use crate::entity::device_authorizations::{self as rows, Column, Entity};
use crate::errors::{corrupt, storage};

pub struct SeaDeviceAuthorizations {
    db: DatabaseConnection,
    writer: DatabaseConnection,
}

impl SeaDeviceAuthorizations {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

const PENDING: &str = "pending";
const APPROVED: &str = "approved";
const DENIED: &str = "denied";
const USED: &str = "used";

fn to_domain(model: rows::Model) -> Result<DeviceAuthorization, RepositoryError> {
    let row = model.id;
    let bad = |reason: &dyn std::fmt::Display| corrupt("device_authorizations", row, reason);
    let status = match model.status.as_str() {
        PENDING => DeviceStatus::Pending,
        DENIED => DeviceStatus::Denied,
        USED => DeviceStatus::Used,
        APPROVED => match (model.user_id, model.auth_time, model.credential_version) {
            (Some(user), Some(auth_time), Some(credential_version)) => {
                DeviceStatus::Approved(Approval {
                    user_id: UserId::from_uuid(user),
                    amr: Amr::parse(model.amr.as_deref().unwrap_or_default()),
                    auth_time,
                    credential_version,
                    scopes: ScopeSet::parse_granted(
                        model.granted_scope.as_deref().unwrap_or_default(),
                    ),
                })
            }
            _ => return Err(bad(&"an approval without its approver")),
        },
        other => return Err(bad(&format!("unknown status {other}"))),
    };
    Ok(DeviceAuthorization {
        id: DeviceAuthorizationId::from_uuid(model.id),
        client_id: ClientId::parse(&model.client_id).map_err(|e| bad(&e))?,
        user_code: UserCode::parse(&model.user_code).map_err(|e| bad(&e))?,
        scopes: model.scope.as_deref().map(ScopeSet::parse_granted),
        status,
        created_at: model.created_at,
        expires_at: model.expires_at,
        interval_secs: model.interval_secs,
        last_polled_at: model.last_polled_at,
    })
}

#[async_trait]
impl DeviceAuthorizationRepository for SeaDeviceAuthorizations {
    #[tracing::instrument(skip_all)]
    async fn insert(
        &self,
        device_code: &TokenDigest,
        authorization: &DeviceAuthorization,
    ) -> Result<(), InsertDeviceError> {
        let row = rows::ActiveModel {
            id: Set(authorization.id.as_uuid()),
            device_code_hash: Set(device_code.as_str().to_owned()),
            user_code: Set(authorization.user_code.as_str().to_owned()),
            client_id: Set(authorization.client_id.as_str().to_owned()),
            scope: Set(authorization.scopes.as_ref().map(ToString::to_string)),
            status: Set(PENDING.to_owned()),
            user_id: Set(None),
            amr: Set(None),
            auth_time: Set(None),
            credential_version: Set(None),
            granted_scope: Set(None),
            created_at: Set(authorization.created_at),
            expires_at: Set(authorization.expires_at),
            interval_secs: Set(authorization.interval_secs),
            last_polled_at: Set(None),
        };
        match Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Err(InsertDeviceError::UserCodeTaken),
                _ => Err(storage(error).into()),
            },
        }
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_device_code(
        &self,
        device_code: &TokenDigest,
    ) -> Result<Option<DeviceAuthorization>, RepositoryError> {
        Entity::find()
            .filter(Column::DeviceCodeHash.eq(device_code.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceAuthorization>, RepositoryError> {
        Entity::find()
            .filter(Column::UserCode.eq(code.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn record_poll(
        &self,
        id: DeviceAuthorizationId,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        interval_secs: i64,
    ) -> Result<bool, RepositoryError> {
        let last_matches = match last {
            Some(last) => Column::LastPolledAt.eq(last),
            None => Column::LastPolledAt.is_null(),
        };
        let result = Entity::update_many()
            .col_expr(Column::LastPolledAt, Expr::value(now))
            .col_expr(Column::IntervalSecs, Expr::value(interval_secs))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(last_matches)
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn decide(
        &self,
        id: DeviceAuthorizationId,
        approval: Option<&Approval>,
        now: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut update = Entity::update_many();
        update = match approval {
            Some(approval) => update
                .col_expr(Column::Status, Expr::value(APPROVED))
                .col_expr(Column::UserId, Expr::value(approval.user_id.as_uuid()))
                .col_expr(Column::Amr, Expr::value(approval.amr.as_str()))
                .col_expr(Column::AuthTime, Expr::value(approval.auth_time))
                .col_expr(
                    Column::CredentialVersion,
                    Expr::value(approval.credential_version),
                )
                .col_expr(
                    Column::GrantedScope,
                    Expr::value(approval.scopes.to_string()),
                ),
            None => update.col_expr(Column::Status, Expr::value(DENIED)),
        };
        let result = update
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::Status.eq(PENDING))
            .filter(Column::ExpiresAt.gt(now))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn consume(&self, id: DeviceAuthorizationId) -> Result<bool, RepositoryError> {
        let result = Entity::update_many()
            .col_expr(Column::Status, Expr::value(USED))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::Status.eq(APPROVED))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(Entity::delete_many()
            .filter(Column::ExpiresAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(storage)?
            .rows_affected)
    }
}
