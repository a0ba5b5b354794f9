//! Todos on SeaORM: the `todos` row and how it maps to a `Todo`; the owner-scoped
//! repository is the shared [`SeaOwned`].

use gatehouse_domain::text::{LongText, Title};
use gatehouse_domain::todo::{Todo, TodoFilter, TodoId};
use gatehouse_domain::{RepositoryError, UserId};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition};

use self::row::{Column, Entity, Model};
use crate::errors::corrupt;
use crate::owned::{OwnedTable, SeaOwned};

/// The todos' repository.
pub type SeaTodoRepository = SeaOwned<Entity>;

impl OwnedTable for Entity {
    type Item = Todo;
    const ID: Column = Column::Id;
    const OWNER: Column = Column::OwnerId;
    const CREATED_AT: Column = Column::CreatedAt;

    fn to_domain(model: Model) -> Result<Todo, RepositoryError> {
        let corrupt = |e: &dyn std::fmt::Display| corrupt("todos", model.id, e);
        Ok(Todo {
            id: TodoId::from_uuid(model.id),
            owner: UserId::from_uuid(model.owner_id),
            title: Title::parse(&model.title).map_err(|e| corrupt(&e))?,
            description: LongText::parse_optional(model.description.as_deref())
                .map_err(|e| corrupt(&e))?,
            done: model.done,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }

    fn to_row(todo: &Todo) -> row::ActiveModel {
        row::ActiveModel {
            id: Set(todo.id.as_uuid()),
            owner_id: Set(todo.owner.as_uuid()),
            title: Set(todo.title.as_str().to_owned()),
            description: Set(todo.description.as_ref().map(|d| d.as_str().to_owned())),
            done: Set(todo.done),
            created_at: Set(todo.created_at),
            updated_at: Set(todo.updated_at),
        }
    }

    fn matching(filter: &TodoFilter) -> Condition {
        let mut condition = Condition::all();
        if let Some(done) = filter.done {
            condition = condition.add(Column::Done.eq(done));
        }
        condition
    }
}

/// A row of the `todos` table.
pub mod row {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "todos")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub owner_id: Uuid,
        pub title: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        pub done: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
