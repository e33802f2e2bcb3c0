//! E-mail notifications through an SMTP server (`lettre`: a maintained SMTP client, rather
//! than a hand-written dialogue). The Message-ID is derived from the idempotency key, so every
//! delivery of one notification is the same message to the receiving side.

use std::time::Duration;

use airlock_protocol::api::ConnectionResponse;
use airlock_store::notifications::Pending;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

/// Longest SMTP conversation.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where e-mails go, from their Connection: `host`, `port` (25), `login`/`password`, and the
/// extra's `from` and `to` (a list, or one string of comma-separated addresses).
#[derive(Debug)]
struct Mail {
    host: String,
    port: u16,
    credentials: Option<Credentials>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Mail {
    fn from_connection(c: &ConnectionResponse) -> Result<Self, String> {
        let named = |what: &str| format!("connection {:?}: {what}", c.conn_id);
        let host = c
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| named("no host"))?;
        let port = match c.port {
            None => 25,
            Some(p) => u16::try_from(p).map_err(|_| named(&format!("port {p}")))?,
        };
        let extra: Value = match c.extra.as_deref().filter(|e| !e.is_empty()) {
            Some(e) => serde_json::from_str(e).map_err(|e| named(&format!("extra: {e}")))?,
            None => Value::Null,
        };
        let address = |a: &str| {
            a.trim()
                .parse::<Mailbox>()
                .map_err(|e| named(&format!("address {a:?}: {e}")))
        };
        let from = address(
            extra
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| named("no \"from\" address in extra"))?,
        )?;
        let to = match extra.get("to") {
            Some(Value::String(s)) => s
                .split(',')
                .filter(|a| !a.trim().is_empty())
                .map(address)
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::Array(list)) => list
                .iter()
                .map(|a| {
                    a.as_str()
                        .ok_or_else(|| named("\"to\" holds a non-string"))
                        .and_then(address)
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        if to.is_empty() {
            return Err(named("no \"to\" address in extra"));
        }
        let credentials = c
            .login
            .as_ref()
            .map(|l| Credentials::new(l.clone(), c.password.clone().unwrap_or_default()));
        Ok(Self {
            host,
            port,
            credentials,
            from,
            to,
        })
    }
}

/// The message for notification `p`: a subject naming the event, the document in the body.
fn message(p: &Pending, mail: &Mail) -> Result<Message, String> {
    let doc: Value = serde_json::from_str(&p.payload).unwrap_or(Value::Null);
    let field = |k: &str| match &doc[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let subject = format!(
        "Airlock: {} of {}.{} (run {}, try {})",
        field("event"),
        field("dag_id"),
        field("task_id"),
        field("run_id"),
        field("try_number")
    );
    let mut body = String::new();
    for k in [
        "event",
        "dag_id",
        "run_id",
        "task_id",
        "map_index",
        "try_number",
        "state",
        "reason",
        "start_date",
        "end_date",
        "log",
    ] {
        body.push_str(&format!("{k}: {}\n", field(k)));
    }
    body.push_str(&format!("\n{}\n", p.payload));
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, p.idempotency_key.as_bytes());
    let mut builder = Message::builder()
        .from(mail.from.clone())
        .subject(subject)
        .message_id(Some(format!("<{id}@airlock>")))
        .header(ContentType::TEXT_PLAIN);
    for to in &mail.to {
        builder = builder.to(to.clone());
    }
    builder.body(body).map_err(|e| e.to_string())
}

/// Sends notification `p` by e-mail through the server of `conn`.
pub async fn send(p: &Pending, conn: &ConnectionResponse) -> Result<(), String> {
    let mail = Mail::from_connection(conn)?;
    let msg = message(p, &mail)?;
    // Plain SMTP to the configured relay (a local MTA relays onwards); no STARTTLS yet.
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&mail.host)
        .port(mail.port)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(c) = mail.credentials.clone() {
        transport = transport.credentials(c);
    }
    transport
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP to connection {:?} failed: {e}", conn.conn_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(extra: &str) -> ConnectionResponse {
        ConnectionResponse {
            conn_id: "mail".into(),
            conn_type: "smtp".into(),
            host: Some("127.0.0.1".into()),
            schema: None,
            login: None,
            password: None,
            port: Some(2525),
            extra: Some(extra.into()),
        }
    }

    #[test]
    fn every_delivery_of_a_notification_is_the_same_message() {
        let mail =
            Mail::from_connection(&conn(r#"{"from": "a@example.com", "to": "b@example.com"}"#))
                .unwrap();
        let pending = |key: &str| Pending {
            idempotency_key: key.into(),
            kind: "email".into(),
            conn_id: "mail".into(),
            payload: r#"{"event": "failure"}"#.into(),
            attempts: 0,
            next_attempt_at: 0,
        };
        let id = |key: &str| {
            let text =
                String::from_utf8(message(&pending(key), &mail).unwrap().formatted()).unwrap();
            text.lines()
                .find(|l| l.starts_with("Message-ID:"))
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            id("failure/d/r/t/-1/1/email:mail"),
            id("failure/d/r/t/-1/1/email:mail")
        );
        assert_ne!(
            id("failure/d/r/t/-1/1/email:mail"),
            id("failure/d/r/t/-1/2/email:mail")
        );
    }

    #[test]
    fn addresses_come_from_the_extra() {
        let m = Mail::from_connection(&conn(
            r#"{"from": "Airlock <airlock@example.com>", "to": "a@example.com, b@example.com"}"#,
        ))
        .unwrap();
        assert_eq!(m.to.len(), 2);
        assert_eq!(m.port, 2525);
        for (extra, says) in [
            (r#"{"to": "a@example.com"}"#, "no \"from\""),
            (r#"{"from": "a@example.com"}"#, "no \"to\""),
            (
                r#"{"from": "not an address", "to": ["a@example.com"]}"#,
                "address",
            ),
        ] {
            let e = Mail::from_connection(&conn(extra)).unwrap_err();
            assert!(e.contains(says) && e.contains("mail"), "{e}");
        }
    }
}
