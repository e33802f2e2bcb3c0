//! A pool shared by two DAGs under a real `airlock standalone` whose executor could run more at
//! once: sampled every 20 ms, the pool's slots are never exceeded.

use std::time::{Duration, Instant};

use airlock_e2e::{Standalone, on_both_backends};

/// Slots of pool `p3` held (queued or running) and how many of its task instances run.
async fn held(a: &Standalone) -> (i64, i64) {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(pool_slots), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM task_instance WHERE pool = 'p3' AND state IN ('queued', 'running')",
    )
    .fetch_one(a.db.pool())
    .await
    .expect("sample")
}

async fn finished_runs(a: &Standalone) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM dag_run WHERE dag_id IN ('pooled_a', 'pooled_b') \
         AND state = 'success'",
    )
    .fetch_one(a.db.pool())
    .await
    .expect("runs")
}

on_both_backends!(
    a_pool_shared_by_two_dags_is_never_exceeded,
    Standalone::start,
    |a| {
        let out = a.cli(&["pools", "set", "p3", "3", "--description", "shared"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        for dag in ["pooled_a", "pooled_b"] {
            let out = a.cli(&["dags", "trigger", dag]);
            assert_eq!(out.code, Some(0), "{out:?}");
        }
        let (mut most_slots, mut most_running) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut every_20ms = tokio::time::interval(Duration::from_millis(20));
        while finished_runs(&a).await < 2 {
            assert!(Instant::now() < deadline, "the pooled runs did not finish");
            let (slots, running) = held(&a).await;
            assert!(slots <= 3, "pool p3 holds {slots} slots");
            most_slots = most_slots.max(slots);
            most_running = most_running.max(running);
            every_20ms.tick().await;
        }
        // The executor (4 at once) was not what held them back: the pool was full.
        assert_eq!(most_slots, 3);
        assert!(most_running >= 2, "{most_running}");
        let out = a.cli(&["pools", "list"]);
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("p3") && l.contains("shared")),
            "{out:?}"
        );
    }
);
