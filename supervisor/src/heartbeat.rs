//! Heartbeats: `PUT .../heartbeat` right after start and then every interval, in a task of
//! their own so that they never wait on (or hold up) request handling or log capture.

use std::time::Duration;

use airlock_api_client::{ApiClient, RetryPolicy};
use airlock_protocol::api::TIHeartbeatInfo;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use crate::outcome::StopReason;

/// Heartbeats until told to stop (`active` turns false), or until the server says the try must
/// stop (404/409/410) or heartbeats have failed for longer than `outage_budget`; returns why it
/// stopped.
pub fn spawn_heartbeat(
    client: ApiClient,
    ti_id: Uuid,
    info: TIHeartbeatInfo,
    interval: Duration,
    outage_budget: Duration,
    mut active: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Option<StopReason>> {
    // One attempt per heartbeat: the next heartbeat is the retry.
    let client = client.with_retry(RetryPolicy::once());
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = active.changed() => {
                    if changed.is_err() || !*active.borrow() {
                        return None;
                    }
                    continue;
                }
            }
            if !*active.borrow() {
                return None;
            }
            match client.heartbeat(ti_id, &info).await {
                Ok(()) => failing_since = None,
                Err(e) if matches!(e.status(), Some(404 | 409 | 410)) => {
                    tracing::warn!(error = %e, "the server says this try must stop");
                    return Some(StopReason::ServerSaysStop(e.to_string()));
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    tracing::warn!(error = %e, failing_for = ?since.elapsed(), "heartbeat failed");
                    if since.elapsed() >= outage_budget {
                        return Some(StopReason::HeartbeatsFailed(since.elapsed()));
                    }
                }
            }
        }
    })
}
