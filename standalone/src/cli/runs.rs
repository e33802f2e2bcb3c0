//! `airlock runs ...`: list, show, clear, mark and cancel runs.

use airlock_protocol::api::{CancelRunRequest, MarkRunRequest, RunDetails};
use airlock_protocol::state::{DagRunState, MarkRunState};
use chrono::{DateTime, Utc};

use super::connect::ControlArgs;
use super::exit::CliError;
use super::{progress, table};

/// What `runs` can do.
#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// Runs, newest first.
    List {
        /// Only this DAG's runs.
        dag_id: Option<String>,
        /// Only runs in this state (queued, running, success, failed; repeat for several).
        #[arg(long, value_parser = parse_run_state)]
        state: Vec<DagRunState>,
        /// Only runs created since then: a date-time (RFC 3339) or an age (`2h`, `3d`).
        #[arg(long, value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A run and its task instances.
    Show {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a whole run again: every task instance gets a new try (earlier tries stay in the
    /// history).
    Clear {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        #[command(flatten)]
        flags: super::tasks::ClearFlags,
    },
    /// Set a run's state by hand: `success` ends its unfinished tasks as succeeded, `failed`
    /// stops its running tasks and skips the rest.
    Mark {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// success or failed.
        #[arg(value_parser = parse_mark_run_state)]
        state: MarkRunState,
    },
    /// Stop a run: running tasks are stopped, queued ones never start, the run fails.
    Cancel {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// Why (kept as the run's note).
        #[arg(long)]
        reason: Option<String>,
    },
}

fn parse_run_state(s: &str) -> Result<DagRunState, String> {
    s.parse().map_err(|_| {
        let all: Vec<&str> = DagRunState::ALL.iter().map(|s| s.as_str()).collect();
        format!("{s:?} is not a run state ({})", all.join(", "))
    })
}

fn parse_mark_run_state(s: &str) -> Result<MarkRunState, String> {
    s.parse()
        .map_err(|_| format!("a run can be marked success or failed, not {s:?}"))
}

/// `--since`: an RFC 3339 date-time, or an age such as `90m` or `2d` back from now.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = airlock_protocol::time::parse_rfc3339(s) {
        return Ok(t);
    }
    let age = humantime::parse_duration(s).map_err(|_| {
        format!("{s:?} is neither a date-time (2026-01-01T00:00:00Z) nor an age (2h, 3d)")
    })?;
    chrono::TimeDelta::from_std(age)
        .ok()
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .ok_or_else(|| format!("{s:?} reaches too far back"))
}

/// Runs a `runs` command; returns the exit code.
pub async fn run(cmd: RunsCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    let client = conn.client()?;
    match cmd {
        RunsCommand::List {
            dag_id,
            state,
            since,
            limit,
            json,
        } => {
            if !(1..=1000).contains(&limit) {
                return Err(
                    CliError::invalid(format!("--limit must be 1 to 1000, not {limit}")).into(),
                );
            }
            let list = client
                .list_runs(dag_id.as_deref(), &state, since, limit)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .runs
                .iter()
                .map(|r| {
                    vec![
                        r.dag_id.clone(),
                        r.run_id.clone(),
                        r.state.to_string(),
                        r.run_type.clone(),
                        ts(r.start_date),
                        match (r.start_date, r.end_date) {
                            (Some(s), Some(e)) => table::duration((e - s).as_seconds_f64()),
                            _ => String::new(),
                        },
                        r.note.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &["DAG", "RUN", "STATE", "TYPE", "STARTED", "TOOK", "NOTE"],
                    &rows
                )
            );
            Ok(0)
        }
        RunsCommand::Show {
            dag_id,
            run_id,
            json,
        } => {
            let d = client.run_details(&dag_id, &run_id).await?;
            print_run(&d, json)
        }
        RunsCommand::Clear {
            dag_id,
            run_id,
            flags,
        } => super::tasks::clear(conn, &dag_id, &run_id, flags.request(None, false, false)).await,
        RunsCommand::Mark {
            dag_id,
            run_id,
            state,
        } => {
            let d = client
                .mark_run(&dag_id, &run_id, &MarkRunRequest { state })
                .await?;
            println!("{}", progress::summary(&d));
            Ok(0)
        }
        RunsCommand::Cancel {
            dag_id,
            run_id,
            reason,
        } => {
            let d = client
                .cancel_run(&dag_id, &run_id, &CancelRunRequest { reason })
                .await?;
            println!("{}", progress::summary(&d));
            Ok(0)
        }
    }
}

fn ts(t: Option<DateTime<Utc>>) -> String {
    t.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// Prints a run and its task instances.
fn print_run(d: &RunDetails, json: bool) -> anyhow::Result<u8> {
    if json {
        println!("{}", serde_json::to_string_pretty(d)?);
        return Ok(0);
    }
    println!("{}", progress::summary(d));
    println!("  started {}, ended {}", ts(d.start_date), ts(d.end_date));
    let rows: Vec<Vec<String>> = d
        .task_instances
        .iter()
        .map(|ti| {
            vec![
                progress::label(ti),
                progress::state_name(ti.state).into(),
                ti.try_number.to_string(),
                ts(ti.start_date),
                ti.duration.map_or(String::new(), table::duration),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["TASK", "STATE", "TRY", "STARTED", "TOOK"], &rows)
    );
    Ok(0)
}
