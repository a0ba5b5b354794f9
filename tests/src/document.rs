//! The served OpenAPI document, read the way a client generator reads it: tests take the
//! operations, their scopes, bodies and parameters from here, never from a copy of their own.

use gatehouse_domain::{Role, Scope};
use serde_json::Value;

/// `/api-docs/openapi.json`.
pub struct Document(pub Value);

/// One documented operation.
pub struct Operation<'a> {
    pub path: String,
    /// Lower case, as the document writes it.
    pub method: String,
    pub spec: &'a Value,
}

impl Document {
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut found = Vec::new();
        for (path, operations) in self.0["paths"].as_object().expect("paths") {
            for (method, spec) in operations.as_object().expect("operations") {
                found.push(Operation {
                    path: path.clone(),
                    method: method.clone(),
                    spec,
                });
            }
        }
        found
    }

    /// Whether `create` makes an item of an owned collection: a `POST` for users to a
    /// collection that lists its items a page at a time (`limit`) and has an item path
    /// `…/{id}`. (Your personal access tokens are made and revoked alike, but listed
    /// whole: they are the account's, not a resource the account owns.)
    pub fn is_owned_collection(&self, create: &Operation) -> bool {
        let paths = &self.0["paths"];
        let item_path = format!("{}/{{id}}", create.path);
        let paged = paths[&create.path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|parameter| parameter["name"] == "limit" && parameter["in"] == "query");
        create.method == "post" && create.for_users() && paths.get(&item_path).is_some() && paged
    }

    /// The schema a `$ref` names, or `schema` itself.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().expect("a name");
                &self.0["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// `schema`, or for a body of several shapes (`oneOf`) its first.
    pub fn first_shape<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("oneOf") {
            Some(shapes) => self.resolve(&shapes[0]),
            None => schema,
        }
    }

    /// The schema of an operation's request body of `content_type`.
    pub fn body_schema<'a>(
        &'a self,
        operation: &Operation<'a>,
        content_type: &str,
    ) -> Option<&'a Value> {
        let media = operation.spec["requestBody"]["content"].get(content_type)?;
        Some(self.resolve(&media["schema"]))
    }

    /// The example of an operation's JSON request body; panics if a body has none, since
    /// generated clients and Swagger UI show it.
    pub fn request_example(&self, operation: &Operation) -> Option<Value> {
        let media = operation.spec["requestBody"]["content"].get("application/json")?;
        let example = media
            .get("example")
            .or_else(|| self.resolve(&media["schema"]).get("example"))
            .unwrap_or_else(|| {
                panic!(
                    "{} {}: the request body has no example",
                    operation.method, operation.path
                )
            });
        Some(example.clone())
    }
}

impl Operation<'_> {
    pub fn http_method(&self) -> reqwest::Method {
        self.method.to_uppercase().parse().expect("an HTTP method")
    }

    /// The scope the operation declares: `None` when it is public or takes any valid token.
    pub fn scope(&self) -> Option<Scope> {
        let name = self.spec["security"][0]["oauth2"][0].as_str()?;
        Some(Scope::parse(name).unwrap_or_else(|_| panic!("{}: unknown scope {name}", self.path)))
    }

    /// Whether a token is needed at all.
    pub fn is_protected(&self) -> bool {
        self.spec.get("security").is_some()
    }

    /// Whether a plain user may call it (else only an admin may).
    pub fn for_users(&self) -> bool {
        self.scope()
            .is_none_or(|scope| scope.allowed_for(Role::User))
    }

    /// The names of its query parameters.
    pub fn query_parameters(&self) -> Vec<String> {
        self.spec["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|parameter| parameter["in"] == "query")
            .map(|parameter| parameter["name"].as_str().expect("a name").to_owned())
            .collect()
    }
}
