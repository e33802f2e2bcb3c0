//! `PATCH /run`, heartbeats, rtif, rendered map index, skip-downstream.

use crate::common::*;

both_backends!(
    run_returns_context_and_is_idempotent_for_the_same_process,
    |api| {
        let ids = seed(&api, &[("hello", 2)]).await;
        let ti = ids[0];
        let ctx = start(&api, ti, 100).await;
        assert_eq!(ctx["dag_run"]["dag_id"], "demo");
        assert_eq!(ctx["dag_run"]["run_id"], "r1");
        assert_eq!(ctx["dag_run"]["state"], "running");
        assert_eq!(ctx["max_tries"], 2);
        assert_eq!(ctx["should_retry"], true);
        assert_eq!(ctx["task_reschedule_count"], 0);
        assert_eq!(ctx["xcom_keys_to_clear"], json!([]));
        assert!(ctx.get("next_method").is_none(), "not resuming: {ctx}");
        // Every key Airflow's DagRun model requires is present.
        for key in [
            "logical_date",
            "data_interval_start",
            "data_interval_end",
            "run_after",
            "start_date",
            "end_date",
            "clear_number",
            "run_type",
            "conf",
            "consumed_asset_events",
            "partition_key",
        ] {
            assert!(ctx["dag_run"].get(key).is_some(), "missing {key}");
        }
        assert_eq!(state_of(&api, ti).await.as_deref(), Some("running"));
        // Same host, user and pid: 200 again (a retried request).
        let again = start(&api, ti, 100).await;
        assert_eq!(again["dag_run"]["run_id"], "r1");
        // Another pid: 409 with the previous state.
        let r = api
            .req(
                Method::PATCH,
                &format!("/task-instances/{ti}/run"),
                Some(ti),
            )
            .json(&run_body(101))
            .send()
            .await
            .unwrap();
        let body = expect_error(r, StatusCode::CONFLICT, Some("invalid_state")).await;
        assert_eq!(body["detail"]["previous_state"], "running");
    }
);

both_backends!(run_lists_existing_xcom_keys_to_clear, |api| {
    let ti = seed(&api, &[("hello", 0)]).await[0];
    // Left by an earlier try (a try may only write while it runs).
    for key in ["b", "a"] {
        let k = airlock_store::xcoms::XComKey {
            dag_id: "demo".into(),
            run_id: "r1".into(),
            task_id: "hello".into(),
            key: key.into(),
        };
        airlock_store::xcoms::set_xcom(
            &api.state.db,
            &k,
            -1,
            &json!(1),
            false,
            None,
            airlock_store::xcoms::DEFAULT_MAX_MAP_LENGTH,
            airlock_store::now(),
        )
        .await
        .unwrap();
    }
    let ctx = start(&api, ti, 1).await;
    assert_eq!(ctx["xcom_keys_to_clear"], json!(["a", "b"]));
    assert_eq!(ctx["should_retry"], false);
});

both_backends!(run_refuses_unknown_and_unqueued_instances, |api| {
    let ti = seed(&api, &[("hello", 0)]).await[0];
    let unknown = Uuid::now_v7();
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{unknown}/run"),
            Some(unknown),
        )
        .json(&run_body(1))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    start(&api, ti, 1).await;
    let (status, _) = set_state(
        &api,
        ti,
        json!({"state": "success", "end_date": "2026-11-23T10:01:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{ti}/run"),
            Some(ti),
        )
        .json(&run_body(1))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::CONFLICT, Some("invalid_state")).await;
    assert_eq!(body["detail"]["previous_state"], "success");
});

