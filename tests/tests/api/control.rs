//! The control API: bundle registration, runs, the executor tick and events, logs.

use crate::common::*;

fn ids(work: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = work
        .iter()
        .map(|w| w["task_id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn state_of(api: &TestApi, dag: &str, task: &str) -> (Option<String>, i64) {
    sqlx::query_as("SELECT state, try_number FROM task_instance WHERE dag_id = $1 AND task_id = $2")
        .bind(dag)
        .bind(task)
        .fetch_one(api.state.db.pool())
        .await
        .unwrap()
}

both_backends!(control_routes_take_admin_tokens_only, |api| {
    let me = seed(&api, &[("t", 0)]).await[0];
    let r = api
        .req(Method::GET, "/airlock/control/dags", Some(me))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, None).await;
    let r = api
        .req(Method::GET, "/airlock/control/dags", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let trig = api.tokens().issue("trig", Scope::Triggerer, None);
    let r = api
        .req(Method::GET, "/airlock/control/dags", None)
        .bearer_auth(trig)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin(&api, Method::GET, "/airlock/control/dags")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
});

both_backends!(bundles_are_validated_and_registered, |api| {
    // Mixed null and set timeouts in one statement (a sqlx Any-driver pitfall on PostgreSQL).
    let dags = json!([{"dag_id": "d1", "tasks": [
        {"task_id": "a", "execution_timeout": null},
        {"task_id": "b", "execution_timeout": 60.0, "upstream": ["a"], "max_retry_delay": 5.0},
        {"task_id": "c", "upstream": ["b"]}]},
        {"dag_id": "d2", "description": "two", "tasks": [{"task_id": "x", "execution_timeout": 1.5}]}]);
    let r = register(&api, "bun", dags).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["dags"],
        json!(["d1", "d2"])
    );
    let list: Value = admin(&api, Method::GET, "/airlock/control/dags")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["dags"][0]["dag_id"], "d1");
    assert_eq!(list["dags"][0]["task_count"], 3);
    assert_eq!(list["dags"][1]["description"], "two");

    let cycle = json!([{"dag_id": "bad", "tasks": [task("a", &["b"]), task("b", &["a"])]}]);
    let body = expect_error(
        register(&api, "bun", cycle).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("invalid_dag"),
    )
    .await;
    assert!(
        body["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("cycle")
    );
    let stolen = json!([{"dag_id": "d1", "tasks": []}]);
    expect_error(
        register(&api, "other", stolen).await,
        StatusCode::CONFLICT,
        Some("dag_in_other_bundle"),
    )
    .await;
    let r = admin(&api, Method::PUT, "/airlock/control/bundles/x")
        .json(&json!({"bundle": "y", "dags": []}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, Some("bundle_mismatch")).await;
    expect_error(
        trigger(&api, "nope", "r").await,
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    expect_error(
        trigger(&api, "d1", "a/b").await,
        StatusCode::BAD_REQUEST,
        Some("invalid_run_id"),
    )
    .await;
});

both_backends!(
    ticks_schedule_hand_out_and_hand_out_again_what_was_lost,
    |api| {
        register(
            &api,
            "b",
            json!([{"dag_id": "d", "tasks": [task("a", &[]), task("b", &["a"])]}]),
        )
        .await;
        assert_eq!(trigger(&api, "d", "r1").await.status(), StatusCode::CREATED);
        let work = tick(&api, "e1", 10, &[]).await;
        assert_eq!(ids(&work), ["a"]);
        assert_eq!(work[0]["try_number"], 1);
        // The executor never saw that answer: the next tick hands `a` out again.
        let again = tick(&api, "e1", 10, &[]).await;
        assert_eq!(again[0]["ti_id"], work[0]["ti_id"]);
        // Held: nothing more to do until `a` finishes.
        assert!(tick(&api, "e1", 10, &[ti_of(&work[0])]).await.is_empty());
        run_to(&api, &work[0], "success").await;
        let next = tick(&api, "e1", 10, &[]).await;
        assert_eq!(ids(&next), ["b"]);
        run_to(&api, &next[0], "success").await;
        assert!(tick(&api, "e1", 10, &[]).await.is_empty());
        let run: Value = admin(&api, Method::GET, "/airlock/control/dags/d/runs/r1")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(run["state"], "success");
        assert_eq!(run["task_instances"].as_array().unwrap().len(), 2);
    }
);

both_backends!(executor_events_fail_tries_that_never_started, |api| {
    let t = json!({"task_id": "a", "retries": 1, "retry_delay": 0});
    register(&api, "b", json!([{"dag_id": "d", "tasks": [t]}])).await;
    trigger(&api, "d", "r1").await;
    let event = |w: &Value| {
        let body = json!({"ti_id": w["ti_id"], "try_number": w["try_number"], "exit_code": 4, "detail": "no bundle"});
        admin(&api, Method::POST, "/airlock/control/executors/e1/events")
            .json(&body)
            .send()
    };
    let w = tick(&api, "e1", 1, &[]).await.remove(0);
    let r: Value = event(&w).await.unwrap().json().await.unwrap();
    assert_eq!(r["action"], "up_for_retry");
    let w2 = tick(&api, "e1", 1, &[]).await.remove(0);
    assert_eq!(
        w2["try_number"], 2,
        "the retry is the next try, under a new id"
    );
    assert_ne!(w2["ti_id"], w["ti_id"]);
    // A stale event (the old try) changes nothing.
    let r: Value = event(&w).await.unwrap().json().await.unwrap();
    assert_eq!(r["action"], "ignored");
    let r: Value = event(&w2).await.unwrap().json().await.unwrap();
    assert_eq!(r["action"], "failed");
    let (state, _) = state_of(&api, "d", "a").await;
    assert_eq!(state.as_deref(), Some("failed"));
    let reason: String =
        sqlx::query_scalar("SELECT retry_reason FROM task_instance WHERE dag_id = 'd'")
            .fetch_one(api.state.db.pool())
            .await
            .unwrap();
    assert!(reason.contains("no bundle"), "{reason}");
});

both_backends!(
    max_active_tasks_and_pausing_limit_what_is_handed_out,
    |api| {
        let tasks: Vec<Value> = (0..5).map(|i| task(&format!("t{i}"), &[])).collect();
        register(
            &api,
            "b",
            json!([{"dag_id": "d", "max_active_tasks": 2, "tasks": tasks}]),
        )
        .await;
        trigger(&api, "d", "r1").await;
        let first = tick(&api, "e1", 10, &[]).await;
        assert_eq!(first.len(), 2);
        let mut held: Vec<Uuid> = first.iter().map(ti_of).collect();
        assert!(tick(&api, "e1", 10, &held).await.is_empty());
        run_to(&api, &first[0], "success").await;
        let third = tick(&api, "e1", 10, &held).await;
        assert_eq!(third.len(), 1);
        held.push(ti_of(&third[0]));
        let r = admin(&api, Method::PATCH, "/airlock/control/dags/d")
            .json(&json!({"is_paused": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        run_to(&api, &first[1], "success").await;
        assert!(
            tick(&api, "e1", 10, &held).await.is_empty(),
            "a paused DAG gets nothing"
        );
        expect_error(
            trigger(&api, "d", "r2").await,
            StatusCode::BAD_REQUEST,
            Some("dag_paused"),
        )
        .await;
    }
);

both_backends!(
    mapping_over_a_value_that_is_not_a_list_fails_the_mapped_task,
    |api| {
        let m = json!({"task_id": "m", "upstream": ["src"], "map_over": "src"});
        register(
            &api,
            "b",
            json!([{"dag_id": "d", "tasks": [task("src", &[]), m]}]),
        )
        .await;
        trigger(&api, "d", "r1").await;
        let w = tick(&api, "e1", 5, &[]).await.remove(0);
        let ti = start_work(&api, &w).await;
        let r = api
            .req(Method::POST, "/xcoms/d/r1/src/return_value", Some(ti))
            .json(&json!(5))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
        set_state(
            &api,
            ti,
            json!({"state": "success", "end_date": "2026-11-23T10:00:01Z"}),
        )
        .await;
        assert!(tick(&api, "e1", 5, &[]).await.is_empty());
        let (state, _) = state_of(&api, "d", "m").await;
        assert_eq!(state.as_deref(), Some("failed"));
    }
);

both_backends!(task_logs_are_read_in_pieces, |api| {
    register(
        &api,
        "b",
        json!([{"dag_id": "d", "tasks": [task("a", &[])]}]),
    )
    .await;
    trigger(&api, "d", "r1").await;
    let path = airlock_protocol::logs::log_path(&api.state.log_dir, "d", "r1", "a", -1, 1);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "{\"event\":\"one\"}\n{\"event\":\"two\"}\n{\"event\":\"par",
    )
    .unwrap();
    let get = |q: &'static str| {
        admin(
            &api,
            Method::GET,
            &format!("/airlock/control/dags/d/runs/r1/tasks/a/logs{q}"),
        )
        .send()
    };
    let c: Value = get("").await.unwrap().json().await.unwrap();
    assert_eq!(c["content"], "{\"event\":\"one\"}\n{\"event\":\"two\"}\n");
    assert_eq!(
        (c["try_number"].clone(), c["finished"].clone()),
        (json!(1), json!(false))
    );
    let c: Value = get("?offset=32").await.unwrap().json().await.unwrap();
    assert_eq!(
        (c["content"].clone(), c["next_offset"].clone()),
        (json!(""), json!(32))
    );
    expect_error(
        get("?try_number=3").await.unwrap(),
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    let r = admin(
        &api,
        Method::GET,
        "/airlock/control/dags/d/runs/r1/tasks/zz/logs",
    )
    .send()
    .await
    .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
});

both_backends!(
    a_deferral_past_its_timeout_fails_without_a_triggerer,
    |api| {
        register(
            &api,
            "b",
            json!([{"dag_id": "d", "tasks": [task("a", &[])]}]),
        )
        .await;
        trigger(&api, "d", "r1").await;
        let w = tick(&api, "e1", 1, &[]).await.remove(0);
        let ti = start_work(&api, &w).await;
        let (status, body) = set_state(
            &api,
            ti,
            json!({"state": "deferred", "classpath": "airflow.triggers.testing.SuccessTrigger",
               "trigger_kwargs": {}, "trigger_timeout": "PT0.05S", "next_method": "done"}),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        // No triggerer runs; the scheduler's pass notices the deadline.
        let back = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let work = tick(&api, "e1", 1, &[]).await;
                if !work.is_empty() {
                    return work;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the task comes back");
        assert_eq!(back[0]["ti_id"], w["ti_id"]);
        let (method, kwargs): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT next_method, next_kwargs FROM task_instance WHERE id = $1")
                .bind(ti.to_string())
                .fetch_one(api.state.db.pool())
                .await
                .unwrap();
        assert_eq!(method.as_deref(), Some("__fail__"));
        assert!(kwargs.unwrap().contains("Trigger timeout"));
    }
);

both_backends!(
    bad_schedules_are_refused_by_name_and_the_rest_registers,
    |api| {
        let good = json!({"dag_id": "good", "schedule": "@daily", "timezone": "Europe/Amsterdam",
        "start_date": "2026-01-01T00:00:00Z", "tasks": [task("a", &[])]});
        let bad = [
            (
                json!({"dag_id": "bad_cron", "schedule": "0 25 * * *", "tasks": []}),
                "schedule",
                "0 25 * * *",
            ),
            (
                json!({"dag_id": "bad_tz", "schedule": "@hourly", "timezone": "Moon/Base", "tasks": []}),
                "timezone",
                "Moon/Base",
            ),
            (
                json!({"dag_id": "bad_dates", "schedule": "@hourly", "start_date": "2026-02-01T00:00:00Z",
                "end_date": "2026-01-01T00:00:00Z", "tasks": []}),
                "end_date",
                "2026-01-01T00:00:00Z",
            ),
        ];
        let mut dags = vec![good];
        dags.extend(bad.iter().map(|(d, _, _)| d.clone()));
        let r = register(&api, "b", Value::Array(dags)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["dags"], json!(["good"]));
        let refused = body["refused"].as_array().unwrap();
        assert_eq!(refused.len(), 3, "{body}");
        for ((dag, field, value), got) in bad.iter().zip(refused) {
            let message = got["message"].as_str().unwrap();
            assert_eq!(got["dag_id"], dag["dag_id"]);
            assert!(
                message.contains(dag["dag_id"].as_str().unwrap())
                    && message.contains(field)
                    && message.contains(value),
                "{message}"
            );
        }
        // Only bad DAGs: nothing registers, 422 with every reason.
        let only_bad = json!([bad[0].0.clone()]);
        expect_error(
            register(&api, "b", only_bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_dag"),
        )
        .await;
        // The list shows the schedule (with its zone) and, once a pass ran, the next run.
        api.schedule().await;
        let list: Value = admin(&api, Method::GET, "/airlock/control/dags")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let good = &list["dags"][0];
        assert_eq!(good["schedule"], "@daily (Europe/Amsterdam)");
        assert!(good["next_dagrun"].is_string(), "{good}");
    }
);

both_backends!(backfills_check_their_range_and_their_dag, |api| {
    register(
        &api,
        "b",
        json!([{"dag_id": "manual", "tasks": [task("a", &[])]},
               {"dag_id": "daily", "schedule": "@daily", "start_date": "2026-01-01T00:00:00Z",
                "tasks": [task("a", &[])]}]),
    )
    .await;
    let backfill = |dag: &str, body: Value| {
        admin(
            &api,
            Method::POST,
            &format!("/airlock/control/dags/{dag}/backfills"),
        )
        .json(&body)
    };
    let range = json!({"from_date": "2026-01-05T00:00:00Z", "to_date": "2026-01-07T00:00:00Z",
                       "dry_run": true});
    let r = backfill("daily", range.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let plan: Value = r.json().await.unwrap();
    assert_eq!(plan["backfill_id"], Value::Null);
    assert_eq!(plan["runs"].as_array().unwrap().len(), 3);
    assert_eq!(plan["runs"][0]["action"], "create");
    assert_eq!(
        plan["runs"][0]["run_id"],
        "backfill__2026-01-05T00:00:00+00:00"
    );
    let body = expect_error(
        backfill(
            "daily",
            json!({"from_date": "2026-01-07T00:00:00Z", "to_date": "2026-01-05T00:00:00Z"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        Some("reversed_range"),
    )
    .await;
    assert!(
        body["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-01-07")
    );
    expect_error(
        backfill("manual", range.clone()).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        Some("no_schedule"),
    )
    .await;
    expect_error(
        backfill("nope", range).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        None,
    )
    .await;
});

both_backends!(
    executor_tokens_act_for_their_executor_and_queues_split_work,
    |api| {
        let g = json!({"task_id": "g", "queue": "gpu"});
        register(
            &api,
            "b",
            json!([{"dag_id": "d", "tasks": [task("a", &[]), g]}]),
        )
        .await;
        trigger(&api, "d", "r1").await;
        api.schedule().await;
        let token = api.tokens().issue("w1", Scope::Executor, None);
        let call = |method: Method, path: &str, body: Value| {
            api.req(method, path, None)
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        let r = call(
            Method::PUT,
            "/airlock/control/executors/w1",
            json!({"hostname": "h1", "parallelism": 4}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // Another executor's routes, and every other control route, are refused.
        let r = call(
            Method::PUT,
            "/airlock/control/executors/w2",
            json!({"parallelism": 4}),
        )
        .await
        .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, None).await;
        let r = call(
            Method::POST,
            "/airlock/control/executors/w2/tick",
            json!({"slots": 5}),
        )
        .await
        .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, None).await;
        let r = call(Method::GET, "/airlock/control/dags", json!({}))
            .await
            .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, None).await;
        let r = call(
            Method::POST,
            "/airlock/control/dags/d/runs",
            json!({"run_id": "r2"}),
        )
        .await
        .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, None).await;
        // Queues: a gpu worker gets the gpu task only, a default worker the other.
        let tick_as = |queues: Value| {
            let body = json!({"slots": 5, "queues": queues});
            async move {
                let r = call(Method::POST, "/airlock/control/executors/w1/tick", body)
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let v: Value = r.json().await.unwrap();
                v["workloads"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w["task_id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(tick_as(json!(["gpu"])).await, ["g"]);
        let r = call(
            Method::POST,
            "/airlock/control/executors/w1/tick",
            json!({"slots": 5, "queues": ["default"], "holding": []}),
        )
        .await
        .unwrap();
        let v: Value = r.json().await.unwrap();
        let got: Vec<&str> = v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["task_id"].as_str().unwrap())
            .collect();
        // g was claimed by w1 and not held: handed out again, with a (default queue) beside it.
        assert_eq!(got, ["g", "a"]);
        assert!(
            tick_as(json!([]))
                .await
                .iter()
                .all(|t| t == "g" || t == "a")
        );
        let r = api
            .req(Method::DELETE, "/airlock/control/executors/w1", None)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
);
