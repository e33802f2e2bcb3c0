//! Starting the runner: socketpairs for requests, stdout, stderr and structured logs, then
//! fork/exec with a scrubbed environment in a process group of its own.
//!
//! Child file descriptors: 0 is the request socket (bidirectional), 1 and 2 capture output, and
//! the structured log socket keeps its number, which the child finds in `AIRLOCK_LOG_FD` (as
//! Airflow's runner inherits its log socket without `dup2`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use tokio::net::UnixStream;

use crate::config::SupervisorConfig;
use crate::secrets::{NEVER_PASSED, PASSED_BY_DEFAULT};

/// The argument the runner is started with.
pub const RUNNER_ARG: &str = "run";

/// The variable naming the child's structured-log descriptor.
pub const LOG_FD_ENV: &str = "AIRLOCK_LOG_FD";

/// Why the runner could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The bundle name would escape the bundles directory.
    #[error("invalid bundle name {0:?}")]
    BadBundleName(String),
    /// No executable for the bundle.
    #[error("no runner executable for bundle {bundle:?}: tried {tried}")]
    NoRunner {
        /// Bundle name.
        bundle: String,
        /// Paths tried.
        tried: String,
    },
    /// The user to run as does not exist, or cannot be switched to.
    #[error("cannot run the task as {user:?}: {why}")]
    User {
        /// The user.
        user: String,
        /// Why.
        why: String,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> SpawnError {
    move |source| SpawnError::Io { what, source }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds the runner of `bundle`: `<bundles_dir>/<bundle>@<version>` when the task instance names a
/// version and that file exists, else `<bundles_dir>/<bundle>`; it must be an executable file.
pub fn resolve_runner(
    bundles_dir: &Path,
    bundle: &str,
    version: Option<&str>,
) -> Result<PathBuf, SpawnError> {
    let safe =
        |s: &str| !s.is_empty() && !s.starts_with('.') && !s.contains('/') && !s.contains('\0');
    if !safe(bundle) || version.is_some_and(|v| !safe(v)) {
        return Err(SpawnError::BadBundleName(bundle.to_owned()));
    }
    let mut tried = Vec::new();
    if let Some(v) = version {
        tried.push(bundles_dir.join(format!("{bundle}@{v}")));
    }
    tried.push(bundles_dir.join(bundle));
    tried
        .iter()
        .find(|p| is_executable(p))
        .cloned()
        .ok_or_else(|| SpawnError::NoRunner {
            bundle: bundle.to_owned(),
            tried: tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The running runner and the supervisor's ends of its sockets.
pub struct Runner {
    /// The child process.
    pub child: tokio::process::Child,
    /// Its pid (also its process group id).
    pub pid: i32,
    /// Requests in, responses out.
    pub requests: UnixStream,
    /// Its stdout.
    pub stdout: UnixStream,
    /// Its stderr.
    pub stderr: UnixStream,
    /// Its structured (JSON lines) log channel.
    pub logs: UnixStream,
}

fn pair(what: &'static str) -> Result<(UnixStream, OwnedFd), SpawnError> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| SpawnError::Io {
        what,
        source: e.into(),
    })?;
    let ours = std::os::unix::net::UnixStream::from(ours);
    ours.set_nonblocking(true).map_err(io(what))?;
    Ok((UnixStream::from_std(ours).map_err(io(what))?, theirs))
}

/// The user task code runs as, when it is not the supervisor's own.
#[derive(Debug, Clone)]
pub struct TaskUser(nix::unistd::User);

impl TaskUser {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
}

/// Whom task code runs as: `configured` if given (switching needs root), else `nobody` when
/// this process is root, else `None` (this process's own user). `root` keeps root.
pub fn task_user(configured: Option<&str>) -> Result<Option<TaskUser>, SpawnError> {
    let root = nix::unistd::geteuid().is_root();
    let name = match configured {
        Some("root") if root => return Ok(None),
        Some(name) => name,
        None if root => "nobody",
        None => return Ok(None),
    };
    let bad = |why: String| SpawnError::User {
        user: name.to_owned(),
        why,
    };
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| {
            bad(if configured.is_none() {
                "no such user; the supervisor runs as root and runs task code as `nobody` by \
                 default: create that user or name another with --run-as-user"
                    .into()
            } else {
                "no such user".into()
            })
        })?;
    if user.uid == nix::unistd::geteuid() {
        return Ok(None);
    }
    if !root {
        return Err(bad(
            "only a supervisor running as root can switch users".into()
        ));
    }
    Ok(Some(TaskUser(user)))
}

/// Where and how the runner starts, besides its executable.
pub struct Launch<'a> {
    /// Another user to run as.
    pub user: Option<&'a TaskUser>,
    /// Its working directory.
    pub work_dir: &'a Path,
    /// A Landlock ruleset to enforce on it (see [`crate::sandbox`]).
    pub sandbox: Option<i32>,
    /// The `cgroup.procs` of the try's cgroup, which it joins (see [`crate::cgroup`]).
    pub cgroup_procs: Option<i32>,
}

/// Creates the try's working directory under `root` (private to the task's user); the caller
/// removes it when the try ends.
pub fn make_work_dir(
    root: &Path,
    name: &str,
    user: Option<&TaskUser>,
) -> Result<PathBuf, SpawnError> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).map_err(io("creating the task's working directory"))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("creating the task's working directory"))?;
    if let Some(u) = user {
        nix::unistd::chown(&dir, Some(u.0.uid), Some(u.0.gid)).map_err(|e| SpawnError::Io {
            what: "giving the working directory to the task's user",
            source: e.into(),
        })?;
    }
    Ok(dir)
}

