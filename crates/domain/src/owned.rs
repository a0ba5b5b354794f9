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

/// The [`Owned`] methods of an item whose fields are named `id`, `owner` and `updated_at`,
/// as every resource's are: write `crate::owned::owned_fields!();` in its `impl Owned`.
macro_rules! owned_fields {
    () => {
        fn id(&self) -> Self::Id {
            self.id
        }

        fn owner(&self) -> $crate::user::UserId {
            self.owner
        }

        fn touch(&mut self, at: ::chrono::DateTime<::chrono::Utc>) {
            self.updated_at = at;
        }
    };
}

pub(crate) use owned_fields;

/// Storage of owned items. Every read and write names the owner, so one user can never
/// reach another's item through this port. Errors only when storage fails.
#[async_trait]
pub trait OwnedRepository<T: Owned>: Send + Sync {
    async fn insert(&self, item: &T) -> Result<(), RepositoryError>;

    /// The owner's item with this id, or `None` (also when it belongs to someone else).
    async fn find(&self, owner: UserId, id: T::Id) -> Result<Option<T>, RepositoryError>;

    /// One page of the owner's items matching `filter`, newest first, and how many match,
    /// counted up to `page.count_limit()`.
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::SystemClock;
    use crate::todo::{NewTodo, Todo, TodoChanges, TodoFilter, TodoId};

    /// Todos in memory, counting reads, so a test sees what reached storage.
    #[derive(Default)]
    struct Memory {
        items: Mutex<Vec<Todo>>,
        reads: Mutex<u32>,
    }

    #[async_trait]
    impl OwnedRepository<Todo> for Memory {
        async fn insert(&self, item: &Todo) -> Result<(), RepositoryError> {
            self.items.lock().unwrap().push(item.clone());
            Ok(())
        }

        async fn find(&self, owner: UserId, id: TodoId) -> Result<Option<Todo>, RepositoryError> {
            *self.reads.lock().unwrap() += 1;
            let items = self.items.lock().unwrap();
            Ok(items
                .iter()
                .find(|t| t.id == id && t.owner == owner)
                .cloned())
        }

        async fn list(
            &self,
            owner: UserId,
            _: &TodoFilter,
            _: Page,
        ) -> Result<(Vec<Todo>, u64), RepositoryError> {
            let items: Vec<Todo> = self
                .items
                .lock()
                .unwrap()
                .iter()
                .filter(|t| t.owner == owner)
                .cloned()
                .collect();
            let total = items.len() as u64;
            Ok((items, total))
        }

        async fn update(&self, item: &Todo) -> Result<bool, RepositoryError> {
            let mut items = self.items.lock().unwrap();
            let found = items
                .iter_mut()
                .find(|t| t.id == item.id && t.owner == item.owner);
            Ok(found.map(|t| *t = item.clone()).is_some())
        }

        async fn delete(&self, owner: UserId, id: TodoId) -> Result<bool, RepositoryError> {
            let mut items = self.items.lock().unwrap();
            let before = items.len();
            items.retain(|t| !(t.id == id && t.owner == owner));
            Ok(items.len() < before)
        }
    }

    fn todos() -> (OwnedItems<Todo>, Arc<Memory>) {
        let memory = Arc::new(Memory::default());
        (
            OwnedItems::new(memory.clone(), Arc::new(SystemClock)),
            memory,
        )
    }

    fn new(title: &str) -> NewTodo {
        NewTodo {
            title: title.into(),
            description: None,
            done: None,
        }
    }

    #[tokio::test]
    async fn an_invalid_item_is_refused_with_every_field_and_not_stored() {
        let (todos, memory) = todos();
        let input = NewTodo {
            title: " ".into(),
            description: Some("x".repeat(2_001)),
            done: None,
        };
        let Err(OwnedError::Invalid(errors)) = todos.create(UserId::generate(), input).await else {
            panic!("accepted");
        };
        let fields: Vec<&str> = errors.violations().iter().map(|v| v.field).collect();
        assert_eq!(fields, ["title", "description"]);
        assert!(memory.items.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_change_is_checked_before_the_item_is_read_and_only_the_owner_changes_it() {
        let (todos, memory) = todos();
        let (ada, bob) = (UserId::generate(), UserId::generate());
        let todo = todos.create(ada, new("Buy milk")).await.unwrap();
        let bad = TodoChanges {
            title: Some(String::new()),
            ..TodoChanges::default()
        };
        assert!(matches!(
            todos.update(ada, todo.id, bad).await,
            Err(OwnedError::Invalid(_))
        ));
        assert_eq!(*memory.reads.lock().unwrap(), 0);

        let done = || TodoChanges {
            done: Some(true),
            ..TodoChanges::default()
        };
        let refused = todos.update(bob, todo.id, done()).await;
        assert!(matches!(
            refused,
            Err(OwnedError::NotFound("todo_not_found"))
        ));
        assert!(!todos.get(ada, todo.id).await.unwrap().done);
        assert!(todos.update(ada, todo.id, done()).await.unwrap().done);
        assert!(matches!(
            todos.delete(bob, todo.id).await,
            Err(OwnedError::NotFound(_))
        ));
        todos.delete(ada, todo.id).await.unwrap();
        assert!(memory.items.lock().unwrap().is_empty());
    }
}
