use serde::{Deserialize, Serialize};

/// The body of every application error: `{"detail": ...}` (a string or an object with `reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct HTTPExceptionResponse {
    /// A message, or `{"reason": ..., "message": ..., ...}`.
    pub detail: serde_json::Value,
}

/// One validation failure, in FastAPI's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ValidationError {
    /// Where the bad value is: `["body", "field", 0]`, `["query", "name"]`, ...
    pub loc: Vec<serde_json::Value>,
    /// What is wrong, for people.
    pub msg: String,
    /// A stable machine-readable kind (`missing`, `extra_forbidden`, `json_invalid`, ...).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The body of a 422 answer to a malformed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct HTTPValidationError {
    /// Every problem found.
    pub detail: Vec<ValidationError>,
}
