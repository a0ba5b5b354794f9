//! The domain's `OwnedRepository` on SeaORM, for every table whose rows each belong to one
//! user (todos, and any resource built like them): a resource describes its table and how
//! a row maps to its item ([`OwnedTable`]); the owner-filtered reads and writes are here.
//! Another user's row is never found, changed or deleted through them.

use std::marker::PhantomData;

use async_trait::async_trait;
use gatehouse_domain::owned::{Owned, OwnedRepository};
use gatehouse_domain::{Identifier, Page, RepositoryError, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel,
    Order, QueryFilter, Select,
};

use crate::database::Database;
use crate::errors::storage;
use crate::paging::page_of;

/// A table whose rows each belong to one user, and how they map to the domain's item.
pub trait OwnedTable: EntityTrait {
    type Item: Owned;
    const ID: Self::Column;
    const OWNER: Self::Column;
    const CREATED_AT: Self::Column;

    /// The item a row holds; a row the domain refuses is `errors::corrupt`, a 500, never a panic.
    fn to_domain(row: Self::Model) -> Result<Self::Item, RepositoryError>;
    fn to_row(item: &Self::Item) -> Self::ActiveModel;
    /// The key of the row that holds the item with `id`.
    fn row_id(id: <Self::Item as Owned>::Id) -> uuid::Uuid {
        id.as_uuid()
    }
    /// The conditions a listing's filter adds.
    fn matching(filter: &<Self::Item as Owned>::Filter) -> Condition;
}

/// The repository of an [`OwnedTable`].
pub struct SeaOwned<E> {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
    table: PhantomData<fn() -> E>,
}

impl<E> SeaOwned<E> {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
            table: PhantomData,
        }
    }
}

#[async_trait]
impl<E> OwnedRepository<E::Item> for SeaOwned<E>
where
    E: OwnedTable,
    E::Model: Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    #[tracing::instrument(skip_all)]
    async fn insert(&self, item: &E::Item) -> Result<(), RepositoryError> {
        E::insert(E::to_row(item))
            .exec_without_returning(&self.writer)
            .await
            .map(|_| ())
            .map_err(storage)
    }

    #[tracing::instrument(skip_all)]
    async fn find(
        &self,
        owner: UserId,
        id: <E::Item as Owned>::Id,
    ) -> Result<Option<E::Item>, RepositoryError> {
        find::<E>(&self.db, owner, E::row_id(id))
            .await?
            .map(E::to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        owner: UserId,
        filter: &<E::Item as Owned>::Filter,
        page: Page,
    ) -> Result<(Vec<E::Item>, u64), RepositoryError> {
        let query = rows_of::<E>(owner).filter(E::matching(filter));
        let newest_first = (E::CREATED_AT, E::ID);
        page_of(
            &self.db,
            query,
            newest_first,
            Order::Desc,
            page,
            E::to_domain,
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn update(&self, item: &E::Item) -> Result<bool, RepositoryError> {
        update::<E>(
            &self.writer,
            item.owner(),
            E::row_id(item.id()),
            E::to_row(item),
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn delete(
        &self,
        owner: UserId,
        id: <E::Item as Owned>::Id,
    ) -> Result<bool, RepositoryError> {
        delete::<E>(&self.writer, owner, E::row_id(id)).await
    }
}

/// The owner's rows, to filter further and page (`paging::page_of`).
fn rows_of<E: OwnedTable>(owner: UserId) -> Select<E> {
    E::find().filter(E::OWNER.eq(owner.as_uuid()))
}

/// The owner's row with this id, or `None` (also when it belongs to someone else).
async fn find<E: OwnedTable>(
    db: &DatabaseConnection,
    owner: UserId,
    id: uuid::Uuid,
) -> Result<Option<E::Model>, RepositoryError> {
    E::find()
        .filter(the_owners::<E>(owner, id))
        .one(db)
        .await
        .map_err(storage)
}

/// Stores `row` over the owner's row with this id; returns whether there was one.
async fn update<E: OwnedTable>(
    db: &DatabaseConnection,
    owner: UserId,
    id: uuid::Uuid,
    row: impl IntoActiveModel<E::ActiveModel>,
) -> Result<bool, RepositoryError> {
    let result = E::update_many()
        .set(row.into_active_model())
        .filter(the_owners::<E>(owner, id))
        .exec(db)
        .await
        .map_err(storage)?;
    Ok(result.rows_affected == 1)
}

/// Deletes the owner's row with this id; returns whether there was one.
async fn delete<E: OwnedTable>(
    db: &DatabaseConnection,
    owner: UserId,
    id: uuid::Uuid,
) -> Result<bool, RepositoryError> {
    let result = E::delete_many()
        .filter(the_owners::<E>(owner, id))
        .exec(db)
        .await
        .map_err(storage)?;
    Ok(result.rows_affected == 1)
}

/// The row with this id, if it is the owner's: every read and write of one row names both.
fn the_owners<E: OwnedTable>(owner: UserId, id: uuid::Uuid) -> Condition {
    Condition::all()
        .add(E::ID.eq(id))
        .add(E::OWNER.eq(owner.as_uuid()))
}
