//! Outgoing mail: the messages gatehouse sends and the port that delivers them.

use async_trait::async_trait;

use crate::email::Email;

/// An email with a plain-text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailMessage {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

/// Delivers mail. Implementations: a file outbox and SMTP.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands `message` to the transport. Errors when the transport refuses it or is down.
    async fn send(&self, message: &MailMessage) -> Result<(), MailError>;
}

/// Escapes text for inclusion in HTML.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
