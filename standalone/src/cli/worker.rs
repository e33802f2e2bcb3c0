//! `airlock worker`, and the settings it shares with `airlock standalone`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_standalone::executor::{self, ExecutorConfig};
use airlock_standalone::worker::{self, WorkerConfig};

use super::connect::ControlArgs;
use super::exit::CliError;

/// The queue tasks are in unless they name one (as in Airflow).
const DEFAULT_QUEUE: &str = "default";

/// How long a tick waits for work (long poll).
const POLL_WAIT: Duration = Duration::from_secs(1);

/// The worker: bundle sync and the local executor.
#[derive(Debug, Clone, clap::Args)]
pub struct RunnerArgs {
    /// Most task instances run at once (default: the number of CPU cores).
    #[arg(long, env = "AIRLOCK_PARALLELISM")]
    pub parallelism: Option<usize>,
    /// Bundle executables. Default: `<home>/bundles`.
    #[arg(long, env = "AIRLOCK_BUNDLES_DIR")]
    pub bundles_dir: Option<PathBuf>,
    /// This executor's id; keep it stable across restarts. Default: `local@<hostname>`.
    #[arg(long, env = "AIRLOCK_EXECUTOR_ID")]
    pub executor_id: Option<String>,
    /// The `supervisor` executable. Default: the one beside this `airlock`, else `supervisor`
    /// on the PATH.
    #[arg(long, env = "AIRLOCK_SUPERVISOR_BIN")]
    pub supervisor: Option<PathBuf>,
    /// Time between asking bundles for their DAGs again (0: only at start).
    #[arg(long, env = "AIRLOCK_DAG_SYNC_INTERVAL", default_value = "30", value_parser = airlock_protocol::time::parse_secs)]
    pub dag_sync_interval: Duration,
    /// Time running tasks get to stop when the worker stops (then SIGKILL).
    #[arg(long, env = "AIRLOCK_STOP_GRACE", default_value = "30", value_parser = airlock_protocol::time::parse_secs)]
    pub stop_grace: Duration,
    /// Queues to claim task instances from, comma-separated. Default: `default` for `airlock
    /// worker`, every queue for `airlock standalone`.
    #[arg(long, env = "AIRLOCK_QUEUES", value_delimiter = ',')]
    pub queues: Option<Vec<String>>,
}

fn supervisor_bin(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("supervisor")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("supervisor"))
}

impl RunnerArgs {
    /// The worker settings, for a server at `api_url` with data under `home`.
    pub fn config(&self, api_url: &str, home: &Path, log_dir: PathBuf) -> WorkerConfig {
        let bundles_dir = self
            .bundles_dir
            .clone()
            .unwrap_or_else(|| home.join("bundles"));
        let parallelism = self.parallelism.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        WorkerConfig {
            executor: ExecutorConfig {
                id: self
                    .executor_id
                    .clone()
                    .unwrap_or_else(executor::default_id),
                parallelism,
                supervisor: supervisor_bin(self.supervisor.as_deref()),
                api_url: api_url.to_owned(),
                bundles_dir: bundles_dir.clone(),
                log_dir,
                hide: vec![home.to_owned()],
                poll_wait: POLL_WAIT,
                stop_grace: self.stop_grace,
                queues: self.queues.clone(),
                ship_logs: false,
                metrics: Default::default(),
            },
            bundles_dir,
            dag_sync_interval: self.dag_sync_interval,
        }
    }
}

/// `airlock worker`'s settings.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Bundle sync and executor settings.
    #[command(flatten)]
    pub runner: RunnerArgs,
    /// Where supervisors write task logs. Default: `<home>/logs`.
    #[arg(long, env = "AIRLOCK_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Serve this worker's metrics at `http://<address>/metrics` (Prometheus), e.g.
    /// `127.0.0.1:9101`.
    #[arg(long, env = "AIRLOCK_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Keep task logs on this host only: for a worker whose log directory the API servers read
    /// themselves. By default supervisors also send them to the API, so they can be read from
    /// anywhere.
    #[arg(long, env = "AIRLOCK_NO_SHIP_LOGS")]
    pub no_ship_logs: bool,
}

/// Runs the worker until SIGTERM/SIGINT.
pub async fn run(a: WorkerArgs, conn: &ControlArgs) -> anyhow::Result<u8> {
    let client = conn.client()?;
    let log_dir = a.log_dir.unwrap_or_else(|| conn.home.join("logs"));
    let mut cfg = a.runner.config(&conn.api_url(), &conn.home, log_dir);
    cfg.executor.ship_logs = !a.no_ship_logs;
    // A worker among others takes the default queue unless told otherwise.
    cfg.executor
        .queues
        .get_or_insert_with(|| vec![DEFAULT_QUEUE.to_owned()]);
    tracing::info!(queues = ?cfg.executor.queues, executor = %cfg.executor.id, "worker starting");
    let (tx, rx) = tokio::sync::watch::channel(false);
    if let Some(bind) = a.metrics_bind {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| CliError::invalid(format!("cannot serve metrics on {bind}: {e}")))?;
        let mut registry = prometheus_client::registry::Registry::with_prefix("airlock");
        cfg.executor.metrics.register(&mut registry);
        let mut stop = rx.clone();
        tracing::info!(address = %listener.local_addr()?, "serving metrics at /metrics");
        tokio::spawn(airlock_metrics::serve(
            std::sync::Arc::new(registry),
            listener,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ));
    }
    tokio::spawn(async move {
        airlock_process::shutdown_signal().await;
        tracing::info!("stopping");
        let _ = tx.send(true);
    });
    match worker::run(client, cfg, rx).await {
        Err(e @ executor::ExecutorError::Refused { .. }) => {
            Err(CliError::unauthorised(e.to_string()).into())
        }
        other => other.map(|()| 0).map_err(Into::into),
    }
}
