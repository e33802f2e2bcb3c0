//! `supervisor run <ti-uuid>`: run one task try. The exit code tells the executor how it went
//! (see the README).

use std::process::ExitCode;

use airlock_supervisor::secrets::take_token;
use airlock_supervisor::{SupervisorConfig, run};
use clap::{Parser, Subcommand};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "supervisor",
    version,
    about = "Run one Airlock task try in an isolated runner process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a task instance. The API token comes from AIRLOCK_TOKEN or AIRLOCK_TOKEN_FILE.
    Run {
        /// The task-instance id.
        ti: Uuid,
        #[command(flatten)]
        config: SupervisorConfig,
    },
}

fn main() -> ExitCode {
    // First, while this is the only thread: take the token out of the environment, and keep
    // other processes (the runner included) out of this one's memory.
    // SAFETY: no other thread exists yet.
    let token = unsafe { take_token() };
    let dumpable = airlock_process::harden();
    let cli = Cli::parse();
    airlock_process::init_tracing("info");
    if let Err(e) = dumpable {
        tracing::warn!(error = %e, "could not make the supervisor non-dumpable");
    }
    let Command::Run { ti, config } = cli.command;
    let token = match token {
        Ok(t) => {
            if let Some(warning) = &t.left_behind {
                tracing::warn!("{warning}");
            }
            t.token
        }
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(64);
        }
    };
    // One thread: the runner is forked from it, and PR_SET_PDEATHSIG follows that thread.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(70);
        }
    };
    match rt.block_on(run(&config, token, ti)) {
        Ok(report) => {
            tracing::info!(outcome = ?report.outcome, reason = %report.reason, log = %report.log_path.display(), "task try finished");
            ExitCode::from(report.outcome.exit_code() as u8)
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
