//! Query-string parameters, parsed by hand so each bad value is reported with its name.

use gatehouse_domain::{Page, ValidationErrors};
use serde::Deserialize;
use utoipa::IntoParams;

/// `limit` and `offset` of every list, read beside the list's own filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size, 1–100 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Option<String>,
}

impl Paging {
    /// The page asked for, or `None` with the reasons added to `errors`.
    pub fn page(&self, errors: &mut ValidationErrors) -> Option<Page> {
        parse_page(errors, self.limit.as_deref(), self.offset.as_deref())
    }
}

/// Parses an optional non-negative integer parameter.
pub fn parse_u64(
    errors: &mut ValidationErrors,
    field: &'static str,
    raw: Option<&str>,
) -> Option<u64> {
    let raw = raw?;
    match raw.parse::<u64>() {
        Ok(value) => Some(value),
        Err(_) => {
            errors.add(field, format!("{field} must be a whole number ≥ 0"));
            None
        }
    }
}

/// Parses an optional `true`/`false` parameter.
pub fn parse_bool(
    errors: &mut ValidationErrors,
    field: &'static str,
    raw: Option<&str>,
) -> Option<bool> {
    match raw? {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.add(field, format!("{field} must be `true` or `false`"));
            None
        }
    }
}

/// `limit` and `offset`, with the domain's bounds.
fn parse_page(
    errors: &mut ValidationErrors,
    limit: Option<&str>,
    offset: Option<&str>,
) -> Option<Page> {
    let limit = parse_u64(errors, "limit", limit);
    let offset = parse_u64(errors, "offset", offset);
    if !errors.is_empty() {
        return None;
    }
    match Page::new(limit, offset) {
        Ok(page) => Some(page),
        Err(page_errors) => {
            for violation in page_errors.violations() {
                errors.add(violation.field, &violation.message);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `#[param]` takes only literals: the documented bounds must be the domain's.
    #[test]
    fn documented_bounds_are_the_domain_s() {
        let params = serde_json::to_value(Paging::into_params(|| None)).unwrap();
        let bound = |name: &str, key: &str| {
            params
                .as_array()
                .unwrap()
                .iter()
                .find(|param| param["name"] == name)
                .and_then(|param| param["schema"][key].as_u64())
        };
        assert_eq!(bound("limit", "minimum"), Some(1));
        assert_eq!(bound("limit", "maximum"), Some(gatehouse_domain::MAX_LIMIT));
        assert_eq!(bound("offset", "minimum"), Some(0));
        assert_eq!(
            bound("offset", "maximum"),
            Some(gatehouse_domain::MAX_OFFSET)
        );
    }
}
