//! The HTTP face every owner-scoped resource shares: list, create, read, change and delete,
//! written once. A resource implements [`OwnedResource`] (its DTOs, scopes and filters) and
//! declares its routes and their documentation with [`owned_routes!`]; its use cases are a
//! field of [`OwnedResources`], which the server wires. Someone else's item answers 404,
//! never 403, so ids cannot be probed.

mod todos;

use actix_web::{HttpResponse, web};
use gatehouse_domain::owned::{Owned, OwnedItems};
use gatehouse_domain::{Identifier, ValidationErrors};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shared::query::Paging;
use crate::shared::schemas::PageResponse;
use gatehouse_http::extractors::{CurrentUser, RequiredScope};
use gatehouse_http::json::Json;
use gatehouse_http::problem::{ApiError, ProblemDetails};

/// A resource this crate serves, as the rest of the API sees it (its module's `DECLARED`,
/// which [`owned_routes!`] writes).
pub struct Declared {
    configure: fn(&mut web::ServiceConfig),
    doc: fn() -> utoipa::openapi::OpenApi,
    /// The 404 `code` of its items.
    not_found: &'static str,
}

/// The owner-scoped resources: adding one is adding it here.
const DECLARED: &[Declared] = &[todos::DECLARED];

/// The use cases of each owned resource, over the storage the server wires to them.
#[derive(Clone)]
pub struct OwnedResources {
    pub todos: OwnedItems<gatehouse_domain::Todo>,
}

/// Registers every owned resource's routes (under `/api/v1`) and their use cases.
pub fn configure(cfg: &mut web::ServiceConfig, resources: &web::Data<OwnedResources>) {
    cfg.app_data(resources.clone());
    for resource in DECLARED {
        (resource.configure)(cfg);
    }
}

/// The document's parts that the owned resources declare.
pub fn docs() -> impl Iterator<Item = utoipa::openapi::OpenApi> {
    DECLARED.iter().map(|resource| (resource.doc)())
}

/// The 404 `code` of each owned resource (`todo_not_found`…).
pub fn not_found_codes() -> impl Iterator<Item = &'static str> {
    DECLARED.iter().map(|resource| resource.not_found)
}

/// What a resource adds to its domain item to be served over HTTP.
pub trait OwnedResource: Owned {
    /// The scope that reads the caller's items, and the one that changes them.
    type Read: RequiredScope;
    type Write: RequiredScope;
    /// An item as answered.
    type Response: Serialize + ToSchema + for<'a> From<&'a Self>;
    /// The body of a create and of a change.
    type Create: DeserializeOwned + Into<Self::New> + 'static;
    type Update: DeserializeOwned + Into<Self::Changes> + 'static;
    /// The query parameters that narrow a listing, beside [`Paging`].
    type Query: DeserializeOwned + 'static;

    /// The filter `query` asks for; each bad parameter is added to `errors`.
    fn filter(query: &Self::Query, errors: &mut ValidationErrors) -> Self::Filter;

    /// The resource's use cases.
    fn items(resources: &OwnedResources) -> &OwnedItems<Self>;
}

/// The name of the scope `S`, as the document lists it.
pub fn scope_name<S: RequiredScope>() -> &'static str {
    S::SCOPE.map_or("", |scope| scope.as_str())
}

/// The 404 body of "no such item of yours", as documented.
pub fn not_found<R: Owned>() -> ProblemDetails {
    ApiError::ResourceNotFound(R::NOT_FOUND).problem()
}

pub async fn list<R: OwnedResource>(
    current: CurrentUser<R::Read>,
    resources: web::Data<OwnedResources>,
    paging: web::Query<Paging>,
    query: web::Query<R::Query>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::new();
    let filter = R::filter(&query, &mut errors);
    let Some(page) = paging.page(&mut errors).filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let paged = R::items(&resources)
        .list(current.user.id, &filter, page)
        .await?;
    Ok(
        HttpResponse::Ok().json(PageResponse::from_paged(paged, |item| {
            R::Response::from(item)
        })),
    )
}

pub async fn create<R: OwnedResource>(
    current: CurrentUser<R::Write>,
    resources: web::Data<OwnedResources>,
    body: Json<R::Create>,
) -> Result<HttpResponse, ApiError> {
    let item = R::items(&resources)
        .create(current.user.id, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(R::Response::from(&item)))
}

pub async fn get<R: OwnedResource>(
    current: CurrentUser<R::Read>,
    resources: web::Data<OwnedResources>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = R::Id::from_uuid(id.into_inner());
    let item = R::items(&resources).get(current.user.id, id).await?;
    Ok(HttpResponse::Ok().json(R::Response::from(&item)))
}

pub async fn update<R: OwnedResource>(
    current: CurrentUser<R::Write>,
    resources: web::Data<OwnedResources>,
    id: web::Path<Uuid>,
    body: Json<R::Update>,
) -> Result<HttpResponse, ApiError> {
    let id = R::Id::from_uuid(id.into_inner());
    let item = R::items(&resources)
        .update(current.user.id, id, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(R::Response::from(&item)))
}

