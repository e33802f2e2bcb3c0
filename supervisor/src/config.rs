//! Settings of `supervisor run`. Each flag can also be set through the `AIRLOCK_*` variable in
//! its help. The API token is deliberately not a flag: argv is visible to every user (`ps`).

use std::path::PathBuf;
use std::time::Duration;

use airlock_protocol::time::{parse_positive_secs as positive_secs, parse_secs};

/// How to run one task try.
#[derive(Debug, Clone, clap::Args)]
pub struct SupervisorConfig {
    /// Base URL of the Execution API.
    #[arg(
        long,
        env = "AIRLOCK_API_URL",
        default_value = "http://127.0.0.1:8080/execution"
    )]
    pub api_url: String,
    /// Directory of bundle executables (see the README for how a runner is found).
    #[arg(long, env = "AIRLOCK_BUNDLES_DIR", default_value = "bundles")]
    pub bundles_dir: PathBuf,
    /// Directory of task logs (`<dir>/dag_id=../run_id=../task_id=../attempt=N.log`).
    #[arg(long, env = "AIRLOCK_LOG_DIR", default_value = "logs")]
    pub log_dir: PathBuf,
    /// Also print the task log to this process's stdout.
    #[arg(long, env = "AIRLOCK_MIRROR_LOGS", default_value_t = false)]
    pub mirror_logs: bool,
    /// Also send the task log to the API in batches (for a host whose log directory the API
    /// servers do not read). A task never waits for it: lines beyond a bounded buffer are
    /// dropped and counted.
    #[arg(long, env = "AIRLOCK_SHIP_LOGS", default_value_t = false)]
    pub ship_logs: bool,
    /// Seconds between heartbeats.
    #[arg(long, env = "AIRLOCK_HEARTBEAT_INTERVAL", default_value = "5", value_parser = positive_secs)]
    pub heartbeat_interval: Duration,
    /// Seconds between SIGTERM and SIGKILL when stopping the runner.
    #[arg(long, env = "AIRLOCK_KILL_GRACE", default_value = "5", value_parser = parse_secs)]
    pub kill_grace: Duration,
    /// Seconds a runner may live on after reporting success or failure.
    #[arg(long, env = "AIRLOCK_OVERTIME", default_value = "20", value_parser = parse_secs)]
    pub overtime: Duration,
    /// Seconds to keep reading the runner's sockets after it exits (for grandchildren's output).
    #[arg(long, env = "AIRLOCK_SOCKET_CLEANUP_TIMEOUT", default_value = "5", value_parser = parse_secs)]
    pub socket_cleanup_timeout: Duration,
    /// Largest frame the runner may send, in bytes.
    #[arg(long, env = "AIRLOCK_MAX_FRAME_BYTES", default_value_t = airlock_protocol::comms::DEFAULT_MAX_FRAME_LEN)]
    pub max_frame_bytes: usize,
    /// Run task code as this user. Default: `nobody` when the supervisor runs as root (task
    /// code never runs as root unless this says `root`), else the supervisor's own user.
    #[arg(long, env = "AIRLOCK_RUN_AS_USER")]
    pub run_as_user: Option<String>,
    /// Paths task code must not reach, such as the data directory of `airlock standalone`
    /// (Landlock; colon-separated in the variable). The bundles directory stays readable.
    #[arg(long = "hide", env = "AIRLOCK_HIDE_PATHS", value_delimiter = ':')]
    pub hide: Vec<PathBuf>,
    /// Where each try's working directory is created (and removed after the try). Default: the
    /// system's temporary directory.
    #[arg(long, env = "AIRLOCK_WORK_ROOT")]
    pub work_root: Option<PathBuf>,
    /// Environment variables passed to the runner besides the safe defaults (comma-separated
    /// names). Secrets (`AIRLOCK_TOKEN`, database URLs, JWT settings) are never passed.
    #[arg(long, env = "AIRLOCK_PASS_ENV", value_delimiter = ',')]
    pub pass_env: Vec<String>,
    /// Seconds per API attempt.
    #[arg(long, env = "AIRLOCK_API_TIMEOUT", default_value = "10", value_parser = positive_secs)]
    pub api_timeout: Duration,
    /// How long an API or database outage is ridden out: the runner's requests, heartbeats and
    /// the final report are retried (network errors, 5xx) for this long before giving up; a
    /// task is stopped only when heartbeats have failed this long.
    #[arg(long, env = "AIRLOCK_OUTAGE_BUDGET", default_value = "90s", value_parser = parse_secs)]
    pub outage_budget: Duration,
}

impl SupervisorConfig {
    /// Defaults for tests and embedding: everything as documented, with `api_url` and the
    /// directories given.
    pub fn new(api_url: impl Into<String>, bundles_dir: PathBuf, log_dir: PathBuf) -> Self {
        Self {
            api_url: api_url.into(),
            bundles_dir,
            log_dir,
            mirror_logs: false,
            ship_logs: false,
            heartbeat_interval: Duration::from_secs(5),
            kill_grace: Duration::from_secs(5),
            overtime: Duration::from_secs(20),
            socket_cleanup_timeout: Duration::from_secs(5),
            max_frame_bytes: airlock_protocol::comms::DEFAULT_MAX_FRAME_LEN,
            run_as_user: None,
            hide: Vec::new(),
            work_root: None,
            pass_env: Vec::new(),
            api_timeout: Duration::from_secs(10),
            outage_budget: airlock_api_client::DEFAULT_OUTAGE_BUDGET,
        }
    }
}
