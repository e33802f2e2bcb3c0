//! The one place where failures become HTTP answers.
//!
//! Every error body is `{"detail": ...}` with `content-type: application/json` (Airflow's client
//! only parses errors with exactly that content type): application errors carry
//! `{"reason", "message", ...}`, validation errors FastAPI's list of `{loc, msg, type}`.

use airlock_protocol::api::ValidationError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use airlock_store::error::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is malformed (body, query or path).
    #[error("invalid request")]
    Validation(Vec<ValidationError>),
    /// No bearer token.
    #[error("Missing auth token")]
    MissingToken,
    /// A bearer token that did not validate.
    #[error("Invalid auth token: {0}")]
    InvalidToken(String),
    /// A valid token that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// An `airflow-api-version` the server does not implement.
    #[error("unsupported API version {0:?}")]
    UnsupportedVersion(String),
    /// A body larger than the configured limit.
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body did not arrive within `--body-read-timeout`.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// Something on the server side failed (not the database).
    #[error("{0}")]
    Internal(String),
    /// No valid sign-in: a wrong password, or a web-UI session that ended (401).
    #[error("{message}")]
    Unauthenticated {
        /// Stable reason code.
        reason: &'static str,
        /// For people.
        message: String,
    },
    /// A signed-in caller who may not do this: the role does not allow it, or a state-changing
    /// request lacks its CSRF proof (403).
    #[error("{message}")]
    Denied {
        /// Stable reason code.
        reason: &'static str,
        /// For people.
        message: String,
    },
    /// A request the route refuses before looking anything up.
    #[error("{message}")]
    BadRequest {
        /// Stable reason code.
        reason: &'static str,
        /// For people.
        message: String,
    },
}

impl From<airlock_store::DbError> for ApiError {
    fn from(e: airlock_store::DbError) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::from(e))
    }
}

impl ApiError {
    /// A single validation failure at `loc`.
    pub fn invalid(loc: Vec<Value>, kind: &str, msg: impl Into<String>) -> Self {
        Self::Validation(vec![ValidationError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        }])
    }
}

fn detail(reason: &str, message: &str) -> Value {
    json!({ "reason": reason, "message": message })
}

/// Whether a database failure is worth retrying: the database is busy (SQLite's lock, a
/// PostgreSQL serialization failure, no free connection in time) or unreachable (connections
/// refused, dropped or not accepted).
fn retryable(e: &airlock_store::DbError) -> Option<(&'static str, &'static str)> {
    const BUSY: (&str, &str) = ("database_busy", "The database is busy; retry the request");
    const DOWN: (&str, &str) = (
        "database_unavailable",
        "The database cannot be reached right now; retry the request",
    );
    let airlock_store::DbError::Sqlx(e) = e else {
        return None;
    };
    match e {
        sqlx::Error::PoolTimedOut => Some(BUSY),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Some(DOWN),
        sqlx::Error::Database(d) => {
            let m = d.message();
            let code = d.code();
            let code = code.as_deref().unwrap_or_default();
            if m.contains("database is locked") || m.contains("could not serialize") {
                Some(BUSY)
            } else if code.starts_with("08") // connection exception
                || code.starts_with("53") // insufficient resources (too many connections)
                || code.starts_with("57P") // admin shutdown, cannot connect now
                || (code == "55000" && m.contains("accepting connections"))
            {
                Some(DOWN)
            } else {
                None
            }
        }
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Store(e) => match e {
                StoreError::NotFound { message } => {
                    (StatusCode::NOT_FOUND, detail("not_found", message))
                }
                StoreError::Archived { message } => {
                    (StatusCode::GONE, detail("not_found", message))
                }
                StoreError::Conflict {
                    reason,
                    message,
                    extra,
                } => {
                    let mut d = detail(reason, message);
                    if let Some(obj) = d.as_object_mut() {
                        obj.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                    (StatusCode::CONFLICT, d)
                }
                StoreError::Rejected { reason, message } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, detail(reason, message))
                }
                StoreError::InvalidArgument { reason, message } => {
                    (StatusCode::BAD_REQUEST, detail(reason, message))
                }
                StoreError::Db(db) if let Some((reason, message)) = retryable(db) => {
                    tracing::warn!(error = %db, "{message}");
                    (StatusCode::SERVICE_UNAVAILABLE, detail(reason, message))
                }
                StoreError::Db(db) => {
                    tracing::error!(error = %db, "database error");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        detail("database_error", "Database error"),
                    )
                }
            },
            ApiError::Validation(errors) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({ "detail": errors })),
                )
                    .into_response();
            }
            ApiError::MissingToken => {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "detail": "Missing auth token" })),
                )
                    .into_response();
            }
            ApiError::InvalidToken(why) => {
                return (
                    StatusCode::FORBIDDEN,
                    Json(json!({ "detail": format!("Invalid auth token: {why}") })),
                )
                    .into_response();
            }
            ApiError::Forbidden(why) => {
                return (StatusCode::FORBIDDEN, Json(json!({ "detail": why }))).into_response();
            }
            ApiError::UnsupportedVersion(got) => (
                StatusCode::BAD_REQUEST,
                detail(
                    "unsupported_api_version",
                    &format!(
                        "Airlock implements Execution API version {} only (the \
                         airflow-api-version header may also be omitted); got {got:?}",
                        airlock_protocol::API_VERSION
                    ),
                ),
            ),
            ApiError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    detail("internal_error", why),
                )
            }
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                detail(
                    "payload_too_large",
                    &format!("request body exceeds the limit of {limit} bytes"),
                ),
            ),
            ApiError::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                detail(
                    "body_read_timeout",
                    "the request body did not arrive within the server's body-read timeout",
                ),
            ),
            ApiError::BadRequest { reason, message } => {
                (StatusCode::BAD_REQUEST, detail(reason, message))
            }
            ApiError::Unauthenticated { reason, message } => {
                (StatusCode::UNAUTHORIZED, detail(reason, message))
            }
            ApiError::Denied { reason, message } => {
                (StatusCode::FORBIDDEN, detail(reason, message))
            }
        };
        (status, Json(json!({ "detail": body }))).into_response()
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
