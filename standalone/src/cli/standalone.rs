//! `airlock standalone`: the API server (with its scheduler), a triggerer and a worker (bundle
//! sync and the local executor) in one process.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use airlock_api_client::{ApiClient, ClientConfig};
use airlock_api_server::auth::Scope;
use airlock_api_server::config::ServeArgs;
use airlock_api_server::server::Server;
use airlock_process::shutdown_signal;
use airlock_standalone::bundles;
use airlock_standalone::worker;
use airlock_triggerer::{Triggerer, TriggererConfig};
use anyhow::Context;
use tokio::sync::watch;

use super::connect::{TOKEN_FILE, URL_FILE};
use super::exit::CliError;
use super::worker::RunnerArgs;

/// Where `standalone` writes the first web-UI admin's password (0600), when it creates that user.
pub const UI_PASSWORD_FILE: &str = "ui-admin-password";

/// Lifetime of the admin token `standalone` writes for the CLI.
const ADMIN_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// `airlock standalone`'s settings.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// The API server.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The worker: bundle sync and the local executor.
    #[command(flatten)]
    pub runner: RunnerArgs,
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Runs everything until SIGTERM/SIGINT, then stops tasks, the triggerer and the server, in
/// that order.
pub async fn run(a: StandaloneArgs) -> anyhow::Result<u8> {
    let home = a.serve.db.home.clone();
    // Held until this process exits (the kernel drops it on a crash too).
    let _lock = lock_home(&home)?;
    let server = Server::build(&a.serve)
        .await
        .context("cannot start the API server")?;
    let listener = listen(a.serve.bind, &home).await?;
    let addr = listener.local_addr()?;
    let scheme = if a.serve.tls.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let api_url = format!("{scheme}://{addr}/execution");
    let tokens = server.state().tokens.clone();
    let admin = tokens.issue("airlock-standalone", Scope::Admin, Some(ADMIN_TOKEN_TTL));
    let triggerer_token = tokens.issue("standalone-triggerer", Scope::Triggerer, None);
    write_private(&home.join(TOKEN_FILE), &admin)?;
    write_private(&home.join(URL_FILE), &api_url)?;
    let password_file = home.join(UI_PASSWORD_FILE);
    if let Some(password) = airlock_api_server::ui::ensure_first_admin(&server.state().db)
        .await
        .context("cannot create the first web-UI user")?
    {
        write_private(&password_file, &password)?;
    }
    let ui_url = format!("{scheme}://{addr}/ui/");

    let (stop_server, server_stopping) = watch::channel(false);
    let server_task = tokio::spawn(server.serve(listener, async move {
        let mut rx = server_stopping;
        let _ = rx.wait_for(|s| *s).await;
    }));

    let (stop_triggerer, triggerer_stopping) = watch::channel(false);
    let triggerer_task = tokio::spawn(keep_triggerer_running(
        TriggererConfig::new(api_url.clone()),
        triggerer_token,
        triggerer_stopping,
    ));

    let client = ApiClient::new(
        ClientConfig {
            timeout: Duration::from_secs(30),
            ..ClientConfig::new(api_url.clone())
        },
        admin,
    )?;
    let cfg = a.runner.config(&api_url, &home, a.serve.log_dir());
    let bundle_count = bundles::list_bundles(&cfg.bundles_dir).map_or(0, |b| b.len());
    println!("Airlock standalone is running.");
    println!("  Web UI:       {ui_url}");
    if password_file.exists() {
        println!(
            "                user {:?}, password in {}",
            airlock_api_server::ui::FIRST_ADMIN,
            password_file.display()
        );
    }
    println!("  API:          {api_url}  (docs: {api_url}/docs)");
    println!("  Database:     {}", a.serve.db.url());
    println!(
        "  Bundles:      {} ({bundle_count} found)",
        cfg.bundles_dir.display()
    );
    println!("  Task logs:    {}", a.serve.log_dir().display());
    println!("  Admin token:  {}", home.join(TOKEN_FILE).display());
    println!(
        "  Parallelism:  {} task instances at once",
        cfg.executor.parallelism
    );
    println!("Try `airlock dags list`. Press Ctrl-C to stop.");

    let (stop_worker, worker_stopping) = watch::channel(false);
    let worker_task = tokio::spawn(worker::run(client, cfg, worker_stopping));
    tokio::select! {
        () = shutdown_signal() => {}
        r = server_task_alive(&server_task) => r?,
    }
    println!("Stopping: running tasks first, then the triggerer and the API server.");
    let _ = stop_worker.send(true);
    if let Ok(Err(e)) = worker_task.await {
        tracing::error!("{e}");
    }
    let _ = stop_triggerer.send(true);
    if let Ok(Err(e)) = triggerer_task.await {
        tracing::error!("{e}");
    }
    let _ = stop_server.send(true);
    server_task.await??;
    // A clean stop leaves no URL behind for the CLI to try; after a crash it stays, so that
    // the next start takes the same port again (see `listen`).
    let _ = std::fs::remove_file(home.join(URL_FILE));
    println!("Stopped.");
    Ok(0)
}

