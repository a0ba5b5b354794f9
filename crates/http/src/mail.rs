//! Mail admitted by a use case, sent after the answer.

use gatehouse_domain::recovery::PendingMail;

/// Sends an admitted mail after the answer, so the answer never depends on what the
/// sending finds.
pub fn send_later(mail: PendingMail) {
    actix_web::rt::spawn(async move {
        if let Err(error) = mail.send().await {
            tracing::error!(%error, "could not prepare an email");
        }
    });
}
