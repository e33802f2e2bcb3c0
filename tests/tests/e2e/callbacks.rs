//! Callbacks in `airlock standalone`: run isolated like tasks when a try is retried, fails or
//! succeeds and when the run ends; one that panics or hangs is reported and changes nothing;
//! a server killed between a failure and its callback still runs it, once.

use std::time::Duration;

use airlock_e2e::process::eventually;
use airlock_e2e::{Backend, Standalone, on_both_backends};
use serde_json::{Value, json};

async fn start(backend: Backend) -> Option<Standalone> {
    // Long enough that the restart below cannot make a zombie of a try in flight.
    Standalone::start_with(backend, &[("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "120")]).await
}

async fn run_state(sa: &Standalone, run_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT state FROM dag_run WHERE dag_id = 'called_back' AND run_id = $1")
        .bind(run_id)
        .fetch_optional(sa.db.pool())
        .await
        .unwrap()
}

/// The callbacks' task instances of a run: (task id, map index, state, try number).
async fn callbacks(sa: &Standalone, run_id: &str) -> Vec<(String, i64, Option<String>, i64)> {
    sqlx::query_as(
        "SELECT task_id, map_index, state, try_number FROM task_instance \
         WHERE dag_id = 'called_back' AND run_id = $1 AND task_id LIKE '\\_\\_on\\_%' ESCAPE '\\' \
         ORDER BY task_id, map_index",
    )
    .bind(run_id)
    .fetch_all(sa.db.pool())
    .await
    .unwrap()
}

async fn said(sa: &Standalone, run_id: &str, task_id: &str, map_index: i64) -> Option<Value> {
    let v: Option<String> = sqlx::query_scalar(
        "SELECT value FROM xcom WHERE dag_id = 'called_back' AND run_id = $1 AND task_id = $2 \
         AND map_index = $3 AND key = 'return_value'",
    )
    .bind(run_id)
    .bind(task_id)
    .bind(map_index)
    .fetch_optional(sa.db.pool())
    .await
    .unwrap();
    v.map(|v| serde_json::from_str(&v).unwrap())
}

fn finished(state: &Option<String>) -> bool {
    matches!(state.as_deref(), Some("failed" | "success"))
}

on_both_backends!(
    callbacks_run_isolated_once_and_change_nothing,
    start,
    |sa| {
        let mut sa = sa;
        let out = sa.cli(&["dags", "trigger", "called_back", "--run-id", "c1"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        eventually(Duration::from_secs(60), "c1 to end", || async {
            finished(&run_state(&sa, "c1").await).then_some(())
        })
        .await;
        assert_eq!(run_state(&sa, "c1").await.as_deref(), Some("failed"));
        let cbs = callbacks(&sa, "c1").await;
        let state_of = |task: &str, map_index: i64| {
            cbs.iter()
                .find(|c| c.0 == task && c.1 == map_index)
                .map(|c| c.2.clone().unwrap_or_default())
        };
        // Each once; a task callback's map index is the try it follows.
        assert_eq!(cbs.len(), 5, "{cbs:?}");
        assert!(cbs.iter().all(|c| c.3 == 1), "never retried: {cbs:?}");
        assert_eq!(state_of("__on_retry__:fail", 1).as_deref(), Some("success"));
        assert_eq!(
            state_of("__on_failure__:fail", 2).as_deref(),
            Some("failed")
        );
        assert_eq!(state_of("__on_success__:ok", 1).as_deref(), Some("success"));
        assert_eq!(
            state_of("__on_success__:ok_too", 1).as_deref(),
            Some("failed")
        );
        assert_eq!(state_of("__on_failure__", -1).as_deref(), Some("success"));
        assert_eq!(
            said(&sa, "c1", "__on_retry__:fail", 1).await,
            Some(json!({"event": "retry", "of_task": "fail", "try": 1}))
        );
        assert_eq!(
            said(&sa, "c1", "__on_failure__", -1).await,
            Some(json!({"event": "failure", "of_task": null, "try": null}))
        );
        // The ones that panicked and hung say why in their logs; the tasks they follow kept
        // their states.
        let log = |task: &str, map_index: i64| {
            std::fs::read_to_string(airlock_protocol::logs::log_path(
                &sa.home.join("logs"),
                "called_back",
                "c1",
                task,
                map_index,
                1,
            ))
            .unwrap_or_default()
        };
        assert!(
            log("__on_failure__:fail", 2).contains("this callback panics"),
            "{}",
            log("__on_failure__:fail", 2)
        );
        let hung = log("__on_success__:ok_too", 1);
        assert!(
            hung.contains("timeout") || hung.contains("timed out"),
            "{hung}"
        );
        let tasks: Vec<(String, String)> = sqlx::query_as(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'called_back' \
         AND run_id = 'c1' AND task_id IN ('fail', 'ok', 'ok_too') ORDER BY task_id",
        )
        .fetch_all(sa.db.pool())
        .await
        .unwrap();
        assert_eq!(
            tasks,
            [
                ("fail".to_owned(), "failed".to_owned()),
                ("ok".to_owned(), "success".to_owned()),
                ("ok_too".to_owned(), "success".to_owned())
            ]
        );

        // Killed as soon as `fail` has failed for good: its callback still runs, once.
        let out = sa.cli(&["dags", "trigger", "called_back", "--run-id", "c2"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        eventually(Duration::from_secs(60), "c2's final failure", || async {
            let s: Option<(Option<String>, i64)> = sqlx::query_as(
                "SELECT state, try_number FROM task_instance WHERE dag_id = 'called_back' \
             AND run_id = 'c2' AND task_id = 'fail'",
            )
            .fetch_optional(sa.db.pool())
            .await
            .unwrap();
            (s == Some((Some("failed".to_owned()), 2))).then_some(())
        })
        .await;
        sa.crash();
        sa.start_again();
        eventually(Duration::from_secs(90), "c2 to end", || async {
            finished(&run_state(&sa, "c2").await).then_some(())
        })
        .await;
        let cbs = callbacks(&sa, "c2").await;
        let failure: Vec<_> = cbs
            .iter()
            .filter(|c| c.0 == "__on_failure__:fail")
            .collect();
        assert_eq!(failure.len(), 1, "{cbs:?}");
        assert_eq!((failure[0].1, failure[0].3), (2, 1), "{cbs:?}");
        assert_eq!(
            failure[0].2.as_deref(),
            Some("failed"),
            "it ran (and panicked)"
        );
    }
);
