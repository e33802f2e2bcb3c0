//! The task log: one JSON object per line (`timestamp`, `level`, `logger`, `event`, ...) from
//! the runner's structured log channel, its stdout (`task.stdout`, info) and stderr
//! (`task.stderr`, error), and the supervisor's own notes (`airlock.supervisor`). Known secrets
//! are redacted before anything is written.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::secrets::Redactor;

/// Longest line kept whole; longer output is split.
const MAX_LINE: usize = 64 * 1024;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The runner's JSON log channel.
    Structured,
    /// The runner's stdout.
    Stdout,
    /// The runner's stderr.
    Stderr,
}

pub use airlock_protocol::logs::log_path;

/// Accepts log records from anywhere in the supervisor and writes them in order.
///
/// What the runner prints goes through a bounded queue: when the writer falls behind, capture
/// stops reading and the runner waits on its pipe (back-pressure), so the supervisor's memory
/// does not grow with the task's output. The supervisor's own notes use a queue of their own,
/// which never blocks its loop (they are few).
#[derive(Clone)]
pub struct TaskLog {
    notes: mpsc::UnboundedSender<Value>,
    output: mpsc::Sender<Value>,
    redactor: Arc<Mutex<Redactor>>,
}

/// Captured lines that may wait for the writer (each at most [`MAX_LINE`] bytes).
const OUTPUT_QUEUE: usize = 64;

/// Bytes trimmed from the end of a log that filled its disk, to make room for the note saying so.
const TRUNCATION_ROOM: u64 = 4096;

/// Waits for the writer to drain.
pub struct LogWriter {
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    ship: Option<crate::ship::ShipperTask>,
}

impl LogWriter {
    /// Waits until every record sent before all [`TaskLog`] handles were dropped is written
    /// (and, when shipping, sent within [`crate::ship::FINISH_WITHIN`]). Fails if a write failed
    /// (the log then ends with a note saying so, when it could be written).
    pub async fn finish(self) -> std::io::Result<()> {
        let written = self
            .task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Some(ship) = self.ship {
            ship.finish().await;
        }
        written
    }
}

fn now_stamp() -> String {
    airlock_protocol::time::to_rfc3339(&chrono::Utc::now())
}

fn truncation_note(why: &std::io::Error) -> String {
    let mut note = json!({
        "timestamp": now_stamp(),
        "level": "error",
        "logger": "airlock.supervisor",
        "event": format!(
            "task log truncated: {why}; what the task printed after this point was dropped"
        ),
    })
    .to_string();
    note.push('\n');
    note
}

/// Writes records to `file` (and stdout when mirroring) until both queues close. A write that
/// fails (a full disk) stops the writing: the log's last bytes make room for a note saying so,
/// later records are counted and dropped, and the first error is returned at the end.
async fn write_records(
    mut file: tokio::fs::File,
    mirror: bool,
    ship: Option<crate::ship::Shipper>,
    mut notes: mpsc::UnboundedReceiver<Value>,
    mut output: mpsc::Receiver<Value>,
) -> std::io::Result<()> {
    let mut stdout = tokio::io::stdout();
    let mut failed: Option<std::io::Error> = None;
    let mut dropped = 0u64;
    loop {
        let record = tokio::select! {
            biased;
            Some(r) = notes.recv() => r,
            Some(r) = output.recv() => r,
            else => break,
        };
        if failed.is_some() {
            dropped += 1;
            continue;
        }
        let mut line = record.to_string();
        line.push('\n');
        if let Some(ship) = &ship {
            ship.offer(&line);
        }
        if let Err(e) = file.write_all(line.as_bytes()).await {
            let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            let _ = file.set_len(len.saturating_sub(TRUNCATION_ROOM)).await;
            let _ = file.write_all(truncation_note(&e).as_bytes()).await;
            failed = Some(e);
            continue;
        }
        if mirror {
            stdout.write_all(line.as_bytes()).await?;
        }
    }
    match failed {
        Some(e) => {
            let _ = file.flush().await;
            Err(std::io::Error::new(
                e.kind(),
                format!("{e} ({dropped} more log records dropped)"),
            ))
        }
        None => {
            file.flush().await?;
            file.sync_data().await
        }
    }
}

