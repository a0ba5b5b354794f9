//! The authorization code flow:
//! - `oauth_clients`: registered clients, their redirect URIs (newline-separated) and, for
//!   confidential clients, the SHA-256 digest of their secret;
//! - `authorization_codes`: codes by digest, what each is bound to, and when it was
//!   redeemed and, should it come back, replayed. `client_id` has no foreign key: the
//!   built-in Swagger UI client has no row (removing a client deletes its codes);
//! - `sessions.client_id`: the client a code-flow session was opened for;
//!   `sessions.kind` (`api` or `browser`) and `sessions.browser_token_hash`: the digest of
//!   a browser session's cookie, kept apart from refresh tokens so one can never be used
//!   as the other.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthClients::Table)
                    .if_not_exists()
                    .col(string_len(OauthClients::Id, 64).primary_key())
                    .col(string_len(OauthClients::Name, 100))
                    .col(string_len_null(OauthClients::SecretHash, 64))
                    .col(text(OauthClients::RedirectUris))
                    .col(text(OauthClients::PostLogoutRedirectUris))
                    .col(boolean(OauthClients::FirstParty))
                    .col(timestamp_with_time_zone(OauthClients::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .if_not_exists()
                    .col(string_len(AuthorizationCodes::CodeHash, 64).primary_key())
                    .col(string_len(AuthorizationCodes::ClientId, 64))
                    .col(text(AuthorizationCodes::RedirectUri))
                    .col(uuid(AuthorizationCodes::UserId))
                    .col(string_len(AuthorizationCodes::Scope, 255))
                    .col(string_len_null(AuthorizationCodes::CodeChallenge, 64))
                    .col(string_len_null(AuthorizationCodes::Nonce, 255))
                    .col(uuid(AuthorizationCodes::SessionId))
                    .col(uuid(AuthorizationCodes::BrowserSessionId))
                    .col(big_integer(AuthorizationCodes::CredentialVersion))
                    .col(timestamp_with_time_zone(AuthorizationCodes::AuthTime))
                    .col(timestamp_with_time_zone(AuthorizationCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(
                        AuthorizationCodes::RedeemedAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        AuthorizationCodes::ReplayedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_authorization_codes_user")
                            .from(AuthorizationCodes::Table, AuthorizationCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string_len_null(Sessions::ClientId, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string_len(Sessions::Kind, 16).default("api"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string_len_null(Sessions::BrowserTokenHash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_sessions_browser_token")
                    .table(Sessions::Table)
                    .col(Sessions::BrowserTokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_client")
                    .table(Sessions::Table)
                    .col(Sessions::ClientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in ["ix_sessions_client", "ux_sessions_browser_token"] {
            manager
                .drop_index(Index::drop().name(index).table(Sessions::Table).to_owned())
                .await?;
        }
        for column in [
            Sessions::BrowserTokenHash,
            Sessions::Kind,
            Sessions::ClientId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(AuthorizationCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OauthClients::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    Name,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    FirstParty,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    ClientId,
    RedirectUri,
    UserId,
    Scope,
    CodeChallenge,
    Nonce,
    SessionId,
    BrowserSessionId,
    CredentialVersion,
    AuthTime,
    ExpiresAt,
    RedeemedAt,
    ReplayedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ClientId,
    Kind,
    BrowserTokenHash,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
