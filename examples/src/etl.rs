//! Extract → transform → load, passing XComs, reading a Variable and a Connection; plus a task
//! that succeeds on its second try and one that always fails.

use std::time::Duration;

use airlock_sdk::{Context, Dag, Task, TaskError, TaskResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u32,
    amount_cents: i64,
}

fn extract(ctx: &mut Context<'_>) -> TaskResult {
    let orders: Vec<Order> = (1..=5)
        .map(|id| Order {
            id,
            amount_cents: i64::from(id) * 1250,
        })
        .collect();
    ctx.log()
        .info(&format!("extracted {} orders", orders.len()));
    Ok(serde_json::to_value(orders)?)
}

fn transform(ctx: &mut Context<'_>) -> TaskResult {
    let orders: Vec<Order> = ctx
        .xcom_pull("extract")?
        .ok_or_else(|| TaskError::fail("extract returned nothing"))?;
    let total: i64 = orders.iter().map(|o| o.amount_cents).sum();
    ctx.xcom_push("order_count", &orders.len())?;
    Ok(json!({"total_cents": total}))
}

fn load(ctx: &mut Context<'_>) -> TaskResult {
    let summary: serde_json::Value = ctx
        .xcom_pull("transform")?
        .ok_or_else(|| TaskError::fail("nothing to load"))?;
    let count: usize = ctx
        .xcom_pull_key("transform", "order_count")?
        .unwrap_or_default();
    let table = ctx
        .variable("etl_target_table")?
        .unwrap_or_else(|| "orders_daily".into());
    let target = match ctx.connection("warehouse")? {
        Some(c) => format!(
            "{}://{}@{}:{}",
            c.conn_type,
            c.login.unwrap_or_default(),
            c.host.unwrap_or_default(),
            c.port.unwrap_or_default()
        ),
        None => "nowhere (no 'warehouse' connection)".into(),
    };
    ctx.log().info(&format!(
        "loading {count} orders ({summary}) into {table} at {target}"
    ));
    Ok(
        json!({"table": table, "target": target, "orders": count, "total_cents": summary["total_cents"]}),
    )
}

/// Extract, transform and load a few orders.
pub fn etl() -> Dag {
    Dag::new("etl")
        .description("Extract orders, sum them, load the summary")
        .tags(["example"])
        .task(
            Task::new("extract", extract)
                .retries(2)
                .retry_delay(Duration::from_secs(5)),
        )
        .task(Task::new("transform", transform).after(["extract"]))
        .task(
            Task::new("load", load)
                .after(["transform"])
                .execution_timeout(Duration::from_secs(60)),
        )
}

fn flaky_once(ctx: &mut Context<'_>) -> TaskResult {
    // `--conf '{"succeed_on_try": 3}'` makes it fail both of its tries.
    let succeed_on = ctx
        .conf()
        .get("succeed_on_try")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(2);
    if ctx.try_number() < succeed_on {
        return Err(TaskError::fail(format!(
            "try {} fails on purpose",
            ctx.try_number()
        )));
    }
    Ok(json!({"succeeded_on_try": ctx.try_number()}))
}

fn report(ctx: &mut Context<'_>) -> TaskResult {
    let upstream: Option<serde_json::Value> = ctx.xcom_pull("flaky_once")?;
    let upstream = upstream.unwrap_or_default();
    ctx.log().info(&format!("flaky_once said {upstream}"));
    Ok(upstream)
}

/// A task that fails on its first try and succeeds on its second (or on the try its run's
/// `succeed_on_try` names), and a report after it.
pub fn flaky() -> Dag {
    Dag::new("flaky")
        .tags(["example"])
        .task(
            Task::new("flaky_once", flaky_once)
                .retries(1)
                .retry_delay(Duration::from_secs(1)),
        )
        .task(Task::new("report", report).after(["flaky_once"]))
}

fn always_fails(_ctx: &mut Context<'_>) -> TaskResult {
    let parsed: Result<u32, _> = "not a number".parse::<u32>();
    Ok(json!(parsed?))
}

/// A task that always fails (and has no retries).
pub fn broken() -> Dag {
    Dag::new("broken")
        .tags(["example"])
        .task(Task::new("always_fails", always_fails))
}

#[cfg(test)]
mod tests {
    use airlock_sdk::ConnectionResponse;
    use airlock_sdk::testing::TaskTest;
    use serde_json::json;

    use super::*;

    #[test]
    fn load_writes_to_the_warehouse_connection_and_the_variable_s_table() -> Result<(), TaskError> {
        let warehouse = ConnectionResponse {
            conn_id: "warehouse".into(),
            conn_type: "postgres".into(),
            host: Some("db".into()),
            schema: None,
            login: Some("etl".into()),
            password: Some("secret".into()),
            port: Some(5432),
            extra: None,
        };
        let outcome = TaskTest::new("etl", "load")
            .xcom("transform", json!({"total_cents": 18750}))
            .xcom_key("transform", "order_count", json!(5))
            .variable("etl_target_table", "sales")
            .connection(warehouse)
            .run(load);
        assert_eq!(
            outcome.result?,
            json!({"table": "sales", "target": "postgres://etl@db:5432", "orders": 5,
                   "total_cents": 18750})
        );
        assert!(outcome.log.contains("loading 5 orders"), "{}", outcome.log);
        // Without the connection and the variable: the defaults.
        let outcome = TaskTest::new("etl", "load")
            .xcom("transform", json!({"total_cents": 1}))
            .run(load);
        let out = outcome.result?;
        assert_eq!(out["table"], "orders_daily");
        assert_eq!(out["target"], "nowhere (no 'warehouse' connection)");
        // Nothing to load is a failure.
        assert!(TaskTest::new("etl", "load").run(load).result.is_err());
        Ok(())
    }

    #[test]
    fn transform_pushes_the_order_count() {
        let orders = json!([{"id": 1, "amount_cents": 250}, {"id": 2, "amount_cents": 750}]);
        let outcome = TaskTest::new("etl", "transform")
            .xcom("extract", orders)
            .run(transform);
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(outcome.xcoms.get("order_count"), Some(&json!(2)));
    }

    #[test]
    fn flaky_once_fails_until_its_try() -> Result<(), TaskError> {
        assert!(
            TaskTest::new("flaky", "flaky_once")
                .run(flaky_once)
                .result
                .is_err()
        );
        let second = TaskTest::new("flaky", "flaky_once")
            .try_number(2)
            .run(flaky_once);
        assert_eq!(second.result?, json!({"succeeded_on_try": 2}));
        let late = TaskTest::new("flaky", "flaky_once")
            .try_number(2)
            .conf(json!({"succeed_on_try": 3}))
            .run(flaky_once);
        assert!(late.result.is_err());
        Ok(())
    }
}
