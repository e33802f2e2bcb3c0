//! `/assets` and `/asset-events`.

use crate::common::*;

both_backends!(assets_and_their_events, |api| {
    let ids = seed(&api, &[("p1", 0), ("p2", 0)]).await;
    for (ti, rows) in ids.iter().zip([1, 2]) {
        start(&api, *ti, 1).await;
        let (status, body) = set_state(&api, *ti, json!({"state": "success", "end_date": "2026-11-23T11:00:00Z",
            "task_outlets": [{"name": "orders", "uri": "file:///data/orders", "type": "Asset"}],
            "outlet_events": [{"dest_asset_key": {"name": "orders", "uri": "file:///data/orders"}, "extra": {"rows": rows}}]})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let me = ids[0];
    let get = |q: &'static str| api.req(Method::GET, q, Some(me)).send();
    let a: Value = get("/assets/by-name?name=orders")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        a,
        json!({"name": "orders", "uri": "file:///data/orders", "group": "asset", "extra": {}})
    );
    let a: Value = get("/assets/by-uri?uri=file:///data/orders")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["name"], "orders");
    expect_error(
        get("/assets/by-name?name=nope").await.unwrap(),
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    expect_error(
        get("/assets/by-uri?uri=nope").await.unwrap(),
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    expect_error(
        get("/assets/by-alias?alias_name=nope").await.unwrap(),
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    expect_error(
        get("/assets/by-name").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
    )
    .await;

    let ev: Value = get("/asset-events/by-asset?name=orders")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows: Vec<_> = ev["asset_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extra"]["rows"].clone())
        .collect();
    assert_eq!(rows, [json!(1), json!(2)]);
    assert_eq!(ev["asset_events"][0]["asset"]["uri"], "file:///data/orders");
    let ev: Value = get("/asset-events/by-asset?uri=file:///data/orders&ascending=false&limit=1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["asset_events"].as_array().unwrap().len(), 1);
    assert_eq!(ev["asset_events"][0]["extra"]["rows"], 2);
    assert_eq!(ev["asset_events"][0]["source_task_id"], "p2");
    let ev: Value = get("/asset-events/by-asset?name=orders&after=2999-01-01T00:00:00Z")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["asset_events"], json!([]));
    expect_error(
        get("/asset-events/by-asset").await.unwrap(),
        StatusCode::BAD_REQUEST,
        Some("invalid_request"),
    )
    .await;
    let ev: Value = get("/asset-events/by-asset-alias?name=none")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev, json!({"asset_events": []}));
});
