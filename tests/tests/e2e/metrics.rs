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
    let r = reqwest::get(format!("{base}/metrics"))
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
