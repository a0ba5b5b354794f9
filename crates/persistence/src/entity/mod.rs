//! SeaORM entities: the storage shape of the domain's entities. Private to this crate's
//! adapters; the rest of gatehouse sees domain types only. An owned resource's row lives
//! beside its mapping (`crate::todos::row`).

pub mod action_tokens;
pub mod api_scopes;
pub mod apis;
pub mod audit_events;
pub mod authorization_codes;
pub mod client_api_access;
pub mod device_authorizations;
pub mod identities;
pub mod mail_queue;
pub mod mfa_challenges;
pub mod mfa_credentials;
pub mod mfa_recovery_codes;
pub mod oauth_clients;
pub mod passkey_ceremonies;
pub mod passkeys;
pub mod refresh_tokens;
pub mod sessions;
pub mod throttle_counters;
pub mod upstream_flows;
pub mod upstream_link_offers;
pub mod users;
