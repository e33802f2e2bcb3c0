//! Structured task logs: one JSON object per line on the log channel the supervisor set up
//! (`AIRLOCK_LOG_FD`), with the task instance's identity on every line.

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the task survives.
    Warning,
    /// A failure.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Writes the task's log lines.
pub struct TaskLogger {
    out: Mutex<Box<dyn Write + Send>>,
    context: Map<String, Value>,
    logger: String,
}

impl TaskLogger {
    /// A logger on the supervisor's log channel (`AIRLOCK_LOG_FD`), or on stderr when run by
    /// hand.
    pub fn from_env() -> Self {
        let fd = std::env::var("AIRLOCK_LOG_FD")
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|fd| *fd > 2);
        let out: Box<dyn Write + Send> = match fd {
            Some(fd) => {
                // SAFETY: the supervisor passed this descriptor for our exclusive use.
                let inherited = unsafe { File::from_raw_fd(fd) };
                // A close-on-exec copy, so that processes the task starts do not hold the
                // log channel open after the task ends.
                match inherited.try_clone() {
                    Ok(own) => {
                        drop(inherited);
                        Box::new(own)
                    }
                    Err(_) => Box::new(inherited),
                }
            }
            None => Box::new(std::io::stderr()),
        };
        Self::new(out)
    }

    /// A logger writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Mutex::new(out),
            context: Map::new(),
            logger: "task".into(),
        }
    }

    /// Adds a field to every following line (`ti_id`, `dag_id`, ...).
    pub fn bind(&mut self, key: &str, value: impl Into<Value>) {
        self.context.insert(key.to_owned(), value.into());
    }

    /// Writes one line with extra fields.
    pub fn log_with(&self, level: Level, event: &str, fields: Map<String, Value>) {
        let mut line = self.context.clone();
        line.extend(fields);
        line.insert(
            "timestamp".into(),
            json!(airlock_protocol::time::to_rfc3339(&chrono::Utc::now())),
        );
        line.insert("level".into(), json!(level.as_str()));
        line.insert("logger".into(), json!(self.logger));
        line.insert("event".into(), json!(event));
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        if let Ok(mut out) = self.out.lock() {
            // Logging must never fail the task; a closed channel loses the line.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }

    /// Writes one line.
    pub fn log(&self, level: Level, event: &str) {
        self.log_with(level, event, Map::new());
    }

    /// Debugging detail.
    pub fn debug(&self, event: &str) {
        self.log(Level::Debug, event);
    }

    /// Normal progress.
    pub fn info(&self, event: &str) {
        self.log(Level::Info, event);
    }

    /// Something unexpected.
    pub fn warning(&self, event: &str) {
        self.log(Level::Warning, event);
    }

    /// A failure.
    pub fn error(&self, event: &str) {
        self.log(Level::Error, event);
    }
}
