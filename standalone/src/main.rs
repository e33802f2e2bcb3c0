//! `airlock`: run pipelines on one machine (`airlock standalone`), run a worker against an API
//! server (`airlock worker`), and work with DAGs, runs and task logs over the control API.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::connect::ControlArgs;

#[derive(Parser)]
#[command(name = "airlock", version, about = "Run data pipelines with Airlock")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The API server (with its scheduler), a triggerer and a worker in one process.
    Standalone(Box<cli::standalone::StandaloneArgs>),
    /// A worker (bundle sync and the local executor), against a running API server.
    Worker {
        #[command(flatten)]
        args: cli::worker::WorkerArgs,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// Registered DAGs.
    Dags {
        #[command(subcommand)]
        command: cli::dags::DagsCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// DAG runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// Task instances.
    Tasks {
        #[command(subcommand)]
        command: TasksCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
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
}

#[derive(Subcommand)]
enum TasksCommand {
    /// The log of a task try.
    Logs(cli::logs::LogsArgs),
}

fn main() -> ExitCode {
    // Every `airlock` process holds an admin token (and `standalone` every key).
    let hardened = airlock_process::harden();
    let cli = Cli::parse();
    // Still one thread: take secrets out of the environment block now that they are parsed.
    // SAFETY: no other thread exists yet.
    let secrets = unsafe { airlock_process::take_env(airlock_process::is_secret_env) };
    if let Some((_, token)) = secrets.iter().find(|(k, _)| k == "AIRLOCK_ADMIN_TOKEN") {
        cli::connect::provide_env_token(token.clone());
    }
    airlock_api_server::env_secrets::provide(secrets);
    let default_filter = match cli.command {
        Command::Standalone(_) | Command::Worker { .. } => {
            "info,tower_http=warn,sqlx=warn,airlock_api_client=error"
        }
        _ => "warn",
    };
    airlock_process::init_tracing(default_filter);
    if let Err(e) = hardened {
        tracing::warn!(error = %e, "cannot make this process non-dumpable");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Standalone(a) => cli::standalone::run(*a).await,
            Command::Worker { args, conn } => cli::worker::run(args, &conn).await,
            Command::Dags { command, conn } => cli::dags::run(command, &conn).await,
            Command::Runs {
                command:
                    RunsCommand::Show {
                        dag_id,
                        run_id,
                        json,
                    },
                conn,
            } => cli::runs::show(&dag_id, &run_id, json, &conn).await,
            Command::Tasks {
                command: TasksCommand::Logs(a),
                conn,
            } => cli::logs::run(a, &conn).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
