//! Input is validated where it enters: out-of-range dates and durations, lenient JSON, bad run
//! ids, orphan XComs, NUL characters and over-long keys get a 4xx that names the problem, and
//! nothing is written. A value already stored that cannot be scheduled fails its own row only.

use crate::common::*;

/// Year 262142 as Unix seconds: the value that used to stop every scheduling pass.
const FAR_FUTURE_SECS: i64 = 8_210_266_876_800;

async fn patch_state(api: &TestApi, ti: Uuid, body: Value) -> reqwest::Response {
    api.req(
        Method::PATCH,
        &format!("/task-instances/{ti}/state"),
        Some(ti),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

/// The `loc` and message of the first validation error of a 422.
async fn refused(resp: reqwest::Response) -> (Value, String) {
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, None).await;
    let first = &body["detail"][0];
    (
        first["loc"].clone(),
        first["msg"].as_str().unwrap_or_default().to_owned(),
    )
}

both_backends!(far_future_dates_and_huge_durations_are_refused, |api| {
    let ti = seed(&api, &[("t", 3)]).await[0];
    start(&api, ti, 1).await;
    let (loc, msg) = refused(
        patch_state(
            &api,
            ti,
            json!({"state": "up_for_retry", "end_date": FAR_FUTURE_SECS}),
        )
        .await,
    )
    .await;
    assert_eq!(loc, json!(["body", "end_date"]), "{msg}");
    assert!(msg.contains("out of range"), "{msg}");
    let (loc, _) = refused(
        patch_state(
            &api,
            ti,
            json!({"state": "up_for_retry", "end_date": "+262142-01-01T00:00:00Z"}),
        )
        .await,
    )
    .await;
    assert_eq!(loc, json!(["body", "end_date"]));
    for delta in [json!(1e13), json!(1e20), json!("P100000D")] {
        let (loc, msg) = refused(
            patch_state(
                &api,
                ti,
                json!({"state": "deferred", "classpath": "x.Trigger", "trigger_kwargs": {},
                       "next_method": "resume", "trigger_timeout": delta}),
            )
            .await,
        )
        .await;
        assert_eq!(loc, json!(["body", "trigger_timeout"]), "{delta}: {msg}");
    }
    let (loc, _) = refused(
        patch_state(
            &api,
            ti,
            json!({"state": "awaiting_input", "next_method": "resume", "timeout": 1e20}),
        )
        .await,
    )
    .await;
    assert_eq!(loc, json!(["body", "timeout"]));
    for q in [
        "step=4611686018427387904",
        "start=-9223372036854775808",
        "stop=99999999999",
    ] {
        let r = api
            .req(
                Method::GET,
                &format!("/xcoms/demo/r1/t/k/slice?{q}"),
                Some(ti),
            )
            .send()
            .await
            .unwrap();
        let (loc, _) = refused(r).await;
        assert_eq!(loc[0], "query", "{q}");
    }
    assert_eq!(
        state_of(&api, ti).await.as_deref(),
        Some("running"),
        "nothing changed"
    );
});

both_backends!(
    a_stored_date_out_of_range_fails_its_row_and_scheduling_goes_on,
    |api| {
        let r = register(
        &api,
        "b",
        json!([{"dag_id": "poisoned", "tasks": [{"task_id": "t", "retries": 1, "retry_delay": 300}]},
               {"dag_id": "healthy", "tasks": [task("t", &[])]}]),
    )
    .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            trigger(&api, "poisoned", "p1").await.status(),
            StatusCode::CREATED
        );
        let work = tick(&api, "e1", 1, &[]).await;
        assert_eq!(work.len(), 1);
        // Planted directly: a retry whose end date is so late that adding its 300 s retry delay
        // leaves the calendar.
        let poisoned = work[0]["ti_id"].as_str().unwrap().to_owned();
        let last_second = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp() - 10;
        sqlx::query("UPDATE task_instance SET state = 'up_for_retry', end_date = $2 WHERE id = $1")
            .bind(&poisoned)
            .bind(last_second * 1_000_000)
            .execute(api.state.db.pool())
            .await
            .unwrap();
        assert_eq!(
            trigger(&api, "healthy", "h1").await.status(),
            StatusCode::CREATED
        );
        let work = tick(&api, "e1", 4, &[]).await;
        assert_eq!(
            work.len(),
            1,
            "the healthy DAG is still scheduled: {work:?}"
        );
        assert_eq!(work[0]["dag_id"], "healthy");
        let (state, reason): (String, Option<String>) =
            sqlx::query_as("SELECT state, retry_reason FROM task_instance WHERE id = $1")
                .bind(&poisoned)
                .fetch_one(api.state.db.pool())
                .await
                .unwrap();
        assert_eq!(state, "failed");
        assert!(reason.unwrap_or_default().contains("out of range"));
    }
);

