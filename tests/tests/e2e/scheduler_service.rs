//! The scheduler service in real `api-server` processes: it schedules with no executor
//! connected, exactly one replica on a PostgreSQL database leads and another takes over when it
//! dies, wake-ups cross replicas, and executors claiming at once never exceed a DAG's limit.

use std::path::Path;
use std::time::{Duration, Instant};

use airlock_e2e::process::eventually;
use airlock_e2e::process::{ApiServerProcess, wait_for};
use airlock_e2e::standalone::{WorkerProcess, bundles_dir, task_tmp_dir};
use airlock_e2e::{Backend, TestApi, TestDatabase, on_both_backends};
use airlock_store::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An api-server process, an admin token for it, and the database it uses.
struct Replica {
    server: ApiServerProcess,
    token: String,
    http: reqwest::Client,
}

impl Replica {
    fn start(home: &Path, database: &TestDatabase, env: &[(&str, &str)]) -> Self {
        let server = ApiServerProcess::start_with_env(home, Some(database.url()), env);
        let token = server.admin(&["mint-token", "--scope", "admin", "--subject", "t"], None);
        Self {
            server,
            token,
            http: airlock_e2e::http_client(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.server.log).unwrap_or_default()
    }

    async fn control(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(
                method,
                format!("{}/airlock/control/{path}", self.server.base),
            )
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn register(&self, dags: Value) {
        self.control(
            Method::PUT,
            "bundles/b",
            json!({"bundle": "b", "dags": dags}),
        )
        .await;
    }

    async fn trigger(&self, dag: &str, run: &str) {
        self.control(
            Method::POST,
            &format!("dags/{dag}/runs"),
            json!({"run_id": run}),
        )
        .await;
    }

    /// A task API call as the task instance's own supervisor makes it.
    async fn task_call(&self, method: Method, path: &str, ti: &str, body: Value) -> StatusCode {
        let token = self
            .server
            .admin(&["mint-token", "--ti", ti, "--scope", "execution"], None);
        self.http
            .request(method, format!("{}{path}", self.server.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }
}

async fn connect(database: &TestDatabase) -> Db {
    Db::connect(database.url(), 2).await.expect("connect")
}

/// `(state, next_method, id)` of a task instance.
async fn ti(db: &Db, run: &str, task: &str) -> (Option<String>, Option<String>, String) {
    sqlx::query_as(
        "SELECT state, next_method, id FROM task_instance WHERE run_id = $1 AND task_id = $2",
    )
    .bind(run)
    .bind(task)
    .fetch_one(db.pool())
    .await
    .expect("task instance")
}

async fn wait_ti_state(db: &Db, run: &str, task: &str, state: &str) -> (Option<String>, String) {
    eventually(
        Duration::from_secs(30),
        &format!("{run}/{task} {state}"),
        || async {
            let (s, method, id) = ti(db, run, task).await;
            (s.as_deref() == Some(state)).then_some((method, id))
        },
    )
    .await
}

async fn start_only_a_server(backend: Backend) -> Option<(TestDatabase, Replica)> {
    let database = TestDatabase::create(backend).await?;
    let home = database.dir.path().join("home");
    let replica = Replica::start(
        &home,
        &database,
        &[("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "2s")],
    );
    Some((database, replica))
}

on_both_backends!(
    with_no_executor_connected_runs_start_zombies_fail_and_trigger_timeouts_fire,
    start_only_a_server,
    |setup| {
        let (database, server) = setup;
        let db = connect(&database).await;
        server
            .register(json!([
                {"dag_id": "d", "tasks": [{"task_id": "a"}]},
                {"dag_id": "z", "tasks": [{"task_id": "z"}]},
                {"dag_id": "w", "tasks": [{"task_id": "w"}]}
            ]))
            .await;
        // A queued run starts and its first task is admitted.
        server.trigger("d", "rd").await;
        wait_ti_state(&db, "rd", "a", "queued").await;

        // A try that starts and never heartbeats is failed at the heartbeat timeout.
        server.trigger("z", "rz").await;
        let (_, z) = wait_ti_state(&db, "rz", "z", "queued").await;
        let run = json!({"state": "running", "hostname": "h", "unixname": "u", "pid": 1,
                         "start_date": "2026-11-29T00:00:00Z"});
        let path = format!("/task-instances/{z}/run");
        assert_eq!(
            server
                .task_call(Method::PATCH, &path, &z, run.clone())
                .await,
            StatusCode::OK
        );
        wait_ti_state(&db, "rz", "z", "failed").await;

        // A deferral past its timeout resumes at `__fail__` (no triggerer runs here).
        server.trigger("w", "rw").await;
        let (_, w) = wait_ti_state(&db, "rw", "w", "queued").await;
        let path = format!("/task-instances/{w}/run");
        assert_eq!(
            server.task_call(Method::PATCH, &path, &w, run).await,
            StatusCode::OK
        );
        let defer = json!({"state": "deferred", "classpath": "airflow.triggers.temporal.DateTimeTrigger",
                           "trigger_kwargs": {}, "trigger_timeout": "PT1S", "next_method": "done"});
        let path = format!("/task-instances/{w}/state");
        assert_eq!(
            server.task_call(Method::PATCH, &path, &w, defer).await,
            StatusCode::NO_CONTENT
        );
        let (method, _) = wait_ti_state(&db, "rw", "w", "queued").await;
        assert_eq!(method.as_deref(), Some("__fail__"));
    }
);

/// Two replicas on one PostgreSQL database, the second started with the first's keys.
async fn two_replicas(database: &TestDatabase) -> (Replica, Replica) {
    let root = database.dir.path();
    let a = Replica::start(&root.join("a"), database, &[]);
    std::fs::create_dir_all(root.join("b")).unwrap();
    for file in ["jwt-secret", "secrets.key"] {
        std::fs::copy(root.join("a").join(file), root.join("b").join(file)).unwrap();
    }
    let b = Replica::start(&root.join("b"), database, &[]);
    (a, b)
}

/// Waits until exactly one of the replicas leads and the other stands by; (leader, standby).
fn leader_of(a: Replica, b: Replica) -> (Replica, Replica) {
    wait_for(
        Duration::from_secs(30),
        "one leader and one standby",
        || {
            let (la, lb) = (a.log(), b.log());
            let leads = |l: &str| l.contains("scheduler leads");
            let stands = |l: &str| l.contains("scheduler stands by");
            (leads(&la) != leads(&lb) && (stands(&la) || stands(&lb))).then_some(leads(&la))
        },
    );
    if a.log().contains("scheduler leads") {
        (a, b)
    } else {
        (b, a)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_another_takes_over_when_it_dies_mid_run() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let db = connect(&database).await;
    let (a, b) = two_replicas(&database).await;
    let (mut leader, survivor) = leader_of(a, b);
    let key = airlock_scheduler::service::LEADER_LOCK;
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() \
         AND l.classid::text::bigint = $1 AND l.objid::text::bigint = $2",
    )
    .bind(key >> 32)
    .bind(key & 0xffff_ffff)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(held, 1, "one leader lock, held once");

    // A worker on the survivor runs the `once` DAG: 24 tasks, each failing loudly if it runs
    // twice.
    let root = database.dir.path();
    let markers = task_tmp_dir(&root.join("markers-parent"));
    let home = root.join("worker");
    let _worker = WorkerProcess::start(
        &survivor.server.base,
        &survivor.token,
        &home,
        &bundles_dir(&root.join("w")),
        &root.join("logs"),
        &root.join("worker.log"),
        &[("AIRLOCK_PARALLELISM", "4")],
    );
    eventually(
        Duration::from_secs(60),
        "the worker to register DAGs",
        || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dag WHERE dag_id = 'once'")
                .fetch_one(db.pool())
                .await
                .unwrap();
            (n == 1).then_some(())
        },
    )
    .await;
    let conf = json!({"marker_dir": markers, "sleep_ms": 300});
    survivor
        .control(
            Method::POST,
            "dags/once/runs",
            json!({"run_id": "r1", "conf": conf}),
        )
        .await;
    let markers_made = || std::fs::read_dir(&markers).map(|d| d.count()).unwrap_or(0);
    eventually(
        Duration::from_secs(60),
        "the first tasks to run",
        || async { (markers_made() >= 3).then_some(()) },
    )
    .await;

    let killed = Instant::now();
    leader.server.crash();
    wait_for(
        Duration::from_secs(10),
        "the survivor to take the lead",
        || survivor.log().contains("scheduler leads").then_some(()),
    );
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(10), "{takeover:?}");

    let state = eventually(Duration::from_secs(120), "the run to end", || async {
        let s: String =
            sqlx::query_scalar("SELECT state FROM dag_run WHERE dag_id = 'once' AND run_id = 'r1'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        (s == "success" || s == "failed").then_some(s)
    })
    .await;
    assert_eq!(state, "success");
    let (tis, first_tries, archived): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), SUM(CASE WHEN try_number = 1 THEN 1 ELSE 0 END), \
         (SELECT COUNT(*) FROM task_instance_history WHERE dag_id = 'once') \
         FROM task_instance WHERE dag_id = 'once' AND state = 'success'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!((tis, first_tries, archived), (24, 24, 0));
    assert_eq!(markers_made(), 24, "every task ran exactly once");
    eprintln!("takeover after SIGKILL: {takeover:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_wakes_a_tick_waiting_on_another() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let db = connect(&database).await;
    let (a, b) = two_replicas(&database).await;
    b.register(json!([{"dag_id": "d", "tasks": [{"task_id": "t"}]}]))
        .await;
    // Best of three: the figure is a latency on a shared machine.
    let mut best = Duration::MAX;
    for attempt in 0..3 {
        let executor = format!("e{attempt}");
        let tick = {
            let (http, url, token) = (
                a.http.clone(),
                format!(
                    "{}/airlock/control/executors/{executor}/tick",
                    a.server.base
                ),
                a.token.clone(),
            );
            tokio::spawn(async move {
                let r: Value = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"slots": 1, "wait_ms": 10_000, "holding": []}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (Instant::now(), r)
            })
        };
        // The tick has claimed (nothing) and is waiting once its executor is recorded.
        eventually(Duration::from_secs(10), "the tick to wait", || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM executor WHERE id = $1")
                .bind(&executor)
                .fetch_one(db.pool())
                .await
                .unwrap();
            (n == 1).then_some(())
        })
        .await;
        b.trigger("d", &format!("r{attempt}")).await;
        let changed = Instant::now();
        let (woken, body) = tick.await.unwrap();
        assert_eq!(body["workloads"].as_array().unwrap().len(), 1, "{body}");
        best = best.min(woken.saturating_duration_since(changed));
    }
    eprintln!("change on B to tick answered on A: {best:?}");
    assert!(best < Duration::from_millis(200), "{best:?}");
}

on_both_backends!(
    executors_claiming_at_once_never_exceed_max_active_tasks,
    start_with_the_scheduler,
    |api| {
        let admin = api
            .tokens()
            .issue("test", airlock_api_server::auth::Scope::Admin, None);
        let tasks: Vec<Value> = (0..12)
            .map(|i| json!({"task_id": format!("t{i}")}))
            .collect();
        let http = api.http.clone();
        let control = |path: String| {
            http.request(Method::POST, format!("{}/airlock/control/{path}", api.base))
                .bearer_auth(&admin)
        };
        let r = http
            .put(format!("{}/airlock/control/bundles/b", api.base))
            .bearer_auth(&admin)
            .json(&json!({"bundle": "b", "dags": [{"dag_id": "lim", "max_active_tasks": 1, "tasks": tasks}]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let r = control("dags/lim/runs".into())
            .json(&json!({"run_id": "r"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());

        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (db, done) = (api.state.db.clone(), done.clone());
            tokio::spawn(async move {
                let (mut max, mut samples) = (0i64, 0u32);
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM task_instance WHERE dag_id = 'lim' \
                         AND state IN ('queued', 'running')",
                    )
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
                    max = max.max(n);
                    samples += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (max, samples)
            })
        };
        let executors: Vec<_> = (0..8)
            .map(|e| {
                let (http, base, admin, done) =
                    (api.http.clone(), api.base.clone(), admin.clone(), done.clone());
                tokio::spawn(async move {
                    let mut ran = 0;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        let r: Value = http
                            .post(format!("{base}/airlock/control/executors/e{e}/tick"))
                            .bearer_auth(&admin)
                            .json(&json!({"slots": 2, "wait_ms": 200, "holding": []}))
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        for w in r["workloads"].as_array().unwrap() {
                            let (ti, token) = (w["ti_id"].as_str().unwrap(), w["token"].as_str().unwrap());
                            let run = http
                                .patch(format!("{base}/task-instances/{ti}/run"))
                                .bearer_auth(token)
                                .json(&json!({"state": "running", "hostname": "h", "unixname": "u",
                                              "pid": e, "start_date": "2026-11-29T00:00:00Z"}))
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(run.status(), StatusCode::OK);
                            let fresh = run
                                .headers()
                                .get("Refreshed-API-Token")
                                .map(|v| v.to_str().unwrap().to_owned())
                                .unwrap_or_else(|| token.to_owned());
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            let end = http
                                .patch(format!("{base}/task-instances/{ti}/state"))
                                .bearer_auth(fresh)
                                .json(&json!({"state": "success", "end_date": "2026-11-29T00:00:01Z"}))
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(end.status(), StatusCode::NO_CONTENT);
                            ran += 1;
                        }
                    }
                    ran
                })
            })
            .collect();
        let db = api.state.db.clone();
        eventually(Duration::from_secs(60), "the run to succeed", || async {
            let s: String = sqlx::query_scalar("SELECT state FROM dag_run WHERE run_id = 'r'")
                .fetch_one(db.pool())
                .await
                .unwrap();
            (s == "success").then_some(())
        })
        .await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut ran = 0;
        for e in executors {
            ran += e.await.unwrap();
        }
        let (max, samples) = sampler.await.unwrap();
        assert_eq!(ran, 12, "each task instance ran once");
        assert!(samples > 10, "{samples} samples");
        assert_eq!(max, 1, "never more than max_active_tasks queued or running");
    }
);

/// An in-process server whose scheduler service runs.
async fn start_with_the_scheduler(backend: Backend) -> Option<TestApi> {
    TestApi::start_with(backend, |args| args.scheduler.no_scheduler = false).await
}
