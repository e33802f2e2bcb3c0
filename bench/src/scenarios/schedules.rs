//! Schedules: how late the scheduler service of a real `api-server` creates the runs of many
//! DAGs on a one-minute schedule, what a pass costs then, and how long a large backfill takes
//! to create its runs.

use std::path::Path;
use std::time::{Duration, Instant};

use airlock_protocol::api::{BackfillRequest, Reprocess};
use airlock_protocol::dag::BundleDefinition;
use airlock_scheduler::SchedulerSettings;
use airlock_store::{Db, to_micros};
use anyhow::bail;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::json;

use crate::procs::Server;
use crate::report::Section;
use crate::stats::{median, percentile};

/// Registers `dags` DAGs of one task each, on `schedule`, starting at `start` (no catchup).
async fn register(
    db: &Db,
    dags: usize,
    schedule: &serde_json::Value,
    start: DateTime<Utc>,
) -> anyhow::Result<()> {
    let defs: Vec<serde_json::Value> = (0..dags)
        .map(|i| {
            json!({"dag_id": format!("every_minute_{i:05}"), "schedule": schedule,
                   "start_date": start, "tasks": [{"task_id": "t"}]})
        })
        .collect();
    let bundle: BundleDefinition =
        serde_json::from_value(json!({"bundle": "bench", "dags": defs}))?;
    airlock_store::control::register_bundle(db, &bundle, airlock_store::now()).await?;
    Ok(())
}

async fn runs_ending_at(db: &Db, end: DateTime<Utc>) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM dag_run WHERE data_interval_end = $1")
        .bind(to_micros(end))
        .fetch_all(db.pool())
        .await
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(0)
}

/// Lateness after `boundary` at which each run ending there had been created (ms), sampled by
/// polling as a client would see it.
async fn lateness(db: &Db, boundary: DateTime<Utc>, dags: usize) -> anyhow::Result<Vec<f64>> {
    while Utc::now() < boundary {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut seen = 0usize;
    let mut out = Vec::with_capacity(dags);
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen < dags {
        if Instant::now() > deadline {
            bail!("only {seen} of {dags} runs were created within 120 s of {boundary}");
        }
        let n = runs_ending_at(db, boundary).await.max(0) as usize;
        let late = (Utc::now() - boundary).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        out.extend(std::iter::repeat_n(late, n.saturating_sub(seen)));
        seen = seen.max(n);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(out)
}

/// `dags` DAGs on a one-minute cron (smoke: a two-second interval); then a backfill of
/// `intervals` hourly intervals.
pub async fn run(
    root: &Path,
    dags: usize,
    smoke: bool,
    intervals: usize,
) -> anyhow::Result<Section> {
    let home = root.join("schedules");
    let server = Server::start(&home, None, &[]).await?;
    let step = if smoke {
        TimeDelta::seconds(2)
    } else {
        TimeDelta::minutes(1)
    };
    let schedule = if smoke {
        json!({"every": 2.0})
    } else {
        json!("* * * * *")
    };
    let start = Utc::now().duration_trunc(step)? - step * 10;
    let registered = Instant::now();
    register(&server.db, dags, &schedule, start).await?;
    let register_secs = registered.elapsed().as_secs_f64();
    // Without catchup each DAG first gets its latest interval (once the service has seen the
    // registration); the next boundary far enough ahead is the one measured.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let started: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT dag_id) FROM dag_run")
            .fetch_one(server.db.pool())
            .await?;
        if started as usize >= dags {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {started} of {dags} DAGs got their first run within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut boundary = Utc::now().duration_trunc(step)? + step;
    if boundary - Utc::now() < step / 4 {
        boundary += step;
    }
    let late = match lateness(&server.db, boundary, dags).await {
        Ok(late) => late,
        Err(e) => {
            let log = std::fs::read_to_string(home.join("api-server.log")).unwrap_or_default();
            bail!(
                "{e}\napi-server log (end):\n{}",
                &log[log.floor_char_boundary(log.len().saturating_sub(3000))..]
            );
        }
    };
    drop(server);

    // The pass alone (the service stopped), with every DAG's next run not yet due and its
    // runs still running (no executor takes their tasks).
    let db = Db::connect(
        &format!("sqlite://{}", home.join("airlock.db").display()),
        8,
    )
    .await?;
    let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dag_run WHERE state = 'running'")
        .fetch_one(db.pool())
        .await?;
    let settings = SchedulerSettings::default();
    let mut pass_ms = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        airlock_scheduler::schedule(&db, &settings, boundary + step / 2).await?;
        pass_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // A backfill of `intervals` hourly intervals.
    let bf_start =
        Utc::now().duration_trunc(TimeDelta::hours(1))? - TimeDelta::hours(intervals as i64 + 1);
    let bundle: BundleDefinition = serde_json::from_value(json!({"bundle": "bench-backfill",
        "dags": [{"dag_id": "hourly", "schedule": "@hourly", "start_date": bf_start,
                  "tasks": [{"task_id": "t"}]}]}))?;
    airlock_store::control::register_bundle(&db, &bundle, airlock_store::now()).await?;
    let req = BackfillRequest {
        from_date: bf_start,
        to_date: bf_start + TimeDelta::hours(intervals as i64 - 1),
        reprocess: Reprocess::None,
        max_active_runs: None,
        dry_run: false,
    };
    let t = Instant::now();
    let created = airlock_scheduler::backfill::backfill(&db, "hourly", &req, Utc::now()).await?;
    let backfill_secs = t.elapsed().as_secs_f64();
    let runs = created.runs.len();
    if runs != intervals {
        bail!("the backfill planned {runs} runs, not {intervals}");
    }
    db.close().await;

    let (p50, p99, max) = (
        percentile(&late, 50.0),
        percentile(&late, 99.0),
        late.iter().copied().fold(0.0, f64::max),
    );
    let what = if smoke {
        "a 2 s interval (smoke)"
    } else {
        "`* * * * *`"
    };
    Ok(Section {
        title: "6. Schedules".into(),
        summary: [
            format!("run creation lateness, {dags} DAGs on {what}"),
            format!("p50 {p50:.0} ms, p99 {p99:.0} ms"),
            "no Airflow reference in this run".into(),
            "-".into(),
        ],
        header: vec!["measure".into(), "Airlock".into()],
        rows: vec![
            vec![
                format!("{dags} DAGs registered (one transaction)"),
                format!("{register_secs:.1} s"),
            ],
            vec![
                "runs created after their interval ended: p50 / p99 / last".into(),
                format!("{p50:.0} / {p99:.0} / {max:.0} ms"),
            ],
            vec![
                format!(
                    "a pass with no run due ({dags} DAGs, {running} runs running, their tasks admitted for executors)"
                ),
                format!("{:.0} ms (median of 3)", median(&pass_ms)),
            ],
            vec![
                format!("backfill of {intervals} hourly intervals: plan and create the runs"),
                format!(
                    "{backfill_secs:.2} s ({:.0} runs/s)",
                    runs as f64 / backfill_secs
                ),
            ],
        ],
        notes: vec![
            "Lateness is what a client polling the database every few ms sees: from the end of \
             each run's data interval until its run exists, through the api-server's own \
             scheduler service on the embedded SQLite database; the aim is p99 ≤ 1 s."
                .into(),
            "The pass is timed in-process on the same database with the service stopped.".into(),
        ],
    })
}
