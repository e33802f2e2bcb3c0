//! `api-server`: serve the Task Execution API, or run an operator command.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use airlock_api_server::admin::{self, RunSpec};
use airlock_api_server::auth::Scope;
use airlock_api_server::config::{AuthArgs, DatabaseArgs, SecretArgs, ServeArgs};
use airlock_api_server::server::{self, Server};
use airlock_protocol::api::ConnectionResponse;
use anyhow::Context;
use clap::{Parser, Subcommand};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "api-server",
    version,
    about = "Airlock Task Execution API server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API.
    Serve(ServeArgs),
    /// Print the OpenAPI document (no database needed).
    Openapi,
    /// Operator commands.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create a DAG run with queued task instances from a JSON description (file or `-`).
    CreateRun {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The description: {"dag_id", "run_id"?, "tasks": [{"task_id", "retries"?, ...}], ...}.
        file: PathBuf,
    },
    /// Print a token for a task instance.
    MintToken {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        auth: AuthArgs,
        /// Task-instance id (for `workload` and `execution` tokens).
        #[arg(long)]
        ti: Option<Uuid>,
        /// The subject of a service token (the triggerer's id, or who holds an `admin` token).
        #[arg(long)]
        subject: Option<String>,
        /// `workload` (what executors pass to supervisors), `execution`, `triggerer` or
        /// `admin` (the control API: the `airlock` CLI and executors).
        #[arg(long, default_value = "workload")]
        scope: String,
        /// Lifetime in seconds (default: the configured lifetime of the scope).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Create or replace a Variable.
    SetVariable {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Create or replace a Connection.
    SetConnection {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        secrets: SecretArgs,
        /// Connection id.
        conn_id: String,
        /// Type (`postgres`, `http`, ...).
        #[arg(long)]
        conn_type: String,
        /// Host.
        #[arg(long)]
        host: Option<String>,
        /// Schema / database.
        #[arg(long)]
        schema: Option<String>,
        /// Login.
        #[arg(long)]
        login: Option<String>,
        /// Password (prefer the environment variable, which `ps` does not show).
        #[arg(long, env = "AIRLOCK_CONN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Port.
        #[arg(long)]
        port: Option<i64>,
        /// Extra settings (a JSON string).
        #[arg(long)]
        extra: Option<String>,
    },
    /// Print a task instance as JSON.
    ShowTi {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Task-instance id.
        ti: Uuid,
    },
}

fn main() -> anyhow::Result<()> {
    let hardened = airlock_process::harden();
    let cli = Cli::parse();
    // Still one thread: take secrets out of the environment block now that they are parsed.
    // SAFETY: no other thread exists yet.
    let secrets = unsafe { airlock_process::take_env(airlock_process::is_secret_env) };
    airlock_api_server::env_secrets::provide(secrets);
    airlock_process::init_tracing("info,sqlx=warn,tower_http=info");
    if let Err(e) = hardened {
        tracing::warn!(error = %e, "cannot make this process non-dumpable");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Openapi => {
            use std::io::Write;
            let doc = airlock_api_server::openapi().to_pretty_json()?;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{doc}");
            Ok(())
        }
        Command::Admin(cmd) => run_admin(cmd).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let server = Server::build(&args)
        .await
        .context("starting the API server")?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = %redact(&args.db.url()),
        tls = args.tls.tls_cert.is_some(),
        "serving the Task Execution API under /execution"
    );
    server
        .serve(listener, airlock_process::shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn run_admin(cmd: Admin) -> anyhow::Result<()> {
    match cmd {
        Admin::CreateRun { db, file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let spec: RunSpec =
                serde_json::from_str(&text).context("parsing the run description")?;
            let database = server::open_database(&db).await?;
            let created = admin::create_run(&database, &spec, airlock_store::now()).await?;
            println!("{}", serde_json::to_string_pretty(&created)?);
        }
        Admin::MintToken {
            db,
            auth,
            ti,
            subject,
            scope,
            ttl,
        } => {
            let scope = Scope::parse(&scope).with_context(|| {
                format!(
                    "unknown scope {scope:?}: use workload, execution, triggerer, admin or executor"
                )
            })?;
            let subject = match (scope.is_task_scope(), ti, subject) {
                (true, Some(ti), None) => ti.to_string(),
                (false, None, Some(s)) if !s.trim().is_empty() => s,
                (true, _, _) => {
                    anyhow::bail!("{} tokens need --ti <task-instance-id>", scope.as_str())
                }
                (false, _, _) => anyhow::bail!("{} tokens need --subject <id>", scope.as_str()),
            };
            let authority = server::load_authority(&auth, &db)?;
            println!(
                "{}",
                authority.issue(subject, scope, ttl.map(Duration::from_secs))
            );
        }
        Admin::SetVariable {
            db,
            key,
            value,
            description,
        } => {
            let database = server::open_database(&db).await?;
            admin::set_variable(&database, &key, &value, description.as_deref()).await?;
        }
        Admin::SetConnection {
            db,
            secrets,
            conn_id,
            conn_type,
            host,
            schema,
            login,
            password,
            port,
            extra,
        } => {
            let database = server::open_database(&db).await?;
            let conn = ConnectionResponse {
                conn_id,
                conn_type,
                host,
                schema,
                login,
                password,
                port,
                extra,
            };
            let cipher = secrets.cipher(&db.home)?;
            admin::set_connection(&database, &cipher, &conn).await?;
        }
        Admin::ShowTi { db, ti } => {
            let database = server::open_database(&db).await?;
            let found = airlock_store::task_instances::get_task_instance(database.pool(), ti)
                .await?
                .with_context(|| format!("no task instance {ti}"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "id": found.id, "dag_id": found.dag_id, "run_id": found.run_id,
                    "task_id": found.task_id, "map_index": found.map_index,
                    "try_number": found.try_number, "state": found.state.map(|s| s.as_str()),
                    "next_method": found.next_method, "next_kwargs": found.next_kwargs,
                }))?
            );
        }
    }
    Ok(())
}
