//! Text fields that resources share, each a value object that only holds valid text: a
//! one-line [`Title`] and an optional multi-line [`LongText`]. Messages leave out the field
//! name, which the validation error carries.

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

/// A title: trimmed, 1–200 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, TitleError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TitleError::Empty);
        }
        if trimmed.chars().count() > TITLE_MAX {
            return Err(TitleError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(TitleError::ControlCharacters);
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

/// Free text of up to 2,000 characters; blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongText(String);

impl LongText {
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, LongTextError> {
        let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > LONG_TEXT_MAX {
            return Err(LongTextError::TooLong);
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(LongTextError::ControlCharacters);
        }
        Ok(Some(Self(text.to_owned())))
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
