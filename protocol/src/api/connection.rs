use serde::{Deserialize, Serialize};

/// A Connection (`GET /connections/{id}`); all eight keys are always present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ConnectionResponse {
    /// The connection id.
    pub conn_id: String,
    /// The type (`postgres`, `http`, ...).
    pub conn_type: String,
    /// Host name.
    pub host: Option<String>,
    /// Schema (database name for SQL connections).
    pub schema: Option<String>,
    /// Login.
    pub login: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Port.
    pub port: Option<i64>,
    /// Extra settings as a JSON string.
    pub extra: Option<String>,
}
