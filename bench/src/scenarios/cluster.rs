//! Beyond one machine: claims per second from 64 concurrent executors, log shipping
//! throughput, and noop DAG throughput with 1, 2 and 4 `airlock worker` processes beside one
//! `api-server` (on one machine: this shows overhead, not speed-up).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_api_client::{ApiClient, ClientConfig};
use airlock_api_server::admin::{RunSpec, create_run};
use airlock_api_server::auth::Scope;
use airlock_protocol::api::{
    ExecutorRegistration, RunDetails, TaskLogPiece, TickRequest, TriggerRunRequest,
};
use airlock_protocol::state::DagRunState;
use anyhow::{Context, bail};
use serde_json::json;

use crate::procs::{PgDatabase, Server, bin};
use crate::report::Section;
use crate::stats::percentile;

/// Concurrent executors claiming.
const EXECUTORS: usize = 64;
/// Slots each executor asks for per tick.
const SLOTS: u32 = 8;
/// Concurrent tries shipping logs.
const SHIPPERS: usize = 8;
/// Task slots shared by the workers of a worker run (each of `n` workers gets `TOTAL_SLOTS / n`).
const TOTAL_SLOTS: usize = 4;
/// Lines per shipped piece (about what a supervisor's 256 KiB batch holds).
const LINES_PER_PIECE: usize = 1500;

/// Sizes of one run of the scenario.
pub struct Sizes {
    /// Task instances claimed per executor.
    pub claims_per_executor: usize,
    /// How long the shippers ship.
    pub ship_for: Duration,
    /// The wide noop DAG of the worker runs (`wide50`, `wide1000`).
    pub wide_dag: &'static str,
}

fn client(base: &str, token: String) -> anyhow::Result<ApiClient> {
    Ok(ApiClient::new(
        ClientConfig {
            timeout: Duration::from_secs(60),
            ..ClientConfig::new(base)
        },
        token,
    )?)
}

/// Claims every queued task instance with [`EXECUTORS`] executors ticking at once: claims/s
/// and tick latency p50/p99 (ms).
async fn claims(server: &Server, per_executor: usize) -> anyhow::Result<(f64, f64, f64)> {
    let total = EXECUTORS * per_executor;
    let spec: RunSpec = serde_json::from_value(json!({
        "dag_id": "claims", "run_id": "r",
        "tasks": (0..total).map(|i| json!({"task_id": "t", "map_index": i})).collect::<Vec<_>>()
    }))?;
    create_run(&server.db, &spec, airlock_store::now()).await?;
    let admin = client(
        &server.base,
        server.tokens.issue("bench", Scope::Admin, None),
    )?;
    for i in 0..EXECUTORS {
        admin
            .register_executor(
                &format!("bench-{i}"),
                &ExecutorRegistration {
                    hostname: Some("bench".into()),
                    parallelism: SLOTS,
                },
            )
            .await?;
    }
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..EXECUTORS {
        let c = admin.clone();
        workers.spawn(async move {
            let id = format!("bench-{i}");
            let mut holding = Vec::new();
            let mut latencies = Vec::new();
            loop {
                let t = Instant::now();
                let r = c
                    .tick(
                        &id,
                        &TickRequest {
                            slots: SLOTS,
                            wait_ms: 0,
                            holding: holding.clone(),
                            queues: None,
                        },
                    )
                    .await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                if r.workloads.is_empty() {
                    return anyhow::Ok((holding.len(), latencies));
                }
                holding.extend(r.workloads.iter().map(|w| w.ti_id));
            }
        });
    }
    let (mut claimed, mut latencies) = (0, Vec::new());
    while let Some(done) = workers.join_next().await {
        let (n, l) = done??;
        claimed += n;
        latencies.extend(l);
    }
    let took = started.elapsed().as_secs_f64();
    if claimed != total {
        bail!("{claimed} of {total} task instances claimed");
    }
    Ok((
        total as f64 / took,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
    ))
}

