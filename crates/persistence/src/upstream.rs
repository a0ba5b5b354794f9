//! The domain's `IdentityRepository` and `UpstreamFlowRepository` on SeaORM: linked
//! identities (unique by provider and subject) and pending upstream sign-ins.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::ports::TokenDigest;
use gatehouse_domain::upstream::{
    FlowPurpose, Identity, IdentityRepository, LinkError, LinkOffer, PendingFlow, ProviderId,
    Unlinked, UpstreamFlowRepository,
};
use gatehouse_domain::{RepositoryError, SessionId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, SqlErr, TransactionTrait,
};

use crate::database::Database;
use crate::entity::{identities, upstream_flows, upstream_link_offers};
use crate::errors::{corrupt, storage};

/// Linked identities.
#[derive(Debug, Clone)]
pub struct SeaIdentityRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaIdentityRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

fn identity(model: identities::Model) -> Result<Identity, RepositoryError> {
    let provider = ProviderId::parse(&model.provider)
        .map_err(|error| corrupt("identities", &model.provider, error))?;
    Ok(Identity {
        provider,
        subject: model.subject,
        user_id: UserId::from_uuid(model.user_id),
        email: model.email,
        linked_at: model.linked_at,
        last_used_at: model.last_used_at,
    })
}

fn the(provider: &ProviderId, subject: &str) -> Condition {
    Condition::all()
        .add(identities::Column::Provider.eq(provider.as_str()))
        .add(identities::Column::Subject.eq(subject))
}

