//! Errors shared by several use cases: field validation and storage failure.

use std::fmt;

/// One rejected input field, with a message meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: &'static str,
    pub message: String,
}

/// Every field that failed validation in one request, so a client can show them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(Vec<FieldViolation>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &'static str, message: impl fmt::Display) {
        self.0.push(FieldViolation {
            field,
            message: message.to_string(),
        });
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T, E: fmt::Display>(
        &mut self,
        field: &'static str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error);
                None
            }
        }
    }

    /// Checks a change to a field that can be cleared, as clients send it: `None` leaves
    /// the field as it is, `Some(None)` clears it. Returns the parsed change, if valid.
    pub fn check_clearable<T, E: fmt::Display>(
        &mut self,
        field: &'static str,
        change: &Option<Option<String>>,
        parse: impl FnOnce(Option<&str>) -> Result<Option<T>, E>,
    ) -> Option<Option<Option<T>>> {
        let parsed = change.as_ref().map(|value| parse(value.as_deref()));
        self.check(field, parsed.transpose())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn violations(&self) -> &[FieldViolation] {
        &self.0
    }

    /// Every violation with its message, on one line (`field: message; …`), for a command
    /// line.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<_> = self.0.iter().map(|v| v.field).collect();
        write!(f, "invalid fields: {}", fields.join(", "))
    }
}

impl std::error::Error for ValidationErrors {}

/// The storage behind a port failed (unreachable, timed out, corrupted). Never caused by
/// client input: adapters turn constraint violations into the use case's own errors.
#[derive(Debug, thiserror::Error)]
#[error("storage failure")]
pub struct RepositoryError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
    unavailable: bool,
}

impl RepositoryError {
    /// A failure of the storage itself (a corrupt row, a failed statement).
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Box::new(error),
            unavailable: false,
        }
    }

    /// The storage could not be reached in time (down, restarting, connections exhausted):
    /// the same request may succeed later.
    pub fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Box::new(error),
            unavailable: true,
        }
    }

    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}
