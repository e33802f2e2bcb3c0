//! The store: everything Airlock keeps, in one connection pool over SQLite (the embedded
//! default) or PostgreSQL, with the migrations and the domain error type. The API server and the
//! scheduler are its only users; modules are used by name (`store::task_instances::start`).
//!
//! Queries are written once, with `$n` placeholders, and run on either backend through sqlx's
//! `Any` driver. Timestamps are stored as UTC microseconds (`BIGINT`), JSON as `TEXT`. Where the
//! dialects differ (row locks) the difference is one helper here.
//!
//! Writes that read before they write go through [`Db::begin_write`]: on PostgreSQL a plain
//! transaction whose reads lock rows with [`Db::for_update`]; on SQLite an `IMMEDIATE`
//! transaction taken behind an in-process gate, so writers queue without SQLite's busy-sleep.

pub mod assets;
pub mod cipher;
pub mod connections;
pub mod control;
pub mod dag_runs;
pub mod dags;
pub mod error;
pub mod executors;
pub mod notifications;
pub mod notify;
pub mod operate;
pub mod pools;
pub mod retention;
pub mod rows;
pub mod secret_file;
pub mod sql;
pub mod task_instance_queries;
pub mod task_instances;
pub mod task_logs;
pub mod triggers;
pub mod ui;
pub mod variables;
pub mod xcoms;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use error::{StoreError, StoreResult};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded (the default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL names no supported backend.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// Connecting or querying failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (corrupt row).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// Result alias for the persistence layer.
pub type DbResult<T> = Result<T, DbError>;

/// A pool of database connections plus what is needed to speak its dialect.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The database file, for SQLite.
    sqlite_file: Option<std::path::PathBuf>,
    /// The URL, for PostgreSQL (listeners need a connection of their own).
    postgres_url: Option<String>,
    /// Serialises SQLite writers in this process (see the module docs).
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// A write transaction from [`Db::begin_write`]; commit it or drop it to roll back.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Commits the transaction.
    pub async fn commit(self) -> DbResult<()> {
        Ok(self.tx.commit().await?)
    }
}

impl Db {
    /// Connects to `url` (`sqlite://...` or `postgres://...`), creating a SQLite file if needed.
    pub async fn connect(url: &str, max_connections: u32) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        };
        let mut url = url.to_owned();
        if backend == Backend::Sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let write_gate =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let sqlite_file = (backend == Backend::Sqlite)
            .then(|| {
                let path = url
                    .strip_prefix("sqlite://")
                    .or(url.strip_prefix("sqlite:"))?;
                let path = path.split('?').next()?;
                (!path.is_empty() && path != ":memory:").then(|| path.into())
            })
            .flatten();
        let postgres_url = (backend == Backend::Postgres).then(|| url.clone());
        Ok(Self {
            pool,
            backend,
            postgres_url,
            sqlite_file,
            write_gate,
        })
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> DbResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The file of an embedded (SQLite) database.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        self.sqlite_file.clone()
    }

    /// The URL of a PostgreSQL database.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres_url.as_deref()
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// ` FOR UPDATE` on PostgreSQL; empty on SQLite, whose write transaction already excludes
    /// every other writer.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL (rows another transaction is claiming are passed
    /// over rather than waited for); empty on SQLite, whose writers never overlap.
    pub fn for_update_skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Starts a transaction that may read, then write, without losing a race.
    pub async fn begin_write(&self) -> DbResult<WriteTx> {
        match &self.write_gate {
            Some(gate) => {
                let guard = gate.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _gate: Some(guard),
                })
            }
            None => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _gate: None,
            }),
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Converts a datetime to the stored representation.
pub fn to_micros(dt: DateTime<Utc>) -> i64 {
    dt.timestamp_micros()
}

/// Converts a stored timestamp back; out-of-range values (never written by Airlock) read as the
/// epoch rather than failing the request.
pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The current time, truncated to what the database stores.
pub fn now() -> DateTime<Utc> {
    from_micros(to_micros(Utc::now()))
}
