use serde::{Deserialize, Serialize};

/// The body of every application error: `{"detail": ...}` (a string or an object with `reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct HTTPExceptionResponse {
    /// A message, or `{"reason": ..., "message": ..., ...}`.
    #[cfg_attr(feature = "schema", schema(schema_with = error_detail_schema))]
    pub detail: serde_json::Value,
}

/// `detail`: a message, or an [`ErrorDetail`].
#[cfg(feature = "schema")]
fn error_detail_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{Ref, RefOr};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(RefOr::Ref(Ref::from_schema_name("ErrorDetail")))
            .build(),
    )
}

/// An application error: a stable `reason` code for programs, a `message` for people, and
/// sometimes more fields (`previous_state`, `current_pid`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable reason code (`not_found`, `invalid_state`, `database_busy`, ...).
    pub reason: String,
    /// For people.
    pub message: String,
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
