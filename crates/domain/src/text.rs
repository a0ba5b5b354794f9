//! Text fields that resources share, each a value object that only holds valid text: a
//! one-line [`Line`] and an optional multi-line [`Lines`], both bounded by a length of their
//! type. [`Title`] and [`LongText`] are the usual bounds; a field that needs another writes
//! its own (`Lines<10_000>`) rather than a value object of its own. Messages leave out the
//! field name, which the validation error carries.
//!
//! Lengths and characters are judged on the text as sent, before trimming, so that the
//! rules are the ones a JSON Schema can state (`maxLength`, `pattern`).

/// A title: one line of 1–200 characters.
pub type Title = Line<200>;
/// Free text of up to 2,000 characters.
pub type LongText = Lines<2_000>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacters,
}

/// One line of at most `MAX` characters as sent, not blank; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<const MAX: usize>(String);

impl<const MAX: usize> Line<MAX> {
    pub fn parse(raw: &str) -> Result<Self, LineError> {
        if raw.chars().count() > MAX {
            return Err(LineError::TooLong(MAX));
        }
        if raw.chars().any(char::is_control) {
            return Err(LineError::ControlCharacters);
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(LineError::Empty);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinesError {
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters other than line breaks and tabs")]
    ControlCharacters,
}

/// Free text of at most `MAX` characters as sent; blank means none; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines<const MAX: usize>(String);

impl<const MAX: usize> Lines<MAX> {
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, LinesError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        if raw.chars().count() > MAX {
            return Err(LinesError::TooLong(MAX));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(LinesError::ControlCharacters);
        }
        let text = raw.trim();
        Ok((!text.is_empty()).then(|| Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  milk ").unwrap().as_str(), "milk");
        assert_eq!(Title::parse("   "), Err(LineError::Empty));
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert_eq!(Title::parse(&"é".repeat(201)), Err(LineError::TooLong(200)));
        assert_eq!(Title::parse("a\nb"), Err(LineError::ControlCharacters));
        // Judged as sent: trailing control characters and spaces count.
        assert_eq!(Title::parse("milk\n"), Err(LineError::ControlCharacters));
        assert_eq!(
            Title::parse(&format!(" {}", "é".repeat(200))),
            Err(LineError::TooLong(200))
        );
    }

    #[test]
    fn descriptions_are_optional_and_bounded() {
        assert_eq!(LongText::parse_optional(Some("  ")), Ok(None));
        assert!(LongText::parse_optional(Some(&"x".repeat(2_000))).is_ok());
        assert!(LongText::parse_optional(Some(&"x".repeat(2_001))).is_err());
        assert!(Lines::<10_000>::parse_optional(Some(&"x".repeat(10_000))).is_ok());
        assert_eq!(
            Lines::<10_000>::parse_optional(Some(&"x".repeat(10_001))),
            Err(LinesError::TooLong(10_000))
        );
        assert!(LongText::parse_optional(Some("two\nlines\tand a tab")).is_ok());
        assert_eq!(
            LongText::parse_optional(Some("nul\u{0}")),
            Err(LinesError::ControlCharacters)
        );
    }
}
