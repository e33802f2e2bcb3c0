//! Helpers shared by the API suites.

pub use airlock_api_server::auth::Scope;
pub use airlock_e2e::{Backend, TestApi};
pub use reqwest::{Method, StatusCode};
pub use serde_json::{Value, json};
pub use uuid::Uuid;

/// Runs `$body` against an in-process server on each backend (see `on_both_backends!`).
macro_rules! both_backends {
    ($name:ident, |$api:ident| $body:block) => {
        airlock_e2e::on_both_backends!($name, $crate::common::TestApi::start, |$api| $body);
    };
}

/// Seeds run `r1` of DAG `demo` with the given tasks (`(task_id, retries)`), returning their ids.
pub async fn seed(api: &TestApi, tasks: &[(&str, i64)]) -> Vec<Uuid> {
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|(t, r)| json!({"task_id": t, "retries": r}))
        .collect();
    api.seed(json!({"dag_id": "demo", "run_id": "r1", "tasks": tasks}))
        .await
        .task_instances
        .into_iter()
        .map(|t| t.id)
        .collect()
}

/// The body of `PATCH /run` for `pid` on host `h`.
pub fn run_body(pid: i64) -> Value {
    json!({"state": "running", "hostname": "h", "unixname": "u", "pid": pid,
           "start_date": "2026-11-23T10:00:00Z"})
}

/// Starts `ti` with pid `pid` and returns the context.
pub async fn start(api: &TestApi, ti: Uuid, pid: i64) -> Value {
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{ti}/run"),
            Some(ti),
        )
        .json(&run_body(pid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    r.json().await.unwrap()
}

/// Sends `PATCH /state` with `body` and returns the status and the body text.
pub async fn set_state(api: &TestApi, ti: Uuid, body: Value) -> (StatusCode, String) {
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{ti}/state"),
            Some(ti),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Asserts an error answer: its status, that it is JSON with `detail`, and its `reason`.
pub async fn expect_error(
    resp: reqwest::Response,
    status: StatusCode,
    reason: Option<&str>,
) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let body: Value = resp.json().await.unwrap();
    if let Some(reason) = reason {
        assert_eq!(body["detail"]["reason"], reason, "{body}");
    }
    body
}

/// The stored state of a task instance.
pub async fn state_of(api: &TestApi, ti: Uuid) -> Option<String> {
    airlock_store::task_instances::get_task_instance(api.state.db.pool(), ti)
        .await
        .unwrap()
        .expect("task instance exists")
        .state
        .map(|s| s.as_str().to_owned())
}

/// A request with an admin token.
pub fn admin(api: &TestApi, method: Method, path: &str) -> reqwest::RequestBuilder {
    let token = api.tokens().issue("tester", Scope::Admin, None);
    api.req(method, path, None).bearer_auth(token)
}

/// A task of a DAG definition, with no retry delay.
pub fn task(id: &str, up: &[&str]) -> Value {
    json!({"task_id": id, "upstream": up, "retry_delay": 0})
}

/// Registers `dags` as bundle `bundle`.
pub async fn register(api: &TestApi, bundle: &str, dags: Value) -> reqwest::Response {
    admin(
        api,
        Method::PUT,
        &format!("/airlock/control/bundles/{bundle}"),
    )
    .json(&json!({"bundle": bundle, "dags": dags}))
    .send()
    .await
    .unwrap()
}

/// Triggers run `run` of `dag` through the control API.
pub async fn trigger(api: &TestApi, dag: &str, run: &str) -> reqwest::Response {
    admin(
        api,
        Method::POST,
        &format!("/airlock/control/dags/{dag}/runs"),
    )
    .json(&json!({"run_id": run}))
    .send()
    .await
    .unwrap()
}

/// One scheduling pass, then one executor tick (no waiting); the workloads it hands out.
pub async fn tick(api: &TestApi, executor: &str, slots: u32, holding: &[Uuid]) -> Vec<Value> {
    api.schedule().await;
    let r = admin(
        api,
        Method::POST,
        &format!("/airlock/control/executors/{executor}/tick"),
    )
    .json(&json!({"slots": slots, "wait_ms": 0, "holding": holding}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["workloads"].as_array().unwrap().clone()
}

/// The task instance a workload names.
pub fn ti_of(w: &Value) -> Uuid {
    w["ti_id"].as_str().unwrap().parse().unwrap()
}

/// Starts a handed-out task instance with its workload token, as a supervisor would.
pub async fn start_work(api: &TestApi, w: &Value) -> Uuid {
    let ti = ti_of(w);
    let r = api
        .req(Method::PATCH, &format!("/task-instances/{ti}/run"), None)
        .bearer_auth(w["token"].as_str().unwrap())
        .json(&run_body(7))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    ti
}

/// Runs a handed-out task instance to `state`, as a supervisor would.
pub async fn run_to(api: &TestApi, w: &Value, state: &str) {
    let ti = start_work(api, w).await;
    let (status, text) = set_state(
        api,
        ti,
        json!({"state": state, "end_date": "2026-11-23T10:00:01Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
}
