//! Connections: credentials and endpoints of external systems. Passwords and extras are stored
//! encrypted (see [`crate::cipher`]) and decrypted only to answer an authorised request.

use airlock_protocol::api::ConnectionResponse;
use chrono::{DateTime, Utc};

use crate::cipher::SecretCipher;
use crate::{Db, DbError, DbResult, to_micros};

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

/// Reads a Connection, decrypting its password and extra.
pub async fn get_connection(
    db: &Db,
    cipher: &SecretCipher,
    conn_id: &str,
) -> DbResult<Option<ConnectionResponse>> {
    let row: Option<ConnectionRow> = sqlx::query_as(
        "SELECT conn_id, conn_type, host, schema_name, login, password, port, extra \
         FROM connection WHERE conn_id = $1",
    )
    .bind(conn_id)
    .fetch_optional(db.pool())
    .await?;
    let open = |v: Option<String>| -> DbResult<Option<String>> {
        v.map(|v| {
            cipher.open_field(&v).map_err(|e| DbError::Corrupt {
                table: "connection",
                detail: format!("{conn_id}: {e}"),
            })
        })
        .transpose()
    };
    row.map(|r| {
        Ok(ConnectionResponse {
            conn_id: r.conn_id,
            conn_type: r.conn_type,
            host: r.host,
            schema: r.schema_name,
            login: r.login,
            password: open(r.password)?,
            port: r.port,
            extra: open(r.extra)?,
        })
    })
    .transpose()
}

/// Checks what a Connection may hold before it is stored: a type, a port in range, an extra
/// that is a JSON object (tasks parse it as one).
pub fn validate(c: &ConnectionResponse) -> Result<(), crate::error::StoreError> {
    use crate::error::StoreError;
    let max = airlock_protocol::dag::MAX_ID_LEN;
    if c.conn_type.is_empty()
        || c.conn_type.len() > max
        || c.conn_type.chars().any(char::is_control)
    {
        return Err(StoreError::invalid(
            "invalid_id",
            format!(
                "a Connection type must be 1 to {max} bytes without control characters, not {:?}",
                c.conn_type
            ),
        ));
    }
    if let Some(port) = c.port
        && !(1..=65_535).contains(&port)
    {
        return Err(StoreError::invalid(
            "invalid_port",
            format!("port must be 1 to 65535, not {port}"),
        ));
    }
    if let Some(extra) = &c.extra
        && !matches!(
            serde_json::from_str::<serde_json::Value>(extra),
            Ok(serde_json::Value::Object(_))
        )
    {
        return Err(StoreError::invalid(
            "invalid_extra",
            "extra must be a JSON object (as a string)".to_owned(),
        ));
    }
    Ok(())
}

/// Creates or replaces a Connection; its password and extra are encrypted.
pub async fn put_connection(
    db: &Db,
    cipher: &SecretCipher,
    c: &ConnectionResponse,
    now: DateTime<Utc>,
) -> DbResult<()> {
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
    .bind(c.password.as_deref().map(|p| cipher.seal(p)))
    .bind(c.port)
    .bind(c.extra.as_deref().map(|e| cipher.seal(e)))
    .bind(to_micros(now))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Every Connection without its secrets, by id.
pub async fn list_connections(
    db: &Db,
    only: Option<&str>,
) -> DbResult<Vec<airlock_protocol::api::ConnectionSummary>> {
    let mut q = crate::sql::Sql::new(
        "SELECT conn_id, conn_type, host, schema_name, login, password, port, extra \
         FROM connection",
    );
    if let Some(id) = only {
        q.push(" WHERE conn_id = ").bind(id.to_owned());
    }
    q.push(" ORDER BY conn_id");
    let (sql, args) = q.build();
    let rows: Vec<ConnectionRow> = sqlx::query_as_with(sql, args).fetch_all(db.pool()).await?;
    Ok(rows
        .into_iter()
        .map(|r| airlock_protocol::api::ConnectionSummary {
            conn_id: r.conn_id,
            conn_type: r.conn_type,
            host: r.host,
            schema: r.schema_name,
            login: r.login,
            port: r.port,
            has_password: r.password.is_some(),
            has_extra: r.extra.is_some(),
        })
        .collect())
}

/// Deletes a Connection; returns whether it existed.
pub async fn delete_connection(db: &Db, conn_id: &str) -> DbResult<bool> {
    let n = sqlx::query("DELETE FROM connection WHERE conn_id = $1")
        .bind(conn_id)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n > 0)
}