both_backends!(
    heartbeat_accepts_the_runner_and_stops_everyone_else,
    |api| {
        let ids = seed(&api, &[("hello", 1), ("other", 0)]).await;
        let ti = ids[0];
        let hb = |pid: i64, host: &str| json!({"hostname": host, "pid": pid});
        // Not started yet: nobody runs it here (as in Airflow, the host/pid check comes first).
        let r = api
            .req(
                Method::PUT,
                &format!("/task-instances/{ti}/heartbeat"),
                Some(ti),
            )
            .json(&hb(7, "h"))
            .send()
            .await
            .unwrap();
        let body = expect_error(r, StatusCode::CONFLICT, Some("running_elsewhere")).await;
        assert_eq!(body["detail"]["current_pid"], Value::Null);
        start(&api, ti, 7).await;
        let r = api
            .req(
                Method::PUT,
                &format!("/task-instances/{ti}/heartbeat"),
                Some(ti),
            )
            .json(&hb(7, "h"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // Wrong pid: running elsewhere.
        let r = api
            .req(
                Method::PUT,
                &format!("/task-instances/{ti}/heartbeat"),
                Some(ti),
            )
            .json(&hb(8, "h"))
            .send()
            .await
            .unwrap();
        let body = expect_error(r, StatusCode::CONFLICT, Some("running_elsewhere")).await;
        assert_eq!(body["detail"]["current_pid"], 7);
        assert_eq!(body["detail"]["current_hostname"], "h");
        // Cleared while running: the same process is told to stop.
        sqlx::query("UPDATE task_instance SET state = 'restarting' WHERE id = $1")
            .bind(ti.to_string())
            .execute(api.state.db.pool())
            .await
            .unwrap();
        let r = api
            .req(
                Method::PUT,
                &format!("/task-instances/{ti}/heartbeat"),
                Some(ti),
            )
            .json(&hb(7, "h"))
            .send()
            .await
            .unwrap();
        let body = expect_error(r, StatusCode::CONFLICT, Some("not_running")).await;
        assert_eq!(body["detail"]["current_state"], "restarting");
        sqlx::query("UPDATE task_instance SET state = 'running' WHERE id = $1")
            .bind(ti.to_string())
            .execute(api.state.db.pool())
            .await
            .unwrap();
        // Unknown id: 404.
        let unknown = Uuid::now_v7();
        let r = api
            .req(
                Method::PUT,
                &format!("/task-instances/{unknown}/heartbeat"),
                Some(unknown),
            )
            .json(&hb(7, "h"))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
        // Retried: the old id is archived, so 410.
        let (status, _) = set_state(
            &api,
            ti,
            json!({"state": "up_for_retry", "end_date": "2026-11-23T10:01:00Z"}),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let r = api
            .req(
                Method::PUT,
                &format!("/task-instances/{ti}/heartbeat"),
                Some(ti),
            )
            .json(&hb(7, "h"))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::GONE, Some("not_found")).await;
        // Missing field: 422 with FastAPI's shape.
        let other = ids[1];
        let r = api
            .req(
                Method::PUT,
                &format!("/task-instances/{other}/heartbeat"),
                Some(other),
            )
            .json(&json!({"hostname": "h"}))
            .send()
            .await
            .unwrap();
        let body = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
        assert_eq!(body["detail"][0]["type"], "missing");
        assert_eq!(body["detail"][0]["loc"][0], "body");
    }
);

both_backends!(rtif_and_rendered_map_index, |api| {
    let ids = seed(&api, &[("hello", 1)]).await;
    let ti = ids[0];
    start(&api, ti, 3).await;
    let r = api
        .req(Method::PUT, &format!("/task-instances/{ti}/rtif"), Some(ti))
        .json(&json!({"bash_command": "echo 1", "env": {"A": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ti_row = airlock_store::task_instances::get_task_instance(api.state.db.pool(), ti)
        .await
        .unwrap()
        .unwrap();
    let stored = airlock_store::task_instances::get_rendered_fields(&api.state.db, &ti_row)
        .await
        .unwrap();
    assert_eq!(
        stored,
        Some(json!({"bash_command": "echo 1", "env": {"A": 1}}))
    );
    // Not an object: 422.
    let r = api
        .req(Method::PUT, &format!("/task-instances/{ti}/rtif"), Some(ti))
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;

    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{ti}/rendered-map-index"),
            Some(ti),
        )
        .json(&json!("file-3.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let row = airlock_store::task_instances::get_task_instance(api.state.db.pool(), ti)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.rendered_map_index.as_deref(), Some("file-3.csv"));
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{ti}/rendered-map-index"),
            Some(ti),
        )
        .json(&json!(""))
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("invalid_rendered_map_index"),
    )
    .await;

    // Archived try: rtif says 410; unknown: 404.
    set_state(
        &api,
        ti,
        json!({"state": "up_for_retry", "end_date": "2026-11-23T10:01:00Z"}),
    )
    .await;
    let r = api
        .req(Method::PUT, &format!("/task-instances/{ti}/rtif"), Some(ti))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::GONE, None).await;
    let unknown = Uuid::now_v7();
    let r = api
        .req(
            Method::PUT,
            &format!("/task-instances/{unknown}/rtif"),
            Some(unknown),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, None).await;
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{unknown}/rendered-map-index"),
            Some(unknown),
        )
        .json(&json!("x"))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, None).await;
});

both_backends!(skip_downstream_skips_only_tasks_that_have_not_run, |api| {
    let ids = seed(
        &api,
        &[("branch", 0), ("left", 0), ("right", 0), ("done", 0)],
    )
    .await;
    let (branch, left, right, done) = (ids[0], ids[1], ids[2], ids[3]);
    start(&api, done, 9).await;
    set_state(
        &api,
        done,
        json!({"state": "success", "end_date": "2026-11-23T10:01:00Z"}),
    )
    .await;
    start(&api, branch, 10).await;
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{branch}/skip-downstream"),
            Some(branch),
        )
        .json(&json!({"tasks": ["left", ["done", -1]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(state_of(&api, left).await.as_deref(), Some("skipped"));
    assert_eq!(state_of(&api, right).await.as_deref(), Some("queued"));
    assert_eq!(
        state_of(&api, done).await.as_deref(),
        Some("success"),
        "finished tasks stay"
    );
    let unknown = Uuid::now_v7();
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{unknown}/skip-downstream"),
            Some(unknown),
        )
        .json(&json!({"tasks": []}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{branch}/skip-downstream"),
            Some(branch),
        )
        .json(&json!({"tasks": [42]}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, None).await;
});

both_backends!(previous_successful_dagrun_and_inlets, |api| {
    let first = api
        .seed(
            json!({"dag_id": "d", "run_id": "a", "logical_date": "2026-01-01T00:00:00Z",
        "tasks": [{"task_id": "t"}]}),
        )
        .await
        .task_instances[0]
        .id;
    let second = api
        .seed(
            json!({"dag_id": "d", "run_id": "b", "logical_date": "2026-01-02T00:00:00Z",
        "tasks": [{"task_id": "t"}]}),
        )
        .await
        .task_instances[0]
        .id;
    let get = |ti: Uuid| {
        api.req(
            Method::GET,
            &format!("/task-instances/{ti}/previous-successful-dagrun"),
            Some(ti),
        )
        .send()
    };
    let none: Value = get(second).await.unwrap().json().await.unwrap();
    assert_eq!(
        none,
        json!({"data_interval_start": null, "data_interval_end": null, "start_date": null, "end_date": null})
    );
    // Finish run "a" successfully.
    sqlx::query(
        "UPDATE dag_run SET state = 'success', end_date = 1767225600000000 WHERE run_id = 'a'",
    )
    .execute(api.state.db.pool())
    .await
    .unwrap();
    let found: Value = get(second).await.unwrap().json().await.unwrap();
    assert_eq!(found["data_interval_start"], "2026-01-01T00:00:00Z");
    assert_eq!(found["end_date"], "2026-01-01T00:00:00Z");
    let unknown = Uuid::now_v7();
    expect_error(get(unknown).await.unwrap(), StatusCode::NOT_FOUND, None).await;
    let r = api
        .req(
            Method::GET,
            &format!("/task-instances/{first}/validate-inlets-and-outlets"),
            Some(first),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"inactive_assets": []})
    );
});
