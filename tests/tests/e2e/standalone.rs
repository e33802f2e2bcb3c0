//! `airlock standalone` and `airlock worker` over real processes: the example DAGs, trigger
//! rules, mapping, many tasks, executor failures, and a worker killed mid-run.

use std::collections::BTreeMap;
use std::time::Duration;

use airlock_e2e::process::wait_for;
use airlock_e2e::standalone::{WorkerProcess, airlock_cli, bundles_dir};
use airlock_e2e::{Stack, Standalone, on_both_backends};
use airlock_protocol::api::RunDetails;
use airlock_protocol::state::DagRunState;
use serde_json::json;

fn states(d: &RunDetails) -> BTreeMap<String, String> {
    d.task_instances
        .iter()
        .map(|t| {
            let key = if t.map_index >= 0 {
                format!("{}[{}]", t.task_id, t.map_index)
            } else {
                t.task_id.clone()
            };
            (
                key,
                t.state.map_or("none".into(), |s| s.as_str().to_owned()),
            )
        })
        .collect()
}

fn count_in(d: &RunDetails, state: &str) -> usize {
    states(d).values().filter(|s| *s == state).count()
}

on_both_backends!(
    the_example_dags_reach_their_final_states,
    Standalone::start,
    |a| {
        // ETL: XComs flow from extract to load.
        let (out, etl) = a.run_dag("etl", json!({}));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(etl.state, DagRunState::Success);
        assert_eq!(count_in(&etl, "success"), 3, "{:?}", states(&etl));
        let load = a
            .return_value("etl", &etl.run_id, "load", -1)
            .await
            .unwrap();
        assert_eq!(
            (load["orders"].clone(), load["total_cents"].clone()),
            (json!(5), json!(18750))
        );
        assert!(out.stdout.contains("of etl: success"), "{}", out.stdout);
        let logs = a.cli(&["tasks", "logs", "etl", &etl.run_id, "load"]);
        assert!(logs.stdout.contains("loading 5 orders"), "{logs:?}");

        // Fan-out: 24 files found at run time, one mapped task instance each, merged.
        let (out, fan) = a.run_dag("fan_out", json!({"files": 24}));
        assert_eq!(out.code, Some(0), "{out:?}");
        let s = states(&fan);
        assert_eq!(s.len(), 26, "{s:?}");
        for i in 0..24 {
            assert_eq!(s[&format!("process[{i}]")], "success");
        }
        let merged = a
            .return_value("fan_out", &fan.run_id, "merge", -1)
            .await
            .unwrap();
        assert_eq!(merged, json!({"files": 24, "lines": 300, "total": 26000}));
        let one = a
            .return_value("fan_out", &fan.run_id, "process", 7)
            .await
            .unwrap();
        assert_eq!(one["lines"], 8, "map index 7 processed the eighth file");

        // External job: the task defers while the triggerer polls the job, then resumes.
        let service = airlock_e2e::process::JobService::start(1.0);
        let (out, ext) = a.run_dag("external_job", json!({"service": service.addr}));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("deferred"), "{}", out.stdout);
        let job = a
            .return_value("external_job", &ext.run_id, "run_job", -1)
            .await
            .unwrap();
        assert_eq!(job, json!({"job": "1", "result": {"rows": 42}}));
        let report = a
            .return_value("external_job", &ext.run_id, "report", -1)
            .await
            .unwrap();
        assert_eq!(report, job);

        // Flaky: fails its first try, succeeds on the second.
        let (out, flaky) = a.run_dag("flaky", json!({}));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(flaky.task_instances[0].try_number, 2);
        let first: String = sqlx::query_scalar(
        "SELECT state FROM task_instance_history WHERE dag_id = 'flaky' AND run_id = $1 AND try_number = 1",
    )
    .bind(&flaky.run_id)
    .fetch_one(a.db.pool())
    .await
    .unwrap();
        assert_eq!(first, "up_for_retry");
        let try1 = a.cli(&[
            "tasks",
            "logs",
            "flaky",
            &flaky.run_id,
            "flaky_once",
            "--try",
            "1",
        ]);
        assert!(try1.stdout.contains("fails on purpose"), "{try1:?}");

        // A failing DAG: --wait exits 1.
        let (out, broken) = a.run_dag("broken", json!({}));
        assert_eq!(out.code, Some(1), "{out:?}");
        assert_eq!(broken.state, DagRunState::Failed);

        let list = a.cli(&["dags", "list"]);
        assert!(
            list.stdout.contains(&format!("{} (success)", etl.run_id)),
            "{}",
            list.stdout
        );
    }
);

