//! Text fields that resources share, each a value object that only holds valid text: a
//! one-line [`Title`] and an optional multi-line [`LongText`]. Messages leave out the field
//! name, which the validation error carries.
//!
//! Lengths and characters are judged on the text as sent, before trimming, so that the
//! rules are the ones a JSON Schema can state (`maxLength`, `pattern`).

const TITLE_MAX: usize = 200;
const LONG_TEXT_MAX: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {TITLE_MAX} characters")]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacters,
}

/// A title: at most 200 characters as sent, one line, not blank; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, TitleError> {
        if raw.chars().count() > TITLE_MAX {
            return Err(TitleError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(TitleError::ControlCharacters);
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TitleError::Empty);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LongTextError {
    #[error("must be at most {LONG_TEXT_MAX} characters")]
    TooLong,
    #[error("must not contain control characters other than line breaks and tabs")]
    ControlCharacters,
}

/// Free text of up to 2,000 characters as sent; blank means none; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongText(String);

impl LongText {
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, LongTextError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        if raw.chars().count() > LONG_TEXT_MAX {
            return Err(LongTextError::TooLong);
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(LongTextError::ControlCharacters);
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
        assert_eq!(Title::parse("   "), Err(TitleError::Empty));
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert_eq!(Title::parse(&"é".repeat(201)), Err(TitleError::TooLong));
        assert_eq!(Title::parse("a\nb"), Err(TitleError::ControlCharacters));
        // Judged as sent: trailing control characters and spaces count.
        assert_eq!(Title::parse("milk\n"), Err(TitleError::ControlCharacters));
        assert_eq!(
            Title::parse(&format!(" {}", "é".repeat(200))),
            Err(TitleError::TooLong)
        );
    }

    #[test]
    fn descriptions_are_optional_and_bounded() {
        assert_eq!(LongText::parse_optional(Some("  ")), Ok(None));
        assert!(LongText::parse_optional(Some(&"x".repeat(2_000))).is_ok());
        assert!(LongText::parse_optional(Some(&"x".repeat(2_001))).is_err());
        assert!(LongText::parse_optional(Some("two\nlines\tand a tab")).is_ok());
        assert_eq!(
            LongText::parse_optional(Some("nul\u{0}")),
            Err(LongTextError::ControlCharacters)
        );
    }
}
