//! Command-line and environment settings shared by `serve` and the admin commands. Every flag
//! can also be set through the `AIRLOCK_*` variable named in its help.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use airlock_scheduler::pass::defaults;

use crate::auth::{KeySource, TokenPolicy};

/// Where the data lives.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Data directory: the SQLite database, the generated JWT secret, task logs.
    #[arg(long, env = "AIRLOCK_HOME", default_value = ".airlock")]
    pub home: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB`. Default: SQLite in the data
    /// directory.
    #[arg(long, env = "AIRLOCK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Largest number of database connections.
    #[arg(long, env = "AIRLOCK_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

impl DatabaseArgs {
    /// The database URL to use.
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.home.join("airlock.db").display()))
    }
}

/// How tokens are signed and checked.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// HMAC secret (HS512). Default: a secret generated once into `<home>/jwt-secret`.
    #[arg(long, env = "AIRLOCK_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM private key (RSA → RS256, Ed25519 → EdDSA); its public half is served at
    /// `/.well-known/jwks.json`. Takes precedence over the secret.
    #[arg(long, env = "AIRLOCK_JWT_PRIVATE_KEY")]
    pub jwt_private_key: Option<PathBuf>,
    /// Accepted audiences, comma-separated; the first is written into new tokens.
    #[arg(
        long,
        env = "AIRLOCK_JWT_AUDIENCE",
        value_delimiter = ',',
        default_value = "urn:airflow.apache.org:task"
    )]
    pub jwt_audience: Vec<String>,
    /// Issuer written into tokens and then required.
    #[arg(long, env = "AIRLOCK_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Lifetime of execution tokens, in seconds.
    #[arg(long, env = "AIRLOCK_JWT_EXPIRATION", default_value_t = 600)]
    pub jwt_expiration: u64,
    /// Lifetime of workload tokens (what executors pass to supervisors), in seconds.
    #[arg(
        long,
        env = "AIRLOCK_WORKLOAD_TOKEN_EXPIRATION",
        default_value_t = 3600
    )]
    pub workload_token_expiration: u64,
}

impl AuthArgs {
    /// Where the signing keys come from.
    pub fn key_source(&self, home: &std::path::Path) -> KeySource {
        if let Some(path) = &self.jwt_private_key {
            KeySource::PrivateKey(path.clone())
        } else if let Some(secret) = &self.jwt_secret {
            KeySource::Secret(secret.clone())
        } else {
            KeySource::SecretFile(home.join("jwt-secret"))
        }
    }

    /// Lifetimes, audience and issuer.
    pub fn policy(&self) -> TokenPolicy {
        TokenPolicy {
            audiences: self.jwt_audience.clone(),
            issuer: self.jwt_issuer.clone(),
            execution_ttl: Duration::from_secs(self.jwt_expiration),
            workload_ttl: Duration::from_secs(self.workload_token_expiration),
            ..TokenPolicy::default()
        }
    }
}

/// `api-server serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Database settings.
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Token settings.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Address to listen on.
    #[arg(long, env = "AIRLOCK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "AIRLOCK_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Trigger settings.
    #[command(flatten)]
    pub triggers: TriggerArgs,
    /// The key of secrets at rest.
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// Scheduler settings.
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    /// Where supervisors on this host write task logs (served by the control API). Default:
    /// `<home>/logs`.
    #[arg(long, env = "AIRLOCK_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Limits on clients.
    #[command(flatten)]
    pub connections: ConnectionArgs,
    /// Web-UI settings.
    #[command(flatten)]
    pub ui: UiArgs,
    /// HTTPS settings.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// HTTPS: with both a certificate and a key the server speaks only TLS.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain (the server's first); serve HTTPS.
    #[arg(long, env = "AIRLOCK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "AIRLOCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The web UI (served under `/ui/`).
#[derive(Debug, Clone, clap::Args)]
pub struct UiArgs {
    /// How long a web-UI sign-in lasts (then the user signs in again).
    #[arg(long, env = "AIRLOCK_UI_SESSION_TTL", default_value = "12h", value_parser = positive_duration)]
    pub ui_session_ttl: Duration,
}

impl Default for UiArgs {
    fn default() -> Self {
        Self {
            ui_session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

use airlock_protocol::time::parse_positive_secs as positive_duration;

/// Limits that keep slow or abusive clients from exhausting the server.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Longest wait for a request's headers; an idle keep-alive connection is closed after it
    /// too (`30`, `30s`, `1m`).
    #[arg(long, env = "AIRLOCK_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,
    /// Longest time to receive a request body once its headers arrived (then 408).
    #[arg(long, env = "AIRLOCK_BODY_READ_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    pub body_read_timeout: Duration,
    /// Most connections served at once; further ones wait in the listen queue (logged).
    #[arg(long, env = "AIRLOCK_MAX_CONNECTIONS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl Default for ConnectionArgs {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1000,
        }
    }
}

impl ServeArgs {
    /// The task log directory.
    pub fn log_dir(&self) -> PathBuf {
        self.log_dir
            .clone()
            .unwrap_or_else(|| self.db.home.join("logs"))
    }
}

