//! What every Airlock binary does when it starts, in one place:
//!
//! * [`harden`]: no core dumps, no ptrace or `/proc/<pid>/mem` reads by other processes of the
//!   same user (every Airlock process holds a token or a key), and files it creates readable by
//!   its own user only;
//! * [`init_tracing`]: logs on stderr, filtered by `AIRLOCK_LOG`, coloured only on a terminal,
//!   one JSON object per line with `AIRLOCK_LOG_FORMAT=json`;
//! * [`shutdown_signal`]: SIGTERM or SIGINT;
//! * [`take_env`]: secrets passed in the environment, taken out of it;
//! * [`backoff`]: the one retry policy (exponential delays with jitter, a wall-time budget);
//! * [`http`]: HTTP clients, with TLS (rustls) and the trusted certificates.

pub mod backoff;
pub mod http;

use std::io::IsTerminal;

/// Makes this process non-dumpable and its umask `077`. The non-dumpable flag survives `fork`
/// but not `exec`, so programs it starts (task runners) are not affected by it; the umask is
/// inherited, so whoever starts task code resets it (see the supervisor's spawn).
pub fn harden() -> nix::Result<()> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    nix::sys::prctl::set_dumpable(false)
}

/// Sends tracing output to stderr, filtered by `AIRLOCK_LOG` (default `default_filter`): text
/// coloured only when stderr is a terminal, or with `AIRLOCK_LOG_FORMAT=json` one JSON object
/// per line (for log collectors). A stderr that can no longer be written is ignored.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| default_filter.into());
    let json = match std::env::var("AIRLOCK_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") | Err(_) => false,
        Ok(other) => {
            eprintln!("AIRLOCK_LOG_FORMAT={other:?} is not json or text; logging text");
            false
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!json && std::io::stderr().is_terminal())
        // Otherwise a failed write is reported with `eprintln!`, which panics on the same
        // broken stderr: a supervisor whose executor crashed (its stderr is a pipe to it) would
        // die at its next log line and take its runner with it.
        .log_internal_errors(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Whether an environment variable holds a secret of some Airlock component: tokens, keys, the
/// database URL (it may hold a password), and the Variables and Connections the server serves
/// from its environment.
pub fn is_secret_env(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "AIRLOCK_TOKEN",
        "AIRLOCK_ADMIN_TOKEN",
        "AIRLOCK_TRIGGERER_TOKEN",
        "AIRLOCK_JWT_SECRET",
        "AIRLOCK_SECRETS_KEY",
        "AIRLOCK_DATABASE_URL",
        "AIRLOCK_CONN_PASSWORD",
    ];
    NAMES.contains(&name) || name.starts_with("AIRLOCK_VAR_") || name.starts_with("AIRLOCK_CONN_")
}

/// Removes the variables `select` picks from this process's environment and returns them. Their
/// values are zeroed in place first: `/proc/<pid>/environ` shows the environment block as the
/// process started, and task code running as root could otherwise read it there.
///
/// # Safety
/// Call while this process has a single thread (first thing in `main`, before any runtime
/// starts): it writes through the pointer `getenv` returns and mutates the environment.
pub unsafe fn take_env(select: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let taken: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| select(k))
        .collect();
    for (name, _) in &taken {
        let Ok(cname) = std::ffi::CString::new(name.as_str()) else {
            continue;
        };
        // SAFETY: single-threaded (caller's contract); getenv returns a pointer into the
        // environment block, valid until the environment changes, and `strlen` bytes after it
        // are the value.
        unsafe {
            let ptr = nix::libc::getenv(cname.as_ptr());
            if !ptr.is_null() {
                let len = nix::libc::strlen(ptr);
                std::ptr::write_bytes(ptr, 0, len);
            }
            std::env::remove_var(name);
        }
    }
    taken
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
