//! The `todos` table: an owned resource's table with a title, a description and a flag.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::owned::{create_owned_table, drop_owned_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_owned_table(
            manager,
            "todos",
            [
                string_len(Alias::new("title"), 200),
                text_null(Alias::new("description")),
                boolean(Alias::new("done")),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_owned_table(manager, "todos").await
    }
}
