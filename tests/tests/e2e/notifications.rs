//! Webhook notifiers in `airlock standalone`: one POST per event a notifier wants, with its
//! idempotency key, delivered once even when the server is killed between the failure and
//! the delivery; and an error task, which runs because the run failed (its success is one of
//! those events) and leaves the run failed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_e2e::process::eventually;
use airlock_e2e::{Backend, Standalone, on_both_backends};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;

/// A POST the sink received, and what it answered.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    key: String,
    body: Value,
    answered: u16,
}

/// A local HTTP endpoint that records every POST and answers with the status it is told.
#[derive(Clone, Default)]
struct Sink {
    posts: Arc<Mutex<Vec<Post>>>,
    status: Arc<std::sync::atomic::AtomicU16>,
}

impl Sink {
    async fn start() -> (Self, u16) {
        let sink = Sink::default();
        sink.answer(200);
        async fn record(
            State(sink): State<Sink>,
            uri: Uri,
            headers: HeaderMap,
            body: String,
        ) -> StatusCode {
            let answered = sink.status.load(std::sync::atomic::Ordering::SeqCst);
            sink.posts.lock().unwrap().push(Post {
                path: uri.path().to_owned(),
                key: headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
                answered,
            });
            StatusCode::from_u16(answered).unwrap()
        }
        let app = axum::Router::new()
            .fallback(axum::routing::post(record))
            .with_state(sink.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (sink, port)
    }

    fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

async fn start(backend: Backend) -> Option<(Standalone, Sink)> {
    let (sink, port) = Sink::start().await;
    let conn = |endpoint: &str| {
        serde_json::json!({"conn_type": "http", "host": "127.0.0.1", "port": port,
            "extra": {"endpoint": endpoint}})
        .to_string()
    };
    let (failures, all) = (conn("/failures"), conn("/all"));
    let env = [
        ("AIRLOCK_CONN_SINK_FAILURES", failures.as_str()),
        ("AIRLOCK_CONN_SINK_ALL", all.as_str()),
        // Long enough that the restart below cannot make a zombie of a try in flight.
        ("AIRLOCK_TASK_HEARTBEAT_TIMEOUT", "120"),
    ];
    Some((Standalone::start_with(backend, &env).await?, sink))
}

/// (recorded, delivered) notifications of run `run_id`.
async fn outbox(sa: &Standalone, run_id: &str) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT COUNT(*), COUNT(delivered_at), CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM notification \
         WHERE run_id = $1",
    )
    .bind(run_id)
    .fetch_one(sa.db.pool())
    .await
    .unwrap()
}

