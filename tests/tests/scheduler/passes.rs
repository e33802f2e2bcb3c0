//! Passes: trigger rules, retries, reschedules, zombies, trigger timeouts, mapping, admission.

use crate::common::*;

both_backends!(trigger_rules_decide_and_the_run_finishes, |s| {
    let c = json!({"task_id": "c", "upstream": ["a"], "trigger_rule": "one_failed"});
    let d = json!({"task_id": "d", "upstream": ["b", "c"], "trigger_rule": "none_failed"});
    s.register(json!([{"dag_id": "d", "tasks": [task("a", &[]), task("b", &["a"]), c, d]}]))
        .await;
    s.trigger("d", "r").await;
    let report = s.pass(0.0).await;
    assert_eq!(report.runs_started, 1);
    assert_eq!(report.admitted, 1, "{report:?}");
    assert_eq!(s.run_state("r").await, "running");
    assert_eq!(s.state_of("r", "a").await.as_deref(), Some("queued"));
    assert_eq!(s.state_of("r", "b").await, None, "waits for its upstream");

    s.run_to("r", "a", -1, "success", 1.0).await;
    s.pass(1.0).await;
    assert_eq!(s.state_of("r", "b").await.as_deref(), Some("queued"));
    assert_eq!(
        s.state_of("r", "c").await.as_deref(),
        Some("skipped"),
        "one_failed can no longer be met"
    );
    s.run_to("r", "b", -1, "success", 2.0).await;
    s.pass(2.0).await;
    assert_eq!(
        s.state_of("r", "d").await.as_deref(),
        Some("queued"),
        "none_failed runs after a skip"
    );
    s.run_to("r", "d", -1, "success", 3.0).await;
    let report = s.pass(3.0).await;
    assert_eq!(report.runs_finished, 1);
    assert_eq!(s.run_state("r").await, "success");
    assert!(!s.pass(3.0).await.changed(), "a finished run is left alone");
});

both_backends!(retries_wait_their_delay_doubling_with_backoff, |s| {
    let t = json!({"task_id": "t", "retries": 2, "retry_delay": 10.0,
                   "retry_exponential_backoff": true});
    s.register(json!([{"dag_id": "d", "tasks": [t]}])).await;
    s.trigger("d", "r").await;
    s.pass(0.0).await;
    s.run_to("r", "t", -1, "up_for_retry", 1.0).await;
    let report = s.pass(5.0).await;
    assert_eq!(
        s.state("r", "t", -1).await,
        (Some("up_for_retry".into()), 1)
    );
    assert_eq!(
        report.next_due,
        Some(s.at(11.0)),
        "the next pass is due when the delay ends"
    );
    let report = s.pass(11.0).await;
    assert_eq!(report.retried, 1);
    assert_eq!(s.state("r", "t", -1).await, (Some("queued".into()), 2));

    // The second failure waits twice as long.
    s.run_to("r", "t", -1, "up_for_retry", 20.0).await;
    s.pass(39.0).await;
    assert_eq!(s.state_of("r", "t").await.as_deref(), Some("up_for_retry"));
    s.pass(40.0).await;
    assert_eq!(s.state("r", "t", -1).await, (Some("queued".into()), 3));
    // No retries left: failed, and so is the run.
    s.run_to("r", "t", -1, "failed", 41.0).await;
    s.pass(41.0).await;
    assert_eq!(s.run_state("r").await, "failed");
});

both_backends!(reschedules_come_back_at_their_date_in_the_same_try, |s| {
    s.register(json!([{"dag_id": "d", "tasks": [task("sensor", &[])]}]))
        .await;
    s.trigger("d", "r").await;
    s.pass(0.0).await;
    let id = s.start("r", "sensor", -1, 1.0).await;
    let date = airlock_protocol::time::to_rfc3339(&s.at(30.0));
    s.report(
        id,
        json!({"state": "up_for_reschedule", "reschedule_date": date}),
        1.0,
    )
    .await;
    let report = s.pass(10.0).await;
    assert_eq!(report.next_due, Some(s.at(30.0)));
    assert_eq!(
        s.state_of("r", "sensor").await.as_deref(),
        Some("up_for_reschedule")
    );
    s.pass(30.0).await;
    assert_eq!(s.state("r", "sensor", -1).await, (Some("queued".into()), 1));
});

