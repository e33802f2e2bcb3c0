//! `/dag-runs` and `/dags`.

use airlock_protocol::dag::TaskDefinition;
use airlock_store as store;
use airlock_store::dags::DagSpec;

use crate::common::*;

async fn register(api: &TestApi, dag_id: &str, paused: bool) {
    let spec = DagSpec {
        dag_id: dag_id.into(),
        bundle_name: Some("examples".into()),
        bundle_version: None,
        relative_fileloc: Some("dags/etl.rs".into()),
        owners: Some("data".into()),
        tags: vec!["etl".into()],
        description: None,
        max_active_tasks: None,
        timing: None,
        max_active_runs: None,
        dagrun_timeout: None,
        notifiers: Vec::new(),
        is_paused: paused,
        tasks: vec![
            TaskDefinition {
                retries: 2,
                ..TaskDefinition::new("extract")
            },
            TaskDefinition::new("load"),
        ],
    };
    let mut tx = api.state.db.begin_write().await.unwrap();
    store::dags::upsert_dag(tx.conn(), &spec, store::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

both_backends!(get_state_count_previous, |api| {
    let me = seed(&api, &[("t", 0)]).await[0];
    api.seed(json!({"dag_id": "demo", "run_id": "r0", "logical_date": "2020-01-01T00:00:00Z", "tasks": []})).await;
    let r = api
        .req(Method::GET, "/dag-runs/demo/r1", Some(me))
        .send()
        .await
        .unwrap();
    let run: Value = r.json().await.unwrap();
    assert_eq!(run["run_id"], "r1");
    assert_eq!(run["run_type"], "manual");
    let r = api
        .req(Method::GET, "/dag-runs/demo/r1/state", Some(me))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"state": "running"})
    );
    for path in ["/dag-runs/demo/nope", "/dag-runs/demo/nope/state"] {
        let r = api.req(Method::GET, path, Some(me)).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    }
    let count = |q: &'static str| {
        api.req(
            Method::GET,
            &format!("/dag-runs/count?dag_id=demo{q}"),
            Some(me),
        )
        .send()
    };
    assert_eq!(count("").await.unwrap().json::<i64>().await.unwrap(), 2);
    assert_eq!(
        count("&run_ids=r0&run_ids=zz")
            .await
            .unwrap()
            .json::<i64>()
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        count("&states=running")
            .await
            .unwrap()
            .json::<i64>()
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        count("&states=success")
            .await
            .unwrap()
            .json::<i64>()
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        count("&logical_dates=2020-01-01T00:00:00Z")
            .await
            .unwrap()
            .json::<i64>()
            .await
            .unwrap(),
        1
    );
    let r = api
        .req(
            Method::GET,
            "/dag-runs/previous?dag_id=demo&logical_date=2030-01-01T00:00:00Z",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["run_id"], "r1");
    let r = api
        .req(
            Method::GET,
            "/dag-runs/previous?dag_id=demo&logical_date=2020-01-01T00:00:00Z",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), Value::Null);
    let r = api
        .req(
            Method::GET,
            "/dag-runs/previous?dag_id=demo&logical_date=2030-01-01T00:00:00Z&state=failed",
            Some(me),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), Value::Null);
    let r = api
        .req(Method::GET, "/dag-runs/previous?dag_id=demo", Some(me))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
});

both_backends!(trigger_and_clear, |api| {
    let me = seed(&api, &[("t", 0)]).await[0];
    start(&api, me, 1).await;
    register(&api, "etl", false).await;
    register(&api, "paused", true).await;
    let trigger = |dag: &'static str, run: &'static str, body: Value| {
        api.req(Method::POST, &format!("/dag-runs/{dag}/{run}"), Some(me))
            .json(&body)
            .send()
    };
    let r = trigger(
        "etl",
        "child",
        json!({"conf": {"day": 1}, "logical_date": "2026-02-01T00:00:00Z", "note": "hi"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let run = store::dag_runs::require_dag_run(&api.state.db, "etl", "child")
        .await
        .unwrap();
    assert_eq!(run.run_type.as_str(), "operator_triggered");
    assert_eq!(run.state.as_str(), "queued");
    assert_eq!(run.conf.unwrap()["day"], 1);
    assert_eq!(run.note.as_deref(), Some("hi"));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_instance WHERE dag_id = 'etl' AND run_id = 'child' AND state IS NULL")
        .fetch_one(api.state.db.pool()).await.unwrap();
    assert_eq!(n, 2, "one task instance per declared task");
    expect_error(
        trigger("etl", "child", json!({})).await.unwrap(),
        StatusCode::CONFLICT,
        Some("already_exists"),
    )
    .await;
    expect_error(
        trigger("ghost", "x", json!({})).await.unwrap(),
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    expect_error(
        trigger("paused", "x", json!({})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        Some("dag_paused"),
    )
    .await;
    expect_error(
        trigger("etl", "y", json!({"bogus": 1})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
    )
    .await;

    let r = api
        .req(Method::POST, "/dag-runs/demo/nope/clear", Some(me))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    // Clear: the run is queued again, running tasks restart, finished ones lose their state.
    let r = api
        .req(Method::POST, "/dag-runs/demo/r1/clear", Some(me))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(state_of(&api, me).await.as_deref(), Some("restarting"));
    let run = store::dag_runs::require_dag_run(&api.state.db, "demo", "r1")
        .await
        .unwrap();
    assert_eq!((run.state.as_str(), run.clear_number), ("queued", 1));
    // Clearing its own run stopped this try: it may clear nothing more.
    let r = api
        .req(Method::POST, "/dag-runs/demo/nope/clear", Some(me))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, Some("not_running")).await;
});

both_backends!(dags_are_described, |api| {
    let me = seed(&api, &[("t", 0)]).await[0];
    register(&api, "etl", false).await;
    let r = api
        .req(Method::GET, "/dags/etl", Some(me))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"dag_id": "etl", "is_paused": false,
        "bundle_name": "examples", "bundle_version": null, "relative_fileloc": "dags/etl.rs",
        "owners": "data", "tags": ["etl"], "next_dagrun": null})
    );
    let r = api
        .req(Method::GET, "/dags/nope", Some(me))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
});
