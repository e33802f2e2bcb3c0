//! The triggerer with real processes: deferred tasks wait without a slot, resume exactly once,
//! and survive a triggerer's death.

use airlock_store as store;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use airlock_e2e::{Stack, on_both_backends};
use serde_json::{Value, json};
use uuid::Uuid;

const DATE_TIME: &str = "airflow.providers.standard.triggers.temporal.DateTimeTrigger";

fn soon(secs: i64) -> String {
    airlock_protocol::time::to_rfc3339(&(chrono::Utc::now() + chrono::TimeDelta::seconds(secs)))
}

on_both_backends!(
    a_date_time_trigger_resumes_the_task_in_its_next_method,
    Stack::start,
    |stack| {
        let _t = stack.triggerer("t1", &[]);
        // The SDK's time-delta trigger: Airflow's DateTimeTrigger with a serde datetime, one second out.
        let ti = stack.seed_task("waits", json!({}));
        assert_eq!(stack.run(ti).await.code, Some(0));
        let row = stack.wait_ready(ti, Duration::from_secs(30)).await;
        let event = row.next_kwargs.unwrap()["event"].clone();
        assert_eq!(
            event["__classname__"], "pendulum.datetime.DateTime",
            "the moment comes back as it was given"
        );
        assert_eq!(
            store::triggers::trigger_events_for(&stack.db, ti, 1)
                .await
                .unwrap(),
            1
        );
        let exit = stack.resume(ti).await;
        assert_eq!(exit.code, Some(0), "{}", exit.stderr);
        let out = stack.return_value("t", "r-waits", "waits").await.unwrap();
        assert_eq!(out["method"], "on_event");
        assert_eq!(out["kwargs"]["event"], event);
        assert_eq!(out["kwargs"]["note"], "hello");
        assert_eq!(
            stack.ti(ti).await.state.map(|s| s.as_str()),
            Some("success")
        );
    }
);

on_both_backends!(
    a_file_trigger_fires_when_the_file_appears,
    Stack::start,
    |stack| {
        let dir = stack.database.dir.path().join("incoming");
        std::fs::create_dir_all(&dir).unwrap();
        let pattern = format!("{}/*.csv", dir.display());
        let ti = stack
            .deferred(
                "file",
                json!({"classpath": "airflow.providers.standard.triggers.file.FileTrigger",
        "kwargs": {"filepath": pattern, "poke_interval": 0.05}}),
            )
            .await;
        let _t = stack.triggerer("t1", &[]);
        // Wait until the trigger runs, then check it has not fired without the file.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let claimed: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM triggers WHERE triggerer_id IS NOT NULL")
                    .fetch_one(stack.db.pool())
                    .await
                    .unwrap();
            if claimed > 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the trigger was never claimed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::write(dir.join("other.txt"), "not a match").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            stack.ti(ti).await.state.map(|s| s.as_str()),
            Some("deferred"),
            "no matching file yet"
        );
        std::fs::write(dir.join("orders.csv"), "id,amount\n1,5\n").unwrap();
        let row = stack.wait_ready(ti, Duration::from_secs(30)).await;
        assert_eq!(row.next_kwargs.unwrap()["event"], true);
        assert_eq!(stack.resume(ti).await.code, Some(0));
    }
);

