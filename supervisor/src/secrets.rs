//! Keeping secrets away from the runner and out of the logs.
//!
//! * [`take_token`] reads the API token from `AIRLOCK_TOKEN` or the file `AIRLOCK_TOKEN_FILE`
//!   (which it then removes, so that task code running as the same user cannot read it later)
//!   and wipes the variable's bytes from this process's environment block, so that
//!   `/proc/<pid>/environ` no longer shows it.
//! * [`Redactor`] replaces known secrets in task log lines.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// Why no token could be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Neither variable is set.
    #[error(
        "no API token: set AIRLOCK_TOKEN or AIRLOCK_TOKEN_FILE (never pass it on the command line)"
    )]
    Missing,
    /// The token file cannot be read.
    #[error("cannot read the token file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token is empty.
    #[error("the API token is empty")]
    Empty,
}

/// The API token, and a warning if its file could not be removed.
pub struct Token {
    /// The token.
    pub token: String,
    /// Why `AIRLOCK_TOKEN_FILE` is still there (it must then be unreadable by task users).
    pub left_behind: Option<String>,
}

/// Reads the API token and removes it from the environment and the disk (see the module docs).
///
/// # Safety
/// Call before any other thread exists (first thing in `main`).
pub unsafe fn take_token() -> Result<Token, TokenError> {
    // SAFETY: forwarded caller contract.
    let from_env = unsafe { airlock_process::take_env(|name| name == "AIRLOCK_TOKEN") }
        .pop()
        .map(|(_, token)| token);
    let mut left_behind = None;
    let token = match (from_env, std::env::var_os("AIRLOCK_TOKEN_FILE")) {
        (Some(t), _) => t,
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let token = std::fs::read_to_string(&path).map_err(|source| TokenError::File {
                path: path.clone(),
                source,
            })?;
            if let Err(e) = std::fs::remove_file(&path) {
                left_behind = Some(format!(
                    "cannot remove the token file {} after reading it ({e}); make sure task \
                     users cannot read it",
                    path.display()
                ));
            }
            token
        }
        (None, None) => return Err(TokenError::Missing),
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    Ok(Token { token, left_behind })
}

/// Variables never passed to the runner, whatever `--pass-env` says.
pub const NEVER_PASSED: &[&str] = &[
    "AIRLOCK_TOKEN",
    "AIRLOCK_TOKEN_FILE",
    "AIRLOCK_DATABASE_URL",
    "AIRLOCK_JWT_SECRET",
    "AIRLOCK_JWT_PRIVATE_KEY",
    "AIRLOCK_ADMIN_TOKEN",
    "AIRLOCK_TRIGGER_KWARGS_KEY",
];

/// Variables the runner gets by default.
pub const PASSED_BY_DEFAULT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "RUST_BACKTRACE",
    "RUST_LOG",
];

/// Replaces known secrets with `***` in log text.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    secrets: BTreeSet<String>,
}

/// Shortest secret worth redacting (shorter ones would mangle ordinary text).
const MIN_SECRET_LEN: usize = 4;

impl Redactor {
    /// Remembers a secret (and every string inside it, for JSON structures).
    pub fn add(&mut self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.add_str(s),
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.add(v)),
            serde_json::Value::Object(m) => m.values().for_each(|v| self.add(v)),
            _ => {}
        }
    }

    /// Remembers a secret string.
    pub fn add_str(&mut self, s: &str) {
        let s = s.trim();
        if s.chars().count() >= MIN_SECRET_LEN {
            self.secrets.insert(s.to_owned());
        }
    }

    /// Whether there is anything to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret replaced (longest first, so overlapping secrets go whole).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let mut by_len: Vec<&String> = self.secrets.iter().collect();
        by_len.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in by_len {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_value(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if self.secrets.iter().any(|x| s.contains(x.as_str())) => {
                *s = self.redact(s);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            serde_json::Value::Object(m) => m.values_mut().for_each(|i| self.redact_value(i)),
            _ => {}
        }
    }
}

/// Whether a Variable or field name looks sensitive (Airflow's list of names it masks).
pub fn is_sensitive_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "access_token",
        "api_key",
        "apikey",
        "authorization",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "secret",
        "token",
        "keyfile_dict",
        "service_account",
    ];
    let lower = name.to_ascii_lowercase();
    WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_longest_first_and_nested_values() {
        let mut r = Redactor::default();
        r.add(&serde_json::json!({"a": "hunter2", "b": ["hunter2hunter2", "ab"]}));
        assert_eq!(r.redact("pw=hunter2hunter2 and hunter2"), "pw=*** and ***");
        assert_eq!(r.redact("ab stays"), "ab stays", "too short to redact");
        let mut v = serde_json::json!({"msg": "token hunter2", "n": 1});
        r.redact_value(&mut v);
        assert_eq!(v["msg"], "token ***");
    }

    #[test]
    fn sensitive_names() {
        assert!(is_sensitive_name("db_PASSWORD"));
        assert!(is_sensitive_name("api_key"));
        assert!(!is_sensitive_name("row_count"));
    }
}