/// [`SHIPPERS`] running tries ship log pieces for `duration`: lines/s, MB/s and piece latency
/// p99 (ms).
async fn shipping(server: &Server, duration: Duration) -> anyhow::Result<(f64, f64, f64)> {
    let spec: RunSpec = serde_json::from_value(json!({
        "dag_id": "shipping", "run_id": "r",
        "tasks": (0..SHIPPERS).map(|i| json!({"task_id": "t", "map_index": i})).collect::<Vec<_>>()
    }))?;
    let created = create_run(&server.db, &spec, airlock_store::now()).await?;
    let line = format!(
        "{}\n",
        json!({"timestamp": "2026-12-03T00:00:00.000000Z", "level": "info",
               "logger": "task", "event": "processed a batch of rows from the source table"})
    );
    let piece = line.repeat(LINES_PER_PIECE);
    let mut shippers = tokio::task::JoinSet::new();
    for ti in created.task_instances {
        let c = client(
            &server.base,
            server.tokens.issue(ti.id, Scope::Workload, None),
        )?;
        c.start(
            ti.id,
            &serde_json::from_value(json!({"state": "running", "hostname": "bench",
                "unixname": "u", "pid": 1000 + ti.map_index, "start_date": "2026-12-03T00:00:00Z"}))?,
        )
        .await?;
        let piece = piece.clone();
        shippers.spawn(async move {
            let (mut offset, mut latencies) = (0u64, Vec::new());
            let until = Instant::now() + duration;
            while Instant::now() < until {
                let t = Instant::now();
                c.ship_log(
                    ti.id,
                    &TaskLogPiece {
                        start_offset: offset,
                        content: piece.clone(),
                    },
                )
                .await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                offset += piece.len() as u64;
            }
            anyhow::Ok(latencies)
        });
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    while let Some(done) = shippers.join_next().await {
        latencies.extend(done??);
    }
    let took = started.elapsed().as_secs_f64();
    let pieces = latencies.len() as f64;
    Ok((
        pieces * LINES_PER_PIECE as f64 / took,
        pieces * piece.len() as f64 / took / 1e6,
        percentile(&latencies, 99.0),
    ))
}

/// Killed (and reaped) when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run_dag(c: &ApiClient, dag: &str) -> anyhow::Result<RunDetails> {
    let run = c.trigger_run(dag, &TriggerRunRequest::default()).await?;
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut every = tokio::time::interval(Duration::from_millis(100));
    loop {
        every.tick().await;
        let d = c.run_details(dag, &run.run_id).await?;
        match d.state {
            DagRunState::Success => return Ok(d),
            DagRunState::Failed => bail!("{dag} failed"),
            _ if Instant::now() > deadline => bail!("{dag} did not finish"),
            _ => {}
        }
    }
}

/// Runs `dag` with `workers` worker processes sharing [`TOTAL_SLOTS`]: tasks/s.
async fn with_workers(
    root: &Path,
    workers: usize,
    ship_logs: bool,
    dag: &str,
) -> anyhow::Result<f64> {
    let home = root.join(format!("workers-{workers}-{ship_logs}"));
    let server = Server::start(&home, None, &[]).await?;
    let bundles = home.join("bundles");
    std::fs::create_dir_all(&bundles)?;
    std::os::unix::fs::symlink(bin("bench-bundle")?, bundles.join("bench-bundle"))?;
    let parallelism = (TOTAL_SLOTS / workers).max(1).to_string();
    let admin = server.tokens.issue("bench", Scope::Admin, None);
    let mut procs = Vec::new();
    for i in 0..workers {
        let mut cmd = Command::new(bin("airlock")?);
        cmd.arg("worker");
        if !ship_logs {
            cmd.arg("--no-ship-logs");
        }
        let child = cmd
            .env("AIRLOCK_HOME", home.join(format!("w{i}")))
            .env("AIRLOCK_API_URL", &server.base)
            .env("AIRLOCK_ADMIN_TOKEN", &admin)
            .env("AIRLOCK_BUNDLES_DIR", &bundles)
            .env("AIRLOCK_LOG_DIR", home.join(format!("w{i}-logs")))
            .env("AIRLOCK_EXECUTOR_ID", format!("w{i}"))
            .env("AIRLOCK_PARALLELISM", &parallelism)
            .env("AIRLOCK_LOG", "warn")
            .env_remove("AIRLOCK_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(home.join(format!("w{i}.log")))?)
            .spawn()
            .context("spawn airlock worker")?;
        procs.push(Worker(child));
    }
    let c = client(&server.base, admin)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut every = tokio::time::interval(Duration::from_millis(100));
    loop {
        every.tick().await;
        if c.list_dags()
            .await
            .is_ok_and(|l| l.dags.iter().any(|d| d.dag_id == dag))
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the workers did not register the bench bundle");
        }
    }
    let d = run_dag(&c, dag).await?;
    let secs = match (d.start_date, d.end_date) {
        (Some(s), Some(e)) => (e - s).as_seconds_f64(),
        _ => bail!("{dag} has no start or end"),
    };
    drop(procs);
    Ok(d.task_instances.len() as f64 / secs)
}

