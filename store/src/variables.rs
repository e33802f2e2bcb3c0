//! Variables: global key/value settings tasks read at run time.

use airlock_protocol::api::VariableKeysResponse;
use chrono::{DateTime, Utc};

use crate::{Db, DbResult, to_micros};

/// Reads a Variable; `None` if it does not exist.
pub async fn get_variable(db: &Db, key: &str) -> DbResult<Option<Option<String>>> {
    let row: Option<(Option<String>,)> = sqlx::query_as("SELECT val FROM variable WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(v,)| v))
}

/// Creates or replaces a Variable.
pub async fn put_variable(
    db: &Db,
    key: &str,
    val: Option<&str>,
    description: Option<&str>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO variable (key, val, description, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET val = excluded.val, description = excluded.description, \
         updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(val)
    .bind(description)
    .bind(to_micros(now))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Deletes a Variable; returns whether it existed.
pub async fn delete_variable(db: &Db, key: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM variable WHERE key = $1")
        .bind(key)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// A page of Variable keys, sorted, optionally those starting with `prefix`.
pub async fn variable_keys(
    db: &Db,
    prefix: Option<&str>,
    limit: i64,
    offset: i64,
) -> DbResult<VariableKeysResponse> {
    // substr() compares characters the same way on both backends; LIKE does not (SQLite's ignores
    // ASCII case) and would need escaping.
    let prefix = prefix.unwrap_or("");
    let chars = prefix.chars().count() as i64;
    let total_entries: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM variable WHERE substr(key, 1, CAST($1 AS INTEGER)) = $2",
    )
    .bind(chars)
    .bind(prefix)
    .fetch_one(db.pool())
    .await?;
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM variable WHERE substr(key, 1, CAST($1 AS INTEGER)) = $2 ORDER BY key LIMIT $3 OFFSET $4",
    )
    .bind(chars)
    .bind(prefix)
    .bind(limit)
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    Ok(VariableKeysResponse {
        keys,
        total_entries,
    })
}

/// A page of Variables with their values and descriptions, by key.
pub async fn list_variables(
    db: &Db,
    prefix: Option<&str>,
    limit: i64,
    offset: i64,
) -> DbResult<airlock_protocol::api::VariableList> {
    let page = variable_keys(db, prefix, limit, offset).await?;
    let first = page.keys.first().cloned().unwrap_or_default();
    let last = page.keys.last().cloned().unwrap_or_default();
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT key, val, description FROM variable WHERE key >= $1 AND key <= $2 ORDER BY key",
    )
    .bind(&first)
    .bind(&last)
    .fetch_all(db.pool())
    .await?;
    let wanted: std::collections::BTreeSet<&String> = page.keys.iter().collect();
    Ok(airlock_protocol::api::VariableList {
        variables: rows
            .into_iter()
            .filter(|(k, _, _)| wanted.contains(k))
            .map(
                |(key, value, description)| airlock_protocol::api::VariableEntry {
                    key,
                    value,
                    description,
                },
            )
            .collect(),
        total_entries: page.total_entries,
    })
}

/// A Variable with its description; `None` if it does not exist.
pub async fn get_variable_entry(
    db: &Db,
    key: &str,
) -> DbResult<Option<airlock_protocol::api::VariableEntry>> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT val, description FROM variable WHERE key = $1")
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(
        |(value, description)| airlock_protocol::api::VariableEntry {
            key: key.to_owned(),
            value,
            description,
        },
    ))
}
