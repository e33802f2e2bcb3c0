//! Building and running the server: `Server::build(options)` then `serve(listener, shutdown)`.
//! The listener and the shutdown signal are injected so tests bind `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::{KeyError, TokenAuthority};
use crate::config::{AuthArgs, ConnectionArgs, DatabaseArgs, ServeArgs};
use crate::state::{AppState, Scheduling, Triggers};
use airlock_store::Backend;
use airlock_store::Db;
use airlock_store::DbError;
use airlock_store::cipher::CipherError;

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

/// The PostgreSQL channel on which trigger creation is announced to every server process.
pub const TRIGGER_CHANNEL: &str = "airlock_triggers";

/// A ready-to-serve API server.
pub struct Server {
    state: AppState,
    body_limit: usize,
    connections: ConnectionArgs,
    stop: tokio::sync::watch::Sender<bool>,
    listener: Option<tokio::task::JoinHandle<()>>,
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

/// Forwards PostgreSQL notifications of new triggers to this process's long polls, so that a
/// trigger created through another server process is picked up at once too.
fn listen_for_triggers(url: String, triggers: Arc<Triggers>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut l) => {
                    if l.listen(TRIGGER_CHANNEL).await.is_ok() {
                        while l.recv().await.is_ok() {
                            triggers.created.notify_waiters();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for trigger notifications"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    })
}

impl Server {
    /// Opens the database, runs migrations and loads keys.
    pub async fn build(args: &ServeArgs) -> Result<Self, StartError> {
        crate::guard::log_panics();
        let db = open_database(&args.db).await?;
        let tokens = Arc::new(load_authority(&args.auth, &args.db)?);
        let t = &args.triggers;
        let triggers = Arc::new(Triggers {
            created: tokio::sync::Notify::new(),
            health_timeout: chrono::TimeDelta::milliseconds(
                (t.triggerer_health_timeout.max(0.0) * 1000.0) as i64,
            ),
            claim_batch: t.trigger_claim_batch.max(1),
        });
        let listener = (db.backend() == Backend::Postgres)
            .then(|| listen_for_triggers(args.db.url(), triggers.clone()));
        let (stop, stopping) = tokio::sync::watch::channel(false);
        Ok(Self {
            state: AppState {
                db,
                tokens,
                cipher: Arc::new(args.secrets.cipher(&args.db.home)?),
                env_secrets: Arc::new(crate::env_secrets::EnvSecrets::from_env()?),
                triggers,
                stopping,
                scheduling: Arc::new(Scheduling::new(args.scheduler.settings(), args.log_dir())),
            },
            body_limit: args.max_body_bytes,
            connections: args.connections.clone(),
            stop,
            listener,
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
        self,
        app: Router,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
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
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(permit);
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
        if let Some(l) = &self.listener {
            l.abort();
        }
        self.state.db.close().await;
        Ok(())
    }
}

/// The port of a loopback `api-server serve` read from its log: the `address=127.0.0.1:<port>`
/// field of its "serving" line (how supervising processes find a server bound to port 0).
pub fn logged_loopback_port(log: &str) -> Option<u16> {
    const FIELD: &str = "address=127.0.0.1:";
    let at = log.find(FIELD)? + FIELD.len();
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
    }
}
