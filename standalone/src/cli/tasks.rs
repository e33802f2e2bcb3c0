//! `airlock tasks ...`: clear and mark task instances, read their logs.

use airlock_protocol::api::{ClearRequest, MarkTasksRequest, TaskInstanceChanges};
use airlock_protocol::state::MarkTaskState;

use super::connect::ControlArgs;
use super::table;

/// What `tasks` can do.
#[derive(Debug, clap::Subcommand)]
pub enum TasksCommand {
    /// The log of a task try.
    Logs(super::logs::LogsArgs),
    /// Run one task alone on a throwaway embedded database with the local bundles (no server
    /// needed) and print what it returned; exit 0 if it succeeded, 1 if not.
    Test(super::dag_test::TaskTestArgs),
    /// Run task instances again: each gets a new try (earlier tries stay in the history) and
    /// the scheduler decides again what follows them.
    Clear {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The tasks (every map index of each).
        #[arg(required = true)]
        task_ids: Vec<String>,
        /// Also every task downstream of them.
        #[arg(long)]
        downstream: bool,
        /// Also every task upstream of them.
        #[arg(long)]
        upstream: bool,
        #[command(flatten)]
        flags: ClearFlags,
    },
    /// Set a task's state by hand; a running one is stopped. The scheduler decides what
    /// follows.
    Mark {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task.
        task_id: String,
        /// success, failed or skipped.
        #[arg(value_parser = parse_mark_state)]
        state: MarkTaskState,
        /// Only this map index of a mapped task (default: all).
        #[arg(long, allow_negative_numbers = true)]
        map_index: Option<i64>,
        /// Also every task downstream of it.
        #[arg(long)]
        downstream: bool,
    },
}

fn parse_mark_state(s: &str) -> Result<MarkTaskState, String> {
    s.parse()
        .map_err(|_| format!("a task can be marked success, failed or skipped, not {s:?}"))
}

/// Runs a `tasks` command; returns the exit code.
pub async fn run(cmd: TasksCommand, conn: &ControlArgs) -> anyhow::Result<u8> {
    match cmd {
        TasksCommand::Logs(a) => super::logs::run(a, conn).await,
        TasksCommand::Test(a) => super::dag_test::run_task(a, &conn.home).await,
        TasksCommand::Clear {
            dag_id,
            run_id,
            task_ids,
            downstream,
            upstream,
            flags,
        } => {
            let req = flags.request(Some(task_ids), downstream, upstream);
            clear(conn, &dag_id, &run_id, req).await
        }
        TasksCommand::Mark {
            dag_id,
            run_id,
            task_id,
            state,
            map_index,
            downstream,
        } => {
            let req = MarkTasksRequest {
                task_ids: vec![task_id],
                map_index,
                state,
                downstream,
            };
            let changes = conn.client()?.mark_tasks(&dag_id, &run_id, &req).await?;
            print_changes(&changes, &format!("marked {state}"));
            Ok(0)
        }
    }
}

/// What `tasks clear` and `runs clear` share.
#[derive(Debug, clap::Args)]
pub struct ClearFlags {
    /// Only the task instances that failed (`failed`, `upstream_failed`).
    #[arg(long)]
    pub only_failed: bool,
    /// Only say what would be cleared.
    #[arg(long)]
    pub dry_run: bool,
}

impl ClearFlags {
    /// The request for `task_ids` (the whole run when `None`).
    pub fn request(
        self,
        task_ids: Option<Vec<String>>,
        downstream: bool,
        upstream: bool,
    ) -> ClearRequest {
        ClearRequest {
            task_ids,
            downstream,
            upstream,
            only_failed: self.only_failed,
            dry_run: self.dry_run,
        }
    }
}

/// Clears and prints what was (or would be) cleared.
pub async fn clear(
    conn: &ControlArgs,
    dag_id: &str,
    run_id: &str,
    req: ClearRequest,
) -> anyhow::Result<u8> {
    let changes = conn.client()?.clear(dag_id, run_id, &req).await?;
    print_changes(&changes, "cleared");
    Ok(0)
}

/// Prints what a clear or mark changed (or would change).
pub fn print_changes(c: &TaskInstanceChanges, done: &str) {
    if c.changed.is_empty() {
        println!("Nothing to change.");
        return;
    }
    let rows: Vec<Vec<String>> = c
        .changed
        .iter()
        .map(|t| {
            vec![
                if t.map_index >= 0 {
                    format!("{}[{}]", t.task_id, t.map_index)
                } else {
                    t.task_id.clone()
                },
                t.previous_state.map_or("none", |s| s.as_str()).to_owned(),
                t.try_number.to_string(),
            ]
        })
        .collect();
    print!("{}", table::render(&["TASK", "WAS", "TRY"], &rows));
    if c.dry_run {
        println!("Dry run: {} task instances would be {done}.", rows.len());
    } else {
        println!("{} task instances {done}.", rows.len());
    }
}
