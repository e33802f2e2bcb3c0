use serde::{Deserialize, Serialize};

/// A Variable (`GET /variables/{key}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariableResponse {
    /// The key.
    pub key: String,
    /// The value (a string; JSON values are stored serialised).
    #[cfg_attr(feature = "schema", schema(required = true))]
    #[serde(deserialize_with = "super::required_nullable")]
    pub value: Option<String>,
}

/// The body of `PUT /variables/{key}` (note: `val`, not `value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariablePostBody {
    /// The new value.
    #[cfg_attr(feature = "schema", schema(required = true))]
    #[serde(deserialize_with = "super::required_nullable")]
    pub val: Option<String>,
    /// An optional description.
    #[serde(default)]
    pub description: Option<String>,
}

/// A page of Variable keys (`GET /variables/keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariableKeysResponse {
    /// Keys on this page, sorted.
    pub keys: Vec<String>,
    /// How many keys match in total.
    pub total_entries: i64,
}
