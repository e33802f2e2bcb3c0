//! The frame fuzzer: hundreds of hostile runners (seeded scripts of valid, mutated, cut-off and
//! garbage frames, unread answers, odd exits; see `airlock_e2e::hostile`) under real
//! supervisors against a real server. Every try must end, with an exit code that agrees with
//! the state the server holds, and nothing may panic.

use std::time::Duration;

use airlock_e2e::{Backend, Stack};
use futures::StreamExt;
use serde_json::json;

/// Tries at least this many seeds...
const MIN_SEEDS: u64 = 200;
/// ...and goes on, within this budget, up to this many.
const MAX_SEEDS: u64 = 300;
const BUDGET: Duration = Duration::from_secs(90);

/// The states a try may be in after its supervisor exited with `code`.
fn states_for(code: i32) -> &'static [&'static str] {
    match code {
        0 => &[
            "success",
            "skipped",
            "removed",
            "deferred",
            "up_for_reschedule",
            "awaiting_input",
        ],
        1 => &["failed"],
        2 => &["up_for_retry"],
        // The server said stop: whatever it holds, the try is no longer running.
        3 => &[
            "success",
            "failed",
            "skipped",
            "removed",
            "up_for_retry",
            "deferred",
            "up_for_reschedule",
            "scheduled",
        ],
        _ => &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_runners_end_every_try_as_the_server_records_it() {
    // No scheduler service: what a try's supervisor exit is checked against is the state it
    // left, before a pass moves it on (a reschedule or a retry to `queued`).
    let stack = Stack::start_with(Backend::Sqlite, &[("AIRLOCK_NO_SCHEDULER", "true")])
        .await
        .expect("sqlite");
    let started = tokio::time::Instant::now();
    let seeds = (0..MAX_SEEDS).take_while(|seed| *seed < MIN_SEEDS || started.elapsed() < BUDGET);
    let results: Vec<(u64, Option<i32>, String, Option<String>)> = futures::stream::iter(seeds)
        .map(|seed| {
            let stack = &stack;
            async move {
                let run_id = format!("fuzz-{seed}");
                let ti = stack
                    .seed(json!({"dag_id": "t", "run_id": run_id, "bundle_name": "airlock-test-bundle",
                        "conf": {"seed": seed},
                        "tasks": [{"task_id": "fuzz", "retries": seed % 2, "execution_timeout": 5}]}))
                    .task_instances[0]
                    .id;
                let mut cmd = stack.supervisor(ti);
                let exit = Stack::finish(&mut cmd, Duration::from_secs(60)).await;
                let state: Option<String> = sqlx::query_scalar(
                    "SELECT state FROM task_instance WHERE dag_id = 't' AND run_id = $1",
                )
                .bind(&run_id)
                .fetch_one(stack.db.pool())
                .await
                .expect("the task instance");
                (seed, exit.code, exit.stderr, state)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(results.len() as u64 >= MIN_SEEDS);
    for (seed, code, stderr, state) in &results {
        assert!(
            !stderr.contains("panicked"),
            "seed {seed}: the supervisor panicked: {stderr}"
        );
        let code = code.unwrap_or_else(|| panic!("seed {seed}: the supervisor was killed"));
        let state = state.as_deref().unwrap_or("none");
        assert!(
            states_for(code).contains(&state),
            "seed {seed}: exit {code} but the server holds {state}: {stderr}"
        );
    }
    let log = std::fs::read_to_string(&stack.server.log).unwrap();
    assert!(!log.contains("panic"), "the server panicked: {log}");
    let codes: std::collections::BTreeMap<i32, usize> =
        results
            .iter()
            .fold(Default::default(), |mut m, (_, c, _, _)| {
                *m.entry(c.unwrap_or(-1)).or_default() += 1;
                m
            });
    eprintln!(
        "{} hostile runners; supervisor exit codes: {codes:?}",
        results.len()
    );
}
