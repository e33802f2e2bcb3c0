//! Assets, asset aliases and the events tasks emit for them.

use airlock_protocol::api::{
    AssetEventResponse, AssetResponse, DagRunAssetReference, JsonObject, TISuccessStatePayload,
};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use crate::rows::TaskInstance;
use crate::sql::Sql;
use crate::{Db, DbError, DbResult, from_micros, to_micros};

#[derive(sqlx::FromRow)]
struct AssetRow {
    id: i64,
    name: String,
    uri: String,
    asset_group: String,
    extra: String,
}

fn parse_object(table: &'static str, text: &str) -> DbResult<JsonObject> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt {
        table,
        detail: e.to_string(),
    })
}

impl AssetRow {
    fn into_response(self) -> DbResult<AssetResponse> {
        Ok(AssetResponse {
            extra: Some(parse_object("asset", &self.extra)?),
            name: self.name,
            uri: self.uri,
            group: self.asset_group,
        })
    }
}

const ASSET_COLUMNS: &str = "id, name, uri, asset_group, extra";

/// How an asset is looked up.
#[derive(Debug, Clone, Copy)]
pub enum AssetLookup<'a> {
    /// By its unique name.
    Name(&'a str),
    /// By its unique URI.
    Uri(&'a str),
}

async fn find_asset(conn: &mut AnyConnection, by: AssetLookup<'_>) -> DbResult<Option<AssetRow>> {
    let (column, value) = match by {
        AssetLookup::Name(v) => ("name", v),
        AssetLookup::Uri(v) => ("uri", v),
    };
    let sql = format!("SELECT {ASSET_COLUMNS} FROM asset WHERE {column} = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(conn)
        .await?)
}

/// Reads an asset by name or URI.
pub async fn get_asset(db: &Db, by: AssetLookup<'_>) -> DbResult<Option<AssetResponse>> {
    let mut conn = db.pool().acquire().await?;
    find_asset(&mut conn, by)
        .await?
        .map(AssetRow::into_response)
        .transpose()
}

/// The assets behind an alias; `None` if the alias does not exist.
pub async fn assets_by_alias(db: &Db, alias: &str) -> DbResult<Option<Vec<AssetResponse>>> {
    let alias_id: Option<i64> = sqlx::query_scalar("SELECT id FROM asset_alias WHERE name = $1")
        .bind(alias)
        .fetch_optional(db.pool())
        .await?;
    let Some(alias_id) = alias_id else {
        return Ok(None);
    };
    let rows: Vec<AssetRow> = sqlx::query_as(
        "SELECT a.id, a.name, a.uri, a.asset_group, a.extra FROM asset a \
         JOIN asset_alias_asset l ON l.asset_id = a.id WHERE l.alias_id = $1 ORDER BY a.name",
    )
    .bind(alias_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(AssetRow::into_response)
        .collect::<DbResult<_>>()
        .map(Some)
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AssetEventFilter {
    /// Only events of the asset with this name.
    pub name: Option<String>,
    /// Only events of the asset with this URI.
    pub uri: Option<String>,
    /// Only events that reached the asset through this alias.
    pub alias: Option<String>,
    /// Only events at or after this time.
    pub after: Option<DateTime<Utc>>,
    /// Only events at or before this time.
    pub before: Option<DateTime<Utc>>,
    /// Oldest first (default) or newest first.
    pub ascending: bool,
    /// At most this many.
    pub limit: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    extra: String,
    source_task_id: Option<String>,
    source_dag_id: Option<String>,
    source_run_id: Option<String>,
    source_map_index: Option<i64>,
    partition_key: Option<String>,
    timestamp: i64,
    name: String,
    uri: String,
    asset_group: String,
    asset_extra: String,
}

/// Lists asset events.
pub async fn asset_events(db: &Db, f: &AssetEventFilter) -> DbResult<Vec<AssetEventResponse>> {
    let mut q = Sql::new(
        "SELECT e.id, e.extra, e.source_task_id, e.source_dag_id, e.source_run_id, \
         e.source_map_index, e.partition_key, e.timestamp, a.name, a.uri, a.asset_group, \
         a.extra AS asset_extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE 1 = 1",
    );
    if let Some(name) = &f.name {
        q.push(" AND a.name = ").bind(name.clone());
    }
    if let Some(uri) = &f.uri {
        q.push(" AND a.uri = ").bind(uri.clone());
    }
    if let Some(alias) = &f.alias {
        q.push(
            " AND e.id IN (SELECT l.event_id FROM asset_alias_asset_event l \
             JOIN asset_alias al ON al.id = l.alias_id WHERE al.name = ",
        )
        .bind(alias.clone())
        .push(")");
    }
    if let Some(after) = f.after {
        q.push(" AND e.timestamp >= ").bind(to_micros(after));
    }
    if let Some(before) = f.before {
        q.push(" AND e.timestamp <= ").bind(to_micros(before));
    }
    q.push(if f.ascending {
        " ORDER BY e.timestamp ASC, e.id ASC"
    } else {
        " ORDER BY e.timestamp DESC, e.id DESC"
    });
    if let Some(limit) = f.limit {
        q.push(" LIMIT ").bind(limit.max(0));
    }
    let (sql, args) = q.build();
    let rows: Vec<EventRow> = sqlx::query_as_with(sql, args).fetch_all(db.pool()).await?;
    rows.into_iter()
        .map(|r| {
            Ok(AssetEventResponse {
                id: r.id,
                timestamp: from_micros(r.timestamp),
                extra: Some(parse_object("asset_event", &r.extra)?),
                asset: AssetResponse {
                    name: r.name,
                    uri: r.uri,
                    group: r.asset_group,
                    extra: Some(parse_object("asset", &r.asset_extra)?),
                },
                created_dagruns: Vec::<DagRunAssetReference>::new(),
                source_task_id: r.source_task_id,
                source_dag_id: r.source_dag_id,
                source_run_id: r.source_run_id,
                source_map_index: r.source_map_index,
                partition_key: r.partition_key,
            })
        })
        .collect()
}

async fn ensure_asset(conn: &mut AnyConnection, name: &str, uri: &str, now: i64) -> DbResult<i64> {
    if let Some(row) = find_asset(conn, AssetLookup::Name(name)).await? {
        return Ok(row.id);
    }
    if let Some(row) = find_asset(conn, AssetLookup::Uri(uri)).await? {
        return Ok(row.id);
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO asset (name, uri, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(uri)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

async fn ensure_alias(conn: &mut AnyConnection, name: &str) -> DbResult<i64> {
    if let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM asset_alias WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok(id);
    }
    Ok(
        sqlx::query_scalar("INSERT INTO asset_alias (name) VALUES ($1) RETURNING id")
            .bind(name)
            .fetch_one(conn)
            .await?,
    )
}

/// One asset event a successful task emits.
struct Emitted {
    asset_id: i64,
    extra: JsonObject,
    partition_key: Option<String>,
    alias_id: Option<i64>,
}

fn key_of(event: &JsonObject) -> (Option<&str>, Option<&str>) {
    let key = event.get("dest_asset_key").and_then(|k| k.as_object());
    (
        key.and_then(|k| k.get("name")).and_then(|v| v.as_str()),
        key.and_then(|k| k.get("uri")).and_then(|v| v.as_str()),
    )
}

fn extra_of(event: &JsonObject) -> JsonObject {
    event
        .get("extra")
        .and_then(|v| v.as_object())
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default()
}

/// Registers the asset events of a successful task: one per asset outlet (with the extras its
/// `outlet_events` entry carries), plus one per event emitted through an asset alias.
pub async fn record_outlet_events(
    conn: &mut AnyConnection,
    ti: &TaskInstance,
    p: &TISuccessStatePayload,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let at = to_micros(now);
    let mut emitted = Vec::new();
    for outlet in &p.task_outlets {
        let asset_id = match (outlet.kind.as_str(), &outlet.name, &outlet.uri) {
            ("Asset", Some(name), Some(uri)) => Some(ensure_asset(conn, name, uri, at).await?),
            ("AssetNameRef", Some(name), _) => find_asset(conn, AssetLookup::Name(name))
                .await?
                .map(|a| a.id),
            ("AssetUriRef", _, Some(uri)) => {
                find_asset(conn, AssetLookup::Uri(uri)).await?.map(|a| a.id)
            }
            _ => None,
        };
        let Some(asset_id) = asset_id else { continue };
        let event = p.outlet_events.iter().find(|e| {
            e.get("source_alias_name").is_none_or(|v| v.is_null())
                && key_of(e) == (outlet.name.as_deref(), outlet.uri.as_deref())
        });
        emitted.push(Emitted {
            asset_id,
            extra: event.map(extra_of).unwrap_or_default(),
            partition_key: event
                .and_then(|e| e.get("partition_key"))
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            alias_id: None,
        });
    }
    for event in &p.outlet_events {
        let Some(alias) = event.get("source_alias_name").and_then(|v| v.as_str()) else {
            continue;
        };
        let (Some(name), Some(uri)) = key_of(event) else {
            continue;
        };
        let alias_id = ensure_alias(conn, alias).await?;
        let asset_id = ensure_asset(conn, name, uri, at).await?;
        sqlx::query(
            "INSERT INTO asset_alias_asset (alias_id, asset_id) VALUES ($1, $2) \
             ON CONFLICT (alias_id, asset_id) DO NOTHING",
        )
        .bind(alias_id)
        .bind(asset_id)
        .execute(&mut *conn)
        .await?;
        emitted.push(Emitted {
            asset_id,
            extra: extra_of(event),
            partition_key: event
                .get("partition_key")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            alias_id: Some(alias_id),
        });
    }
    for e in emitted {
        let extra = serde_json::to_string(&e.extra).unwrap_or_else(|_| "{}".into());
        let event_id: i64 = sqlx::query_scalar(
            "INSERT INTO asset_event (asset_id, extra, source_task_id, source_dag_id, source_run_id, \
             source_map_index, partition_key, timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(e.asset_id)
        .bind(extra)
        .bind(&ti.task_id)
        .bind(&ti.dag_id)
        .bind(&ti.run_id)
        .bind(ti.map_index)
        .bind(e.partition_key)
        .bind(at)
        .fetch_one(&mut *conn)
        .await?;
        if let Some(alias_id) = e.alias_id {
            sqlx::query("INSERT INTO asset_alias_asset_event (alias_id, event_id) VALUES ($1, $2)")
                .bind(alias_id)
                .bind(event_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
