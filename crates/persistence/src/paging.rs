//! One page of a listing and the total it is a page of: what every list of the API reads.

use gatehouse_domain::{Page, RepositoryError};
use sea_orm::{
    ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryOrder, QuerySelect, Select,
};

use crate::errors::storage;

/// The rows of `query` in `page`, ordered by `created_at` then `id` (both in `order`, so
/// pages are stable), converted by `to_domain`, and how many rows `query` matches, counted
/// up to `page.count_limit()` (only ids are read to count, so an index can answer).
pub(crate) async fn page_of<E, T>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    (created_at, id): (E::Column, E::Column),
    order: Order,
    page: Page,
    to_domain: impl Fn(E::Model) -> Result<T, RepositoryError>,
) -> Result<(Vec<T>, u64), RepositoryError>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let rows = query
        .clone()
        .order_by(created_at, order.clone())
        .order_by(id, order)
        .limit(page.limit())
        .offset(page.offset())
        .all(db)
        .await
        .map_err(storage)?;
    let short = (rows.len() as u64) < page.limit() && (page.offset() == 0 || !rows.is_empty());
    let total = if short {
        // The page holds the end of the list: its rows tell the total.
        page.offset() + rows.len() as u64
    } else {
        // `count` wraps the query as it is, its limit included, in `SELECT COUNT(*) FROM (…)`.
        query
            .select_only()
            .column(id)
            .limit(page.count_limit())
            .count(db)
            .await
            .map_err(storage)?
    };
    let items = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
    Ok((items, total))
}