/// What each rule does over each upstream set (see the test bundle's `rules` DAG).
const EXPECTED_RULES: &[(&str, [&str; 5])] = &[
    // sets: ok_ok, ok_bad, ok_skip, bad_bad, skip_skip
    (
        "all_success",
        [
            "success",
            "upstream_failed",
            "skipped",
            "upstream_failed",
            "skipped",
        ],
    ),
    (
        "all_failed",
        ["skipped", "skipped", "skipped", "success", "skipped"],
    ),
    (
        "all_done",
        ["success", "success", "success", "success", "success"],
    ),
    (
        "one_success",
        [
            "success",
            "success",
            "success",
            "upstream_failed",
            "skipped",
        ],
    ),
    (
        "one_failed",
        ["skipped", "success", "skipped", "success", "skipped"],
    ),
    (
        "none_failed",
        [
            "success",
            "upstream_failed",
            "success",
            "upstream_failed",
            "success",
        ],
    ),
    (
        "none_skipped",
        ["success", "success", "skipped", "success", "skipped"],
    ),
    (
        "always",
        ["success", "success", "success", "success", "success"],
    ),
];

on_both_backends!(trigger_rules_decide_what_runs, Standalone::start, |a| {
    let (out, run) = a.run_dag("rules", json!({}));
    assert_eq!(
        out.code,
        Some(1),
        "a leaf failed upstream, so the run fails: {out:?}"
    );
    let s = states(&run);
    let sets = ["ok_ok", "ok_bad", "ok_skip", "bad_bad", "skip_skip"];
    let mut wrong = Vec::new();
    for (rule, want) in EXPECTED_RULES {
        for (set, want) in sets.iter().zip(want) {
            let task = format!("{rule}__{set}");
            if s[&task] != *want {
                wrong.push(format!("{task}: {} (expected {want})", s[&task]));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(s["after_upstream_failed"], "upstream_failed");
    assert_eq!(s["after_skipped"], "skipped");
    assert_eq!(
        (
            s["ok_a"].as_str(),
            s["bad_a"].as_str(),
            s["skip_a"].as_str()
        ),
        ("success", "failed", "skipped")
    );
});

on_both_backends!(
    mapping_over_nothing_skips_and_over_a_scalar_fails,
    Standalone::start,
    |a| {
        let (out, run) = a.run_dag("map_edges", json!({}));
        assert_eq!(out.code, Some(1), "{out:?}");
        let s = states(&run);
        assert_eq!(s["per_empty"], "skipped");
        assert_eq!(s["after_empty"], "success");
        // The SDK refuses to return a non-list from a task others map over.
        assert_eq!(s["scalar"], "failed");
        assert_eq!(s["per_scalar"], "upstream_failed");
        let log = a.cli(&["tasks", "logs", "map_edges", &run.run_id, "scalar"]);
        assert!(log.stdout.contains("list"), "{log:?}");
    }
);

on_both_backends!(a_dag_of_500_noop_tasks_completes, Standalone::start, |a| {
    let (out, run) = a.run_dag("wide", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(run.task_instances.len(), 500);
    assert_eq!(count_in(&run, "success"), 500);
    let retried: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM task_instance WHERE dag_id = 'wide' AND try_number <> 1",
    )
    .fetch_one(a.db.pool())
    .await
    .unwrap();
    assert_eq!(retried, 0);
});

on_both_backends!(
    a_supervisor_that_cannot_start_is_reported_by_the_executor,
    Standalone::start,
    |a| {
        // A bundle that describes a DAG, then disappears before its task runs.
        let dir = a.database.dir.path().join("ghost-bundles");
        std::fs::create_dir_all(&dir).unwrap();
        let ghost = dir.join("ghost");
        std::fs::write(
        &ghost,
        "#!/bin/sh\necho '{\"bundle\": \"ghost\", \"dags\": [{\"dag_id\": \"ghost\", \"tasks\": [{\"task_id\": \"vanish\"}]}]}'\n",
    )
    .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ghost, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sync = a.cli(&["dags", "sync", "--bundles-dir", dir.to_str().unwrap()]);
        assert_eq!(sync.code, Some(0), "{sync:?}");
        assert!(sync.stdout.contains("ghost: registered ghost"), "{sync:?}");
        std::fs::remove_file(&ghost).unwrap();
        let (out, run) = a.run_dag("ghost", json!({}));
        assert_eq!(out.code, Some(1), "{out:?}");
        assert_eq!(states(&run)["vanish"], "failed");
        let reason: Option<String> = sqlx::query_scalar(
            "SELECT retry_reason FROM task_instance WHERE dag_id = 'ghost' AND task_id = 'vanish'",
        )
        .fetch_one(a.db.pool())
        .await
        .unwrap();
        assert!(
            reason
                .unwrap_or_default()
                .contains("executor could not run the task")
        );
    }
);

on_both_backends!(
    ctrl_c_stops_running_tasks_and_every_component,
    Standalone::start,
    |a| {
        let mut a = a;
        let out = a.cli(&["dags", "trigger", "t"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        // DAG `t` has a task that sleeps for ten minutes.
        let db = a.db.clone();
        tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM task_instance WHERE dag_id = 't' AND task_id = 'sleep' AND state = 'running'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            if n == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the sleeping task starts");
        let status = a.stop();
        assert!(
            status.success(),
            "{status:?}: {}",
            std::fs::read_to_string(&a.log).unwrap()
        );
        let state: String = sqlx::query_scalar(
            "SELECT state FROM task_instance WHERE dag_id = 't' AND task_id = 'sleep'",
        )
        .fetch_one(a.db.pool())
        .await
        .unwrap();
        assert_eq!(
            state, "failed",
            "the stopped task reported its end before the server stopped"
        );
    }
);

on_both_backends!(
    a_worker_killed_mid_run_loses_nothing_and_runs_nothing_twice,
    Stack::start,
    |stack| {
        let root = stack.database.dir.path().to_owned();
        let bundles = bundles_dir(&root.join("sched"));
        let home = root.join("sched-home");
        // Task code may run as another user (`nobody` under root): it writes the markers.
        let markers = airlock_e2e::standalone::task_tmp_dir(&root.join("markers-parent"));
        let token = stack.server.admin(
            &["mint-token", "--scope", "admin", "--subject", "test"],
            None,
        );
        let env = [
            ("AIRLOCK_API_URL", stack.server.base.as_str()),
            ("AIRLOCK_ADMIN_TOKEN", token.as_str()),
        ];
        let log = root.join("worker.log");
        let start = || {
            WorkerProcess::start(
                &stack.server.base,
                &token,
                &home,
                &bundles,
                &stack.logs,
                &log,
                &[("AIRLOCK_PARALLELISM", "4")],
            )
        };
        let mut worker = start();
        wait_for(
            Duration::from_secs(60),
            "the worker to register DAGs",
            || {
                let out = airlock_cli(&home, &["dags", "list"], &env);
                out.stdout.contains("once").then_some(())
            },
        );
        let conf = json!({"marker_dir": markers, "sleep_ms": 300}).to_string();
        let out = airlock_cli(
            &home,
            &["dags", "trigger", "once", "--run-id", "r1", "--conf", &conf],
            &env,
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        let markers_made = || std::fs::read_dir(&markers).map(|d| d.count()).unwrap_or(0);
        // Kill it twice: once in the first layer, once in the second.
        for at_least in [3, 11] {
            wait_for(Duration::from_secs(60), "tasks to start", || {
                (markers_made() >= at_least).then_some(())
            });
            worker.crash();
            worker = start();
        }
        let done = airlock_cli(&home, &["dags", "list"], &env);
        assert_eq!(done.code, Some(0));
        let db = stack.db.clone();
        let state = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let s: String = sqlx::query_scalar(
                    "SELECT state FROM dag_run WHERE dag_id = 'once' AND run_id = 'r1'",
                )
                .fetch_one(db.pool())
                .await
                .unwrap();
                if s == "success" || s == "failed" {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the run ends");
        let details = airlock_cli(&home, &["runs", "show", "once", "r1", "--json"], &env);
        assert_eq!(state, "success", "{}", details.stdout);
        let run: RunDetails = serde_json::from_str(&details.stdout).unwrap();
        assert_eq!(count_in(&run, "success"), 24);
        assert!(
            run.task_instances.iter().all(|t| t.try_number == 1),
            "{}",
            details.stdout
        );
        let archived: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM task_instance_history WHERE dag_id = 'once'")
                .fetch_one(stack.db.pool())
                .await
                .unwrap();
        assert_eq!(archived, 0, "no try failed or was retried");
        assert_eq!(markers_made(), 24, "every task ran exactly once");
        drop(worker);
    }
);

on_both_backends!(
    a_task_whose_supervisor_hangs_is_failed_after_the_heartbeat_timeout,
    Standalone::start,
    |a| {
        let out = a.cli(&["dags", "trigger", "t", "--run-id", "z"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let db = a.db.clone();
        let runner_pid: i64 = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let pid: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT pid FROM task_instance WHERE dag_id = 't' AND task_id = 'sleep' AND state = 'running'",
            )
            .fetch_optional(db.pool())
            .await
            .unwrap();
            if let Some(Some(pid)) = pid {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the sleeping task starts");
        // Freeze its supervisor (the runner's parent): it neither exits (the executor sees
        // nothing) nor heartbeats; only the heartbeat timeout can find it.
        let stat = std::fs::read_to_string(format!("/proc/{runner_pid}/stat")).unwrap();
        let ppid: i32 = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(ppid),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
        let state = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let s: Option<String> = sqlx::query_scalar(
                "SELECT state FROM task_instance WHERE dag_id = 't' AND run_id = 'z' AND task_id = 'sleep'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            if s.as_deref() != Some("running") {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the zombie is found (heartbeat timeout 5 s)");
        assert_eq!(state.as_deref(), Some("failed"));
        let reason: Option<String> = sqlx::query_scalar(
        "SELECT retry_reason FROM task_instance WHERE dag_id = 't' AND run_id = 'z' AND task_id = 'sleep'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
        assert!(reason.unwrap_or_default().contains("zombie"));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(ppid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
);
