//! Variables and Connections from the server's environment, as Airflow's `AIRFLOW_VAR_<KEY>` and
//! `AIRFLOW_CONN_<ID>`: `AIRLOCK_VAR_<KEY>` holds a Variable's value and `AIRLOCK_CONN_<ID>` a
//! Connection, as a URI (`postgres://user:pass@host:5432/db?sslmode=require`) or as JSON
//! (`{"conn_type": "postgres", "host": ..., "extra": {...}}`). Names are matched in upper case,
//! so `AIRLOCK_VAR_FOO` answers for `foo`. They are read once, at start, and looked up before the
//! database; a value that cannot be read stops the server from starting.

use std::collections::HashMap;

use airlock_protocol::api::ConnectionResponse;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

const VAR_PREFIX: &str = "AIRLOCK_VAR_";
const CONN_PREFIX: &str = "AIRLOCK_CONN_";

/// Why an `AIRLOCK_CONN_*` variable cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name} is not a connection URI or JSON object: {why}")]
pub struct EnvSecretError {
    /// The variable.
    pub name: String,
    /// What is wrong.
    pub why: String,
}

/// Variables a binary took out of its environment at start (see [`provide`]).
static PROVIDED: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// Hands over the `AIRLOCK_VAR_*` and `AIRLOCK_CONN_*` variables a binary took out of its
/// environment (`airlock_process::take_env`) before starting the server in this process.
pub fn provide(vars: Vec<(String, String)>) {
    let _ = PROVIDED.set(vars);
}

/// What the environment provides.
#[derive(Debug, Default)]
pub struct EnvSecrets {
    variables: HashMap<String, String>,
    connections: HashMap<String, ConnectionResponse>,
}

impl EnvSecrets {
    /// What [`provide`] handed over, or else this process's environment.
    pub fn from_env() -> Result<Self, EnvSecretError> {
        match PROVIDED.get() {
            Some(vars) => Self::from_vars(vars.iter().cloned()),
            None => Self::from_vars(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
            ),
        }
    }

    /// Reads the given variables (names and values).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, EnvSecretError> {
        let mut out = Self::default();
        for (name, value) in vars {
            if let Some(key) = name.strip_prefix(VAR_PREFIX).filter(|k| !k.is_empty()) {
                out.variables.insert(key.to_uppercase(), value);
            } else if let Some(id) = name.strip_prefix(CONN_PREFIX).filter(|k| !k.is_empty()) {
                let conn =
                    parse_connection(&id.to_lowercase(), &value).map_err(|why| EnvSecretError {
                        name: name.clone(),
                        why,
                    })?;
                out.connections.insert(id.to_uppercase(), conn);
            }
        }
        Ok(out)
    }

    /// The value of Variable `key`, if the environment sets it.
    pub fn variable(&self, key: &str) -> Option<&str> {
        self.variables.get(&key.to_uppercase()).map(String::as_str)
    }

    /// Connection `conn_id`, if the environment sets it.
    pub fn connection(&self, conn_id: &str) -> Option<ConnectionResponse> {
        self.connections
            .get(&conn_id.to_uppercase())
            .map(|c| ConnectionResponse {
                conn_id: conn_id.to_owned(),
                ..c.clone()
            })
    }
}

