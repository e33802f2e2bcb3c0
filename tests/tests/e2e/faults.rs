//! Faults survived: crashes, outages and hostile runners end every try correctly and lose
//! nothing. One test per fault; bounded waits throughout (an outage lasts as long as the test
//! says, which is the point of those tests).

use std::path::Path;
use std::time::Duration;

use airlock_e2e::process::wait_for;
use airlock_e2e::standalone::task_tmp_dir;
use airlock_e2e::{Backend, Stack, Standalone, on_both_backends};
use serde_json::{Value, json};

const TIME_DELTA: &str = "airflow.providers.standard.triggers.temporal.TimeDeltaTrigger";
const DATE_TIME: &str = "airflow.providers.standard.triggers.temporal.DateTimeTrigger";
const FILE: &str = "airflow.providers.standard.triggers.file.FileTrigger";

/// The parent of process `pid` (its supervisor, for a runner).
fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        .expect("ppid")
}

fn alive(pid: i32) -> bool {
    // A zombie (exited, not yet reaped) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The last line of a task log that the supervisor wrote when the try ended.
fn final_note(log: &str) -> Value {
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("task finished"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no final note in {}",
                &log[log.floor_char_boundary(log.len().saturating_sub(3000))..]
            )
        })
}

on_both_backends!(
    a_trigger_that_cannot_be_built_fails_its_task_and_the_triggerer_goes_on,
    Stack::start,
    |stack| {
        let _t = stack.triggerer("t1", &[]);
        for (run, kwargs) in [
            (
                "huge-delta",
                json!({"classpath": TIME_DELTA, "kwargs": {"delta": 1e20}}),
            ),
            (
                "big-delta",
                json!({"classpath": TIME_DELTA, "kwargs": {"delta": 1e13}}),
            ),
            (
                "huge-poke",
                json!({"classpath": FILE, "kwargs": {"filepath": "/nowhere/*", "poke_interval": 1e20}}),
            ),
        ] {
            let ti = stack.deferred(run, kwargs).await;
            let row = stack.wait_ready(ti, Duration::from_secs(30)).await;
            assert_eq!(row.next_method.as_deref(), Some("__fail__"), "{run}");
            let kwargs = row.next_kwargs.unwrap_or_default();
            assert_eq!(kwargs["error"], "Trigger failure", "{run}: {kwargs}");
            let exit = stack.resume(ti).await;
            assert_eq!(exit.code, Some(1), "{run}: the task fails: {}", exit.stderr);
        }
        // The same triggerer still runs triggers.
        let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
        let ti = stack
            .deferred(
                "after",
                json!({"classpath": DATE_TIME, "kwargs": {"moment": airlock_protocol::time::to_rfc3339(&soon)}}),
            )
            .await;
        stack.wait_ready(ti, Duration::from_secs(30)).await;
        assert_eq!(stack.resume(ti).await.code, Some(0));
    }
);

/// A server that never hands triggers over on its own within a test: what a restarted
/// triggerer gets back, it gets because it reclaimed them.
async fn stack_with_slow_takeover(backend: Backend) -> Option<Stack> {
    Stack::start_with(backend, &[("AIRLOCK_TRIGGERER_HEALTH_TIMEOUT", "600")]).await
}

on_both_backends!(
    a_triggerer_restarted_under_its_id_takes_its_triggers_back,
    stack_with_slow_takeover,
    |stack| {
        let dir = stack.database.dir.path().join("incoming");
        std::fs::create_dir_all(&dir).unwrap();
        let mut t = stack.triggerer("t1", &[]);
        let pattern = dir.join("*.ready").display().to_string();
        let ti = stack
            .deferred(
                "restart",
                json!({"classpath": FILE, "kwargs": {"filepath": pattern, "poke_interval": 0.1}}),
            )
            .await;
        let db = stack.db.clone();
        let held = || async {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM triggers WHERE triggerer_id = 't1'")
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
            n
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while held().await == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "t1 never claimed the trigger"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        t.crash();
        let _t = stack.triggerer("t1", &[]);
        std::fs::write(dir.join("now.ready"), "go").unwrap();
        stack.wait_ready(ti, Duration::from_secs(30)).await;
        assert_eq!(stack.resume(ti).await.code, Some(0));
        assert_eq!(
            airlock_store::triggers::trigger_events_for(&stack.db, ti, 1)
                .await
                .unwrap(),
            1,
            "resumed once"
        );
    }
);

on_both_backends!(
    a_runner_that_floods_requests_cannot_block_its_supervisor,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("flood", json!({"execution_timeout": 3}));
        let started = tokio::time::Instant::now();
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(1), "{}", exit.stderr);
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(stack.ti(ti).await.state.map(|s| s.as_str()), Some("failed"));
        let log = stack.log_of("t", "r-flood", "flood", 1);
        assert!(
            log.contains("unread") || log.contains("execution timeout"),
            "{log}"
        );
    }
);

