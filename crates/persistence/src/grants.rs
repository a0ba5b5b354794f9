//! How the grants of a session or a code for registered APIs are stored: a line per API,
//! its identifier, then its scope names, separated by spaces (neither holds a space).

use gatehouse_domain::apis::{ApiGrant, ApiIdentifier, ScopeName};

pub(crate) fn write(grants: &[ApiGrant]) -> String {
    grants
        .iter()
        .map(|grant| {
            std::iter::once(grant.audience.as_str())
                .chain(grant.scopes.iter().map(ScopeName::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The stored grants; a line or a scope name that no longer parses grants nothing, as a
/// scope removed since narrows a session instead of breaking it.
pub(crate) fn read(stored: &str) -> Vec<ApiGrant> {
    stored
        .lines()
        .filter_map(|line| {
            let mut words = line.split_ascii_whitespace();
            let audience = ApiIdentifier::parse(words.next()?).ok()?;
            let scopes = words
                .filter_map(|name| ScopeName::parse(name).ok())
                .collect();
            Some(ApiGrant { audience, scopes })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_read_as_written() {
        let grants = vec![
            ApiGrant {
                audience: ApiIdentifier::parse("https://orders.example.com").unwrap(),
                scopes: vec![
                    ScopeName::parse("orders:read").unwrap(),
                    ScopeName::parse("orders:write").unwrap(),
                ],
            },
            ApiGrant {
                audience: ApiIdentifier::parse("urn:example:billing").unwrap(),
                scopes: Vec::new(),
            },
        ];
        assert_eq!(read(&write(&grants)), grants);
        assert_eq!(read(""), Vec::new());
        assert_eq!(read("not-a-uri orders:read\n"), Vec::new());
    }
}
