//! The Airlock triggerer: runs the triggers that deferred tasks wait for, many at once in one
//! process, and resumes each task exactly once when its trigger fires.
//!
//! It holds no database credentials: it claims triggers, heartbeats and reports outcomes through
//! the API server's triggerer routes, with a `triggerer`-scope token. Several triggerers may run
//! at once; a trigger runs on one of them at a time, and the triggers of one that stops
//! heartbeating go to the others.
//!
//! Custom triggers: implement [`Trigger`] (or return [`Built::At`] for a time), wrap it in a
//! [`TriggerFactory`], and register it under its class path in a triggerer build:
//!
//! ```no_run
//! use airlock_triggerer::{Built, Trigger, TriggerContext, TriggerError, TriggerEvent, Triggerer, BoxFuture};
//! use serde_json::json;
//!
//! struct QueueEmpty { queue: String }
//!
//! impl Trigger for QueueEmpty {
//!     fn run(self: Box<Self>, ctx: TriggerContext) -> BoxFuture<Result<TriggerEvent, TriggerError>> {
//!         Box::pin(async move {
//!             // ... poll something with ctx.http until the condition holds ...
//!             Ok(TriggerEvent::Resume(json!({"queue": self.queue, "empty": true})))
//!         })
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Triggerer::builder()
//!         .register("my_company.triggers.QueueEmpty", |kwargs: &airlock_protocol::api::JsonObject| {
//!             let queue = kwargs.get("queue").and_then(|v| v.as_str())
//!                 .ok_or_else(|| TriggerError::new("queue is required"))?;
//!             Ok(Built::Run(Box::new(QueueEmpty { queue: queue.to_owned() })))
//!         })
//!         .main()
//! }
//! ```

pub mod builtin;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod registry;
pub mod trigger;

use std::process::ExitCode;

use airlock_api_client::{ApiClient, ClientConfig};
use base64::Engine as _;

pub use config::TriggererConfig;
pub use registry::TriggerRegistry;
pub use trigger::{
    BoxFuture, Built, Trigger, TriggerContext, TriggerError, TriggerEvent, TriggerFactory,
};

/// A triggerer build: the built-in triggers plus any registered ones.
pub struct Triggerer {
    registry: TriggerRegistry,
}

/// Why a triggerer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No token.
    #[error(
        "no token: set AIRLOCK_TRIGGERER_TOKEN or AIRLOCK_TRIGGERER_TOKEN_FILE (mint one with `api-server admin mint-token --scope triggerer --subject <id>`)"
    )]
    NoToken,
    /// The token file cannot be read.
    #[error("cannot read the token file: {0}")]
    TokenFile(std::io::Error),
    /// The id cannot be known.
    #[error("the triggerer id is unknown: pass --id or use a token with a subject")]
    NoId,
    /// The API client cannot be built.
    #[error(transparent)]
    Client(#[from] airlock_api_client::ClientError),
    /// The HTTP client of HTTP-poll triggers cannot be built.
    #[error(transparent)]
    Http(#[from] airlock_process::http::HttpClientError),
    /// The metrics address cannot be listened on.
    #[error("cannot serve metrics on {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
    /// The engine failed while running.
    #[error(transparent)]
    Engine(#[from] engine::EngineFailed),
}

/// The subject of a JWT, read without checking it (the server checks it).
fn token_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Reads the token from `AIRLOCK_TRIGGERER_TOKEN` or the file `AIRLOCK_TRIGGERER_TOKEN_FILE`.
///
/// # Safety
/// Call while this process has a single thread: the variable is wiped from the environment
/// block (see `airlock_process::take_env`).
unsafe fn token_from_env() -> Result<String, StartError> {
    // SAFETY: forwarded caller contract.
    let taken = unsafe { airlock_process::take_env(|n| n == "AIRLOCK_TRIGGERER_TOKEN") };
    if let Some((_, t)) = taken.into_iter().next() {
        return Ok(t.trim().to_owned());
    }
    let path = std::env::var_os("AIRLOCK_TRIGGERER_TOKEN_FILE").ok_or(StartError::NoToken)?;
    Ok(std::fs::read_to_string(path)
        .map_err(StartError::TokenFile)?
        .trim()
        .to_owned())
}

#[derive(clap::Parser)]
#[command(
    name = "triggerer",
    version,
    about = "Run the triggers deferred Airlock tasks wait for"
)]
struct Cli {
    #[command(flatten)]
    config: TriggererConfig,
}

impl Triggerer {
    /// A build with the built-in triggers.
    pub fn builder() -> Self {
        Self {
            registry: TriggerRegistry::with_builtins(),
        }
    }

    /// Adds a trigger implementation under `classpath`.
    pub fn register(mut self, classpath: impl Into<String>, factory: impl TriggerFactory) -> Self {
        self.registry.register(classpath, factory);
        self
    }

    /// The registry (for tests and embedding).
    pub fn registry(&self) -> &TriggerRegistry {
        &self.registry
    }

    /// Runs until `stop` turns true.
    pub async fn run(
        self,
        cfg: TriggererConfig,
        token: String,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), StartError> {
        let id = cfg
            .id
            .clone()
            .or_else(|| token_subject(&token))
            .ok_or(StartError::NoId)?;
        let client = ApiClient::new(
            ClientConfig {
                timeout: cfg.api_timeout,
                ..ClientConfig::new(cfg.api_url.clone())
            },
            token,
        )?;
        tracing::info!(%id, capacity = cfg.capacity, triggers = ?self.registry.classpaths(), "triggerer running");
        let metrics = metrics::TriggererMetrics::default();
        if let Some(bind) = cfg.metrics_bind {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|e| StartError::Metrics(bind, e))?;
            let mut registry = prometheus_client::registry::Registry::with_prefix("airlock");
            metrics.register(&mut registry);
            let mut stop = stop.clone();
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(address = %addr, "serving metrics at /metrics");
            }
            tokio::spawn(airlock_metrics::serve(
                std::sync::Arc::new(registry),
                listener,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            ));
        }
        // HTTP-poll triggers' own client: no API token, its own pool.
        let http = airlock_process::http::client_builder()?
            .build()
            .map_err(|e| {
                StartError::Client(airlock_api_client::ClientError::Config(e.to_string()))
            })?;
        engine::run(cfg, self.registry, client, http, id, metrics, stop).await?;
        Ok(())
    }

    /// Parses the command line and runs until SIGTERM/SIGINT; call from `main`.
    pub fn main(self) -> ExitCode {
        let hardened = airlock_process::harden();
        let cli = <Cli as clap::Parser>::parse();
        airlock_process::init_tracing("info");
        if let Err(e) = hardened {
            tracing::warn!(error = %e, "cannot make this process non-dumpable");
        }
        // SAFETY: `main` runs before any runtime or other thread exists.
        let token = match unsafe { token_from_env() } {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(64);
            }
        };
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the async runtime");
                return ExitCode::from(70);
            }
        };
        rt.block_on(async move {
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                let _ = tx.send(true);
            });
            match self.run(cli.config, token, rx).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::from(64)
                }
            }
        })
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_subject_of_a_token() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"HS512"}"#),
            enc(r#"{"sub":"triggerer-1"}"#)
        );
        assert_eq!(super::token_subject(&token).as_deref(), Some("triggerer-1"));
        assert_eq!(super::token_subject("garbage"), None);
    }
}
