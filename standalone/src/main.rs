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
    /// DAG runs: list, show, clear, mark, cancel.
    Runs {
        #[command(subcommand)]
        command: cli::runs::RunsCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// Task instances: logs, clear, mark.
    Tasks {
        #[command(subcommand)]
        command: cli::tasks::TasksCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// Variables: global settings tasks read.
    Vars {
        #[command(subcommand)]
        command: cli::vars::VarsCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// Pools: slot budgets tasks of any DAG share.
    Pools {
        #[command(subcommand)]
        command: cli::pools::PoolsCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// Web-UI users: who may sign in, with which role.
    Users {
        #[command(subcommand)]
        command: cli::users::UsersCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// The database: delete finished runs past a retention.
    Db {
        #[command(subcommand)]
        command: cli::db::DbCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
    /// Connections: credentials of external systems (passwords are never shown).
    Conns {
        #[command(subcommand)]
        command: cli::vars::ConnsCommand,
        #[command(flatten)]
        conn: ControlArgs,
    },
}

impl Command {
    /// Where a command looks for the API, for its error messages.
    fn control_args(&self) -> Option<&ControlArgs> {
        match self {
            Command::Standalone(_) => None,
            Command::Worker { conn, .. }
            | Command::Dags { conn, .. }
            | Command::Runs { conn, .. }
            | Command::Tasks { conn, .. }
            | Command::Vars { conn, .. }
            | Command::Users { conn, .. }
            | Command::Pools { conn, .. }
            | Command::Db { conn, .. }
            | Command::Conns { conn, .. } => Some(conn),
        }
    }
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
        // A command someone typed says what went wrong in one line of its own (`cli::exit`);
        // the client's retry warnings would only bury it.
        _ => "error,airlock_api_client=off",
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
            return ExitCode::from(cli::exit::ERROR);
        }
    };
    let conn = cli.command.control_args().cloned();
    let result = rt.block_on(async move {
        match cli.command {
            Command::Standalone(a) => cli::standalone::run(*a).await,
            Command::Worker { args, conn } => cli::worker::run(args, &conn).await,
            Command::Dags { command, conn } => cli::dags::run(command, &conn).await,
            Command::Runs { command, conn } => cli::runs::run(command, &conn).await,
            Command::Tasks { command, conn } => cli::tasks::run(command, &conn).await,
            Command::Vars { command, conn } => cli::vars::run_vars(command, &conn).await,
            Command::Conns { command, conn } => cli::vars::run_conns(command, &conn).await,
            Command::Db { command, conn } => cli::db::run(command, &conn).await,
            Command::Users { command, conn } => cli::users::run(command, &conn).await,
            Command::Pools { command, conn } => cli::pools::run(command, &conn).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(cli::exit::report(&e, conn.as_ref())),
    }
}
