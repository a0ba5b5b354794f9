//! `/api/v1/todos`: each user's own todos, served by the shared owned-resource routes.

use chrono::{DateTime, Utc};
use gatehouse_domain::ValidationErrors;
use gatehouse_domain::owned::OwnedItems;
use gatehouse_domain::todo::{NewTodo, Todo, TodoChanges, TodoFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::owned::{OwnedResource, OwnedResources, moved_fields, owned_routes};
use crate::shared::query;
use crate::shared::schemas::double_option;
use gatehouse_http::extractors::scopes;

/// A todo.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019a4d3e-8c10-7d2e-8a4b-0c1d2e3f4a5b",
    "title": "Buy milk",
    "description": "Oat, 2 litres",
    "done": false,
    "created_at": "2026-11-23T10:00:00Z",
    "updated_at": "2026-11-23T10:00:00Z"
}))]
pub struct TodoResponse {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub done: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Todo> for TodoResponse {
    fn from(todo: &Todo) -> Self {
        Self {
            id: todo.id.as_uuid(),
            title: todo.title.as_str().to_owned(),
            description: todo.description.as_ref().map(|d| d.as_str().to_owned()),
            done: todo.done,
            created_at: todo.created_at,
            updated_at: todo.updated_at,
        }
    }
}

/// A new todo.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Buy milk", "description": "Oat, 2 litres"}))]
pub struct CreateTodoRequest {
    /// 1–200 characters, one line, not blank; stored trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub title: String,
    /// Up to 2,000 characters; line breaks and tabs are the only control characters
    /// allowed; blank means none.
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub description: Option<String>,
    /// Defaults to `false`.
    pub done: Option<bool>,
}

moved_fields!(CreateTodoRequest => NewTodo { title, description, done });

/// Changes to a todo; absent fields stay as they are, `"description": null` clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"done": true}))]
pub struct UpdateTodoRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 2000, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub description: Option<Option<String>>,
    pub done: Option<bool>,
}

moved_fields!(UpdateTodoRequest => TodoChanges { title, description, done });

/// Filters of `GET /api/v1/todos`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TodoQuery {
    /// Only done (`true`) or open (`false`) todos.
    #[param(value_type = Option<bool>)]
    done: Option<String>,
}

impl OwnedResource for Todo {
    type Read = scopes::TodosRead;
    type Write = scopes::TodosWrite;
    type Response = TodoResponse;
    type Create = CreateTodoRequest;
    type Update = UpdateTodoRequest;
    type Query = TodoQuery;

    fn filter(query: &TodoQuery, errors: &mut ValidationErrors) -> TodoFilter {
        TodoFilter {
            done: query::parse_bool(errors, "done", query.done.as_deref()),
        }
    }

    fn items(resources: &OwnedResources) -> &OwnedItems<Todo> {
        &resources.todos
    }
}

owned_routes!(Todo {
    one: "todo",
    many: "todos",
    response: TodoResponse,
    create: CreateTodoRequest,
    update: UpdateTodoRequest,
    query: TodoQuery,
});
