//! Exit codes, and how a failed command tells the user what went wrong: one line, in words,
//! with what to do about it; never a stack of tracing output.

use airlock_api_client::ClientError;

use super::connect::ControlArgs;

// 0: the command did what was asked.

/// What the command ran or followed failed (a run that ended `failed`, `dags test`).
pub const FAILED: u8 = 1;
/// The input is invalid: a bad argument, or a request the server refused as malformed (400,
/// 422). Argument errors clap finds exit 2 too.
pub const INVALID: u8 = 2;
/// What was named does not exist (404).
pub const NOT_FOUND: u8 = 3;
/// The request is refused in the current state (409): clearing a running task, cancelling a
/// finished run.
pub const CONFLICT: u8 = 4;
/// The API server cannot be reached.
pub const UNREACHABLE: u8 = 5;
/// No valid admin token (missing, expired, or not `admin`: 401, 403).
pub const UNAUTHORISED: u8 = 6;
/// Anything else (the server failed, the local machine failed).
pub const ERROR: u8 = 9;

/// A failure the CLI found itself, with its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// The exit code.
    pub code: u8,
    /// For the user.
    pub message: String,
}

impl CliError {
    /// Invalid input ([`INVALID`]).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: INVALID,
            message: message.into(),
        }
    }

    /// No usable admin token ([`UNAUTHORISED`]).
    pub fn unauthorised(message: impl Into<String>) -> Self {
        Self {
            code: UNAUTHORISED,
            message: message.into(),
        }
    }
}

/// Prints `e` for the user and returns the exit code it maps to. `conn` says where the API was
/// looked for, for "cannot reach" messages.
pub fn report(e: &anyhow::Error, conn: Option<&ControlArgs>) -> u8 {
    if let Some(c) = e.chain().find_map(|c| c.downcast_ref::<CliError>()) {
        eprintln!("error: {}", c.message);
        return c.code;
    }
    let Some(ce) = e.chain().find_map(|c| c.downcast_ref::<ClientError>()) else {
        eprintln!("error: {e:#}");
        return ERROR;
    };
    match ce {
        ClientError::Transport { message, .. } => {
            match conn {
                Some(conn) => eprintln!("error: {} (why: {message})", unreachable(conn)),
                None => eprintln!("error: the Airlock API cannot be reached: {message}"),
            }
            UNREACHABLE
        }
        ClientError::Status { status, .. } => {
            let said = server_message(ce);
            let (code, hint) = match status {
                401 => (
                    UNAUTHORISED,
                    " (the admin token is invalid or expired: restart `airlock standalone`, \
                     which writes a new one, or mint one with `api-server admin mint-token \
                     --scope admin`)",
                ),
                403 => (UNAUTHORISED, " (this command needs an admin-scope token)"),
                404 => (NOT_FOUND, ""),
                409 => (CONFLICT, ""),
                400 | 413 | 422 => (INVALID, ""),
                _ => (ERROR, ""),
            };
            eprintln!("error: {said}{hint}");
            code
        }
        ClientError::Decode { .. } | ClientError::Config(_) => {
            eprintln!("error: {e:#}");
            ERROR
        }
    }
}

/// What the server said, in its words: `detail.message`, or `detail` when it is a string.
fn server_message(e: &ClientError) -> String {
    match e.detail() {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(d) => d
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| e.to_string(), str::to_owned),
        None => e.to_string(),
    }
}

/// "Cannot reach the API at ..., found ...; start it with ...".
fn unreachable(conn: &ControlArgs) -> String {
    let (url, source) = conn.api_url_with_source();
    format!(
        "cannot reach the Airlock API at {url} ({source}). Start it with `airlock standalone` \
         (data directory {home}; set AIRLOCK_HOME or --home to use another), or point \
         AIRLOCK_API_URL or --api-url at a running server.",
        home = conn.home.display()
    )
}