#[async_trait]
impl IdentityRepository for SeaIdentityRepository {
    #[tracing::instrument(skip_all, fields(%provider))]
    async fn find(
        &self,
        provider: &ProviderId,
        subject: &str,
    ) -> Result<Option<Identity>, RepositoryError> {
        identities::Entity::find()
            .filter(the(provider, subject))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(identity)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(provider = %linked.provider, user_id = %linked.user_id))]
    async fn link(&self, linked: &Identity) -> Result<(), LinkError> {
        let row = identities::ActiveModel {
            provider: Set(linked.provider.as_str().to_owned()),
            subject: Set(linked.subject.clone()),
            user_id: Set(linked.user_id.as_uuid()),
            email: Set(linked.email.clone()),
            linked_at: Set(linked.linked_at),
            last_used_at: Set(linked.last_used_at),
        };
        match identities::Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Err(LinkError::Taken),
                _ => Err(storage(error).into()),
            },
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn list(&self, user: UserId) -> Result<Vec<Identity>, RepositoryError> {
        identities::Entity::find()
            .filter(identities::Column::UserId.eq(user.as_uuid()))
            .order_by_asc(identities::Column::LinkedAt)
            .order_by_asc(identities::Column::Provider)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(identity)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user, %provider))]
    async fn unlink(
        &self,
        user: UserId,
        provider: &ProviderId,
        subject: &str,
        keep_one: bool,
    ) -> Result<Unlinked, RepositoryError> {
        use crate::entity::users;
        let txn = self.writer.begin().await.map_err(storage)?;
        // A no-op update takes the account's row lock (PostgreSQL) or the write lock
        // (SQLite): a second unlink of the same account waits for this one's count.
        users::Entity::update_many()
            .col_expr(
                users::Column::UpdatedAt,
                Expr::col(users::Column::UpdatedAt),
            )
            .filter(users::Column::Id.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        let mine = identities::Column::UserId.eq(user.as_uuid());
        if keep_one {
            let linked = identities::Entity::find()
                .filter(mine.clone())
                .count(&txn)
                .await
                .map_err(storage)?;
            // A passkey is a way in too.
            let keys = crate::entity::passkeys::Entity::find()
                .filter(crate::entity::passkeys::Column::UserId.eq(user.as_uuid()))
                .count(&txn)
                .await
                .map_err(storage)?;
            if linked + keys <= 1 {
                let exists = identities::Entity::find()
                    .filter(the(provider, subject).add(mine))
                    .count(&txn)
                    .await
                    .map_err(storage)?;
                return Ok(if exists == 0 {
                    Unlinked::NotFound
                } else {
                    Unlinked::Last
                });
            }
        }
        let result = identities::Entity::delete_many()
            .filter(the(provider, subject).add(mine))
            .exec(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(if result.rows_affected == 1 {
            Unlinked::Done
        } else {
            Unlinked::NotFound
        })
    }

    #[tracing::instrument(skip_all, fields(%provider))]
    async fn used(
        &self,
        provider: &ProviderId,
        subject: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        identities::Entity::update_many()
            .col_expr(identities::Column::LastUsedAt, Expr::value(at))
            .filter(the(provider, subject))
            .exec(&self.writer)
            .await
            .map(drop)
            .map_err(storage)
    }
}

/// Pending upstream sign-ins.
#[derive(Debug, Clone)]
pub struct SeaUpstreamFlowRepository {
    db: DatabaseConnection,
    /// Where writes go (see [`Database::writer`]).
    writer: DatabaseConnection,
}

impl SeaUpstreamFlowRepository {
    pub fn new(database: &Database) -> Self {
        Self {
            db: database.connection().clone(),
            writer: database.writer().clone(),
        }
    }
}

#[async_trait]
impl UpstreamFlowRepository for SeaUpstreamFlowRepository {
    #[tracing::instrument(skip_all, fields(provider = %flow.provider))]
    async fn insert(&self, flow: &PendingFlow) -> Result<(), RepositoryError> {
        let (link_user_id, reauth_session_id) = match flow.purpose {
            FlowPurpose::SignIn => (None, None),
            FlowPurpose::Link(user) => (Some(user.as_uuid()), None),
            FlowPurpose::Reauthenticate { user, session } => {
                (Some(user.as_uuid()), Some(session.as_uuid()))
            }
        };
        upstream_flows::Entity::insert(upstream_flows::ActiveModel {
            state_hash: Set(flow.state.as_str().to_owned()),
            browser_hash: Set(flow.browser.as_str().to_owned()),
            provider: Set(flow.provider.as_str().to_owned()),
            link_user_id: Set(link_user_id),
            reauth_session_id: Set(reauth_session_id),
            fresh: Set(flow.fresh),
            resume: Set(flow.resume.clone()),
            created_at: Set(flow.created_at),
            used_at: Set(None),
        })
        .exec_without_returning(&self.writer)
        .await
        .map(drop)
        .map_err(storage)
    }

    #[tracing::instrument(skip_all)]
    async fn take(
        &self,
        state: &TokenDigest,
        browser: &TokenDigest,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingFlow>, RepositoryError> {
        use upstream_flows::Column;
        let taken = upstream_flows::Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(
                Condition::all()
                    .add(Column::StateHash.eq(state.as_str()))
                    .add(Column::BrowserHash.eq(browser.as_str()))
                    .add(Column::UsedAt.is_null())
                    .add(Column::CreatedAt.gte(not_before)),
            )
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        if taken.rows_affected != 1 {
            return Ok(None);
        }
        let Some(model) = upstream_flows::Entity::find_by_id(state.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let provider = ProviderId::parse(&model.provider)
            .map_err(|error| corrupt("upstream_flows", &model.provider, error))?;
        Ok(Some(PendingFlow {
            state: TokenDigest::new(model.state_hash),
            browser: TokenDigest::new(model.browser_hash),
            provider,
            purpose: match (model.link_user_id, model.reauth_session_id) {
                (None, None) => FlowPurpose::SignIn,
                (Some(user), None) => FlowPurpose::Link(UserId::from_uuid(user)),
                (Some(user), Some(session)) => FlowPurpose::Reauthenticate {
                    user: UserId::from_uuid(user),
                    session: SessionId::from_uuid(session),
                },
                (None, Some(_)) => {
                    return Err(corrupt(
                        "upstream_flows",
                        &model.provider,
                        "a re-authentication without its account",
                    ));
                }
            },
            resume: model.resume,
            fresh: model.fresh,
            created_at: model.created_at,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let flows = upstream_flows::Entity::delete_many()
            .filter(upstream_flows::Column::CreatedAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        let offers = upstream_link_offers::Entity::delete_many()
            .filter(upstream_link_offers::Column::CreatedAt.lt(before))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        Ok(flows.rows_affected + offers.rows_affected)
    }

    #[tracing::instrument(skip_all, fields(provider = %offer.provider))]
    async fn insert_offer(&self, offer: &LinkOffer) -> Result<(), RepositoryError> {
        upstream_link_offers::Entity::insert(upstream_link_offers::ActiveModel {
            offer_hash: Set(offer.offer.as_str().to_owned()),
            provider: Set(offer.provider.as_str().to_owned()),
            subject: Set(offer.subject.clone()),
            email: Set(offer.email.clone()),
            user_id: Set(offer.user_id.as_uuid()),
            resume: Set(offer.resume.clone()),
            created_at: Set(offer.created_at),
            used_at: Set(None),
        })
        .exec_without_returning(&self.writer)
        .await
        .map(drop)
        .map_err(storage)
    }

    #[tracing::instrument(skip_all)]
    async fn find_offer(
        &self,
        offer: &TokenDigest,
        not_before: DateTime<Utc>,
    ) -> Result<Option<LinkOffer>, RepositoryError> {
        upstream_link_offers::Entity::find()
            .filter(offer_of(offer, not_before))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(offer_from)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn take_offer(
        &self,
        offer: &TokenDigest,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkOffer>, RepositoryError> {
        use upstream_link_offers::Column;
        let taken = upstream_link_offers::Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(offer_of(offer, not_before))
            .exec(&self.writer)
            .await
            .map_err(storage)?;
        if taken.rows_affected != 1 {
            return Ok(None);
        }
        upstream_link_offers::Entity::find_by_id(offer.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(offer_from)
            .transpose()
    }
}

/// The unused offer `offer`, made at or after `not_before`.
fn offer_of(offer: &TokenDigest, not_before: DateTime<Utc>) -> Condition {
    use upstream_link_offers::Column;
    Condition::all()
        .add(Column::OfferHash.eq(offer.as_str()))
        .add(Column::UsedAt.is_null())
        .add(Column::CreatedAt.gte(not_before))
}

fn offer_from(model: upstream_link_offers::Model) -> Result<LinkOffer, RepositoryError> {
    let provider = ProviderId::parse(&model.provider)
        .map_err(|error| corrupt("upstream_link_offers", &model.provider, error))?;
    Ok(LinkOffer {
        offer: TokenDigest::new(model.offer_hash),
        provider,
        subject: model.subject,
        email: model.email,
        user_id: UserId::from_uuid(model.user_id),
        resume: model.resume,
        created_at: model.created_at,
    })
}
