//! `airlock standalone` (and `airlock worker`) as real processes, and the `airlock` CLI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use airlock_protocol::api::RunDetails;
use airlock_store::Db;
use serde_json::Value;

use crate::db::{Backend, TestDatabase};
use crate::process::{bin_path, wait_for};

/// Environment that makes tries fast to watch: quick heartbeats, a short zombie timeout.
pub const FAST_ENV: &[(&str, &str)] = &[
    ("AIRLOCK_HEARTBEAT_INTERVAL", "0.5"),
    ("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "5"),
    ("AIRLOCK_KILL_GRACE", "1"),
    ("AIRLOCK_STOP_GRACE", "10"),
    ("AIRLOCK_LOG", "info"),
    ("NO_COLOR", "1"),
];

/// What an `airlock` command printed.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Makes `<root>/bundles` with the test and example bundles.
pub fn bundles_dir(root: &Path) -> PathBuf {
    let bundles = root.join("bundles");
    std::fs::create_dir_all(&bundles).expect("bundles dir");
    for name in ["airlock-test-bundle", "example-bundle"] {
        let link = bundles.join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(bin_path(name), link).expect("link bundle");
        }
    }
    bundles
}

/// Makes `<root>/tmp` (world-writable, sticky) for task code's temporary files. The data
/// directory is `<root>/home`, which Landlock hides from task code; entries cannot then be
/// created directly in its ancestors (`<root>`, `/tmp`), only in their other children.
pub fn task_tmp_dir(root: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp dir");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    tmp
}

