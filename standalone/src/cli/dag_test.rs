//! `airlock dags test`: one run of a DAG, start to end, on a throwaway `airlock standalone`
//! (embedded SQLite in a temporary directory) over the local bundles; no server needed, and
//! nothing of the user's own data directory is touched but its bundles.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use airlock_api_client::{ApiClient, ClientConfig};
use airlock_protocol::api::{JsonObject, RunDetails, TriggerRunRequest, XComEntry};
use airlock_protocol::state::DagRunState;
use anyhow::Context;

use super::connect::{TOKEN_FILE, URL_FILE};
use super::exit::{self, CliError};
use super::progress;
use airlock_standalone::bundles::BundleSync;

/// Longest wait for the throwaway server to serve.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How often its start is looked at.
const START_POLL: Duration = Duration::from_millis(100);
/// Log lines shown per task instance.
const LOG_TAIL: usize = 5;

/// `airlock dags test`'s arguments.
#[derive(Debug, clap::Args)]
pub struct DagTestArgs {
    /// The DAG.
    pub dag_id: String,
    /// Run configuration (a JSON object).
    #[arg(long)]
    pub conf: Option<String>,
    /// Bundle executables. Default: `<home>/bundles`.
    #[arg(long, env = "AIRLOCK_BUNDLES_DIR")]
    pub bundles_dir: Option<PathBuf>,
}

/// `airlock tasks test`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TaskTestArgs {
    /// The DAG.
    pub dag_id: String,
    /// The task: it runs alone (its upstreams do not; what it pulls from them is absent).
    pub task_id: String,
    /// Run configuration (a JSON object).
    #[arg(long)]
    pub conf: Option<String>,
    /// Bundle executables. Default: `<home>/bundles`.
    #[arg(long, env = "AIRLOCK_BUNDLES_DIR")]
    pub bundles_dir: Option<PathBuf>,
}

