//! Registered APIs (resource servers): the services behind gatehouse that accept its
//! tokens, each known by its identifier (the `aud` of the tokens meant for it), with scopes
//! of its own and the roles that may hold each. gatehouse's own API is one of them,
//! declared by the code (its scopes are [`crate::scope::Scope`]); the others are registered
//! by an operator.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use url::Url;

use crate::clock::Clock;
use crate::error::{RepositoryError, ValidationErrors};
use crate::text::Line;
use crate::user::Role;

crate::id::uuid_id!(
    /// A registered API's id (its identifier is what tokens carry).
    ApiId
);

const IDENTIFIER_MAX: usize = 255;
const SCOPE_NAME_MAX: usize = 64;
/// How many scopes one API may declare.
pub const MAX_SCOPES: usize = 50;

/// An API's name, as the consent page shows it.
pub type ApiName = Line<100>;
/// What a scope allows, in words people read on the consent page.
pub type ScopeDescription = Line<200>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiIdentifierError {
    #[error(
        "must be an https:// URI (its host in lower case, no user or password) or a urn:, of at most {IDENTIFIER_MAX} printable ASCII characters, without a fragment"
    )]
    Invalid,
}

/// What tokens for an API carry as `aud`: an absolute URI (RFC 8707 §2), such as
/// `https://orders.example.com` or `urn:example:orders`, without a fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiIdentifier(String);

impl ApiIdentifier {
    pub fn parse(raw: &str) -> Result<Self, ApiIdentifierError> {
        let printable = raw.bytes().all(|b| (b'!'..=b'~').contains(&b) && b != b'#');
        if !printable || raw.len() > IDENTIFIER_MAX {
            return Err(ApiIdentifierError::Invalid);
        }
        let url = Url::parse(raw).map_err(|_| ApiIdentifierError::Invalid)?;
        let acceptable = match url.scheme() {
            // One spelling per API: the host in lower case, as the URL parser writes it.
            "https" => {
                let authority = &raw["https://".len().min(raw.len())..];
                let host_part = authority.split(['/', '?']).next().unwrap_or_default();
                raw.starts_with("https://")
                    && url.host_str().is_some()
                    && url.username().is_empty()
                    && url.password().is_none()
                    && !host_part.bytes().any(|b| b.is_ascii_uppercase())
            }
            "urn" => raw.starts_with("urn:") && raw.len() > "urn:".len(),
            _ => false,
        };
        if !acceptable {
            return Err(ApiIdentifierError::Invalid);
        }
        Ok(Self(raw.to_owned()))
    }

    /// Whether it names the same API as `other` (a trailing slash aside).
    pub fn same_as(&self, other: &str) -> bool {
        self.0.trim_end_matches('/') == other.trim_end_matches('/')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeNameError {
    #[error(
        "must be 1 to {SCOPE_NAME_MAX} characters: letters, digits and `:`, `.`, `_`, `-` or `/`, beginning with a letter or digit"
    )]
    Invalid,
}

/// A scope's name on the wire (`orders:read`): what a token's `scope` lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeName(String);

impl ScopeName {
    pub fn parse(raw: &str) -> Result<Self, ScopeNameError> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok =
            chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-' | '/'));
        if !first_ok || !rest_ok || raw.len() > SCOPE_NAME_MAX {
            return Err(ScopeNameError::Invalid);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One scope of a registered API: what it allows, and which roles may hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiScope {
    pub name: ScopeName,
    pub description: ScopeDescription,
    /// The roles whose people may be granted it (never empty).
    pub roles: Vec<Role>,
}

/// The scopes of one registered API granted in a session, or by a code (RFC 8707
/// `resource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGrant {
    /// The API's identifier: the `aud` of its tokens.
    pub audience: ApiIdentifier,
    pub scopes: Vec<ScopeName>,
}

/// The scopes a request's `scope` (space-separated names) asks for among `held`: each once,
/// sorted; all of `held` when it names none. `Err` is the first name `held` lacks, as a
/// client sent it (its first 64 characters, control characters replaced), for the refusal
/// to quote.
pub fn narrow(held: &[ScopeName], raw: Option<&str>) -> Result<Vec<ScopeName>, String> {
    let mut asked: Vec<ScopeName> = match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => held.to_vec(),
        Some(raw) => {
            let mut asked = Vec::new();
            for name in raw.split_ascii_whitespace() {
                let Some(scope) = held.iter().find(|s| s.as_str() == name) else {
                    return Err(name
                        .chars()
                        .take(64)
                        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
                        .collect());
                };
                asked.push(scope.clone());
            }
            asked
        }
    };
    asked.sort();
    asked.dedup();
    Ok(asked)
}

/// An API registered by an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredApi {
    pub id: ApiId,
    pub identifier: ApiIdentifier,
    pub name: ApiName,
    /// Its scopes, by name.
    pub scopes: Vec<ApiScope>,
    pub created_at: DateTime<Utc>,
}

/// An API to register, as an operator typed it.
#[derive(Debug, Clone, Default)]
pub struct NewApi {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<NewScope>,
}

