//! The domain's `TodoRepository` on SeaORM. Every query filters on the owner.

use async_trait::async_trait;
use gatehouse_domain::ports::TodoRepository;
use gatehouse_domain::text::{LongText, Title};
use gatehouse_domain::todo::{Todo, TodoFilter, TodoId};
use gatehouse_domain::{Page, RepositoryError, UserId};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, Order, QueryFilter};

use crate::database::Database;
use crate::entity::todos::{self, Column, Entity};
use crate::owned::{self, OwnedTable};
use crate::paging::page_of;
use crate::users::{CorruptRow, storage};

impl OwnedTable for Entity {
    const ID: Column = Column::Id;
    const OWNER: Column = Column::OwnerId;
}

#[derive(Debug, Clone)]
pub struct SeaTodoRepository {
    db: DatabaseConnection,
}

impl SeaTodoRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
        }
    }
}

fn to_domain(model: todos::Model) -> Result<Todo, RepositoryError> {
    let corrupt = |reason: String| {
        RepositoryError::new(CorruptRow {
            table: "todos",
            id: model.id,
            reason,
        })
    };
    Ok(Todo {
        id: TodoId::from_uuid(model.id),
        owner: UserId::from_uuid(model.owner_id),
        title: Title::parse(&model.title).map_err(|e| corrupt(e.to_string()))?,
        description: LongText::parse_optional(model.description.as_deref())
            .map_err(|e| corrupt(e.to_string()))?,
        done: model.done,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn to_active_model(todo: &Todo) -> todos::ActiveModel {
    todos::ActiveModel {
        id: Set(todo.id.as_uuid()),
        owner_id: Set(todo.owner.as_uuid()),
        title: Set(todo.title.as_str().to_owned()),
        description: Set(todo.description.as_ref().map(|d| d.as_str().to_owned())),
        done: Set(todo.done),
        created_at: Set(todo.created_at),
        updated_at: Set(todo.updated_at),
    }
}

#[async_trait]
impl TodoRepository for SeaTodoRepository {
    #[tracing::instrument(skip_all, fields(todo_id = %todo.id))]
    async fn insert(&self, todo: &Todo) -> Result<(), RepositoryError> {
        Entity::insert(to_active_model(todo))
            .exec_without_returning(&self.db)
            .await
            .map(|_| ())
            .map_err(storage)
    }

    #[tracing::instrument(skip_all, fields(todo_id = %id))]
    async fn find(&self, owner: UserId, id: TodoId) -> Result<Option<Todo>, RepositoryError> {
        owned::find::<Entity>(&self.db, owner, id.as_uuid())
            .await?
            .map(to_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        owner: UserId,
        filter: TodoFilter,
        page: Page,
    ) -> Result<(Vec<Todo>, u64), RepositoryError> {
        let mut query = owned::rows_of::<Entity>(owner);
        if let Some(done) = filter.done {
            query = query.filter(Column::Done.eq(done));
        }
        let newest_first = (Column::CreatedAt, Column::Id);
        page_of(&self.db, query, newest_first, Order::Desc, page, to_domain).await
    }

    #[tracing::instrument(skip_all, fields(todo_id = %todo.id))]
    async fn update(&self, todo: &Todo) -> Result<bool, RepositoryError> {
        owned::update::<Entity>(
            &self.db,
            todo.owner,
            todo.id.as_uuid(),
            to_active_model(todo),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(todo_id = %id))]
    async fn delete(&self, owner: UserId, id: TodoId) -> Result<bool, RepositoryError> {
        owned::delete::<Entity>(&self.db, owner, id.as_uuid()).await
    }
}
