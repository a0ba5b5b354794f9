//! The domain's `AuditLog` on SeaORM, with events written in groups: one statement and one
//! commit for every event recorded while the last groups were being written.

use async_trait::async_trait;
use gatehouse_domain::audit::{AuditEvent, AuditEventId, AuditFilter, AuditKind, AuditLog};
use gatehouse_domain::{Caller, Page, RepositoryError, UserId};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, Order, QueryFilter};

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::database::Database;
use crate::entity::audit_events::{self, Column, Entity};
use crate::errors::corrupt;
use crate::paging::page_of;
use crate::writes::Writes;

/// The most events written in one statement (eight values each, well under SQLite's and
/// PostgreSQL's limits on bound values).
const MOST_IN_A_GROUP: usize = 256;

/// An event waiting for its group, and who waits for it to be stored.
struct Pending {
    row: audit_events::ActiveModel,
    stored: oneshot::Sender<Result<(), RepositoryError>>,
}

/// Audit events on SeaORM. Recording returns once the event is committed, as a single
/// insert would; events recorded while a group is being written wait for the next group,
/// so a burst of requests pays one commit (one fsync) for many events instead of one each.
#[derive(Debug, Clone)]
pub struct SeaAuditLog {
    db: DatabaseConnection,
    groups: mpsc::UnboundedSender<Pending>,
}

impl SeaAuditLog {
    /// Starts the writer task (on the current Tokio runtime); it ends with the last clone.
    pub fn new(database: &Database) -> Self {
        let (groups, waiting) = mpsc::unbounded_channel();
        tokio::spawn(write_groups(database.writes().clone(), waiting));
        Self {
            db: database.connection().clone(),
            groups,
        }
    }
}

/// Groups written at once on PostgreSQL, which flushes the commits of concurrent
/// transactions together: a group need not wait for the last one's commit. (On SQLite every
/// write joins the one writer's queue: one group at a time.)
const GROUPS_AT_ONCE: usize = 4;

/// Writes what waits, as it comes: the first event, then every one already queued behind it
/// (up to [`MOST_IN_A_GROUP`]), in one statement, itself one write of a group on SQLite.
async fn write_groups(writes: Writes, mut waiting: mpsc::UnboundedReceiver<Pending>) {
    let at_once = if writes.alone().is_some() {
        GROUPS_AT_ONCE
    } else {
        1
    };
    let in_flight = Arc::new(Semaphore::new(at_once));
    loop {
        // Events queue up while every group is in flight: the next group takes them all.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut group = Vec::with_capacity(MOST_IN_A_GROUP);
        if waiting.recv_many(&mut group, MOST_IN_A_GROUP).await == 0 {
            return;
        }
        let writes = writes.clone();
        tokio::spawn(async move {
            write_group(&writes, group).await;
            drop(permit);
        });
    }
}

/// Writes one group and answers each of its events.
async fn write_group(writes: &Writes, mut group: Vec<Pending>) {
    let rows: Vec<_> = group.iter().map(|pending| pending.row.clone()).collect();
    match insert(writes, rows).await {
        Ok(()) => {
            for pending in group.drain(..) {
                let _ = pending.stored.send(Ok(()));
            }
        }
        // One event the database refuses must not lose the others: each on its own.
        Err(_) if group.len() > 1 => {
            for pending in group.drain(..) {
                let stored = insert(writes, vec![pending.row]).await;
                let _ = pending.stored.send(stored);
            }
        }
        Err(error) => {
            if let Some(pending) = group.pop() {
                let _ = pending.stored.send(Err(error));
            }
        }
    }
}

/// Inserts `rows` in one statement.
async fn insert(
    writes: &Writes,
    rows: Vec<audit_events::ActiveModel>,
) -> Result<(), RepositoryError> {
    if let Some(writer) = writes.alone() {
        return Entity::insert_many(rows)
            .exec_without_returning(writer)
            .await
            .map(|_| ())
            .map_err(crate::errors::storage);
    }
    writes
        .run(Box::new(move |txn| {
            Box::pin(async move {
                Entity::insert_many(rows)
                    .exec_without_returning(txn)
                    .await?;
                Ok(())
            })
        }))
        .await
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
        let row = audit_events::ActiveModel {
            id: Set(event.id.as_uuid()),
            kind: Set(event.kind.as_str().to_owned()),
            user_id: Set(event.user_id.map(|id| id.as_uuid())),
            actor_id: Set(event.actor_id.map(|id| id.as_uuid())),
            ip: Set(event.caller.ip.clone()),
            user_agent: Set(event.caller.user_agent.clone()),
            detail: Set(event.detail.as_ref().map(|d| d.chars().take(255).collect())),
            created_at: Set(event.at),
        };
        let (stored, answer) = oneshot::channel();
        self.groups
            .send(Pending { row, stored })
            .map_err(|_| RepositoryError::unavailable(WriterGone))?;
        answer
            .await
            .map_err(|_| RepositoryError::unavailable(WriterGone))?
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

/// The task that writes audit events has ended (the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the audit writer has stopped")]
struct WriterGone;
