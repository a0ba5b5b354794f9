//! The table shape every owned resource shares: a UUID key; the owner, a user whose
//! deletion removes the row (the cascade is what deletes an account's items); the creation
//! and change times; and an index for listing an owner's items newest first. A resource's
//! migration is a [`CreateOwnedTable`] that names its table and adds its own columns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The migration that creates an owned resource's table with the shared columns around its
/// own, and drops it on the way down.
pub struct CreateOwnedTable {
    /// The migration's name, as the migrations table records it (`m…_create_<table>`):
    /// never change it once released.
    pub name: &'static str,
    pub table: &'static str,
    /// The resource's own columns.
    pub columns: fn() -> Vec<ColumnDef>,
}

impl MigrationName for CreateOwnedTable {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOwnedTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_owned_table(manager, self.table, (self.columns)()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_owned_table(manager, self.table).await
    }
}

/// Creates table `name` with the shared columns around `columns`.
async fn create_owned_table(
    manager: &SchemaManager<'_>,
    name: &str,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    let table = Alias::new(name);
    let mut create = Table::create();
    create
        .table(table.clone())
        .if_not_exists()
        .col(pk_uuid(Alias::new("id")))
        .col(uuid(Alias::new("owner_id")));
    for mut column in columns {
        create.col(&mut column);
    }
    create
        .col(timestamp_with_time_zone(Alias::new("created_at")))
        .col(timestamp_with_time_zone(Alias::new("updated_at")))
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{name}_owner"))
                .from(table.clone(), Alias::new("owner_id"))
                .to(Alias::new("users"), Alias::new("id"))
                .on_delete(ForeignKeyAction::Cascade),
        );
    manager.create_table(create.to_owned()).await?;
    manager
        .create_index(
            Index::create()
                .name(format!("ix_{name}_owner_created"))
                .table(table)
                .col(Alias::new("owner_id"))
                .col(Alias::new("created_at"))
                .to_owned(),
        )
        .await
}

/// Drops table `name` (its index goes with it).
async fn drop_owned_table(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(Alias::new(name)).to_owned())
        .await
}
