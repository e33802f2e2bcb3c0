//! Operating runs over the control API: listing, clearing, marking, cancelling; Variables and
//! Connections. Every response is checked against the OpenAPI document by the test server.

use crate::common::*;

async fn post(api: &TestApi, path: &str, body: Value) -> reqwest::Response {
    admin(api, Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn run_of(api: &TestApi, dag: &str, run: &str) -> Value {
    ok_json(
        admin(
            api,
            Method::GET,
            &format!("/airlock/control/dags/{dag}/runs/{run}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await
}

/// (state, try number) of each task instance of a run, by task id.
async fn states(api: &TestApi, dag: &str, run: &str) -> Vec<(String, Option<String>, i64)> {
    sqlx::query_as(
        "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = $1 AND run_id = $2 \
         ORDER BY task_id",
    )
    .bind(dag)
    .bind(run)
    .fetch_all(api.state.db.pool())
    .await
    .unwrap()
}

fn st(task: &str, state: Option<&str>, try_number: i64) -> (String, Option<String>, i64) {
    (task.to_owned(), state.map(str::to_owned), try_number)
}

async fn heartbeat(api: &TestApi, w: &Value) -> StatusCode {
    let ti = ti_of(w);
    api.req(
        Method::PUT,
        &format!("/task-instances/{ti}/heartbeat"),
        Some(ti),
    )
    .json(&json!({"hostname": "h", "pid": 7}))
    .send()
    .await
    .unwrap()
    .status()
}

both_backends!(cleared_tasks_get_a_new_try_and_keep_the_old_one, |api| {
    let dag =
        json!([{"dag_id": "d", "tasks": [task("a", &[]), task("b", &["a"]), task("c", &["b"])]}]);
    register(&api, "b", dag).await;
    trigger(&api, "d", "r1").await;
    run_to(&api, &tick(&api, "e", 5, &[]).await[0], "success").await;
    run_to(&api, &tick(&api, "e", 5, &[]).await[0], "failed").await;
    api.schedule().await;
    assert_eq!(run_of(&api, "d", "r1").await["state"], "failed");

    // Dry run: what would happen, and nothing happens.
    let path = "/airlock/control/dags/d/runs/r1/clear";
    let dry = ok_json(
        post(
            &api,
            path,
            json!({"task_ids": ["b"], "downstream": true, "dry_run": true}),
        )
        .await,
    )
    .await;
    assert_eq!(dry["dry_run"], true);
    let changed: Vec<(String, String, i64)> = dry["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["task_id"].as_str().unwrap().to_owned(),
                c["previous_state"].as_str().unwrap().to_owned(),
                c["try_number"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("b".to_owned(), "failed".to_owned(), 2),
            ("c".to_owned(), "upstream_failed".to_owned(), 1)
        ]
    );
    let before = states(&api, "d", "r1").await;
    assert_eq!(before[1], st("b", Some("failed"), 1));

    // Bad input changes nothing.
    let body = expect_error(
        post(&api, path, json!({"task_ids": ["b", "nope"]})).await,
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    let msg = body["detail"]["message"].as_str().unwrap();
    assert!(msg.contains("\"nope\"") && msg.contains("a, b, c"), "{msg}");
    expect_error(
        post(&api, "/airlock/control/dags/d/runs/r9/clear", json!({})).await,
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    assert_eq!(states(&api, "d", "r1").await, before);

    // The clear: b and c wait again, b on its second try; try 1 stays in the history.
    ok_json(post(&api, path, json!({"task_ids": ["b"], "downstream": true})).await).await;
    assert_eq!(
        states(&api, "d", "r1").await,
        [
            st("a", Some("success"), 1),
            st("b", None, 2),
            st("c", None, 1)
        ]
    );
    assert_eq!(run_of(&api, "d", "r1").await["state"], "queued");
    let history: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT task_id, try_number, state FROM task_instance_history WHERE dag_id = 'd'",
    )
    .fetch_all(api.state.db.pool())
    .await
    .unwrap();
    assert_eq!(history, [("b".to_owned(), 1, "failed".to_owned())]);
    let w = tick(&api, "e", 5, &[]).await;
    assert_eq!(
        (w[0]["task_id"].as_str(), w[0]["try_number"].as_i64()),
        (Some("b"), Some(2))
    );
    run_to(&api, &w[0], "success").await;
    run_to(&api, &tick(&api, "e", 5, &[]).await[0], "success").await;
    api.schedule().await;
    assert_eq!(run_of(&api, "d", "r1").await["state"], "success");

    // A task in flight is not cleared.
    trigger(&api, "d", "r2").await;
    let w = tick(&api, "e", 5, &[]).await;
    start_work(&api, &w[0]).await;
    let body = expect_error(
        post(
            &api,
            "/airlock/control/dags/d/runs/r2/clear",
            json!({"task_ids": ["a"]}),
        )
        .await,
        StatusCode::CONFLICT,
        Some("task_in_flight"),
    )
    .await;
    assert!(
        body["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("\"a\" is running")
    );
    assert_eq!(
        states(&api, "d", "r2").await[0],
        st("a", Some("running"), 1)
    );

    // Only the failed ones of a whole run (a failed, the others could not run).
    let a = ti_of(&w[0]);
    let (status, text) = set_state(
        &api,
        a,
        json!({"state": "failed", "end_date": "2026-11-23T10:00:01Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    api.schedule().await;
    assert_eq!(run_of(&api, "d", "r2").await["state"], "failed");
    let cleared = ok_json(
        post(
            &api,
            "/airlock/control/dags/d/runs/r2/clear",
            json!({"only_failed": true}),
        )
        .await,
    )
    .await;
    let got: Vec<(&str, i64)> = cleared["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["task_id"].as_str().unwrap(),
                c["try_number"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("a", 2), ("b", 1), ("c", 1)]);
});

both_backends!(marking_and_cancelling_stop_running_tries, |api| {
    let dag = json!([{"dag_id": "d", "tasks": [task("a", &[]), task("b", &["a"])]}]);
    register(&api, "b", dag).await;

    // A running task marked success: its supervisor is told to stop at its next heartbeat,
    // and what follows it runs.
    trigger(&api, "d", "r1").await;
    let w = tick(&api, "e", 5, &[]).await;
    start_work(&api, &w[0]).await;
    assert_eq!(heartbeat(&api, &w[0]).await, StatusCode::NO_CONTENT);
    let mark = "/airlock/control/dags/d/runs/r1/tasks/mark";
    let changed =
        ok_json(post(&api, mark, json!({"task_ids": ["a"], "state": "success"})).await).await;
    assert_eq!(changed["changed"][0]["previous_state"], "running");
    assert_eq!(heartbeat(&api, &w[0]).await, StatusCode::CONFLICT);
    let next = tick(&api, "e", 5, &[]).await;
    assert_eq!(next[0]["task_id"], "b");

    // Bad input: unknown task, a state that cannot be marked, a map index that is not there.
    let body = expect_error(
        post(&api, mark, json!({"task_ids": ["zz"], "state": "failed"})).await,
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    assert!(
        body["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("\"zz\"")
    );
    let r = post(&api, mark, json!({"task_ids": ["a"], "state": "running"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    expect_error(
        post(
            &api,
            mark,
            json!({"task_ids": ["a"], "state": "failed", "map_index": 3}),
        )
        .await,
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;

    // The whole run marked failed: the queued b never starts.
    let r = admin(&api, Method::PATCH, "/airlock/control/dags/d/runs/r1")
        .json(&json!({"state": "failed"}))
        .send()
        .await
        .unwrap();
    let run = ok_json(r).await;
    assert_eq!(run["state"], "failed");
    assert_eq!(
        states(&api, "d", "r1").await,
        [st("a", Some("success"), 1), st("b", Some("skipped"), 1)]
    );
    let r = api
        .req(
            Method::PATCH,
            &format!("/task-instances/{}/run", ti_of(&next[0])),
            None,
        )
        .bearer_auth(next[0]["token"].as_str().unwrap())
        .json(&run_body(8))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a skipped task never starts"
    );

    // Marking a task of a finished run: the scheduler decides the run again.
    let changed =
        ok_json(post(&api, mark, json!({"task_ids": ["b"], "state": "success"})).await).await;
    assert_eq!(changed["changed"].as_array().unwrap().len(), 1);
    api.schedule().await;
    assert_eq!(run_of(&api, "d", "r1").await["state"], "success");

    // Cancelling: a finished run is refused; a running one fails with the reason.
    expect_error(
        post(&api, "/airlock/control/dags/d/runs/r1/cancel", json!({})).await,
        StatusCode::CONFLICT,
        Some("run_finished"),
    )
    .await;
    trigger(&api, "d", "r2").await;
    let w = tick(&api, "e", 5, &[]).await;
    start_work(&api, &w[0]).await;
    let run = ok_json(
        post(
            &api,
            "/airlock/control/dags/d/runs/r2/cancel",
            json!({"reason": "bad input file"}),
        )
        .await,
    )
    .await;
    assert_eq!(run["state"], "failed");
    assert_eq!(heartbeat(&api, &w[0]).await, StatusCode::CONFLICT);
    assert_eq!(
        states(&api, "d", "r2").await,
        [st("a", Some("failed"), 1), st("b", Some("skipped"), 1)]
    );
    let list = ok_json(
        admin(
            &api,
            Method::GET,
            "/airlock/control/runs?dag_id=d&state=failed",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let note = list["runs"][0]["note"].as_str().unwrap();
    assert!(
        note.starts_with("cancelled by ") && note.ends_with(": bad input file"),
        "{note}"
    );
    api.schedule().await;
    assert!(
        tick(&api, "e", 5, &[]).await.is_empty(),
        "nothing else starts"
    );
    assert_eq!(run_of(&api, "d", "r2").await["state"], "failed");
});

both_backends!(runs_are_listed_by_dag_state_and_age, |api| {
    let dags = json!([{"dag_id": "d", "tasks": [task("a", &[])]},
                      {"dag_id": "e", "tasks": [task("a", &[])]}]);
    register(&api, "b", dags).await;
    for run in ["r1", "r2", "r3"] {
        trigger(&api, "d", run).await;
    }
    trigger(&api, "e", "r4").await;
    ok_json(
        admin(&api, Method::PATCH, "/airlock/control/dags/d/runs/r1")
            .json(&json!({"state": "success"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    ok_json(post(&api, "/airlock/control/dags/d/runs/r2/cancel", json!({})).await).await;
    let runs = |q: &'static str| {
        let api = &api;
        async move {
            let list = ok_json(
                admin(api, Method::GET, &format!("/airlock/control/runs{q}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            list["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}:{}",
                        r["dag_id"].as_str().unwrap(),
                        r["run_id"].as_str().unwrap(),
                        r["state"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(runs("?state=failed").await, ["d/r2:failed"]);
    assert_eq!(
        runs("?state=failed&state=success").await,
        ["d/r2:failed", "d/r1:success"]
    );
    assert_eq!(
        runs("?dag_id=d").await,
        ["d/r3:queued", "d/r2:failed", "d/r1:success"]
    );
    assert_eq!(runs("?limit=1").await, ["e/r4:queued"]);
    assert_eq!(runs("?since=2000-01-01T00:00:00Z").await.len(), 4);
    assert!(runs("?since=2999-01-01T00:00:00Z").await.is_empty());
    for (q, reason) in [
        ("?since=yesterday", "invalid_since"),
        ("?state=done", "invalid_state"),
        ("?limit=0", "invalid_limit"),
        ("?limit=5000", "invalid_limit"),
    ] {
        let r = admin(&api, Method::GET, &format!("/airlock/control/runs{q}"))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, Some(reason)).await;
    }
});

both_backends!(
    variables_and_connections_round_trip_without_passwords,
    |api| {
        let put = |path: String, body: Value| {
            let api = &api;
            async move {
                admin(api, Method::PUT, &path)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let get = |path: &'static str| {
            let api = &api;
            async move { admin(api, Method::GET, path).send().await.unwrap() }
        };
        let r = put(
            "/airlock/control/variables/team/owner".into(),
            json!({"value": "ops", "description": "who"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let v = ok_json(get("/airlock/control/variables/team/owner").await).await;
        assert_eq!(
            v,
            json!({"key": "team/owner", "value": "ops", "description": "who"})
        );
        put("/airlock/control/variables/z".into(), json!({"value": "1"})).await;
        let list = ok_json(get("/airlock/control/variables?prefix=team").await).await;
        assert_eq!(list["total_entries"], 1);
        assert_eq!(list["variables"][0]["key"], "team/owner");
        let r = admin(
            &api,
            Method::DELETE,
            "/airlock/control/variables/team/owner",
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        expect_error(
            get("/airlock/control/variables/team/owner").await,
            StatusCode::NOT_FOUND,
            Some("not_found"),
        )
        .await;
        let r = admin(
            &api,
            Method::DELETE,
            "/airlock/control/variables/team/owner",
        )
        .send()
        .await
        .unwrap();
        expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;

        let secret = "hunter2-s3cret";
        let conn = json!({"conn_type": "postgres", "host": "db", "port": 5432, "login": "me",
                      "password": secret, "extra": "{\"sslmode\": \"require\"}"});
        assert_eq!(
            put("/airlock/control/connections/pg".into(), conn)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        let r = get("/airlock/control/connections/pg").await;
        let text = r.text().await.unwrap();
        assert!(
            !text.contains(secret) && !text.contains("sslmode"),
            "{text}"
        );
        let c: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (c["has_password"].as_bool(), c["port"].as_i64()),
            (Some(true), Some(5432))
        );
        let text = get("/airlock/control/connections")
            .await
            .text()
            .await
            .unwrap();
        assert!(text.contains("\"pg\"") && !text.contains(secret), "{text}");
        // The task route still gives a task the password.
        let me = seed(&api, &[("t", 0)]).await[0];
        let r: Value = api
            .req(Method::GET, "/connections/pg", Some(me))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["password"], secret);
        for (body, reason) in [
            (json!({"conn_type": "http", "port": 70000}), "invalid_port"),
            (
                json!({"conn_type": "http", "extra": "[1]"}),
                "invalid_extra",
            ),
            (json!({"conn_type": ""}), "invalid_id"),
        ] {
            expect_error(
                put("/airlock/control/connections/x".into(), body).await,
                StatusCode::BAD_REQUEST,
                Some(reason),
            )
            .await;
        }
        let r = admin(&api, Method::DELETE, "/airlock/control/connections/pg")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        expect_error(
            get("/airlock/control/connections/pg").await,
            StatusCode::NOT_FOUND,
            Some("not_found"),
        )
        .await;
        // Task tokens cannot use them.
        let r = api
            .req(Method::GET, "/airlock/control/variables", Some(me))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
);

both_backends!(
    db_clean_deletes_only_finished_runs_past_the_retention,
    |api| {
        let dag = json!([{"dag_id": "d", "tasks": [task("a", &[])]}]);
        register(&api, "b", dag).await;
        for run in ["old", "new", "busy"] {
            trigger(&api, "d", run).await;
        }
        run_to(&api, &tick(&api, "e", 1, &[]).await[0], "success").await;
        api.schedule().await;
        ok_json(
            admin(&api, Method::PATCH, "/airlock/control/dags/d/runs/new")
                .json(&json!({"state": "failed"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        // "old" finished two days ago; its log directory exists.
        let two_days_ago =
            airlock_store::to_micros(chrono::Utc::now() - chrono::TimeDelta::days(2));
        sqlx::query("UPDATE dag_run SET end_date = $1 WHERE run_id = 'old'")
            .bind(two_days_ago)
            .execute(api.state.db.pool())
            .await
            .unwrap();
        assert_eq!(run_of(&api, "d", "old").await["state"], "success");
        let logs = airlock_protocol::logs::run_log_dir(&api.state.log_dir, "d", "old");
        std::fs::create_dir_all(logs.join("task_id=a")).unwrap();
        std::fs::write(logs.join("task_id=a/attempt=1.log"), "{}\n").unwrap();

        let clean = |body: Value| {
            let api = &api;
            async move { post(api, "/airlock/control/db/clean", body).await }
        };
        expect_error(
            clean(json!({"older_than_secs": 0})).await,
            StatusCode::BAD_REQUEST,
            Some("invalid_retention"),
        )
        .await;
        let dry = ok_json(clean(json!({"older_than_secs": 86400, "dry_run": true})).await).await;
        assert_eq!(
            (
                dry["runs"].as_u64(),
                dry["task_instances"].as_u64(),
                dry["log_dirs"].as_u64()
            ),
            (Some(1), Some(1), Some(1))
        );
        assert!(logs.exists());
        run_of(&api, "d", "old").await;
        let done = ok_json(clean(json!({"older_than_secs": 86400})).await).await;
        assert_eq!(
            (done["runs"].as_u64(), done["dry_run"].as_bool()),
            (Some(1), Some(false))
        );
        assert!(!logs.exists());
        let r = admin(&api, Method::GET, "/airlock/control/dags/d/runs/old")
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM task_instance WHERE run_id = 'old'")
                .fetch_one(api.state.db.pool())
                .await
                .unwrap();
        assert_eq!(left, 0);
        // The run that finished just now and the one still queued stay.
        run_of(&api, "d", "new").await;
        run_of(&api, "d", "busy").await;
        let again = ok_json(clean(json!({"older_than_secs": 3600, "dry_run": true})).await).await;
        assert_eq!(
            again["runs"].as_u64(),
            Some(0),
            "finished a moment ago: {again}"
        );
    }
);

both_backends!(a_run_of_one_task_alone_and_its_xcoms, |api| {
    let dag =
        json!([{"dag_id": "d", "tasks": [task("a", &[]), task("b", &["a"]), task("c", &["b"])]}]);
    register(&api, "b", dag).await;
    let path = "/airlock/control/dags/d/runs";
    expect_error(
        post(&api, path, json!({"run_id": "x", "only_tasks": ["zz"]})).await,
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )
    .await;
    let r = post(&api, path, json!({"run_id": "t1", "only_tasks": ["b"]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(states(&api, "d", "t1").await, [st("b", None, 1)]);
    // b runs at once (its upstream is not in the run) and fails: the run fails, as b is the
    // last task it holds.
    let w = tick(&api, "e", 5, &[]).await;
    assert_eq!(w[0]["task_id"], "b");
    let ti = start_work(&api, &w[0]).await;
    let r = api
        .req(Method::POST, "/xcoms/d/t1/b/return_value", Some(ti))
        .json(&json!({"rows": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (status, text) = set_state(
        &api,
        ti,
        json!({"state": "failed", "end_date": "2026-11-23T10:00:01Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    api.schedule().await;
    assert_eq!(run_of(&api, "d", "t1").await["state"], "failed");
    let xcoms = ok_json(
        admin(
            &api,
            Method::GET,
            "/airlock/control/dags/d/runs/t1/tasks/b/xcoms",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        xcoms,
        json!({"xcoms": [{"key": "return_value", "map_index": -1, "value": {"rows": 3}}]})
    );
    let r = admin(
        &api,
        Method::GET,
        "/airlock/control/dags/d/runs/t1/tasks/a/xcoms",
    )
    .send()
    .await
    .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, Some("not_found")).await;
});