both_backends!(
    lenient_json_bad_run_ids_and_orphan_xcoms_are_refused,
    |api| {
        let ti = seed(&api, &[("t", 0)]).await[0];
        let run = format!("/task-instances/{ti}/run");
        for body in [
            r#"{"state":"running","hostname":"h","unixname":"u","pid":1,"start_date":"2026-01-01T00:00:00Z"} {}"#,
            r#"["running","h","u",1,"2026-01-01T00:00:00Z"]"#,
        ] {
            let r = api
                .req(Method::PATCH, &run, Some(ti))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let (loc, msg) = refused(r).await;
            assert_eq!(loc, json!(["body"]), "{body}: {msg}");
        }
        assert_eq!(state_of(&api, ti).await.as_deref(), Some("queued"));
        start(&api, ti, 1).await;

        // Run ids: the Execution API route a task uses and the control API's trigger route.
        assert_eq!(
            register(
                &api,
                "b",
                json!([{"dag_id": "d", "tasks": [task("t", &[])]}])
            )
            .await
            .status(),
            StatusCode::OK
        );
        for bad in ["a..", "a%2Fb", "a%0Ab", "%1B%5B31mred", "x..y", "a%20b"] {
            let r = api
                .req(Method::POST, &format!("/dag-runs/d/{bad}"), Some(ti))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            expect_error(r, StatusCode::BAD_REQUEST, Some("invalid_run_id")).await;
        }
        for bad in ["..", "a/b", "a\nb", "\u{1b}[31mred"] {
            let r = trigger(&api, "d", bad).await;
            expect_error(r, StatusCode::BAD_REQUEST, Some("invalid_run_id")).await;
        }
        let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dag_run WHERE dag_id = 'd'")
            .fetch_one(api.state.db.pool())
            .await
            .unwrap();
        assert_eq!(runs, 0, "no run was created");

        // XComs only for task instances that exist.
        for path in [
            "/xcoms/demo/r1/nope/k",
            "/xcoms/demo/r1/t/k?map_index=3",
            "/xcoms/demo/no-run/t/k",
        ] {
            let r = api
                .req(Method::POST, path, Some(ti))
                .json(&json!(1))
                .send()
                .await
                .unwrap();
            expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
        }
        let r = api
            .req(Method::POST, "/xcoms/demo/r1/t/k", Some(ti))
            .json(&json!(1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
);

both_backends!(nul_characters_and_over_long_keys_get_422, |api| {
    let ti = seed(&api, &[("t", 0)]).await[0];
    start(&api, ti, 1).await;
    let long = "k".repeat(3000);
    let cases: Vec<(Method, String, Option<&str>)> = vec![
        (Method::GET, "/variables/a%00b".into(), None),
        (
            Method::PUT,
            "/variables/k".into(),
            Some(r#"{"val": "a\u0000b"}"#),
        ),
        (
            Method::PUT,
            format!("/variables/{long}"),
            Some(r#"{"val": "v"}"#),
        ),
        (Method::GET, "/connections/c%00".into(), None),
        (Method::POST, "/xcoms/demo/r1/t/a%00b".into(), Some("1")),
        (
            Method::POST,
            "/xcoms/demo/r1/t/k".into(),
            Some(r#"{"v": "\u0000"}"#),
        ),
        (Method::POST, format!("/xcoms/demo/r1/t/{long}"), Some("1")),
        (Method::GET, "/dag-runs/demo/r%001".into(), None),
        (Method::POST, format!("/dag-runs/demo/{long}"), Some("{}")),
        (
            Method::GET,
            "/task-instances/count?dag_id=d%00".into(),
            None,
        ),
        (
            Method::PUT,
            format!("/task-instances/{ti}/rtif"),
            Some(r#"{"f": "\u0000"}"#),
        ),
    ];
    for (method, path, body) in cases {
        let mut r = api.req(method.clone(), &path, Some(ti));
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b);
        }
        let resp = r.send().await.unwrap();
        let (loc, msg) = refused(resp).await;
        assert!(
            msg.contains("NUL") || msg.contains("at most"),
            "{method} {}: {loc} {msg}",
            &path[..path.len().min(60)]
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM variable")
        .fetch_one(api.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
});