/// Runs the scenario.
pub async fn run(root: &Path, sizes: &Sizes) -> anyhow::Result<Section> {
    let root = root.join("cluster");
    let mut rows = Vec::new();
    let mut best_claims = 0f64;
    let pg = PgDatabase::create(90).await;
    let backends: Vec<(&str, Option<String>)> = std::iter::once(("SQLite", None))
        .chain(pg.as_ref().map(|p| ("PostgreSQL", Some(p.url.clone()))))
        .collect();
    for (name, url) in &backends {
        let server =
            Server::start(&root.join(format!("claims-{name}")), url.as_deref(), &[]).await?;
        let (rate, p50, p99) = claims(&server, sizes.claims_per_executor).await?;
        best_claims = best_claims.max(rate);
        rows.push(vec![
            format!("claims, {EXECUTORS} executors ticking at once ({name})"),
            format!("{rate:.0} claims/s"),
            format!("tick p50 {p50:.1} ms, p99 {p99:.1} ms"),
        ]);
        let (lines, mb, p99) = shipping(&server, sizes.ship_for).await?;
        rows.push(vec![
            format!("log shipping, {SHIPPERS} tries at once ({name})"),
            format!("{lines:.0} lines/s ({mb:.1} MB/s)"),
            format!("{LINES_PER_PIECE}-line piece p99 {p99:.1} ms"),
        ]);
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
    let mut rates = Vec::new();
    for workers in [1, 2, 4] {
        let rate = with_workers(&root, workers, true, sizes.wide_dag).await?;
        rates.push(rate);
        rows.push(vec![
            format!(
                "{} noop tasks, {workers} worker(s) (SQLite)",
                sizes.wide_dag
            ),
            format!("{rate:.0} tasks/s"),
            "logs shipped".into(),
        ]);
    }
    let unshipped = with_workers(&root, 1, false, sizes.wide_dag).await?;
    let cost_ms = (1.0 / rates[0] - 1.0 / unshipped) * 1000.0;
    rows.push(vec![
        format!("{} noop tasks, 1 worker, --no-ship-logs", sizes.wide_dag),
        format!("{unshipped:.0} tasks/s"),
        format!("shipping costs {cost_ms:.1} ms of wall time per task"),
    ]);
    Ok(Section {
        title: "8. Several workers".into(),
        summary: [
            format!("claims/s at {EXECUTORS} concurrent executors"),
            format!("{best_claims:.0}"),
            "not measured (Airflow's executors claim through its scheduler)".into(),
            "n/a".into(),
        ],
        header: vec!["what".into(), "throughput".into(), "latency / note".into()],
        rows,
        notes: vec![format!(
            "One `api-server` process; the claims are real `POST .../tick` calls over HTTP from {EXECUTORS} clients, \
             each asking for {SLOTS} slots and holding what it got, until nothing is left; shipping \
             is `POST /airlock/task-instances/{{id}}/logs` of {LINES_PER_PIECE}-line pieces by {SHIPPERS} running tries. \
             The worker runs start 1, 2 or 4 `airlock worker` processes sharing {TOTAL_SLOTS} task slots \
             (parallelism split between them) on this machine: more workers add overhead, not speed."
        )],
    })
}
