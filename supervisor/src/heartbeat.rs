//! Heartbeats: `PUT .../heartbeat` right after start and then every interval, in a task of
//! their own so that they never wait on (or hold up) request handling or log capture.

use std::time::Duration;

use airlock_api_client::ApiClient;
use airlock_protocol::api::TIHeartbeatInfo;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use crate::outcome::StopReason;

/// Heartbeats until told to stop (`active` turns false), or until the server says the try must
/// stop (404/409/410) or `max_failed` heartbeats in a row fail; returns why it stopped.
pub fn spawn_heartbeat(
    client: ApiClient,
    ti_id: Uuid,
    info: TIHeartbeatInfo,
    interval: Duration,
    max_failed: u32,
    mut active: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Option<StopReason>> {
    // One attempt per heartbeat: the next heartbeat is the retry.
    let client = client.with_attempts(1);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failures = 0u32;
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
                Ok(()) => failures = 0,
                Err(e) if matches!(e.status(), Some(404 | 409 | 410)) => {
                    tracing::warn!(error = %e, "the server says this try must stop");
                    return Some(StopReason::ServerSaysStop(e.to_string()));
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "heartbeat failed");
                    if failures >= max_failed.max(1) {
                        return Some(StopReason::HeartbeatsFailed(failures));
                    }
                }
            }
        }
    })
}
