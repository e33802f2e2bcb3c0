//! API throughput: heartbeats, XCom set and XCom get from 64 concurrent clients, on SQLite and
//! PostgreSQL, over real HTTP to an `api-server` process.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_api_server::admin::{RunSpec, create_run};
use airlock_api_server::auth::Scope;
use anyhow::bail;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::procs::{PgDatabase, Server};
use crate::report::Section;
use crate::stats::percentile;

/// Concurrent clients.
pub const CLIENTS: usize = 64;

#[derive(Clone, Copy)]
enum Op {
    Heartbeat,
    XComSet,
    XComGet,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Heartbeat => "heartbeat (PUT .../heartbeat)",
            Op::XComSet => "XCom set (POST /xcoms/...)",
            Op::XComGet => "XCom get (GET /xcoms/...)",
        }
    }
}

struct Client {
    ti: Uuid,
    token: String,
    map_index: i64,
}

async fn start_all(server: &Server, http: &reqwest::Client) -> anyhow::Result<Vec<Client>> {
    let spec: RunSpec = serde_json::from_value(json!({
        "dag_id": "load", "run_id": "r",
        "tasks": (0..CLIENTS).map(|i| json!({"task_id": "t", "map_index": i})).collect::<Vec<_>>()
    }))?;
    let created = create_run(&server.db, &spec, airlock_store::now()).await?;
    let mut out = Vec::new();
    for ti in created.task_instances {
        let r = http
            .patch(format!("{}/task-instances/{}/run", server.base, ti.id))
            .bearer_auth(server.tokens.issue(ti.id, Scope::Workload, None))
            .json(
                &json!({"state": "running", "hostname": "bench", "unixname": "u",
                          "pid": 1000 + ti.map_index, "start_date": "2026-11-23T00:00:00Z"}),
            )
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("PATCH /run: {}", r.status());
        }
        let token = r
            .headers()
            .get("refreshed-api-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| server.tokens.issue(ti.id, Scope::Execution, None));
        out.push(Client {
            ti: ti.id,
            token,
            map_index: ti.map_index,
        });
    }
    Ok(out)
}

async fn drive(
    base: &str,
    http: &reqwest::Client,
    clients: &[Client],
    op: Op,
    duration: Duration,
) -> anyhow::Result<(f64, f64, u64)> {
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for c in clients {
        let (http, base, token, ti, mi) = (
            http.clone(),
            base.to_owned(),
            c.token.clone(),
            c.ti,
            c.map_index,
        );
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let xcom = format!("{base}/xcoms/load/r/t/k{mi}");
            while Instant::now() < deadline {
                let req = match op {
                    Op::Heartbeat => http
                        .request(Method::PUT, format!("{base}/task-instances/{ti}/heartbeat"))
                        .json(&json!({"hostname": "bench", "pid": 1000 + mi})),
                    Op::XComSet => http
                        .post(&xcom)
                        .query(&[("map_index", mi.to_string())])
                        .json(&json!({"n": mi, "payload": "x".repeat(64)})),
                    Op::XComGet => http.get(&xcom).query(&[("map_index", mi.to_string())]),
                };
                let t = Instant::now();
                match req.bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((
        all.len() as f64 / secs,
        percentile(&all, 99.0),
        errors.load(std::sync::atomic::Ordering::Relaxed),
    ))
}

async fn one_backend(
    name: &str,
    home: &Path,
    url: Option<&str>,
    duration: Duration,
    rows: &mut Vec<Vec<String>>,
) -> anyhow::Result<f64> {
    let server = Server::start(home, url, &[]).await?;
    let http = airlock_process::http::client_builder()?
        .pool_max_idle_per_host(CLIENTS)
        .timeout(Duration::from_secs(30))
        .build()?;
    let clients = start_all(&server, &http).await?;
    let mut heartbeat_rate = 0.0;
    for op in [Op::Heartbeat, Op::XComSet, Op::XComGet] {
        let (rate, p99, errors) = drive(&server.base, &http, &clients, op, duration).await?;
        if matches!(op, Op::Heartbeat) {
            heartbeat_rate = rate;
        }
        rows.push(vec![
            name.into(),
            op.name().into(),
            format!("{rate:.0}"),
            format!("{p99:.1}"),
            errors.to_string(),
        ]);
    }
    Ok(heartbeat_rate)
}

/// Runs each operation for `duration` on SQLite, then on PostgreSQL if it is reachable.
pub async fn run(root: &Path, duration: Duration) -> anyhow::Result<Section> {
    let mut rows = Vec::new();
    let sqlite = one_backend(
        "SQLite",
        &root.join("api-sqlite"),
        None,
        duration,
        &mut rows,
    )
    .await?;
    let mut notes = vec![format!(
        "{CLIENTS} concurrent clients (one task instance and token each) for {:.1} s per operation, against one `api-server` process with its default settings; the load generator runs on the same 2 cores.",
        duration.as_secs_f64()
    )];
    let mut pg_rate = None;
    match PgDatabase::create(0).await {
        Some(pg) => {
            let r = one_backend(
                "PostgreSQL",
                &root.join("api-pg"),
                Some(&pg.url),
                duration,
                &mut rows,
            )
            .await;
            pg.drop_now().await;
            pg_rate = Some(r?);
        }
        None => notes.push("PostgreSQL was not reachable: its rows are missing.".into()),
    }
    Ok(Section {
        title: "3. API throughput".into(),
        summary: [
            format!("heartbeats/s, {CLIENTS} clients (higher is better)"),
            format!(
                "{sqlite:.0} SQLite{}",
                pg_rate.map_or(String::new(), |r| format!(", {r:.0} PostgreSQL"))
            ),
            "not measured (no Airflow API server installed)".into(),
            "n/a".into(),
        ],
        header: ["backend", "operation", "requests/s", "p99 ms", "errors"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect(),
        rows,
        notes,
    })
}
