//! Todos: the worked example of a per-user resource (its text fields are the shared
//! [`Title`] and [`LongText`]). Every operation is scoped to an owner;
//! another user's todo does not exist as far as the caller can tell.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::error::ValidationErrors;
use crate::owned::{Owned, OwnedError, OwnedItems, OwnedRepository};
use crate::text::{LongText, Title};
use crate::user::UserId;

crate::id::uuid_id!(
    /// A todo's identifier.
    TodoId
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Todo {
    pub id: TodoId,
    pub owner: UserId,
    pub title: Title,
    pub description: Option<LongText>,
    pub done: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A todo as typed by its owner.
pub struct NewTodo {
    pub title: String,
    pub description: Option<String>,
    pub done: Option<bool>,
}

/// Changes to a todo; `None` leaves a field as it is. `description: Some(None)` clears it.
#[derive(Default)]
pub struct TodoChanges {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub done: Option<bool>,
}

/// Which of an owner's todos to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct TodoFilter {
    pub done: Option<bool>,
}

impl Owned for Todo {
    type Id = TodoId;
    type Filter = TodoFilter;
    const NOT_FOUND: &'static str = "todo_not_found";

    fn id(&self) -> TodoId {
        self.id
    }

    fn owner(&self) -> UserId {
        self.owner
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = at;
    }
}

/// The todo use cases: creating and changing a todo by its rules; reading, listing and
/// deleting are the shared ones of [`OwnedItems`], reached through `Deref`.
#[derive(Clone)]
pub struct TodoService(OwnedItems<Todo>);

impl std::ops::Deref for TodoService {
    type Target = OwnedItems<Todo>;

    fn deref(&self) -> &OwnedItems<Todo> {
        &self.0
    }
}

impl TodoService {
    pub fn new(todos: Arc<dyn OwnedRepository<Todo>>, clock: Arc<dyn Clock>) -> Self {
        Self(OwnedItems::new(todos, clock))
    }

    pub async fn create(&self, owner: UserId, input: NewTodo) -> Result<Todo, OwnedError> {
        let mut errors = ValidationErrors::new();
        let title = errors.check("title", Title::parse(&input.title));
        let description = errors.check(
            "description",
            LongText::parse_optional(input.description.as_deref()),
        );
        let (Some(title), Some(description)) = (title, description) else {
            return Err(OwnedError::Invalid(errors));
        };
        let now = self.now();
        self.insert(Todo {
            id: TodoId::generate(),
            owner,
            title,
            description,
            done: input.done.unwrap_or(false),
            created_at: now,
            updated_at: now,
        })
        .await
    }

    pub async fn update(
        &self,
        owner: UserId,
        id: TodoId,
        changes: TodoChanges,
    ) -> Result<Todo, OwnedError> {
        let mut errors = ValidationErrors::new();
        let title = changes.title.as_deref().map(Title::parse).transpose();
        let title = errors.check("title", title);
        let description = changes
            .description
            .as_ref()
            .map(|d| LongText::parse_optional(d.as_deref()))
            .transpose();
        let description = errors.check("description", description);
        let (Some(title), Some(description)) = (title, description) else {
            return Err(OwnedError::Invalid(errors));
        };
        self.change(owner, id, |todo| {
            if let Some(title) = title {
                todo.title = title;
            }
            if let Some(description) = description {
                todo.description = description;
            }
            if let Some(done) = changes.done {
                todo.done = done;
            }
        })
        .await
    }
}
