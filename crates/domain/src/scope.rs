//! OAuth2 scopes and the scopes each role may be granted.

use std::collections::BTreeSet;
use std::fmt;

use crate::user::Role;

/// Declares every scope once: its variant, its name on the wire, what it allows and who may
/// hold it; and a marker type per scope in [`required`], for endpoints to state their need.
macro_rules! scopes {
    ($($name:ident = $wire:literal, $description:literal, $holders:ident, $apps:ident;)*) => {
        /// One permission an access token can carry.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Scope {
            $($name,)*
        }

        impl Scope {
            pub const ALL: [Scope; [$($wire),*].len()] = [$(Scope::$name),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Scope::$name => $wire,)*
                }
            }

            /// What the scope allows, for documentation (the OpenAPI security scheme).
            pub fn description(self) -> &'static str {
                match self {
                    $(Scope::$name => $description,)*
                }
            }

            /// Whether a user with `role` may hold this scope.
            pub fn allowed_for(self, role: Role) -> bool {
                match self {
                    $(Scope::$name => Holders::$holders.include(role),)*
                }
            }

            /// Whether a third-party app may hold this scope: the scopes that read or
            /// manage the account itself are for gatehouse's own pages, first-party apps
            /// and the password grant.
            pub fn third_parties_may_hold(self) -> bool {
                match self {
                    $(Scope::$name => Apps::$apps.include_third_parties(),)*
                }
            }

            /// Whether a request without `scope` is granted this scope (when the role
            /// allows it).
            pub fn granted_by_default(self) -> bool {
                match self {
                    $(Scope::$name => Holders::$holders.by_default(),)*
                }
            }
        }

        /// The scope an endpoint requires, as a type: `CurrentUser<required::Me>`.
        pub mod required {
            use super::{RequiredScope, Scope};

            /// Any valid token, whatever its scopes (logout).
            pub struct Any;
            impl RequiredScope for Any {
                const SCOPE: Option<Scope> = None;
            }

            $(
                #[doc = concat!("`", $wire, "`: ", $description, ".")]
                pub struct $name;
                impl RequiredScope for $name {
                    const SCOPE: Option<Scope> = Some(Scope::$name);
                }
            )*
        }
    };
}

scopes! {
    Me = "me", "Read and manage your own account", Everyone, FirstParty;
    TodosRead = "todos:read", "Read your todos", Everyone, Any;
    TodosWrite = "todos:write", "Create, change and delete your todos", Everyone, Any;
    UsersRead = "users:read", "Read all users (admin)", Admins, FirstParty;
    UsersWrite = "users:write", "Change and delete users (admin)", Admins, FirstParty;
    OpenId = "openid", "Sign in with OpenID Connect: an ID token, and `/oauth2/userinfo`", OnRequest, Any;
    Profile = "profile", "Your name in the ID token and userinfo", OnRequest, Any;
    EmailAddress = "email", "Your email address in the ID token and userinfo", OnRequest, Any;
}

/// Which apps may hold a scope.
enum Apps {
    Any,
    /// gatehouse's own pages, first-party clients and the password grant only.
    FirstParty,
}

impl Apps {
    fn include_third_parties(self) -> bool {
        matches!(self, Apps::Any)
    }
}

/// A scope an endpoint requires, as a type; `None` accepts any valid token.
pub trait RequiredScope: 'static {
    const SCOPE: Option<Scope>;
}

/// Who may hold a scope.
enum Holders {
    Everyone,
    Admins,
    /// Everyone, but only when asked for by name: the OpenID Connect scopes, which a token
    /// request without `scope` does not get.
    OnRequest,
}

impl Holders {
    fn include(self, role: Role) -> bool {
        match self {
            Holders::Everyone | Holders::OnRequest => true,
            Holders::Admins => role == Role::Admin,
        }
    }

    fn by_default(self) -> bool {
        !matches!(self, Holders::OnRequest)
    }
}

