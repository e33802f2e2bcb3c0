//! Mapping past Airflow's default ceiling: with `--max-map-length 1100`, a task mapped over
//! 1,100 items runs all of them and its downstream sees every result; one item more fails the
//! source with the reason, expanding nothing.

use std::time::Duration;

use airlock_e2e::Backend;
use airlock_e2e::on_both_backends;
use airlock_e2e::process::eventually;
use airlock_e2e::standalone::Standalone;
use airlock_protocol::api::RunDetails;
use airlock_protocol::state::DagRunState;
use serde_json::{Value, json};

const WIDTH: u64 = 1100;

/// Triggers `wide_map` over `n` items and waits (bounded, on the database) for the run to end:
/// a thousand tries of debug builds on a busy machine may take longer than `--wait`'s command
/// timeout allows.
async fn run_wide_map(a: &Standalone, n: u64) -> RunDetails {
    let conf: Value = json!({ "n": n });
    let out = a.cli(&["dags", "trigger", "wide_map", "--conf", &conf.to_string()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let run_id = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Triggered wide_map: run "))
        .unwrap_or_else(|| panic!("no run id in {out:?}"))
        .trim()
        .to_owned();
    eventually(Duration::from_secs(900), "the wide map to end", || async {
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM dag_run WHERE dag_id = 'wide_map' AND run_id = $1",
        )
        .bind(&run_id)
        .fetch_optional(a.db.pool())
        .await
        .ok()
        .flatten();
        state.filter(|s| s == "success" || s == "failed")
    })
    .await;
    a.details("wide_map", &run_id)
}

async fn start(backend: Backend) -> Option<Standalone> {
    Standalone::start_with(backend, &[("AIRLOCK_MAX_MAP_LENGTH", "1100")]).await
}

fn state_of(run: &RunDetails, task: &str) -> Vec<String> {
    run.task_instances
        .iter()
        .filter(|t| t.task_id == task)
        .map(|t| t.state.map_or("none", |s| s.as_str()).to_owned())
        .collect()
}

on_both_backends!(
    a_task_maps_past_the_default_ceiling_when_allowed,
    start,
    |a| {
        let run = run_wide_map(&a, WIDTH).await;
        assert_eq!(run.state, DagRunState::Success);
        let squares = state_of(&run, "square");
        assert_eq!(squares.len() as u64, WIDTH);
        assert!(squares.iter().all(|s| s == "success"), "{squares:?}");
        let sum = a
            .return_value("wide_map", &run.run_id, "sum", -1)
            .await
            .unwrap_or_else(|| panic!("no sum"));
        // Σ i² for i < n = (n - 1) n (2n - 1) / 6
        let expected = (WIDTH - 1) * WIDTH * (2 * WIDTH - 1) / 6;
        assert_eq!(sum, json!({"count": WIDTH, "sum": expected}));

        // One more than the limit: the source's push of a list too long to map is refused (as
        // in Airflow), so the source fails saying why and the mapped task never expands.
        let over = run_wide_map(&a, WIDTH + 1).await;
        assert_eq!(over.state, DagRunState::Failed);
        assert_eq!(state_of(&over, "numbers"), ["failed"]);
        assert_eq!(state_of(&over, "square"), ["upstream_failed"]);
        let log = a.cli(&["tasks", "logs", "wide_map", &over.run_id, "numbers"]);
        assert!(log.stdout.contains("1101 > max_map_length 1100"), "{log:?}");
    }
);
