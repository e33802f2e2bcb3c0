//! Request extractors whose rejections are FastAPI-shaped 422s (and 413 for oversized bodies)
//! instead of axum's plain-text defaults.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;

fn kind_of(msg: &str) -> &'static str {
    if msg.starts_with("missing field") {
        "missing"
    } else if msg.starts_with("unknown field") {
        "extra_forbidden"
    } else if msg.starts_with("invalid type") || msg.starts_with("invalid length") {
        "type_error"
    } else {
        "value_error"
    }
}

fn loc(root: &str, path: &serde_path_to_error::Path) -> Vec<Value> {
    let mut loc = vec![json!(root)];
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => loc.push(json!(index)),
            serde_path_to_error::Segment::Map { key } => loc.push(json!(key)),
            serde_path_to_error::Segment::Enum { variant } => loc.push(json!(variant)),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    loc
}

/// Parses a JSON body into `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let inner = e.inner();
            let msg = inner.to_string();
            let kind = if inner.is_syntax() || inner.is_eof() {
                "json_invalid"
            } else {
                kind_of(&msg)
            };
            Err(ApiError::invalid(loc("body", e.path()), kind, msg))
        }
    }
}

/// The request-body limit, put into request extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_rejection(r, limit))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Maps a failure to read the body: 413 past the limit, 422 otherwise.
pub fn body_rejection(r: BytesRejection, limit: usize) -> ApiError {
    if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(limit)
    } else {
        ApiError::invalid(vec![json!("body")], "body_error", r.body_text())
    }
}

/// A raw request body, with the same 413 as [`JsonBody`].
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|r| body_rejection(r, limit))
    }
}

/// Query parameters (lists as repeated keys: `?run_ids=a&run_ids=b`).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_html_form::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Query)
            .map_err(|e| {
                let msg = e.inner().to_string();
                ApiError::invalid(loc("query", e.path()), kind_of(&msg), msg)
            })
    }
}

/// Path parameters.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r: PathRejection| {
                ApiError::invalid(vec![json!("path")], "value_error", r.body_text())
            })
    }
}