fn decoded(s: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| format!("bad percent-encoding in {s:?}: {e}"))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A Connection from a URI or a JSON object, as Airflow reads them.
fn parse_connection(conn_id: &str, text: &str) -> Result<ConnectionResponse, String> {
    let text = text.trim();
    if text.starts_with('{') {
        return from_json(conn_id, text);
    }
    let url = url::Url::parse(text).map_err(|e| e.to_string())?;
    // As Airflow: `postgresql` is `postgres`, and dashes in a scheme are underscores.
    let conn_type = match url.scheme() {
        "postgresql" => "postgres".to_owned(),
        other => other.replace('-', "_"),
    };
    let mut query: Map<String, Value> = Map::new();
    let mut extra: Option<String> = None;
    for (k, v) in url.query_pairs() {
        if k == "__extra__" {
            extra = Some(v.into_owned());
        } else {
            query.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if extra.is_none() && !query.is_empty() {
        extra = Some(Value::Object(query).to_string());
    }
    Ok(ConnectionResponse {
        conn_id: conn_id.to_owned(),
        conn_type,
        host: url.host_str().map(decoded).transpose()?.and_then(non_empty),
        schema: non_empty(decoded(url.path().trim_start_matches('/'))?),
        login: non_empty(decoded(url.username())?),
        password: url.password().map(decoded).transpose()?,
        port: url.port().map(i64::from),
        extra,
    })
}

fn from_json(conn_id: &str, text: &str) -> Result<ConnectionResponse, String> {
    let v: Map<String, Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let string = |k: &str| -> Result<Option<String>, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{k} must be a string, not {other}")),
        }
    };
    let conn_type = string("conn_type")?.ok_or("conn_type is missing")?;
    let port = match v.get("port") {
        None | Some(Value::Null) => None,
        Some(p) => Some(
            p.as_i64()
                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
                .filter(|p| (0..=65535).contains(p))
                .ok_or_else(|| format!("port {p} is not a port number"))?,
        ),
    };
    let extra = match v.get("extra") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(obj @ Value::Object(_)) => Some(obj.to_string()),
        Some(other) => return Err(format!("extra must be an object or a string, not {other}")),
    };
    Ok(ConnectionResponse {
        conn_id: conn_id.to_owned(),
        conn_type,
        host: string("host")?,
        schema: string("schema")?,
        login: string("login")?,
        password: string("password")?,
        port,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<EnvSecrets, EnvSecretError> {
        EnvSecrets::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn variables_match_in_upper_case() {
        let e = env(&[
            ("AIRLOCK_VAR_GREETING", "hi"),
            ("AIRLOCK_VAR_", "x"),
            ("OTHER", "y"),
        ])
        .unwrap();
        assert_eq!(e.variable("greeting"), Some("hi"));
        assert_eq!(e.variable("GREETING"), Some("hi"));
        assert_eq!(e.variable("other"), None);
    }

    #[test]
    fn connections_from_uris_as_airflow_reads_them() {
        let e = env(&[(
            "AIRLOCK_CONN_WAREHOUSE",
            "postgresql://etl:p%40ss%2Fword@db.example:5433/orders?sslmode=require",
        )])
        .unwrap();
        let c = e.connection("warehouse").unwrap();
        assert_eq!(c.conn_id, "warehouse");
        assert_eq!(c.conn_type, "postgres");
        assert_eq!(c.host.as_deref(), Some("db.example"));
        assert_eq!(c.login.as_deref(), Some("etl"));
        assert_eq!(c.password.as_deref(), Some("p@ss/word"));
        assert_eq!(c.port, Some(5433));
        assert_eq!(c.schema.as_deref(), Some("orders"));
        assert_eq!(c.extra.as_deref(), Some(r#"{"sslmode":"require"}"#));
        let e = env(&[(
            "AIRLOCK_CONN_API",
            "google-cloud-platform://?__extra__=%7B%22project%22%3A+%22p%22%7D",
        )])
        .unwrap();
        let c = e.connection("api").unwrap();
        assert_eq!(c.conn_type, "google_cloud_platform");
        assert_eq!(c.extra.as_deref(), Some(r#"{"project": "p"}"#));
        assert_eq!(c.host, None);
    }

    #[test]
    fn connections_from_json() {
        let e = env(&[(
            "AIRLOCK_CONN_HTTP",
            r#"{"conn_type": "http", "host": "h", "port": "8080", "extra": {"a": 1}}"#,
        )])
        .unwrap();
        let c = e.connection("http").unwrap();
        assert_eq!((c.conn_type.as_str(), c.port), ("http", Some(8080)));
        assert_eq!(c.extra.as_deref(), Some(r#"{"a":1}"#));
        for bad in [
            r#"{"host": "h"}"#,
            r#"{"conn_type": "x", "port": 70000}"#,
            "not a uri",
        ] {
            let err = env(&[("AIRLOCK_CONN_BAD", bad)]).unwrap_err();
            assert_eq!(err.name, "AIRLOCK_CONN_BAD", "{bad}");
        }
    }
}
