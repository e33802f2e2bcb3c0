//! `airlock runs show`.

use super::connect::ControlArgs;
use super::{progress, table};

/// Prints a run and its task instances.
pub async fn show(
    dag_id: &str,
    run_id: &str,
    json: bool,
    conn: &ControlArgs,
) -> anyhow::Result<u8> {
    let d = conn.client()?.run_details(dag_id, run_id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(0);
    }
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
    };
    println!("{}", progress::summary(&d));
    println!("  started {}, ended {}", ts(d.start_date), ts(d.end_date));
    let rows: Vec<Vec<String>> = d
        .task_instances
        .iter()
        .map(|ti| {
            vec![
                progress::label(ti),
                progress::state_name(ti.state).into(),
                ti.try_number.to_string(),
                ts(ti.start_date),
                ti.duration.map_or(String::new(), table::duration),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["TASK", "STATE", "TRY", "STARTED", "TOOK"], &rows)
    );
    Ok(0)
}
