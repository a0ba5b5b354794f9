//! Wrong methods. A request that no route took is answered 405 with `Allow` when its path is
//! one of the served document's, 404 otherwise. The methods come from the document, the
//! one list of what each path answers, so `Allow` cannot disagree with it, and every route
//! gets the answer without each registering one.

use actix_web::dev::ResourceDef;
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::problem::ApiError;

/// The methods each path of the document answers.
pub struct Methods(Vec<(ResourceDef, String)>);

/// Methods in the order `Allow` lists them.
const ORDER: [&str; 8] = [
    "get", "head", "post", "put", "patch", "delete", "options", "trace",
];

impl Methods {
    /// Reads the document's paths, and adds the routes it does not describe: itself and
    /// Swagger UI.
    pub fn from_document(document: &utoipa::openapi::OpenApi) -> Self {
        let paths = serde_json::to_value(&document.paths).unwrap_or_default();
        let mut table: Vec<(ResourceDef, String)> = paths
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let allow = ORDER
                    .iter()
                    .filter(|method| item.get(**method).is_some())
                    .map(|method| method.to_ascii_uppercase())
                    .collect::<Vec<_>>()
                    .join(", ");
                (ResourceDef::new(path.as_str()), allow)
            })
            .collect();
        table.push((ResourceDef::new(crate::paths::DOCUMENT), "GET".into()));
        table.push((ResourceDef::new(crate::paths::SWAGGER_UI), "GET".into()));
        Self(table)
    }

    /// `Allow` for `path`, if the service has it.
    pub fn allowed(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(resource, _)| resource.is_match(path))
            .map(|(_, allow)| allow.as_str())
    }

    /// The answer to a request no route took: `OPTIONS` gets 204 with `Allow`, any other
    /// method 405 with `Allow`, on a path the service has; 404 elsewhere.
    pub fn answer(&self, req: &HttpRequest) -> HttpResponse {
        match self.allowed(req.path()) {
            Some(allow) if req.method() == Method::OPTIONS => HttpResponse::NoContent()
                .insert_header((header::ALLOW, format!("{allow}, OPTIONS")))
                .finish(),
            Some(allow) => ApiError::MethodNotAllowed {
                allow: allow.to_owned(),
            }
            .error_response(),
            None => ApiError::NotFound.error_response(),
        }
    }
}

/// The service of a request no route took, for the app and for every `web::resource`
/// (whose own answer to a wrong method would not know `OPTIONS`): [`Methods::answer`].
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    match req.app_data::<web::Data<Methods>>() {
        Some(methods) => methods.answer(&req),
        None => ApiError::NotFound.error_response(),
    }
}
