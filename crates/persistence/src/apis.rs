//! The domain's `ApiRepository` on SeaORM: an API and its scopes, written together.

use async_trait::async_trait;
use gatehouse_domain::RepositoryError;
use gatehouse_domain::apis::{
    ApiId, ApiIdentifier, ApiName, ApiRepository, ApiScope, InsertApiError, RegisteredApi,
    ScopeDescription, ScopeName,
};
use gatehouse_domain::user::Role;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    SqlErr, TransactionTrait,
};

use crate::database::Database;
use crate::entity::{api_scopes as scopes, apis};
use crate::errors::{corrupt, storage};

/// Registered APIs.
#[derive(Debug, Clone)]
pub struct SeaApiRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaApiRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }

    /// `rows` with their scopes, read in one more query.
    async fn with_scopes(
        &self,
        rows: Vec<apis::Model>,
    ) -> Result<Vec<RegisteredApi>, RepositoryError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<_> = rows.iter().map(|row| row.id).collect();
        let all = scopes::Entity::find()
            .filter(scopes::Column::ApiId.is_in(ids))
            .order_by_asc(scopes::Column::Name)
            .all(&self.db)
            .await
            .map_err(storage)?;
        rows.into_iter()
            .map(|row| {
                let own = all.iter().filter(|scope| scope.api_id == row.id);
                to_domain(row.clone(), own)
            })
            .collect()
    }
}

fn to_domain<'a>(
    row: apis::Model,
    stored: impl Iterator<Item = &'a scopes::Model>,
) -> Result<RegisteredApi, RepositoryError> {
    let corrupt = |e: &dyn std::fmt::Display| corrupt("apis", row.id, e);
    let scopes = stored
        .map(|scope| {
            let roles = scope
                .roles
                .split_whitespace()
                .map(Role::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| corrupt(&e))?;
            Ok(ApiScope {
                name: ScopeName::parse(&scope.name).map_err(|e| corrupt(&e))?,
                description: ScopeDescription::parse(&scope.description)
                    .map_err(|e| corrupt(&e))?,
                roles,
            })
        })
        .collect::<Result<Vec<_>, RepositoryError>>()?;
    Ok(RegisteredApi {
        id: ApiId::from_uuid(row.id),
        identifier: ApiIdentifier::parse(&row.identifier).map_err(|e| corrupt(&e))?,
        name: ApiName::parse(&row.name).map_err(|e| corrupt(&e))?,
        scopes,
        created_at: row.created_at,
    })
}

#[async_trait]
impl ApiRepository for SeaApiRepository {
    #[tracing::instrument(skip_all, fields(api = api.identifier.as_str()))]
    async fn insert(&self, api: &RegisteredApi) -> Result<(), InsertApiError> {
        let txn = self.writer.begin().await.map_err(storage)?;
        let row = apis::ActiveModel {
            id: Set(api.id.as_uuid()),
            identifier: Set(api.identifier.as_str().to_owned()),
            name: Set(api.name.as_str().to_owned()),
            created_at: Set(api.created_at),
        };
        if let Err(error) = apis::Entity::insert(row).exec_without_returning(&txn).await {
            return Err(match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => InsertApiError::Taken,
                _ => storage(error).into(),
            });
        }
        let rows = api.scopes.iter().map(|scope| scopes::ActiveModel {
            api_id: Set(api.id.as_uuid()),
            name: Set(scope.name.as_str().to_owned()),
            description: Set(scope.description.as_str().to_owned()),
            roles: Set(scope
                .roles
                .iter()
                .map(|role| role.as_str())
                .collect::<Vec<_>>()
                .join(" ")),
        });
        scopes::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self) -> Result<Vec<RegisteredApi>, RepositoryError> {
        let rows = apis::Entity::find()
            .order_by_asc(apis::Column::Identifier)
            .all(&self.db)
            .await
            .map_err(storage)?;
        self.with_scopes(rows).await
    }

    #[tracing::instrument(skip_all, fields(api = identifier.as_str()))]
    async fn find(
        &self,
        identifier: &ApiIdentifier,
    ) -> Result<Option<RegisteredApi>, RepositoryError> {
        let rows = apis::Entity::find()
            .filter(apis::Column::Identifier.eq(identifier.as_str()))
            .all(&self.db)
            .await
            .map_err(storage)?;
        Ok(self.with_scopes(rows).await?.pop())
    }

    #[tracing::instrument(skip_all, fields(api_id = %id))]
    async fn find_by_id(&self, id: ApiId) -> Result<Option<RegisteredApi>, RepositoryError> {
        let rows = apis::Entity::find_by_id(id.as_uuid())
            .all(&self.db)
            .await
            .map_err(storage)?;
        Ok(self.with_scopes(rows).await?.pop())
    }

    #[tracing::instrument(skip_all, fields(api_id = %id))]
    async fn delete(&self, id: ApiId) -> Result<bool, RepositoryError> {
        let deleted = apis::Entity::delete_by_id(id.as_uuid())
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(deleted.rows_affected > 0)
    }
}
