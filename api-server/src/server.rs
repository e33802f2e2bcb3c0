//! Building and running the server: `Server::build(options)` then `serve(listener, shutdown)`.
//! The listener and the shutdown signal are injected so tests bind `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::{KeyError, TokenAuthority};
use crate::config::{AuthArgs, ConnectionArgs, DatabaseArgs, ServeArgs};
use crate::state::{AppState, TriggerSettings};
use airlock_scheduler::{Scheduler, SchedulerSettings};
use airlock_store::Db;
use airlock_store::DbError;
use airlock_store::cipher::CipherError;
use airlock_store::notify::{Hub, Relay};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// The signing keys could not be loaded.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// The secrets key could not be loaded.
    #[error("secrets key: {0}")]
    Cipher(#[from] CipherError),
    /// An `AIRLOCK_VAR_*` or `AIRLOCK_CONN_*` variable cannot be read.
    #[error(transparent)]
    EnvSecret(#[from] crate::env_secrets::EnvSecretError),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    Home {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens (creating and migrating if needed) the database the settings name. The data directory
/// is made private (0700) and an embedded database file 0600: they hold the signing secret,
/// the admin token and every Variable.
pub async fn open_database(args: &DatabaseArgs) -> Result<Db, StartError> {
    use std::os::unix::fs::PermissionsExt;
    let home_error = |source| StartError::Home {
        path: args.home.clone(),
        source,
    };
    std::fs::create_dir_all(&args.home).map_err(home_error)?;
    std::fs::set_permissions(&args.home, std::fs::Permissions::from_mode(0o700))
        .map_err(home_error)?;
    let db = Db::connect(&args.url(), args.db_max_connections).await?;
    db.migrate().await?;
    // SQLite creates its -wal and -shm files with the database file's mode.
    if let Some(file) = db.sqlite_file() {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(home_error)?;
    }
    Ok(db)
}

/// Loads the token authority the settings name.
pub fn load_authority(auth: &AuthArgs, db: &DatabaseArgs) -> Result<TokenAuthority, StartError> {
    let keys = auth.key_source(&db.home).load()?;
    Ok(TokenAuthority::new(keys, auth.policy()))
}

/// A ready-to-serve API server: the HTTP application, the scheduler service and (on
/// PostgreSQL) the wake-up relay, sharing one shutdown.
pub struct Server {
    state: AppState,
    body_limit: usize,
    connections: ConnectionArgs,
    stop: tokio::sync::watch::Sender<bool>,
    relay: Option<Relay>,
    scheduler: Option<SchedulerSettings>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// How long a stopping server waits for open connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Logs, at most once a minute, that the connection cap was reached.
struct CapWarning(Option<tokio::time::Instant>);

impl CapWarning {
    fn reached(&mut self, max: u32) {
        let now = tokio::time::Instant::now();
        if self
            .0
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60))
        {
            self.0 = Some(now);
            tracing::warn!(
                max_connections = max,
                "connection limit reached: new connections wait in the listen queue until one \
                 closes (raise --max-connections if this is expected load)"
            );
        }
    }
}

impl Server {
    /// Opens the database, runs migrations and loads keys.
    pub async fn build(args: &ServeArgs) -> Result<Self, StartError> {
        crate::guard::log_panics();
        let db = open_database(&args.db).await?;
        let tokens = Arc::new(load_authority(&args.auth, &args.db)?);
        let t = &args.triggers;
        let triggers = Arc::new(TriggerSettings {
            health_timeout: chrono::TimeDelta::from_std(t.triggerer_health_timeout)
                .unwrap_or(chrono::TimeDelta::MAX),
            claim_batch: t.trigger_claim_batch,
        });
        let (hub, relay) = Hub::new(&db);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        Ok(Self {
            state: AppState {
                db,
                hub,
                tokens,
                cipher: Arc::new(args.secrets.cipher(&args.db.home)?),
                env_secrets: Arc::new(crate::env_secrets::EnvSecrets::from_env()?),
                triggers,
                stopping,
                log_dir: Arc::new(args.log_dir()),
                ui: Arc::new(crate::state::UiSettings {
                    session_ttl: chrono::TimeDelta::from_std(args.ui.ui_session_ttl)
                        .unwrap_or(chrono::TimeDelta::MAX),
                    alive_within: chrono::TimeDelta::from_std(args.scheduler.executor_timeout)
                        .unwrap_or(chrono::TimeDelta::MAX),
                }),
                metrics: Arc::new(crate::metrics::Metrics::default()),
                max_map_length: args.scheduler.max_map_length,
            },
            body_limit: args.max_body_bytes,
            connections: args.connections.clone(),
            stop,
            relay,
            scheduler: (!args.scheduler.no_scheduler).then(|| args.scheduler.settings()),
            tls: match (&args.tls.tls_cert, &args.tls.tls_key) {
                (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
                _ => None,
            },
        })
    }

    /// The shared state (database and token authority).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The application router.
    pub fn router(&self) -> Router {
        crate::routes::router(
            self.state.clone(),
            self.body_limit,
            self.connections.body_read_timeout,
        )
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and closes the pool.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        self.serve_router(app, listener, shutdown).await
    }

    /// Serves `app` (this server's [`router`](Self::router), possibly wrapped by the caller)
    /// like [`serve`](Self::serve).
    ///
    /// The accept loop is hyper's own rather than `axum::serve` because it needs what that
    /// lacks: a header-read timeout (which also closes idle keep-alive connections) and a cap
    /// on open connections, so that slow clients cannot hold the server.
    pub async fn serve_router(
        mut self,
        app: Router,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut services = tokio::task::JoinSet::new();
        if let Some(relay) = self.relay.take() {
            services.spawn(relay.run(stopped(self.stop.subscribe())));
        }
        if let Some(settings) = self.scheduler.take() {
            let metrics = self.state.metrics.clone();
            let scheduler = Scheduler::new(self.state.db.clone(), self.state.hub.clone(), settings)
                .observed_by(Arc::new(move |took, report| {
                    metrics.pass(took, report.is_some())
                }));
            services.spawn(scheduler.run(stopped(self.stop.subscribe())));
            // Delivery beside the scheduler, never inside its pass.
            match crate::notifier::Notifier::new(
                self.state.db.clone(),
                self.state.hub.clone(),
                self.state.cipher.clone(),
                self.state.env_secrets.clone(),
            ) {
                Ok(notifier) => {
                    services.spawn(notifier.run(stopped(self.stop.subscribe())));
                }
                Err(e) => tracing::error!(error = %e, "cannot start the notifier"),
            }
        }
        let limits = self.connections.clone();
        let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections as usize));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let mut warning = CapWarning(None);
        tokio::pin!(shutdown);
        loop {
            if permits.available_permits() == 0 {
                warning.reached(limits.max_connections);
            }
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors or a connection reset before accept: the listener
                        // is fine; wait a little so a persistent error does not spin.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            let (http, watcher, tls) = (http.clone(), graceful.watcher(), self.tls.clone());
            let handshake_timeout = limits.header_read_timeout;
            tokio::spawn(async move {
                let _permit = permit;
                let Some(tls) = tls else {
                    return serve_connection(&http, watcher, stream, service).await;
                };
                // The handshake runs in the connection's own task (a slow client never holds
                // the accept loop) and gets the header-read timeout, like the request after it.
                match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(&http, watcher, stream, service).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
        }
        drop(listener);
        // Long polls end now; in-flight requests then finish.
        let _ = self.stop.send(true);
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
        }
        // The scheduler finishes the step of a pass it is in (each is its own transaction).
        services.join_all().await;
        self.state.db.close().await;
        Ok(())
    }
}

/// Serves one connection (plain or TLS) until it closes or the graceful shutdown ends it.
async fn serve_connection<I>(
    http: &hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    io: I,
    service: hyper_util::service::TowerToHyperService<Router>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The port of a loopback `api-server serve` read from its log: the `address=127.0.0.1:<port>`
/// field of its "serving" line (how supervising processes find a server bound to port 0).
pub fn logged_loopback_port(log: &str) -> Option<u16> {
    logged_port(log, "127.0.0.1")
}

/// The port of an `api-server serve` bound to `host` (an IP address), read from its log.
pub fn logged_port(log: &str, host: &str) -> Option<u16> {
    // Text logs write `address=...`, JSON logs `"address":"..."`.
    let at = [format!("address={host}:"), format!("\"address\":\"{host}:")]
        .iter()
        .find_map(|field| Some(log.find(field.as_str())? + field.len()))?;
    log[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::logged_loopback_port;

    #[test]
    fn reads_the_port_from_the_serving_line() {
        let line = "INFO serving address=127.0.0.1:43121 database=sqlite://x";
        assert_eq!(logged_loopback_port(line), Some(43121));
        assert_eq!(logged_loopback_port("starting"), None);
        assert_eq!(logged_loopback_port("address=127.0.0.1:x"), None);
        let json = r#"{"level":"INFO","fields":{"message":"serving","address":"127.0.0.1:8080"}}"#;
        assert_eq!(logged_loopback_port(json), Some(8080));
    }
}
