//! Scheduled runs, run limits, run timeouts and backfills, driven against the store.

use airlock_protocol::api::{BackfillAction, BackfillRequest, Reprocess};
use chrono::DurationRound;

use crate::common::*;

/// A store whose clock starts at half past an hour, so that no hour turns under a test.
async fn at_half_past(backend: Backend) -> Option<Store> {
    let mut s = Store::open(backend).await?;
    s.t0 = airlock_protocol::time::parse_rfc3339("2026-06-15T12:30:00Z").unwrap();
    Some(s)
}

macro_rules! scheduled {
    ($name:ident, |$s:ident| $body:block) => {
        airlock_e2e::on_both_backends!($name, at_half_past, |$s| $body);
    };
}

/// The hour `t0` falls in, minus `hours`.
fn hours_before(s: &Store, hours: i64) -> DateTime<Utc> {
    s.t0.duration_trunc(TimeDelta::hours(1)).unwrap() - TimeDelta::hours(hours)
}

fn rfc(t: DateTime<Utc>) -> String {
    airlock_protocol::time::to_rfc3339(&t)
}

async fn runs(s: &Store, dag: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT run_id, state, run_type FROM dag_run WHERE dag_id = $1 ORDER BY logical_date, id",
    )
    .bind(dag)
    .fetch_all(s.db.pool())
    .await
    .unwrap()
}

scheduled!(catchup_creates_each_interval_once, |s| {
    let start = hours_before(&s, 10);
    s.register(
        json!([{"dag_id": "h", "schedule": "@hourly", "start_date": rfc(start),
        "catchup": true, "tasks": [task("t", &[])]}]),
    )
    .await;
    let report = s.pass(0.0).await;
    assert_eq!(report.runs_created, 10, "{report:?}");
    let next_hour = hours_before(&s, -1);
    assert_eq!(
        report.next_due,
        Some(next_hour),
        "the next interval ends then"
    );
    // Passes again, and later within the hour, create nothing more.
    assert_eq!(s.pass(0.0).await.runs_created, 0);
    assert_eq!(s.pass(60.0).await.runs_created, 0);
    let r = runs(&s, "h").await;
    assert_eq!(r.len(), 10);
    assert_eq!(
        r[0].0,
        format!("scheduled__{}", start.format("%Y-%m-%dT%H:%M:%S+00:00"))
    );
    assert!(r.iter().all(|r| r.2 == "scheduled"));
    let (next, start_of, end_of): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT next_dagrun, next_dagrun_data_interval_start, next_dagrun_data_interval_end \
         FROM dag WHERE dag_id = 'h'",
    )
    .fetch_one(s.db.pool())
    .await
    .unwrap();
    let this_hour = hours_before(&s, 0);
    assert_eq!(next, Some(this_hour.timestamp_micros()));
    assert_eq!(start_of, next);
    assert_eq!(end_of, Some(next_hour.timestamp_micros()));
    // When the hour ends, its run comes.
    let secs = (next_hour - s.t0).num_milliseconds() as f64 / 1000.0;
    assert_eq!(s.pass(secs).await.runs_created, 1);
});

scheduled!(
    without_catchup_only_the_latest_and_a_pause_leaves_a_gap,
    |s| {
        let start = hours_before(&s, 10);
        s.register(
            json!([{"dag_id": "l", "schedule": "0 * * * *", "start_date": rfc(start),
        "tasks": [task("t", &[])]}]),
        )
        .await;
        assert_eq!(s.pass(0.0).await.runs_created, 1);
        airlock_store::control::set_paused(&s.db, "l", true)
            .await
            .unwrap();
        // Three hours paused: nothing.
        assert_eq!(s.pass(3.0 * 3600.0).await.runs_created, 0);
        airlock_store::control::set_paused(&s.db, "l", false)
            .await
            .unwrap();
        // Unpaused: the latest interval only, not the three missed.
        assert_eq!(s.pass(3.0 * 3600.0 + 1.0).await.runs_created, 1);
        let r = runs(&s, "l").await;
        let latest = hours_before(&s, -2);
        assert_eq!(
            r[1].0,
            format!("scheduled__{}", latest.format("%Y-%m-%dT%H:%M:%S+00:00"))
        );
    }
);

scheduled!(max_active_runs_holds_runs_in_queued, |s| {
    let start = hours_before(&s, 3);
    s.register(
        json!([{"dag_id": "m", "schedule": "@hourly", "start_date": rfc(start),
        "catchup": true, "max_active_runs": 1, "tasks": [task("t", &[])]}]),
    )
    .await;
    let report = s.pass(0.0).await;
    assert_eq!((report.runs_created, report.runs_started), (3, 1));
    let states: Vec<String> = runs(&s, "m").await.into_iter().map(|r| r.1).collect();
    assert_eq!(states, ["running", "queued", "queued"], "the oldest first");
    let first = runs(&s, "m").await[0].0.clone();
    s.run_to(&first, "t", -1, "success", 1.0).await;
    s.pass(1.0).await;
    let states: Vec<String> = runs(&s, "m").await.into_iter().map(|r| r.1).collect();
    assert_eq!(states, ["success", "running", "queued"]);
});

