//! Rows that each belong to one user (todos, and any resource built like them): the
//! owner-filtered reads and writes every such repository makes, written once. Another
//! user's row is never found, changed or deleted through these.

use gatehouse_domain::{RepositoryError, UserId};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Select};

use crate::users::storage;

/// A table whose rows have an id and an owner.
pub(crate) trait OwnedTable: EntityTrait {
    const ID: Self::Column;
    const OWNER: Self::Column;
}

/// The owner's rows, to filter further and page (`paging::page_of`).
pub(crate) fn rows_of<E: OwnedTable>(owner: UserId) -> Select<E> {
    E::find().filter(E::OWNER.eq(owner.as_uuid()))
}

/// The owner's row with this id, or `None` (also when it belongs to someone else).
pub(crate) async fn find<E: OwnedTable>(
    db: &DatabaseConnection,
    owner: UserId,
    id: uuid::Uuid,
) -> Result<Option<E::Model>, RepositoryError> {
    rows_of::<E>(owner)
        .filter(E::ID.eq(id))
        .one(db)
        .await
        .map_err(storage)
}

/// Stores `row` over the owner's row with this id; returns whether there was one.
pub(crate) async fn update<E: OwnedTable>(
    db: &DatabaseConnection,
    owner: UserId,
    id: uuid::Uuid,
    row: impl IntoActiveModel<E::ActiveModel>,
) -> Result<bool, RepositoryError> {
    let result = E::update_many()
        .set(row.into_active_model())
        .filter(E::ID.eq(id))
        .filter(E::OWNER.eq(owner.as_uuid()))
        .exec(db)
        .await
        .map_err(storage)?;
    Ok(result.rows_affected == 1)
}

/// Deletes the owner's row with this id; returns whether there was one.
pub(crate) async fn delete<E: OwnedTable>(
    db: &DatabaseConnection,
    owner: UserId,
    id: uuid::Uuid,
) -> Result<bool, RepositoryError> {
    let result = E::delete_many()
        .filter(E::ID.eq(id))
        .filter(E::OWNER.eq(owner.as_uuid()))
        .exec(db)
        .await
        .map_err(storage)?;
    Ok(result.rows_affected == 1)
}
