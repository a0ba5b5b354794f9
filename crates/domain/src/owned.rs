//! Resources that each belong to one user (todos, and any resource built like them): the
//! port and the use cases every such resource repeats, written once. A resource brings its
//! own fields and rules ([`Owned::create`], [`Owned::check`]); creating, reading, listing,
//! changing and deleting, each scoped to the owner, are here.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::id::Identifier;
use crate::pagination::{Page, Paged};
use crate::user::UserId;

/// An item that belongs to one user, with its rules.
pub trait Owned: Clone + Send + Sync + 'static {
    type Id: Identifier;
    /// What a listing of the owner's items can be narrowed by.
    type Filter: Send + Sync + 'static;
    /// A new item as its owner typed it.
    type New: Send + 'static;
    /// A change as its owner typed it.
    type Changes: Send + 'static;
    /// The stable code of "no such item of yours", e.g. `todo_not_found`.
    const NOT_FOUND: &'static str;

    fn id(&self) -> Self::Id;
    fn owner(&self) -> UserId;
    /// Records that the item changed at `at`.
    fn touch(&mut self, at: DateTime<Utc>);

    /// The new item `input` describes, created at `now`; every field that breaks the
    /// resource's rules is reported.
    fn create(
        id: Self::Id,
        owner: UserId,
        input: Self::New,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationErrors>;

    /// Checks a change against the resource's rules before any item is read; what it
    /// returns applies the checked change to an item.
    fn check(changes: Self::Changes) -> Result<impl FnOnce(&mut Self) + Send, ValidationErrors>;
}

/// Storage of owned items. Every read and write names the owner, so one user can never
/// reach another's item through this port. Errors only when storage fails.
#[async_trait]
pub trait OwnedRepository<T: Owned>: Send + Sync {
    async fn insert(&self, item: &T) -> Result<(), RepositoryError>;

    /// The owner's item with this id, or `None` (also when it belongs to someone else).
    async fn find(&self, owner: UserId, id: T::Id) -> Result<Option<T>, RepositoryError>;

    /// One page of the owner's items matching `filter`, newest first, and the total.
    async fn list(
        &self,
        owner: UserId,
        filter: &T::Filter,
        page: Page,
    ) -> Result<(Vec<T>, u64), RepositoryError>;

    /// Stores `item` over the owner's row with its id; returns whether there was one.
    async fn update(&self, item: &T) -> Result<bool, RepositoryError>;

    /// Deletes the owner's item; returns whether there was one.
    async fn delete(&self, owner: UserId, id: T::Id) -> Result<bool, RepositoryError>;
}

#[derive(Debug, thiserror::Error)]
pub enum OwnedError {
    /// One or more fields broke the resource's rules; nothing was stored.
    #[error(transparent)]
    Invalid(ValidationErrors),
    /// No item with this id belongs to the caller (it may belong to someone else); holds
    /// the resource's [`Owned::NOT_FOUND`] code.
    #[error("{0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The use cases every owned resource shares, over its repository.
pub struct OwnedItems<T: Owned> {
    items: Arc<dyn OwnedRepository<T>>,
    clock: Arc<dyn Clock>,
}

impl<T: Owned> Clone for OwnedItems<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<T: Owned> OwnedItems<T> {
    pub fn new(items: Arc<dyn OwnedRepository<T>>, clock: Arc<dyn Clock>) -> Self {
        Self { items, clock }
    }

    /// Creates an item for `owner` from what they typed.
    pub async fn create(&self, owner: UserId, input: T::New) -> Result<T, OwnedError> {
        let item = T::create(T::Id::generate(), owner, input, self.clock.now_stored())
            .map_err(OwnedError::Invalid)?;
        self.items.insert(&item).await?;
        Ok(item)
    }

    pub async fn get(&self, owner: UserId, id: T::Id) -> Result<T, OwnedError> {
        self.items
            .find(owner, id)
            .await?
            .ok_or(OwnedError::NotFound(T::NOT_FOUND))
    }

    /// The owner's items, newest first.
    pub async fn list(
        &self,
        owner: UserId,
        filter: &T::Filter,
        page: Page,
    ) -> Result<Paged<T>, OwnedError> {
        let (items, total) = self.items.list(owner, filter, page).await?;
        Ok(Paged { items, total, page })
    }

    /// Checks a change, then applies it to the owner's item and stores it.
    pub async fn update(
        &self,
        owner: UserId,
        id: T::Id,
        changes: T::Changes,
    ) -> Result<T, OwnedError> {
        let apply = T::check(changes).map_err(OwnedError::Invalid)?;
        let mut item = self.get(owner, id).await?;
        apply(&mut item);
        item.touch(self.clock.now_stored());
        if !self.items.update(&item).await? {
            return Err(OwnedError::NotFound(T::NOT_FOUND));
        }
        Ok(item)
    }

    pub async fn delete(&self, owner: UserId, id: T::Id) -> Result<(), OwnedError> {
        if self.items.delete(owner, id).await? {
            Ok(())
        } else {
            Err(OwnedError::NotFound(T::NOT_FOUND))
        }
    }
}