on_both_backends!(
    webhooks_are_sent_once_per_wanted_event_even_across_a_crash,
    start,
    |setup| {
        let (mut sa, sink) = setup;
        let trigger = |run_id: &str| {
            let out = sa.cli(&["dags", "trigger", "notified", "--run-id", run_id]);
            assert_eq!(out.code, Some(0), "{out:?}");
        };

        // `fail` fails twice (one retry), `ok` succeeds, then the error task `cleanup` runs:
        // the failures-only notifier hears of the final failure; the other of the retry, the
        // failure and both successes.
        trigger("n1");
        eventually(Duration::from_secs(60), "n1's notifications", || async {
            let (recorded, delivered, _) = outbox(&sa, "n1").await;
            (recorded == 5 && delivered == 5).then_some(())
        })
        .await;
        let posts = sink.posts();
        let of = |path: &str| -> Vec<Post> {
            posts.iter().filter(|p| p.path == path).cloned().collect()
        };
        let failures = of("/failures");
        assert_eq!(failures.len(), 1, "{posts:#?}");
        let f = &failures[0].body;
        assert_eq!(f["event"], "failure");
        assert_eq!(f["dag_id"], "notified");
        assert_eq!(f["run_id"], "n1");
        assert_eq!(f["task_id"], "fail");
        assert_eq!(f["map_index"], -1);
        assert_eq!(f["try_number"], 2);
        assert_eq!(f["state"], "failed");
        assert_eq!(
            f["log"],
            "dag_id=notified/run_id=n1/task_id=fail/attempt=2.log"
        );
        assert!(f["end_date"].is_string(), "{f}");
        assert_eq!(f["idempotency_key"], failures[0].key.as_str());
        let mut all: Vec<(String, String, i64)> = of("/all")
            .iter()
            .map(|p| {
                (
                    p.body["event"].as_str().unwrap().to_owned(),
                    p.body["task_id"].as_str().unwrap().to_owned(),
                    p.body["try_number"].as_i64().unwrap(),
                )
            })
            .collect();
        all.sort();
        assert_eq!(
            all,
            [
                ("failure".to_owned(), "fail".to_owned(), 2),
                ("retry".to_owned(), "fail".to_owned(), 1),
                ("success".to_owned(), "cleanup".to_owned(), 1),
                ("success".to_owned(), "ok".to_owned(), 1),
            ]
        );
        let n1: String = sqlx::query_scalar("SELECT state FROM dag_run WHERE run_id = 'n1'")
            .fetch_one(sa.db.pool())
            .await
            .unwrap();
        assert_eq!(n1, "failed", "the error task ran; the run stays failed");
        let mut keys: Vec<&str> = posts.iter().map(|p| p.key.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 5, "a distinct key per notification: {posts:#?}");

        // The endpoint is down when the next run fails; the server is killed while the
        // notifications wait for their retry, then started again with the endpoint back.
        sink.answer(503);
        trigger("n2");
        eventually(
            Duration::from_secs(60),
            "a failed delivery of n2's",
            || async {
                let (recorded, delivered, attempts) = outbox(&sa, "n2").await;
                (recorded == 5 && delivered == 0 && attempts >= 5).then_some(())
            },
        )
        .await;
        sa.crash();
        sink.answer(200);
        sa.start_again();
        eventually(Duration::from_secs(90), "n2's notifications", || async {
            let (recorded, delivered, _) = outbox(&sa, "n2").await;
            (recorded == 5 && delivered == 5).then_some(())
        })
        .await;
        let n2: Vec<Post> = sink
            .posts()
            .into_iter()
            .filter(|p| p.body["run_id"] == "n2")
            .collect();
        let mut accepted: Vec<&str> = n2
            .iter()
            .filter(|p| p.answered == 200)
            .map(|p| p.key.as_str())
            .collect();
        accepted.sort();
        let mut distinct = accepted.clone();
        distinct.dedup();
        assert_eq!(accepted.len(), 5, "each accepted once: {n2:#?}");
        assert_eq!(distinct.len(), 5, "{n2:#?}");
        assert!(
            n2.iter().all(|p| distinct.contains(&p.key.as_str())),
            "every attempt carried its notification's key: {n2:#?}"
        );
        let run_state: String = sqlx::query_scalar("SELECT state FROM dag_run WHERE run_id = 'n2'")
            .fetch_one(sa.db.pool())
            .await
            .unwrap();
        assert_eq!(run_state, "failed");
    }
);

/// A local SMTP server that accepts every message and keeps its text.
async fn smtp_sink() -> (Arc<Mutex<Vec<String>>>, u16) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mails: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 sink ESMTP\r\n").await?;
                let mut data: Option<String> = None;
                while let Some(line) = lines.next_line().await? {
                    if let Some(text) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(std::mem::take(text));
                            data = None;
                            w.write_all(b"250 queued\r\n").await?;
                        } else {
                            text.push_str(&line);
                            text.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "DATA" => {
                            data = Some(String::new());
                            b"354 end with a dot\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await?;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(reply).await?;
                }
                std::io::Result::Ok(())
            });
        }
    });
    (mails, port)
}

async fn start_mailed(backend: Backend) -> Option<(Standalone, Arc<Mutex<Vec<String>>>)> {
    let (mails, port) = smtp_sink().await;
    let conn = serde_json::json!({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"from": "Airlock <airlock@example.com>", "to": "ops@example.com"}})
    .to_string();
    let sa = Standalone::start_with(backend, &[("AIRLOCK_CONN_SINK_MAIL", conn.as_str())]).await?;
    Some((sa, mails))
}

on_both_backends!(
    an_email_notifier_sends_one_message_per_failure,
    start_mailed,
    |setup| {
        let (sa, mails) = setup;
        let out = sa.cli(&["dags", "trigger", "mailed", "--run-id", "m1"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        eventually(Duration::from_secs(60), "m1's e-mail", || async {
            let (recorded, delivered, _) = outbox(&sa, "m1").await;
            (recorded == 1 && delivered == 1).then_some(())
        })
        .await;
        let mails = mails.lock().unwrap().clone();
        assert_eq!(mails.len(), 1, "{mails:#?}");
        let m = &mails[0];
        for needle in [
            "From: Airlock <airlock@example.com>",
            "To: ops@example.com",
            "Subject: Airlock: failure of mailed.fail (run m1, try 1)",
            "Message-ID: <",
            "state: failed",
            "task_id: fail",
            // Quoted-printable: '=' is sent as "=3D".
            "log: dag_id=3Dmailed/run_id=3Dm1/task_id=3Dfail/attempt=3D1.log",
        ] {
            assert!(m.contains(needle), "{needle:?} not in {m}");
        }
    }
);
