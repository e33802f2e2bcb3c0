//! Task code cannot reach the control plane: under `airlock standalone`, a task that tries to
//! read the data directory's secrets and database, to ptrace its ancestors, to read their
//! `/proc/<pid>/environ`, `mem` and `cwd`, or to signal them, gets nothing.

use airlock_e2e::{Backend, Standalone};
use airlock_protocol::state::DagRunState;
use serde_json::{Value, json};

/// The JWT secret the server is started with, one of the needles the probe looks for.
const JWT_SECRET: &str = "isolation-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

async fn probe(extra_env: &[(&str, &str)]) -> Value {
    let mut env = vec![("AIRLOCK_JWT_SECRET", JWT_SECRET)];
    env.extend_from_slice(extra_env);
    let a = Standalone::start_with(Backend::Sqlite, &env)
        .await
        .expect("sqlite");
    let home = a.home.display().to_string();
    let admin_token = std::fs::read_to_string(a.home.join("admin-token")).unwrap();
    let needles = json!([JWT_SECRET, admin_token.trim()]);
    let (out, run) = a.run_dag("isolation", json!({ "home": home, "needles": needles }));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(run.state, DagRunState::Success);
    let report = a
        .return_value("isolation", &run.run_id, "probe", -1)
        .await
        .expect("the probe's report");
    let cwd = report["cwd"].as_str().unwrap_or_default();
    assert!(!cwd.is_empty() && !cwd.starts_with(&home), "{report}");
    for got in [
        "read",
        "ptraced",
        "mem",
        "cwd_of_ancestors",
        "signalled",
        "leaked",
    ] {
        assert_eq!(report[got], json!([]), "{got}: {report}");
    }
    assert_eq!(report["listed_home"], false, "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_gets_nothing_of_the_control_plane() {
    let me = nix::unistd::geteuid().as_raw();
    let report = probe(&[]).await;
    // Not even the environment blocks of the processes above it.
    assert_eq!(report["environ"], json!([]), "{report}");
    if me == 0 {
        // As root, task code runs as `nobody` unless told otherwise.
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        assert_eq!(report["uid"], nobody.uid.as_raw(), "{report}");
        // Kept as root on purpose (`--run-as-user root`), it is fenced off by Landlock alone:
        // root may still read the environment blocks above it, but they hold no secret.
        let report = probe(&[("AIRLOCK_RUN_AS_USER", "root")]).await;
        assert_eq!(report["uid"], 0, "{report}");
    } else {
        assert_eq!(report["uid"], me, "the same user as the server");
    }
}