both_backends!(zombies_are_retried_then_failed, |s| {
    let mut s = s;
    s.settings.heartbeat_timeout = std::time::Duration::from_secs(60);
    s.register(json!([{"dag_id": "d", "tasks": [
        {"task_id": "z", "retries": 1, "retry_delay": 0.0}]}]))
        .await;
    s.trigger("d", "r").await;
    s.pass(0.0).await;
    s.start("r", "z", -1, 1.0).await;
    let report = s.pass(30.0).await;
    assert_eq!(report.zombies, 0);
    assert!(
        report
            .next_due
            .is_some_and(|d| d > s.at(61.0) && d <= s.at(61.1)),
        "due at the heartbeat deadline: {report:?}"
    );
    let report = s.pass(62.0).await;
    assert_eq!(report.zombies, 1);
    assert_eq!(s.state("r", "z", -1).await, (Some("queued".into()), 2));
    s.start("r", "z", -1, 63.0).await;
    s.pass(124.0).await;
    assert_eq!(s.state_of("r", "z").await.as_deref(), Some("failed"));
    assert_eq!(s.run_state("r").await, "failed");
});

both_backends!(a_trigger_timeout_resumes_the_task_at_its_fail_method, |s| {
    s.register(json!([{"dag_id": "d", "tasks": [task("w", &[])]}]))
        .await;
    s.trigger("d", "r").await;
    s.pass(0.0).await;
    let id = s.start("r", "w", -1, 1.0).await;
    s.report(
        id,
        json!({"state": "deferred", "classpath": "airflow.triggers.temporal.DateTimeTrigger",
               "trigger_kwargs": {}, "trigger_timeout": "PT30S", "next_method": "done"}),
        1.0,
    )
    .await;
    let report = s.pass(10.0).await;
    assert_eq!(report.trigger_timeouts, 0);
    assert_eq!(s.state_of("r", "w").await.as_deref(), Some("deferred"));
    assert!(
        report
            .next_due
            .is_some_and(|d| d > s.at(31.0) && d <= s.at(31.1)),
        "{report:?}"
    );
    let report = s.pass(32.0).await;
    assert_eq!(report.trigger_timeouts, 1);
    assert_eq!(
        s.state_of("r", "w").await.as_deref(),
        Some("queued"),
        "resumed and admitted in one pass"
    );
    let (method, kwargs): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT next_method, next_kwargs FROM task_instance WHERE task_id = 'w'")
            .fetch_one(s.db.pool())
            .await
            .unwrap();
    assert_eq!(method.as_deref(), Some("__fail__"));
    assert!(kwargs.unwrap().contains("Trigger timeout"));
});

both_backends!(a_mapped_task_expands_over_its_upstream_list, |s| {
    let m = json!({"task_id": "m", "upstream": ["src"], "map_over": "src"});
    s.register(json!([{"dag_id": "d", "tasks": [task("src", &[]), m]}]))
        .await;
    s.trigger("d", "r").await;
    s.pass(0.0).await;
    let id = s.start("r", "src", -1, 1.0).await;
    let key = airlock_store::xcoms::XComKey {
        dag_id: "d".into(),
        run_id: "r".into(),
        task_id: "src".into(),
        key: "return_value".into(),
    };
    airlock_store::xcoms::set_xcom(
        &s.db,
        &key,
        -1,
        &json!([1, 2, 3]),
        false,
        None,
        airlock_store::xcoms::DEFAULT_MAX_MAP_LENGTH,
        s.at(1.0),
    )
    .await
    .unwrap();
    s.report(id, json!({"state": "success"}), 1.0).await;
    let report = s.pass(1.0).await;
    assert_eq!(report.expanded, 3, "{report:?}");
    assert_eq!(
        s.claim(10, 1.0).await,
        vec![("m".into(), 0), ("m".into(), 1), ("m".into(), 2)]
    );
});

