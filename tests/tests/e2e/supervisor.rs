//! `supervisor run` with real runners: outcomes, timeouts, kills, protocol attacks, secrets.

use airlock_store as store;
use std::time::Duration;

use airlock_e2e::{Stack, on_both_backends};
use serde_json::{Value, json};

on_both_backends!(success_passes_xcoms_between_tasks, Stack::start, |stack| {
    let run = stack.seed(
        json!({"dag_id": "t", "run_id": "x", "bundle_name": "airlock-test-bundle",
        "tasks": [{"task_id": "produce"}, {"task_id": "consume"}]}),
    );
    for ti in &run.task_instances {
        let exit = stack.run(ti.id).await;
        assert_eq!(exit.code, Some(0), "{}", exit.stderr);
        assert_eq!(
            stack.ti(ti.id).await.state.map(|s| s.as_str()),
            Some("success")
        );
    }
    assert_eq!(
        stack.return_value("t", "x", "produce").await,
        Some(json!([1, 2, 3]))
    );
    assert_eq!(
        stack.return_value("t", "x", "consume").await,
        Some(json!({"sum": 6, "extra": {"side": "channel"}}))
    );
    let log = stack.log_of("t", "x", "consume", 1);
    assert!(
        log.contains("\"logger\":\"task\"") && log.contains("task succeeded"),
        "{log}"
    );
});

on_both_backends!(
    failure_retry_skip_and_reschedule_are_reported,
    Stack::start,
    |stack| {
        let fail = stack.seed_task("fail", json!({}));
        let exit = stack.run(fail).await;
        assert_eq!(exit.code, Some(1), "{}", exit.stderr);
        assert_eq!(
            stack.ti(fail).await.state.map(|s| s.as_str()),
            Some("failed")
        );
        assert!(
            stack
                .log_of("t", "r-fail", "fail", 1)
                .contains("this task always fails")
        );

        let retry = stack
            .seed(
                json!({"dag_id": "t", "run_id": "retry", "bundle_name": "airlock-test-bundle",
        "tasks": [{"task_id": "fail", "retries": 2}]}),
            )
            .task_instances[0]
            .id;
        let exit = stack.run(retry).await;
        assert_eq!(exit.code, Some(2), "{}", exit.stderr);
        let (state, reason): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT state, retry_reason FROM task_instance WHERE run_id = 'retry'")
                .fetch_one(stack.db.pool())
                .await
                .unwrap();
        assert_eq!(state.as_deref(), Some("up_for_retry"));
        assert!(reason.unwrap().contains("always fails"));

        let skip = stack.seed_task("skip", json!({}));
        assert_eq!(stack.run(skip).await.code, Some(0));
        assert_eq!(
            stack.ti(skip).await.state.map(|s| s.as_str()),
            Some("skipped")
        );

        let resched = stack.seed_task("reschedule", json!({}));
        assert_eq!(stack.run(resched).await.code, Some(0));
        assert_eq!(
            stack.ti(resched).await.state.map(|s| s.as_str()),
            Some("up_for_reschedule")
        );
    }
);

on_both_backends!(
    variables_and_connections_reach_the_task_but_passwords_not_the_log,
    Stack::start,
    |stack| {
        stack
            .server
            .admin(&["set-variable", "greeting", "hello"], None);
        let cipher = airlock_api_server::config::SecretArgs::default()
            .cipher(&stack.server.home)
            .unwrap();
        airlock_api_server::admin::set_connection(
            &stack.db,
            &cipher,
            &airlock_protocol::api::ConnectionResponse {
                conn_id: "warehouse".into(),
                conn_type: "postgres".into(),
                host: Some("db.internal".into()),
                schema: None,
                login: Some("etl".into()),
                password: Some("pa55w0rd-xyz".into()),
                port: Some(5432),
                extra: None,
            },
        )
        .await
        .unwrap();
        let ti = stack.seed_task("var_conn", json!({}));
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(0), "{}", exit.stderr);
        assert_eq!(
            stack.return_value("t", "r-var_conn", "var_conn").await,
            Some(json!({
        "greeting": "hello", "missing": null, "conn_host": "db.internal", "conn_password_len": 12, "no_conn": true}))
        );
        let log = stack.log_of("t", "r-var_conn", "var_conn", 1);
        assert!(log.contains("connecting with password ***"), "{log}");
        assert!(!log.contains("pa55w0rd-xyz"), "the password was redacted");
    }
);

on_both_backends!(
    a_panic_fails_the_task_with_its_message_in_the_log,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("panics", json!({}));
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(1), "{}", exit.stderr);
        assert_eq!(stack.ti(ti).await.state.map(|s| s.as_str()), Some("failed"));
        let log = stack.log_of("t", "r-panics", "panics", 1);
        assert!(log.contains("index out of bounds"), "{log}");
        assert!(log.contains("task panicked"), "{log}");
    }
);

