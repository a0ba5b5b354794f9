//! Periodic deletion of what has expired: sessions, throttle counters, emailed tokens,
//! authorization codes.

use std::sync::Arc;

use gatehouse_domain::Clock;

use gatehouse_http::state::AppState;

/// Deletes expired and revoked sessions and used or expired emailed tokens every `every`,
/// on its own task so requests never wait for it. Every instance may run it: the deletes are
/// idempotent.
pub fn spawn(state: AppState, clock: Arc<dyn Clock>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match state.auth.purge_sessions().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired sessions purged"),
                Err(error) => tracing::warn!(%error, "session purge failed"),
            }
            if let Err(error) = state.throttle.purge().await {
                tracing::warn!(%error, "throttle purge failed");
            }
            match state.recovery.purge(clock.now()).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "used or expired emailed tokens purged"),
                Err(error) => tracing::warn!(%error, "token purge failed"),
            }
            match state.oauth.purge_codes().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired authorization codes purged"),
                Err(error) => tracing::warn!(%error, "authorization code purge failed"),
            }
            match state.oauth.purge_devices().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired device authorizations purged"),
                Err(error) => tracing::warn!(%error, "device authorization purge failed"),
            }
            match state.upstream.purge().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "pending upstream sign-ins purged"),
                Err(error) => tracing::warn!(%error, "upstream sign-in purge failed"),
            }
            match state.passkeys.purge().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "passkey ceremonies purged"),
                Err(error) => tracing::warn!(%error, "passkey ceremony purge failed"),
            }
            match state.mfa.purge_challenges().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired sign-in challenges purged"),
                Err(error) => tracing::warn!(%error, "sign-in challenge purge failed"),
            }
        }
    });
}
