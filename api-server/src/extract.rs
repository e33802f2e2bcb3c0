//! Request extractors whose rejections are FastAPI-shaped 422s (and 413 for oversized bodies)
//! instead of axum's plain-text defaults. They are also where untrusted input is first checked:
//! strict JSON (one document, objects where objects are expected), no NUL characters (PostgreSQL
//! text cannot hold them), and path parameters within the lengths the database can index.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
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

/// Longest path parameter, in bytes, for parameters [`max_param_len`] does not name.
const MAX_PARAM_LEN: usize = 1024;

/// Longest XCom key, in bytes (as Airflow's `String(512)`).
pub const MAX_XCOM_KEY_LEN: usize = 512;

/// The longest value accepted for the path parameter `name`, in bytes: ids are bounded like the
/// database columns they key (so that PostgreSQL's index-row limit is never reached).
fn max_param_len(name: &str) -> usize {
    use airlock_protocol::dag::MAX_ID_LEN;
    match name {
        "dag_id" | "run_id" | "task_id" | "connection_id" | "variable_key" | "bundle"
        | "executor_id" | "triggerer_id" => MAX_ID_LEN,
        // XCom keys, with room for the `/item/{offset}` and `/slice` sub-resources.
        "key" => MAX_XCOM_KEY_LEN + 32,
        _ => MAX_PARAM_LEN,
    }
}

fn nul_error(loc: Vec<Value>) -> ApiError {
    ApiError::invalid(
        loc,
        "string_contains_nul",
        "NUL characters (\\u0000) are not allowed in Airlock's API",
    )
}

/// Whether a JSON text holds an escaped NUL (`\u0000`) in one of its strings. Raw control
/// characters are invalid JSON anyway, so the escape is the only way a NUL arrives.
fn has_nul_escape(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            // Skip the escaped character (a `\\` must not start another escape).
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Splits `"end_date: datetime ... out of range"` into the field path (`["end_date"]`) and the
/// rest, for errors of payloads deserialized from a buffered value (see `TIStatePayload`).
fn field_prefix(msg: &str) -> Option<(Vec<Value>, &str)> {
    let (path, rest) = msg.split_once(": ")?;
    let ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let fields: Vec<&str> = path.split('.').collect();
    fields
        .iter()
        .all(|f| ident(f))
        .then(|| (fields.iter().map(|f| json!(f)).collect(), rest))
}

/// Parses one JSON document into `T`: NUL characters and anything after the document are
/// refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul_escape(bytes) {
        return Err(nul_error(vec![json!("body")]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        Ok(v) => v,
        Err(e) => {
            let inner = e.inner();
            let msg = inner.to_string();
            let mut at = loc("body", e.path());
            // Payloads parsed from a buffered value name the field in the message instead.
            let msg = match field_prefix(&msg) {
                Some((fields, rest)) if at.len() == 1 => {
                    at.extend(fields);
                    rest.to_owned()
                }
                _ => msg,
            };
            let kind = if inner.is_syntax() || inner.is_eof() {
                "json_invalid"
            } else {
                kind_of(&msg)
            };
            return Err(ApiError::invalid(at, kind, msg));
        }
    };
    de.end().map_err(|e| {
        ApiError::invalid(
            vec![json!("body")],
            "json_invalid",
            format!("trailing data after the JSON document: {e}"),
        )
    })?;
    Ok(value)
}

/// Parses a JSON body that must be an object (a request model) into `T`.
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::invalid(
            vec![json!("body")],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        ));
    }
    parse_json(bytes)
}

/// The request-body limit, put into request extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body that is an object (a request model); see [`parse_json_object`].
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_rejection(r, limit))?;
        parse_json_object(&bytes).map(JsonBody)
    }
}

/// Whether reading the body failed because the client was too slow (`--body-read-timeout`).
fn timed_out(r: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(r);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Maps a failure to read the body: 413 past the limit, 408 when too slow, 422 otherwise.
pub fn body_rejection(r: BytesRejection, limit: usize) -> ApiError {
    if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(limit)
    } else if timed_out(&r) {
        ApiError::BodyTimeout
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
        if has_encoded_nul(query) {
            return Err(nul_error(vec![json!("query")]));
        }
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
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            for (name, value) in &raw {
                if value.contains('\0') {
                    return Err(nul_error(vec![json!("path"), json!(name)]));
                }
                let max = max_param_len(name);
                if value.len() > max {
                    return Err(ApiError::invalid(
                        vec![json!("path"), json!(name)],
                        "string_too_long",
                        format!("{name} must have at most {max} bytes (got {})", value.len()),
                    ));
                }
            }
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r: PathRejection| {
                ApiError::invalid(vec![json!("path")], "value_error", r.body_text())
            })
    }
}

/// Whether a query string holds a percent-encoded NUL.
fn has_encoded_nul(query: &str) -> bool {
    query
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_escaped_nuls_only_in_escapes() {
        assert!(has_nul_escape(br#"{"k": "a\u0000b"}"#));
        assert!(!has_nul_escape(br#"{"k": "a\\u0000b"}"#));
        assert!(has_nul_escape(br#"{"k": "a\\\u0000b"}"#));
        assert!(has_nul_escape(br#"{"k": "\u00001"}"#));
        assert!(!has_nul_escape(br#"{"k": "u0000"}"#));
    }

    #[test]
    fn one_document_only() {
        assert!(parse_json::<Value>(br#"{"a": 1} {"b": 2}"#).is_err());
        assert!(parse_json::<Value>(br#"{"a": 1}  "#).is_ok());
        assert!(parse_json_object::<Value>(br#"[1, 2]"#).is_err());
        assert!(parse_json_object::<Value>(br#" {"a": [1]}"#).is_ok());
    }
}