/// Starts `exe run` with the sockets wired as described in the module docs.
pub fn spawn_runner(
    exe: &Path,
    cfg: &SupervisorConfig,
    launch: &Launch<'_>,
) -> Result<Runner, SpawnError> {
    let (requests, child_requests) = pair("creating the request socket")?;
    let (stdout, child_stdout) = pair("creating the stdout socket")?;
    let (stderr, child_stderr) = pair("creating the stderr socket")?;
    let (logs, child_logs) = pair("creating the log socket")?;
    let log_fd = child_logs.as_raw_fd();

    // Another user may not be able to walk to the bundle (it may live in the private data
    // directory): it is then executed through a descriptor this process opened. Not
    // close-on-exec, so that an interpreter (`#!`) can still open it by that name.
    let exe_fd = match launch.user {
        Some(_) => Some(
            nix::fcntl::open(
                exe,
                nix::fcntl::OFlag::O_PATH,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| SpawnError::Io {
                what: "opening the runner executable",
                source: e.into(),
            })?,
        ),
        None => None,
    };
    let mut cmd = match &exe_fd {
        Some(fd) => {
            let mut c = tokio::process::Command::new(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            c.arg0(exe);
            c
        }
        None => tokio::process::Command::new(exe),
    };
    cmd.arg(RUNNER_ARG)
        .current_dir(launch.work_dir)
        .env_clear()
        .stdin(Stdio::from(child_requests))
        .stdout(Stdio::from(child_stdout))
        .stderr(Stdio::from(child_stderr))
        .process_group(0)
        .kill_on_drop(true);
    for name in PASSED_BY_DEFAULT
        .iter()
        .copied()
        .chain(cfg.pass_env.iter().map(String::as_str))
    {
        if NEVER_PASSED.contains(&name) {
            continue;
        }
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.env(LOG_FD_ENV, log_fd.to_string());
    if let Some(TaskUser(u)) = launch.user {
        cmd.uid(u.uid.as_raw())
            .gid(u.gid.as_raw())
            .env("HOME", &u.dir)
            .env("USER", &u.name)
            .env("LOGNAME", &u.name);
    }
    let (sandbox, cgroup_procs) = (launch.sandbox, launch.cgroup_procs);
    // SAFETY: the closure runs between fork and exec (after the user switch) and only calls
    // async-signal-safe functions (fcntl, prctl, umask, landlock) on values captured by copy.
    unsafe {
        cmd.pre_exec(move || {
            // Let the log socket survive exec (it was created close-on-exec).
            if nix::libc::fcntl(log_fd, nix::libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // Die with the supervisor rather than run on unsupervised.
            if nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // Task code gets the usual umask, not the supervisor's private one.
            nix::libc::umask(0o022);
            // Into the try's cgroup before anything of the task runs: all it starts follows.
            if let Some(fd) = cgroup_procs
                && nix::libc::write(fd, b"0".as_ptr().cast(), 1) != 1
            {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fd) = sandbox {
                crate::sandbox::enforce(fd)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(io("starting the runner"))?;
    drop(child_logs);
    drop(exe_fd);
    let pid = child.id().map(|p| p as i32).ok_or_else(|| SpawnError::Io {
        what: "starting the runner",
        source: std::io::Error::other("the runner exited before its pid was known"),
    })?;
    Ok(Runner {
        child,
        pid,
        requests,
        stdout,
        stderr,
        logs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_names_cannot_escape_the_bundles_dir() {
        let dir = tempfile_dir();
        for bad in ["../x", "a/b", ".hidden", ""] {
            assert!(
                matches!(
                    resolve_runner(&dir, bad, None),
                    Err(SpawnError::BadBundleName(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            resolve_runner(&dir, "ok", Some("../v")),
            Err(SpawnError::BadBundleName(_))
        ));
    }

    #[test]
    fn versioned_runners_win_and_must_be_executable() {
        let dir = tempfile_dir();
        let plain = dir.join("etl");
        let versioned = dir.join("etl@v2");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::write(&versioned, "#!/bin/sh\n").unwrap();
        assert!(
            matches!(
                resolve_runner(&dir, "etl", None),
                Err(SpawnError::NoRunner { .. })
            ),
            "not executable yet"
        );
        for p in [&plain, &versioned] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert_eq!(resolve_runner(&dir, "etl", Some("v2")).unwrap(), versioned);
        assert_eq!(resolve_runner(&dir, "etl", Some("v9")).unwrap(), plain);
        assert_eq!(resolve_runner(&dir, "etl", None).unwrap(), plain);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("airlock-spawn-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
