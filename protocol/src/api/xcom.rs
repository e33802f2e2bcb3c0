use serde::{Deserialize, Serialize};

/// An XCom value (`GET /xcoms/...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct XComResponse {
    /// The XCom key.
    pub key: String,
    /// The stored JSON value.
    pub value: serde_json::Value,
}
