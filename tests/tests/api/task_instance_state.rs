//! `PATCH /task-instances/{id}/state`: every payload variant and the refusals.

use crate::common::*;
use airlock_store as store;

const END: &str = "2026-11-23T10:05:00Z";

both_backends!(success_and_the_terminal_states, |api| {
    let ids = seed(&api, &[("a", 0), ("b", 0), ("c", 0), ("d", 0), ("e", 0)]).await;
    for (ti, state) in
        ids.iter()
            .zip(["success", "failed", "skipped", "removed", "upstream_failed"])
    {
        start(&api, *ti, 1).await;
        let (status, body) = set_state(
            &api,
            *ti,
            json!({"state": state, "end_date": END,
            "rendered_map_index": "label"}),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{state}: {body}");
        let row = store::task_instances::get_task_instance(api.state.db.pool(), *ti)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state.unwrap().as_str(), state);
        assert_eq!(
            airlock_protocol::time::to_rfc3339(&row.end_date.unwrap()),
            END
        );
        assert_eq!(row.duration, Some(300.0), "start 10:00, end 10:05");
        assert_eq!(row.rendered_map_index.as_deref(), Some("label"));
        // The same state again: 200, nothing changes.
        let (status, body) = set_state(&api, *ti, json!({"state": state, "end_date": END})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "");
    }
    // A finished instance cannot go elsewhere: 409 with the previous state.
    let (status, body) = set_state(&api, ids[0], json!({"state": "failed", "end_date": END})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["detail"]["reason"], "invalid_state");
    assert_eq!(body["detail"]["previous_state"], "success");
});

