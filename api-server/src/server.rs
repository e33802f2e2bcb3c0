//! Building and running the server: `Server::build(options)` then `serve(listener, shutdown)`.
//! The listener and the shutdown signal are injected so tests bind `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::{KeyError, TokenAuthority};
use crate::config::{AuthArgs, DatabaseArgs, ServeArgs};
use crate::db::{Db, DbError};
use crate::state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// The signing keys could not be loaded.
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    Home {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens (creating and migrating if needed) the database the settings name.
pub async fn open_database(args: &DatabaseArgs) -> Result<Db, StartError> {
    std::fs::create_dir_all(&args.home).map_err(|source| StartError::Home {
        path: args.home.clone(),
        source,
    })?;
    let db = Db::connect(&args.url(), args.db_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

/// Loads the token authority the settings name.
pub fn load_authority(auth: &AuthArgs, db: &DatabaseArgs) -> Result<TokenAuthority, StartError> {
    let keys = auth.key_source(&db.home).load()?;
    Ok(TokenAuthority::new(keys, auth.policy()))
}

/// A ready-to-serve API server.
pub struct Server {
    state: AppState,
    body_limit: usize,
}

impl Server {
    /// Opens the database, runs migrations and loads keys.
    pub async fn build(args: &ServeArgs) -> Result<Self, StartError> {
        let db = open_database(&args.db).await?;
        let tokens = Arc::new(load_authority(&args.auth, &args.db)?);
        Ok(Self {
            state: AppState { db, tokens },
            body_limit: args.max_body_bytes,
        })
    }

    /// The shared state (database and token authority).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The application router.
    pub fn router(&self) -> Router {
        crate::routes::router(self.state.clone(), self.body_limit)
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and closes the pool.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.state.db.close().await;
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