impl Scope {
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| ScopeError::Unknown(raw.to_owned()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope `{0}`")]
    Unknown(String),
    #[error("scope `{0}` is not allowed for this account")]
    NotAllowed(Scope),
}

/// A set of scopes, written on the wire as a space-separated list (RFC 6749 §3.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-separated list; unknown names are errors, repeats are harmless.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        raw.split_ascii_whitespace()
            .map(Scope::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Reads scopes that were granted earlier (a stored session's): names that no longer
    /// exist grant nothing and are left out, so removing or renaming a scope narrows old
    /// sessions instead of breaking them.
    pub fn parse_granted(raw: &str) -> Self {
        Self(
            raw.split_ascii_whitespace()
                .filter_map(|name| Scope::parse(name).ok())
                .collect(),
        )
    }

    /// Every scope `role` is granted when a request names none: all it may hold but the
    /// OpenID Connect ones, which must be asked for.
    pub fn all_for(role: Role) -> Self {
        Self(
            Scope::ALL
                .into_iter()
                .filter(|scope| scope.allowed_for(role) && scope.granted_by_default())
                .collect(),
        )
    }

    /// The scopes to grant for a request: all the role allows when none were asked for,
    /// otherwise exactly those asked for, provided the role allows each one.
    pub fn grant(requested: Option<&str>, role: Role) -> Result<Self, ScopeError> {
        let requested = match requested.map(str::trim) {
            None | Some("") => return Ok(Self::all_for(role)),
            Some(raw) => Self::parse(raw)?,
        };
        match requested.0.iter().find(|scope| !scope.allowed_for(role)) {
            Some(scope) => Err(ScopeError::NotAllowed(*scope)),
            None => Ok(requested),
        }
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.0.iter().map(|scope| scope.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_request_grants_everything_the_role_allows() {
        for role in [Role::User, Role::Admin] {
            let allowed: ScopeSet = Scope::ALL
                .into_iter()
                .filter(|scope| scope.allowed_for(role) && scope.granted_by_default())
                .collect();
            assert_eq!(ScopeSet::grant(None, role).unwrap(), allowed);
            assert_eq!(ScopeSet::grant(Some(" "), role).unwrap(), allowed);
        }
        // Admins hold every scope but the OpenID Connect ones, which must be asked for;
        // users fewer.
        assert_eq!(
            ScopeSet::all_for(Role::Admin).iter().count(),
            Scope::ALL.len() - 3
        );
        assert!(!ScopeSet::all_for(Role::Admin).contains(Scope::OpenId));
        assert!(ScopeSet::grant(Some("openid me"), Role::User).is_ok());
        assert!(ScopeSet::all_for(Role::User).iter().count() < Scope::ALL.len());
    }

    #[test]
    fn scopes_granted_earlier_keep_only_the_names_that_still_exist() {
        // A name no scope has (retired, or never one), and one broken by a NUL.
        let gone = "retired:scope";
        assert!(Scope::ALL.iter().all(|scope| scope.as_str() != gone));
        let granted = ScopeSet::parse_granted(&format!("me {gone}  todos:read\u{0}x todos:write"));
        assert_eq!(granted.to_string(), "me todos:write");
        assert_eq!(ScopeSet::parse_granted(""), ScopeSet::default());
    }

    #[test]
    fn a_request_is_granted_exactly() {
        let granted = ScopeSet::grant(Some("todos:read me me"), Role::User).unwrap();
        assert_eq!(granted.to_string(), "me todos:read");
    }

    #[test]
    fn admin_scopes_are_refused_to_users() {
        assert_eq!(
            ScopeSet::grant(Some("me users:read"), Role::User),
            Err(ScopeError::NotAllowed(Scope::UsersRead))
        );
        assert!(matches!(
            ScopeSet::grant(Some("me root"), Role::Admin),
            Err(ScopeError::Unknown(name)) if name == "root"
        ));
    }
}
