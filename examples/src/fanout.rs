//! Dynamic task mapping: discover files, process every one of them in parallel, merge.

use std::path::PathBuf;

use airlock_sdk::{Context, Dag, Task, TaskError, TaskResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Files made when the run's conf names no directory.
const DEFAULT_FILES: usize = 24;

#[derive(Debug, Serialize, Deserialize)]
struct FileStats {
    file: String,
    lines: usize,
    total: i64,
}

fn work_dir(ctx: &Context<'_>) -> PathBuf {
    let run = ctx.dag_run().run_id.replace(['/', ':'], "_");
    std::env::temp_dir().join(format!("airlock-fan-out-{run}"))
}

/// Lists the files of `conf.dir` (or makes `conf.files` sample files to list).
fn discover(ctx: &mut Context<'_>) -> TaskResult {
    let conf = ctx.conf();
    let dir = match conf.get("dir").and_then(|d| d.as_str()) {
        Some(d) => PathBuf::from(d),
        None => {
            let dir = work_dir(ctx);
            let n = conf
                .get("files")
                .and_then(serde_json::Value::as_u64)
                .map_or(DEFAULT_FILES, |n| n as usize);
            std::fs::create_dir_all(&dir)?;
            for i in 0..n {
                let body: String = (1..=i + 1).map(|k| format!("{}\n", k * 10)).collect();
                std::fs::write(dir.join(format!("part-{i:04}.csv")), body)?;
            }
            dir
        }
    };
    let mut files: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    ctx.log()
        .info(&format!("found {} files in {}", files.len(), dir.display()));
    Ok(json!(files))
}

/// Sums the numbers of one file (one mapped task instance per file).
fn process(ctx: &mut Context<'_>) -> TaskResult {
    let file: String = ctx.mapped_item()?;
    let text = std::fs::read_to_string(&file)?;
    let mut total = 0i64;
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        total += line
            .trim()
            .parse::<i64>()
            .map_err(|e| TaskError::fail_no_retry(format!("{file}: {line:?}: {e}")))?;
        lines += 1;
    }
    ctx.log()
        .info(&format!("{file}: {lines} lines, total {total}"));
    Ok(serde_json::to_value(FileStats { file, lines, total })?)
}

/// Adds up what every mapped instance found.
fn merge(ctx: &mut Context<'_>) -> TaskResult {
    let stats: Vec<FileStats> = ctx.xcom_pull_mapped("process")?;
    let lines: usize = stats.iter().map(|s| s.lines).sum();
    let total: i64 = stats.iter().map(|s| s.total).sum();
    ctx.log().info(&format!(
        "merged {} files: {lines} lines, total {total}",
        stats.len()
    ));
    if !ctx.conf().contains_key("dir") {
        let _ = std::fs::remove_dir_all(work_dir(ctx));
    }
    Ok(json!({"files": stats.len(), "lines": lines, "total": total}))
}

/// Discover files, process each one in parallel, merge the results.
pub fn fan_out() -> Dag {
    Dag::new("fan_out")
        .description("List files, process every file in parallel, merge the results")
        .tags(["example", "mapping"])
        .task(Task::new("discover", discover))
        .task(
            Task::new("process", process)
                .map_over("discover")
                .retries(1),
        )
        .task(Task::new("merge", merge).after(["process"]))
}
