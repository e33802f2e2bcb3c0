//! What every handler shares.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::TimeDelta;
use tokio::sync::watch;

use crate::auth::TokenAuthority;
use airlock_store::Db;
use airlock_store::cipher::SecretCipher;
use airlock_store::notify::Hub;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Wake-ups: handlers publish changes; ticks and trigger claims wait on them.
    pub hub: Hub,
    /// Signs and checks tokens.
    pub tokens: Arc<TokenAuthority>,
    /// How triggers are handed out.
    pub triggers: Arc<TriggerSettings>,
    /// Encrypts and decrypts secrets at rest.
    pub cipher: Arc<SecretCipher>,
    /// Variables and Connections from the server's environment, looked up first.
    pub env_secrets: Arc<crate::env_secrets::EnvSecrets>,
    /// Turns true when the server starts shutting down (long polls return early).
    pub stopping: watch::Receiver<bool>,
    /// Where supervisors on this host write task logs (read by the control API's log route).
    pub log_dir: Arc<PathBuf>,
    /// Web-UI settings.
    pub ui: Arc<UiSettings>,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Most task instances one mapped task may expand into (`--max-map-length`).
    pub max_map_length: u32,
}

/// How the web UI behaves.
pub struct UiSettings {
    /// How long a sign-in lasts.
    pub session_ttl: TimeDelta,
    /// Executors and triggerers silent for longer are not shown as live.
    pub alive_within: TimeDelta,
}

/// How triggers are handed to triggerers.
pub struct TriggerSettings {
    /// How long a triggerer may be silent before its triggers go to others.
    pub health_timeout: TimeDelta,
    /// Most triggers per claim.
    pub claim_batch: i64,
}
