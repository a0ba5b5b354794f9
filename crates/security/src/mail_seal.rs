//! Queued emails sealed at rest (see [`crate::sealing`]), bound to their email's id:
//! implements the domain's `MailSealer`. A queued message may carry a live token, so the
//! database never holds one readable.

use gatehouse_domain::Email;
use gatehouse_domain::mail::{MailContent, MailError, MailId, MailMessage, MailSealer, SealedMail};
use serde::{Deserialize, Serialize};

use crate::sealing::{Keyring, Purpose, SealingKey};

/// What is sealed: a reset request's address, or a whole message.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Sealed {
    ResetRequest {
        to: String,
    },
    Message {
        to: String,
        subject: String,
        text: String,
        html: String,
    },
}

pub struct MailSeal {
    keys: Keyring,
}

impl MailSeal {
    /// Seals under the key for queued mail that `current` stands for; the keys `retired`
    /// stand for still open what they sealed.
    pub fn new(current: &secrecy::SecretString, retired: &[secrecy::SecretString]) -> Self {
        Self {
            keys: Keyring::new(
                SealingKey::derive(current, Purpose::QueuedMail),
                retired
                    .iter()
                    .map(|secret| SealingKey::derive(secret, Purpose::QueuedMail))
                    .collect(),
            ),
        }
    }
}

fn aad(id: MailId) -> String {
    format!("mail:{}", id.as_uuid())
}

impl MailSealer for MailSeal {
    fn seal(&self, id: MailId, content: &MailContent) -> SealedMail {
        let plain = match content {
            MailContent::ResetRequest(to) => Sealed::ResetRequest {
                to: to.as_str().to_owned(),
            },
            MailContent::Message(message) => Sealed::Message {
                to: message.to.as_str().to_owned(),
                subject: message.subject.clone(),
                text: message.text.clone(),
                html: message.html.clone(),
            },
        };
        let bytes = serde_json::to_vec(&plain).expect("strings serialize");
        SealedMail::new(self.keys.seal(&aad(id), &bytes))
    }

    fn open(&self, id: MailId, sealed: &SealedMail) -> Result<MailContent, MailError> {
        let (bytes, _) = self
            .keys
            .open(&aad(id), sealed.as_str())
            .map_err(|reason| MailError(format!("cannot open the queued email: {reason}")))?;
        let plain: Sealed = serde_json::from_slice(&bytes)
            .map_err(|_| MailError("the queued email is not one of ours".into()))?;
        let email = |to: String| {
            Email::parse(&to)
                .map_err(|_| MailError("the queued email has no valid recipient".into()))
        };
        Ok(match plain {
            Sealed::ResetRequest { to } => MailContent::ResetRequest(email(to)?),
            Sealed::Message {
                to,
                subject,
                text,
                html,
            } => MailContent::Message(MailMessage {
                to: email(to)?,
                subject,
                text,
                html,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn a_sealed_email_hides_its_link_and_opens_only_as_itself() {
        let seal = MailSeal::new(&SecretString::from("k".repeat(32)), &[]);
        let id = MailId::generate();
        let content = MailContent::Message(MailMessage {
            to: Email::parse("ada@example.com").unwrap(),
            subject: "Reset your password".into(),
            text: "https://id.example.com/reset-password?token=secret-token".into(),
            html: "<p>secret-token</p>".into(),
        });
        let sealed = seal.seal(id, &content);
        assert!(!sealed.as_str().contains("secret-token"));
        assert!(!sealed.as_str().contains("ada@example.com"));
        assert_eq!(seal.open(id, &sealed).unwrap(), content);
        assert!(seal.open(MailId::generate(), &sealed).is_err());
    }
}
