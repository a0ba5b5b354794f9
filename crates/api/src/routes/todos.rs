//! `/api/v1/todos`: each user's own todos. Someone else's todo answers 404, never 403, so
//! ids cannot be probed.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use gatehouse_domain::todo::{NewTodo, TodoChanges, TodoFilter};
use gatehouse_domain::{TodoId, ValidationErrors};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::dto::{CreateTodoRequest, PageResponse, TodoResponse, UpdateTodoRequest};
use crate::extractors::{CurrentUser, scopes};
use crate::json::Json;
use crate::openapi::responses::{
    BadRequest, InvalidInput, Protected, TodoNotFound, ValidationFailed,
};
use crate::problem::ApiError;
use crate::routes::query;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get_one)
        .service(update)
        .service(remove);
}

/// Filters and paging of `GET /api/v1/todos`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TodoListQuery {
    /// Page size, 1–100 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<u64>, minimum = 0)]
    offset: Option<String>,
    /// Only done (`true`) or open (`false`) todos.
    #[param(value_type = Option<bool>)]
    done: Option<String>,
}

/// Your todos, newest first.
#[utoipa::path(
    operation_id = "list_todos",
    context_path = "/api/v1",
    tag = "todos",
    params(TodoListQuery),
    security(("oauth2" = ["todos:read"])),
    responses(
        (status = 200, description = "A page of your todos", body = PageResponse<TodoResponse>),
        Protected,
        (status = 422, response = InvalidInput),
    )
)]
#[get("/todos")]
pub async fn list(
    current: CurrentUser<scopes::TodosRead>,
    state: web::Data<AppState>,
    params: web::Query<TodoListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::new();
    let done = query::parse_bool(&mut errors, "done", params.done.as_deref());
    let page = query::parse_page(
        &mut errors,
        params.limit.as_deref(),
        params.offset.as_deref(),
    );
    let Some(page) = page.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let paged = state
        .todos
        .list(current.user.id, &TodoFilter { done }, page)
        .await?;
    Ok(
        HttpResponse::Ok().json(PageResponse::from_paged(paged, |todo| {
            TodoResponse::from(todo)
        })),
    )
}

/// Create a todo.
#[utoipa::path(
    operation_id = "create_todo",
    context_path = "/api/v1",
    tag = "todos",
    request_body = CreateTodoRequest,
    security(("oauth2" = ["todos:write"])),
    responses(
        (status = 201, description = "Created", body = TodoResponse),
        (status = 400, response = BadRequest),
        Protected,
        (status = 422, response = ValidationFailed),
    )
)]
#[post("/todos")]
pub async fn create(
    current: CurrentUser<scopes::TodosWrite>,
    state: web::Data<AppState>,
    body: Json<CreateTodoRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let todo = state
        .todos
        .create(
            current.user.id,
            NewTodo {
                title: body.title,
                description: body.description,
                done: body.done,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(TodoResponse::from(&todo)))
}

/// One of your todos.
#[utoipa::path(
    operation_id = "get_todo",
    context_path = "/api/v1",
    tag = "todos",
    params(("id" = Uuid, Path, description = "The todo's id")),
    security(("oauth2" = ["todos:read"])),
    responses(
        (status = 200, description = "The todo", body = TodoResponse),
        Protected,
        (status = 404, response = TodoNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[get("/todos/{id}")]
pub async fn get_one(
    current: CurrentUser<scopes::TodosRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let todo = state
        .todos
        .get(current.user.id, TodoId::from_uuid(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(TodoResponse::from(&todo)))
}

/// Change one of your todos.
#[utoipa::path(
    operation_id = "update_todo",
    context_path = "/api/v1",
    tag = "todos",
    params(("id" = Uuid, Path, description = "The todo's id")),
    request_body = UpdateTodoRequest,
    security(("oauth2" = ["todos:write"])),
    responses(
        (status = 200, description = "The changed todo", body = TodoResponse),
        (status = 400, response = BadRequest),
        Protected,
        (status = 404, response = TodoNotFound),
        (status = 422, response = ValidationFailed),
    )
)]
#[patch("/todos/{id}")]
pub async fn update(
    current: CurrentUser<scopes::TodosWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Json<UpdateTodoRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let todo = state
        .todos
        .update(
            current.user.id,
            TodoId::from_uuid(id.into_inner()),
            TodoChanges {
                title: body.title,
                description: body.description,
                done: body.done,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(TodoResponse::from(&todo)))
}

/// Delete one of your todos.
#[utoipa::path(
    operation_id = "delete_todo",
    context_path = "/api/v1",
    tag = "todos",
    params(("id" = Uuid, Path, description = "The todo's id")),
    security(("oauth2" = ["todos:write"])),
    responses(
        (status = 204, description = "Deleted"),
        Protected,
        (status = 404, response = TodoNotFound),
        (status = 422, response = InvalidInput),
    )
)]
#[delete("/todos/{id}")]
pub async fn remove(
    current: CurrentUser<scopes::TodosWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .todos
        .delete(current.user.id, TodoId::from_uuid(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
