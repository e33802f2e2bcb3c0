//! Scheduled DAGs in `airlock standalone`: catchup, latest-only, `max_active_runs`,
//! `dagrun_timeout`, and a crash in the middle that creates nothing twice.

use std::time::{Duration, Instant};

use airlock_e2e::process::eventually;
use airlock_e2e::{Backend, Standalone, on_both_backends};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The test bundle's scheduled DAGs start ten hours before the current hour.
fn start_date() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() - TimeDelta::hours(10)
}

async fn start_scheduled(backend: Backend) -> Option<(Standalone, DateTime<Utc>)> {
    let start = start_date();
    let env = [
        (
            "AIRLOCK_TEST_SCHEDULED_START",
            airlock_protocol::time::to_rfc3339(&start),
        ),
        // Long enough that the restart below cannot make a zombie of a try in flight (its
        // supervisor lives on and reports to the restarted server on the same port).
        ("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "120".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Some((Standalone::start_with(backend, &env).await?, start))
}

async fn runs(sa: &Standalone, dag: &str) -> Vec<(String, String, String, i64, i64)> {
    sqlx::query_as(
        "SELECT run_id, state, run_type, data_interval_start, data_interval_end FROM dag_run \
         WHERE dag_id = $1 ORDER BY data_interval_start",
    )
    .bind(dag)
    .fetch_all(sa.db.pool())
    .await
    .unwrap()
}

on_both_backends!(
    scheduled_dags_catch_up_once_each_limit_runs_and_time_out,
    start_scheduled,
    |setup| {
        let (mut sa, start) = setup;
        // Hours that have ended since the start date (10, unless the hour turned meanwhile).
        let ended = || ((Utc::now() - start).num_hours()) as usize;

        // Half-way through the catchup, kill it and start it again.
        eventually(
            Duration::from_secs(60),
            "some hourly runs to finish",
            || async {
                let done = runs(&sa, "hourly")
                    .await
                    .iter()
                    .filter(|r| r.1 == "success")
                    .count();
                (done >= 3).then_some(())
            },
        )
        .await;
        sa.crash();
        sa.start_again();

        let deadline = Instant::now() + Duration::from_secs(120);
        let hourly = loop {
            let r = runs(&sa, "hourly").await;
            if r.len() >= 10 && r.iter().all(|r| r.1 == "success") {
                break r;
            }
            if Instant::now() > deadline {
                let tis: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT run_id, state, retry_reason FROM task_instance WHERE dag_id = 'hourly' AND state <> 'success'",
                )
                .fetch_all(sa.db.pool())
                .await
                .unwrap();
                let log =
                    std::fs::read_to_string(sa.home.join("standalone.err")).unwrap_or_default();
                panic!(
                    "hourly runs never all succeeded: {r:?}\n{tis:?}\n{}",
                    &log[log.floor_char_boundary(log.len().saturating_sub(4000))..]
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(hourly.len(), ended(), "one run per ended hour: {hourly:?}");
        for (i, r) in hourly.iter().enumerate() {
            assert_eq!(r.2, "scheduled");
            let begins = start + TimeDelta::hours(i as i64);
            assert_eq!(
                r.3,
                begins.timestamp_micros(),
                "contiguous intervals: {hourly:?}"
            );
            assert_eq!(r.4 - r.3, 3_600_000_000);
            assert_eq!(
                r.0,
                format!("scheduled__{}", begins.format("%Y-%m-%dT%H:%M:%S+00:00"))
            );
        }
        let retried: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM task_instance WHERE dag_id = 'hourly' AND try_number <> 1",
        )
        .fetch_one(sa.db.pool())
        .await
        .unwrap();
        assert_eq!(retried, 0, "no task ran twice");

        // A dry-run backfill over three hours lists them and creates nothing; rerunning the
        // first (`--reprocess completed`) clears that run alone, which then runs again.
        let (from, to) = (
            airlock_protocol::time::to_rfc3339(&start),
            airlock_protocol::time::to_rfc3339(&(start + TimeDelta::hours(2))),
        );
        let dry = sa.cli(&[
            "dags",
            "backfill",
            "hourly",
            "--from",
            &from,
            "--to",
            &to,
            "--dry-run",
        ]);
        assert_eq!(dry.code, Some(0), "{dry:?}");
        assert_eq!(dry.stdout.matches(" skip ").count(), 3, "{}", dry.stdout);
        assert!(dry.stdout.contains("Dry run: nothing was created"));
        let again = sa.cli(&[
            "dags",
            "backfill",
            "hourly",
            "--from",
            &from,
            "--to",
            &from,
            "--reprocess",
            "completed",
        ]);
        assert_eq!(again.code, Some(0), "{again:?}");
        assert!(again.stdout.contains("clear and rerun"), "{}", again.stdout);
        let first = hourly[0].0.clone();
        eventually(
            Duration::from_secs(60),
            "the cleared run to succeed again",
            || async {
                let (state, tries): (String, i64) = sqlx::query_as(
                    "SELECT r.state, t.try_number FROM dag_run r JOIN task_instance t \
                 ON t.dag_id = r.dag_id AND t.run_id = r.run_id WHERE r.run_id = $1",
                )
                .bind(&first)
                .fetch_one(sa.db.pool())
                .await
                .unwrap();
                (state == "success" && tries == 2).then_some(())
            },
        )
        .await;
        assert_eq!(runs(&sa, "hourly").await.len(), hourly.len(), "no new run");

        // Without catchup: only the latest interval (and the next, if the hour turned while
        // this test ran).
        let hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
        let turned = (hour - start).num_hours() - 10;
        let latest = runs(&sa, "latest").await;
        assert_eq!(latest.len() as i64, 1 + turned, "{latest:?}");
        assert_eq!(latest[latest.len() - 1].4, hour.timestamp_micros());

        // `dags list` shows the next run: the interval that starts now.
        let list = sa.cli(&["dags", "list"]);
        let next = airlock_protocol::time::to_rfc3339(&hour);
        assert!(
            list.stdout
                .lines()
                .any(|l| l.starts_with("hourly") && l.contains(&next)),
            "{}",
            list.stdout
        );

        // max_active_runs = 1: all three run, never two at once (their recorded spans do not
        // overlap; each started when the one before ended).
        let spans: Vec<(i64, i64)> =
            eventually(Duration::from_secs(60), "the serial runs", || async {
                let spans: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT state, start_date, end_date FROM dag_run WHERE dag_id = 'serial' \
                 ORDER BY start_date",
                )
                .fetch_all(sa.db.pool())
                .await
                .unwrap();
                (spans.len() == 3 && spans.iter().all(|r| r.0 == "success"))
                    .then(|| spans.iter().map(|r| (r.1.unwrap(), r.2.unwrap())).collect())
            })
            .await;
        for pair in spans.windows(2) {
            assert!(pair[1].0 >= pair[0].1, "overlapping runs: {spans:?}");
        }

        // dagrun_timeout: the run fails and its sleeping task is stopped.
        let (state, pid): (String, Option<i64>) = eventually(
            Duration::from_secs(60),
            "the slow run to time out",
            || async {
                let r: Option<(String, Option<i64>)> = sqlx::query_as(
                    "SELECT r.state, t.pid FROM dag_run r JOIN task_instance t \
                 ON t.dag_id = r.dag_id AND t.run_id = r.run_id WHERE r.dag_id = 'slow'",
                )
                .fetch_optional(sa.db.pool())
                .await
                .unwrap();
                r.filter(|(s, _)| s != "running" && s != "queued")
            },
        )
        .await;
        assert_eq!(state, "failed");
        let ti_state: String =
            sqlx::query_scalar("SELECT state FROM task_instance WHERE dag_id = 'slow'")
                .fetch_one(sa.db.pool())
                .await
                .unwrap();
        assert_eq!(ti_state, "skipped");
        if let Some(pid) = pid {
            eventually(
                Duration::from_secs(30),
                "the timed-out task's process to end",
                || async {
                    let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None)
                        .is_err();
                    gone.then_some(())
                },
            )
            .await;
        }
    }
);
