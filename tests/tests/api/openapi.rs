//! The committed OpenAPI document, its agreement with Airflow's, and the served copies.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::*;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn generated() -> String {
    airlock_api_server::openapi().to_pretty_json().unwrap() + "\n"
}

#[test]
fn committed_spec_matches_the_code() {
    let path = repo_root().join("openapi/execution-api.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated(),
        "{} is stale. Regenerate it with:\n    cargo run -q -p airlock-api-server -- openapi > openapi/execution-api.json",
        path.display()
    );
}

/// The routes the Execution API issue requires, as (method, path).
const REQUIRED: &[(&str, &str)] = &[
    ("get", "/health"),
    ("patch", "/task-instances/{task_instance_id}/run"),
    ("patch", "/task-instances/{task_instance_id}/state"),
    ("put", "/task-instances/{task_instance_id}/heartbeat"),
    (
        "patch",
        "/task-instances/{task_instance_id}/skip-downstream",
    ),
    ("put", "/task-instances/{task_instance_id}/rtif"),
    (
        "patch",
        "/task-instances/{task_instance_id}/rendered-map-index",
    ),
    (
        "get",
        "/task-instances/{task_instance_id}/previous-successful-dagrun",
    ),
    ("get", "/task-instances/count"),
    ("get", "/task-instances/states"),
    ("get", "/task-instances/previous/{dag_id}/{task_id}"),
    ("get", "/task-instances/breadcrumbs"),
    ("get", "/task-reschedules/{task_instance_id}/start_date"),
    ("get", "/xcoms/{dag_id}/{run_id}/{task_id}/{key}"),
    ("head", "/xcoms/{dag_id}/{run_id}/{task_id}/{key}"),
    ("post", "/xcoms/{dag_id}/{run_id}/{task_id}/{key}"),
    ("delete", "/xcoms/{dag_id}/{run_id}/{task_id}/{key}"),
    (
        "get",
        "/xcoms/{dag_id}/{run_id}/{task_id}/{key}/item/{offset}",
    ),
    ("get", "/xcoms/{dag_id}/{run_id}/{task_id}/{key}/slice"),
    ("get", "/variables/{variable_key}"),
    ("put", "/variables/{variable_key}"),
    ("delete", "/variables/{variable_key}"),
    ("get", "/variables/keys"),
    ("get", "/connections/{connection_id}"),
    ("get", "/dag-runs/{dag_id}/{run_id}"),
    ("post", "/dag-runs/{dag_id}/{run_id}"),
    ("get", "/dag-runs/{dag_id}/{run_id}/state"),
    ("get", "/dag-runs/count"),
    ("get", "/dag-runs/previous"),
    ("post", "/dag-runs/{dag_id}/{run_id}/clear"),
    ("get", "/dags/{dag_id}"),
    ("get", "/assets/by-name"),
    ("get", "/assets/by-uri"),
    ("get", "/assets/by-alias"),
    ("get", "/asset-events/by-asset"),
    ("get", "/asset-events/by-asset-alias"),
];

fn success_codes(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|c| c.starts_with('2'))
        .cloned()
        .collect()
}

#[test]
fn spec_agrees_with_airflows_on_paths_methods_and_success_codes() {
    // Airflow's own document, copied with its origin and licence noted in tests/fixtures.
    let reference_path = repo_root().join("tests/fixtures/airflow-execution-api-2026-06-30.json");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(&reference_path)
            .unwrap_or_else(|e| panic!("{}: {e}", reference_path.display())),
    )
    .unwrap();
    let ours: Value = serde_json::from_str(&generated()).unwrap();
    for (method, path) in REQUIRED {
        let theirs = &reference["paths"][path][method];
        let mine = &ours["paths"][path][method];
        assert!(
            theirs.is_object(),
            "{method} {path} is not in Airflow's spec"
        );
        assert!(mine.is_object(), "{method} {path} is missing from ours");
        assert_eq!(
            success_codes(mine),
            success_codes(theirs),
            "{method} {path}"
        );
    }
    // Every operation we share with Airflow agrees too, not just the required ones.
    for (path, item) in ours["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let theirs = &reference["paths"][path][method];
            if theirs.is_object() {
                assert_eq!(success_codes(op), success_codes(theirs), "{method} {path}");
            }
        }
    }
}

#[test]
fn every_operation_documents_its_errors() {
    let ours: Value = serde_json::from_str(&generated()).unwrap();
    for (path, item) in ours["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let codes: BTreeSet<_> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            for needed in ["400", "422", "500"] {
                assert!(codes.contains(needed), "{method} {path} lacks {needed}");
            }
            if op.get("security").is_some() {
                assert!(
                    codes.contains("401") && codes.contains("403"),
                    "{method} {path}"
                );
            }
            for (code, resp) in op["responses"].as_object().unwrap() {
                assert!(
                    resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {code}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_server_serves_the_spec_and_a_docs_page() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let served = api
        .http
        .get(format!("{}/openapi.json", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "application/json");
    let served: Value = served.json().await.unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(&generated()).unwrap());
    let docs = api
        .http
        .get(format!("{}/docs", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(
        html.contains("openapi.json") && !html.contains("<script src="),
        "no external scripts are needed"
    );
}