scheduled!(
    a_run_past_its_timeout_fails_and_its_tasks_are_skipped,
    |s| {
        s.register(
            json!([{"dag_id": "slow", "schedule": "@once", "start_date": rfc(s.t0),
        "dagrun_timeout": 30.0, "tasks": [task("a", &[]), task("b", &["a"])]}]),
        )
        .await;
        s.pass(0.0).await;
        let run = runs(&s, "slow").await[0].0.clone();
        let a = s.start(&run, "a", -1, 1.0).await;
        let report = s.pass(20.0).await;
        assert_eq!(report.runs_timed_out, 0);
        assert!(
            report
                .next_due
                .is_some_and(|d| d > s.at(30.0) && d <= s.at(30.1)),
            "due at the timeout: {report:?}"
        );
        assert_eq!(s.pass(31.0).await.runs_timed_out, 1);
        assert_eq!(s.run_state(&run).await, "failed");
        assert_eq!(s.state_of(&run, "a").await.as_deref(), Some("skipped"));
        assert_eq!(s.state_of(&run, "b").await.as_deref(), Some("skipped"));
        // Its supervisor is told at its next heartbeat.
        let e = airlock_store::task_instances::require_running(&s.db, a)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no longer running"), "{e}");
    }
);

scheduled!(backfills_create_clear_or_skip_as_asked, |s| {
    let start = hours_before(&s, 48);
    s.register(
        json!([{"dag_id": "b", "schedule": "@hourly", "start_date": rfc(start),
        "catchup": true, "max_active_runs": 16, "tasks": [task("t", &[])]}]),
    )
    .await;
    // The scheduler ran the last 48 hours; one of the first three failed.
    s.pass(0.0).await;
    let all = runs(&s, "b").await;
    for (i, (run, _, _)) in all.iter().take(3).enumerate() {
        let state = if i == 1 { "failed" } else { "success" };
        s.run_to(run, "t", -1, state, 1.0).await;
    }
    s.pass(1.0).await;
    let req = |reprocess, dry_run| BackfillRequest {
        from_date: start,
        to_date: start + TimeDelta::hours(2),
        reprocess,
        max_active_runs: Some(2),
        dry_run,
    };
    let plan =
        airlock_scheduler::backfill::backfill(&s.db, "b", &req(Reprocess::Failed, true), s.at(2.0))
            .await
            .unwrap();
    let actions: Vec<BackfillAction> = plan.runs.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            BackfillAction::Skip,
            BackfillAction::Clear,
            BackfillAction::Skip
        ]
    );
    assert_eq!(plan.backfill_id, None);
    assert_eq!(
        s.run_state(&all[1].0).await,
        "failed",
        "a dry run changes nothing"
    );

    let done = airlock_scheduler::backfill::backfill(
        &s.db,
        "b",
        &req(Reprocess::Failed, false),
        s.at(2.0),
    )
    .await
    .unwrap();
    assert!(done.backfill_id.is_some());
    assert_eq!(
        s.run_state(&all[1].0).await,
        "queued",
        "only the failed run runs again"
    );
    assert_eq!(s.run_state(&all[0].0).await, "success");
    assert_eq!(runs(&s, "b").await.len(), all.len(), "no new run");

    // Before the DAG's first scheduled interval: new runs of type backfill.
    let early = BackfillRequest {
        from_date: start - TimeDelta::hours(3),
        to_date: start - TimeDelta::hours(1),
        ..req(Reprocess::None, false)
    };
    let made = airlock_scheduler::backfill::backfill(&s.db, "b", &early, s.at(3.0))
        .await
        .unwrap();
    assert_eq!(made.runs.len(), 3);
    assert!(made.runs.iter().all(|r| r.action == BackfillAction::Create));
    let report = s.pass(3.0).await;
    let backfills: Vec<(String, String, String)> = runs(&s, "b")
        .await
        .into_iter()
        .filter(|r| r.2 == "backfill")
        .collect();
    assert_eq!(backfills.len(), 3, "{report:?}");
    assert_eq!(
        backfills.iter().filter(|r| r.1 == "running").count(),
        2,
        "the backfill's own max_active_runs: {backfills:?}"
    );

    // A reversed range names both ends.
    let reversed = BackfillRequest {
        from_date: start,
        to_date: start - TimeDelta::hours(1),
        ..req(Reprocess::None, false)
    };
    let e = airlock_scheduler::backfill::backfill(&s.db, "b", &reversed, s.at(4.0))
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&rfc(start)), "{e}");
});
