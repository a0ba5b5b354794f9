//! The domain's `AuditLog` on SeaORM.

use async_trait::async_trait;
use gatehouse_domain::audit::{AuditEvent, AuditEventId, AuditFilter, AuditKind, AuditLog};
use gatehouse_domain::{Caller, Page, RepositoryError, UserId};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, Order, QueryFilter};

use crate::database::Database;
use crate::entity::audit_events::{self, Column, Entity};
use crate::errors::{corrupt, storage};
use crate::paging::page_of;

#[derive(Debug, Clone)]
pub struct SeaAuditLog {
    db: DatabaseConnection,
}

impl SeaAuditLog {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
        }
    }
}

fn to_domain(model: audit_events::Model) -> Result<AuditEvent, RepositoryError> {
    let kind = AuditKind::parse(&model.kind).ok_or_else(|| {
        corrupt(
            "audit_events",
            model.id,
            format!("unknown kind {}", model.kind),
        )
    })?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(model.id),
        kind,
        user_id: model.user_id.map(UserId::from_uuid),
        actor_id: model.actor_id.map(UserId::from_uuid),
        caller: Caller {
            user_agent: model.user_agent,
            ip: model.ip,
        },
        detail: model.detail,
        at: model.created_at,
    })
}

#[async_trait]
impl AuditLog for SeaAuditLog {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        Entity::insert(audit_events::ActiveModel {
            id: Set(event.id.as_uuid()),
            kind: Set(event.kind.as_str().to_owned()),
            user_id: Set(event.user_id.map(|id| id.as_uuid())),
            actor_id: Set(event.actor_id.map(|id| id.as_uuid())),
            ip: Set(event.caller.ip.clone()),
            user_agent: Set(event.caller.user_agent.clone()),
            detail: Set(event.detail.as_ref().map(|d| d.chars().take(255).collect())),
            created_at: Set(event.at),
        })
        .exec_without_returning(&self.db)
        .await
        .map(|_| ())
        .map_err(storage)
    }

    async fn list(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditEvent>, u64), RepositoryError> {
        let mut query = Entity::find();
        if let Some(user) = filter.user_id {
            query = query.filter(Column::UserId.eq(user.as_uuid()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(Column::Kind.eq(kind.as_str()));
        }
        if let Some(since) = filter.since {
            query = query.filter(Column::CreatedAt.gte(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(Column::CreatedAt.lt(until));
        }
        let newest_first = (Column::CreatedAt, Column::Id);
        page_of(&self.db, query, newest_first, Order::Desc, page, to_domain).await
    }
}
