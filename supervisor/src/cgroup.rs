//! Each try in a cgroup (v2) of its own, when this process may create one: the runner moves
//! itself into it between fork and exec, so everything it starts (daemons that call `setsid`
//! included) is in it and is killed at the end of the try with `cgroup.kill`; the cgroup's CPU
//! time and, with the memory controller, its peak memory are recorded. Where cgroups are not
//! available the supervisor says so in the task log and falls back to the runner's process
//! group.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a try's cgroup measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// CPU time of every process of the try, in seconds.
    pub cpu_secs: Option<f64>,
    /// Peak memory of the try, in KiB (needs the memory controller).
    pub peak_memory_kib: Option<u64>,
}

/// A try's cgroup, removed when dropped.
pub struct TryCgroup {
    dir: PathBuf,
    procs: OwnedFd,
}

/// Where the cgroup v2 hierarchy is mounted, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// This process's cgroup in the v2 hierarchy, from `/proc/self/cgroup`.
fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| PathBuf::from(p.trim_start_matches('/')))
}

impl TryCgroup {
    /// Creates `name` under this process's own cgroup, or says why it cannot.
    pub fn create(name: &str) -> Result<Self, String> {
        let mount = cgroup2_mount().ok_or("no cgroup v2 hierarchy is mounted")?;
        let own = own_cgroup().ok_or("this process has no cgroup v2 path")?;
        let dir = mount.join(own).join(name);
        std::fs::create_dir(&dir)
            .map_err(|e| format!("cannot create the cgroup {}: {e}", dir.display()))?;
        // Opened now, with this process's credentials: the runner writes to it after it has
        // switched users, and cgroup v2 checks the opener's rights.
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .map(OwnedFd::from)
            .map_err(|e| {
                let _ = std::fs::remove_dir(&dir);
                format!("cannot open {}/cgroup.procs: {e}", dir.display())
            })?;
        Ok(Self { dir, procs })
    }

    /// The descriptor the runner writes `0` to (itself) between fork and exec.
    pub fn procs_fd(&self) -> i32 {
        self.procs.as_raw_fd()
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills every process of the try and waits (at most `wait`) until none is left.
    pub async fn kill_all(&self, wait: Duration) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.kill"), "1")?;
        let deadline = tokio::time::Instant::now() + wait;
        while self.populated() {
            if tokio::time::Instant::now() >= deadline {
                return Err(std::io::Error::other(
                    "processes of the try are still alive after cgroup.kill",
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    fn populated(&self) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.events"))
            .map(|e| e.lines().any(|l| l == "populated 1"))
            .unwrap_or(false)
    }

    /// What the try used.
    pub fn usage(&self) -> Usage {
        let cpu_secs = std::fs::read_to_string(self.dir.join("cpu.stat"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .map(|usec| usec as f64 / 1e6);
        let peak_memory_kib = std::fs::read_to_string(self.dir.join("memory.peak"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(|bytes| bytes / 1024);
        Usage {
            cpu_secs,
            peak_memory_kib,
        }
    }
}

impl Drop for TryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_mount_and_our_place_in_it() {
        // Every Linux this runs on mounts cgroup v2 somewhere (alone or beside v1).
        if let Some(mount) = cgroup2_mount() {
            assert!(mount.join("cgroup.controllers").exists(), "{mount:?}");
            assert!(own_cgroup().is_some());
        }
    }
}
