//! Connections: credentials and endpoints of external systems.

use airlock_protocol::api::ConnectionResponse;
use chrono::{DateTime, Utc};

use super::{Db, DbResult, to_micros};

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    conn_id: String,
    conn_type: String,
    host: Option<String>,
    schema_name: Option<String>,
    login: Option<String>,
    password: Option<String>,
    port: Option<i64>,
    extra: Option<String>,
}

/// Reads a Connection.
pub async fn get_connection(db: &Db, conn_id: &str) -> DbResult<Option<ConnectionResponse>> {
    let row: Option<ConnectionRow> = sqlx::query_as(
        "SELECT conn_id, conn_type, host, schema_name, login, password, port, extra \
         FROM connection WHERE conn_id = $1",
    )
    .bind(conn_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| ConnectionResponse {
        conn_id: r.conn_id,
        conn_type: r.conn_type,
        host: r.host,
        schema: r.schema_name,
        login: r.login,
        password: r.password,
        port: r.port,
        extra: r.extra,
    }))
}

/// Creates or replaces a Connection.
pub async fn put_connection(db: &Db, c: &ConnectionResponse, now: DateTime<Utc>) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO connection (conn_id, conn_type, host, schema_name, login, password, port, \
         extra, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (conn_id) DO \
         UPDATE SET conn_type = excluded.conn_type, host = excluded.host, \
         schema_name = excluded.schema_name, login = excluded.login, password = excluded.password, \
         port = excluded.port, extra = excluded.extra, updated_at = excluded.updated_at",
    )
    .bind(&c.conn_id)
    .bind(&c.conn_type)
    .bind(c.host.as_deref())
    .bind(c.schema.as_deref())
    .bind(c.login.as_deref())
    .bind(c.password.as_deref())
    .bind(c.port)
    .bind(c.extra.as_deref())
    .bind(to_micros(now))
    .execute(db.pool())
    .await?;
    Ok(())
}
