//! Pools and per-task limits: their control routes, and admission keeping within them.

use crate::common::*;

async fn put_pool(api: &TestApi, name: &str, body: Value) -> reqwest::Response {
    admin(api, Method::PUT, &format!("/airlock/control/pools/{name}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn pools(api: &TestApi) -> Value {
    admin(api, Method::GET, "/airlock/control/pools")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn pool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no pool {name} in {list}"))
}

/// Slots of `pool` taken by queued or running task instances.
async fn taken(api: &TestApi, pool: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(pool_slots), 0) AS BIGINT) FROM task_instance \
         WHERE pool = $1 AND state IN ('queued', 'running')",
    )
    .bind(pool)
    .fetch_one(api.state.db.pool())
    .await
    .unwrap()
}

fn pooled(id: &str, pool: &str, slots: u32) -> Value {
    json!({"task_id": id, "pool": pool, "pool_slots": slots})
}

both_backends!(pools_are_managed_and_never_exceeded, |api| {
    // The default pool exists; others are created, resized, validated, deleted.
    let list = pools(&api).await;
    assert_eq!(pool(&list, "default_pool")["slots"], 128);
    assert_eq!(
        put_pool(&api, "p3", json!({"slots": 3})).await.status(),
        StatusCode::CREATED
    );
    let r = put_pool(&api, "p3", json!({"slots": 3, "description": "three"})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = put_pool(&api, "bad", json!({"slots": -1})).await;
    expect_error(r, StatusCode::BAD_REQUEST, Some("invalid_slots")).await;
    let r = admin(&api, Method::DELETE, "/airlock/control/pools/default_pool")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, Some("default_pool")).await;
    let r = admin(&api, Method::DELETE, "/airlock/control/pools/nope")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, None).await;
    // A task that takes no slot is refused at registration.
    let r = register(
        &api,
        "bad",
        json!([{"dag_id": "bad", "tasks": [pooled("t", "p3", 0)]}]),
    )
    .await;
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_dag")).await;

    // Two DAGs share p3: five one-slot tasks and a two-slot one; a third waits for a pool that
    // does not exist yet.
    let a: Vec<Value> = (0..5).map(|i| pooled(&format!("a{i}"), "p3", 1)).collect();
    let dags = json!([
        {"dag_id": "da", "tasks": a},
        {"dag_id": "db", "tasks": [pooled("wide", "p3", 2), pooled("narrow", "p3", 1)]},
        {"dag_id": "dc", "tasks": [pooled("later", "p_later", 1)]},
    ]);
    assert_eq!(register(&api, "b", dags).await.status(), StatusCode::OK);
    for dag in ["da", "db", "dc"] {
        assert_eq!(trigger(&api, dag, "r").await.status(), StatusCode::CREATED);
    }
    let mut work = tick(&api, "ex", 100, &[]).await;
    assert!(taken(&api, "p3").await <= 3);
    assert!(!work.is_empty());
    assert!(
        work.iter().all(|w| w["task_id"] != "later"),
        "no pool, no admission"
    );
    let list = pools(&api).await;
    assert_eq!(pool(&list, "p3")["queued_slots"], taken(&api, "p3").await);
    assert_eq!(pool(&list, "p3")["open_slots"], 3 - taken(&api, "p3").await);
    // While slots are held the pool cannot go.
    let r = admin(&api, Method::DELETE, "/airlock/control/pools/p3")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, Some("pool_in_use")).await;
    // Finishing work frees slots for the rest; the pool is never exceeded on the way.
    let mut done = 0;
    while done < 7 {
        let Some(w) = work.pop() else {
            let held: Vec<Uuid> = Vec::new();
            work = tick(&api, "ex", 100, &held).await;
            assert!(!work.is_empty(), "work left but none admitted");
            assert!(taken(&api, "p3").await <= 3);
            continue;
        };
        run_to(&api, &w, "success").await;
        done += 1;
        assert!(taken(&api, "p3").await <= 3);
    }
    // The waiting task runs once its pool exists.
    assert_eq!(
        put_pool(&api, "p_later", json!({"slots": 1}))
            .await
            .status(),
        StatusCode::CREATED
    );
    let work = tick(&api, "ex", 100, &[]).await;
    assert_eq!(work.len(), 1);
    assert_eq!(work[0]["task_id"], "later");
});

both_backends!(per_task_limits_hold_over_runs_and_within_a_run, |api| {
    let dags = json!([{"dag_id": "lim", "tasks": [
        {"task_id": "one_at_a_time", "max_active_tis_per_dag": 1},
        {"task_id": "one_per_run", "max_active_tis_per_dagrun": 1},
    ]}]);
    assert_eq!(register(&api, "b", dags).await.status(), StatusCode::OK);
    for run in ["r1", "r2", "r3"] {
        assert_eq!(
            trigger(&api, "lim", run).await.status(),
            StatusCode::CREATED
        );
    }
    let work = tick(&api, "ex", 100, &[]).await;
    let count = |task: &str| work.iter().filter(|w| w["task_id"] == task).count();
    assert_eq!(count("one_at_a_time"), 1, "one over all runs");
    assert_eq!(count("one_per_run"), 3, "one in each run");
    let first = work
        .iter()
        .find(|w| w["task_id"] == "one_at_a_time")
        .unwrap();
    run_to(&api, first, "success").await;
    let holding: Vec<Uuid> = work
        .iter()
        .filter(|w| w["task_id"] != "one_at_a_time")
        .map(ti_of)
        .collect();
    let next = tick(&api, "ex", 100, &holding).await;
    let again: Vec<&Value> = next
        .iter()
        .filter(|w| w["task_id"] == "one_at_a_time")
        .collect();
    assert_eq!(again.len(), 1, "the next one once the first finished");
});
