//! Schema migrations of gatehouse. Written against sea-query's schema builder so one set of
//! migrations serves SQLite and PostgreSQL; independent of the persistence crate's entities.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000003_create_sessions;
mod m20261123_000004_create_action_tokens;
mod m20261123_000005_create_throttle_events;
mod m20261123_000006_create_audit_events;
mod m20261124_000007_notify_changes;
mod m20261201_000008_reservations_and_credentials;
mod m20261201_000009_notify_what_changed;
mod m20261201_000010_oauth_clients_and_codes;
mod m20261202_000011_mfa;
mod m20261203_000012_reauthentication;
mod m20261204_000013_upstream_identities;
mod m20261205_000014_upstream_links_and_reauth;
mod m20261205_000015_passkeys;
mod m20261207_000016_apis;
mod m20261207_000017_client_secret_rotation;
mod m20261207_000018_client_api_access;
mod m20261207_000019_api_grants;
mod m20261207_000020_lists_at_scale;
mod m20261207_000021_quiet_purge;
mod m20261207_000022_quiet_refresh;
mod m20261208_000023_personal_tokens;
mod m20261208_000024_device_grant;
mod m20261208_000025_retries_and_mail_queue;
mod owned;
mod postgres_only;

use owned::CreateOwnedTable;
use sea_orm_migration::schema::{boolean, string_len, text_null};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(CreateOwnedTable {
                name: "m20261123_000002_create_todos",
                table: "todos",
                columns: || {
                    vec![
                        string_len(Alias::new("title"), 200),
                        text_null(Alias::new("description")),
                        boolean(Alias::new("done")),
                    ]
                },
            }),
            Box::new(m20261123_000003_create_sessions::Migration),
            Box::new(m20261123_000004_create_action_tokens::Migration),
            Box::new(m20261123_000005_create_throttle_events::Migration),
            Box::new(m20261123_000006_create_audit_events::Migration),
            Box::new(m20261124_000007_notify_changes::Migration),
            Box::new(m20261201_000008_reservations_and_credentials::Migration),
            Box::new(m20261201_000009_notify_what_changed::Migration),
            Box::new(m20261201_000010_oauth_clients_and_codes::Migration),
            Box::new(m20261202_000011_mfa::Migration),
            Box::new(m20261203_000012_reauthentication::Migration),
            Box::new(m20261204_000013_upstream_identities::Migration),
            Box::new(m20261205_000014_upstream_links_and_reauth::Migration),
            Box::new(m20261205_000015_passkeys::Migration),
            Box::new(m20261207_000016_apis::Migration),
            Box::new(m20261207_000017_client_secret_rotation::Migration),
            Box::new(m20261207_000018_client_api_access::Migration),
            Box::new(m20261207_000019_api_grants::Migration),
            Box::new(m20261207_000020_lists_at_scale::Migration),
            Box::new(m20261207_000021_quiet_purge::Migration),
            Box::new(m20261207_000022_quiet_refresh::Migration),
            Box::new(m20261208_000023_personal_tokens::Migration),
            Box::new(m20261208_000024_device_grant::Migration),
            Box::new(m20261208_000025_retries_and_mail_queue::Migration),
        ]
    }
}