on_both_backends!(
    an_http_poll_trigger_tracks_an_external_job,
    Stack::start,
    |stack| {
        let polls = Arc::new(AtomicUsize::new(0));
        let seen = polls.clone();
        let app = axum::Router::new().route(
            "/jobs/42",
            axum::routing::get(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n < 3 {
                        axum::Json(json!({"status": "running", "poll": n}))
                    } else {
                        axum::Json(json!({"status": "done", "rows": 7, "poll": n}))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jobs/42", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let ti = stack.deferred("http", json!({"classpath": "airlock.triggers.http.HttpPollTrigger",
        "kwargs": {"url": url, "poke_interval": 0.05, "success": {"json_pointer": "/status", "values": ["done"]},
                   "failure": {"json_pointer": "/status", "values": ["failed"]}}})).await;
        let _t = stack.triggerer("t1", &[]);
        let row = stack.wait_ready(ti, Duration::from_secs(30)).await;
        assert_eq!(
            row.next_kwargs.unwrap()["event"],
            json!({"status": 200, "body": {"status": "done", "rows": 7, "poll": 3}})
        );
        assert_eq!(polls.load(Ordering::SeqCst), 3, "running twice, then done");
        assert_eq!(stack.resume(ti).await.code, Some(0));
    }
);

on_both_backends!(
    timeouts_failures_and_unknown_triggers_fail_the_task,
    Stack::start,
    |stack| {
        let timeout = stack.deferred("timeout",
            json!({"classpath": DATE_TIME, "kwargs": {"moment": soon(3600)}, "timeout_secs": 1}),
        )
        .await;
        let failing = stack
            .deferred(
                "failing",
                json!({"classpath": "airflow.triggers.testing.FailureTrigger", "kwargs": {}}),
            )
            .await;
        let unknown = stack
            .deferred(
                "unknown",
                json!({"classpath": "no.such.Trigger", "kwargs": {}}),
            )
            .await;
        let _t = stack.triggerer("t1", &[]);
        for (ti, error, needle) in [
            (timeout, "Trigger timeout", None),
            (failing, "Trigger failure", Some("FailureTrigger")),
            (
                unknown,
                "Trigger failure",
                Some("unknown trigger class path"),
            ),
        ] {
            let row = stack.wait_ready(ti, Duration::from_secs(30)).await;
            assert_eq!(row.next_method.as_deref(), Some("__fail__"));
            let kwargs = row.next_kwargs.unwrap();
            assert_eq!(kwargs["error"], error, "{kwargs}");
            if let Some(needle) = needle {
                assert!(kwargs["traceback"].to_string().contains(needle), "{kwargs}");
            }
            let exit = stack.resume(ti).await;
            assert_eq!(exit.code, Some(1), "the task fails: {}", exit.stderr);
            assert_eq!(stack.ti(ti).await.state.map(|s| s.as_str()), Some("failed"));
        }
        let log = stack.log_of("t", "timeout", "defer", 1);
        assert!(log.contains("Trigger timeout"), "{log}");
    }
);

on_both_backends!(
    end_from_trigger_finishes_the_task_without_a_worker,
    Stack::start,
    |stack| {
        let ti = stack.deferred("end", json!({"classpath": DATE_TIME, "kwargs": {"moment": soon(1), "end_from_trigger": true}})).await;
        let _t = stack.triggerer("t1", &[]);
        let row = stack
            .wait_state(ti, "success", Duration::from_secs(30))
            .await;
        assert!(row.end_date.is_some());
        assert_eq!(
            store::triggers::trigger_events_for(&stack.db, ti, 1)
                .await
                .unwrap(),
            1
        );
    }
);

