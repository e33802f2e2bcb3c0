//! The `airflow-api-version` header: absent or `2026-06-30` is served; anything else is refused
//! with a 400 naming the supported version (Airflow would silently downgrade the API instead).

use airlock_protocol::{API_VERSION, API_VERSION_HEADER};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Checks the version header and echoes the served version on the response.
pub async fn check_api_version(req: Request, next: Next) -> Response {
    if let Some(v) = req.headers().get(API_VERSION_HEADER) {
        let text = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if text.trim() != API_VERSION {
            return ApiError::UnsupportedVersion(text).into_response();
        }
    }
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(API_VERSION_HEADER, HeaderValue::from_static(API_VERSION));
    resp
}
