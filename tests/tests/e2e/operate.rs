//! Operating `airlock standalone` from the CLI: clear, mark, cancel and list runs, Variables
//! and Connections; what the CLI says (and exits with) when something is wrong; the lock on
//! the data directory.

use std::process::{Command, Stdio};
use std::time::Duration;

use airlock_e2e::process::{bin_path, eventually};
use airlock_e2e::standalone::{CliOutput, airlock_cli};
use airlock_e2e::{Backend, Standalone, on_both_backends};
use airlock_protocol::api::{RunDetails, RunList};
use serde_json::json;

fn details(out: &CliOutput) -> RunDetails {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// Triggers `dag` with `conf` and follows it to its end (`--wait --json`).
fn run_to_end(a: &Standalone, dag: &str, conf: serde_json::Value) -> (CliOutput, RunDetails) {
    let conf = conf.to_string();
    let out = a.cli(&["dags", "trigger", dag, "--conf", &conf, "--wait", "--json"]);
    let d = details(&out);
    (out, d)
}

async fn run_state_becomes(a: &Standalone, dag: &str, run: &str, state: &str) -> RunDetails {
    eventually(
        Duration::from_secs(60),
        &format!("run {run} of {dag} to be {state}"),
        || async {
            let d = a.details(dag, run);
            (d.state.as_str() == state).then_some(d)
        },
    )
    .await
}

on_both_backends!(
    operators_clear_mark_list_and_cancel_runs,
    Standalone::start,
    |a| {
        // Fails both tries: flaky_once failed, report could not run.
        let (out, failed) = run_to_end(&a, "flaky", json!({"succeed_on_try": 3}));
        assert_eq!(out.code, Some(1), "{out:?}");
        assert_eq!(failed.state.as_str(), "failed");
        let run = failed.run_id.clone();

        // Clear the failed task and what follows it: both run again, the earlier tries stay.
        let out = a.cli(&[
            "tasks",
            "clear",
            "flaky",
            &run,
            "flaky_once",
            "--downstream",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("2 task instances cleared"), "{out:?}");
        let done = run_state_becomes(&a, "flaky", &run, "success").await;
        let tries: Vec<(&str, i64, Option<&str>)> = done
            .task_instances
            .iter()
            .map(|t| {
                (
                    t.task_id.as_str(),
                    t.try_number,
                    t.state.map(|s| s.as_str()),
                )
            })
            .collect();
        assert_eq!(
            tries,
            [
                ("flaky_once", 3, Some("success")),
                ("report", 1, Some("success"))
            ]
        );
        let history: Vec<(i64, String)> = sqlx::query_as(
            "SELECT try_number, state FROM task_instance_history WHERE dag_id = 'flaky' \
             AND run_id = $1 ORDER BY try_number",
        )
        .bind(&run)
        .fetch_all(a.db.pool())
        .await
        .unwrap();
        assert_eq!(
            history,
            [(1, "up_for_retry".to_owned()), (2, "failed".to_owned())]
        );
        let try1 = a.cli(&["tasks", "logs", "flaky", &run, "flaky_once", "--try", "1"]);
        assert!(try1.stdout.contains("try 1 fails on purpose"), "{try1:?}");

        // Marking the last task success ends a failed run success.
        let (_, marked) = run_to_end(&a, "flaky", json!({"succeed_on_try": 99}));
        assert_eq!(marked.state.as_str(), "failed");
        let out = a.cli(&[
            "tasks",
            "mark",
            "flaky",
            &marked.run_id,
            "report",
            "success",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        run_state_becomes(&a, "flaky", &marked.run_id, "success").await;

        // One run left failed: the listing finds exactly it.
        let (_, left) = run_to_end(&a, "flaky", json!({"succeed_on_try": 99}));
        let out = a.cli(&["runs", "list", "--state", "failed", "--json"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let list: RunList = serde_json::from_str(&out.stdout).unwrap();
        let ids: Vec<&str> = list.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, [left.run_id.as_str()]);
        let out = a.cli(&[
            "runs", "list", "flaky", "--state", "success", "--since", "1h",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.stdout.contains(&run) && out.stdout.contains(&marked.run_id),
            "{out:?}"
        );

        // Cancel a run whose task sleeps: its process is gone within heartbeat + grace, the
        // run fails with the reason, and the task after it never starts.
        let out = a.cli(&[
            "dags",
            "trigger",
            "sleeper_then",
            "--run-id",
            "nap",
            "--json",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let pid: i64 = eventually(Duration::from_secs(60), "the sleeper to run", || async {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT pid FROM task_instance WHERE dag_id = 'sleeper_then' AND task_id = 'sleep' \
                 AND state = 'running'",
            )
            .fetch_optional(a.db.pool())
            .await
            .unwrap()
            .flatten()
        })
        .await;
        let out = a.cli(&[
            "runs",
            "cancel",
            "sleeper_then",
            "nap",
            "--reason",
            "wrong day",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        // FAST_ENV: heartbeats every 0.5 s, SIGKILL 1 s after SIGTERM.
        eventually(
            Duration::from_secs(10),
            "the sleeping task's process to end",
            || async {
                let gone =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err();
                gone.then_some(())
            },
        )
        .await;
        let d = a.details("sleeper_then", "nap");
        assert_eq!(d.state.as_str(), "failed");
        let after = d
            .task_instances
            .iter()
            .find(|t| t.task_id == "after")
            .unwrap();
        assert_eq!(after.state.map(|s| s.as_str()), Some("skipped"));
        assert!(after.start_date.is_none(), "{after:?}");
        let out = a.cli(&["runs", "list", "sleeper_then", "--json"]);
        assert!(out.stdout.contains("wrong day"), "{out:?}");

        // Bad input: a clear error, a distinct exit code, nothing changed.
        let out = a.cli(&["runs", "cancel", "sleeper_then", "nap"]);
        assert_eq!(out.code, Some(4), "{out:?}");
        assert!(out.stderr.contains("already finished"), "{out:?}");
        let out = a.cli(&["tasks", "mark", "flaky", &run, "nope", "failed"]);
        assert_eq!(out.code, Some(3), "{out:?}");
        assert!(out.stderr.contains("\"nope\""), "{out:?}");
        let out = a.cli(&["runs", "list", "--since", "last tuesday"]);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(out.stderr.contains("last tuesday"), "{out:?}");
        assert_eq!(
            a.details("flaky", &run).state.as_str(),
            "success",
            "nothing changed"
        );
    }
);

/// Every file under `dir`, as text (lossy).
fn all_text_under(dir: &std::path::Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_and_connections_from_the_cli_never_show_a_password() {
    let a = Standalone::start(Backend::Sqlite).await.expect("sqlite");
    let secret = "pa55-w0rd-never-shown";
    let printed = std::cell::RefCell::new(String::new());
    let run = |args: &[&str], code: i32| {
        let out = a.cli(args);
        assert_eq!(out.code, Some(code), "{args:?}: {out:?}");
        printed.borrow_mut().push_str(&out.stdout);
        printed.borrow_mut().push_str(&out.stderr);
        out.stdout
    };
    run(
        &[
            "vars",
            "set",
            "region",
            "eu-west-1",
            "--description",
            "where",
        ],
        0,
    );
    assert_eq!(run(&["vars", "get", "region"], 0).trim(), "eu-west-1");
    assert!(run(&["vars", "list"], 0).contains("eu-west-1"));
    run(&["vars", "delete", "region"], 0);
    run(&["vars", "get", "region"], 3);

    let out = a.cli_with_stdin(
        &[
            "conns",
            "set",
            "warehouse",
            "--type",
            "postgres",
            "--host",
            "db",
            "--port",
            "5432",
            "--login",
            "etl",
            "--password-stdin",
        ],
        &format!("{secret}\n"),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    printed.borrow_mut().push_str(&out.stdout);
    printed.borrow_mut().push_str(&out.stderr);
    let got = run(&["conns", "get", "warehouse"], 0);
    assert!(got.contains("(set)") && got.contains("etl"), "{got}");
    run(&["conns", "get", "warehouse", "--json"], 0);
    assert!(run(&["conns", "list"], 0).contains("warehouse"));
    run(&["conns", "list", "--json"], 0);
    run(
        &["conns", "set", "bad", "--type", "http", "--port", "99999"],
        2,
    );
    // A task reads it (so the password is really stored), and its log does not show it.
    let (out, d) = a.run_dag("etl", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(d.state.as_str(), "success");
    let loaded = a.return_value("etl", &d.run_id, "load", -1).await.unwrap();
    assert_eq!(loaded["target"], "postgres://etl@db:5432");
    run(&["conns", "delete", "warehouse"], 0);
    run(&["conns", "get", "warehouse"], 3);
    let printed = printed.into_inner();
    assert!(
        !printed.contains(secret),
        "the CLI printed the password: {printed}"
    );
    let root = a.log.parent().unwrap();
    let mut logs = all_text_under(&a.home);
    for f in ["standalone.log", "standalone.err"] {
        logs.push_str(&std::fs::read_to_string(root.join(f)).unwrap_or_default());
    }
    assert!(logs.contains("loading"), "the task logs were read");
    assert!(!logs.contains(secret), "a log holds the password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_says_what_is_wrong_in_one_line_with_its_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");

    // Nothing was ever started here.
    let out = airlock_cli(&home, &["dags", "list"], &[]);
    assert_eq!(out.code, Some(5), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.contains(&home.display().to_string())
            && out.stderr.contains("airlock standalone"),
        "{out:?}"
    );

    // A server that went away: one line, where the CLI looked, no tracing noise.
    std::fs::create_dir_all(&home).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/execution", closed.local_addr().unwrap());
    drop(closed);
    std::fs::write(home.join("standalone.url"), &url).unwrap();
    std::fs::write(home.join("admin-token"), "x.y.z").unwrap();
    let out = airlock_cli(&home, &["runs", "list"], &[]);
    assert_eq!(out.code, Some(5), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.contains(&url) && out.stderr.contains("standalone.url"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("WARN"), "{out:?}");
    let out = airlock_cli(&home, &["runs", "list"], &[("AIRLOCK_API_URL", &url)]);
    assert!(out.stderr.contains("AIRLOCK_API_URL"), "{out:?}");

    // A live server.
    let mut a = Standalone::start(Backend::Sqlite).await.expect("sqlite");
    let bad_token = airlock_cli(
        &a.home,
        &["dags", "list"],
        &[("AIRLOCK_ADMIN_TOKEN", "not-a-token")],
    );
    assert_eq!(bad_token.code, Some(6), "{bad_token:?}");
    let out = a.cli(&["runs", "show", "etl", "no_such_run"]);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    let out = a.cli(&["dags", "trigger", "etl", "--conf", "[1"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = a.cli(&["dags", "trigger", "nope"]);
    assert_eq!(out.code, Some(3), "{out:?}");
    let out = a.cli(&["db", "clean", "--older-than", "0s"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("at least one second"), "{out:?}");
    let out = a.cli(&["db", "clean", "--older-than", "30d", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("Would delete 0 runs"), "{out:?}");

    // A mapped task named without --map-index: its indexes are listed.
    let (out, fan) = a.run_dag("fan_out", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    let mapped = fan
        .task_instances
        .iter()
        .find(|t| t.map_index >= 0)
        .expect("a mapped task")
        .task_id
        .clone();
    let out = a.cli(&["tasks", "logs", "fan_out", &fan.run_id, &mapped]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("--map-index") && out.stderr.contains("map indexes 0 to"),
        "{out:?}"
    );

    // A failed run says which task failed, its last log lines and how to read the rest.
    let out = a.cli(&["dags", "trigger", "broken", "--wait"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("Task always_fails failed"), "{out:?}");
    assert!(out.stdout.contains("airlock tasks logs broken"), "{out:?}");
    assert!(out.stdout.contains("invalid digit"), "{out:?}");

    // A second standalone on the same data directory refuses to start.
    let second = Command::new(bin_path("airlock"))
        .args(["standalone", "--bind", "127.0.0.1:0"])
        .env("AIRLOCK_HOME", &a.home)
        .env("AIRLOCK_DATABASE_URL", a.database.url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("already using"), "{stderr}");

    // A clean stop leaves no URL behind.
    assert!(a.stop().success());
    assert!(!a.home.join("standalone.url").exists());
}

/// A data directory with nothing in it (no server ever ran there), and a bundles directory.
fn empty_home_with_bundles() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bundles = airlock_e2e::standalone::bundles_dir(dir.path());
    let bundles = bundles.to_str().unwrap().to_owned();
    (dir, home, bundles)
}

#[test]
fn dags_test_runs_one_dag_on_a_throwaway_database_without_a_server() {
    let (_dir, home, bundles) = empty_home_with_bundles();
    let bundles = bundles.as_str();
    let out = airlock_cli(
        &home,
        &["dags", "test", "etl", "--bundles-dir", bundles],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("== load (success, try 1)"), "{out:?}");
    assert!(out.stdout.contains("loading 5 orders"), "{out:?}");
    let out = airlock_cli(
        &home,
        &["dags", "test", "broken", "--bundles-dir", bundles],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout.contains("invalid digit found in string"),
        "{out:?}"
    );
    let out = airlock_cli(
        &home,
        &["dags", "test", "nope", "--bundles-dir", bundles],
        &[],
    );
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stderr.contains("\"nope\"") && out.stderr.contains("etl"),
        "{out:?}"
    );
    // Nothing was left in the user's data directory.
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0);
}

#[test]
fn tasks_test_runs_one_task_alone_and_prints_what_it_returned() {
    let (_dir, home, bundles) = empty_home_with_bundles();
    let bundles = bundles.as_str();
    let out = airlock_cli(
        &home,
        &["tasks", "test", "etl", "extract", "--bundles-dir", bundles],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("extract returned: [{\"amount_cents\":1250"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("(1 task instances: 1 success)"),
        "only extract ran: {out:?}"
    );
    // Alone, transform has nothing to transform.
    let out = airlock_cli(
        &home,
        &[
            "tasks",
            "test",
            "etl",
            "transform",
            "--bundles-dir",
            bundles,
        ],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("extract returned nothing"), "{out:?}");
    let out = airlock_cli(
        &home,
        &["tasks", "test", "etl", "nope", "--bundles-dir", bundles],
        &[],
    );
    assert_eq!(out.code, Some(3), "{out:?}");
}

/// Two workers against one api-server process: one with an admin token on the default queue,
/// one with only an executor token on the `gpu` queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_claim_only_their_queues_and_an_executor_token_is_enough() {
    use airlock_e2e::Stack;
    use airlock_e2e::standalone::WorkerProcess;
    let stack = Stack::start(Backend::Sqlite).await.expect("sqlite");
    let root = stack.database.dir.path().to_owned();
    let bundles = airlock_e2e::standalone::bundles_dir(&root.join("w"));
    let admin = stack.server.admin(
        &["mint-token", "--scope", "admin", "--subject", "ops"],
        None,
    );
    let executor = stack.server.admin(
        &["mint-token", "--scope", "executor", "--subject", "gpu-1"],
        None,
    );
    let start = |name: &str, token: &str, env: &[(&str, &str)]| {
        WorkerProcess::start(
            &stack.server.base,
            token,
            &root.join(format!("{name}-home")),
            &bundles,
            &stack.logs,
            &root.join(format!("{name}.log")),
            env,
        )
    };
    let _cpu = start("cpu", &admin, &[("AIRLOCK_EXECUTOR_ID", "cpu-1")]);
    let _gpu = start(
        "gpu",
        &executor,
        &[("AIRLOCK_EXECUTOR_ID", "gpu-1"), ("AIRLOCK_QUEUES", "gpu")],
    );
    let home = root.join("cli-home");
    let env = [
        ("AIRLOCK_API_URL", stack.server.base.as_str()),
        ("AIRLOCK_ADMIN_TOKEN", admin.as_str()),
    ];
    airlock_e2e::process::wait_for(Duration::from_secs(60), "DAGs registered", || {
        let out = airlock_cli(&home, &["dags", "list"], &env);
        out.stdout.contains("queued").then_some(())
    });
    let out = airlock_cli(
        &home,
        &["dags", "trigger", "queued", "--run-id", "q1", "--wait"],
        &env,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let claimed: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT task_id, queued_by FROM task_instance WHERE dag_id = 'queued' ORDER BY task_id",
    )
    .fetch_all(stack.db.pool())
    .await
    .unwrap();
    assert_eq!(
        claimed,
        [
            ("cpu".to_owned(), Some("cpu-1".to_owned())),
            ("gpu".to_owned(), Some("gpu-1".to_owned()))
        ]
    );
    let gpu_log = std::fs::read_to_string(root.join("gpu.log")).unwrap_or_default();
    assert!(gpu_log.contains("may not register DAGs"), "{gpu_log}");
}
