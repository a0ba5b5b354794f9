//! The domain's `ThrottleRepository` on SeaORM.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::RepositoryError;
use gatehouse_domain::throttle::{Bucket, ThrottleRepository};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect,
};

use crate::database::Database;
use crate::entity::throttle_events::{self, Column, Entity};
use crate::users::storage;

#[derive(Debug, Clone)]
pub struct SeaThrottleRepository {
    db: DatabaseConnection,
}

impl SeaThrottleRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct Recent {
    count: i64,
    oldest: Option<DateTime<Utc>>,
}

#[async_trait]
impl ThrottleRepository for SeaThrottleRepository {
    async fn recent(
        &self,
        bucket: Bucket,
        subject: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>), RepositoryError> {
        let recent = Entity::find()
            .select_only()
            .column_as(Column::Id.count(), "count")
            .column_as(Column::CreatedAt.min(), "oldest")
            .filter(Column::Bucket.eq(bucket.as_str()))
            .filter(Column::Subject.eq(subject))
            .filter(Column::CreatedAt.gte(since))
            .into_model::<Recent>()
            .one(&self.db)
            .await
            .map_err(storage)?;
        Ok(recent.map_or((0, None), |r| (r.count.max(0) as u64, r.oldest)))
    }

    async fn record(
        &self,
        bucket: Bucket,
        subject: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        Entity::insert(throttle_events::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            bucket: Set(bucket.as_str().to_owned()),
            subject: Set(subject.to_owned()),
            created_at: Set(at),
        })
        .exec_without_returning(&self.db)
        .await
        .map(|_| ())
        .map_err(storage)
    }

    async fn clear(&self, bucket: Bucket, subject: &str) -> Result<(), RepositoryError> {
        Entity::delete_many()
            .filter(Column::Bucket.eq(bucket.as_str()))
            .filter(Column::Subject.eq(subject))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(storage)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Entity::delete_many()
            .filter(Column::CreatedAt.lt(before))
            .exec(&self.db)
            .await
            .map(|result| result.rows_affected)
            .map_err(storage)
    }
}
