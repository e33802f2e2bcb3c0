//! A whole Airlock on this machine for end-to-end tests: an `api-server` process over a
//! throwaway database, a bundles directory, and `supervisor run` processes.

use airlock_store as store;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use airlock_api_server::admin::CreatedRun;
use airlock_store::Db;
use airlock_store::rows::TaskInstance;
use serde_json::Value;
use uuid::Uuid;

use crate::db::{Backend, TestDatabase};
use crate::process::{ApiServerProcess, bin_path};

/// A running server plus what supervisors need.
pub struct Stack {
    /// The `api-server` process.
    pub server: ApiServerProcess,
    /// A handle on the same database, for seeding and checking.
    pub db: Db,
    /// Bundle executables (`airlock-test-bundle`, `example-bundle`, and any a test adds).
    pub bundles: PathBuf,
    /// Task logs.
    pub logs: PathBuf,
    /// The database (dropped last).
    pub database: TestDatabase,
}

/// How a `supervisor run` ended.
#[derive(Debug)]
pub struct SupervisorExit {
    /// Its exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Its stderr.
    pub stderr: String,
    /// Its stdout.
    pub stdout: String,
}

impl Stack {
    /// Starts a server on `backend`; `None` if that backend is not available here.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, &[]).await
    }

    /// Starts a server on `backend` with extra environment for the server.
    pub async fn start_with(backend: Backend, server_env: &[(&str, &str)]) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        let root = database.dir.path().to_owned();
        let bundles = root.join("bundles");
        std::fs::create_dir_all(&bundles).expect("bundles dir");
        for name in ["airlock-test-bundle", "example-bundle"] {
            std::os::unix::fs::symlink(bin_path(name), bundles.join(name)).expect("link bundle");
        }
        // Readable by a runner that runs as another user.
        use std::os::unix::fs::PermissionsExt;
        for dir in [root.as_path(), bundles.as_path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let url = database.url().to_owned();
        // Triggerers that stop heartbeating lose their triggers after 2 s (10 s by default).
        let mut env = vec![("AIRLOCK_TRIGGERER_HEALTH_TIMEOUT", "2")];
        env.extend_from_slice(server_env);
        let server = ApiServerProcess::start_with_env(&root.join("home"), Some(&url), &env);
        let db = Db::connect(&url, 4).await.expect("connect");
        Some(Self {
            server,
            db,
            bundles,
            logs: root.join("logs"),
            database,
        })
    }

    /// Seeds a run (JSON as `api-server admin create-run` takes it) through the admin command.
    pub fn seed(&self, spec: Value) -> CreatedRun {
        serde_json::from_str(
            &self
                .server
                .admin(&["create-run", "-"], Some(&spec.to_string())),
        )
        .expect("created run")
    }

    /// Seeds run `r` of DAG `t` (the test bundle) with one task, returning its id.
    pub fn seed_task(&self, task_id: &str, extra: Value) -> Uuid {
        let mut task = serde_json::json!({"task_id": task_id});
        if let (Some(t), Value::Object(e)) = (task.as_object_mut(), extra) {
            t.extend(e);
        }
        let spec = serde_json::json!({"dag_id": "t", "run_id": format!("r-{task_id}"), "bundle_name": "airlock-test-bundle", "tasks": [task]});
        self.seed(spec).task_instances[0].id
    }

    /// A workload token for `ti`.
    pub fn workload_token(&self, ti: Uuid) -> String {
        self.server.admin(
            &["mint-token", "--ti", &ti.to_string(), "--scope", "workload"],
            None,
        )
    }

    /// A `supervisor run <ti>` command with fast test settings (heartbeat 0.2 s, 1 s grace).
    pub fn supervisor(&self, ti: Uuid) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(bin_path("supervisor"));
        cmd.arg("run")
            .arg(ti.to_string())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AIRLOCK_TOKEN", self.workload_token(ti))
            .env("AIRLOCK_API_URL", &self.server.base)
            .env("AIRLOCK_BUNDLES_DIR", &self.bundles)
            .env("AIRLOCK_LOG_DIR", &self.logs)
            .env("AIRLOCK_HEARTBEAT_INTERVAL", "0.2")
            .env("AIRLOCK_KILL_GRACE", "1")
            .env("AIRLOCK_OUTAGE_BUDGET", "5s")
            .env("AIRLOCK_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs a prepared supervisor command to the end (at most `limit`).
    pub async fn finish(cmd: &mut tokio::process::Command, limit: Duration) -> SupervisorExit {
        let child = cmd.spawn().expect("spawn supervisor");
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .expect("supervisor finished in time")
            .expect("supervisor output");
        SupervisorExit {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }

    /// Runs `supervisor run <ti>` with the default test settings.
    pub async fn run(&self, ti: Uuid) -> SupervisorExit {
        Self::finish(&mut self.supervisor(ti), Duration::from_secs(60)).await
    }

    /// The task instance now (by its current id).
    pub async fn ti(&self, id: Uuid) -> TaskInstance {
        store::task_instances::get_task_instance(self.db.pool(), id)
            .await
            .expect("query")
            .expect("task instance exists")
    }

    /// The task instance of `task_id` in run `r-<task_id>` of DAG `t`, whatever its current id.
    pub async fn ti_by_task(&self, task_id: &str) -> TaskInstance {
        let (id,): (String,) =
            sqlx::query_as("SELECT id FROM task_instance WHERE dag_id = 't' AND task_id = $1")
                .bind(task_id)
                .fetch_one(self.db.pool())
                .await
                .expect("task instance");
        self.ti(id.parse().expect("uuid")).await
    }

    /// The return value XCom of a task.
    pub async fn return_value(&self, dag_id: &str, run_id: &str, task_id: &str) -> Option<Value> {
        let key = store::xcoms::XComKey {
            dag_id: dag_id.into(),
            run_id: run_id.into(),
            task_id: task_id.into(),
            key: "return_value".into(),
        };
        store::xcoms::get_xcom(&self.db, &key, -1, false, None)
            .await
            .ok()
    }

    /// The task log of attempt `try_number` of a task in DAG `t`.
    pub fn log_of(&self, dag_id: &str, run_id: &str, task_id: &str, try_number: i64) -> String {
        let path =
            airlock_supervisor::logs::log_path(&self.logs, dag_id, run_id, task_id, -1, try_number);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Waits until `ti` is running with a pid, and returns the pid.
    pub async fn wait_running(&self, ti: Uuid) -> i32 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let row = self.ti(ti).await;
            if row.state.map(|s| s.as_str()) == Some("running")
                && let Some(pid) = row.pid
            {
                return pid as i32;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task instance never started running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The bundles directory.
    pub fn bundles_dir(&self) -> &Path {
        &self.bundles
    }
}

/// A `triggerer` process.
pub struct TriggererProcess {
    /// The child.
    pub child: std::process::Child,
    /// Its id (its token's subject).
    pub id: String,
    /// Its log file.
    pub log: PathBuf,
}

impl TriggererProcess {
    /// Kills it (SIGKILL), as a crash would.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TriggererProcess {
    fn drop(&mut self) {
        self.crash();
    }
}

impl Stack {
    /// Starts a `triggerer` named `id` against this stack (fast heartbeats, short long polls).
    pub fn triggerer(&self, id: &str, extra_env: &[(&str, &str)]) -> TriggererProcess {
        let token = self.server.admin(
            &["mint-token", "--scope", "triggerer", "--subject", id],
            None,
        );
        let log = self.logs.with_file_name(format!("triggerer-{id}.log"));
        let mut cmd = std::process::Command::new(bin_path("triggerer"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AIRLOCK_TRIGGERER_TOKEN", token)
            .env("AIRLOCK_API_URL", &self.server.base)
            .env("AIRLOCK_TRIGGERER_HEARTBEAT_INTERVAL", "0.2")
            .env("AIRLOCK_TRIGGERER_CLAIM_WAIT", "2")
            .env("AIRLOCK_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("triggerer log"));
        TriggererProcess {
            child: cmd.spawn().expect("spawn triggerer"),
            id: id.to_owned(),
            log,
        }
    }

    /// Seeds run `run_id` of the test bundle's `defer` task with `trigger` in its conf, runs it
    /// until it defers, and returns its id.
    pub async fn deferred(&self, run_id: &str, trigger: Value) -> Uuid {
        let ti = self
            .seed(serde_json::json!({"dag_id": "t", "run_id": run_id,
                "bundle_name": "airlock-test-bundle", "conf": {"trigger": trigger},
                "tasks": [{"task_id": "defer"}]}))
            .task_instances[0]
            .id;
        let exit = self.run(ti).await;
        assert_eq!(exit.code, Some(0), "{}", exit.stderr);
        // A trigger that fires (or fails) at once may have resumed the task already.
        let state = self.ti(ti).await.state.map(|s| s.as_str());
        assert!(
            matches!(state, Some("deferred" | "scheduled" | "queued")),
            "{state:?}"
        );
        ti
    }

    /// Waits until the server's scheduler has admitted `ti` again (`queued`), then runs it.
    pub async fn resume(&self, ti: Uuid) -> SupervisorExit {
        self.wait_state(ti, "queued", Duration::from_secs(30)).await;
        self.run(ti).await
    }

    /// Waits (at most `limit`) until `ti` is in `state`.
    pub async fn wait_state(&self, ti: Uuid, state: &str, limit: Duration) -> TaskInstance {
        self.wait_states(ti, &[state], limit).await
    }

    /// Waits (at most `limit`) until `ti` is ready to run again: `scheduled`, or already
    /// admitted by the server's scheduler (`queued`).
    pub async fn wait_ready(&self, ti: Uuid, limit: Duration) -> TaskInstance {
        self.wait_states(ti, &["scheduled", "queued"], limit).await
    }

    /// Waits (at most `limit`) until `ti` is in one of `states`.
    pub async fn wait_states(&self, ti: Uuid, states: &[&str], limit: Duration) -> TaskInstance {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let row = self.ti(ti).await;
            if row.state.is_some_and(|s| states.contains(&s.as_str())) {
                return row;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{ti} never reached {states:?}; it is {:?}",
                row.state
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
