//! Task logs of a worker on another host: its log directory is not the API server's, so the
//! logs reach the API only by shipping; they are readable, and followable while the task
//! runs, through the API and `airlock tasks logs`.

use std::time::Duration;

use airlock_e2e::process::eventually;
use airlock_e2e::standalone::{WorkerProcess, airlock_cli};
use airlock_e2e::{Stack, on_both_backends};

async fn state(stack: &Stack, dag: &str, task: &str) -> Option<String> {
    sqlx::query_scalar("SELECT state FROM task_instance WHERE dag_id = $1 AND task_id = $2")
        .bind(dag)
        .bind(task)
        .fetch_optional(stack.db.pool())
        .await
        .ok()
        .flatten()
        .flatten()
}

on_both_backends!(
    a_remote_workers_task_logs_are_read_and_followed_through_the_api,
    Stack::start,
    |stack| {
        let root = stack.database.dir.path().to_owned();
        let bundles = airlock_e2e::standalone::bundles_dir(&root.join("w"));
        let admin = stack.server.admin(
            &["mint-token", "--scope", "admin", "--subject", "ops"],
            None,
        );
        let worker_logs = root.join("worker-logs");
        let _worker = WorkerProcess::start(
            &stack.server.base,
            &admin,
            &root.join("worker-home"),
            &bundles,
            &worker_logs,
            &root.join("worker.log"),
            &[("AIRLOCK_EXECUTOR_ID", "remote-1")],
        );
        let home = root.join("cli-home");
        let env = [
            ("AIRLOCK_API_URL", stack.server.base.as_str()),
            ("AIRLOCK_ADMIN_TOKEN", admin.as_str()),
        ];
        eventually(Duration::from_secs(60), "DAGs registered", || async {
            let out = airlock_cli(&home, &["dags", "list"], &env);
            // Both bundles: the test bundle's `sleeper` and the example's `etl`.
            (out.stdout.contains("sleeper") && out.stdout.contains("etl")).then_some(())
        })
        .await;

        // A finished try: its log, written on the worker's host, read through the API.
        let out = airlock_cli(
            &home,
            &["dags", "trigger", "etl", "--run-id", "L1", "--wait"],
            &env,
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        let on = |dir: &std::path::Path| {
            airlock_protocol::logs::log_path(dir, "etl", "L1", "extract", -1, 1).is_file()
        };
        assert!(
            on(&worker_logs) && !on(&stack.logs),
            "the log is on the worker's host only"
        );
        let out = airlock_cli(&home, &["tasks", "logs", "etl", "L1", "extract"], &env);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("extracted 5 orders"), "{out:?}");
        assert!(out.stdout.contains("task finished"), "{out:?}");

        // A running try: what it has written so far is readable before it ends.
        let out = airlock_cli(
            &home,
            &["dags", "trigger", "sleeper", "--run-id", "S1"],
            &env,
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        let url = format!(
            "{}/airlock/control/dags/sleeper/runs/S1/tasks/sleep/logs",
            stack.server.base
        );
        let http = airlock_e2e::http_client();
        eventually(
            Duration::from_secs(60),
            "the running task's first lines",
            || async {
                let running = state(&stack, "sleeper", "sleep").await.as_deref() == Some("running");
                let chunk: serde_json::Value = http
                    .get(&url)
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let text = chunk["content"].as_str()?;
                (running && text.contains("sleeping") && chunk["finished"] == false).then_some(())
            },
        )
        .await;
        let out = airlock_cli(&home, &["runs", "cancel", "sleeper", "S1"], &env);
        assert_eq!(out.code, Some(0), "{out:?}");
        eventually(
            Duration::from_secs(60),
            "the cancelled try's last line",
            || async {
                let out = airlock_cli(&home, &["tasks", "logs", "sleeper", "S1", "sleep"], &env);
                out.stdout.contains("task finished").then_some(())
            },
        )
        .await;
    }
);
