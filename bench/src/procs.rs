//! The processes the scenarios measure: built binaries beside this one, an `api-server` over a
//! throwaway database, Python from the repository's virtualenv.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_api_server::auth::TokenAuthority;
use airlock_api_server::config::{AuthArgs, DatabaseArgs};
use airlock_store::Db;
use anyhow::{Context, bail};

/// The JWT secret benchmark servers use (so that the harness can mint tokens itself).
pub const SECRET: &str = "benchmark-secret-benchmark-secret-benchmark-secret-0123";

/// A binary built beside this one.
pub fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.with_file_name(name);
    if !p.exists() {
        bail!(
            "{} is missing: build it first (see scripts/bench.sh)",
            p.display()
        );
    }
    Ok(p)
}

/// The repository root (for the Python virtualenv and scripts).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_default()
}

/// The virtualenv's Python (`scripts/python-env.sh` makes it).
pub fn python() -> anyhow::Result<PathBuf> {
    let p = repo_root().join(".venv/bin/python");
    if !p.exists() {
        bail!("{} is missing: run scripts/python-env.sh", p.display());
    }
    Ok(p)
}

/// Polls `f` until it yields, or fails after `limit`.
pub fn wait_until<T>(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An `api-server serve` process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>/execution`.
    pub base: String,
    /// Its data directory.
    pub home: PathBuf,
    /// A handle on its database.
    pub db: Db,
    /// Mints tokens the server accepts.
    pub tokens: TokenAuthority,
}

impl Server {
    /// Starts a server over `url` (SQLite in `home` when `None`).
    pub async fn start(
        home: &Path,
        url: Option<&str>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(home)?;
        let log = home.join("api-server.log");
        let url = url
            .map(str::to_owned)
            .unwrap_or_else(|| format!("sqlite://{}", home.join("airlock.db").display()));
        let child = Command::new(bin("api-server")?)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("AIRLOCK_HOME", home)
            .env("AIRLOCK_DATABASE_URL", &url)
            .env("AIRLOCK_JWT_SECRET", SECRET)
            .env("AIRLOCK_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("spawn api-server")?;
        let port: u16 = wait_until(Duration::from_secs(60), "the api-server to listen", || {
            let text = std::fs::read_to_string(&log).ok()?;
            airlock_api_server::server::logged_loopback_port(&text)
        })?;
        let db = Db::connect(&url, 8).await?;
        let auth = AuthArgs {
            jwt_secret: Some(SECRET.into()),
            jwt_private_key: None,
            jwt_audience: vec!["urn:airflow.apache.org:task".into()],
            jwt_issuer: None,
            jwt_expiration: 3600,
            workload_token_expiration: 3600,
        };
        let db_args = DatabaseArgs {
            home: home.to_owned(),
            database_url: Some(url.clone()),
            db_max_connections: 8,
        };
        let tokens = airlock_api_server::server::load_authority(&auth, &db_args)?;
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{port}/execution"),
            home: home.to_owned(),
            db,
            tokens,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `wait4` says about a finished child.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Peak resident memory, KiB.
    pub max_rss_kib: i64,
}

/// Waits for `child` and returns its exit code and peak RSS.
pub fn wait_rusage(child: Child) -> anyhow::Result<Finished> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unwaited child; `status` and `usage` are valid for writes.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    // The Child handle must not wait (or kill) the reaped pid again.
    std::mem::forget(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(Finished {
        code,
        max_rss_kib: usage.ru_maxrss,
    })
}

/// Resident memory of a live process, KiB.
pub fn rss_kib(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A PostgreSQL database for one benchmark, dropped afterwards; `None` if the server is not
/// reachable.
pub struct PgDatabase {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates `airlock_bench_<pid>_<n>` on the server `AIRLOCK_BENCH_PG_URL` names (default:
    /// the local one).
    pub async fn create(n: usize) -> Option<Self> {
        let admin = std::env::var("AIRLOCK_BENCH_PG_URL")
            .or_else(|_| std::env::var("AIRLOCK_TEST_PG_URL"))
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("airlock_bench_{}_{n}", std::process::id());
        let db = Db::connect(&admin, 1).await.ok()?;
        let sql = format!("CREATE DATABASE {name}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(db.pool())
            .await
            .ok()?;
        db.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }

    /// Drops the database.
    pub async fn drop_now(self) {
        if let Ok(db) = Db::connect(&self.admin, 1).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(db.pool())
                .await;
            db.close().await;
        }
    }
}
