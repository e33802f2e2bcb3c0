//! The web UI's own routes (tag "Airlock UI": sign in, sign out, the session) and the control
//! routes written for it (users, the grid, a task instance's page, the cluster).

use airlock_protocol::api::{
    Cluster, Grid, HTTPExceptionResponse, LoginRequest, SessionInfo, TaskInstancePage, UserBody,
    UserList,
};
use airlock_store as store;
use airlock_store::error::StoreError;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::session::{self, check_same_origin};
use crate::auth::{AdminCaller, Authentication, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, Query};
use crate::state::AppState;
use crate::ui::password;

/// The signed-in web-UI session of a request (401 without one).
pub struct SignedIn(store::ui::Session);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Authentication>() {
            Some(Authentication::Session(s)) => Ok(Self(s.clone())),
            Some(Authentication::CrossSite(why)) => Err(ApiError::Denied {
                reason: "cross_site_request",
                message: (*why).into(),
            }),
            _ => Err(ApiError::Unauthenticated {
                reason: "session_ended",
                message: "not signed in, or the session has ended; sign in again".into(),
            }),
        }
    }
}

fn info(s: store::ui::Session) -> SessionInfo {
    SessionInfo {
        username: s.username,
        role: s.role,
        csrf_token: s.csrf_token,
        expires_at: s.expires_at,
    }
}

/// Sign in to the web UI: sets the session cookie (HttpOnly, SameSite=Strict, Secure over
/// HTTPS) and answers the CSRF token to send with state-changing requests.
#[utoipa::path(post, path = "/airlock/ui/login", tag = "Airlock UI",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie` carries the session", body = SessionInfo),
        (status = 401, description = "Wrong user name or password", body = HTTPExceptionResponse),
        (status = 403, description = "The request came from another site", body = HTTPExceptionResponse)))]
pub async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    check_same_origin(&headers).map_err(|why| ApiError::Denied {
        reason: "cross_site_request",
        message: why.into(),
    })?;
    let found = if body.username.len() > 256 || body.password.len() > 4 * password::MAX_LEN {
        None
    } else {
        store::ui::credentials(&s.db, &body.username).await?
    };
    let (hash, role) = match found {
        Some((hash, role)) => (Some(hash), Some(role)),
        None => (None, None),
    };
    let matches = password::verify(body.password, hash).await?;
    let Some(role) = role.filter(|_| matches) else {
        tracing::info!(user = %body.username, "web-UI sign-in refused");
        return Err(ApiError::Unauthenticated {
            reason: "bad_credentials",
            message: "wrong user name or password".into(),
        });
    };
    let token = session::new_secret();
    let csrf_token = session::new_secret();
    let now = store::now();
    let expires_at = now
        .checked_add_signed(s.ui.session_ttl)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    store::ui::create_session(
        &s.db,
        &session::token_hash(&token),
        &body.username,
        &csrf_token,
        now,
        expires_at,
    )
    .await?;
    tracing::info!(user = %body.username, %role, "web-UI sign-in");
    let cookie = session::start_cookie(
        &token,
        s.ui.session_ttl.num_seconds(),
        session::is_https(&headers),
    )
    .ok_or_else(|| ApiError::Internal("session cookie".into()))?;
    let body = SessionInfo {
        username: body.username,
        role,
        csrf_token,
        expires_at,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Sign out: ends the session and clears its cookie.
#[utoipa::path(post, path = "/airlock/ui/logout", tag = "Airlock UI",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = HTTPExceptionResponse),
        (status = 403, description = "No CSRF token, or from another site", body = HTTPExceptionResponse)))]
pub async fn logout(
    State(s): State<AppState>,
    _: SignedIn,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = session::cookie(&headers) {
        store::ui::delete_session(&s.db, &session::token_hash(token)).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::end_cookie())],
    )
        .into_response())
}

/// The signed-in user and the session's CSRF token.
#[utoipa::path(get, path = "/airlock/ui/session", tag = "Airlock UI",
    responses(
        (status = 200, description = "Signed in", body = SessionInfo),
        (status = 401, description = "Not signed in, or the session ended", body = HTTPExceptionResponse)))]
pub async fn current_session(SignedIn(s): SignedIn) -> Json<SessionInfo> {
    Json(info(s))
}

/// Web-UI users, by name (never a password or its hash).
#[utoipa::path(get, path = "/airlock/control/users", tag = "Airlock Control",
    responses((status = 200, description = "The users", body = UserList)),
    security(("JWTBearer" = [])))]
