//! `/xcoms/...`.

use crate::common::*;

both_backends!(set_get_head_delete, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    start(&api, ti, 1).await;
    let url = "/xcoms/demo/r1/t/my/key/with/slashes";
    let r = api
        .req(Method::POST, url, Some(ti))
        .json(&json!({"a": [1, 2]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "XCom successfully set"})
    );
    let r = api.req(Method::GET, url, Some(ti)).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"key": "my/key/with/slashes", "value": {"a": [1, 2]}})
    );
    // Replace.
    api.req(Method::POST, url, Some(ti))
        .json(&json!("second"))
        .send()
        .await
        .unwrap();
    let r = api.req(Method::GET, url, Some(ti)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["value"], "second");
    // HEAD counts map indexes; map_index is refused.
    let r = api.req(Method::HEAD, url, Some(ti)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-range"], "map_indexes 1");
    let r = api
        .req(Method::HEAD, &format!("{url}?map_index=0"), Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Delete (twice: the second is a no-op).
    for _ in 0..2 {
        let r = api.req(Method::DELETE, url, Some(ti)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = api.req(Method::GET, url, Some(ti)).send().await.unwrap();
    let body = expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    assert!(
        body["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("map_index=-1")
    );
    // Unknown run: 404 on set.
    let r = api
        .req(Method::POST, "/xcoms/demo/nope/t/k", Some(ti))
        .json(&json!(1))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    // Not JSON: 422; too long to map: 400.
    let r = api
        .req(Method::POST, "/xcoms/demo/r1/t/k", Some(ti))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    let r = api
        .req(
            Method::POST,
            "/xcoms/demo/r1/t/k?mapped_length=5000",
            Some(ti),
        )
        .json(&json!([1]))
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::BAD_REQUEST,
        Some("unmappable_return_value_length"),
    )
    .await;
    assert_eq!(
        api.req(Method::GET, "/xcoms/demo/r1/t/k", Some(ti))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND,
        "nothing half-written"
    );
});

both_backends!(mapped_values_items_slices_and_offsets, |api| {
    let tasks: Vec<Value> = (0..5)
        .map(|i| json!({"task_id": "m", "map_index": i}))
        .collect();
    let ti = api
        .seed(json!({"dag_id": "demo", "run_id": "r1", "tasks": tasks}))
        .await
        .task_instances[0]
        .id;
    start(&api, ti, 1).await;
    for i in 0..5 {
        let value = if i == 2 { Value::Null } else { json!(i * 10) };
        let r = api
            .req(
                Method::POST,
                &format!("/xcoms/demo/r1/m/return_value?map_index={i}&mapped_length=5"),
                Some(ti),
            )
            .json(&value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mapped: i64 =
        sqlx::query_scalar("SELECT length FROM task_map WHERE task_id = 'm' AND map_index = 4")
            .fetch_one(api.state.db.pool())
            .await
            .unwrap();
    assert_eq!(mapped, 5);
    let get = |q: String| {
        let api = &api;
        async move {
            let r = api
                .req(
                    Method::GET,
                    &format!("/xcoms/demo/r1/m/return_value{q}"),
                    Some(ti),
                )
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(
        get("?map_index=3".into()).await.1,
        json!({"key": "return_value", "value": 30})
    );
    assert_eq!(
        get("".into()).await.0,
        StatusCode::NOT_FOUND,
        "no unmapped value"
    );
    assert_eq!(
        get("?offset=2".into()).await.1["value"],
        30,
        "offset skips nulls"
    );
    assert_eq!(get("?offset=-1".into()).await.1["value"], 40);
    assert_eq!(get("/item/0".into()).await.1, json!(0));
    assert_eq!(get("/item/-1".into()).await.1, json!(40));
    assert_eq!(get("/item/2".into()).await.1, Value::Null);
    assert_eq!(get("/item/9".into()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get("/slice".into()).await.1, json!([0, 10, null, 30, 40]));
    assert_eq!(
        get("/slice?start=1&stop=3".into()).await.1,
        json!([10, null])
    );
    assert_eq!(get("/slice?step=-2".into()).await.1, json!([40, null, 0]));
    assert_eq!(get("/slice?start=-2".into()).await.1, json!([30, 40]));
    assert_eq!(get("/slice?stop=-4".into()).await.1, json!([0]));
    let (status, body) = get("/slice?step=0".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let r = api
        .req(Method::HEAD, "/xcoms/demo/r1/m/return_value", Some(ti))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-range"], "map_indexes 5");
});

both_backends!(include_prior_dates_reaches_earlier_runs, |api| {
    let old = api.seed(json!({"dag_id": "d", "run_id": "old", "logical_date": "2026-01-01T00:00:00Z", "tasks": [{"task_id": "t"}]}))
        .await.task_instances[0].id;
    let new = api.seed(json!({"dag_id": "d", "run_id": "new", "logical_date": "2026-01-02T00:00:00Z", "tasks": [{"task_id": "t"}]}))
        .await.task_instances[0].id;
    start(&api, old, 1).await;
    api.req(Method::POST, "/xcoms/d/old/t/k", Some(old))
        .json(&json!("from old"))
        .send()
        .await
        .unwrap();
    let r = api
        .req(Method::GET, "/xcoms/d/new/t/k", Some(new))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = api
        .req(
            Method::GET,
            "/xcoms/d/new/t/k?include_prior_dates=true",
            Some(new),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["value"], "from old");
    start(&api, new, 2).await;
    api.req(Method::POST, "/xcoms/d/new/t/k", Some(new))
        .json(&json!("from new"))
        .send()
        .await
        .unwrap();
    let r = api
        .req(
            Method::GET,
            "/xcoms/d/new/t/k?include_prior_dates=true",
            Some(new),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["value"],
        "from new",
        "the latest run wins"
    );
    let r = api
        .req(
            Method::GET,
            "/xcoms/d/old/t/k?include_prior_dates=true",
            Some(old),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["value"],
        "from old",
        "later runs are not prior"
    );
    let r = api
        .req(
            Method::GET,
            "/xcoms/d/new/t/k/slice?include_prior_dates=true",
            Some(new),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!(["from old", "from new"])
    );
});
