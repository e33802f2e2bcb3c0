//! Unmodified Airflow 3 DAG files on Airlock: the Airflow bundle (`python/airlock_airflow.py`)
//! describes a folder of DAG files with Airflow's own parsing, and each try runs Airflow's own
//! task runner under Airlock's supervisor: TaskFlow XComs, operators, branching, short-circuit,
//! Variables, Connections, conf, params, templates and retries. Needs the repository's `.venv` (Airflow 3.3), which
//! `make test` creates.

use std::path::{Path, PathBuf};

use airlock_e2e::Backend;
use airlock_e2e::standalone::{Standalone, bundles_dir};
use airlock_protocol::state::DagRunState;
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_default()
}

/// Writes the bundle executable `name` for the DAG folder `dags` into `bundles`.
fn airflow_bundle(bundles: &Path, name: &str, dags: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/python-env.sh",
        python.display()
    );
    let script = format!(
        "#!/bin/sh\nexec {} {} --dags-folder {} --bundle {name} \"$@\"\n",
        python.display(),
        repo().join("python/airlock_airflow.py").display(),
        dags.display()
    );
    let path = bundles.join(name);
    std::fs::write(&path, script).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmodified_airflow_dag_file_runs_under_airlocks_supervisor() {
    let a = Standalone::start(Backend::Sqlite)
        .await
        .unwrap_or_else(|| panic!("sqlite is always available"));
    let bundles = bundles_dir(a.database.dir.path());
    let bundles_arg = bundles.display().to_string();
    airflow_bundle(
        &bundles,
        "airflow-orders",
        &repo().join("tests/airflow/dags"),
    );
    let sync = a.cli(&["dags", "sync", "--bundles-dir", &bundles_arg]);
    assert_eq!(sync.code, Some(0), "{sync:?}");
    assert!(
        sync.stdout
            .contains("airflow-orders: registered features, orders"),
        "{sync:?}"
    );

    let (out, run) = a.run_dag("orders", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(run.state, DagRunState::Success, "{out:?}");
    assert_eq!(run.task_instances.len(), 3);
    // XComs went through Airlock's API, written and read by Airflow's task runner.
    let extracted = a
        .return_value("orders", &run.run_id, "extract", -1)
        .await
        .unwrap_or_else(|| panic!("no XCom of extract"));
    assert_eq!(extracted, json!({"orders": 5, "cents": [1250, 3000]}));
    let loaded = a.return_value("orders", &run.run_id, "load", -1).await;
    assert_eq!(loaded, Some(json!(10)));
    let log = a.cli(&["tasks", "logs", "orders", &run.run_id, "load"]);
    assert!(log.stdout.contains("loading 5 orders"), "{log:?}");
    let log = a.cli(&["tasks", "logs", "orders", &run.run_id, "announce"]);
    assert!(log.stdout.contains("hello from bash"), "{log:?}");

    // Branching, short-circuit, explicit XComs, Variables, Connections, conf and params,
    // templated fields and a retry, as Airflow's runner does them against Airlock's API.
    let set = a.cli(&["vars", "set", "region", "eu-west-1"]);
    assert_eq!(set.code, Some(0), "{set:?}");
    let set = a.cli(&[
        "conns",
        "set",
        "warehouse",
        "--type",
        "postgres",
        "--host",
        "db.internal",
        "--login",
        "etl",
    ]);
    assert_eq!(set.code, Some(0), "{set:?}");
    let (out, run) = a.run_dag("features", json!({"who": "ops"}));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(run.state, DagRunState::Success, "{out:?}");
    let mut states: Vec<(String, String, i64)> = run
        .task_instances
        .iter()
        .map(|t| {
            let state = t.state.map_or("none", |s| s.as_str()).to_owned();
            (t.task_id.clone(), state, t.try_number)
        })
        .collect();
    states.sort();
    let expected: Vec<(String, String, i64)> = [
        ("behind_gate", "skipped", 1),
        ("choose", "success", 1),
        ("chosen", "success", 1),
        ("flaky", "success", 2),
        ("from_conf", "success", 1),
        ("gate", "success", 1),
        ("greet", "success", 1),
        ("passed_over", "skipped", 1),
        ("pull", "success", 1),
        ("push", "success", 1),
        ("settings", "success", 1),
    ]
    .iter()
    .map(|(t, s, n)| ((*t).to_owned(), (*s).to_owned(), *n))
    .collect();
    assert_eq!(states, expected);
    for (task, value) in [
        (
            "settings",
            json!({"region": "eu-west-1", "missing": "fallback", "host": "db.internal", "login": "etl"}),
        ),
        ("from_conf", json!({"who": "ops", "limit": 3})),
        ("pull", json!(43)),
        ("flaky", json!(2)),
        ("chosen", json!("chosen ran")),
    ] {
        let got = a.return_value("features", &run.run_id, task, -1).await;
        assert_eq!(got, Some(value), "{task}");
    }
    let log = a.cli(&["tasks", "logs", "features", &run.run_id, "greet"]);
    assert!(log.stdout.contains("hello, ops"), "{log:?}");

    // Airflow's home went to throwaway directories, not where the worker runs.
    assert!(
        !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".airflow")
            .exists()
    );

    // A file that does not import and a DAG Airlock cannot run yet are named, with why; the
    // other DAG of their folder registers.
    airflow_bundle(
        &bundles,
        "airflow-mixed",
        &repo().join("tests/airflow/unsupported"),
    );
    let sync = a.cli(&["dags", "sync", "--bundles-dir", &bundles_arg]);
    assert_eq!(sync.code, Some(1), "{sync:?}");
    for said in [
        "bundle airflow-mixed: broken.py: cannot be imported: SyntaxError: invalid syntax (line 5)",
        "bundle airflow-mixed: DAG 'mapped', task 'double': dynamic task mapping (.expand) is not supported yet",
    ] {
        assert!(sync.stderr.contains(said), "{said:?} not in {sync:?}");
    }
    assert!(
        sync.stdout.contains("airflow-mixed: registered fine"),
        "{sync:?}"
    );
    let list = a.cli(&["dags", "list"]);
    assert!(
        list.stdout.contains("fine") && !list.stdout.contains("mapped"),
        "{list:?}"
    );
}
