//! Malformed requests get a clear JSON 4xx, never a 500, and change nothing.

use crate::common::*;

both_backends!(malformed_bodies_and_unknown_routes, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    let run = format!("/task-instances/{ti}/run");
    let send = |body: &'static str| {
        api.req(Method::PATCH, &run, Some(ti))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, kind) in [
        ("{", "json_invalid"),
        ("", "json_invalid"),
        ("[]", "model_attributes_type"),
        (
            r#"{"state":"running","hostname":"h","unixname":"u","pid":"one","start_date":"2026-01-01T00:00:00Z"}"#,
            "type_error",
        ),
        (
            r#"{"state":"running","hostname":"h","unixname":"u","pid":1,"start_date":"2026-01-01T00:00:00Z","extra":1}"#,
            "extra_forbidden",
        ),
        (
            r#"{"state":"queued","hostname":"h","unixname":"u","pid":1,"start_date":"2026-01-01T00:00:00Z"}"#,
            "value_error",
        ),
        (
            r#"{"state":"running","hostname":"h","unixname":"u","pid":1,"start_date":"yesterday"}"#,
            "value_error",
        ),
        (
            r#"{"state":"running","hostname":"h","unixname":"u","pid":1,"start_date":"2026-01-01T00:00:00"}"#,
            "value_error",
        ),
    ] {
        let r = send(body).await.unwrap();
        let err = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
        assert_eq!(err["detail"][0]["type"], kind, "{body}: {err}");
        assert_eq!(err["detail"][0]["loc"][0], "body");
    }
    assert_eq!(
        state_of(&api, ti).await.as_deref(),
        Some("queued"),
        "nothing was written"
    );
    // Not a UUID in the path.
    let r = api
        .req(Method::PATCH, "/task-instances/not-a-uuid/run", Some(ti))
        .json(&run_body(1))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    start(&api, ti, 1).await;
    // Too big: 413 with a JSON detail (the test server allows 64 KiB).
    let big = json!({"blob": "x".repeat(100 * 1024)});
    let r = api
        .req(Method::PUT, &format!("/task-instances/{ti}/rtif"), Some(ti))
        .json(&big)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")).await;
    let r = api
        .req(Method::POST, "/xcoms/demo/r1/t/big", Some(ti))
        .json(&big)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")).await;
    // Unknown routes and methods.
    let r = api
        .req(Method::GET, "/no/such/route", Some(ti))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, None).await;
    let r = api
        .req(Method::DELETE, &run, Some(ti))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::METHOD_NOT_ALLOWED, None).await;
    // Deep nesting and huge numbers do not crash anything.
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = api
        .req(Method::POST, "/xcoms/demo/r1/t/deep", Some(ti))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    let r = api
        .req(
            Method::PUT,
            &format!("/task-instances/{ti}/heartbeat"),
            Some(ti),
        )
        .header("content-type", "application/json")
        .body(r#"{"hostname":"h","pid":1e400}"#)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    // The server is still fine.
    let r = api
        .http
        .get(format!("{}/health/ping", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"ok": ["database"], "failing": {}})
    );
});