on_both_backends!(
    two_triggerers_survive_one_crashing_and_resume_every_task_exactly_once,
    Stack::start,
    |stack| {
        let tasks: Vec<Value> = (0..200)
            .map(|i| json!({"task_id": format!("h{i:03}")}))
            .collect();
        let run = stack.seed(json!({"dag_id": "ha", "run_id": "r", "tasks": tasks}));
        let ids: Vec<Uuid> = run.task_instances.iter().map(|t| t.id).collect();
        // Defer all 200 through the API, firing 4 s from now.
        let authority = airlock_api_server::server::load_authority(
            &airlock_api_server::config::AuthArgs {
                jwt_secret: None,
                jwt_private_key: None,
                jwt_audience: vec!["urn:airflow.apache.org:task".into()],
                jwt_issuer: None,
                jwt_expiration: 600,
                workload_token_expiration: 3600,
            },
            &airlock_api_server::config::DatabaseArgs {
                home: stack.server.home.clone(),
                database_url: None,
                db_max_connections: 1,
            },
        )
        .unwrap();
        let http = airlock_e2e::http_client();
        // Far enough that both triggerers have started (and claimed) before anything fires.
        let moment = soon(10);
        let base = stack.server.base.clone();
        let defer_one = |ti: Uuid| {
            let (http, base, moment) = (http.clone(), base.clone(), moment.clone());
            let token = authority.issue(ti, airlock_api_server::auth::Scope::Execution, None);
            async move {
                let r = http.patch(format!("{base}/task-instances/{ti}/run")).bearer_auth(&token)
                .json(&json!({"state": "running", "hostname": "h", "unixname": "u", "pid": 1, "start_date": soon(0)}))
                .send().await.unwrap();
                assert_eq!(r.status(), 200);
                let r = http.patch(format!("{base}/task-instances/{ti}/state")).bearer_auth(&token)
                .json(&json!({"state": "deferred", "classpath": DATE_TIME, "trigger_kwargs": {"moment": moment},
                              "next_method": "on_event", "next_kwargs": {}}))
                .send().await.unwrap();
                assert_eq!(r.status(), 204);
            }
        };
        for chunk in ids.chunks(20) {
            futures::future::join_all(chunk.iter().map(|ti| defer_one(*ti))).await;
        }
        let mut a = stack.triggerer("A", &[("AIRLOCK_TRIGGERER_BATCH", "20")]);
        let _b = stack.triggerer("B", &[("AIRLOCK_TRIGGERER_BATCH", "20")]);
        // Wait until both hold triggers, then crash A.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let held_by_a = loop {
            let counts: Vec<(Option<String>, i64)> =
                sqlx::query_as("SELECT triggerer_id, COUNT(*) FROM triggers GROUP BY triggerer_id")
                    .fetch_all(stack.db.pool())
                    .await
                    .unwrap();
            let of = |who: &str| {
                counts
                    .iter()
                    .find(|(t, _)| t.as_deref() == Some(who))
                    .map_or(0, |(_, n)| *n)
            };
            if of("A") > 0 && of("B") > 0 {
                break sqlx::query_scalar::<_, i64>(
                    "SELECT id FROM triggers WHERE triggerer_id = 'A'",
                )
                .fetch_all(stack.db.pool())
                .await
                .unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "both triggerers never held triggers: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        a.crash();
        // Every task resumes, exactly once.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM task_instance WHERE dag_id = 'ha' AND state = 'deferred'",
            )
            .fetch_one(stack.db.pool())
            .await
            .unwrap();
            if waiting == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{waiting} tasks never resumed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for ti in &ids {
            assert_eq!(
                store::triggers::trigger_events_for(&stack.db, *ti, 1)
                    .await
                    .unwrap(),
                1,
                "{ti} resumed exactly once"
            );
            let row = stack.ti(*ti).await;
            assert!(matches!(
                row.state.map(|s| s.as_str()),
                Some("scheduled" | "queued")
            ));
            assert_eq!(row.next_kwargs.unwrap()["event"], moment.as_str());
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trigger_event")
            .fetch_one(stack.db.pool())
            .await
            .unwrap();
        assert_eq!(total, 200);
        let mut q = airlock_store::sql::Sql::new(
            "SELECT COUNT(*) FROM trigger_event WHERE triggerer_id = 'B' AND trigger_id IN ",
        );
        q.bind_list(held_by_a.iter().copied());
        let (sql, args) = q.build();
        let taken_over: i64 = sqlx::query_scalar_with(sql, args)
            .fetch_one(stack.db.pool())
            .await
            .unwrap();
        assert_eq!(
            taken_over as usize,
            held_by_a.len(),
            "B fired every trigger A held when it crashed"
        );
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM triggers")
            .fetch_one(stack.db.pool())
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
);
