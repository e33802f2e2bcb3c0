//! `airlock pools ...`: named budgets of slots shared by tasks of any DAG.

use airlock_protocol::api::PoolBody;

use super::connect::ControlArgs;
use super::table;

/// What `pools` can do.
#[derive(Debug, clap::Subcommand)]
pub enum PoolsCommand {
    /// Every pool with its slots and what takes them.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a pool or change its size.
    Set {
        /// Pool name.
        name: String,
        /// How many slots (0 holds every task that uses it).
        slots: i64,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a pool (not default_pool, nor one whose slots are held).
    Delete {
        /// Pool name.
        name: String,
    },
}

/// Runs a `pools` command; returns the exit code.
pub async fn run(cmd: PoolsCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    let client = conn.client()?;
    match cmd {
        PoolsCommand::List { json } => {
            let list = client.list_pools().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .pools
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.slots.to_string(),
                        p.running_slots.to_string(),
                        p.queued_slots.to_string(),
                        p.open_slots.to_string(),
                        p.description.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &["POOL", "SLOTS", "RUNNING", "QUEUED", "OPEN", "DESCRIPTION"],
                    &rows
                )
            );
        }
        PoolsCommand::Set {
            name,
            slots,
            description,
        } => {
            client
                .put_pool(&name, &PoolBody { slots, description })
                .await?;
            println!("Pool {name}: {slots} slots.");
        }
        PoolsCommand::Delete { name } => {
            client.delete_pool(&name).await?;
            println!("Deleted pool {name}.");
        }
    }
    Ok(0)
}
