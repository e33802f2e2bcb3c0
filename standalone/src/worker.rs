//! The worker: keeps the bundles' DAGs registered and runs the local executor, which claims
//! what the server's scheduler admitted. It holds no state of its own: kill it at any point,
//! start it again, and it carries on from what the database says.

use std::path::PathBuf;
use std::time::Duration;

use airlock_api_client::ApiClient;
use tokio::sync::watch;

use crate::bundles::BundleSync;
use crate::executor::{self, ExecutorConfig, ExecutorError};

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The executor.
    pub executor: ExecutorConfig,
    /// Where bundles are (their DAGs are registered from there).
    pub bundles_dir: PathBuf,
    /// How often bundles are asked again for their DAGs (zero: only at start).
    pub dag_sync_interval: Duration,
}

/// What one sync found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// This many DAGs were registered.
    Registered(usize),
    /// The worker's token may not register DAGs (an `executor`-scope token): it runs what
    /// other hosts register.
    NotAllowed,
}

/// Registers the bundles' DAGs once, logging what happened.
pub async fn sync_once(
    sync: &mut BundleSync,
    client: &ApiClient,
    dir: &std::path::Path,
) -> SyncOutcome {
    match sync.sync(client, dir).await {
        Ok(report) => {
            let forbidden = |e: &crate::bundles::BundleError| {
                matches!(e, crate::bundles::BundleError::Register { source, .. }
                    if source.status() == Some(403))
            };
            if !report.failed.is_empty() && report.failed.iter().all(forbidden) {
                return SyncOutcome::NotAllowed;
            }
            for (bundle, dags) in &report.registered {
                tracing::info!(%bundle, ?dags, "registered DAGs");
            }
            for e in &report.failed {
                tracing::error!("{e}");
            }
            SyncOutcome::Registered(report.registered.iter().map(|(_, d)| d.len()).sum())
        }
        Err(e) => {
            tracing::error!("{e}");
            SyncOutcome::Registered(0)
        }
    }
}

/// Runs until `stop` turns true.
pub async fn run(
    client: ApiClient,
    cfg: WorkerConfig,
    stop: watch::Receiver<bool>,
) -> Result<(), ExecutorError> {
    let mut sync = BundleSync::default();
    let allowed = sync_once(&mut sync, &client, &cfg.bundles_dir).await != SyncOutcome::NotAllowed;
    if !allowed {
        tracing::info!(
            "this worker's token may not register DAGs (executor scope): it runs the DAGs \
             registered from a host with an admin token"
        );
    }
    let syncer = (allowed && !cfg.dag_sync_interval.is_zero()).then(|| {
        let (client, dir, every, mut stop) = (
            client.clone(),
            cfg.bundles_dir.clone(),
            cfg.dag_sync_interval,
            stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => { sync_once(&mut sync, &client, &dir).await; }
                    _ = stop.changed() => return,
                }
            }
        })
    });
    let result = executor::run(client, cfg.executor, stop).await;
    if let Some(s) = syncer {
        s.abort();
    }
    result
}