pub async fn delete<R: OwnedResource>(
    current: CurrentUser<R::Write>,
    resources: web::Data<OwnedResources>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = R::Id::from_uuid(id.into_inner());
    R::items(&resources).delete(current.user.id, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Declares an owned resource's routes (`configure`), their documentation (`Doc`) and the
/// resource as [`DECLARED`] lists it, from its item type, its names in the singular and
/// plural (the plural is its path and tag), and its DTOs. Everything else comes from its
/// [`OwnedResource`] implementation.
macro_rules! owned_routes {
    ($item:ty {
        one: $one:literal,
        many: $many:literal,
        response: $response:ty,
        create: $create:ty,
        update: $update:ty,
        query: $query:ty $(,)?
    }) => {
        /// Registers the routes, each path with its methods.
        pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            use actix_web::web;
            use $crate::owned;
            cfg.service(
                web::resource(concat!("/", $many))
                    .route(web::get().to(owned::list::<$item>))
                    .route(web::post().to(owned::create::<$item>))
                    .default_service(web::to(::gatehouse_http::methods::fallback)),
            )
            .service(
                web::resource(concat!("/", $many, "/{id}"))
                    .route(web::get().to(owned::get::<$item>))
                    .route(web::patch().to(owned::update::<$item>))
                    .route(web::delete().to(owned::delete::<$item>))
                    .default_service(web::to(::gatehouse_http::methods::fallback)),
            );
        }

        /// The resource, for the list of those this crate serves.
        pub const DECLARED: $crate::owned::Declared = $crate::owned::Declared {
            configure,
            doc: <Doc as utoipa::OpenApi>::openapi,
            not_found: <$item as ::gatehouse_domain::owned::Owned>::NOT_FOUND,
        };

        /// The routes' part of the OpenAPI document.
        #[derive(utoipa::OpenApi)]
        #[openapi(
            paths(doc::list, doc::create, doc::get, doc::update, doc::delete),
            tags((name = $many, description = concat!("Your ", $many)))
        )]
        pub struct Doc;

        /// Documentation only: the handlers are the shared ones of `routes::owned`.
        #[allow(dead_code)]
        mod doc {
            use super::*;
            use $crate::shared::schemas::PageResponse;
            use $crate::shared::responses::{BadRequest, InvalidInput, Protected, ValidationFailed};
            use ::gatehouse_http::problem::ProblemDetails;
            use $crate::owned::{not_found, scope_name, OwnedResource};
            use $crate::shared::query::Paging;

            type Read = <$item as OwnedResource>::Read;
            type Write = <$item as OwnedResource>::Write;

            #[utoipa::path(
                get,
                path = concat!("/api/v1/", $many),
                operation_id = concat!("list_", $many),
                summary = concat!("Your ", $many, ", newest first."),
                tag = $many,
                params(Paging, $query),
                security(("oauth2" = [scope_name::<Read>()])),
                responses(
                    (status = 200, description = concat!("A page of your ", $many), body = PageResponse<$response>),
                    Protected,
                    (status = 422, response = InvalidInput),
                )
            )]
            fn list() {}

            #[utoipa::path(
                post,
                path = concat!("/api/v1/", $many),
                operation_id = concat!("create_", $one),
                summary = concat!("Create a ", $one, "."),
                tag = $many,
                request_body = $create,
                security(("oauth2" = [scope_name::<Write>()])),
                responses(
                    (status = 201, description = "Created", body = $response),
                    (status = 400, response = BadRequest),
                    Protected,
                    (status = 422, response = ValidationFailed),
                )
            )]
            fn create() {}

            #[utoipa::path(
                get,
                path = concat!("/api/v1/", $many, "/{id}"),
                operation_id = concat!("get_", $one),
                summary = concat!("One of your ", $many, "."),
                tag = $many,
                params(("id" = Uuid, Path, description = concat!("The ", $one, "'s id"))),
                security(("oauth2" = [scope_name::<Read>()])),
                responses(
                    (status = 200, description = concat!("The ", $one), body = $response),
                    Protected,
                    (status = 404, description = concat!("You have no ", $one, " with this id (it may exist, and belong to someone else)."),
                        body = ProblemDetails, content_type = "application/problem+json", example = json!(not_found::<$item>())),
                    (status = 422, response = InvalidInput),
                )
            )]
            fn get() {}

            #[utoipa::path(
                patch,
                path = concat!("/api/v1/", $many, "/{id}"),
                operation_id = concat!("update_", $one),
                summary = concat!("Change one of your ", $many, "."),
                tag = $many,
                params(("id" = Uuid, Path, description = concat!("The ", $one, "'s id"))),
                request_body = $update,
                security(("oauth2" = [scope_name::<Write>()])),
                responses(
                    (status = 200, description = concat!("The changed ", $one), body = $response),
                    (status = 400, response = BadRequest),
                    Protected,
                    (status = 404, description = concat!("You have no ", $one, " with this id (it may exist, and belong to someone else)."),
                        body = ProblemDetails, content_type = "application/problem+json", example = json!(not_found::<$item>())),
                    (status = 422, response = ValidationFailed),
                )
            )]
            fn update() {}

            #[utoipa::path(
                delete,
                path = concat!("/api/v1/", $many, "/{id}"),
                operation_id = concat!("delete_", $one),
                summary = concat!("Delete one of your ", $many, "."),
                tag = $many,
                params(("id" = Uuid, Path, description = concat!("The ", $one, "'s id"))),
                security(("oauth2" = [scope_name::<Write>()])),
                responses(
                    (status = 204, description = "Deleted"),
                    Protected,
                    (status = 404, description = concat!("You have no ", $one, " with this id (it may exist, and belong to someone else)."),
                        body = ProblemDetails, content_type = "application/problem+json", example = json!(not_found::<$item>())),
                    (status = 422, response = InvalidInput),
                )
            )]
            fn delete() {}
        }
    };
}

pub(crate) use owned_routes;

/// `impl From<$from> for $to` that moves each named field over as it is: a request body
/// into the input the domain reads. A field left out of the list does not compile.
macro_rules! moved_fields {
    ($from:ty => $to:ident { $($field:ident),* $(,)? }) => {
        impl From<$from> for $to {
            fn from(body: $from) -> Self {
                $to { $($field: body.$field),* }
            }
        }
    };
}

pub(crate) use moved_fields;
