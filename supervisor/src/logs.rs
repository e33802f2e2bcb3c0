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
#[derive(Clone)]
pub struct TaskLog {
    tx: mpsc::UnboundedSender<Value>,
    redactor: Arc<Mutex<Redactor>>,
}

/// Waits for the writer to drain.
pub struct LogWriter {
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LogWriter {
    /// Waits until every record sent before all [`TaskLog`] handles were dropped is written.
    pub async fn finish(self) -> std::io::Result<()> {
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

fn now_stamp() -> String {
    airlock_protocol::time::to_rfc3339(&chrono::Utc::now())
}

impl TaskLog {
    /// Opens (appending) the log at `path` and starts its writer.
    pub async fn open(
        path: &Path,
        mirror: bool,
        redactor: Arc<Mutex<Redactor>>,
    ) -> std::io::Result<(Self, LogWriter)> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
        let task = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            while let Some(record) = rx.recv().await {
                let mut line = record.to_string();
                line.push('\n');
                file.write_all(line.as_bytes()).await?;
                if mirror {
                    stdout.write_all(line.as_bytes()).await?;
                }
            }
            file.flush().await?;
            file.sync_data().await?;
            Ok(())
        });
        Ok((Self { tx, redactor }, LogWriter { task }))
    }

    /// Writes one record (redacted).
    pub fn write(&self, mut record: Map<String, Value>) {
        record
            .entry("timestamp")
            .or_insert_with(|| Value::String(now_stamp()));
        let mut v = Value::Object(record);
        if let Ok(r) = self.redactor.lock()
            && !r.is_empty()
        {
            r.redact_value(&mut v);
        }
        let _ = self.tx.send(v);
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

    fn line(&self, source: Source, raw: &[u8]) {
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
                self.write(m);
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
                    self.write(m);
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
                        log.line(source, &line);
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
                    log.line(source, &line);
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
