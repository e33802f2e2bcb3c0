//! `/task-instances/{count,states,previous,breadcrumbs}`.

use crate::common::*;

async fn seed_two_runs(api: &TestApi) -> (Vec<Uuid>, Vec<Uuid>) {
    let spec = |run: &str, date: &str| {
        json!({"dag_id": "d", "run_id": run, "logical_date": date, "tasks": [
        {"task_id": "extract", "task_group_id": "etl"},
        {"task_id": "mapped", "map_index": 0, "task_group_id": "etl.inner"},
        {"task_id": "mapped", "map_index": 1, "task_group_id": "etl.inner"},
        {"task_id": "report"}]})
    };
    let a = api
        .seed(spec("a", "2026-01-01T00:00:00Z"))
        .await
        .task_instances
        .into_iter()
        .map(|t| t.id)
        .collect();
    let b = api
        .seed(spec("b", "2026-01-02T00:00:00Z"))
        .await
        .task_instances
        .into_iter()
        .map(|t| t.id)
        .collect();
    (a, b)
}

both_backends!(count_and_states_filter_like_airflow, |api| {
    let (a, b) = seed_two_runs(&api).await;
    let me = a[0];
    start(&api, a[0], 1).await;
    set_state(
        &api,
        a[0],
        json!({"state": "success", "end_date": "2026-11-23T10:00:01Z"}),
    )
    .await;
    sqlx::query("UPDATE task_instance SET state = NULL WHERE id = $1")
        .bind(b[3].to_string())
        .execute(api.state.db.pool())
        .await
        .unwrap();
    let count = |q: &str| {
        let api = &api;
        let q = q.to_owned();
        async move {
            let r = api
                .req(
                    Method::GET,
                    &format!("/task-instances/count?dag_id=d{q}"),
                    Some(me),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<i64>().await.unwrap()
        }
    };
    assert_eq!(count("").await, 8);
    assert_eq!(count("&run_ids=a").await, 4);
    assert_eq!(count("&run_ids=a&run_ids=b&task_ids=report").await, 2);
    assert_eq!(count("&map_index=1").await, 2);
    assert_eq!(count("&states=success").await, 1);
    assert_eq!(count("&states=null").await, 1);
    assert_eq!(count("&states=null&states=success").await, 2);
    assert_eq!(count("&states=queued&run_ids=b").await, 3);
    assert_eq!(count("&logical_dates=2026-01-02T00:00:00%2B00:00").await, 4);
    assert_eq!(
        count("&task_group_id=etl").await,
        6,
        "nested groups belong to their parent"
    );
    assert_eq!(count("&task_group_id=etl.inner&run_ids=a").await, 2);
    let r = api
        .req(
            Method::GET,
            "/task-instances/count?dag_id=d&task_group_id=nope",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    let r = api
        .req(Method::GET, "/task-instances/count", Some(me))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    assert_eq!(body["detail"][0]["type"], "missing");
    let r = api
        .req(
            Method::GET,
            "/task-instances/count?dag_id=d&map_index=x",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;

    let r = api
        .req(
            Method::GET,
            "/task-instances/states?dag_id=d&run_ids=a",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    let states: Value = r.json().await.unwrap();
    assert_eq!(
        states,
        json!({"task_states": {"a": {"extract": "success", "mapped_0": "queued",
        "mapped_1": "queued", "report": "queued"}}})
    );
});

both_backends!(previous_task_instance_and_breadcrumbs, |api| {
    let (a, b) = seed_two_runs(&api).await;
    start(&api, a[3], 1).await;
    set_state(
        &api,
        a[3],
        json!({"state": "failed", "end_date": "2026-11-23T10:00:02Z"}),
    )
    .await;
    let me = b[3];
    let r = api
        .req(
            Method::GET,
            "/task-instances/previous/d/report?logical_date=2026-01-02T00:00:00Z",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    let prev: Value = r.json().await.unwrap();
    assert_eq!(prev["run_id"], "a");
    assert_eq!(prev["state"], "failed");
    assert_eq!(prev["try_number"], 1);
    assert_eq!(prev["map_index"], -1);
    assert_eq!(prev["logical_date"], "2026-01-01T00:00:00Z");
    assert_eq!(prev["duration"], 2.0);
    let r = api
        .req(
            Method::GET,
            "/task-instances/previous/d/report?logical_date=2026-01-02T00:00:00Z&state=success",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), Value::Null);
    let r = api
        .req(
            Method::GET,
            "/task-instances/previous/d/report?logical_date=2026-01-01T00:00:00Z",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), Value::Null);
    let r = api
        .req(
            Method::GET,
            "/task-instances/previous/d/report?state=bogus",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;

    let r = api
        .req(
            Method::GET,
            "/task-instances/breadcrumbs?dag_id=d&run_id=a",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    let crumbs: Value = r.json().await.unwrap();
    assert_eq!(
        crumbs,
        json!({"breadcrumbs": [{"task_id": "report", "map_index": -1, "state": "failed",
        "operator": null, "duration": 2.0}]})
    );
    let r = api
        .req(
            Method::GET,
            "/task-instances/breadcrumbs?dag_id=d",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
});