/// The file whose lock says an `airlock standalone` uses a data directory.
const LOCK_FILE: &str = "standalone.lock";

/// Takes the data directory for this process: a second `airlock standalone` on it would run a
/// second scheduler and executor over the same database, tasks and logs.
fn lock_home(home: &std::path::Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(home)
        .with_context(|| format!("cannot create the data directory {}", home.display()))?;
    let path = home.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut holder = String::new();
    let _ = file.read_to_string(&mut holder);
    let mut lock = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
    {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            return Err(CliError {
                code: super::exit::CONFLICT,
                message: format!(
                    "another `airlock standalone` (pid {}) is already using {}; stop it \
                         first, or give this one another data directory with --home or \
                         AIRLOCK_HOME",
                    holder.trim(),
                    home.display()
                ),
            }
            .into());
        }
        Err((_, e)) => return Err(anyhow::anyhow!("cannot lock {}: {e}", path.display())),
    };
    lock.set_len(0)?;
    lock.rewind()?;
    write!(lock, "{}", std::process::id())?;
    Ok(lock)
}

/// Binds `bind`. With port 0, the port of the previous run (from `standalone.url`) is taken
/// again when it is free: supervisors that outlived a crash of this process keep talking to the
/// URL they were given, and find the new process there.
async fn listen(
    bind: std::net::SocketAddr,
    home: &std::path::Path,
) -> anyhow::Result<tokio::net::TcpListener> {
    if bind.port() == 0
        && let Some(port) = std::fs::read_to_string(home.join(URL_FILE))
            .ok()
            .and_then(|url| url.trim().parse::<url::Url>().ok())
            .and_then(|url| url.port())
        && let Ok(l) = tokio::net::TcpListener::bind((bind.ip(), port)).await
    {
        return Ok(l);
    }
    tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))
}

/// Runs the triggerer until `stop`, starting it again (after a pause) if it fails: it then
/// reclaims the triggers its failed incarnation held, so deferred tasks never hang.
async fn keep_triggerer_running(
    cfg: TriggererConfig,
    token: String,
    mut stop: watch::Receiver<bool>,
) -> Result<(), airlock_triggerer::StartError> {
    loop {
        match Triggerer::builder()
            .run(cfg.clone(), token.clone(), stop.clone())
            .await
        {
            Ok(()) => return Ok(()),
            Err(e @ airlock_triggerer::StartError::Engine(_)) => {
                tracing::error!("{e}; starting the triggerer again");
            }
            Err(e) => return Err(e),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Resolves only if the server stopped on its own (it should not).
async fn server_task_alive(
    task: &tokio::task::JoinHandle<std::io::Result<()>>,
) -> anyhow::Result<()> {
    loop {
        if task.is_finished() {
            anyhow::bail!("the API server stopped unexpectedly");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
