//! How CLI commands reach the control API: URL and admin token.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exit::CliError;
use airlock_api_client::{ApiClient, ClientConfig, RetryPolicy};

/// The file `airlock standalone` writes its API URL to.
pub const URL_FILE: &str = "standalone.url";
/// The file `airlock standalone` writes an admin token to.
pub const TOKEN_FILE: &str = "admin-token";
/// Where the API is when nothing says otherwise.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8080/execution";

/// Where the server is and how to authenticate.
#[derive(Debug, Clone, clap::Args)]
pub struct ControlArgs {
    /// Data directory (where `airlock standalone` leaves its URL and an admin token).
    #[arg(long, env = "AIRLOCK_HOME", default_value = ".airlock", global = true)]
    pub home: PathBuf,
    /// Base URL of the API. Default: the URL of the `airlock standalone` using the data
    /// directory, else http://127.0.0.1:8080/execution.
    #[arg(long, env = "AIRLOCK_API_URL", global = true)]
    pub api_url: Option<String>,
    /// File holding an admin token. Default: `<home>/admin-token`. The token itself may be
    /// given in AIRLOCK_ADMIN_TOKEN instead (never as a flag: `ps` shows flags).
    #[arg(long, env = "AIRLOCK_ADMIN_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
}

/// `AIRLOCK_ADMIN_TOKEN`, as `main` took it out of the environment (see
/// `airlock_process::take_env`).
static ENV_TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Hands over the admin token `main` took out of the environment.
pub fn provide_env_token(token: String) {
    let _ = ENV_TOKEN.set(token);
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

impl ControlArgs {
    /// The API URL to use.
    pub fn api_url(&self) -> String {
        self.api_url_with_source().0
    }

    /// The API URL to use, and where it came from (for messages).
    pub fn api_url_with_source(&self) -> (String, String) {
        if let Some(url) = &self.api_url {
            return (url.clone(), "from AIRLOCK_API_URL or --api-url".to_owned());
        }
        let file = self.home.join(URL_FILE);
        match read_trimmed(&file) {
            Some(url) => (url, format!("from {}", file.display())),
            None => (
                DEFAULT_API_URL.to_owned(),
                format!(
                    "the default: AIRLOCK_API_URL is not set and there is no {}",
                    file.display()
                ),
            ),
        }
    }

    /// The admin token.
    pub fn token(&self) -> anyhow::Result<String> {
        if let Some(t) = ENV_TOKEN.get()
            && !t.trim().is_empty()
        {
            return Ok(t.trim().to_owned());
        }
        let path = self
            .token_file
            .clone()
            .unwrap_or_else(|| self.home.join(TOKEN_FILE));
        read_trimmed(&path).ok_or_else(|| {
            CliError::unauthorised(format!(
                "no admin token: {} is missing or empty. Start `airlock standalone` (it writes \
                 one; data directory {}), or mint one with `api-server admin mint-token --scope \
                 admin --subject <name>` and pass it in AIRLOCK_ADMIN_TOKEN or --token-file",
                path.display(),
                self.home.display()
            ))
            .into()
        })
    }

    /// A client for the control API.
    pub fn client(&self) -> anyhow::Result<ApiClient> {
        let token = match self.token() {
            Ok(t) => t,
            // Neither a URL nor a token: nothing was ever started with this data directory.
            Err(_) if self.api_url.is_none() && !self.home.join(URL_FILE).exists() => {
                return Err(CliError {
                    code: super::exit::UNREACHABLE,
                    message: format!(
                        "no `airlock standalone` is running with data directory {home} (it has \
                         no {URL_FILE} or {TOKEN_FILE}). Start one with `airlock standalone`, \
                         set AIRLOCK_HOME or --home to the directory yours uses, or point \
                         AIRLOCK_API_URL at a server (with AIRLOCK_ADMIN_TOKEN).",
                        home = self.home.display()
                    ),
                }
                .into());
            }
            Err(e) => return Err(e),
        };
        let cfg = ClientConfig {
            timeout: Duration::from_secs(30),
            // A command someone waits for says at once that the server is away; commands that
            // follow a run ride out restarts on their own terms (`--wait`, `--follow`).
            retry: RetryPolicy::outage(Duration::from_secs(2)),
            ..ClientConfig::new(self.api_url())
        };
        Ok(ApiClient::new(cfg, token)?)
    }
}