/// The throwaway server; stopped (SIGINT, as Ctrl-C) when dropped.
struct Throwaway {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Throwaway {
    async fn start(bundles: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("airlock-dags-test-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let home = dir.path();
        let log = std::fs::File::create(home.join("standalone.log"))?;
        let exe = std::env::current_exe().context("cannot find the airlock executable")?;
        let child = tokio::process::Command::new(exe)
            .args(["standalone", "--bind", "127.0.0.1:0"])
            .env("AIRLOCK_HOME", home)
            .env(
                "AIRLOCK_DATABASE_URL",
                format!("sqlite://{}", home.join("airlock.db").display()),
            )
            .env("AIRLOCK_BUNDLES_DIR", bundles)
            .env("AIRLOCK_DAG_SYNC_INTERVAL", "0")
            .env_remove("AIRLOCK_LOG_DIR")
            .env_remove("AIRLOCK_EXECUTOR_ID")
            .env_remove("AIRLOCK_BIND")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a throwaway airlock standalone")?;
        Ok(Self { child, dir })
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Its console output, for when it failed.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.home().join("standalone.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A client once it serves.
    async fn client(&mut self) -> anyhow::Result<ApiClient> {
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            let url = std::fs::read_to_string(self.home().join(URL_FILE));
            let token = std::fs::read_to_string(self.home().join(TOKEN_FILE));
            if let (Ok(url), Ok(token)) = (url, token) {
                let cfg = ClientConfig {
                    timeout: Duration::from_secs(30),
                    ..ClientConfig::new(url.trim().to_owned())
                };
                return Ok(ApiClient::new(cfg, token.trim().to_owned())?);
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the throwaway airlock standalone exited ({status}):\n{}",
                    self.log_tail()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "the throwaway airlock standalone did not start:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(START_POLL).await;
        }
    }

    /// Stops it as Ctrl-C would (running tasks get their grace), then waits for it.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        }
        if tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Runs the DAG once to its end; exit 0 if the run succeeded, 1 if it failed.
pub async fn run(a: DagTestArgs, home: &Path) -> anyhow::Result<u8> {
    let (d, _) = test_in_throwaway(&a.dag_id, None, a.conf.as_deref(), a.bundles_dir, home).await?;
    Ok(if d.state == DagRunState::Success {
        0
    } else {
        exit::FAILED
    })
}

/// Runs one task alone and prints what it returned; exit 0 if it succeeded, 1 otherwise.
pub async fn run_task(a: TaskTestArgs, home: &Path) -> anyhow::Result<u8> {
    let only = Some(a.task_id.clone());
    let (d, xcoms) =
        test_in_throwaway(&a.dag_id, only, a.conf.as_deref(), a.bundles_dir, home).await?;
    let ok = d
        .task_instances
        .iter()
        .filter(|t| t.task_id == a.task_id)
        .all(|t| t.state == Some(airlock_protocol::state::TaskInstanceState::Success));
    for x in &xcoms {
        let at = if x.map_index >= 0 {
            format!("[{}]", x.map_index)
        } else {
            String::new()
        };
        let label = if x.key == RETURN_VALUE {
            "returned".to_owned()
        } else {
            format!("pushed {:?}", x.key)
        };
        println!("{}{at} {label}: {}", a.task_id, x.value);
    }
    if xcoms.is_empty() {
        println!("{} returned nothing", a.task_id);
    }
    Ok(if ok { 0 } else { exit::FAILED })
}

/// The key of a task's return value.
const RETURN_VALUE: &str = "return_value";

/// One run (of `only` alone, when given) on a throwaway server, stopped afterwards; the run and
/// the XComs `only` wrote.
async fn test_in_throwaway(
    dag_id: &str,
    only: Option<String>,
    conf: Option<&str>,
    bundles_dir: Option<PathBuf>,
    home: &Path,
) -> anyhow::Result<(RunDetails, Vec<XComEntry>)> {
    let conf: Option<JsonObject> = conf
        .map(|c| {
            serde_json::from_str(c)
                .map_err(|e| CliError::invalid(format!("--conf must be a JSON object: {e}")))
        })
        .transpose()?;
    let bundles = bundles_dir.unwrap_or_else(|| home.join("bundles"));
    if !bundles.is_dir() {
        return Err(CliError::invalid(format!(
            "no bundles directory at {} (set --bundles-dir, AIRLOCK_BUNDLES_DIR or --home)",
            bundles.display()
        ))
        .into());
    }
    let mut server = Throwaway::start(&bundles).await?;
    let outcome = test_run(&mut server, &bundles, dag_id, conf, only).await;
    server.stop().await;
    outcome
}

async fn test_run(
    server: &mut Throwaway,
    bundles: &Path,
    dag_id: &str,
    conf: Option<JsonObject>,
    only: Option<String>,
) -> anyhow::Result<(RunDetails, Vec<XComEntry>)> {
    let client = server.client().await?;
    // Registered here too (the worker does it as it starts), to know when it is done and
    // what failed.
    let report = BundleSync::default().sync(&client, bundles).await?;
    for e in &report.failed {
        eprintln!("error: {e}");
    }
    let declared = report
        .registered
        .iter()
        .flat_map(|(_, dags)| dags)
        .any(|d| d == dag_id);
    if !declared {
        let known: Vec<&str> = report
            .registered
            .iter()
            .flat_map(|(_, dags)| dags)
            .map(String::as_str)
            .collect();
        return Err(CliError {
            code: exit::NOT_FOUND,
            message: format!(
                "no bundle in {} declares DAG {dag_id:?} (they declare: {})",
                bundles.display(),
                if known.is_empty() {
                    "nothing".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        }
        .into());
    }
    let req = TriggerRunRequest {
        conf,
        only_tasks: only.clone().map(|t| vec![t]),
        ..TriggerRunRequest::default()
    };
    let run = client.trigger_run(dag_id, &req).await?;
    println!("Testing {dag_id}: run {}", run.run_id);
    let done = progress::follow(
        &client,
        dag_id,
        &run.run_id,
        progress::Display::Lines,
        Duration::from_secs(30),
    )
    .await?;
    for ti in &done.task_instances {
        println!(
            "== {} ({}, try {})",
            progress::label(ti),
            progress::state_name(ti.state),
            ti.try_number
        );
        for line in progress::log_tail(&client, &done, ti, LOG_TAIL).await {
            println!("   {line}");
        }
    }
    println!("{}", progress::summary(&done));
    let xcoms = match &only {
        Some(task) => {
            client
                .task_xcoms(dag_id, &done.run_id, task, None)
                .await?
                .xcoms
        }
        None => Vec::new(),
    };
    Ok((done, xcoms))
}
