//! The bundle the benchmarks run: noop tasks in every shape the scenarios need.

use airlock_sdk::{Bundle, Context, Dag, Task, TaskResult};
use serde_json::{Value, json};

fn noop(_: &mut Context<'_>) -> TaskResult {
    Ok(Value::Null)
}

/// `conf.n` items to map over.
fn items(ctx: &mut Context<'_>) -> TaskResult {
    let n = ctx.conf().get("n").and_then(Value::as_u64).unwrap_or(10);
    Ok(json!((0..n).collect::<Vec<u64>>()))
}

fn wide(id: &str, n: usize) -> Dag {
    (0..n).fold(Dag::new(id), |d, i| {
        d.task(Task::new(format!("t{i:04}"), noop))
    })
}

fn chain(id: &str, n: usize) -> Dag {
    (0..n).fold(Dag::new(id), |d, i| {
        let t = Task::new(format!("c{i:03}"), noop);
        d.task(if i == 0 {
            t
        } else {
            t.after([format!("c{:03}", i - 1)])
        })
    })
}

fn main() -> std::process::ExitCode {
    Bundle::new("bench-bundle")
        .dag(Dag::new("one").task(Task::new("noop", noop)))
        .dag(wide("wide1000", 1000))
        .dag(wide("wide50", 50))
        .dag(chain("chain50", 50))
        .dag(chain("chain10", 10))
        .dag(
            Dag::new("mapped")
                .task(Task::new("items", items))
                .task(Task::new("each", noop).map_over("items")),
        )
        .main()
}