on_both_backends!(
    a_retry_asked_for_with_no_retry_left_is_recorded_as_failed,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("retry_anyway", json!({}));
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(1), "{}", exit.stderr);
        assert_eq!(stack.ti(ti).await.state.map(|s| s.as_str()), Some("failed"));
        let log = stack.log_of("t", "r-retry_anyway", "retry_anyway", 1);
        assert!(log.contains("no_retries_left"), "{log}");
        assert!(log.contains("reporting failed instead"), "{log}");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_printing_a_gigabyte_keeps_the_supervisor_small() {
    let stack = Stack::start(Backend::Sqlite).await.expect("sqlite");
    let ti = stack
        .seed(
            json!({"dag_id": "t", "run_id": "r-print", "bundle_name": "airlock-test-bundle",
        "conf": {"bytes": 1u64 << 30}, "tasks": [{"task_id": "print_lots"}]}),
        )
        .task_instances[0]
        .id;
    let exit =
        airlock_e2e::Stack::finish(&mut stack.supervisor(ti), Duration::from_secs(600)).await;
    assert_eq!(exit.code, Some(0), "{}", exit.stderr);
    let path = airlock_supervisor::logs::log_path(&stack.logs, "t", "r-print", "print_lots", -1, 1);
    // The last few KiB hold the final note; the log itself is over a gigabyte.
    let text = tail(&path, 64 * 1024);
    let note = final_note(&text);
    let rss = note["supervisor_max_rss_kib"]
        .as_i64()
        .expect("supervisor_max_rss_kib");
    assert!(rss < 64 * 1024, "the supervisor peaked at {rss} KiB");
    assert!(std::fs::metadata(&path).unwrap().len() > 1 << 30);
}