/// The scheduler service (see the README's scheduler section). Durations are seconds (`30`)
/// or durations with units (`30s`, `5m`, `1h30m`).
#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerArgs {
    /// Time without a heartbeat after which a running task instance is a zombie (retried or
    /// failed).
    #[arg(long, env = "AIRLOCK_TASK_HEARTBEAT_TIMEOUT", value_parser = positive_duration,
          default_value = Secs(defaults::HEARTBEAT_TIMEOUT))]
    pub task_heartbeat_timeout: Duration,
    /// Time without a tick after which an executor is dead and what it claimed and did not
    /// start is handed to others.
    #[arg(long, env = "AIRLOCK_EXECUTOR_TIMEOUT", value_parser = positive_duration,
          default_value = Secs(defaults::EXECUTOR_TIMEOUT))]
    pub executor_timeout: Duration,
    /// Time a claimed task instance may stay queued without starting before it is handed to
    /// others.
    #[arg(long, env = "AIRLOCK_TASK_QUEUED_TIMEOUT", value_parser = positive_duration,
          default_value = Secs(defaults::QUEUED_TIMEOUT))]
    pub task_queued_timeout: Duration,
    /// Longest time between scheduling passes when nothing changes and nothing comes due.
    #[arg(long, env = "AIRLOCK_SCHEDULER_IDLE_INTERVAL", value_parser = positive_duration,
          default_value = Secs(defaults::IDLE_INTERVAL))]
    pub scheduler_idle_interval: Duration,
    /// Serve the API only: never lead scheduling (other processes on the database do).
    #[arg(long, env = "AIRLOCK_NO_SCHEDULER")]
    pub no_scheduler: bool,
    /// Most task instances one mapped task may expand into (a longer list fails the mapped
    /// task with the reason; a push announcing one gets 400).
    #[arg(long, env = "AIRLOCK_MAX_MAP_LENGTH",
          default_value_t = airlock_store::xcoms::DEFAULT_MAX_MAP_LENGTH,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_map_length: u32,
}

/// A default duration as a flag's default text (`300s`).
struct Secs(Duration);

impl From<Secs> for clap::builder::OsStr {
    fn from(d: Secs) -> Self {
        humantime::format_duration(d.0).to_string().into()
    }
}

impl Default for SchedulerArgs {
    fn default() -> Self {
        Self {
            task_heartbeat_timeout: defaults::HEARTBEAT_TIMEOUT,
            executor_timeout: defaults::EXECUTOR_TIMEOUT,
            task_queued_timeout: defaults::QUEUED_TIMEOUT,
            scheduler_idle_interval: defaults::IDLE_INTERVAL,
            no_scheduler: false,
            max_map_length: airlock_store::xcoms::DEFAULT_MAX_MAP_LENGTH,
        }
    }
}

impl SchedulerArgs {
    /// The scheduler's settings.
    pub fn settings(&self) -> airlock_scheduler::SchedulerSettings {
        airlock_scheduler::SchedulerSettings {
            heartbeat_timeout: self.task_heartbeat_timeout,
            executor_timeout: self.executor_timeout,
            queued_timeout: self.task_queued_timeout,
            idle_interval: self.scheduler_idle_interval,
            max_map_length: self.max_map_length as usize,
        }
    }
}

/// The key that encrypts secrets at rest (trigger arguments, Connection passwords and extras).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecretArgs {
    /// Key encrypting secrets at rest (32 bytes, base64). Default: generated once into
    /// `<home>/secrets.key`.
    #[arg(long, env = "AIRLOCK_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<String>,
}

impl SecretArgs {
    /// The cipher: the configured key, or the one kept in (and generated into) the data
    /// directory.
    pub fn cipher(
        &self,
        home: &std::path::Path,
    ) -> Result<airlock_store::cipher::SecretCipher, airlock_store::cipher::CipherError> {
        airlock_store::cipher::SecretCipher::load(
            self.secrets_key.as_deref(),
            &home.join("secrets.key"),
        )
    }
}

/// See [`TriggerArgs::triggerer_health_timeout`].
const DEFAULT_TRIGGERER_HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// How triggers are handed to triggerers.
#[derive(Debug, Clone, clap::Args)]
pub struct TriggerArgs {
    /// Time without a heartbeat after which a triggerer's triggers go to other triggerers.
    #[arg(long, env = "AIRLOCK_TRIGGERER_HEALTH_TIMEOUT", value_parser = positive_duration,
          default_value = Secs(DEFAULT_TRIGGERER_HEALTH_TIMEOUT))]
    pub triggerer_health_timeout: Duration,
    /// Most triggers one claim hands out (spreads triggers over triggerers).
    #[arg(long, env = "AIRLOCK_TRIGGER_CLAIM_BATCH", default_value_t = 500,
          value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub trigger_claim_batch: i64,
}

impl Default for TriggerArgs {
    fn default() -> Self {
        Self {
            triggerer_health_timeout: DEFAULT_TRIGGERER_HEALTH_TIMEOUT,
            trigger_claim_batch: 500,
        }
    }
}
