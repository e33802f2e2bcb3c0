//! The triggerer routes: claims, single and batched outcomes.

use airlock_api_server::auth::Scope;

use crate::common::*;

async fn defer(api: &TestApi, ti: Uuid) {
    start(api, ti, 1).await;
    let (status, body) = set_state(
        api,
        ti,
        json!({"state": "deferred", "classpath": "airflow.triggers.testing.SuccessTrigger",
               "trigger_kwargs": {}, "next_method": "done"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

fn as_triggerer(api: &TestApi, method: Method, path: &str, who: &str) -> reqwest::RequestBuilder {
    let token = api.tokens().issue(who, Scope::Triggerer, None);
    api.req(method, path, None).bearer_auth(token)
}

both_backends!(outcomes_are_applied_once_singly_or_in_batches, |api| {
    let tis = seed(&api, &[("a", 0), ("b", 0), ("c", 0)]).await;
    for ti in &tis {
        defer(&api, *ti).await;
    }
    let claim: Value = as_triggerer(&api, Method::POST, "/airlock/triggerers/t1/claim", "t1")
        .json(&json!({"max": 10, "include_assigned": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let triggers = claim["triggers"].as_array().unwrap();
    assert_eq!(triggers.len(), 3);
    assert!(claim.get("assigned").is_none(), "not asked for");
    let ids: Vec<i64> = triggers.iter().map(|t| t["id"].as_i64().unwrap()).collect();

    let single: Value = as_triggerer(
        &api,
        Method::POST,
        &format!("/airlock/triggers/{}/outcome", ids[0]),
        "t1",
    )
    .json(&json!({"kind": "event", "payload": {"n": 1}}))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(single["applied"], 1);

    let batch = json!({"outcomes": [
        {"trigger_id": ids[0], "outcome": {"kind": "event", "payload": {}}},
        {"trigger_id": ids[1], "outcome": {"kind": "task_success"}},
        {"trigger_id": ids[2], "outcome": {"kind": "timeout"}},
    ]});
    let r = as_triggerer(&api, Method::POST, "/airlock/triggerers/t2/outcomes", "t1")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "another triggerer's route"
    );
    let r: Value = as_triggerer(&api, Method::POST, "/airlock/triggerers/t1/outcomes", "t1")
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let applied: Vec<i64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["applied"].as_i64().unwrap())
        .collect();
    assert_eq!(applied, [0, 1, 1], "the first was already applied");
    let by_task: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT task_id, state, next_method FROM task_instance WHERE run_id = 'r1' ORDER BY task_id",
    )
    .fetch_all(api.state.db.pool())
    .await
    .unwrap();
    assert_eq!(by_task[0].1.as_deref(), Some("scheduled"));
    assert_eq!(by_task[1].1.as_deref(), Some("success"));
    assert_eq!(
        (by_task[2].1.as_deref(), by_task[2].2.as_deref()),
        (Some("scheduled"), Some("__fail__"))
    );

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"trigger_id": i, "outcome": {"kind": "timeout"}}))
        .collect();
    let r = as_triggerer(&api, Method::POST, "/airlock/triggerers/t1/outcomes", "t1")
        .json(&json!({"outcomes": too_many}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, Some("batch_too_large")).await;
});