fn tail(path: &Path, n: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    f.seek(SeekFrom::Start(len.saturating_sub(n))).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

on_both_backends!(
    a_setsid_daemon_is_gone_after_its_try,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("spawn_daemon", json!({}));
        let exit = stack.run(ti).await;
        assert_eq!(exit.code, Some(0), "{}", exit.stderr);
        let pid = stack
            .return_value("t", "r-spawn_daemon", "spawn_daemon")
            .await
            .unwrap()["pid"]
            .as_i64()
            .unwrap() as i32;
        let log = stack.log_of("t", "r-spawn_daemon", "spawn_daemon", 1);
        if nix::unistd::geteuid().is_root() {
            assert!(log.contains("runs in cgroup"), "{log}");
            assert!(!alive(pid), "the daemon {pid} outlived its try");
            assert!(log.contains("try_cpu_secs"), "{log}");
        } else {
            // No cgroup to create here: the log says so (and the daemon may live on).
            assert!(log.contains("no cgroup for this try"), "{log}");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
);

/// Marks `ti` finished during an outage of `outage`, made by `down` and ended by `up`; the
/// supervisor (with the default outage budget) must report the result once it is over.
async fn result_survives_an_outage(
    stack: &mut Stack,
    down: impl AsyncFnOnce(&mut Stack),
    up: impl AsyncFnOnce(&mut Stack),
) {
    let marker = task_tmp_dir(stack.database.dir.path()).join("finish");
    let ti = stack
        .seed(
            json!({"dag_id": "t", "run_id": "r-outage", "bundle_name": "airlock-test-bundle",
        "conf": {"marker": marker}, "tasks": [{"task_id": "finish_on_marker"}]}),
        )
        .task_instances[0]
        .id;
    let mut cmd = stack.supervisor(ti);
    cmd.env("AIRLOCK_OUTAGE_BUDGET", "90s");
    let sup = cmd.spawn().unwrap();
    stack.wait_running(ti).await;
    down(stack).await;
    // The task finishes while nothing can be reported.
    std::fs::write(&marker, "go").unwrap();
    let outage_ends = tokio::time::Instant::now() + Duration::from_secs(30);
    tokio::time::sleep_until(outage_ends).await;
    up(stack).await;
    let out = tokio::time::timeout(Duration::from_secs(120), sup.wait_with_output())
        .await
        .expect("the supervisor ends after the outage")
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stack.ti(ti).await.state.map(|s| s.as_str()),
        Some("success")
    );
    assert_eq!(
        stack
            .return_value("t", "r-outage", "finish_on_marker")
            .await,
        Some(json!({"done": true}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_second_database_outage_loses_no_finished_result() {
    let Some(mut stack) = Stack::start(Backend::Postgres).await else {
        return;
    };
    let (admin, name) = stack.database.postgres().expect("postgres");
    let (admin, name) = (admin.to_owned(), name.to_owned());
    let sql = |statement: String| {
        let admin = admin.clone();
        async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut c)
                .await
                .unwrap();
        }
    };
    let (down_sql, up_sql) = (
        format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    );
    result_survives_an_outage(
        &mut stack,
        async |_| sql(down_sql).await,
        async |_| sql(up_sql).await,
    )
    .await;
}

on_both_backends!(
    a_thirty_second_api_outage_loses_no_finished_result,
    Stack::start,
    |stack| {
        let mut stack = stack;
        result_survives_an_outage(
            &mut stack,
            async |s| s.server.crash(),
            async |s| {
                s.server
                    .restart(&[("AIRLOCK_TRIGGERER_HEALTH_TIMEOUT", "2")])
            },
        )
        .await;
    }
);

/// `airlock standalone` with a heartbeat timeout long enough that a restart cannot turn a
/// running try into a zombie.
async fn patient_standalone(backend: Backend) -> Option<Standalone> {
    Standalone::start_with(backend, &[("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "120")]).await
}

on_both_backends!(
    standalone_killed_on_port_0_comes_back_on_its_port_and_loses_nothing,
    patient_standalone,
    |a| {
        let mut a = a;
        let tmp = task_tmp_dir(a.database.dir.path());
        let marker = tmp.join("finish");
        let ready = tmp.join("ready");
        let conf = json!({"marker": marker, "trigger": {"classpath": FILE,
            "kwargs": {"filepath": ready.display().to_string(), "poke_interval": 0.1}}});
        let waiter = std::process::Command::new(airlock_e2e::process::bin_path("airlock"))
            .args([
                "dags",
                "trigger",
                "crash",
                "--run-id",
                "c1",
                "--conf",
                &conf.to_string(),
                "--wait",
            ])
            .env("AIRLOCK_HOME", &a.home)
            .env_remove("AIRLOCK_API_URL")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let waiter = airlock_e2e::process::Watched::new(waiter);
        let db = a.db.clone();
        let state_of = |task: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query_as::<_, (Option<String>, i64)>(
                    "SELECT state, try_number FROM task_instance WHERE dag_id = 'crash' AND task_id = $1",
                )
                .bind(task)
                .fetch_optional(db.pool())
                .await
                .unwrap()
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (f, d) = (state_of("finish").await, state_of("defer").await);
            if f.is_some_and(|(s, _)| s.as_deref() == Some("running"))
                && d.is_some_and(|(s, _)| s.as_deref() == Some("deferred"))
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never running and deferred"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let url = a.api_url();
        a.crash();
        // Down until the follower has seen it (it says so), then up again.
        waiter.wait_for_stderr("cannot be reached", Duration::from_secs(30));
        a.start_again();
        assert_eq!(
            a.api_url(),
            url,
            "the port of the previous run is taken again"
        );
        std::fs::write(&marker, "go").unwrap();
        std::fs::write(&ready, "go").unwrap();
        let out = waiter.finish(Duration::from_secs(120));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stderr.contains("is back"), "{out:?}");
        assert_eq!(
            state_of("finish").await,
            Some((Some("success".into()), 1)),
            "the running try finished without a retry"
        );
        assert_eq!(
            state_of("defer").await.map(|(s, _)| s),
            Some(Some("success".into()))
        );
        let events: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM trigger_event e JOIN task_instance ti ON ti.id = e.ti_id \
             WHERE ti.dag_id = 'crash' AND ti.task_id = 'defer'",
        )
        .fetch_one(a.db.pool())
        .await
        .unwrap();
        assert_eq!(events, 1, "the deferred task resumed once");
    }
);

on_both_backends!(
    a_fenced_try_cannot_replace_the_retrys_xcom,
    Standalone::start,
    |a| {
        let marker = task_tmp_dir(a.database.dir.path()).join("late");
        let out = a.cli(&[
            "dags",
            "trigger",
            "fenced",
            "--run-id",
            "f1",
            "--conf",
            &json!({"marker": marker}).to_string(),
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let db = a.db.clone();
        let row = || {
            let db = db.clone();
            async move {
                sqlx::query_as::<_, (Option<String>, i64, Option<i64>)>(
                    "SELECT state, try_number, pid FROM task_instance WHERE dag_id = 'fenced'",
                )
                .fetch_one(db.pool())
                .await
                .unwrap()
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let runner = loop {
            if let (Some(s), 1, Some(pid)) = row().await
                && s == "running"
            {
                break pid as i32;
            }
            assert!(tokio::time::Instant::now() < deadline, "try 1 never ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let supervisor = nix::unistd::Pid::from_raw(parent_of(runner));
        nix::sys::signal::kill(supervisor, nix::sys::signal::Signal::SIGSTOP).unwrap();
        // Declared a zombie (5 s without heartbeats), retried at once, try 2 succeeds.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while row().await.0.as_deref() != Some("success") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "try 2 never succeeded: {:?}",
                row().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(row().await.1, 2);
        // Try 1 comes back and writes its value late.
        std::fs::write(&marker, "go").unwrap();
        nix::sys::signal::kill(supervisor, nix::sys::signal::Signal::SIGCONT).unwrap();
        wait_for(
            Duration::from_secs(30),
            "the fenced supervisor to end",
            || (!alive(supervisor.as_raw())).then_some(()),
        );
        let xcom: String = sqlx::query_scalar(
            "SELECT value FROM xcom WHERE dag_id = 'fenced' AND task_id = 'fenced_write' AND key = 'k'",
        )
        .fetch_one(a.db.pool())
        .await
        .unwrap();
        assert_eq!(xcom, "\"try 2\"", "the late write of try 1 was refused");
        let log = a.cli(&[
            "tasks",
            "logs",
            "fenced",
            "f1",
            "fenced_write",
            "--try",
            "1",
        ]);
        assert!(log.stdout.contains("stopping the runner"), "{log:?}");
    }
);

/// `airlock standalone` whose heartbeat timeout is far away: a try failed at once was failed
/// because its supervisor's death was reported.
async fn standalone_with_slow_zombies(backend: Backend) -> Option<Standalone> {
    Standalone::start_with(backend, &[("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "300")]).await
}

on_both_backends!(
    a_killed_supervisor_fails_its_try_at_once,
    standalone_with_slow_zombies,
    |a| {
        let out = a.cli(&["dags", "trigger", "sleeper", "--run-id", "s1"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let db = a.db.clone();
        let row = || {
            let db = db.clone();
            async move {
                sqlx::query_as::<_, (Option<String>, Option<i64>, Option<String>)>(
                    "SELECT state, pid, retry_reason FROM task_instance WHERE dag_id = 'sleeper'",
                )
                .fetch_one(db.pool())
                .await
                .unwrap()
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let runner = loop {
            if let (Some(s), Some(pid), _) = row().await
                && s == "running"
            {
                break pid as i32;
            }
            assert!(tokio::time::Instant::now() < deadline, "never ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let supervisor = nix::unistd::Pid::from_raw(parent_of(runner));
        nix::sys::signal::kill(supervisor, nix::sys::signal::Signal::SIGKILL).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let reason = loop {
            if let (Some(s), _, reason) = row().await
                && s == "failed"
            {
                break reason.unwrap_or_default();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not failed within seconds: {:?}",
                row().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(reason.contains("supervisor died"), "{reason}");
    }
);

on_both_backends!(
    an_unwritable_task_log_directory_fails_the_try_with_the_reason,
    Standalone::start,
    |a| {
        // Where the DAG's logs would go is a file: no log can be opened there.
        let logs = a.home.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("dag_id=one"), "not a directory").unwrap();
        let out = a.cli(&["dags", "trigger", "one", "--run-id", "l1", "--wait"]);
        assert_eq!(out.code, Some(1), "{out:?}");
        let reason: Option<String> =
            sqlx::query_scalar("SELECT retry_reason FROM task_instance WHERE dag_id = 'one'")
                .fetch_one(a.db.pool())
                .await
                .unwrap();
        let reason = reason.unwrap_or_default();
        assert!(reason.contains("cannot open the task log"), "{reason}");
        let logs = a.cli(&["tasks", "logs", "one", "l1", "ok"]);
        assert_ne!(logs.code, Some(0), "{logs:?}");
        assert!(logs.stderr.contains("cannot open the task log"), "{logs:?}");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_ends_the_task_log_with_a_note() {
    let stack = Stack::start(Backend::Sqlite).await.expect("sqlite");
    let ti = stack
        .seed(
            json!({"dag_id": "t", "run_id": "r-full", "bundle_name": "airlock-test-bundle",
        "conf": {"bytes": 1u64 << 20}, "tasks": [{"task_id": "print_lots"}]}),
        )
        .task_instances[0]
        .id;
    // The supervisor runs in a mount namespace of its own whose log directory is a 256 KiB
    // filesystem; what it wrote is copied out before the namespace goes away.
    let root = stack.database.dir.path();
    let small = root.join("small-logs");
    let copy = root.join("copied-logs");
    std::fs::create_dir_all(&small).unwrap();
    let cmd = stack.supervisor(ti);
    let std_cmd = cmd.as_std();
    let mut unshare = tokio::process::Command::new("unshare");
    if !nix::unistd::geteuid().is_root() {
        unshare.args(["--user", "--map-root-user"]);
    }
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs '{small}' && \"$0\" \"$@\"; rc=$?; cp -r '{small}' '{copy}'; exit $rc",
        small = small.display(),
        copy = copy.display()
    );
    unshare
        .args(["--mount", "sh", "-c", &script])
        .arg(std_cmd.get_program())
        .args(std_cmd.get_args())
        .env_clear()
        .envs(std_cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("AIRLOCK_LOG_DIR", &small)
        // Inside a user namespace only the mapped user exists.
        .env("AIRLOCK_RUN_AS_USER", "root");
    let exit = Stack::finish(&mut unshare, Duration::from_secs(120)).await;
    assert_eq!(exit.code, Some(0), "{}", exit.stderr);
    assert_eq!(
        stack.ti(ti).await.state.map(|s| s.as_str()),
        Some("success")
    );
    let path = airlock_supervisor::logs::log_path(&copy, "t", "r-full", "print_lots", -1, 1);
    let log = std::fs::read_to_string(&path).unwrap();
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains("task log truncated"), "{last}");
    assert!(last.contains("No space left"), "{last}");
}

// An executor that crashes leaves its supervisors' stderr a pipe nobody reads. Their next log
// line must not end them (and their runners with them): the try finishes and is reported.
on_both_backends!(
    a_supervisor_whose_stderr_reader_is_gone_finishes_its_try,
    Stack::start,
    |stack| {
        let ti = stack.seed_task("ok", json!({}));
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = stack.supervisor(ti);
        cmd.stderr(writer);
        let exit = Stack::finish(&mut cmd, Duration::from_secs(60)).await;
        assert_eq!(exit.code, Some(0), "{exit:?}");
        assert_eq!(
            stack.ti(ti).await.state.map(|s| s.as_str()),
            Some("success")
        );
    }
);
