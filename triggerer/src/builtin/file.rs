//! Airflow's `FileTrigger`: fires when a file matching a glob exists.

use std::path::Path;
use std::time::Duration;

use airlock_protocol::api::JsonObject;
use serde_json::Value;

use super::{bad, get_bool, get_interval, get_str};
use crate::trigger::{BoxFuture, Built, Trigger, TriggerContext, TriggerError, TriggerEvent};

struct FileTrigger {
    pattern: String,
    recursive: bool,
    poke_interval: Duration,
}

fn dir_has_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        p.is_file() || (p.is_dir() && dir_has_files(&p))
    })
}

/// Whether something matches: a file, or a directory that contains files (as Airflow checks).
fn matches(pattern: &str, recursive: bool) -> Result<bool, TriggerError> {
    let opts = glob::MatchOptions {
        require_literal_separator: !recursive,
        ..Default::default()
    };
    let paths = glob::glob_with(pattern, opts).map_err(|e| bad("filepath", e))?;
    Ok(paths
        .flatten()
        .any(|p| p.is_file() || (p.is_dir() && dir_has_files(&p))))
}

impl Trigger for FileTrigger {
    fn run(self: Box<Self>, _: TriggerContext) -> BoxFuture<Result<TriggerEvent, TriggerError>> {
        Box::pin(async move {
            loop {
                let (pattern, recursive) = (self.pattern.clone(), self.recursive);
                let found = tokio::task::spawn_blocking(move || matches(&pattern, recursive))
                    .await
                    .map_err(|e| TriggerError::new(format!("file check crashed: {e}")))??;
                if found {
                    return Ok(TriggerEvent::Resume(Value::Bool(true)));
                }
                tokio::time::sleep(self.poke_interval).await;
            }
        })
    }
}

/// `filepath` (glob), `recursive` (false), `poke_interval` (5 s).
pub fn build(k: &JsonObject) -> Result<Built, TriggerError> {
    let pattern = get_str(k, "filepath")?.to_owned();
    glob::Pattern::new(&pattern).map_err(|e| bad("filepath", e))?;
    Ok(Built::Run(Box::new(FileTrigger {
        pattern,
        recursive: get_bool(k, "recursive", false)?,
        poke_interval: get_interval(k, "poke_interval", 5.0)?.max(Duration::from_millis(10)),
    })))
}
