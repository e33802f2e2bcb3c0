//! Request and response bodies of the Task Execution API.
//!
//! Field names, optionality and strictness follow Airflow's `2026-06-30` OpenAPI document: bodies
//! the reference marks `additionalProperties: false` deny unknown fields, keys the reference marks
//! required but nullable must be present (see [`required_nullable`]).

mod airlock;
mod asset;
mod connection;
mod control;
mod dag;
mod dag_run;
mod error;
mod operate;
mod task_instance;
mod triggerer;
mod ui;
mod variable;
mod xcom;

pub use airlock::*;
pub use asset::*;
pub use connection::*;
pub use control::*;
pub use dag::*;
pub use dag_run::*;
pub use error::*;
pub use operate::*;
pub use task_instance::*;
pub use triggerer::*;
pub use ui::*;
pub use variable::*;
pub use xcom::*;

/// A JSON object (`dict[str, Any]` on the Python side).
pub type JsonObject = std::collections::BTreeMap<String, serde_json::Value>;

/// Deserializes an `Option<T>` whose key must be present (its value may be null).
///
/// Plain `Option<T>` fields treat a missing key as `None`; Airflow's models refuse it.
pub fn required_nullable<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d)
}

// `$text` is a `tt` for the reason given at `string_enum!` in `state.rs`.
macro_rules! literal_state {
    ($(#[$meta:meta])* $name:ident = $text:tt) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
        pub enum $name {
            /// The only accepted value.
            #[default]
            #[serde(rename = $text)]
            Value,
        }
    };
}
pub(crate) use literal_state;
