//! Pagination of list use cases: `limit` (default 50, at most 100) and `offset`.

use crate::error::ValidationErrors;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 100;
/// Far beyond any real list; keeps the value inside every database's integer range.
pub const MAX_OFFSET: u64 = 1_000_000_000;
/// How many matching items past a page's offset a list counts: a list's total costs at most
/// this many rows however long the list (millions of audit events), and says "at least"
/// beyond it.
pub const COUNTED_PAST_OFFSET: u64 = 10_000;

/// A validated window into a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: u64,
    offset: u64,
}

impl Page {
    /// Checks `limit` (1–100, default 50) and `offset` (0–1,000,000,000, default 0).
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.add("limit", format!("limit must be between 1 and {MAX_LIMIT}"));
        }
        let offset = offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            errors.add("offset", format!("offset must be at most {MAX_OFFSET}"));
        }
        if errors.is_empty() {
            Ok(Self { limit, offset })
        } else {
            Err(errors)
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many matching items a list's storage counts for this page: the offset and
    /// [`COUNTED_PAST_OFFSET`] more.
    pub fn count_limit(&self) -> u64 {
        self.offset + COUNTED_PAST_OFFSET
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list and the size of the whole list, counted up to the page's
/// [`Page::count_limit`].
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: Page,
}

impl<T> Paged<T> {
    /// Whether `total` is the whole list's size; else it is a lower bound (the count stopped
    /// at the page's [`Page::count_limit`]).
    pub fn total_is_exact(&self) -> bool {
        self.total < self.page.count_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(Page::new(None, None).unwrap(), Page::default());
        assert_eq!(Page::new(Some(100), Some(5)).unwrap().limit(), 100);
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(Some(101), None).is_err());
        let errors = Page::new(Some(0), Some(MAX_OFFSET + 1)).unwrap_err();
        let fields: Vec<_> = errors.violations().iter().map(|v| v.field).collect();
        assert_eq!(fields, ["limit", "offset"]);
    }
}