/// Longest an `airlock` command may take in a test (a `--wait` on a run that never ends
/// fails the test instead of hanging it).
const CLI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// Runs `airlock <args>` with `home` as its data directory; kills it and panics after
/// [`CLI_TIMEOUT`].
pub fn airlock_cli(home: &Path, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let child = Command::new(bin_path("airlock"))
        .args(args)
        .env("AIRLOCK_HOME", home)
        .env_remove("AIRLOCK_API_URL")
        .env_remove("AIRLOCK_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run airlock");
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = done_rx.recv_timeout(CLI_TIMEOUT).is_err();
        if timed_out {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        timed_out
    });
    let out = child.wait_with_output().expect("wait for airlock");
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    assert!(
        !timed_out,
        "`airlock {}` did not finish within {CLI_TIMEOUT:?}; it printed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    CliOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An `airlock standalone` process over a throwaway database.
pub struct Standalone {
    /// The process.
    pub child: Child,
    /// Its data directory.
    pub home: PathBuf,
    /// Its console output.
    pub log: PathBuf,
    /// A handle on the same database, for checking.
    pub db: Db,
    /// Extra environment it was started with.
    env: Vec<(String, String)>,
    /// The database (dropped last).
    pub database: TestDatabase,
}

impl Standalone {
    /// Starts `airlock standalone` on `backend` (parallelism 4); `None` if that backend is not
    /// available here.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, &[]).await
    }

    /// Starts it with extra environment.
    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        let root = database.dir.path().to_owned();
        let home = root.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let child = Self::spawn(&database, &home, &env);
        let db = Db::connect(database.url(), 4).await.expect("connect");
        let this = Self {
            child,
            log: root.join("standalone.log"),
            home,
            db,
            env,
            database,
        };
        this.wait_ready();
        Some(this)
    }

    fn spawn(database: &TestDatabase, home: &Path, env: &[(String, String)]) -> Child {
        let root = database.dir.path();
        let bundles = bundles_dir(root);
        let tmp = task_tmp_dir(root);
        let append = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(root.join(name))
                .expect("log")
        };
        Command::new(bin_path("airlock"))
            .args(["standalone", "--bind", "127.0.0.1:0"])
            .env("AIRLOCK_HOME", home)
            .env("AIRLOCK_DATABASE_URL", database.url())
            .env("AIRLOCK_BUNDLES_DIR", &bundles)
            .env("AIRLOCK_PARALLELISM", "4")
            .env("TMPDIR", &tmp)
            .envs(FAST_ENV.iter().copied())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(append("standalone.log"))
            .stderr(append("standalone.err"))
            .spawn()
            .expect("spawn airlock standalone")
    }

    /// Waits until it serves and the bundles' DAGs are registered.
    fn wait_ready(&self) {
        let url_file = self.home.join("standalone.url");
        wait_for(
            Duration::from_secs(60),
            "airlock standalone to start",
            || url_file.exists().then_some(()),
        );
        // Registered DAGs mean the worker is up too.
        wait_for(
            Duration::from_secs(60),
            "the bundles' DAGs to be registered",
            || {
                let out = self.cli(&["dags", "list"]);
                (out.code == Some(0) && out.stdout.contains("rules") && out.stdout.contains("etl"))
                    .then_some(())
            },
        );
    }

    /// Kills it (SIGKILL, as a crash would: its supervisors live on).
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again (after [`crash`](Self::crash)) over the same data directory and
    /// database, and waits until it serves.
    pub fn start_again(&mut self) {
        self.child = Self::spawn(&self.database, &self.home, &self.env);
        wait_for(
            Duration::from_secs(60),
            "airlock standalone to serve again",
            || (self.cli(&["dags", "list"]).code == Some(0)).then_some(()),
        );
    }

    /// The API URL it serves (from `standalone.url`).
    pub fn api_url(&self) -> String {
        std::fs::read_to_string(self.home.join("standalone.url"))
            .expect("standalone.url")
            .trim()
            .to_owned()
    }
    /// Runs `airlock <args>` against it with `input` on stdin (`--password-stdin`).
    pub fn cli_with_stdin(&self, args: &[&str], input: &str) -> CliOutput {
        use std::io::Write;
        let mut child = Command::new(bin_path("airlock"))
            .args(args)
            .env("AIRLOCK_HOME", &self.home)
            .env_remove("AIRLOCK_API_URL")
            .env_remove("AIRLOCK_ADMIN_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run airlock: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("cannot write airlock's stdin: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("cannot wait for airlock: {e}"));
        CliOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `airlock <args>` against it, with the extra environment it was started with (a CA
    /// certificate, say).
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        airlock_cli(&self.home, args, &env)
    }

    /// Triggers `dag_id` with `conf` and waits for the run to end (`--wait`); returns the CLI
    /// output and the run's details.
    pub fn run_dag(&self, dag_id: &str, conf: Value) -> (CliOutput, RunDetails) {
        let conf = conf.to_string();
        let out = self.cli(&["dags", "trigger", dag_id, "--conf", &conf, "--wait"]);
        let run_id = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("Triggered {dag_id}: run ")))
            .unwrap_or_else(|| panic!("no run id in {out:?}"))
            .trim()
            .to_owned();
        (out, self.details(dag_id, &run_id))
    }

    /// `airlock runs show --json`.
    pub fn details(&self, dag_id: &str, run_id: &str) -> RunDetails {
        let out = self.cli(&["runs", "show", dag_id, run_id, "--json"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        serde_json::from_str(&out.stdout).expect("run details")
    }

    /// The return value (XCom) of a task instance.
    pub async fn return_value(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        map_index: i64,
    ) -> Option<Value> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT value FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 \
             AND map_index = $4 AND key = 'return_value'",
        )
        .bind(dag_id)
        .bind(run_id)
        .bind(task_id)
        .bind(map_index)
        .fetch_optional(self.db.pool())
        .await
        .expect("query xcom");
        text.map(|t| serde_json::from_str(&t).expect("xcom json"))
    }

    /// Stops it with SIGINT, as Ctrl-C would, and returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let child = &mut self.child;
        wait_for(
            Duration::from_secs(60),
            "airlock standalone to stop",
            || child.try_wait().expect("try_wait"),
        )
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `airlock worker` process against an API server.
pub struct WorkerProcess {
    /// The process.
    pub child: Child,
}

impl WorkerProcess {
    /// Starts `airlock worker` against `api_url` with `token` (admin scope).
    pub fn start(
        api_url: &str,
        token: &str,
        home: &Path,
        bundles: &Path,
        logs: &Path,
        log_file: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        let child = Command::new(bin_path("airlock"))
            .arg("worker")
            .env("AIRLOCK_HOME", home)
            .env("AIRLOCK_API_URL", api_url)
            .env("AIRLOCK_ADMIN_TOKEN", token)
            .env("AIRLOCK_BUNDLES_DIR", bundles)
            .env("AIRLOCK_LOG_DIR", logs)
            .envs(FAST_ENV.iter().copied())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log_file)
                    .expect("log"),
            )
            .spawn()
            .expect("spawn airlock worker");
        Self { child }
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.crash();
    }
}