both_backends!(state_refusals, |api| {
    let ids = seed(&api, &[("a", 0)]).await;
    let ti = ids[0];
    // Not running yet.
    let (status, body) = set_state(&api, ti, json!({"state": "success", "end_date": END})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    start(&api, ti, 1).await;
    // Scheduler-only states: a clear 422 (Airflow would silently fail the task).
    for state in ["scheduled", "queued", "restarting"] {
        let (status, body) = set_state(&api, ti, json!({"state": state})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("invalid_target_state"), "{body}");
    }
    assert_eq!(
        state_of(&api, ti).await.as_deref(),
        Some("running"),
        "nothing half-written"
    );
    // Unknown state, unknown field, wrong type, missing end_date.
    for bad in [
        json!({"state": "bogus"}),
        json!({"state": "success", "end_date": END, "x": 1}),
        json!({"state": "success", "end_date": 5.5e300}),
        json!({"state": "failed"}),
        json!({"end_date": END}),
    ] {
        let (status, body) = set_state(&api, ti, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    // Unknown id.
    let unknown = Uuid::now_v7();
    let (status, _) = set_state(&api, unknown, json!({"state": "success", "end_date": END})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(state_of(&api, ti).await.as_deref(), Some("running"));
});

both_backends!(retry_archives_the_try_under_a_new_id, |api| {
    let ti = seed(&api, &[("a", 3)]).await[0];
    start(&api, ti, 1).await;
    let (status, body) = set_state(
        &api,
        ti,
        json!({"state": "up_for_retry", "end_date": END,
        "retry_delay_seconds": 12.5, "retry_reason": "x".repeat(600)}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(
        store::task_instances::get_task_instance(api.state.db.pool(), ti)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store::task_instances::is_archived_try(api.state.db.pool(), ti)
            .await
            .unwrap()
    );
    let (new_id,): (String,) = sqlx::query_as("SELECT id FROM task_instance WHERE task_id = 'a'")
        .fetch_one(api.state.db.pool())
        .await
        .unwrap();
    let row =
        store::task_instances::get_task_instance(api.state.db.pool(), new_id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(row.state.unwrap().as_str(), "up_for_retry");
    assert_eq!(row.retry_delay_override, Some(12.5));
    assert_eq!(row.retry_reason.as_ref().map(|r| r.len()), Some(500));
    // The old id is fenced off.
    let (status, _) = set_state(&api, ti, json!({"state": "success", "end_date": END})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both_backends!(reschedule_records_the_first_start, |api| {
    let ti = seed(&api, &[("sensor", 0)]).await[0];
    let start_date = |ti: Uuid| {
        api.req(
            Method::GET,
            &format!("/task-reschedules/{ti}/start_date"),
            Some(ti),
        )
        .send()
    };
    assert_eq!(
        start_date(ti).await.unwrap().json::<Value>().await.unwrap(),
        Value::Null
    );
    start(&api, ti, 1).await;
    let (status, body) = set_state(
        &api,
        ti,
        json!({"state": "up_for_reschedule",
        "reschedule_date": "2026-11-23T11:00:00Z", "end_date": END}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        state_of(&api, ti).await.as_deref(),
        Some("up_for_reschedule")
    );
    assert_eq!(
        start_date(ti).await.unwrap().json::<Value>().await.unwrap(),
        json!("2026-11-23T10:00:00Z")
    );
    // The scheduler queues it again; /run counts the reschedule.
    sqlx::query("UPDATE task_instance SET state = 'queued'")
        .execute(api.state.db.pool())
        .await
        .unwrap();
    let ctx = start(&api, ti, 2).await;
    assert_eq!(ctx["task_reschedule_count"], 1);
    // Another token may not read this try's reschedules.
    let other = Uuid::now_v7();
    let r = api
        .req(
            Method::GET,
            &format!("/task-reschedules/{ti}/start_date"),
            Some(other),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, None).await;
});

both_backends!(defer_stores_a_trigger_and_resume_returns_the_event, |api| {
    let ti = seed(&api, &[("waiter", 0)]).await[0];
    start(&api, ti, 1).await;
    let (status, body) = set_state(
        &api,
        ti,
        json!({
            "state": "deferred",
            "classpath": "airflow.providers.standard.triggers.temporal.DateTimeTrigger",
            "trigger_kwargs": {"moment": "2026-11-23T10:10:00Z", "end_from_trigger": false},
            "trigger_timeout": "PT5M",
            "next_method": "execute_complete",
            "next_kwargs": {"x": 1},
            "rendered_map_index": "ignored"
        }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let row = store::task_instances::get_task_instance(api.state.db.pool(), ti)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state.unwrap().as_str(), "deferred");
    assert_eq!(row.next_method.as_deref(), Some("execute_complete"));
    assert_eq!(row.next_kwargs, Some(json!({"x": 1})));
    let trigger_id = row.trigger_id.expect("a trigger");
    let timeout = row.trigger_timeout.expect("a deadline") - chrono::Utc::now();
    assert!(
        timeout.num_seconds() > 240 && timeout.num_seconds() <= 300,
        "{timeout}"
    );
    let (classpath, kwargs): (String, String) =
        sqlx::query_as("SELECT classpath, kwargs FROM triggers WHERE id = $1")
            .bind(trigger_id)
            .fetch_one(api.state.db.pool())
            .await
            .unwrap();
    assert!(classpath.ends_with("DateTimeTrigger"));
    assert!(
        !kwargs.contains("moment"),
        "trigger arguments are encrypted at rest: {kwargs}"
    );
    let plain = api.state.cipher.open(&kwargs).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&plain).unwrap()["moment"],
        "2026-11-23T10:10:00Z"
    );

    // The trigger fires; the instance is scheduled, then queued, and resumes.
    let resumed = store::triggers::submit_trigger_event(
        &api.state.db,
        trigger_id,
        &json!("2026-11-23T10:10:00Z"),
        store::now(),
    )
    .await
    .unwrap();
    assert_eq!(resumed, 1);
    assert_eq!(
        store::triggers::submit_trigger_event(
            &api.state.db,
            trigger_id,
            &json!(null),
            store::now()
        )
        .await
        .unwrap(),
        0,
        "a second event for the same trigger resumes nothing"
    );
    assert_eq!(state_of(&api, ti).await.as_deref(), Some("scheduled"));
    assert_eq!(
        store::triggers::queue_task_instances(&api.state.db, &[ti], store::now())
            .await
            .unwrap(),
        1
    );
    let ctx = start(&api, ti, 2).await;
    assert_eq!(ctx["next_method"], "execute_complete");
    assert_eq!(
        ctx["next_kwargs"],
        json!({"x": 1, "event": "2026-11-23T10:10:00Z"})
    );
    assert_eq!(
        ctx["start_date"], "2026-11-23T10:00:00Z",
        "the original start survives the resume"
    );
    assert_eq!(ctx["xcom_keys_to_clear"], json!([]));
});

both_backends!(awaiting_input_stores_the_resume_point, |api| {
    let ti = seed(&api, &[("approve", 0)]).await[0];
    start(&api, ti, 1).await;
    let (status, body) = set_state(
        &api,
        ti,
        json!({"state": "awaiting_input", "timeout": "PT1H",
        "next_method": "on_input", "next_kwargs": {"k": "v"}}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let row = store::task_instances::get_task_instance(api.state.db.pool(), ti)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state.unwrap().as_str(), "awaiting_input");
    assert_eq!(row.next_method.as_deref(), Some("on_input"));
    assert!(row.trigger_timeout.is_some());
});

both_backends!(success_registers_asset_events, |api| {
    let ti = seed(&api, &[("producer", 0)]).await[0];
    start(&api, ti, 1).await;
    let (status, body) = set_state(&api, ti, json!({
        "state": "success", "end_date": END,
        "task_outlets": [{"name": "sales", "uri": "s3://bucket/sales", "type": "Asset"}],
        "outlet_events": [
            {"dest_asset_key": {"name": "sales", "uri": "s3://bucket/sales"}, "extra": {"rows": 10}},
            {"source_alias_name": "daily", "dest_asset_key": {"name": "sales-2026", "uri": "s3://bucket/sales/2026"}, "extra": {}}
        ]
    })).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let r = api
        .req(Method::GET, "/asset-events/by-asset?name=sales", Some(ti))
        .send()
        .await
        .unwrap();
    let events: Value = r.json().await.unwrap();
    assert_eq!(events["asset_events"][0]["extra"], json!({"rows": 10}));
    assert_eq!(events["asset_events"][0]["source_task_id"], "producer");
    let r = api
        .req(Method::GET, "/assets/by-alias?alias_name=daily", Some(ti))
        .send()
        .await
        .unwrap();
    let assets: Value = r.json().await.unwrap();
    assert_eq!(assets[0]["uri"], "s3://bucket/sales/2026");
});

both_backends!(outlet_partition_keys_are_checked, |api| {
    let ti = seed(&api, &[("producer", 0)]).await[0];
    start(&api, ti, 1).await;
    let (status, body) = set_state(
        &api,
        ti,
        json!({"state": "success", "end_date": END,
        "outlet_events": [{"dest_asset_key": {"name": "a", "uri": "a"}, "partition_key": ""}]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("invalid_partition_key"));
    assert_eq!(state_of(&api, ti).await.as_deref(), Some("running"));
});