both_backends!(
    admission_keeps_max_active_tasks_and_skips_paused_dags,
    |s| {
        let tasks: Vec<Value> = (0..5)
            .map(|i| json!({"task_id": format!("t{i}"), "priority_weight": i}))
            .collect();
        s.register(json!([
            {"dag_id": "limited", "max_active_tasks": 2, "tasks": tasks},
            {"dag_id": "paused", "tasks": [task("p", &[])]}
        ]))
        .await;
        s.trigger("limited", "r").await;
        s.trigger("paused", "rp").await;
        airlock_store::control::set_paused(&s.db, "paused", true)
            .await
            .unwrap();
        let report = s.pass(0.0).await;
        assert_eq!(report.admitted, 2, "{report:?}");
        // The highest priorities first, and executors only take what was admitted.
        assert_eq!(
            s.claim(10, 0.0).await,
            vec![("t3".into(), -1), ("t4".into(), -1)]
        );
        assert_eq!(s.state_of("r", "t2").await.as_deref(), Some("scheduled"));
        assert_eq!(
            s.run_state("rp").await,
            "queued",
            "a paused DAG's run waits"
        );

        s.run_to("r", "t4", -1, "success", 1.0).await;
        assert_eq!(s.pass(1.0).await.admitted, 1);
        assert_eq!(s.state_of("r", "t2").await.as_deref(), Some("queued"));
        assert_eq!(s.state_of("r", "t1").await.as_deref(), Some("scheduled"));
        // e1 claimed t3 and never started it: handed to it again, with t2.
        assert_eq!(
            s.claim(10, 1.0).await,
            vec![("t2".into(), -1), ("t3".into(), -1)]
        );

        airlock_store::control::set_paused(&s.db, "paused", false)
            .await
            .unwrap();
        s.pass(2.0).await;
        assert_eq!(s.run_state("rp").await, "running");
        assert_eq!(s.state_of("rp", "p").await.as_deref(), Some("queued"));
    }
);

both_backends!(a_dead_executors_claims_go_back_to_every_executor, |s| {
    let mut s = s;
    s.settings.executor_timeout = std::time::Duration::from_secs(60);
    s.register(json!([{"dag_id": "d", "tasks": [task("a", &[])]}]))
        .await;
    s.trigger("d", "r").await;
    s.pass(0.0).await;
    assert_eq!(s.claim(1, 0.0).await.len(), 1);
    let other = |secs| airlock_store::executors::claim_work(&s.db, "e2", 1, &[], None, s.at(secs));
    assert!(other(1.0).await.unwrap().is_empty(), "claimed by e1");
    let report = s.pass(30.0).await;
    assert_eq!(report.requeued, 0);
    let report = s.pass(61.0).await;
    assert_eq!(report.requeued, 1, "e1 is silent: {report:?}");
    assert_eq!(other(61.0).await.unwrap().len(), 1);
});

both_backends!(
    error_tasks_run_only_when_the_run_fails_which_stays_failed,
    |s| {
        let error =
            |id: &str, up: &[&str]| json!({"task_id": id, "upstream": up, "error_task": true});
        s.register(json!([{"dag_id": "d", "tasks": [
            task("a", &[]), task("b", &["a"]), error("cleanup", &[]), error("alert", &["cleanup"])
        ]}]))
        .await;

        // `a` fails: `b` cannot run; then, and only then, the error tasks run in their order.
        s.trigger("d", "bad").await;
        s.pass(0.0).await;
        assert_eq!(
            s.state_of("bad", "cleanup").await,
            None,
            "waits for the run"
        );
        s.run_to("bad", "a", -1, "failed", 1.0).await;
        s.pass(1.0).await;
        assert_eq!(
            s.state_of("bad", "b").await.as_deref(),
            Some("upstream_failed")
        );
        assert_eq!(
            s.state_of("bad", "cleanup").await.as_deref(),
            Some("queued")
        );
        assert_eq!(s.state_of("bad", "alert").await, None);
        assert_eq!(s.run_state("bad").await, "running");
        s.run_to("bad", "cleanup", -1, "success", 2.0).await;
        s.pass(2.0).await;
        assert_eq!(s.state_of("bad", "alert").await.as_deref(), Some("queued"));
        s.run_to("bad", "alert", -1, "success", 3.0).await;
        s.pass(3.0).await;
        assert_eq!(
            s.run_state("bad").await,
            "failed",
            "error tasks do not rescue a run"
        );

        // Nothing fails: the error tasks are skipped and the run succeeds.
        s.trigger("d", "good").await;
        s.pass(4.0).await;
        s.run_to("good", "a", -1, "success", 5.0).await;
        s.pass(5.0).await;
        assert_eq!(s.state_of("good", "cleanup").await, None, "b still runs");
        s.run_to("good", "b", -1, "success", 6.0).await;
        s.pass(6.0).await;
        assert_eq!(
            s.state_of("good", "cleanup").await.as_deref(),
            Some("skipped")
        );
        assert_eq!(
            s.state_of("good", "alert").await.as_deref(),
            Some("skipped")
        );
        assert_eq!(s.run_state("good").await, "success");
    }
);
