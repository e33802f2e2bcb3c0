//! The `api-server` binary: operator commands, and a graceful stop that finishes in-flight work.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use airlock_e2e::process::{ApiServerProcess, wait_for};
use nix::sys::signal::Signal;
use serde_json::Value;

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ApiServerProcess::start(&dir.path().join("home"), None);
    let created: Value = serde_json::from_str(&server.admin(
        &["create-run", "-"],
        Some(r#"{"dag_id": "d", "run_id": "r", "tasks": [{"task_id": "t"}]}"#),
    ))
    .unwrap();
    let ti = created["task_instances"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = server.admin(&["mint-token", "--ti", &ti, "--scope", "execution"], None);
    // Only a running try may write.
    start_try(&server.base, &ti, &token);

    // Start a request; `Expect: 100-continue` makes the server say when its handler starts
    // reading the body, i.e. when the request is really in flight.
    let body = br#"{"val": "written during shutdown", "description": null}"#;
    let (first, rest) = body.split_at(10);
    let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "PUT /execution/variables/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let mut buf = [0u8; 4096];
    while !response.contains("\r\n\r\n") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early: {response}");
        response.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(response.starts_with("HTTP/1.1 100"), "{response}");
    response.clear();
    conn.write_all(first).unwrap();
    conn.flush().unwrap();

    server.signal(Signal::SIGTERM);
    // Shutdown has begun once the listener refuses new connections.
    wait_for(Duration::from_secs(10), "the listener to close", || {
        TcpStream::connect(("127.0.0.1", server.port))
            .is_err()
            .then_some(())
    });
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "still serving the open request"
    );

    conn.write_all(rest).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    let mut buf = [0u8; 4096];
    while !response.contains("successfully set") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early: {response}");
        response.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    drop(conn);

    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("stopped"), "{log}");

    // The write survived: a new server on the same data sees it.
    let server2 = ApiServerProcess::start(&dir.path().join("home"), None);
    let value = get_json(&format!("{}/variables/k", server2.base), &token);
    assert_eq!(value["value"], "written during shutdown");
}

/// Marks `ti` running (`PATCH /run`), as a supervisor would.
fn start_try(base: &str, ti: &str, token: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        airlock_e2e::http_client()
            .patch(format!("{base}/task-instances/{ti}/run"))
            .bearer_auth(token)
            .json(
                &serde_json::json!({"state": "running", "hostname": "h", "unixname": "u",
                "pid": 1, "start_date": "2026-11-23T10:00:00Z"}),
            )
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, reqwest::StatusCode::OK);
}

/// A blocking GET of a JSON document.
fn get_json(url: &str, token: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        airlock_e2e::http_client()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn the_data_directory_is_private_and_env_secrets_come_first() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = ApiServerProcess::start_with_env(
        &home,
        None,
        &[
            ("AIRLOCK_VAR_GREETING", "from the environment"),
            (
                "AIRLOCK_CONN_WAREHOUSE",
                "postgresql://etl:p%40ss@db.internal:5433/orders?sslmode=require",
            ),
        ],
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700, "the data directory");
    for file in ["airlock.db", "jwt-secret", "secrets.key"] {
        assert_eq!(mode(&home.join(file)), 0o600, "{file}");
    }
    let created: Value = serde_json::from_str(&server.admin(
        &["create-run", "-"],
        Some(r#"{"dag_id": "d", "run_id": "r", "tasks": [{"task_id": "t"}]}"#),
    ))
    .unwrap();
    let ti = created["task_instances"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = server.admin(&["mint-token", "--ti", &ti, "--scope", "execution"], None);
    // The environment wins over the database.
    server.admin(&["set-variable", "greeting", "from the database"], None);
    let var = get_json(&format!("{}/variables/greeting", server.base), &token);
    assert_eq!(var["value"], "from the environment");
    let conn = get_json(&format!("{}/connections/warehouse", server.base), &token);
    assert_eq!(
        conn,
        serde_json::json!({"conn_id": "warehouse", "conn_type": "postgres",
            "host": "db.internal", "schema": "orders", "login": "etl", "password": "p@ss",
            "port": 5433, "extra": "{\"sslmode\":\"require\"}"})
    );
}

#[test]
fn an_unreadable_env_connection_stops_the_server_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new(airlock_e2e::process::bin_path("api-server"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("AIRLOCK_HOME", &home)
        .env("AIRLOCK_CONN_BROKEN", "{\"host\": \"no type\"}")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AIRLOCK_CONN_BROKEN"), "{err}");
}

#[test]
fn misconfigured_scheduler_settings_are_refused_at_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    for (flag, value) in [
        ("--scheduler-idle-interval", "0"),
        ("--task-heartbeat-timeout", "0s"),
        ("--executor-timeout", "soon"),
        ("--task-queued-timeout", "-5"),
    ] {
        let out = std::process::Command::new(airlock_e2e::process::bin_path("api-server"))
            .args(["serve", "--bind", "127.0.0.1:0", &format!("{flag}={value}")])
            .env("AIRLOCK_HOME", &home)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
    }
    // Durations take units as well as plain seconds.
    let out = std::process::Command::new(airlock_e2e::process::bin_path("api-server"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("[default: 5m]"));
}

#[test]
fn logs_are_plain_text_off_a_terminal_or_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = ApiServerProcess::start(&dir.path().join("text"), None);
    let log = std::fs::read_to_string(&text.log).unwrap();
    assert!(log.contains("serving"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );

    let json = ApiServerProcess::start_with_env(
        &dir.path().join("json"),
        None,
        &[("AIRLOCK_LOG_FORMAT", "json")],
    );
    let log = std::fs::read_to_string(&json.log).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["address"].is_string()),
        "{log}"
    );
}
