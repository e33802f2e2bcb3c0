//! Several real hosts on one machine (network namespaces): two API server replicas on the
//! PostgreSQL host, a worker for the `default` queue, a worker for `gpu` holding only an
//! executor token, and a triggerer, each on its own host. This test fails, never skips, when
//! the hosts or PostgreSQL cannot be had.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_e2e::netns::Hosts;
use airlock_e2e::process::{bin_path, eventually, wait_for};
use airlock_e2e::standalone::{FAST_ENV, bundles_dir};
use airlock_e2e::{Backend, TestDatabase};
use serde_json::{Value, json};

const SECRET: &str = "multi-host-test-secret-multi-host-test-secret-0000";
const SECRETS_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Everything a replica and its admin commands share.
fn server_env(home: &Path, url: &str) -> Vec<(String, String)> {
    [
        ("AIRLOCK_HOME", home.display().to_string()),
        ("AIRLOCK_DATABASE_URL", url.to_owned()),
        ("AIRLOCK_JWT_SECRET", SECRET.to_owned()),
        ("AIRLOCK_SECRETS_KEY", SECRETS_KEY.to_owned()),
        ("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "5".to_owned()),
        ("AIRLOCK_EXECUTOR_TIMEOUT", "5".to_owned()),
        ("AIRLOCK_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// An `api-server` replica on the PostgreSQL host, listening on the hosts' bridge.
struct Replica {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Replica {
    fn start(home: &Path, url: &str, address: &str) -> Self {
        Self::start_with(home, url, address, &[])
    }

    /// A replica with `overrides` of [`server_env`].
    fn start_with(home: &Path, url: &str, address: &str, overrides: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(home).expect("home");
        let log = home.join("api-server.log");
        let child = Command::new(bin_path("api-server"))
            .args(["serve", "--bind", &format!("{address}:0")])
            .envs(server_env(home, url))
            .envs(overrides.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn api-server");
        let port = wait_for(Duration::from_secs(30), "a replica to listen", || {
            let text = std::fs::read_to_string(&log).ok()?;
            airlock_api_server::server::logged_port(&text, address)
        });
        Self {
            child,
            base: format!("http://{address}:{port}/execution"),
            log,
        }
    }

    fn leads(&self) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains("scheduler leads"))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process on one of the hosts, killed (and reaped) when dropped.
struct OnHost(Child);

impl Drop for OnHost {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mint(home: &Path, url: &str, scope: &str, subject: &str) -> String {
    let out = Command::new(bin_path("api-server"))
        .args([
            "admin",
            "mint-token",
            "--scope",
            scope,
            "--subject",
            subject,
        ])
        .envs(server_env(home, url))
        .output()
        .expect("mint a token");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Api {
    http: reqwest::Client,
    base: String,
    admin: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn trigger(&self, dag: &str, run: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/airlock/control/dags/{dag}/runs"),
                &self.admin,
                Some(json!({"run_id": run})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn run_state(db: &airlock_store::Db, dag: &str, run: &str) -> Option<String> {
    sqlx::query_scalar("SELECT state FROM dag_run WHERE dag_id = $1 AND run_id = $2")
        .bind(dag)
        .bind(run)
        .fetch_optional(db.pool())
        .await
        .ok()
        .flatten()
}

async fn wait_success(db: &airlock_store::Db, dag: &str, run: &str) {
    let state = eventually(
        Duration::from_secs(90),
        &format!("{dag} {run} to end"),
        || async {
            run_state(db, dag, run)
                .await
                .filter(|s| s == "success" || s == "failed")
        },
    )
    .await;
    assert_eq!(state, "success", "{dag} {run}");
}

/// The test's directory and its bundles, readable by task code on every host (tasks run as
/// `nobody`).
fn shared_dirs(database: &TestDatabase) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let root = database.dir.path().to_owned();
    let bundles = bundles_dir(&root.join("shared"));
    for dir in [&root, &bundles] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
    }
    (root, bundles)
}

#[allow(clippy::too_many_arguments)]
fn start_worker(
    hosts: &Hosts,
    host: usize,
    root: &Path,
    bundles: &Path,
    api: &str,
    token: &str,
    id: &str,
    queues: &str,
) -> OnHost {
    let home = root.join(format!("{id}-home"));
    std::fs::create_dir_all(&home).expect("worker home");
    hosts
        .command(host, &bin_path("airlock"))
        .arg("worker")
        .env("AIRLOCK_HOME", &home)
        .env("AIRLOCK_API_URL", api)
        .env("AIRLOCK_ADMIN_TOKEN", token)
        .env("AIRLOCK_BUNDLES_DIR", bundles)
        .env("AIRLOCK_LOG_DIR", root.join(format!("{id}-logs")))
        .env("AIRLOCK_EXECUTOR_ID", id)
        .env("AIRLOCK_QUEUES", queues)
        .env("AIRLOCK_PARALLELISM", "4")
        .envs(FAST_ENV.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join(format!("{id}.log"))).expect("log"))
        .spawn()
        .map(OnHost)
        .expect("spawn a worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_a_triggerer_on_other_hosts_share_replicas_queues_pools_and_logs() {
    let hosts = Hosts::create(4);
    let database = TestDatabase::create(Backend::Postgres)
        .await
        .expect("this test needs PostgreSQL: set AIRLOCK_TEST_PG_URL");
    let (root, bundles) = shared_dirs(&database);
    let url = database.url().to_owned();
    let gateway = hosts.gateway();
    // The first replica leads the scheduler; workers and the triggerer use the second.
    let a = Replica::start(&root.join("api-a"), &url, &gateway);
    wait_for(Duration::from_secs(30), "replica a to lead", || {
        a.leads().then_some(())
    });
    let b = Replica::start(&root.join("api-b"), &url, &gateway);
    let home_a = root.join("api-a");
    let admin = mint(&home_a, &url, "admin", "ops");
    let gpu_token = mint(&home_a, &url, "executor", "w-gpu");
    let triggerer_token = mint(&home_a, &url, "triggerer", "t-1");
    let api = Api {
        http: airlock_e2e::http_client(),
        base: b.base.clone(),
        admin: admin.clone(),
    };

    let _default = start_worker(
        &hosts,
        0,
        &root,
        &bundles,
        &b.base,
        &admin,
        "w-default",
        "default",
    );
    let _gpu = start_worker(
        &hosts, 1, &root, &bundles, &b.base, &gpu_token, "w-gpu", "gpu",
    );
    let _triggerer = hosts
        .command(2, &bin_path("triggerer"))
        .env("AIRLOCK_API_URL", &b.base)
        .env("AIRLOCK_TRIGGERER_TOKEN", &triggerer_token)
        .env("AIRLOCK_TRIGGERER_CLAIM_WAIT", "2")
        .env("AIRLOCK_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("triggerer.log")).expect("log"))
        .spawn()
        .map(OnHost)
        .expect("spawn the triggerer");
    let db = airlock_store::Db::connect(&url, 4).await.expect("db");
    eventually(Duration::from_secs(60), "the bundles' DAGs", || async {
        let (_, list) = api
            .call(reqwest::Method::GET, "/airlock/control/dags", &admin, None)
            .await;
        let ids: Vec<&str> = list["dags"]
            .as_array()?
            .iter()
            .filter_map(|d| d["dag_id"].as_str())
            .collect();
        [
            "queued",
            "pooled_a",
            "pooled_b",
            "etl",
            "wait_for_time",
            "sleeper",
        ]
        .iter()
        .all(|d| ids.contains(d))
        .then_some(())
    })
    .await;

    // Queues: each task runs on its queue's host.
    api.trigger("queued", "q1").await;
    wait_success(&db, "queued", "q1").await;
    let claimed: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT task_id, queued_by FROM task_instance WHERE dag_id = 'queued' ORDER BY task_id",
    )
    .fetch_all(db.pool())
    .await
    .expect("claims");
    assert_eq!(
        claimed,
        [
            ("cpu".to_owned(), Some("w-default".to_owned())),
            ("gpu".to_owned(), Some("w-gpu".to_owned()))
        ]
    );
    // Their logs, written on two other hosts, read through the API.
    for (task, logs) in [("cpu", "w-default-logs"), ("gpu", "w-gpu-logs")] {
        assert!(
            airlock_protocol::logs::log_path(&root.join(logs), "queued", "q1", task, -1, 1)
                .is_file()
        );
        let (status, chunk) = api
            .call(
                reqwest::Method::GET,
                &format!("/airlock/control/dags/queued/runs/q1/tasks/{task}/logs"),
                &admin,
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            chunk["content"]
                .as_str()
                .unwrap_or_default()
                .contains("task finished"),
            "{task}: {chunk}"
        );
    }

    // A 3-slot pool shared by two DAGs whose tasks run on both workers.
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "/airlock/control/pools/p3",
            &admin,
            Some(json!({"slots": 3})),
        )
        .await;
    assert_eq!(status, 201);
    api.trigger("pooled_a", "p1").await;
    api.trigger("pooled_b", "p1").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut most = 0i64;
    let mut every_20ms = tokio::time::interval(Duration::from_millis(20));
    loop {
        let (held,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(pool_slots), 0) AS BIGINT) FROM task_instance \
             WHERE pool = 'p3' AND state IN ('queued', 'running')",
        )
        .fetch_one(db.pool())
        .await
        .expect("sample");
        assert!(held <= 3, "pool p3 holds {held} slots");
        most = most.max(held);
        let a_done = run_state(&db, "pooled_a", "p1").await.as_deref() == Some("success");
        let b_done = run_state(&db, "pooled_b", "p1").await.as_deref() == Some("success");
        if a_done && b_done {
            break;
        }
        assert!(Instant::now() < deadline, "the pooled runs did not finish");
        every_20ms.tick().await;
    }
    assert_eq!(most, 3);
    let workers: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT queued_by) FROM task_instance WHERE dag_id IN ('pooled_a', 'pooled_b')",
    )
    .fetch_one(db.pool())
    .await
    .expect("workers");
    assert_eq!(workers, 2, "the pool was shared by both workers");

    // A deferred task resumes through the triggerer's host.
    api.trigger("wait_for_time", "d1").await;
    wait_success(&db, "wait_for_time", "d1").await;

    // An executor token does its own job and nothing else.
    for (method, path, body) in [
        (reqwest::Method::GET, "/airlock/control/variables", None),
        (
            reqwest::Method::POST,
            "/airlock/control/dags/etl/runs",
            Some(json!({})),
        ),
        (
            reqwest::Method::POST,
            "/airlock/control/executors/w-default/tick",
            Some(json!({"slots": 1})),
        ),
    ] {
        let (status, _) = api.call(method, path, &gpu_token, body).await;
        assert_eq!(status, 403, "{path}");
    }

    // Metrics agree with the database.
    let metrics = airlock_e2e::http_client()
        .get(format!("{}/metrics", b.base.trim_end_matches("/execution")))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics");
    let successes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dag_run WHERE state = 'success'")
        .fetch_one(db.pool())
        .await
        .expect("runs");
    let line = format!("airlock_dag_runs{{state=\"success\"}} {successes}");
    assert!(
        metrics.lines().any(|l| l == line),
        "{line} not in {metrics}"
    );

    // The leading replica dies: the other leads and scheduling goes on.
    drop(a);
    api.trigger("etl", "after-leader").await;
    wait_success(&db, "etl", "after-leader").await;
    assert!(b.leads());

    // A second worker for `default` on its own host. The host of whichever worker runs the
    // sleeper dies mid-task: the try fails at the heartbeat timeout, once, and the queue's work
    // goes on on the surviving host.
    let _second = start_worker(
        &hosts,
        3,
        &root,
        &bundles,
        &b.base,
        &admin,
        "w-default-2",
        "default",
    );
    eventually(
        Duration::from_secs(60),
        "the second default worker",
        || async {
            let alive: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM executor WHERE id = 'w-default-2'")
                    .fetch_one(db.pool())
                    .await
                    .ok()?;
            (alive == 1).then_some(())
        },
    )
    .await;
    api.trigger("sleeper", "s1").await;
    let holder = eventually(Duration::from_secs(60), "the sleeper to run", || async {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT state, queued_by FROM task_instance WHERE dag_id = 'sleeper' AND run_id = 's1'",
        )
        .fetch_optional(db.pool())
        .await
        .ok()
        .flatten();
        match row {
            Some((Some(state), Some(by))) if state == "running" => Some(by),
            _ => None,
        }
    })
    .await;
    let (dead_host, survivor) = match holder.as_str() {
        "w-default" => (0, "w-default-2"),
        "w-default-2" => (3, "w-default"),
        other => panic!("the sleeper runs on {other}"),
    };
    hosts.kill_host(dead_host);
    api.trigger("etl", "after-host-death").await;
    let state = eventually(
        Duration::from_secs(60),
        "the dead host's try to fail",
        || async {
            run_state(&db, "sleeper", "s1")
                .await
                .filter(|s| s == "failed")
        },
    )
    .await;
    assert_eq!(state, "failed");
    let (tries,): (i64,) = sqlx::query_as(
        "SELECT try_number FROM task_instance WHERE dag_id = 'sleeper' AND run_id = 's1'",
    )
    .fetch_one(db.pool())
    .await
    .expect("try");
    assert_eq!(tries, 1, "nothing ran twice");
    wait_success(&db, "etl", "after-host-death").await;
    let ran_on: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT queued_by, try_number FROM task_instance \
         WHERE dag_id = 'etl' AND run_id = 'after-host-death'",
    )
    .fetch_all(db.pool())
    .await
    .expect("claims");
    assert_eq!(ran_on.len(), 3);
    for (by, try_number) in ran_on {
        assert_eq!(by.as_deref(), Some(survivor));
        assert_eq!(try_number, 1, "nothing ran twice");
    }
}

/// A worker's host loses its network for a minute while its task runs: the task finishes during
/// the outage, its supervisor reports the result when the network is back (one try, success),
/// and the log lines its bounded buffer could not hold are dropped with a counted warning in
/// the shipped log, never blocking the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_for_a_minute_reports_its_tasks_when_it_is_back() {
    const OUTAGE: Duration = Duration::from_secs(60);
    let hosts = Hosts::create(1);
    let database = TestDatabase::create(Backend::Sqlite)
        .await
        .unwrap_or_else(|| panic!("sqlite is always available"));
    let (root, bundles) = shared_dirs(&database);
    let url = database.url().to_owned();
    // Task heartbeats may stop for longer than the outage without the try being given up.
    let api_host = Replica::start_with(
        &root.join("api"),
        &url,
        &hosts.gateway(),
        &[("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "300")],
    );
    let admin = mint(&root.join("api"), &url, "admin", "ops");
    let api = Api {
        http: airlock_e2e::http_client(),
        base: api_host.base.clone(),
        admin: admin.clone(),
    };
    let _worker = start_worker(
        &hosts,
        0,
        &root,
        &bundles,
        &api_host.base,
        &admin,
        "w-1",
        "default",
    );
    let db = airlock_store::Db::connect(&url, 2)
        .await
        .unwrap_or_else(|e| panic!("db: {e}"));
    eventually(Duration::from_secs(60), "the chatty DAG", || async {
        let (_, list) = api
            .call(reqwest::Method::GET, "/airlock/control/dags", &admin, None)
            .await;
        list["dags"]
            .as_array()?
            .iter()
            .any(|d| d["dag_id"] == "chatty")
            .then_some(())
    })
    .await;
    // 300 lines a second for 30 s: the 25 s of it inside the outage overflow the shipping
    // buffer (4096 lines); the task ends during the outage.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/airlock/control/dags/chatty/runs",
            &admin,
            Some(json!({"run_id": "c1", "conf": {"secs": 30, "per_sec": 300}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let logs = "/airlock/control/dags/chatty/runs/c1/tasks/talk/logs";
    eventually(
        Duration::from_secs(60),
        "shipped lines of the running task",
        || async {
            let (_, chunk) = api.call(reqwest::Method::GET, logs, &admin, None).await;
            chunk["content"]
                .as_str()
                .is_some_and(|c| c.contains("chatty line 100"))
                .then_some(())
        },
    )
    .await;
    hosts.unplug(0);
    let cut_at = Instant::now();
    // While the host is away, the task's state stays running (its result is not lost nor
    // guessed).
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    while cut_at.elapsed() < OUTAGE {
        every_second.tick().await;
        let state = run_state(&db, "chatty", "c1").await;
        assert_eq!(state.as_deref(), Some("running"), "during the outage");
    }
    hosts.plug(0);
    wait_success(&db, "chatty", "c1").await;
    let (tries,): (i64,) = sqlx::query_as(
        "SELECT try_number FROM task_instance WHERE dag_id = 'chatty' AND run_id = 'c1'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap_or_else(|e| panic!("try: {e}"));
    assert_eq!(tries, 1, "nothing ran twice");
    // The whole shipped log, read piece by piece, once its last line (the count) is in.
    let log = eventually(
        Duration::from_secs(60),
        "the shipped log to end",
        || async {
            let mut text = String::new();
            let mut offset = 0u64;
            loop {
                let (_, chunk) = api
                    .call(
                        reqwest::Method::GET,
                        &format!("{logs}?offset={offset}"),
                        &admin,
                        None,
                    )
                    .await;
                let piece = chunk["content"].as_str()?;
                if piece.is_empty() {
                    break;
                }
                text.push_str(piece);
                offset = chunk["next_offset"].as_u64()?;
            }
            text.contains("log lines were not shipped").then_some(text)
        },
    )
    .await;
    let dropped: u64 = log
        .lines()
        .find_map(|l| {
            let at = l.find(" log lines were not shipped")?;
            l[..at].rsplit('"').next()?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no count of dropped lines in {log}"));
    let shipped = log.matches("chatty line ").count() as u64;
    assert!(dropped > 0, "{dropped}");
    // The local copy on the worker's host has every line.
    let local = std::fs::read_to_string(airlock_protocol::logs::log_path(
        &root.join("w-1-logs"),
        "chatty",
        "c1",
        "talk",
        -1,
        1,
    ))
    .unwrap_or_else(|e| panic!("the local log: {e}"));
    assert_eq!(local.matches("chatty line ").count(), 9000);
    assert!(
        shipped < 9000,
        "{shipped} lines shipped: the outage should have dropped some"
    );
    // Every line of the local copy (the task's and the supervisor's own) was shipped or
    // counted; the shipped log adds only the count.
    let shipped_lines = log
        .lines()
        .filter(|l| !l.contains("log lines were not shipped"))
        .count() as u64;
    assert_eq!(
        shipped_lines + dropped,
        local.lines().count() as u64,
        "every line is shipped or counted"
    );
}