on_both_backends!(
    a_runner_killed_mid_task_is_reported,
    Stack::start,
    |stack| {
        let ti = stack
            .seed(
                json!({"dag_id": "t", "run_id": "k", "bundle_name": "airlock-test-bundle",
        "tasks": [{"task_id": "sleep", "retries": 1}]}),
            )
            .task_instances[0]
            .id;
        let sup = stack.supervisor(ti).spawn().unwrap();
        let pid = stack.wait_running(ti).await;
        // Kill it mid-task: once the task has started and written to stdout.
        let log_path = airlock_supervisor::logs::log_path(&stack.logs, "t", "k", "sleep", -1, 1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("sleeping on stdout")) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the task did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(30), sup.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (state, reason): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT state, retry_reason FROM task_instance WHERE run_id = 'k'")
                .fetch_one(stack.db.pool())
                .await
                .unwrap();
        assert_eq!(
            state.as_deref(),
            Some("up_for_retry"),
            "reported, not left running"
        );
        assert!(reason.unwrap().contains("SIGKILL"));
        let log = stack.log_of("t", "k", "sleep", 1);
        assert!(
            log.contains("sleeping on stdout") && log.contains("task.stdout"),
            "stdout is captured: {log}"
        );
    }
);

on_both_backends!(
    execution_timeout_kills_a_runner_that_ignores_sigterm,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("ignore_sigterm", json!({"execution_timeout": 1.0}));
        let started = std::time::Instant::now();
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(1), "{}", exit.stderr);
        assert_eq!(stack.ti(ti).await.state.map(|s| s.as_str()), Some("failed"));
        let log = stack.log_of("t", "r-ignore_sigterm", "ignore_sigterm", 1);
        assert!(log.contains("ignoring SIGTERM from now on"), "{log}");
        assert!(log.contains("sending SIGKILL"), "{log}");
        assert!(log.contains("execution timeout"), "{log}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
);

on_both_backends!(
    a_task_cleared_on_the_server_is_stopped,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("sleep", json!({}));
        let sup = stack.supervisor(ti).spawn().unwrap();
        let pid = stack.wait_running(ti).await;
        airlock_store::dag_runs::clear_dag_run(&stack.db, "t", "r-sleep", airlock_store::now())
            .await
            .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(30), sup.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
            "the runner is gone"
        );
        let log = stack.log_of("t", "r-sleep", "sleep", 1);
        assert!(log.contains("the server says the try must stop"), "{log}");
        assert!(
            !log.contains("sending SIGKILL"),
            "SIGTERM was enough, within the grace period: {log}"
        );
        assert_eq!(
            stack.ti(ti).await.state.map(|s| s.as_str()),
            Some("restarting"),
            "no state report after a stop"
        );
    }
);

on_both_backends!(
    protocol_attacks_fail_the_task_without_hurting_the_supervisor,
    Stack::start,
    |stack| {
        for task in ["garbage_frame", "truncated_frame", "huge_frame"] {
            let ti = stack.seed_task(task, json!({}));
            let exit = stack.run(ti).await;
            assert_eq!(exit.code, Some(1), "{task}: {}", exit.stderr);
            assert_eq!(
                stack.ti(ti).await.state.map(|s| s.as_str()),
                Some("failed"),
                "{task}"
            );
            let log = stack.log_of("t", &format!("r-{task}"), task, 1);
            assert!(
                log.contains("broke the protocol") || log.contains("frame"),
                "{task}: {log}"
            );
        }
        let log = stack.log_of("t", "r-huge_frame", "huge_frame", 1);
        assert!(log.contains("exceeds the limit"), "{log}");
    }
);

on_both_backends!(
    an_undecodable_request_gets_an_error_answer,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("undecodable_request", json!({}));
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(0), "{}", exit.stderr);
        let answer = stack
            .return_value("t", "r-undecodable_request", "undecodable_request")
            .await
            .unwrap();
        assert_eq!(answer["id"], 5);
        assert_eq!(answer["error"]["status_code"], 400);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Cannot decode request")
        );
    }
);

on_both_backends!(the_runner_cannot_find_the_token, Stack::start, |stack| {
    let ti = stack.seed_task("steal_token", json!({}));
    let mut cmd = stack.supervisor(ti);
    if nix::unistd::geteuid().is_root() {
        // A root runner could read any process's memory: run tasks as an unprivileged user.
        cmd.env("AIRLOCK_RUN_AS_USER", "nobody");
    }
    let exit = Stack::finish(&mut cmd, Duration::from_secs(60)).await;
    assert_eq!(exit.code, Some(0), "{}", exit.stderr);
    let report: Value = stack
        .return_value("t", "r-steal_token", "steal_token")
        .await
        .unwrap();
    assert_eq!(report["env_has_token"], false, "{report}");
    assert_eq!(report["environ_has_token"], false, "{report}");
    assert_eq!(report["mem_has_token"], false, "{report}");
    assert_eq!(
        report["environ_readable"], false,
        "the supervisor is not dumpable: {report}"
    );
    assert_eq!(report["mem_readable"], false, "{report}");
});

