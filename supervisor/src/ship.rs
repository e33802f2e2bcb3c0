//! Log shipping: the task log's lines also go to the API, in batches, for hosts whose log
//! directory no API server reads (workers on other machines).
//!
//! The task never waits for it: the log writer offers each line to a bounded queue and, when
//! the queue is full (the API slow or away), the line is dropped and counted; the local file
//! keeps everything. Batches go out every [`FLUSH_EVERY`] or at [`BATCH_BYTES`], each at the
//! byte offset where the previous one ended, so a batch the API stored but whose answer was
//! lost is not stored twice. At the end the count of dropped lines is shipped as a last line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use airlock_api_client::ApiClient;
use airlock_protocol::api::TaskLogPiece;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Lines that may wait to be shipped.
const QUEUE_LINES: usize = 4096;
/// Most bytes per batch (below every API server's body limit).
const BATCH_BYTES: usize = 256 * 1024;
/// Longest a line waits before its batch goes.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Most bytes shipped per try; the rest stays in the local file only.
const MAX_SHIPPED: u64 = 64 * 1024 * 1024;
/// Longest the supervisor waits, at the end of a try, for the last batches.
pub const FINISH_WITHIN: Duration = Duration::from_secs(30);

/// Where the log writer offers lines.
pub struct Shipper {
    lines: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl Shipper {
    /// Queues one line (ending with a newline) if there is room; never waits.
    pub fn offer(&self, line: &str) {
        if self.lines.try_send(line.to_owned()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The task sending batches; finishes once every [`Shipper`] is dropped and the queue is sent.
pub struct ShipperTask(tokio::task::JoinHandle<()>);

impl ShipperTask {
    /// Waits (at most [`FINISH_WITHIN`]) for the last batches; gives up on them after that.
    pub async fn finish(self) {
        let handle = self.0;
        let abort = handle.abort_handle();
        if tokio::time::timeout(FINISH_WITHIN, handle).await.is_err() {
            abort.abort();
            tracing::warn!("the task log's last lines could not be shipped in time");
        }
    }
}

/// Starts shipping the log of try `ti` through `client`.
pub fn start(client: ApiClient, ti: Uuid, host_path: String) -> (Shipper, ShipperTask) {
    let (tx, rx) = mpsc::channel(QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(run(client, ti, rx, dropped.clone(), host_path));
    (Shipper { lines: tx, dropped }, ShipperTask(task))
}

fn note(event: String) -> String {
    let mut line = json!({
        "timestamp": airlock_protocol::time::to_rfc3339(&chrono::Utc::now()),
        "level": "warning",
        "logger": "airlock.supervisor",
        "event": event,
    })
    .to_string();
    line.push('\n');
    line
}

async fn run(
    client: ApiClient,
    ti: Uuid,
    mut rx: mpsc::Receiver<String>,
    dropped: Arc<AtomicU64>,
    host_path: String,
) {
    let mut offset = 0u64;
    let mut unsent = 0u64;
    let mut capped = false;
    let mut closed = false;
    while !closed {
        let mut batch = match rx.recv().await {
            Some(line) => line,
            None => break,
        };
        let mut lines = 1u64;
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < BATCH_BYTES {
            tokio::select! {
                line = rx.recv() => match line {
                    Some(line) => {
                        batch.push_str(&line);
                        lines += 1;
                    }
                    None => {
                        closed = true;
                        break;
                    }
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        if capped {
            continue;
        }
        if offset.saturating_add(batch.len() as u64) > MAX_SHIPPED {
            capped = true;
            batch = note(format!(
                "log shipping stopped after {} MiB; the whole log is at {host_path}",
                MAX_SHIPPED / (1024 * 1024)
            ));
        }
        let piece = TaskLogPiece {
            start_offset: offset,
            content: batch,
        };
        // The client retries through an outage (within its budget); a batch it gives up on
        // is counted as dropped and the next one takes its offset.
        match client.ship_log(ti, &piece).await {
            Ok(()) => offset += piece.content.len() as u64,
            Err(e) => {
                unsent += lines;
                tracing::warn!(error = %e, lines, "cannot ship task log lines");
            }
        }
    }
    let lost = unsent + dropped.load(Ordering::Relaxed);
    if lost > 0 {
        let piece = TaskLogPiece {
            start_offset: offset,
            content: note(format!(
                "{lost} log lines were not shipped (the API was slow or away); the whole log \
                 is at {host_path}"
            )),
        };
        if let Err(e) = client.ship_log(ti, &piece).await {
            tracing::warn!(error = %e, "cannot ship the count of unshipped log lines");
        }
    }
}
