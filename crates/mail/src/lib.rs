//! Mail adapters: [`FileOutbox`] writes one `.eml` file per message (the default, for
//! development and tests), [`SmtpMailer`] delivers through an SMTP server with lettre.

use std::path::PathBuf;

use async_trait::async_trait;
use gatehouse_domain::mail::{MailError, MailMessage, Mailer};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// Builds the RFC 5322 message: multipart/alternative with text and HTML.
fn build(from: &Mailbox, message: &MailMessage) -> Result<Message, MailError> {
    let to: Mailbox = message
        .to
        .as_str()
        .parse()
        .map_err(|e| MailError(format!("bad recipient: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&message.subject)
        .multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ))
        .map_err(|e| MailError(e.to_string()))
}

/// Parses a sender such as `gatehouse <no-reply@example.com>`.
pub fn parse_sender(raw: &str) -> Result<Mailbox, MailError> {
    raw.parse()
        .map_err(|e| MailError(format!("invalid sender `{raw}`: {e}")))
}

/// Writes each message to `<dir>/<uuid>.eml`.
#[derive(Debug, Clone)]
pub struct FileOutbox {
    dir: PathBuf,
    from: Mailbox,
}

impl FileOutbox {
    pub fn new(dir: impl Into<PathBuf>, from: Mailbox) -> Self {
        Self {
            dir: dir.into(),
            from,
        }
    }
}

#[async_trait]
impl Mailer for FileOutbox {
    #[tracing::instrument(skip_all)]
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let email = build(&self.from, message)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError(e.to_string()))?;
        let path = self.dir.join(format!("{}.eml", uuid::Uuid::now_v7()));
        tokio::fs::write(&path, email.formatted())
            .await
            .map_err(|e| MailError(e.to_string()))?;
        tracing::info!(path = %path.display(), "mail written to the outbox");
        Ok(())
    }
}

/// How to secure the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on localhost only).
    None,
    /// Upgrade with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: Mailbox,
}

/// Delivers through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: SmtpSettings) -> Result<Self, MailError> {
        let builder = match settings.tls {
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(|e| MailError(e.to_string()))?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|e| MailError(e.to_string()))?,
        };
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(std::time::Duration::from_secs(10)));
        if let (Some(username), Some(password)) = (settings.username, settings.password) {
            builder = builder.credentials(Credentials::new(
                username,
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    #[tracing::instrument(skip_all)]
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let email = build(&self.from, message)?;
        self.transport
            .send(email)
            .await
            .map_err(|e| MailError(e.to_string()))?;
        tracing::info!("mail handed to the SMTP server");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_domain::Email;

    #[tokio::test]
    async fn the_outbox_writes_a_multipart_message() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::new(
            dir.path(),
            parse_sender("gatehouse <no-reply@example.com>").unwrap(),
        );
        outbox
            .send(&MailMessage {
                to: Email::parse("ada@example.com").unwrap(),
                subject: "Hello".into(),
                text: "plain body".into(),
                html: "<p>html body</p>".into(),
            })
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let raw = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(raw.contains("To: ada@example.com"), "{raw}");
        assert!(raw.contains("Subject: Hello"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("plain body") && raw.contains("<p>html body</p>"));
    }
}
