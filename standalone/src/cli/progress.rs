//! `--wait`: follow a run to its end, as a live table on a terminal or as one line per change
//! otherwise.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use airlock_api_client::{ApiClient, RetryPolicy};
use airlock_protocol::api::{RunDetails, TaskInstanceSummary};
use airlock_protocol::state::{DagRunState, TaskInstanceState};

use super::outage::Outage;
use super::table;

/// How often the run is looked at.
const POLL: Duration = Duration::from_millis(250);

/// `task` or `task[3]`.
pub fn label(ti: &TaskInstanceSummary) -> String {
    if ti.map_index >= 0 {
        format!("{}[{}]", ti.task_id, ti.map_index)
    } else {
        ti.task_id.clone()
    }
}

/// A state as shown (`none` before the scheduler has looked at it).
pub fn state_name(s: Option<TaskInstanceState>) -> &'static str {
    s.map_or("none", |s| s.as_str())
}

/// Whether the run is over.
pub fn is_done(state: DagRunState) -> bool {
    state.is_finished()
}

/// One line summing up the run: its state, how long it took and how its tasks ended.
pub fn summary(d: &RunDetails) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for ti in &d.task_instances {
        *counts.entry(state_name(ti.state)).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let took = match (d.start_date, d.end_date) {
        (Some(s), Some(e)) => format!(" in {}", table::duration((e - s).as_seconds_f64())),
        _ => String::new(),
    };
    format!(
        "Run {} of {}: {}{took} ({} task instances: {})",
        d.run_id,
        d.dag_id,
        d.state,
        d.task_instances.len(),
        counts.join(", ")
    )
}

/// How `follow` shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A live table, redrawn in place (a terminal).
    Table,
    /// One line per change (a pipe, a log).
    Lines,
    /// Nothing (`--json`: stdout carries only the result).
    Silent,
}

/// Follows run `run_id` of `dag_id` until it ends, riding out API outages of up to
/// `max_outage`; returns its final details.
pub async fn follow(
    client: &ApiClient,
    dag_id: &str,
    run_id: &str,
    display: Display,
    max_outage: Duration,
) -> anyhow::Result<RunDetails> {
    let tty = display == Display::Table;
    let mut seen: HashMap<(String, i64), (Option<TaskInstanceState>, i64)> = HashMap::new();
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut live = super::live::LiveTable::new(colour);
    let mut out = std::io::stdout();
    let mut outage = Outage::new(max_outage);
    // Failed calls are retried here (and said so), not silently in the client.
    let client = client.with_retry(RetryPolicy::once());
    loop {
        let d = match client.run_details(dag_id, run_id).await {
            Ok(d) => {
                outage.ended();
                d
            }
            Err(e) => {
                // Messages about the outage go below the frame; the next frame below them.
                live.detach(&mut out);
                outage.ride_out(e).await?;
                continue;
            }
        };
        if tty {
            let (cols, rows) = super::live::terminal_size();
            live.draw(&mut out, &d, cols, rows);
        } else if display == Display::Lines {
            for ti in &d.task_instances {
                let key = (ti.task_id.clone(), ti.map_index);
                let now = (ti.state, ti.try_number);
                if seen.get(&key) != Some(&now) && ti.state.is_some() {
                    let _ = writeln!(
                        out,
                        "{}  {:<24} {:<16} try {}",
                        chrono::Utc::now().format("%H:%M:%S"),
                        label(ti),
                        state_name(ti.state),
                        ti.try_number
                    );
                }
                seen.insert(key, now);
            }
        }
        let _ = out.flush();
        if is_done(d.state) {
            live.detach(&mut out);
            return Ok(d);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Lines of a failed task's log shown after a failed run.
const FAILURE_TAIL: usize = 10;

/// After a run failed: the last lines of its first failed task's log, and the command that
/// shows the rest.
pub async fn explain_failure(client: &ApiClient, d: &RunDetails) {
    let Some(ti) = d
        .task_instances
        .iter()
        .find(|t| t.state == Some(TaskInstanceState::Failed))
    else {
        return;
    };
    let tail = log_tail(client, d, ti, FAILURE_TAIL).await;
    println!("Task {} failed. The end of its log:", label(ti));
    for line in &tail {
        println!("  {line}");
    }
    let index = if ti.map_index >= 0 {
        format!(" --map-index {}", ti.map_index)
    } else {
        String::new()
    };
    println!(
        "The whole log: airlock tasks logs {} {} {}{index}",
        d.dag_id, d.run_id, ti.task_id
    );
}

/// The last `n` lines of a task instance's latest log, formatted (none if it cannot be read).
pub async fn log_tail(
    client: &ApiClient,
    d: &RunDetails,
    ti: &TaskInstanceSummary,
    n: usize,
) -> Vec<String> {
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut offset = 0;
    while let Ok(chunk) = client
        .task_log(
            &d.dag_id,
            &d.run_id,
            &ti.task_id,
            ti.map_index,
            None,
            offset,
        )
        .await
    {
        for line in chunk.content.lines() {
            tail.push_back(super::logs::format_line(line));
            if tail.len() > n {
                tail.pop_front();
            }
        }
        if chunk.next_offset <= offset {
            break;
        }
        offset = chunk.next_offset;
    }
    tail.into()
}
