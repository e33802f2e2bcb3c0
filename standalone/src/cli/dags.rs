//! `airlock dags ...`.

use std::io::IsTerminal;
use std::path::PathBuf;

use airlock_protocol::api::{
    BackfillAction, BackfillRequest, JsonObject, Reprocess, TriggerRunRequest,
};
use airlock_protocol::state::DagRunState;

use super::connect::ControlArgs;
use super::exit::{self, CliError};
use super::{progress, table};
use airlock_standalone::bundles::BundleSync;

/// What `dags` can do.
#[derive(Debug, clap::Subcommand)]
pub enum DagsCommand {
    /// List the registered DAGs and their latest runs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a DAG once, start to end, on a throwaway embedded database with the local bundles
    /// (no server needed); exit 0 if the run succeeds, 1 if it fails.
    Test(super::dag_test::DagTestArgs),
    /// Ask every bundle in the bundles directory for its DAGs and register them.
    Sync {
        /// Bundle executables. Default: `<home>/bundles`.
        #[arg(long, env = "AIRLOCK_BUNDLES_DIR")]
        bundles_dir: Option<PathBuf>,
    },
    /// Trigger a run of a DAG.
    Trigger {
        /// The DAG.
        dag_id: String,
        /// Run configuration (a JSON object).
        #[arg(long)]
        conf: Option<String>,
        /// Run id (default: manual__<now>).
        #[arg(long)]
        run_id: Option<String>,
        /// Follow the run to its end; exit 1 if it fails.
        #[arg(long)]
        wait: bool,
        /// Print the created run (and with --wait, the finished run) as JSON.
        #[arg(long)]
        json: bool,
        /// With --wait: how long to keep following while the API cannot be reached (a
        /// restart), e.g. `30s`, `5m`.
        #[arg(long, default_value = super::outage::DEFAULT_MAX_OUTAGE, value_parser = airlock_protocol::time::parse_secs)]
        max_outage: std::time::Duration,
    },
    /// Run a scheduled DAG for every interval that starts in a range.
    Backfill {
        /// The DAG.
        dag_id: String,
        /// First logical date (RFC 3339, e.g. `2026-01-01T00:00:00Z`).
        #[arg(long, value_parser = parse_date)]
        from: chrono::DateTime<chrono::Utc>,
        /// Last logical date.
        #[arg(long, value_parser = parse_date)]
        to: chrono::DateTime<chrono::Utc>,
        /// Which intervals that already have a run to run again.
        #[arg(long, value_enum, default_value = "none")]
        reprocess: ReprocessArg,
        /// Most of the backfill's runs at once (default 10).
        #[arg(long)]
        max_active_runs: Option<u32>,
        /// Only list what would run.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop scheduling a DAG.
    Pause {
        /// The DAG.
        dag_id: String,
    },
    /// Schedule a paused DAG again.
    Unpause {
        /// The DAG.
        dag_id: String,
    },
}

/// `--reprocess`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReprocessArg {
    /// Only intervals without a run.
    None,
    /// Also intervals whose run failed.
    Failed,
    /// Also intervals whose run finished.
    Completed,
}

fn parse_date(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    airlock_protocol::time::parse_rfc3339(s)
        .map_err(|e| format!("{s:?} is not an RFC 3339 date (2026-01-01T00:00:00Z): {e}"))
}

/// Runs a `dags` command; returns the process exit code.
pub async fn run(cmd: DagsCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    match cmd {
        // Needs no server: it starts its own.
        DagsCommand::Test(a) => super::dag_test::run(a, &conn.home).await,
        other => run_against_server(other, conn).await,
    }
}

