//! A stand-in for an external system that runs jobs: a tiny HTTP service, started as
//! `example-bundle job-server`. `POST /jobs` starts a job that takes `--work-secs` seconds;
//! `GET /jobs/{id}` answers `{"id", "status": "running" | "done", "result"}`. It prints
//! `listening on HOST:PORT` first, and exits once it has been idle for `--idle-secs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Job {
    started: Instant,
}

struct Settings {
    work: Duration,
    idle: Duration,
}

fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the service until it has been idle long enough.
pub fn main(args: &[String]) -> std::process::ExitCode {
    let settings = Settings {
        work: Duration::from_secs_f64(arg(args, "--work-secs", 2.0)),
        idle: Duration::from_secs_f64(arg(args, "--idle-secs", 60.0)),
    };
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("job-server: cannot listen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return std::process::ExitCode::FAILURE;
    };
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    let _ = listener.set_nonblocking(true);
    let mut jobs: Vec<Job> = Vec::new();
    let mut last_request = Instant::now();
    while last_request.elapsed() < settings.idle {
        match listener.accept() {
            Ok((stream, _)) => {
                last_request = Instant::now();
                let _ = serve(stream, &mut jobs, &settings);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    std::process::ExitCode::SUCCESS
}

fn serve(stream: TcpStream, jobs: &mut Vec<Job>, settings: &Settings) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            content_length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; content_length.min(64 * 1024)];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, answer): (u16, Value) = match (method, path.strip_prefix("/jobs")) {
        ("POST", Some("")) => {
            jobs.push(Job {
                started: Instant::now(),
            });
            (
                201,
                json!({"id": jobs.len().to_string(), "status": "running"}),
            )
        }
        ("GET", Some(rest)) => match rest
            .trim_start_matches('/')
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1).and_then(|i| jobs.get(i)).map(|j| (n, j)))
        {
            Some((id, job)) if job.started.elapsed() >= settings.work => (
                200,
                json!({"id": id.to_string(), "status": "done", "result": {"rows": 42 * id}}),
            ),
            Some((id, _)) => (200, json!({"id": id.to_string(), "status": "running"})),
            None => (404, json!({"detail": "no such job"})),
        },
        _ => (404, json!({"detail": "not found"})),
    };
    let text = answer.to_string();
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}
