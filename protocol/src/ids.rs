//! Identifiers on the wire: UUIDs always travel as hyphenated strings (the `uuid` crate would
//! write raw bytes to non-human-readable formats such as msgpack; Airflow writes strings).

use serde::Serializer;
use uuid::Uuid;

/// `#[serde(serialize_with = "crate::ids::uuid_str")]` for `Uuid` fields.
pub fn uuid_str<S: Serializer>(u: &Uuid, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&u.hyphenated())
}