async fn run_against_server(cmd: DagsCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    let client = conn.client()?;
    match cmd {
        DagsCommand::List { json } => {
            let list = client.list_dags().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .dags
                .iter()
                .map(|d| {
                    vec![
                        d.dag_id.clone(),
                        d.task_count.to_string(),
                        if d.is_paused { "yes" } else { "no" }.into(),
                        d.schedule.clone().unwrap_or_else(|| "-".into()),
                        d.next_dagrun
                            .map_or("-".into(), |n| airlock_protocol::time::to_rfc3339(&n)),
                        d.latest_run
                            .as_ref()
                            .map_or("-".into(), |r| format!("{} ({})", r.run_id, r.state)),
                        d.description.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &[
                        "DAG",
                        "TASKS",
                        "PAUSED",
                        "SCHEDULE",
                        "NEXT RUN",
                        "LATEST RUN",
                        "DESCRIPTION"
                    ],
                    &rows
                )
            );
            Ok(0)
        }
        DagsCommand::Sync { bundles_dir } => {
            let dir = bundles_dir.unwrap_or_else(|| conn.home.join("bundles"));
            let report = BundleSync::default().sync(&client, &dir).await?;
            for (bundle, dags) in &report.registered {
                println!("{bundle}: registered {}", dags.join(", "));
            }
            for e in &report.failed {
                eprintln!("error: {e}");
            }
            Ok(if report.failed.is_empty() { 0 } else { 1 })
        }
        DagsCommand::Trigger {
            dag_id,
            conf,
            run_id,
            wait,
            json,
            max_outage,
        } => {
            let conf: Option<JsonObject> = conf
                .map(|c| {
                    serde_json::from_str(&c).map_err(|e| {
                        CliError::invalid(format!("--conf must be a JSON object: {e}"))
                    })
                })
                .transpose()?;
            let req = TriggerRunRequest {
                run_id,
                conf,
                ..TriggerRunRequest::default()
            };
            let run = client.trigger_run(&dag_id, &req).await?;
            if json && !wait {
                println!("{}", serde_json::to_string_pretty(&run)?);
                return Ok(0);
            }
            if !json {
                println!("Triggered {dag_id}: run {}", run.run_id);
            }
            if !wait {
                return Ok(0);
            }
            let display = if json {
                progress::Display::Silent
            } else if std::io::stdout().is_terminal() {
                progress::Display::Table
            } else {
                progress::Display::Lines
            };
            let done = progress::follow(&client, &dag_id, &run.run_id, display, max_outage).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                println!("{}", progress::summary(&done));
            }
            if done.state == DagRunState::Success {
                return Ok(0);
            }
            if !json {
                progress::explain_failure(&client, &done).await;
            }
            Ok(exit::FAILED)
        }
        DagsCommand::Backfill {
            dag_id,
            from,
            to,
            reprocess,
            max_active_runs,
            dry_run,
            json,
        } => {
            let req = BackfillRequest {
                from_date: from,
                to_date: to,
                reprocess: match reprocess {
                    ReprocessArg::None => Reprocess::None,
                    ReprocessArg::Failed => Reprocess::Failed,
                    ReprocessArg::Completed => Reprocess::Completed,
                },
                max_active_runs,
                dry_run,
            };
            let answer = client.backfill(&dag_id, &req).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = answer
                .runs
                .iter()
                .map(|r| {
                    vec![
                        airlock_protocol::time::to_rfc3339(&r.logical_date),
                        r.run_id.clone(),
                        match r.action {
                            BackfillAction::Create => "create",
                            BackfillAction::Clear => "clear and rerun",
                            BackfillAction::Skip => "skip",
                        }
                        .into(),
                        r.existing_state.map_or("-".into(), |s| s.to_string()),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(&["LOGICAL DATE", "RUN", "ACTION", "EXISTING"], &rows)
            );
            match answer.backfill_id {
                Some(id) => println!("Backfill {id} of {dag_id}: {} intervals", rows.len()),
                None => println!("Dry run: nothing was created"),
            }
            Ok(0)
        }
        DagsCommand::Test(a) => super::dag_test::run(a, &conn.home).await,
        DagsCommand::Pause { dag_id } => {
            client.set_dag_paused(&dag_id, true).await?;
            println!("Paused {dag_id}");
            Ok(0)
        }
        DagsCommand::Unpause { dag_id } => {
            client.set_dag_paused(&dag_id, false).await?;
            println!("Unpaused {dag_id}");
            Ok(0)
        }
    }
}
