//! `GET /metrics` of a real `airlock standalone` after a run: what it counts matches what
//! `airlock runs show` says, and requests, claims and scheduler passes were recorded.

use airlock_e2e::{Backend, Standalone};
use serde_json::json;

/// The value of the sample `name{labels}` (labels as the exposition writes them, in order).
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_run_match_what_runs_show_says() {
    let a = Standalone::start(Backend::Sqlite).await.expect("sqlite");
    let (out, run) = a.run_dag("fan_out", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    let base = a.api_url();
    let base = base.trim_end_matches("/execution");
    let r = airlock_e2e::http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.expect("body");
    assert!(text.ends_with("# EOF\n"), "{text}");

    let succeeded = run
        .task_instances
        .iter()
        .filter(|ti| ti.state.map(|s| s.as_str()) == Some("success"))
        .count() as f64;
    assert_eq!(succeeded, 26.0, "discover, 24 × process, merge");
    let ti_success = sample(
        &text,
        r#"airlock_task_instances{state="success",queue="default"}"#,
    );
    assert_eq!(ti_success, Some(succeeded), "{text}");
    assert_eq!(
        sample(&text, r#"airlock_dag_runs{state="success"}"#),
        Some(1.0),
        "{text}"
    );
    let claimed = sample(&text, "airlock_claimed_task_instances_total").unwrap_or(0.0);
    assert!(claimed >= succeeded, "{text}");
    let starts = sample(
        &text,
        r#"airlock_http_request_duration_seconds_count{route="/execution/task-instances/{task_instance_id}/run",method="PATCH",status="200"}"#,
    )
    .unwrap_or(0.0);
    assert!(starts >= succeeded, "{text}");
    let passes = sample(&text, "airlock_scheduler_pass_duration_seconds_count").unwrap_or(0.0);
    assert!(passes >= 1.0, "{text}");
}

async fn scrape(addr: &str) -> Option<String> {
    airlock_e2e::http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// A worker and a triggerer on their own, each with `--metrics-bind`: a deferred task's run shows
/// in both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_triggerers_serve_their_own_metrics() {
    use std::time::Duration;

    use airlock_e2e::Stack;
    use airlock_e2e::process::{eventually, free_port};
    use airlock_e2e::standalone::{WorkerProcess, airlock_cli};

    let stack = Stack::start(Backend::Sqlite).await.expect("sqlite");
    let root = stack.database.dir.path().to_owned();
    let admin = stack.server.admin(
        &["mint-token", "--scope", "admin", "--subject", "ops"],
        None,
    );
    let (worker_addr, triggerer_addr) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let _worker = WorkerProcess::start(
        &stack.server.base,
        &admin,
        &root.join("worker-home"),
        &airlock_e2e::standalone::bundles_dir(&root.join("w")),
        &stack.logs,
        &root.join("worker.log"),
        &[
            ("AIRLOCK_METRICS_BIND", worker_addr.as_str()),
            ("AIRLOCK_PARALLELISM", "3"),
        ],
    );
    let _triggerer = stack.triggerer("t1", &[("AIRLOCK_METRICS_BIND", triggerer_addr.as_str())]);
    let home = root.join("cli-home");
    let env = [
        ("AIRLOCK_API_URL", stack.server.base.as_str()),
        ("AIRLOCK_ADMIN_TOKEN", admin.as_str()),
    ];
    eventually(Duration::from_secs(60), "DAGs registered", || async {
        let out = airlock_cli(&home, &["dags", "list"], &env);
        out.stdout.contains("wait_for_time").then_some(())
    })
    .await;
    let out = airlock_cli(&home, &["dags", "trigger", "wait_for_time", "--wait"], &env);
    assert_eq!(out.code, Some(0), "{out:?}");

    let value = |text: &str, name: &str| sample(text, name).unwrap_or(-1.0);
    // The task ran twice (deferred, then resumed): two clean supervisor exits, no slot left.
    let worker = eventually(Duration::from_secs(30), "the worker's metrics", || async {
        let text = scrape(&worker_addr).await?;
        (value(&text, r#"airlock_worker_supervisor_exits_total{code="0"}"#) >= 2.0
            && value(&text, "airlock_worker_slots_in_use") == 0.0)
            .then_some(text)
    })
    .await;
    assert_eq!(value(&worker, "airlock_worker_slots"), 3.0, "{worker}");
    let triggerer = eventually(
        Duration::from_secs(30),
        "the triggerer's metrics",
        || async {
            let text = scrape(&triggerer_addr).await?;
            (value(&text, "airlock_triggerer_outcomes_reported_total") >= 1.0).then_some(text)
        },
    )
    .await;
    for name in [
        "airlock_triggerer_outcome_batches_total",
        "airlock_triggerer_fire_lateness_seconds_count",
    ] {
        assert!(value(&triggerer, name) >= 1.0, "{name}: {triggerer}");
    }
    assert_eq!(
        value(&triggerer, "airlock_triggerer_triggers_held"),
        0.0,
        "{triggerer}"
    );
}
