//! Settings of the `triggerer` process. Each flag can also be set through the `AIRLOCK_*`
//! variable in its help; the token is deliberately not a flag (`ps` shows argv).

use std::time::Duration;

use airlock_protocol::time::parse_positive_secs as positive_secs;

/// How a triggerer runs.
#[derive(Debug, Clone, clap::Args)]
pub struct TriggererConfig {
    /// Base URL of the Execution API.
    #[arg(
        long,
        env = "AIRLOCK_API_URL",
        default_value = "http://127.0.0.1:8080/execution"
    )]
    pub api_url: String,
    /// This triggerer's id (default: the subject of its token).
    #[arg(long, env = "AIRLOCK_TRIGGERER_ID")]
    pub id: Option<String>,
    /// Most triggers held at once.
    #[arg(long, env = "AIRLOCK_TRIGGERER_CAPACITY", default_value_t = 100_000)]
    pub capacity: usize,
    /// Most triggers asked for per claim (the server caps it too).
    #[arg(long, env = "AIRLOCK_TRIGGERER_BATCH", default_value_t = 500)]
    pub batch: usize,
    /// How long one claim waits for new triggers, in seconds (a long poll: new triggers are
    /// picked up as soon as they are created).
    #[arg(long, env = "AIRLOCK_TRIGGERER_CLAIM_WAIT", default_value = "10", value_parser = positive_secs)]
    pub claim_wait: Duration,
    /// Seconds between heartbeats.
    #[arg(long, env = "AIRLOCK_TRIGGERER_HEARTBEAT_INTERVAL", default_value = "2", value_parser = positive_secs)]
    pub heartbeat_interval: Duration,
    /// Outcome reports in flight at once.
    #[arg(
        long,
        env = "AIRLOCK_TRIGGERER_REPORT_CONCURRENCY",
        default_value_t = 16
    )]
    pub report_concurrency: usize,
    /// Seconds per API attempt.
    #[arg(long, env = "AIRLOCK_API_TIMEOUT", default_value = "10", value_parser = positive_secs)]
    pub api_timeout: Duration,
    /// Serve this triggerer's metrics at `http://<address>/metrics` (Prometheus), e.g.
    /// `127.0.0.1:9102`.
    #[arg(long, env = "AIRLOCK_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,
}

impl TriggererConfig {
    /// The documented defaults, for `api_url`.
    pub fn new(api_url: impl Into<String>) -> Self {
        Self {
            api_url: api_url.into(),
            id: None,
            capacity: 100_000,
            batch: 500,
            claim_wait: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(2),
            report_concurrency: 16,
            api_timeout: Duration::from_secs(10),
            metrics_bind: None,
        }
    }
}
