//! `gatehouse mail list|retry`: the queue of outgoing emails, for operators (an admin does
//! the same through `/api/v1/mail`). Never an email's contents, which stay sealed.

use clap::Subcommand;
use gatehouse_domain::Page;
use gatehouse_domain::mail::{MailId, MailStatus};
use gatehouse_http::state::AppState;

#[derive(Subcommand)]
pub enum MailAction {
    /// Queued emails, oldest first: id, kind, status, tries, next try, last error.
    List {
        /// Only emails in this state: `pending` or `dead`.
        #[arg(long)]
        status: Option<String>,
    },
    /// Try a dead email again by its id, or every dead one with `--all`: due at once,
    /// its tries counted afresh. A running server picks it up within
    /// `mail.poll_interval_ms`.
    Retry {
        /// The email's id (from `gatehouse mail list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every dead email.
        #[arg(long)]
        all: bool,
    },
}

pub async fn run(state: &AppState, action: MailAction) -> Result<(), String> {
    match action {
        MailAction::List { status } => {
            let status = match status.as_deref() {
                Some(raw) => Some(
                    MailStatus::parse(raw)
                        .ok_or_else(|| format!("`{raw}` is not a status: pending or dead"))?,
                ),
                None => None,
            };
            let mut offset = 0;
            loop {
                let page = Page::new(Some(100), Some(offset)).map_err(|e| e.to_string())?;
                let paged = state
                    .courier
                    .list(status, page)
                    .await
                    .map_err(|e| e.to_string())?;
                if paged.items.is_empty() {
                    if offset == 0 {
                        println!("no queued emails");
                    }
                    return Ok(());
                }
                for mail in &paged.items {
                    println!(
                        "{}\t{}\t{}\ttries {}\tnext {}\tqueued {}\t{}",
                        mail.id.as_uuid(),
                        mail.kind.as_str(),
                        mail.status.as_str(),
                        mail.attempts,
                        mail.next_attempt_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        mail.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        mail.last_error.as_deref().unwrap_or(""),
                    );
                }
                offset += paged.items.len() as u64;
            }
        }
        MailAction::Retry { id, all } => {
            if all {
                let retried = state
                    .courier
                    .retry_dead()
                    .await
                    .map_err(|e| e.to_string())?;
                println!("queued {retried} dead email(s) again");
                return Ok(());
            }
            let raw = id.unwrap_or_default();
            let id = uuid::Uuid::parse_str(&raw)
                .map(MailId::from_uuid)
                .map_err(|_| format!("`{raw}` is not an email id"))?;
            if state.courier.retry(id).await.map_err(|e| e.to_string())? {
                println!("queued email {} again", id.as_uuid());
                Ok(())
            } else {
                Err(format!("no dead email has the id {}", id.as_uuid()))
            }
        }
    }
}