on_both_backends!(
    a_deferred_task_resumes_in_its_next_method,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("waits", json!({}));
        let exit = stack.run(ti).await;
        assert_eq!(
            exit.code,
            Some(0),
            "deferred is not a failure: {}",
            exit.stderr
        );
        let row = stack.ti(ti).await;
        assert_eq!(row.state.map(|s| s.as_str()), Some("deferred"));
        assert_eq!(row.next_method.as_deref(), Some("on_event"));
        let (classpath,): (String,) =
            sqlx::query_as("SELECT classpath FROM triggers WHERE id = $1")
                .bind(row.trigger_id.unwrap())
                .fetch_one(stack.db.pool())
                .await
                .unwrap();
        assert!(classpath.ends_with("temporal.DateTimeTrigger"));
        // What the triggerer does when the trigger fires, then what the scheduler does.
        store::triggers::submit_trigger_event(
            &stack.db,
            row.trigger_id.unwrap(),
            &json!("fired!"),
            store::now(),
        )
        .await
        .unwrap();
        store::triggers::queue_task_instances(&stack.db, &[ti], store::now())
            .await
            .unwrap();
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(0), "{}", exit.stderr);
        assert_eq!(
            stack.ti(ti).await.state.map(|s| s.as_str()),
            Some("success")
        );
        assert_eq!(
            stack.return_value("t", "r-waits", "waits").await,
            Some(
                json!({"method": "on_event", "kwargs": {"note": "hello", "event": "fired!"}, "try": 1})
            )
        );
    }
);

on_both_backends!(
    start_refusals_give_distinct_exit_codes,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("sleep", json!({}));
        let first = stack.supervisor(ti).spawn().unwrap();
        stack.wait_running(ti).await;
        let second = stack.run(ti).await;
        assert_eq!(second.code, Some(5), "already running: {}", second.stderr);
        assert!(
            second.stderr.contains("already running"),
            "{}",
            second.stderr
        );
        drop(first);
        let done = stack.seed_task("ok", json!({}));
        assert_eq!(stack.run(done).await.code, Some(0));
        let again = stack.run(done).await;
        assert_eq!(again.code, Some(4), "not queued any more: {}", again.stderr);
        // A task instance whose bundle has no executable.
        let lost = stack.seed(json!({"dag_id": "t", "run_id": "lost", "bundle_name": "no-such-bundle", "tasks": [{"task_id": "ok"}]}));
        let exit = stack.run(lost.task_instances[0].id).await;
        assert_eq!(exit.code, Some(4));
        assert!(
            exit.stderr.contains("no runner executable"),
            "{}",
            exit.stderr
        );
    }
);

on_both_backends!(
    an_unreachable_server_stops_the_task_after_a_bounded_run_of_failed_heartbeats,
    Stack::start,
    |stack| {
        let mut stack = stack;
        let ti = stack.seed_task("sleep", json!({}));
        let mut cmd = stack.supervisor(ti);
        cmd.env("AIRLOCK_OUTAGE_BUDGET", "2s")
            .env("AIRLOCK_API_TIMEOUT", "1");
        let sup = cmd.spawn().unwrap();
        let pid = stack.wait_running(ti).await;
        // `running` is committed before the supervisor reads the answer to `PATCH /run`: wait
        // until the task itself runs (it logs), so the server dies mid-task, not mid-start.
        airlock_e2e::process::wait_for(Duration::from_secs(30), "the task to start", || {
            let path =
                airlock_supervisor::logs::log_path(&stack.logs, "t", "r-sleep", "sleep", -1, 1);
            std::fs::read_to_string(path)
                .ok()
                .filter(|log| log.contains("sleeping"))
                .map(drop)
        });
        // The API server goes away mid-task.
        stack.server.signal(nix::sys::signal::Signal::SIGKILL);
        stack.server.wait_exit(Duration::from_secs(10));
        let out = tokio::time::timeout(Duration::from_secs(60), sup.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(6),
            "the outcome could not be reported: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
            "the runner was stopped"
        );
        let log = stack.log_of("t", "r-sleep", "sleep", 1);
        assert!(log.contains("heartbeats failed for"), "{log}");
        assert!(log.contains("could not report the final state"), "{log}");
    }
);

on_both_backends!(
    sigterm_to_the_supervisor_reaches_the_runner_and_is_reported,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("sleep", json!({}));
        let mut cmd = stack.supervisor(ti);
        cmd.env("AIRLOCK_MIRROR_LOGS", "true");
        let sup = cmd.spawn().unwrap();
        let pid = stack.wait_running(ti).await;
        let sup_pid = nix::unistd::Pid::from_raw(sup.id().unwrap() as i32);
        nix::sys::signal::kill(sup_pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(30), sup.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err());
        assert_eq!(stack.ti(ti).await.state.map(|s| s.as_str()), Some("failed"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("received signal 15"),
            "the log is mirrored to stdout: {stdout}"
        );
    }
);
