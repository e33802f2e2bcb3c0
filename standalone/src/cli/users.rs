//! `airlock users ...`: who may sign in to the web UI, and with which role. A password is read
//! from stdin (never from a flag, which `ps` shows), or generated and printed once.

use airlock_protocol::api::UserBody;
use airlock_protocol::state::UiRole;

use super::connect::ControlArgs;
use super::exit::CliError;
use super::table;

/// What `users` can do.
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Every web-UI user and role.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a user, or change one's role (and, with `--password-stdin`, password).
    Set {
        /// User name.
        username: String,
        /// `viewer` (reads), `operator` (also triggers, clears, marks, cancels, pauses) or
        /// `admin` (also Variables, Connections and users).
        #[arg(long, value_parser = parse_role)]
        role: UiRole,
        /// Read the password from stdin (one line). Without it, a new user gets a generated
        /// password, printed once.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user and end its sessions.
    Delete {
        /// User name.
        username: String,
    },
}

fn parse_role(s: &str) -> Result<UiRole, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a role: viewer, operator or admin"))
}

fn generated_password() -> String {
    airlock_api_server::auth::session::new_secret()
        .chars()
        .take(20)
        .collect()
}

/// Runs a `users` command; returns the exit code.
pub async fn run(cmd: UsersCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    let client = conn.client()?;
    match cmd {
        UsersCommand::List { json } => {
            let list = client.list_users().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .users
                .iter()
                .map(|u| {
                    vec![
                        u.username.clone(),
                        u.role.to_string(),
                        u.updated_at.to_rfc3339(),
                    ]
                })
                .collect();
            print!("{}", table::render(&["USER", "ROLE", "CHANGED"], &rows));
        }
        UsersCommand::Set {
            username,
            role,
            password_stdin,
        } => {
            let exists = client
                .list_users()
                .await?
                .users
                .iter()
                .any(|u| u.username == username);
            let (password, generated) = if password_stdin {
                let p = super::vars::read_stdin("the password")?;
                if p.is_empty() {
                    return Err(CliError::invalid("the password on stdin is empty").into());
                }
                (Some(p), false)
            } else if exists {
                (None, false)
            } else {
                (Some(generated_password()), true)
            };
            client
                .put_user(
                    &username,
                    &UserBody {
                        role,
                        password: password.clone(),
                    },
                )
                .await?;
            match (exists, generated, password) {
                (_, true, Some(p)) => {
                    println!("Created {username} ({role}). Password (shown once): {p}")
                }
                (false, _, _) => println!("Created {username} ({role})."),
                (true, _, _) => println!("Updated {username} ({role})."),
            }
        }
        UsersCommand::Delete { username } => {
            client.delete_user(&username).await?;
            println!("Deleted {username}.");
        }
    }
    Ok(0)
}
