//! Airlock's own routes (tag "Airlock").

use crate::common::*;

both_backends!(
    supervisors_read_task_instance_details_with_a_workload_token,
    |api| {
        let created = api.seed(json!({"dag_id": "etl", "run_id": "r", "bundle_name": "examples",
        "bundle_version": "v3", "relative_fileloc": "dags/etl.rs",
        "tasks": [{"task_id": "load", "map_index": 2, "execution_timeout": 90.5, "queue": "fast"}, {"task_id": "other"}]})).await;
        let (ti, other) = (created.task_instances[0].id, created.task_instances[1].id);
        let r = api
            .http
            .get(format!("{}/airlock/task-instances/{ti}", api.base))
            .bearer_auth(api.workload_token(ti))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let d: Value = r.json().await.unwrap();
        assert_eq!(d["id"], ti.to_string());
        assert_eq!(
            (
                d["dag_id"].as_str(),
                d["run_id"].as_str(),
                d["task_id"].as_str()
            ),
            (Some("etl"), Some("r"), Some("load"))
        );
        assert_eq!(
            (d["map_index"].as_i64(), d["try_number"].as_i64()),
            (Some(2), Some(1))
        );
        assert_eq!(
            (d["state"].as_str(), d["queue"].as_str()),
            (Some("queued"), Some("fast"))
        );
        assert_eq!(
            (d["bundle_name"].as_str(), d["bundle_version"].as_str()),
            (Some("examples"), Some("v3"))
        );
        assert_eq!(d["dag_rel_path"], "dags/etl.rs");
        assert_eq!(d["execution_timeout"], 90.5);
        assert!(
            d["dag_version_id"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .is_ok()
        );
        // ti:self, and unknown ids.
        let r = api
            .http
            .get(format!("{}/airlock/task-instances/{other}", api.base))
            .bearer_auth(api.workload_token(ti))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, None).await;
        let unknown = Uuid::now_v7();
        let r = api
            .http
            .get(format!("{}/airlock/task-instances/{unknown}", api.base))
            .bearer_auth(api.workload_token(unknown))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
    }
);

both_backends!(shipped_log_pieces_are_stored_once_in_order, |api| {
    let created = api
        .seed(json!({"dag_id": "d", "run_id": "r", "tasks": [{"task_id": "t"}, {"task_id": "u"}]}))
        .await;
    let (ti, other) = (created.task_instances[0].id, created.task_instances[1].id);
    let ship = |as_ti: Uuid, body: Value| {
        api.req(
            Method::POST,
            &format!("/airlock/task-instances/{ti}/logs"),
            Some(as_ti),
        )
        .json(&body)
        .send()
    };
    let one = "{\"event\":\"one\"}\n";
    let two = "{\"event\":\"two\"}\n";
    let r = ship(ti, json!({"start_offset": 0, "content": one}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A resent piece (its answer was lost) is stored once.
    let r = ship(ti, json!({"start_offset": 0, "content": one}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A piece after a gap waits for the gap to fill before it is read.
    let third = one.len() + two.len();
    let r = ship(ti, json!({"start_offset": third, "content": one}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let read = |offset: usize| {
        admin(
            &api,
            Method::GET,
            &format!("/airlock/control/dags/d/runs/r/tasks/t/logs?offset={offset}"),
        )
        .send()
    };
    let chunk: Value = read(0).await.unwrap().json().await.unwrap();
    assert_eq!(chunk["content"], one);
    assert_eq!(chunk["next_offset"], one.len());
    let r = ship(ti, json!({"start_offset": one.len(), "content": two}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let chunk: Value = read(one.len()).await.unwrap().json().await.unwrap();
    assert_eq!(chunk["content"], format!("{two}{one}"));
    assert_eq!(chunk["next_offset"], third + one.len());

    // Whole lines only; and only the try's own token.
    let r = ship(ti, json!({"start_offset": 99, "content": "no newline"}))
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, Some("invalid_log_piece")).await;
    let r = ship(ti, json!({"start_offset": 99, "content": ""}))
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, Some("invalid_log_piece")).await;
    let r = ship(other, json!({"start_offset": 99, "content": one}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
});
