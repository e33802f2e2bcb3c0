//! HTTPS in the default build: `airlock standalone` serving TLS with a private CA's
//! certificate, its worker, supervisors, triggerer and the CLI reaching it by `https://`; an
//! HTTP-poll trigger polling an `https` endpoint; clients that do not trust the CA refused with
//! a clear error.

use std::time::Duration;

use airlock_e2e::standalone::{Standalone, airlock_cli};
use airlock_e2e::tls::TestCa;
use airlock_e2e::{Backend, Stack};
use airlock_protocol::state::DagRunState;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_serves_https_to_its_workers_triggerer_and_cli() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let ca = TestCa::create(dir.path());
    let path = |p: &std::path::Path| p.display().to_string();
    let (cert, key, ca_cert) = (
        path(&ca.server_cert),
        path(&ca.server_key),
        path(&ca.ca_cert),
    );
    let a = Standalone::start_with(
        Backend::Sqlite,
        &[
            ("AIRLOCK_TLS_CERT", &cert),
            ("AIRLOCK_TLS_KEY", &key),
            ("AIRLOCK_CA_CERT", &ca_cert),
        ],
    )
    .await
    .unwrap_or_else(|| panic!("sqlite is always available"));
    let url = a.api_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // Connections that never start their handshake do not hold the server up.
    let address = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let _silent: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect(&address).unwrap_or_else(|e| panic!("connect: {e}")))
        .collect();

    // A run: the worker claims over HTTPS and its supervisors report over HTTPS.
    let (out, etl) = a.run_dag("etl", json!({}));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(etl.state, DagRunState::Success, "{etl:?}");
    let logs = a.cli(&["tasks", "logs", "etl", &etl.run_id, "load"]);
    assert!(logs.stdout.contains("loading 5 orders"), "{logs:?}");

    // A client that does not trust the CA is refused, and says why.
    let untrusting = airlock_cli(&a.home, &["dags", "list"], &[]);
    assert_ne!(untrusting.code, Some(0), "{untrusting:?}");
    assert!(
        untrusting.stderr.to_lowercase().contains("certificate"),
        "{untrusting:?}"
    );
    // A CA file that is not one is an error at start, naming the file.
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap_or_else(|e| panic!("{e}"));
    let bad = airlock_cli(
        &a.home,
        &["dags", "list"],
        &[("AIRLOCK_CA_CERT", &path(&bogus))],
    );
    assert_ne!(bad.code, Some(0), "{bad:?}");
    assert!(
        bad.stderr.contains("bogus.pem") && bad.stderr.contains("AIRLOCK_CA_CERT"),
        "{bad:?}"
    );
    // Plain HTTP to the HTTPS port gets no answer.
    let plain = url.replacen("https://", "http://", 1);
    let answer = airlock_e2e::http_client()
        .get(format!("{plain}/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(
        answer.is_err() || answer.is_ok_and(|r| !r.status().is_success()),
        "plain HTTP must not be served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_poll_trigger_polls_an_https_endpoint() {
    let stack = Stack::start(Backend::Sqlite)
        .await
        .unwrap_or_else(|| panic!("sqlite is always available"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let ca = TestCa::create(dir.path());
    let app = axum::Router::new().route(
        "/jobs/7",
        axum::routing::get(|| async { axum::Json(json!({"status": "done"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"))
        .port();
    ca.serve(listener, app);
    let url = format!("https://localhost:{port}/jobs/7");
    let ti = stack
        .deferred(
            "https",
            json!({"classpath": "airlock.triggers.http.HttpPollTrigger",
                   "kwargs": {"url": url, "poke_interval": 0.05,
                              "success": {"json_pointer": "/status", "values": ["done"]}}}),
        )
        .await;
    let ca_cert = ca.ca_cert.display().to_string();
    let _t = stack.triggerer("t1", &[("AIRLOCK_CA_CERT", &ca_cert)]);
    let row = stack.wait_ready(ti, Duration::from_secs(30)).await;
    assert_eq!(
        row.next_kwargs.unwrap_or_else(|| panic!("no event"))["event"],
        json!({"status": 200, "body": {"status": "done"}})
    );
    assert_eq!(stack.resume(ti).await.code, Some(0));
}
