//! Todos: the worked example of a per-user resource (its text fields are the shared
//! [`Title`] and [`LongText`]). Every operation is scoped to an owner;
//! another user's todo does not exist as far as the caller can tell.

use chrono::{DateTime, Utc};

use crate::error::ValidationErrors;
use crate::owned::Owned;
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
    type New = NewTodo;
    type Changes = TodoChanges;
    const NOT_FOUND: &'static str = "todo_not_found";

    crate::owned::owned_fields!();

    fn create(
        id: TodoId,
        owner: UserId,
        input: NewTodo,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let title = errors.check("title", Title::parse(&input.title));
        let description = errors.check(
            "description",
            LongText::parse_optional(input.description.as_deref()),
        );
        let (Some(title), Some(description)) = (title, description) else {
            return Err(errors);
        };
        Ok(Todo {
            id,
            owner,
            title,
            description,
            done: input.done.unwrap_or(false),
            created_at: now,
            updated_at: now,
        })
    }

    fn check(changes: TodoChanges) -> Result<impl FnOnce(&mut Self) + Send, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let title = changes.title.as_deref().map(Title::parse).transpose();
        let title = errors.check("title", title);
        let description = errors.check_clearable(
            "description",
            &changes.description,
            LongText::parse_optional,
        );
        let (Some(title), Some(description)) = (title, description) else {
            return Err(errors);
        };
        Ok(move |todo: &mut Todo| {
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
    }
}
