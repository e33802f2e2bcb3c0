//! Round trips over a socketpair: `GetVariable` answered from memory.
//!
//! * Airlock: the Rust runner client ↔ the supervisor's request channel (`RunnerChannel`).
//! * Airflow's `CommsDecoder` (Python) ↔ the same Airlock channel.
//! * Airflow's `CommsDecoder` ↔ a Python peer decoding and answering as Airflow's supervisor does.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Instant;

use airlock_protocol::api::VariableResponse;
use airlock_protocol::comms::{GetVariable, ResponseFrame, ToSupervisor, ToTask};
use anyhow::{Context, bail};

use crate::procs::{bin, python, repo_root};
use crate::report::Section;
use crate::stats::spread;

/// Answers every request on `sock` with a fixed Variable, as the supervisor's loop would after an
/// in-memory lookup, until the peer hangs up.
fn serve_airlock(sock: UnixStream) -> anyhow::Result<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        sock.set_nonblocking(true)?;
        let sock = tokio::net::UnixStream::from_std(sock)?;
        let (mut requests, responses) =
            airlock_supervisor::channel::open(sock, airlock_protocol::comms::DEFAULT_MAX_FRAME_LEN);
        let mut n = 0;
        while let Some(req) = requests.next().await? {
            let body = match req.body {
                Ok(Some(ToSupervisor::GetVariable(GetVariable { key }))) => {
                    Some(ToTask::VariableResult(VariableResponse {
                        key,
                        value: Some("value".into()),
                    }))
                }
                _ => None,
            };
            responses.send(ResponseFrame {
                id: req.id,
                body,
                error: None,
            })?;
            n += 1;
        }
        Ok(n)
    })
}

/// Starts `cmd` with `sock` as its fd 0 and returns the round trips per second it reports.
fn client_rate(mut cmd: Command, sock: UnixStream) -> anyhow::Result<f64> {
    let fd: OwnedFd = sock.into();
    let child = cmd
        .stdin(Stdio::from(fd))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "comms client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse::<f64>()
        .with_context(|| format!("comms client printed {text:?}"))
}

fn airlock_peer(client: Command) -> anyhow::Result<f64> {
    let (ours, theirs) = UnixStream::pair()?;
    let server = std::thread::spawn(move || serve_airlock(ours));
    let rate = client_rate(client, theirs);
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the Airlock peer panicked"))??;
    rate
}

fn python_client(n: usize) -> anyhow::Result<Command> {
    let mut c = Command::new(python()?);
    c.arg(repo_root().join("bench/python/comms_client.py"))
        .arg(n.to_string());
    Ok(c)
}

fn python_pair(n: usize) -> anyhow::Result<f64> {
    let (peer_end, client_end) = UnixStream::pair()?;
    let peer_fd: OwnedFd = peer_end.into();
    let mut peer = Command::new(python()?)
        .arg(repo_root().join("bench/python/comms_peer.py"))
        .stdin(Stdio::from(peer_fd))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let rate = client_rate(python_client(n)?, client_end);
    let status = peer.wait()?;
    if !status.success() {
        bail!("the Python peer failed: {status}");
    }
    rate
}

/// The client half run by `airlock-bench comms-client <n>`: `n` round trips over fd 0; prints
/// round trips per second.
pub fn run_client(n: usize) -> anyhow::Result<()> {
    let mut comms = airlock_task_runner::SupervisorComms::from_stdin()?;
    // Warm up: the peer may still be starting.
    comms.request(ToSupervisor::GetVariable(GetVariable { key: "k".into() }))?;
    let start = Instant::now();
    for _ in 0..n {
        match comms.request(ToSupervisor::GetVariable(GetVariable { key: "k".into() }))? {
            Some(ToTask::VariableResult(_)) => {}
            other => bail!("unexpected answer {other:?}"),
        }
    }
    println!("{}", n as f64 / start.elapsed().as_secs_f64());
    Ok(())
}

/// Runs the scenario `repeats` times with `n` round trips (the Python client does `n / 4`).
pub fn run(n: usize, repeats: usize) -> anyhow::Result<Section> {
    let mut rust = Vec::new();
    let mut mixed = Vec::new();
    let mut py = Vec::new();
    for _ in 0..repeats {
        let mut c = Command::new(bin("airlock-bench")?);
        c.args(["comms-client", &n.to_string()]);
        rust.push(airlock_peer(c)?);
        mixed.push(airlock_peer(python_client(n / 4)?)?);
        py.push(python_pair(n / 4)?);
    }
    let ratio: Vec<f64> = rust.iter().zip(&py).map(|(a, b)| a / b).collect();
    Ok(Section {
        title: "1. Comms round trips".into(),
        summary: [
            "round trips/s (higher is better)".into(),
            spread(&rust, 0),
            format!("{} (Airflow codec ↔ Python peer)", spread(&py, 0)),
            format!("{}×", spread(&ratio, 1)),
        ],
        header: vec!["client ↔ peer".into(), "round trips/s".into()],
        rows: vec![
            vec!["Airlock runner ↔ Airlock supervisor channel".into(), spread(&rust, 0)],
            vec!["Airflow CommsDecoder ↔ Airlock supervisor channel".into(), spread(&mixed, 0)],
            vec!["Airflow CommsDecoder ↔ Python peer (Airflow's frame decoding)".into(), spread(&py, 0)],
        ],
        notes: vec![
            format!("{repeats} runs each; {n} round trips per Rust client run, {} per Python client run.", n / 4),
            "Each round trip is a `GetVariable` request answered with a `VariableResult` from memory (no HTTP), over a Unix socketpair between two processes.".into(),
        ],
    })
}