impl TaskLog {
    /// Opens (appending) the log at `path` and starts its writer, which also offers each line
    /// to `ship` when given.
    pub async fn open(
        path: &Path,
        mirror: bool,
        redactor: Arc<Mutex<Redactor>>,
        ship: Option<(crate::ship::Shipper, crate::ship::ShipperTask)>,
    ) -> std::io::Result<(Self, LogWriter)> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let (notes, notes_rx) = mpsc::unbounded_channel::<Value>();
        let (output, output_rx) = mpsc::channel::<Value>(OUTPUT_QUEUE);
        let (shipper, ship) = ship.unzip();
        let task = tokio::spawn(write_records(file, mirror, shipper, notes_rx, output_rx));
        Ok((
            Self {
                notes,
                output,
                redactor,
            },
            LogWriter { task, ship },
        ))
    }

    fn stamp_and_redact(&self, mut record: Map<String, Value>) -> Value {
        record
            .entry("timestamp")
            .or_insert_with(|| Value::String(now_stamp()));
        let mut v = Value::Object(record);
        if let Ok(r) = self.redactor.lock()
            && !r.is_empty()
        {
            r.redact_value(&mut v);
        }
        v
    }

    /// Writes one of the supervisor's records (redacted); never waits.
    pub fn write(&self, record: Map<String, Value>) {
        let _ = self.notes.send(self.stamp_and_redact(record));
    }

    /// Queues one captured record (redacted), waiting while the writer is behind.
    async fn write_output(&self, record: Map<String, Value>) {
        let _ = self.output.send(self.stamp_and_redact(record)).await;
    }

    /// Writes a note from the supervisor.
    pub fn note(&self, level: &str, event: impl Into<String>) {
        self.note_with(level, event, Map::new());
    }

    /// Writes one of the supervisor's own lines, with extra fields.
    pub fn note_with(&self, level: &str, event: impl Into<String>, mut fields: Map<String, Value>) {
        fields.insert("level".into(), json!(level));
        fields.insert("logger".into(), json!("airlock.supervisor"));
        fields.insert("event".into(), json!(event.into()));
        self.write(fields);
    }

    /// Writes the supervisor's last note after every output line queued before it (notes
    /// otherwise go ahead of queued output).
    pub async fn final_note(
        &self,
        level: &str,
        event: impl Into<String>,
        mut fields: Map<String, Value>,
    ) {
        fields.insert("level".into(), json!(level));
        fields.insert("logger".into(), json!("airlock.supervisor"));
        fields.insert("event".into(), json!(event.into()));
        self.write_output(fields).await;
    }

    async fn line(&self, source: Source, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end();
        match source {
            Source::Stdout | Source::Stderr => {
                let (logger, level) = if source == Source::Stdout {
                    ("task.stdout", "info")
                } else {
                    ("task.stderr", "error")
                };
                let mut m = Map::new();
                m.insert("level".into(), json!(level));
                m.insert("logger".into(), json!(logger));
                m.insert("event".into(), json!(text));
                self.write_output(m).await;
            }
            Source::Structured => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(mut m)) => {
                    let level = m
                        .get("level")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase);
                    let level = match level.as_deref() {
                        Some(
                            "critical" | "error" | "exception" | "warning" | "warn" | "info"
                            | "debug",
                        ) => level,
                        _ => Some("info".to_owned()),
                    };
                    m.insert("level".into(), json!(level));
                    m.entry("logger").or_insert_with(|| json!("task"));
                    m.entry("event").or_insert_with(|| json!(""));
                    self.write_output(m).await;
                }
                _ if text.is_empty() => {}
                _ => self.note(
                    "error",
                    format!("malformed log line from the runner: {text}"),
                ),
            },
        }
    }

    /// Reads `stream` line by line into the log until it closes.
    pub fn capture(&self, stream: UnixStream, source: Source) -> tokio::task::JoinHandle<()> {
        let log = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::with_capacity(8 * 1024, stream);
            let mut line = Vec::with_capacity(256);
            while let Ok(buf) = reader.fill_buf().await {
                if buf.is_empty() {
                    if !line.is_empty() {
                        log.line(source, &line).await;
                    }
                    break;
                }
                let (consumed, complete) = match buf.iter().position(|b| *b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (buf.len(), false),
                };
                let take = consumed.min(MAX_LINE.saturating_sub(line.len()).max(1));
                line.extend_from_slice(&buf[..take]);
                reader.consume(take);
                if (complete && take == consumed) || line.len() >= MAX_LINE {
                    log.line(source, &line).await;
                    line.clear();
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_airflows_template() {
        let p = log_path(Path::new("/logs"), "etl", "manual__2026/01", "load", -1, 2);
        assert_eq!(
            p,
            Path::new("/logs/dag_id=etl/run_id=manual__2026_01/task_id=load/attempt=2.log")
        );
        let p = log_path(Path::new("/logs"), "etl", "r", "load", 3, 1);
        assert_eq!(
            p,
            Path::new("/logs/dag_id=etl/run_id=r/task_id=load/map_index=3/attempt=1.log")
        );
    }
}
