//! Per-task overhead: a noop task through `supervisor run` against a local api-server (SQLite),
//! beside the floor of Airflow's per-task cost (importing its task runner and supervisor).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use airlock_api_server::admin::{RunSpec, create_run};
use airlock_api_server::auth::Scope;
use anyhow::bail;
use serde_json::json;

use crate::procs::{Server, bin, python, wait_rusage};
use crate::report::Section;
use crate::stats::{median, percentile, spread};

/// The runner's peak RSS from the supervisor's last log line.
fn runner_rss(log: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        v.get("runner_max_rss_kib")?.as_f64()
    })
}

fn python_import(module: &str, runs: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut ms, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        let child = Command::new(python()?)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .spawn()?;
        let done = wait_rusage(child)?;
        if done.code != Some(0) {
            bail!("python -c 'import {module}' failed");
        }
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
        rss.push(done.max_rss_kib as f64 / 1024.0);
    }
    Ok((ms, rss))
}

/// Runs `tasks` noop tries one after another, and `imports` Python imports of each module.
pub async fn run(root: &Path, tasks: usize, imports: usize) -> anyhow::Result<Section> {
    let server = Server::start(&root.join("per-task"), None, &[]).await?;
    let bundles = root.join("per-task/bundles");
    std::fs::create_dir_all(&bundles)?;
    std::os::unix::fs::symlink(bin("bench-bundle")?, bundles.join("bench-bundle"))?;
    let logs = root.join("per-task/logs");
    let spec: RunSpec = serde_json::from_value(json!({
        "dag_id": "one", "run_id": "r", "bundle_name": "bench-bundle",
        "tasks": (0..tasks).map(|i| json!({"task_id": "noop", "map_index": i})).collect::<Vec<_>>()
    }))?;
    let created = create_run(&server.db, &spec, airlock_store::now()).await?;
    let supervisor = bin("supervisor")?;
    let (mut wall, mut sup_rss, mut run_rss) = (Vec::new(), Vec::new(), Vec::new());
    for ti in &created.task_instances {
        let token = server.tokens.issue(ti.id, Scope::Workload, None);
        let start = Instant::now();
        let child = Command::new(&supervisor)
            .args(["run", &ti.id.to_string()])
            .env("AIRLOCK_TOKEN", token)
            .env("AIRLOCK_API_URL", &server.base)
            .env("AIRLOCK_BUNDLES_DIR", &bundles)
            .env("AIRLOCK_LOG_DIR", &logs)
            .env("AIRLOCK_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let done = wait_rusage(child)?;
        wall.push(start.elapsed().as_secs_f64() * 1000.0);
        if done.code != Some(0) {
            bail!("supervisor run {} exited with {:?}", ti.id, done.code);
        }
        sup_rss.push(done.max_rss_kib as f64 / 1024.0);
        let log = airlock_protocol::logs::log_path(&logs, "one", "r", "noop", ti.map_index, 1);
        if let Some(kib) = runner_rss(&log) {
            run_rss.push(kib / 1024.0);
        }
    }
    let (runner_ms, runner_mb) = python_import("airflow.sdk.execution_time.task_runner", imports)?;
    let (sup_ms, sup_mb) = python_import("airflow.sdk.execution_time.supervisor", imports)?;
    let floor: Vec<f64> = runner_ms.iter().zip(&sup_ms).map(|(a, b)| a + b).collect();
    let ours = median(&wall);
    Ok(Section {
        title: "2. Per-task overhead".into(),
        summary: [
            "ms per noop task, spawn to exit (lower is better)".into(),
            format!("{ours:.1} (p99 {:.1})", percentile(&wall, 99.0)),
            format!(
                "{} (Airflow: import task_runner + import supervisor, no task run)",
                spread(&floor, 0)
            ),
            format!("{:.1}× less", median(&floor) / ours),
        ],
        header: vec![
            "what".into(),
            "wall ms".into(),
            "peak RSS MiB".into(),
        ],
        rows: vec![
            vec![
                format!("Airlock `supervisor run` of a noop task ({tasks} tries)"),
                format!("median {ours:.1}, p99 {:.1}", percentile(&wall, 99.0)),
                format!(
                    "supervisor {}, runner {}",
                    spread(&sup_rss, 1),
                    spread(&run_rss, 1)
                ),
            ],
            vec![
                format!("python -c 'import airflow.sdk.execution_time.task_runner' ({imports} runs)"),
                spread(&runner_ms, 0),
                spread(&runner_mb, 1),
            ],
            vec![
                format!("python -c 'import airflow.sdk.execution_time.supervisor' ({imports} runs)"),
                spread(&sup_ms, 0),
                spread(&sup_mb, 1),
            ],
        ],
        notes: vec![
            "Airlock's wall time covers the whole try: the supervisor fetches the task instance, starts the runner, `PATCH /run`, startup details, the task, `PATCH /state`, log flush and exit; tries run one after another against one api-server on SQLite.".into(),
            "Peak RSS: the supervisor's from wait4; the runner's as the supervisor records it (getrusage of its waited child) in the task log.".into(),
            "Airflow's figures are only the imports every Airflow task pays before doing anything (its supervisor and task runner are separate Python processes, each importing its module); they are a floor, not a full try.".into(),
        ],
    })
}