pub async fn list_users(State(s): State<AppState>, _: AdminCaller) -> ApiResult<Json<UserList>> {
    Ok(Json(UserList {
        users: store::ui::list_users(&s.db).await?,
    }))
}

/// Longest user name.
const MAX_USERNAME: usize = 64;

fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_USERNAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            reason: "invalid_username",
            message: format!(
                "a user name has 1 to {MAX_USERNAME} letters, digits or . _ - @, not {name:?}"
            ),
        })
    }
}

/// Create a web-UI user, or change one's role or password (a new password ends the user's
/// sessions).
#[utoipa::path(put, path = "/airlock/control/users/{username}", tag = "Airlock Control",
    params(("username" = String, Path, description = "User name")),
    request_body = UserBody,
    responses(
        (status = 201, description = "Created"),
        (status = 204, description = "Changed"),
        (status = 400, description = "An invalid name or password, or a new user without a password", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn put_user(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(username): Path<String>,
    JsonBody(body): JsonBody<UserBody>,
) -> ApiResult<StatusCode> {
    check_username(&username)?;
    let hash = match body.password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };
    let created =
        store::ui::put_user(&s.db, &username, body.role, hash.as_deref(), store::now()).await?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

/// Delete a web-UI user and end its sessions.
#[utoipa::path(delete, path = "/airlock/control/users/{username}", tag = "Airlock Control",
    params(("username" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn delete_user(
    State(s): State<AppState>,
    _: AdminCaller,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    store::ui::delete_user(&s.db, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of the grid.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridParams {
    /// Runs on the page (1..=100).
    #[serde(default = "default_grid_limit")]
    #[param(default = 25, minimum = 1, maximum = 100)]
    limit: u32,
    /// Newest runs to skip.
    #[serde(default)]
    #[param(default = 0)]
    offset: u32,
}

fn default_grid_limit() -> u32 {
    25
}

/// A page of a DAG's grid: its tasks (each after its upstreams) × its runs (newest first), one
/// state per cell; a mapped task's cell counts its map indexes by state.
#[utoipa::path(get, path = "/airlock/control/dags/{dag_id}/grid", tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"), GridParams),
    responses(
        (status = 200, description = "The grid", body = Grid),
        (status = 400, description = "A limit out of range", body = HTTPExceptionResponse),
        (status = 404, description = "No such DAG", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn grid(
    State(s): State<AppState>,
    _: Viewer,
    Path(dag_id): Path<String>,
    Query(q): Query<GridParams>,
) -> ApiResult<Json<Grid>> {
    Ok(Json(
        store::ui::grid(&s.db, &dag_id, q.limit, q.offset).await?,
    ))
}

/// Query naming a map index.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MapIndexParam {
    /// Map index (−1: not mapped).
    #[serde(default = "unmapped")]
    #[param(default = -1, minimum = -1)]
    map_index: i64,
}

fn unmapped() -> i64 {
    -1
}

/// A task instance's page: where it is, its tries, its rendered fields and what it is
/// deferred on.
#[utoipa::path(get, path = "/airlock/control/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/details",
    tag = "Airlock Control",
    params(("dag_id" = String, Path, description = "DAG id"),
           ("run_id" = String, Path, description = "Run id"),
           ("task_id" = String, Path, description = "Task id"),
           MapIndexParam),
    responses(
        (status = 200, description = "The task instance", body = TaskInstancePage),
        (status = 404, description = "No such task instance", body = HTTPExceptionResponse)),
    security(("JWTBearer" = [])))]
pub async fn task_instance_page(
    State(s): State<AppState>,
    _: Viewer,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(q): Query<MapIndexParam>,
) -> ApiResult<Json<TaskInstancePage>> {
    if q.map_index < -1 {
        return Err(StoreError::invalid(
            "invalid_map_index",
            format!("map_index is -1 or more, not {}", q.map_index),
        )
        .into());
    }
    Ok(Json(
        store::ui::task_instance_page(&s.db, &dag_id, &run_id, &task_id, q.map_index).await?,
    ))
}

/// Live triggerers and executors (with their slots) and the triggers deferred tasks wait on.
#[utoipa::path(get, path = "/airlock/control/cluster", tag = "Airlock Control",
    responses((status = 200, description = "The cluster", body = Cluster)),
    security(("JWTBearer" = [])))]
pub async fn cluster(State(s): State<AppState>, _: Viewer) -> ApiResult<Json<Cluster>> {
    Ok(Json(
        store::ui::cluster(&s.db, store::now(), s.ui.alive_within).await?,
    ))
}
