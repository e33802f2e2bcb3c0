//! The triggerer: many timer triggers held and fired, and how fast a deferral is picked up.

use airlock_store as store;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_api_server::admin::{RunSpec, create_run};
use airlock_api_server::auth::Scope;
use airlock_sdk::Trigger;
use airlock_store::cipher::SecretCipher;
use airlock_store::sql::Sql;
use airlock_store::to_micros;
use anyhow::bail;
use chrono::{TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::procs::{Server, bin, rss_kib};
use crate::report::Section;
use crate::stats::percentile;

struct TriggererProc(Child);

impl Drop for TriggererProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_triggerer(server: &Server, capacity: usize) -> anyhow::Result<TriggererProc> {
    let token = server
        .tokens
        .issue("bench-triggerer", Scope::Triggerer, None);
    let child = Command::new(bin("triggerer")?)
        .env("AIRLOCK_TRIGGERER_TOKEN", token)
        .env("AIRLOCK_API_URL", &server.base)
        .env("AIRLOCK_TRIGGERER_CAPACITY", capacity.to_string())
        .env("AIRLOCK_TRIGGERER_CLAIM_WAIT", "1")
        .env("AIRLOCK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(TriggererProc(child))
}

/// Rows per insert statement while seeding.
const CHUNK: usize = 500;

/// Inserts `n` deferred task instances waiting on date-time triggers due at `moments[i]`, as
/// if `n` tasks had deferred (one transaction, multi-row inserts).
async fn seed_deferred(
    server: &Server,
    moments: &[chrono::DateTime<Utc>],
) -> anyhow::Result<HashMap<String, i64>> {
    let cipher = SecretCipher::load(None, &server.home.join("secrets.key"))?;
    let spec: RunSpec =
        serde_json::from_value(json!({"dag_id": "timers", "run_id": "r", "tasks": []}))?;
    create_run(&server.db, &spec, store::now()).await?;
    let version = Uuid::now_v7().to_string();
    let now = to_micros(store::now());
    let mut due = HashMap::with_capacity(moments.len());
    let mut tx = server.db.begin_write().await?;
    for (c, chunk) in moments.chunks(CHUNK).enumerate() {
        let mut triggers =
            Sql::new("INSERT INTO triggers (id, classpath, kwargs, created_date) VALUES ");
        let mut tis = Sql::new(
            "INSERT INTO task_instance (id, dag_id, run_id, task_id, map_index, try_number, \
             max_tries, state, dag_version_id, trigger_id, next_method, next_kwargs, updated_at) VALUES ",
        );
        for (j, at) in chunk.iter().enumerate() {
            let i = (c * CHUNK + j) as i64;
            let t = Trigger::date_time(*at);
            let kwargs = cipher.seal(&serde_json::Value::Object(t.kwargs).to_string());
            let sep = if j == 0 { "(" } else { ", (" };
            triggers
                .push(sep)
                .bind(i + 1)
                .push(", ")
                .bind(t.classpath)
                .push(", ");
            triggers.bind(kwargs).push(", ").bind(now).push(")");
            let id = Uuid::now_v7().to_string();
            tis.push(sep)
                .bind(id.clone())
                .push(", 'timers', 'r', 't', ")
                .bind(i);
            tis.push(", 1, 0, 'deferred', ")
                .bind(version.clone())
                .push(", ")
                .bind(i + 1);
            tis.push(", 'resume', '{}', ").bind(now).push(")");
            due.insert(id, to_micros(*at));
        }
        for q in [triggers, tis] {
            let (sql, args) = q.build();
            sqlx::query_with(sql, args).execute(tx.conn()).await?;
        }
    }
    tx.commit().await?;
    Ok(due)
}

async fn count(server: &Server, sql: &'static str) -> i64 {
    match sqlx::query_scalar::<_, i64>(sql)
        .fetch_all(server.db.pool())
        .await
    {
        // All rows: a statement left mid-way would pin an old SQLite snapshot on the connection.
        Ok(n) => n.first().copied().unwrap_or(0),
        Err(e) => {
            eprintln!("[bench] counting failed ({e}); retrying");
            0
        }
    }
}

/// Waits until the triggerer has registered with `server` (it has started and is claiming).
async fn registered(server: &Server) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(server, "SELECT COUNT(*) FROM triggerer").await == 0 {
        if Instant::now() > deadline {
            bail!("the triggerer did not register within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Holds and fires `n` timers; returns (RSS bytes per trigger, claim seconds, lateness p50/p99 ms).
async fn timers(root: &Path, n: usize) -> anyhow::Result<(f64, f64, f64, f64)> {
    let server = Server::start(&root.join(format!("timers-{n}")), None, &[]).await?;
    let triggerer = start_triggerer(&server, n + 100)?;
    registered(&server).await?;
    let baseline = rss_kib(triggerer.0.id()).unwrap_or(0);
    // Due after every trigger can have been seeded and claimed, spread over 10 s.
    let hold = TimeDelta::milliseconds(4000 + (n as i64) / 8);
    let start = Utc::now() + hold;
    let moments: Vec<_> = (0..n)
        .map(|i| start + TimeDelta::microseconds((i as i64 % 10_000) * 1000))
        .collect();
    let seeding = Instant::now();
    let due = seed_deferred(&server, &moments).await?;
    eprintln!(
        "[bench] seeded {n} deferred tasks in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let seeded = Instant::now();
    let n64 = n as i64;
    loop {
        let claimed = count(
            &server,
            "SELECT COUNT(*) FROM triggers WHERE triggerer_id IS NOT NULL",
        )
        .await;
        if claimed >= n64 {
            break;
        }
        if seeded.elapsed() > Duration::from_secs(600) {
            bail!("only {claimed} of {n} triggers were claimed");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let claim_secs = seeded.elapsed().as_secs_f64();
    // Let the engine settle, then read its memory while it holds all of them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = rss_kib(triggerer.0.id()).unwrap_or(0);
    let early = count(&server, "SELECT COUNT(*) FROM trigger_event").await;
    if early > 0 {
        eprintln!("[bench] note: {early} of {n} timers fired before all were claimed");
    }
    let deadline = Instant::now() + Duration::from_secs(900);
    while count(&server, "SELECT COUNT(*) FROM trigger_event").await < n64 {
        if Instant::now() > deadline {
            bail!("not every trigger fired");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<(String, i64)> = sqlx::query_as("SELECT ti_id, at FROM trigger_event")
        .fetch_all(server.db.pool())
        .await?;
    let lateness: Vec<f64> = events
        .iter()
        .filter_map(|(ti, at)| due.get(ti).map(|d| (*at - *d) as f64 / 1000.0))
        .collect();
    drop(triggerer);
    Ok((
        (held - baseline).max(0) as f64 * 1024.0 / n as f64,
        claim_secs,
        percentile(&lateness, 50.0),
        percentile(&lateness, 99.0),
    ))
}

/// Defers `n` tasks one at a time through the API with a trigger that is already due, and
/// measures how long until each is resumed.
async fn pickup(root: &Path, n: usize) -> anyhow::Result<Vec<f64>> {
    let server = Server::start(&root.join("pickup"), None, &[]).await?;
    let _triggerer = start_triggerer(&server, 1000)?;
    let http = airlock_e2e::http_client();
    let spec: RunSpec = serde_json::from_value(json!({"dag_id": "p", "run_id": "r",
        "tasks": (0..n).map(|i| json!({"task_id": "t", "map_index": i})).collect::<Vec<_>>()}))?;
    let created = create_run(&server.db, &spec, store::now()).await?;
    registered(&server).await?;
    let mut out = Vec::new();
    for ti in created.task_instances {
        let token = server.tokens.issue(ti.id, Scope::Execution, None);
        let r = http
            .patch(format!("{}/task-instances/{}/run", server.base, ti.id))
            .bearer_auth(&token)
            .json(
                &json!({"state": "running", "hostname": "b", "unixname": "u", "pid": 1,
                          "start_date": "2026-11-23T00:00:00Z"}),
            )
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("PATCH /run: {}", r.status());
        }
        let t = Trigger::date_time(Utc::now() - TimeDelta::seconds(1));
        let start = Instant::now();
        let r = http
            .patch(format!("{}/task-instances/{}/state", server.base, ti.id))
            .bearer_auth(&token)
            .json(
                &json!({"state": "deferred", "classpath": t.classpath, "trigger_kwargs": t.kwargs,
                          "next_method": "resume"}),
            )
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("PATCH /state deferred: {}", r.status());
        }
        let id = ti.id.to_string();
        let db = server.db.clone();
        let resumed = async {
            loop {
                let s: Option<String> =
                    sqlx::query_scalar("SELECT state FROM task_instance WHERE id = $1")
                        .bind(&id)
                        .fetch_one(db.pool())
                        .await
                        .ok()
                        .flatten();
                // The server's scheduler may already have queued it again.
                if matches!(s.as_deref(), Some("scheduled" | "queued")) {
                    return;
                }
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), resumed).await?;
        out.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

/// Runs the timer scenario for each size in `sizes`, then `pickups` deferrals.
pub async fn run(root: &Path, sizes: &[usize], pickups: usize) -> anyhow::Result<Section> {
    let mut rows = Vec::new();
    let mut per_trigger = String::from("n/a");
    for &n in sizes {
        let (bytes, claim, p50, p99) = timers(root, n).await?;
        per_trigger = format!("{bytes:.0} B/trigger at {n}");
        rows.push(vec![
            format!("{n} timers"),
            format!("{bytes:.0}"),
            format!("{claim:.1} s ({:.0}/s)", n as f64 / claim),
            format!("{p50:.0} / {p99:.0}"),
        ]);
    }
    let lat = pickup(root, pickups).await?;
    rows.push(vec![
        format!("pickup after deferral ({pickups} tasks, one at a time)"),
        "-".into(),
        "-".into(),
        format!(
            "{:.1} / {:.1}",
            percentile(&lat, 50.0),
            percentile(&lat, 99.0)
        ),
    ]);
    Ok(Section {
        title: "4. Triggerer".into(),
        summary: [
            "memory per held timer; deferral → resumed".into(),
            format!(
                "{per_trigger}; pickup p50 {:.1} ms",
                percentile(&lat, 50.0)
            ),
            "not measured (Airflow's triggerer is not in the task SDK)".into(),
            "n/a".into(),
        ],
        header: vec![
            "scenario".into(),
            "RSS bytes per trigger".into(),
            "claim all (rate)".into(),
            "p50 / p99 ms (fire lateness; pickup latency)".into(),
        ],
        rows,
        notes: vec![
            "Timers: N deferred task instances with Airflow `DateTimeTrigger`s (kwargs encrypted, as the API stores them) are inserted in one transaction while one `triggerer` process runs; its RSS is read from /proc before and after it has claimed them all. Moments are spread over 10 s after every trigger could be claimed.".into(),
            "Fire lateness = when the server recorded the outcome − the trigger's moment: it includes the triggerer's timer wheel, its HTTP report and the server's write.".into(),
            "Pickup = from the `PATCH /state` deferral of a task whose trigger is already due until the server has resumed it (`scheduled`, or already `queued` by its scheduler): claim long-poll wake-up, claim, fire, report.".into(),
            "1,000,000 timers are not in the default run (about 8 minutes: seeding and resuming them through one SQLite server); run them with `target/bench-opt/airlock-bench --only triggerer --timers 1000000`.".into(),
        ],
    })
}
