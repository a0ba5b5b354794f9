//! `gatehouse tokens list|revoke --user EMAIL`: a person's personal access tokens, for
//! operators (an admin does the same through `/api/v1/users/{id}/tokens`).

use clap::Subcommand;
use gatehouse_domain::SessionId;
use gatehouse_domain::users::ManageUserError;
use gatehouse_http::state::AppState;

#[derive(Subcommand)]
pub enum TokensAction {
    /// A person's tokens that still work: id, name, scope, API, created, expires, last
    /// used and from where. Never their secrets, which are not kept.
    List {
        /// The person's email.
        #[arg(long)]
        user: String,
    },
    /// Revoke a person's token, by its id, or all of them with `--all`: at once, on every
    /// instance.
    Revoke {
        /// The person's email.
        #[arg(long)]
        user: String,
        /// The token's id (from `gatehouse tokens list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every token of the person.
        #[arg(long)]
        all: bool,
    },
}

/// Who revokes from the command line: nobody with an account.
fn operator() -> gatehouse_domain::Caller {
    gatehouse_domain::Caller {
        user_agent: Some("gatehouse tokens".into()),
        ip: None,
    }
}

fn person_error(email: &str, error: ManageUserError) -> String {
    match error {
        ManageUserError::NotFound => format!("no account has the email {email}"),
        other => other.to_string(),
    }
}

pub async fn run(state: &AppState, action: TokensAction) -> Result<(), String> {
    match action {
        TokensAction::List { user } => {
            let person = state
                .users
                .get_by_email(&user)
                .await
                .map_err(|e| person_error(&user, e))?;
            let tokens = state
                .personal
                .list(&person)
                .await
                .map_err(|e| e.to_string())?;
            if tokens.is_empty() {
                println!("{user} has no personal access tokens");
            }
            let time = |at: Option<chrono::DateTime<chrono::Utc>>, none: &str| {
                at.map_or_else(
                    || none.to_owned(),
                    |at| at.format("%Y-%m-%dT%H:%MZ").to_string(),
                )
            };
            for token in tokens {
                println!(
                    "{}\t{}\tscope: {}\tapi: {}\tcreated {}\texpires {}\tlast used {}{}",
                    token.id(),
                    token.name,
                    token.scope(),
                    token.audience().map_or("gatehouse", |api| api.as_str()),
                    time(Some(token.session.created_at), ""),
                    time(token.expires_at(), "never"),
                    time(token.used_at, "never"),
                    token
                        .used_ip
                        .as_deref()
                        .map(|ip| format!(" from {ip}"))
                        .unwrap_or_default(),
                );
            }
            Ok(())
        }
        TokensAction::Revoke { user, id, all } => {
            let person = state
                .users
                .get_by_email(&user)
                .await
                .map_err(|e| person_error(&user, e))?;
            if all {
                let revoked = state
                    .personal
                    .revoke_all(&person, None, &operator())
                    .await
                    .map_err(|e| e.to_string())?;
                println!("revoked {revoked} token(s) of {user}");
                return Ok(());
            }
            let raw = id.unwrap_or_default();
            let id = uuid::Uuid::parse_str(&raw)
                .map(SessionId::from_uuid)
                .map_err(|_| format!("`{raw}` is not a token id"))?;
            match state
                .personal
                .revoke(person.id, id, None, &operator())
                .await
            {
                Ok(()) => {
                    println!("revoked token {id} of {user}");
                    Ok(())
                }
                Err(ManageUserError::TokenNotFound) => {
                    Err(format!("{user} has no live token with the id {id}"))
                }
                Err(other) => Err(other.to_string()),
            }
        }
    }
}
