//! `gatehouse apis add|list|remove`: the APIs registered behind gatehouse (resource
//! servers), each with its identifier (the `aud` of its tokens) and its scopes.

use clap::Subcommand;
use gatehouse_domain::apis::{NewApi, NewScope, RegisterApiError};
use gatehouse_http::state::AppState;

#[derive(Subcommand)]
pub enum ApisAction {
    /// Register an API with its scopes.
    Add {
        /// Its identifier, which its tokens carry as `aud`: an absolute URI such as
        /// `https://orders.example.com` or `urn:example:orders`.
        #[arg(long)]
        identifier: String,
        /// The name people see on the consent page.
        #[arg(long)]
        name: String,
        /// A scope every role may hold, as `NAME=DESCRIPTION` (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A scope only admins may hold, as `NAME=DESCRIPTION` (repeat for several).
        #[arg(long = "admin-scope")]
        admin_scopes: Vec<String>,
    },
    /// List the registered APIs and their scopes.
    List,
    /// Remove an API, by its identifier.
    Remove { identifier: String },
}

pub async fn run(state: &AppState, action: ApisAction) -> Result<(), String> {
    match action {
        ApisAction::Add {
            identifier,
            name,
            scopes,
            admin_scopes,
        } => {
            let everyone = scopes.iter().map(|raw| scope(raw, &[]));
            let admins = admin_scopes.iter().map(|raw| scope(raw, &["admin"]));
            let scopes = everyone.chain(admins).collect::<Result<Vec<_>, _>>()?;
            let api = match state
                .apis
                .register(NewApi {
                    identifier,
                    name,
                    scopes,
                })
                .await
            {
                Ok(api) => api,
                Err(RegisterApiError::Invalid(errors)) => {
                    return Err(errors.summary());
                }
                Err(RegisterApiError::Taken) => {
                    return Err("an API with this identifier exists already".into());
                }
                Err(other) => return Err(other.to_string()),
            };
            println!(
                "registered {} ({})",
                api.identifier.as_str(),
                api.name.as_str()
            );
            Ok(())
        }
        ApisAction::List => {
            for api in state.apis.list().await.map_err(|e| e.to_string())? {
                println!("{}\t{}", api.identifier.as_str(), api.name.as_str());
                for scope in &api.scopes {
                    let roles: Vec<&str> = scope.roles.iter().map(|role| role.as_str()).collect();
                    println!(
                        "  {}\t{}\t{}",
                        scope.name.as_str(),
                        roles.join(","),
                        scope.description.as_str()
                    );
                }
            }
            Ok(())
        }
        ApisAction::Remove { identifier } => {
            if state
                .apis
                .remove(&identifier)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("removed {identifier}");
                Ok(())
            } else {
                Err(format!("no API `{identifier}`"))
            }
        }
    }
}

/// A scope as typed: `NAME=DESCRIPTION`, held by `roles` (none named: every role).
fn scope(raw: &str, roles: &[&str]) -> Result<NewScope, String> {
    let (name, description) = raw
        .split_once('=')
        .ok_or_else(|| format!("`{raw}`: write a scope as NAME=DESCRIPTION"))?;
    Ok(NewScope {
        name: name.trim().to_owned(),
        description: description.to_owned(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
    })
}
