//! `airlock vars ...` and `airlock conns ...`: Variables and Connections. A Connection's
//! password is read from stdin, never from a flag (`ps` shows flags), and never printed.

use std::io::Read;

use airlock_protocol::api::{ConnectionBody, VariableBody};

use super::connect::ControlArgs;
use super::exit::CliError;
use super::table;

/// What `vars` can do.
#[derive(Debug, clap::Subcommand)]
pub enum VarsCommand {
    /// Every Variable with its value.
    List {
        /// Only keys starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a Variable's value.
    Get {
        /// The key.
        key: String,
    },
    /// Create or replace a Variable.
    Set {
        /// The key.
        key: String,
        /// The value (`-` reads it from stdin).
        value: String,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a Variable.
    Delete {
        /// The key.
        key: String,
    },
}

/// What `conns` can do.
#[derive(Debug, clap::Subcommand)]
pub enum ConnsCommand {
    /// Every Connection (never its password).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A Connection (never its password).
    Get {
        /// The connection id.
        conn_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create or replace a Connection.
    Set {
        /// The connection id.
        conn_id: String,
        /// Its type (`postgres`, `http`, `smtp`, ...).
        #[arg(long = "type")]
        conn_type: String,
        /// Host.
        #[arg(long)]
        host: Option<String>,
        /// Port.
        #[arg(long)]
        port: Option<i64>,
        /// Login.
        #[arg(long)]
        login: Option<String>,
        /// Schema (the database of SQL connections).
        #[arg(long)]
        schema: Option<String>,
        /// Extra settings (a JSON object).
        #[arg(long)]
        extra: Option<String>,
        /// Read the password from stdin (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a Connection.
    Delete {
        /// The connection id.
        conn_id: String,
    },
}

/// Reads all of stdin, without its final newline.
pub fn read_stdin(what: &str) -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::invalid(format!("cannot read {what} from stdin: {e}")))?;
    Ok(s.strip_suffix('\n').unwrap_or(&s).to_owned())
}

/// Runs a `vars` command; returns the exit code.
pub async fn run_vars(cmd: VarsCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    let client = conn.client()?;
    match cmd {
        VarsCommand::List { prefix, json } => {
            let list = client.list_variables(prefix.as_deref(), 10_000).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .variables
                .iter()
                .map(|v| {
                    vec![
                        v.key.clone(),
                        v.value.clone().unwrap_or_default(),
                        v.description.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print!("{}", table::render(&["KEY", "VALUE", "DESCRIPTION"], &rows));
            if list.total_entries > list.variables.len() as i64 {
                println!(
                    "({} of {} shown; narrow with --prefix)",
                    list.variables.len(),
                    list.total_entries
                );
            }
            Ok(0)
        }
        VarsCommand::Get { key } => {
            let v = client.variable_entry(&key).await?;
            println!("{}", v.value.unwrap_or_default());
            Ok(0)
        }
        VarsCommand::Set {
            key,
            value,
            description,
        } => {
            let value = if value == "-" {
                read_stdin("the value")?
            } else {
                value
            };
            client
                .set_variable(&key, &VariableBody { value, description })
                .await?;
            println!("Set Variable {key}");
            Ok(0)
        }
        VarsCommand::Delete { key } => {
            client.remove_variable(&key).await?;
            println!("Deleted Variable {key}");
            Ok(0)
        }
    }
}

/// Runs a `conns` command; returns the exit code.
pub async fn run_conns(cmd: ConnsCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    let client = conn.client()?;
    let row = |c: &airlock_protocol::api::ConnectionSummary| {
        vec![
            c.conn_id.clone(),
            c.conn_type.clone(),
            c.host.clone().unwrap_or_default(),
            c.port.map_or(String::new(), |p| p.to_string()),
            c.login.clone().unwrap_or_default(),
            c.schema.clone().unwrap_or_default(),
            if c.has_password { "(set)" } else { "-" }.to_owned(),
        ]
    };
    const HEADERS: [&str; 7] = [
        "CONN", "TYPE", "HOST", "PORT", "LOGIN", "SCHEMA", "PASSWORD",
    ];
    match cmd {
        ConnsCommand::List { json } => {
            let list = client.list_connections().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list.connections.iter().map(row).collect();
            print!("{}", table::render(&HEADERS, &rows));
            Ok(0)
        }
        ConnsCommand::Get { conn_id, json } => {
            let c = client.connection_summary(&conn_id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
                return Ok(0);
            }
            print!("{}", table::render(&HEADERS, &[row(&c)]));
            Ok(0)
        }
        ConnsCommand::Set {
            conn_id,
            conn_type,
            host,
            port,
            login,
            schema,
            extra,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_stdin("the password")?)
            } else {
                None
            };
            let body = ConnectionBody {
                conn_type,
                host,
                schema,
                login,
                password,
                port,
                extra,
            };
            client.set_connection(&conn_id, &body).await?;
            println!("Set Connection {conn_id}");
            Ok(0)
        }
        ConnsCommand::Delete { conn_id } => {
            client.remove_connection(&conn_id).await?;
            println!("Deleted Connection {conn_id}");
            Ok(0)
        }
    }
}
