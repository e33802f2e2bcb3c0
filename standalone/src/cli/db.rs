//! `airlock db clean`: delete finished runs past a retention, with their logs.

use airlock_protocol::api::DbCleanRequest;

use super::connect::ControlArgs;
use super::exit::CliError;

/// What `db` can do.
#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Delete runs that finished longer ago than `--older-than` (`30d`, `12h`), with their task
    /// instances, earlier tries, XComs and log files. Unfinished runs are never touched.
    Clean {
        /// The retention: runs that finished before now minus this go.
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Only count what would go.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `db` command; returns the exit code.
pub async fn run(cmd: DbCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    let DbCommand::Clean {
        older_than,
        dry_run,
        json,
    } = cmd;
    if older_than.as_secs() == 0 {
        return Err(CliError::invalid(format!(
            "--older-than must be at least one second, not {}",
            humantime::format_duration(older_than)
        ))
        .into());
    }
    let req = DbCleanRequest {
        older_than_secs: older_than.as_secs(),
        dry_run,
    };
    let r = conn.client()?.clean_db(&req).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(0);
    }
    println!(
        "{} {} runs that finished before {}: {} task instances, {} earlier tries, {} XComs, {} \
         log directories.",
        if r.dry_run { "Would delete" } else { "Deleted" },
        r.runs,
        airlock_protocol::time::to_rfc3339(&r.cutoff),
        r.task_instances,
        r.tries,
        r.xcoms,
        r.log_dirs
    );
    Ok(0)
}
