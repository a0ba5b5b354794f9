//! Todos: the worked example of a per-user resource (its text fields are the shared
//! [`Title`] and [`LongText`]). Every operation is scoped to an owner;
//! another user's todo does not exist as far as the caller can tell.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::pagination::{Page, Paged};
use crate::ports::TodoRepository;
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

#[derive(Debug, thiserror::Error)]
pub enum TodoError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    /// No todo with this id belongs to the caller (it may belong to someone else).
    #[error("todo not found")]
    NotFound,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The todo use cases.
#[derive(Clone)]
pub struct TodoService {
    todos: Arc<dyn TodoRepository>,
    clock: Arc<dyn Clock>,
}

impl TodoService {
    pub fn new(todos: Arc<dyn TodoRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { todos, clock }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now_stored()
    }

    pub async fn create(&self, owner: UserId, input: NewTodo) -> Result<Todo, TodoError> {
        let mut errors = ValidationErrors::new();
        let title = errors.check("title", Title::parse(&input.title));
        let description = errors.check(
            "description",
            LongText::parse_optional(input.description.as_deref()),
        );
        let (Some(title), Some(description)) = (title, description) else {
            return Err(TodoError::Invalid(errors));
        };
        let now = self.now();
        let todo = Todo {
            id: TodoId::generate(),
            owner,
            title,
            description,
            done: input.done.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        self.todos.insert(&todo).await?;
        Ok(todo)
    }

    pub async fn get(&self, owner: UserId, id: TodoId) -> Result<Todo, TodoError> {
        self.todos.find(owner, id).await?.ok_or(TodoError::NotFound)
    }

    /// The owner's todos, newest first.
    pub async fn list(
        &self,
        owner: UserId,
        filter: TodoFilter,
        page: Page,
    ) -> Result<Paged<Todo>, TodoError> {
        let (items, total) = self.todos.list(owner, filter, page).await?;
        Ok(Paged { items, total, page })
    }

    pub async fn update(
        &self,
        owner: UserId,
        id: TodoId,
        changes: TodoChanges,
    ) -> Result<Todo, TodoError> {
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
            return Err(TodoError::Invalid(errors));
        };

        let mut todo = self.get(owner, id).await?;
        if let Some(title) = title {
            todo.title = title;
        }
        if let Some(description) = description {
            todo.description = description;
        }
        if let Some(done) = changes.done {
            todo.done = done;
        }
        todo.updated_at = self.now();
        if !self.todos.update(&todo).await? {
            return Err(TodoError::NotFound);
        }
        Ok(todo)
    }

    pub async fn delete(&self, owner: UserId, id: TodoId) -> Result<(), TodoError> {
        if self.todos.delete(owner, id).await? {
            Ok(())
        } else {
            Err(TodoError::NotFound)
        }
    }
}
