//! What every Airlock binary does when it starts, in one place:
//!
//! * [`harden`]: no core dumps, no ptrace or `/proc/<pid>/mem` reads by other processes of the
//!   same user (every Airlock process holds a token or a key), and files it creates readable by
//!   its own user only;
//! * [`init_tracing`]: logs on stderr, filtered by `AIRLOCK_LOG`, coloured only on a terminal;
//! * [`shutdown_signal`]: SIGTERM or SIGINT.

use std::io::IsTerminal;

/// Makes this process non-dumpable and its umask `077`. The non-dumpable flag survives `fork`
/// but not `exec`, so programs it starts (task runners) are not affected by it; the umask is
/// inherited, so whoever starts task code resets it (see the supervisor's spawn).
pub fn harden() -> nix::Result<()> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    nix::sys::prctl::set_dumpable(false)
}

/// Sends tracing output to stderr, filtered by `AIRLOCK_LOG` (default `default_filter`), with
/// colour only when stderr is a terminal.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| default_filter.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let wait = |kind| async move {
        match signal(kind) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = wait(SignalKind::terminate()) => {}
        () = wait(SignalKind::interrupt()) => {}
    }
}
