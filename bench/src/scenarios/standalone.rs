//! `airlock standalone` end to end: tasks per second through scheduler, executor, supervisors
//! and runners, and the delay between an upstream's end and its downstream's start.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use airlock_api_client::{ApiClient, ClientConfig};
use airlock_protocol::api::{RunDetails, TriggerRunRequest};
use airlock_protocol::state::DagRunState;
use anyhow::bail;
use serde_json::json;

use crate::procs::{bin, wait_until};
use crate::report::Section;
use crate::stats::percentile;

struct Standalone(Child);

impl Drop for Standalone {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run_dag(
    client: &ApiClient,
    dag: &str,
    conf: serde_json::Value,
) -> anyhow::Result<RunDetails> {
    let req = TriggerRunRequest {
        conf: conf.as_object().map(|m| m.clone().into_iter().collect()),
        ..TriggerRunRequest::default()
    };
    let run = client.trigger_run(dag, &req).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let d = client.run_details(dag, &run.run_id).await?;
        match d.state {
            DagRunState::Success => return Ok(d),
            DagRunState::Failed => bail!("{dag} failed"),
            _ if std::time::Instant::now() > deadline => bail!("{dag} did not finish"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn secs(d: &RunDetails) -> f64 {
    match (d.start_date, d.end_date) {
        (Some(s), Some(e)) => (e - s).as_seconds_f64(),
        _ => f64::NAN,
    }
}

/// Runs a wide DAG of `wide` noop tasks, a task mapped `mapped` ways and a chain of `chain`.
pub async fn run(root: &Path, wide: usize, mapped: usize, chain: usize) -> anyhow::Result<Section> {
    let home = root.join("standalone");
    let bundles = home.join("bundles");
    std::fs::create_dir_all(&bundles)?;
    std::os::unix::fs::symlink(bin("bench-bundle")?, bundles.join("bench-bundle"))?;
    let _proc = Standalone(
        Command::new(bin("airlock")?)
            .args(["standalone", "--bind", "127.0.0.1:0"])
            .env("AIRLOCK_HOME", &home)
            .env("AIRLOCK_BUNDLES_DIR", &bundles)
            .env("AIRLOCK_LOG", "warn")
            .env_remove("AIRLOCK_DATABASE_URL")
            .env_remove("AIRLOCK_PARALLELISM")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("standalone.log"))?)
            .spawn()?,
    );
    let url_file = home.join("standalone.url");
    let url = wait_until(Duration::from_secs(60), "airlock standalone", || {
        std::fs::read_to_string(&url_file)
            .ok()
            .filter(|s| !s.is_empty())
    })?;
    let token = std::fs::read_to_string(home.join("admin-token"))?;
    let client = ApiClient::new(ClientConfig::new(url.trim()), token.trim())?;
    for _ in 0..600 {
        if let Ok(l) = client.list_dags().await
            && l.dags.iter().any(|d| d.dag_id == "mapped")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wide_dag = format!("wide{wide}");
    let w = run_dag(&client, &wide_dag, json!({})).await?;
    let wide_rate = w.task_instances.len() as f64 / secs(&w);
    let m = run_dag(&client, "mapped", json!({"n": mapped})).await?;
    let mapped_rate = m.task_instances.len() as f64 / secs(&m);
    let chain_dag = format!("chain{chain}");
    let c = run_dag(&client, &chain_dag, json!({})).await?;
    let mut by_task: Vec<_> = c.task_instances.iter().collect();
    by_task.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    let gaps: Vec<f64> = by_task
        .windows(2)
        .filter_map(|p| Some((p[1].start_date? - p[0].end_date?).as_seconds_f64() * 1000.0))
        .collect();
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(Section {
        title: "5. Standalone throughput".into(),
        summary: [
            "noop tasks/s end to end (aim ≥ 500)".into(),
            format!("{wide_rate:.0} ({wide} independent), {mapped_rate:.0} ({mapped}-way mapped)"),
            "not measured (no Airflow scheduler installed)".into(),
            "n/a".into(),
        ],
        header: vec![
            "DAG".into(),
            "task instances".into(),
            "run time s".into(),
            "tasks/s".into(),
        ],
        rows: vec![
            vec![
                format!("{wide} independent noop tasks"),
                w.task_instances.len().to_string(),
                format!("{:.1}", secs(&w)),
                format!("{wide_rate:.0}"),
            ],
            vec![
                format!("1 task mapped over {mapped} items"),
                m.task_instances.len().to_string(),
                format!("{:.1}", secs(&m)),
                format!("{mapped_rate:.0}"),
            ],
            vec![
                format!("chain of {chain}: upstream end → downstream start"),
                c.task_instances.len().to_string(),
                format!("{:.1}", secs(&c)),
                format!(
                    "p50 {:.1} ms, p99 {:.1} ms",
                    percentile(&gaps, 50.0),
                    percentile(&gaps, 99.0)
                ),
            ],
        ],
        notes: vec![format!(
            "`airlock standalone` on SQLite with its defaults (parallelism = {parallelism} cores): every task is a real `supervisor run` process plus a runner process; run time is the run's start to end as the server recorded them."
        )],
    })
}