/// A scope to declare: its name, description and the roles that may hold it (none named:
/// every role).
#[derive(Debug, Clone, Default)]
pub struct NewScope {
    pub name: String,
    pub description: String,
    pub roles: Vec<String>,
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterApiError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    /// Another API (or gatehouse's own) has this identifier.
    #[error("an API with this identifier exists")]
    Taken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Why an API could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertApiError {
    #[error("an API with this identifier exists")]
    Taken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Storage of registered APIs. Errors only when storage fails, unless said otherwise.
#[async_trait]
pub trait ApiRepository: Send + Sync {
    /// Stores a new API with its scopes, atomically; [`InsertApiError::Taken`] when its
    /// identifier is another's (decided by the store, so two racing registrations of one
    /// identifier store one).
    async fn insert(&self, api: &RegisteredApi) -> Result<(), InsertApiError>;

    /// Every registered API, by identifier.
    async fn list(&self) -> Result<Vec<RegisteredApi>, RepositoryError>;

    /// The API with this identifier, or `None`.
    async fn find(
        &self,
        identifier: &ApiIdentifier,
    ) -> Result<Option<RegisteredApi>, RepositoryError>;

    /// The API with this id, or `None`.
    async fn find_by_id(&self, id: ApiId) -> Result<Option<RegisteredApi>, RepositoryError>;

    /// Deletes the API and its scopes; whether it existed.
    async fn delete(&self, id: ApiId) -> Result<bool, RepositoryError>;
}

/// Registering, listing and removing APIs.
#[derive(Clone)]
pub struct ApiService {
    apis: Arc<dyn ApiRepository>,
    clock: Arc<dyn Clock>,
    /// gatehouse's own API's identifier (`jwt.audience`): no registered API may take it.
    own: String,
}

impl ApiService {
    pub fn new(apis: Arc<dyn ApiRepository>, clock: Arc<dyn Clock>, own: String) -> Self {
        Self { apis, clock, own }
    }

    /// gatehouse's own API's identifier: the `aud` of its own tokens.
    pub fn own_identifier(&self) -> &str {
        &self.own
    }

    /// Registers an API: every field checked, scope names unique, each scope's roles
    /// known.
    pub async fn register(&self, input: NewApi) -> Result<RegisteredApi, RegisterApiError> {
        let mut errors = ValidationErrors::new();
        let identifier = errors.check("identifier", ApiIdentifier::parse(&input.identifier));
        let name = errors.check("name", ApiName::parse(&input.name));
        let scopes = scopes(&input.scopes, &mut errors);
        let (Some(identifier), Some(name)) = (identifier, name) else {
            return Err(RegisterApiError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(RegisterApiError::Invalid(errors));
        }
        if identifier.same_as(&self.own) {
            return Err(RegisterApiError::Taken);
        }
        let api = RegisteredApi {
            id: ApiId::generate(),
            identifier,
            name,
            scopes,
            created_at: self.clock.now_stored(),
        };
        match self.apis.insert(&api).await {
            Ok(()) => {
                tracing::info!(
                    api = api.identifier.as_str(),
                    scopes = api.scopes.len(),
                    "API registered"
                );
                Ok(api)
            }
            Err(InsertApiError::Taken) => Err(RegisterApiError::Taken),
            Err(InsertApiError::Repository(error)) => Err(error.into()),
        }
    }

    /// Every registered API (not gatehouse's own).
    pub async fn list(&self) -> Result<Vec<RegisteredApi>, RepositoryError> {
        self.apis.list().await
    }

    /// The registered API with this identifier (one of the wrong shape is none).
    pub async fn find(&self, identifier: &str) -> Result<Option<RegisteredApi>, RepositoryError> {
        match ApiIdentifier::parse(identifier) {
            Ok(identifier) => self.apis.find(&identifier).await,
            Err(_) => Ok(None),
        }
    }

    /// The registered API with this id.
    pub async fn get(&self, id: ApiId) -> Result<Option<RegisteredApi>, RepositoryError> {
        self.apis.find_by_id(id).await
    }

    /// Removes the registered API with this identifier; whether it existed.
    pub async fn remove(&self, identifier: &str) -> Result<bool, RepositoryError> {
        match self.find(identifier).await? {
            Some(api) => self.remove_by_id(api.id).await,
            None => Ok(false),
        }
    }

    /// Removes the registered API with this id; whether it existed.
    pub async fn remove_by_id(&self, id: ApiId) -> Result<bool, RepositoryError> {
        let removed = self.apis.delete(id).await?;
        if removed {
            tracing::info!(api_id = %id, "API removed");
        }
        Ok(removed)
    }
}

/// Whether a scope name is gatehouse's own API's or OpenID Connect's: a token's `scope`
/// must never be read as both.
fn reserved(name: &ScopeName) -> bool {
    const OPENID: [&str; 6] = [
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "offline_access",
    ];
    crate::scope::Scope::ALL
        .iter()
        .any(|own| own.as_str() == name.as_str())
        || OPENID.contains(&name.as_str())
}

/// The declared scopes, checked; violations are added to `errors` under `scopes`.
fn scopes(input: &[NewScope], errors: &mut ValidationErrors) -> Vec<ApiScope> {
    if input.is_empty() {
        errors.add("scopes", "declare at least one scope");
    }
    if input.len() > MAX_SCOPES {
        errors.add("scopes", format!("at most {MAX_SCOPES} scopes"));
    }
    let mut scopes: Vec<ApiScope> = Vec::new();
    for scope in input.iter().take(MAX_SCOPES) {
        let name = errors.check("scopes", ScopeName::parse(&scope.name));
        let description = errors.check("scopes", ScopeDescription::parse(&scope.description));
        let roles = if scope.roles.is_empty() {
            Some(vec![Role::User, Role::Admin])
        } else {
            let parsed: Result<Vec<Role>, _> = scope.roles.iter().map(|r| Role::parse(r)).collect();
            errors.check("scopes", parsed)
        };
        let (Some(name), Some(description), Some(mut roles)) = (name, description, roles) else {
            continue;
        };
        if reserved(&name) {
            errors.add(
                "scopes",
                format!(
                    "`{}` is one of gatehouse's own or OpenID Connect's",
                    name.as_str()
                ),
            );
            continue;
        }
        if scopes.iter().any(|known| known.name == name) {
            errors.add("scopes", format!("`{}` is declared twice", name.as_str()));
            continue;
        }
        roles.sort_by_key(|role| role.as_str());
        roles.dedup();
        scopes.push(ApiScope {
            name,
            description,
            roles,
        });
    }
    scopes.sort_by(|a, b| a.name.cmp(&b.name));
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_request_narrows_to_held_names_only() {
        let held: Vec<ScopeName> = ["b:write", "a:read"]
            .iter()
            .map(|n| ScopeName::parse(n).unwrap())
            .collect();
        let names = |scopes: Vec<ScopeName>| {
            scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(narrow(&held, None).unwrap()), ["a:read", "b:write"]);
        assert_eq!(
            names(narrow(&held, Some("  ")).unwrap()),
            ["a:read", "b:write"]
        );
        assert_eq!(
            names(narrow(&held, Some("b:write a:read b:write")).unwrap()),
            ["a:read", "b:write"]
        );
        assert_eq!(
            narrow(&held, Some("a:read c:x\u{0}")),
            Err("c:x\u{FFFD}".to_owned())
        );
    }

    #[test]
    fn identifiers_are_absolute_uris_without_fragments() {
        for good in [
            "https://orders.example.com",
            "https://api.example.com/orders/",
            "urn:example:orders",
        ] {
            assert!(ApiIdentifier::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "orders",
            "/orders",
            "https://orders.example.com#x",
            "https://orders example.com",
            "https://orders.example.com/\u{0}",
            "mailto:ops@example.com",
            "http://orders.example.com",
            "https:orders.example.com",
            "https://Orders.example.com",
            "https://user:pw@orders.example.com",
            "urn:",
            "https://orders.example.com/é",
        ] {
            assert!(ApiIdentifier::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ApiIdentifier::parse(&format!("https://e.com/{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn scope_names_are_tokens_of_a_scope_string() {
        for good in ["orders:read", "orders.write", "a", "v1/orders_admin-x"] {
            assert!(ScopeName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ":read", "orders read", "orders\"", "é", &"a".repeat(65)] {
            assert!(ScopeName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gatehouses_own_and_openid_scope_names_are_not_an_apis() {
        for taken in ["users:write", "me", "openid", "offline_access"] {
            let mut errors = ValidationErrors::new();
            scopes(
                &[NewScope {
                    name: taken.into(),
                    description: "X".into(),
                    roles: vec![],
                }],
                &mut errors,
            );
            assert!(!errors.is_empty(), "{taken}");
        }
        let own = ApiIdentifier::parse("https://auth.example.com/").unwrap();
        assert!(own.same_as("https://auth.example.com"));
    }

    #[test]
    fn scopes_are_checked_unique_and_default_to_every_role() {
        let mut errors = ValidationErrors::new();
        let declared = scopes(
            &[
                NewScope {
                    name: "orders:write".into(),
                    description: "Place orders".into(),
                    roles: vec!["admin".into()],
                },
                NewScope {
                    name: "orders:read".into(),
                    description: "Read orders".into(),
                    roles: vec![],
                },
            ],
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(declared[0].name.as_str(), "orders:read");
        assert_eq!(declared[0].roles, vec![Role::Admin, Role::User]);
        assert_eq!(declared[1].roles, vec![Role::Admin]);

        let mut errors = ValidationErrors::new();
        let twice = NewScope {
            name: "orders:read".into(),
            description: "Read".into(),
            roles: vec![],
        };
        scopes(&[twice.clone(), twice], &mut errors);
        assert!(!errors.is_empty());
        let mut errors = ValidationErrors::new();
        scopes(
            &[NewScope {
                name: "x".into(),
                description: "X".into(),
                roles: vec!["owner".into()],
            }],
            &mut errors,
        );
        assert!(!errors.is_empty(), "an unknown role");
        let mut errors = ValidationErrors::new();
        scopes(&[], &mut errors);
        assert!(!errors.is_empty(), "no scope");
    }
}
