//! `airlock tasks logs`.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::connect::ControlArgs;
use super::outage::Outage;

/// How often `--follow` looks for more.
const POLL: Duration = Duration::from_millis(500);

/// Which log to print.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// The task.
    pub task_id: String,
    /// Map index of a mapped task instance.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub map_index: i64,
    /// Try number (default: the latest try that has a log).
    #[arg(long = "try")]
    pub try_number: Option<i64>,
    /// Keep printing as the try writes more, until it ends.
    #[arg(long, short)]
    pub follow: bool,
    /// Print the JSON lines as stored.
    #[arg(long)]
    pub raw: bool,
    /// With --follow: how long to keep following while the API cannot be reached (a
    /// restart), e.g. `30s`, `5m`.
    #[arg(long, default_value = super::outage::DEFAULT_MAX_OUTAGE, value_parser = airlock_protocol::time::parse_secs)]
    pub max_outage: std::time::Duration,
}

/// One stored JSON log line as `timestamp LEVEL logger: event key=value ...`.
pub fn format_line(line: &str) -> String {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    let mut take = |k: &str| match m.remove(k) {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let ts = take("timestamp");
    let level = take("level").to_uppercase();
    let logger = take("logger");
    let event = take("event");
    let mut out = format!("{ts} {level:<7} {logger}: {event}");
    // Who the line is about is already known to whoever asked for this log.
    for k in [
        "dag_id",
        "run_id",
        "task_id",
        "map_index",
        "ti_id",
        "try_number",
    ] {
        m.remove(k);
    }
    for (k, v) in m {
        let v = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        out.push_str(&format!(" {k}={v}"));
    }
    out
}

/// Prints a try's log (and, with `--follow`, what it writes next until it ends). A try that
/// ended without a log is an error, with the reason the server knows.
pub async fn run(a: LogsArgs, conn: &ControlArgs) -> anyhow::Result<u8> {
    // With --follow, failed calls are retried here (and said so), not silently in the client.
    let client = conn.client()?;
    let client = if a.follow {
        client.with_retry(airlock_api_client::RetryPolicy::once())
    } else {
        client
    };
    let mut offset = 0;
    let mut try_number = a.try_number;
    let mut out = std::io::stdout();
    let mut outage = Outage::new(a.max_outage);
    loop {
        let chunk = match client
            .task_log(
                &a.dag_id,
                &a.run_id,
                &a.task_id,
                a.map_index,
                try_number,
                offset,
            )
            .await
        {
            Ok(c) => {
                outage.ended();
                c
            }
            Err(e) if e.status() == Some(404) && a.map_index < 0 => {
                return Err(mapped_hint(&client, &a).await.unwrap_or_else(|| e.into()));
            }
            Err(e) if a.follow => {
                outage.ride_out(e).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(why) = &chunk.missing
            && (chunk.finished || !a.follow)
        {
            eprintln!("{}.{} in run {}: {why}", a.dag_id, a.task_id, a.run_id);
            return Ok(super::exit::FAILED);
        }
        // Stay on the try first shown, even if a retry starts meanwhile.
        try_number = Some(chunk.try_number);
        for line in chunk.content.lines() {
            let text = if a.raw {
                line.to_owned()
            } else {
                format_line(line)
            };
            let _ = writeln!(out, "{text}");
        }
        let _ = out.flush();
        let more = chunk.next_offset > offset;
        offset = chunk.next_offset;
        if !a.follow || (chunk.finished && !more) {
            return Ok(0);
        }
        if !more {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// For a task named without `--map-index` that is mapped: an error listing its map indexes.
async fn mapped_hint(
    client: &airlock_api_client::ApiClient,
    a: &LogsArgs,
) -> Option<anyhow::Error> {
    let run = client.run_details(&a.dag_id, &a.run_id).await.ok()?;
    let indexes: Vec<i64> = run
        .task_instances
        .iter()
        .filter(|t| t.task_id == a.task_id && t.map_index >= 0)
        .map(|t| t.map_index)
        .collect();
    let (first, last) = (indexes.iter().min()?, indexes.iter().max()?);
    Some(
        super::exit::CliError::invalid(format!(
            "task {:?} is mapped: name one of its {} task instances with --map-index (map \
             indexes {first} to {last})",
            a.task_id,
            indexes.len()
        ))
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_json_lines() {
        let line = r#"{"timestamp":"2026-01-01T00:00:00Z","level":"info","logger":"task","event":"hi","rows":3,"dag_id":"d"}"#;
        assert_eq!(
            format_line(line),
            "2026-01-01T00:00:00Z INFO    task: hi rows=3"
        );
        assert_eq!(format_line("not json"), "not json");
    }
}
