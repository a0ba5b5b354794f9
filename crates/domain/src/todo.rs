//! Todos: the worked example of a per-user resource. Every operation is scoped to an owner;
//! another user's todo does not exist as far as the caller can tell.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::pagination::{Page, Paged};
use crate::ports::TodoRepository;
use crate::user::UserId;

const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2_000;

crate::id::uuid_id!(
    /// A todo's identifier.
    TodoId
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TodoTitleError {
    #[error("title must not be empty")]
    Empty,
    #[error("title must be at most {TITLE_MAX} characters")]
    TooLong,
    #[error("title must not contain control characters")]
    ControlCharacters,
}

/// A todo's title: trimmed, 1–200 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoTitle(String);

impl TodoTitle {
    pub fn parse(raw: &str) -> Result<Self, TodoTitleError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TodoTitleError::Empty);
        }
        if trimmed.chars().count() > TITLE_MAX {
            return Err(TodoTitleError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(TodoTitleError::ControlCharacters);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TodoDescriptionError {
    #[error("description must be at most {DESCRIPTION_MAX} characters")]
    TooLong,
    #[error("description must not contain control characters other than line breaks and tabs")]
    ControlCharacters,
}

/// Free text of up to 2,000 characters; blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoDescription(String);

impl TodoDescription {
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, TodoDescriptionError> {
        let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > DESCRIPTION_MAX {
            return Err(TodoDescriptionError::TooLong);
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(TodoDescriptionError::ControlCharacters);
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Todo {
    pub id: TodoId,
    pub owner: UserId,
    pub title: TodoTitle,
    pub description: Option<TodoDescription>,
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
        let title = errors.check("title", TodoTitle::parse(&input.title));
        let description = errors.check(
            "description",
            TodoDescription::parse_optional(input.description.as_deref()),
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
        let title = changes.title.as_deref().map(TodoTitle::parse).transpose();
        let title = errors.check("title", title);
        let description = changes
            .description
            .as_ref()
            .map(|d| TodoDescription::parse_optional(d.as_deref()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(TodoTitle::parse("  milk ").unwrap().as_str(), "milk");
        assert_eq!(TodoTitle::parse("   "), Err(TodoTitleError::Empty));
        assert!(TodoTitle::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            TodoTitle::parse(&"é".repeat(201)),
            Err(TodoTitleError::TooLong)
        );
        assert_eq!(
            TodoTitle::parse("a\nb"),
            Err(TodoTitleError::ControlCharacters)
        );
    }

    #[test]
    fn descriptions_are_optional_and_bounded() {
        assert_eq!(TodoDescription::parse_optional(Some("  ")), Ok(None));
        assert!(TodoDescription::parse_optional(Some(&"x".repeat(2_000))).is_ok());
        assert!(TodoDescription::parse_optional(Some(&"x".repeat(2_001))).is_err());
        assert!(TodoDescription::parse_optional(Some("two\nlines\tand a tab")).is_ok());
        assert_eq!(
            TodoDescription::parse_optional(Some("nul\u{0}")),
            Err(TodoDescriptionError::ControlCharacters)
        );
    }
}
