//! Slow and abusive clients cannot hold the `api-server` binary: half-sent requests do not block
//! others, bodies declared too large are refused before they are read, slow headers and bodies
//! time out, and the connection cap is logged when reached.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use airlock_e2e::process::{ApiServerProcess, wait_for};

/// Reads until the peer closes or `until` appears; what was read.
fn read_until(conn: &mut TcpStream, until: &str) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 4096];
    while !out.contains(until) {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    out
}

/// `GET /execution/health` on a fresh connection; the status line.
fn health(port: u16) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /execution/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_until(&mut conn, "\r\n")
}

#[test]
fn three_hundred_half_sent_requests_do_not_stop_health() {
    let dir = tempfile::tempdir().unwrap();
    let server = ApiServerProcess::start(&dir.path().join("home"), None);
    let token = server.admin(&["mint-token", "--scope", "admin", "--subject", "t"], None);
    let mut held = Vec::new();
    for i in 0..300 {
        let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        // Alternately: headers cut off, and a body cut off after valid headers.
        if i % 2 == 0 {
            conn.write_all(b"GET /execution/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
        } else {
            write!(
                conn,
                "PUT /execution/airlock/control/bundles/b HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: 1000\r\n\r\n{{\"bundle\": "
            )
            .unwrap();
        }
        held.push(conn);
    }
    let started = Instant::now();
    let status = health(server.port);
    let took = started.elapsed();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(took < Duration::from_secs(1), "/health took {took:?}");
    drop(held);
}

#[test]
fn a_body_declared_over_the_limit_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = ApiServerProcess::start(&dir.path().join("home"), None);
    let token = server.admin(&["mint-token", "--scope", "admin", "--subject", "t"], None);
    let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "PUT /execution/airlock/control/bundles/b HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 10000000000\r\n\r\n{{"
    )
    .unwrap();
    let response = read_until(&mut conn, "}}");
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("payload_too_large"), "{response}");
}

#[test]
fn slow_headers_and_bodies_time_out_and_the_connection_cap_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let server = ApiServerProcess::start_with_env(
        &dir.path().join("home"),
        None,
        &[
            ("AIRLOCK_HEADER_READ_TIMEOUT", "1s"),
            ("AIRLOCK_BODY_READ_TIMEOUT", "1s"),
            ("AIRLOCK_MAX_CONNECTIONS", "4"),
        ],
    );
    let token = server.admin(&["mint-token", "--scope", "admin", "--subject", "t"], None);

    // A body that stops arriving: 408 once the body-read timeout passes.
    let mut slow_body = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow_body
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        slow_body,
        "PUT /execution/airlock/control/bundles/b HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"bundle\": "
    )
    .unwrap();
    let response = read_until(&mut slow_body, "}}");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("body_read_timeout"), "{response}");
    drop(slow_body);

    // Headers that stop arriving: the server closes the connection.
    let mut slow_headers = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow_headers
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow_headers
        .write_all(b"GET /execution/health HTTP/1.1\r\nHost")
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = slow_headers.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "the connection is closed (or answered 408)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "closed by the header timeout"
    );

    // Four idle connections fill the cap; a fifth request waits (and the cap is logged) until
    // the header timeout frees their places.
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    wait_for(
        Duration::from_secs(10),
        "the connection-cap warning",
        || {
            let log = std::fs::read_to_string(&server.log).ok()?;
            log.contains("connection limit reached").then_some(())
        },
    );
    assert!(health(server.port).starts_with("HTTP/1.1 200"));
    drop(idle);
}
