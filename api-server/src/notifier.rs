//! The notifier service: delivers the notifications the scheduler pass records (the outbox in
//! `store::notifications`) as webhooks, at least once, each with its idempotency key.
//!
//! It is its own service so that a slow or dead endpoint never holds up a pass: the pass only
//! inserts rows. Attempts are leased (another replica's notifier skips a row until the lease
//! ends), retried with the common backoff whose attempt count is stored, so a restart neither
//! forgets a notification nor starts its backoff over, and given up after [`MAX_ATTEMPTS`].

use std::sync::Arc;
use std::time::Duration;

use airlock_process::backoff::RetryPolicy;
use airlock_protocol::api::ConnectionResponse;
use airlock_store::notifications::{Attempt, Pending, claim_due, next_due, record_attempt};
use airlock_store::notify::{Hub, Topic};
use airlock_store::{Db, cipher::SecretCipher};
use chrono::{DateTime, Utc};

use crate::env_secrets::EnvSecrets;

/// Attempts at one notification before it is given up (about 25 minutes of retries).
pub const MAX_ATTEMPTS: i64 = 12;
/// Spacing of attempts: 1 s, doubling, at most 5 minutes.
const RETRY: RetryPolicy = RetryPolicy {
    budget: Duration::MAX,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(300),
};
/// How long a claimed attempt keeps others off (longer than a request may take).
const LEASE: Duration = Duration::from_secs(30);
/// Longest wait for an endpoint's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Notifications claimed (and sent concurrently) at once.
const BATCH: i64 = 32;
/// Longest sleep without a wake-up (a bound on missed hints).
const POLL: Duration = Duration::from_secs(5);

/// Delivers notifications until shut down.
pub struct Notifier {
    db: Db,
    hub: Hub,
    cipher: Arc<SecretCipher>,
    env_secrets: Arc<EnvSecrets>,
    http: reqwest::Client,
}

impl Notifier {
    /// A notifier over `db`, reading Connections from the environment first, then the store.
    pub fn new(
        db: Db,
        hub: Hub,
        cipher: Arc<SecretCipher>,
        env_secrets: Arc<EnvSecrets>,
    ) -> Result<Self, String> {
        let http = airlock_process::http::client_builder()
            .map_err(|e| e.to_string())?
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("airlock-notifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            db,
            hub,
            cipher,
            env_secrets,
            http,
        })
    }

    /// Runs rounds of deliveries: when the pass records notifications, when one comes due, and
    /// at least every few seconds.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut recorded = self.hub.subscribe(Topic::Notifications);
        tokio::pin!(shutdown);
        loop {
            let wait = match self.round().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot deliver notifications now; trying again");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = recorded.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Delivers what is due; returns how long until the next is.
    async fn round(&self) -> airlock_store::DbResult<Duration> {
        loop {
            let now = airlock_store::now();
            let lease = now + LEASE;
            let batch = claim_due(&self.db, now, lease, BATCH).await?;
            let full = batch.len() as i64 == BATCH;
            let attempts = batch.into_iter().map(|p| async move {
                let attempt = self.attempt(&p).await;
                (p, attempt)
            });
            for (p, attempt) in futures_util::future::join_all(attempts).await {
                match &attempt {
                    Attempt::Delivered => {
                        tracing::debug!(key = %p.idempotency_key, "notification delivered");
                    }
                    Attempt::RetryAt(at, e) => {
                        tracing::warn!(key = %p.idempotency_key, error = %e, retry_at = %at, "notification not delivered");
                    }
                    Attempt::GaveUp(e) => {
                        tracing::error!(key = %p.idempotency_key, error = %e, attempts = MAX_ATTEMPTS, "notification given up");
                    }
                }
                record_attempt(&self.db, &p.idempotency_key, &attempt, airlock_store::now())
                    .await?;
            }
            if !full {
                break;
            }
        }
        let now = airlock_store::now();
        Ok(match next_due(&self.db).await? {
            Some(at) => (at - now).to_std().unwrap_or_default().min(POLL),
            None => POLL,
        })
    }

    async fn attempt(&self, p: &Pending) -> Attempt {
        match self.send(p).await {
            Ok(()) => Attempt::Delivered,
            Err(e) => {
                let failed = p.attempts.saturating_add(1);
                if failed >= MAX_ATTEMPTS {
                    Attempt::GaveUp(e)
                } else {
                    let delay = RETRY.delay_after(u32::try_from(failed).unwrap_or(u32::MAX));
                    let at: DateTime<Utc> = airlock_store::now()
                        + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
                    Attempt::RetryAt(at, e)
                }
            }
        }
    }

    async fn send(&self, p: &Pending) -> Result<(), String> {
        let conn = match self.env_secrets.connection(&p.conn_id) {
            Some(c) => c,
            None => airlock_store::connections::get_connection(&self.db, &self.cipher, &p.conn_id)
                .await
                .map_err(|e| format!("cannot read connection {:?}: {e}", p.conn_id))?
                .ok_or_else(|| format!("connection {:?} does not exist", p.conn_id))?,
        };
        match p.kind.as_str() {
            "webhook" => self.post(p, &conn).await,
            "email" => crate::notifier_email::send(p, &conn).await,
            other => Err(format!("unknown notifier kind {other:?}")),
        }
    }

    async fn post(&self, p: &Pending, conn: &ConnectionResponse) -> Result<(), String> {
        let target = Webhook::from_connection(conn)?;
        let mut req = self
            .http
            .post(target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &p.idempotency_key)
            .body(p.payload.clone());
        for (name, value) in &target.headers {
            req = req.header(name, value);
        }
        if let Some(login) = &conn.login {
            req = req.basic_auth(login, conn.password.as_deref());
        }
        let answer = req
            .send()
            .await
            .map_err(|e| format!("POST to connection {:?} failed: {e}", p.conn_id))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "POST to connection {:?} answered {status}",
                p.conn_id
            ))
        }
    }
}

