//! `/assets` and `/asset-events`: data assets tasks produce and consume.

use airlock_protocol::api::{AssetEventsResponse, AssetResponse, HTTPExceptionResponse};
use airlock_store as store;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::TaskCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;
use airlock_store::assets::AssetEventFilter;
use airlock_store::assets::AssetLookup;
use airlock_store::error::StoreError;

/// Query of `/assets/by-name`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByName {
    /// The asset's name.
    name: String,
}

/// Query of `/assets/by-uri`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByUri {
    /// The asset's URI.
    uri: String,
}

/// Query of `/assets/by-alias`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByAlias {
    /// The alias's name.
    alias_name: String,
}

/// Get an asset by name.
#[utoipa::path(get, path = "/assets/by-name", tag = "Assets", params(ByName),
    responses(
        (status = 200, description = "The asset", body = AssetResponse),
        (status = 404, description = "Asset not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_asset_by_name(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(q): Query<ByName>,
) -> ApiResult<Json<AssetResponse>> {
    store::assets::get_asset(&s.db, AssetLookup::Name(&q.name))
        .await?
        .map(Json)
        .ok_or_else(|| {
            StoreError::not_found(format!("Asset with name {} not found", q.name)).into()
        })
}

/// Get an asset by URI.
#[utoipa::path(get, path = "/assets/by-uri", tag = "Assets", params(ByUri),
    responses(
        (status = 200, description = "The asset", body = AssetResponse),
        (status = 404, description = "Asset not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_asset_by_uri(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(q): Query<ByUri>,
) -> ApiResult<Json<AssetResponse>> {
    store::assets::get_asset(&s.db, AssetLookup::Uri(&q.uri))
        .await?
        .map(Json)
        .ok_or_else(|| StoreError::not_found(format!("Asset with URI {} not found", q.uri)).into())
}

/// Get the assets an alias resolved to.
#[utoipa::path(get, path = "/assets/by-alias", tag = "Assets", params(ByAlias),
    responses(
        (status = 200, description = "The assets", body = Vec<AssetResponse>),
        (status = 404, description = "Asset alias not found", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_assets_by_alias(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(q): Query<ByAlias>,
) -> ApiResult<Json<Vec<AssetResponse>>> {
    store::assets::assets_by_alias(&s.db, &q.alias_name)
        .await?
        .map(Json)
        .ok_or_else(|| {
            StoreError::not_found(format!("Asset alias {} not found", q.alias_name)).into()
        })
}

fn ascending() -> bool {
    true
}

/// Query of `/asset-events/by-asset`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsByAsset {
    /// The asset's name.
    name: Option<String>,
    /// The asset's URI.
    uri: Option<String>,
    /// Only events at or after this time.
    after: Option<DateTime<Utc>>,
    /// Only events at or before this time.
    before: Option<DateTime<Utc>>,
    /// Oldest first.
    #[serde(default = "ascending")]
    #[param(default = true)]
    ascending: bool,
    /// At most this many.
    limit: Option<i64>,
}

/// Events of an asset.
#[utoipa::path(get, path = "/asset-events/by-asset", tag = "Asset Events", params(EventsByAsset),
    responses(
        (status = 200, description = "The events", body = AssetEventsResponse),
        (status = 400, description = "Neither name nor uri given", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_asset_event_by_asset_name_uri(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(q): Query<EventsByAsset>,
) -> ApiResult<Json<AssetEventsResponse>> {
    if q.name.is_none() && q.uri.is_none() {
        return Err(ApiError::BadRequest {
            reason: "invalid_request",
            message: "Either name or uri must be provided".into(),
        });
    }
    let f = AssetEventFilter {
        name: q.name,
        uri: q.uri,
        alias: None,
        after: q.after,
        before: q.before,
        ascending: q.ascending,
        limit: q.limit,
    };
    Ok(Json(AssetEventsResponse {
        asset_events: store::assets::asset_events(&s.db, &f).await?,
    }))
}

/// Query of `/asset-events/by-asset-alias`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsByAlias {
    /// The alias's name.
    name: String,
    /// Only events at or after this time.
    after: Option<DateTime<Utc>>,
    /// Only events at or before this time.
    before: Option<DateTime<Utc>>,
    /// Oldest first.
    #[serde(default = "ascending")]
    #[param(default = true)]
    ascending: bool,
    /// At most this many.
    limit: Option<i64>,
}

/// Events emitted through an asset alias.
#[utoipa::path(get, path = "/asset-events/by-asset-alias", tag = "Asset Events", params(EventsByAlias),
    responses((status = 200, description = "The events", body = AssetEventsResponse)),
    security(("JWTBearer" = [])))]
pub async fn get_asset_event_by_asset_alias(
    State(s): State<AppState>,
    _caller: TaskCaller,
    Query(q): Query<EventsByAlias>,
) -> ApiResult<Json<AssetEventsResponse>> {
    let f = AssetEventFilter {
        name: None,
        uri: None,
        alias: Some(q.name),
        after: q.after,
        before: q.before,
        ascending: q.ascending,
        limit: q.limit,
    };
    Ok(Json(AssetEventsResponse {
        asset_events: store::assets::asset_events(&s.db, &f).await?,
    }))
}
