//! The HTTP core: headers, token refresh, retries.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use airlock_protocol::{API_VERSION, API_VERSION_HEADER, REFRESHED_TOKEN_HEADER};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ClientError;
use airlock_process::backoff::{Backoff, RetryPolicy};

/// Characters escaped in a path segment; `/` is kept (XCom and Variable keys may contain it, and
/// the server reads the rest of the path for them).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// An error and its causes, outermost first: reqwest's own message ("error sending request")
/// hides why (refused, a certificate not trusted, ...).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Escapes one path segment.
pub(crate) fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:8080/execution`.
    pub base_url: String,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// How retryable failures (network errors, 5xx) are retried.
    pub retry: RetryPolicy,
    /// `User-Agent`.
    pub user_agent: String,
}

impl ClientConfig {
    /// Defaults for `base_url`: 10 s per attempt, retried through an outage of up to
    /// [`DEFAULT_OUTAGE_BUDGET`](airlock_process::backoff::DEFAULT_OUTAGE_BUDGET).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            user_agent: concat!("airlock/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// One API call as an observer sees it: all its attempts, from the first to the answer.
#[derive(Debug)]
pub struct CallRecord<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path under the base URL.
    pub path: &'a str,
    /// When the first attempt started.
    pub started: std::time::SystemTime,
    /// When the answer (or the last failure) came.
    pub ended: std::time::SystemTime,
    /// The answer's status, if one came.
    pub status: Option<u16>,
    /// Attempts made (more than one when retried).
    pub attempts: u32,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Told of every API call a client makes (the supervisor's trace records them as spans).
pub trait CallObserver: Send + Sync {
    /// `call` ended (successfully or not).
    fn finished(&self, call: &CallRecord<'_>);
}

/// A client bound to one API server and one (refreshing) token.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Arc<RwLock<String>>,
    cfg: ClientConfig,
    observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl ApiClient {
    /// A client for `cfg.base_url` authenticating with `token`.
    pub fn new(cfg: ClientConfig, token: impl Into<String>) -> Result<Self, ClientError> {
        let base = cfg.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "API URL must be http(s)://..., got {base:?}"
            )));
        }
        let http = airlock_process::http::client_builder_for(&base)
            .map_err(|e| ClientError::Config(e.to_string()))?
            .timeout(cfg.timeout)
            .user_agent(cfg.user_agent.clone())
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Self {
            http,
            base,
            token: Arc::new(RwLock::new(token.into())),
            cfg,
            observer: None,
        })
    }

    /// This client, telling `observer` of every call (clones made from it afterwards too).
    pub fn observed_by(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// A client sharing this one's connection pool and token whose attempts may take `timeout`
    /// (e.g. long polls).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        let mut c = self.clone();
        c.cfg.timeout = timeout;
        c
    }

    /// A client sharing this one's connection pool and token, retrying as `retry` says (e.g.
    /// [`RetryPolicy::once`] for heartbeats, which repeat anyway).
    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        let mut c = self.clone();
        c.cfg.retry = retry;
        c
    }

    /// The token currently in use.
    pub fn token(&self) -> String {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }

    fn set_token(&self, token: &str) {
        if let Ok(mut t) = self.token.write() {
            *t = token.to_owned();
        }
    }

    /// Sends one request (with retries) and returns the successful answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.base, path);
        let started = std::time::SystemTime::now();
        let mut backoff: Option<Backoff> = None;
        let mut attempts = 0u32;
        let result = loop {
            attempts = attempts.saturating_add(1);
            match self.attempt(&method, &url, path, query, body.clone()).await {
                Err(e) if e.is_retryable() => {
                    let b = backoff.get_or_insert_with(|| self.cfg.retry.start());
                    let Some(delay) = b.next_delay() else {
                        break Err(e);
                    };
                    tracing::warn!(%method, path, failing_for = ?b.elapsed(), error = %e, "API call failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                other => break other,
            }
        };
        if let Some(observer) = &self.observer {
            observer.finished(&CallRecord {
                method: method.as_str(),
                path,
                started,
                ended: std::time::SystemTime::now(),
                status: match &result {
                    Ok(answer) => Some(answer.status),
                    Err(e) => e.status(),
                },
                attempts,
                error: result.as_ref().err().map(ToString::to_string),
            });
        }
        result
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(self.cfg.timeout)
            .bearer_auth(self.token())
            .header(API_VERSION_HEADER, API_VERSION)
            .header("correlation-id", uuid::Uuid::now_v7().to_string());
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        let resp = req.send().await.map_err(|e| ClientError::Transport {
            method: method.to_string(),
            path: path.to_owned(),
            message: with_causes(&e),
            kind: if e.is_connect() {
                "connect"
            } else if e.is_timeout() {
                "timeout"
            } else {
                "request"
            },
        })?;
        if let Some(t) = resp
            .headers()
            .get(REFRESHED_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            self.set_token(t);
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
            method: method.to_string(),
            path: path.to_owned(),
            message: e.to_string(),
            kind: "request",
        })?;
        if status.is_client_error() || status.is_server_error() {
            let detail = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("detail").cloned())
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            return Err(ClientError::Status {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                detail,
            });
        }
        Ok(Answer {
            status: status.as_u16(),
            headers,
            body: bytes.to_vec(),
        })
    }

    /// Sends a JSON body (if any) and decodes a JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Decode {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let answer = self.send(method, path, query, body).await?;
        serde_json::from_slice(&answer.body).map_err(|e| ClientError::Decode {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Sends a JSON body (if any) and ignores the answer's body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Answer, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Decode {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        self.send(method, path, query, body).await
    }
}