/// Where a webhook goes, from its Connection.
#[derive(Debug, PartialEq)]
struct Webhook {
    url: url::Url,
    headers: Vec<(String, String)>,
}

impl Webhook {
    /// `host` (a full URL, or a host name with `schema` `http`/`https` and `port`), then the
    /// extra's `endpoint` path; the extra's `headers` object adds headers.
    fn from_connection(c: &ConnectionResponse) -> Result<Self, String> {
        let named = |what: &str| format!("connection {:?}: {what}", c.conn_id);
        let host = c
            .host
            .as_deref()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| named("no host"))?;
        let base = if host.contains("://") {
            host.to_owned()
        } else {
            let scheme = match c.schema.as_deref() {
                Some(s @ ("http" | "https")) => s,
                _ if c.conn_type == "https" => "https",
                _ => "http",
            };
            match c.port {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            }
        };
        let extra: serde_json::Value = match c.extra.as_deref().filter(|e| !e.is_empty()) {
            Some(e) => serde_json::from_str(e).map_err(|e| named(&format!("extra: {e}")))?,
            None => serde_json::Value::Null,
        };
        let mut url = url::Url::parse(&base).map_err(|e| named(&format!("{base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(named(&format!("{base:?} is not an http(s) URL")));
        }
        if let Some(endpoint) = extra.get("endpoint").and_then(|e| e.as_str()) {
            url = url
                .join(endpoint)
                .map_err(|e| named(&format!("endpoint {endpoint:?}: {e}")))?;
        }
        let headers = match extra.get("headers") {
            Some(serde_json::Value::Object(h)) => h
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(v) => Ok((k.clone(), v.to_owned())),
                    None => Err(named(&format!("header {k:?} is not a string"))),
                })
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        Ok(Self { url, headers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(
        host: &str,
        schema: Option<&str>,
        port: Option<i64>,
        extra: &str,
    ) -> ConnectionResponse {
        ConnectionResponse {
            conn_id: "hook".into(),
            conn_type: "http".into(),
            host: Some(host.into()),
            schema: schema.map(Into::into),
            login: None,
            password: None,
            port,
            extra: Some(extra.into()),
        }
    }

    #[test]
    fn webhook_urls_come_from_host_schema_port_and_endpoint() {
        let w = Webhook::from_connection(&conn(
            "hooks.example.com",
            Some("https"),
            Some(8443),
            r#"{"endpoint": "/airlock/events", "headers": {"X-Team": "data"}}"#,
        ))
        .unwrap();
        assert_eq!(
            w.url.as_str(),
            "https://hooks.example.com:8443/airlock/events"
        );
        assert_eq!(w.headers, [("X-Team".to_owned(), "data".to_owned())]);
        let w = Webhook::from_connection(&conn("http://127.0.0.1:9/a/", None, None, "")).unwrap();
        assert_eq!(w.url.as_str(), "http://127.0.0.1:9/a/");
    }

    #[test]
    fn unusable_webhook_connections_name_the_problem() {
        for (c, says) in [
            (conn("", None, None, ""), "no host"),
            (conn("ftp://x", None, None, ""), "not an http(s) URL"),
            (conn("x", None, None, "{"), "extra"),
            (
                conn("x", None, None, r#"{"headers": {"a": 1}}"#),
                "header \"a\"",
            ),
        ] {
            let e = Webhook::from_connection(&c).unwrap_err();
            assert!(e.contains(says) && e.contains("hook"), "{e}");
        }
    }
}
