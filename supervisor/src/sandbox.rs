//! What the runner may reach on this host, beyond what its Unix user may.
//!
//! Landlock (unprivileged, Linux ≥ 5.13) hides the paths given with `--hide` (the data
//! directory of `airlock standalone`: its signing secret, admin token, database and task logs)
//! and, from ABI 6 on, keeps the runner from signalling processes outside its sandbox; Landlock
//! also keeps it from ptracing them or reading their `/proc/<pid>/mem` and `environ`, whatever
//! its user. Landlock rules only grant, so hiding a path means granting every sibling of it and
//! of each of its ancestors instead (ancestors themselves cannot be listed, their other entries
//! are reachable), plus the exceptions inside it (the bundles directory). Entries created after
//! the try started are not reachable. Symbolic links that lead into a hidden path, or above one,
//! are not followed.
//!
//! The ruleset is built here, before `fork`; the child only enforces it (two system calls, safe
//! between fork and exec). The `landlock` crate does the ABI negotiation; its `restrict_self` is
//! not used in the child because it is not documented as async-signal-safe.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope,
};

/// The newest Landlock ABI this build knows; older kernels get what they support.
const ABI_WANTED: ABI = ABI::V6;

/// A Landlock ruleset ready to be enforced in the runner, and what was decided building it.
pub struct Sandbox {
    ruleset: Option<OwnedFd>,
    /// Lines for the task log: what is hidden, or why nothing is.
    pub notes: Vec<String>,
}

impl Sandbox {
    /// No restriction beyond the runner's Unix user.
    pub fn none(why: impl Into<String>) -> Self {
        Self {
            ruleset: None,
            notes: vec![why.into()],
        }
    }

    /// A ruleset hiding `hide` (existing paths; others are ignored), except `allow` inside
    /// them. Falls back to [`Sandbox::none`] with the reason if Landlock is unavailable.
    pub fn hiding(hide: &[PathBuf], allow: &[PathBuf]) -> Self {
        let hidden: Vec<PathBuf> = hide
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .filter(|p| p.parent().is_some())
            .collect();
        if hidden.is_empty() {
            return Self::none("nothing to hide from the runner (no --hide path exists)");
        }
        match build(&hidden, allow) {
            Ok(Some(fd)) => Self {
                ruleset: Some(fd),
                notes: vec![format!(
                    "Landlock: the runner cannot reach {}",
                    hidden
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )],
            },
            Ok(None) => Self::none(
                "Landlock is not supported by this kernel: the runner can reach whatever its \
                 user can (run tasks as another user to protect the data directory)",
            ),
            Err(e) => Self::none(format!(
                "Landlock could not be set up ({e}): the runner can reach whatever its user can"
            )),
        }
    }

    /// What was decided, once the runner has started (closes the ruleset).
    pub fn into_notes(self) -> Vec<String> {
        self.notes
    }

    /// The raw ruleset descriptor for [`enforce`], if there is one.
    pub fn raw_fd(&self) -> Option<i32> {
        self.ruleset.as_ref().map(AsRawFd::as_raw_fd)
    }
}

/// Enforces the ruleset `fd` on the calling process: call between fork and exec.
///
/// # Safety
/// Only async-signal-safe system calls are made (`prctl`, `landlock_restrict_self`).
pub unsafe fn enforce(fd: i32) -> std::io::Result<()> {
    // SAFETY: plain system calls on integers.
    unsafe {
        if nix::libc::prctl(nix::libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 {
            return Err(std::io::Error::last_os_error());
        }
        if nix::libc::syscall(nix::libc::SYS_landlock_restrict_self, fd, 0) == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn is_within(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// The paths to grant full access to: every entry on the way to a hidden path that is neither
/// hidden nor above a hidden path.
fn granted(hidden: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let above_hidden = |p: &Path| hidden.iter().any(|h| is_within(h, p));
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::from([PathBuf::from("/")]);
    while let Some(dir) = dirs.pop_first() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if hidden.contains(&path) {
                continue;
            }
            if above_hidden(&path) {
                dirs.insert(path);
                continue;
            }
            // A link is granted as where it leads, unless that is hidden or above hidden.
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            let target = if is_link {
                match std::fs::canonicalize(&path) {
                    Ok(t) => t,
                    Err(_) => continue,
                }
            } else {
                path
            };
            if hidden.iter().any(|h| is_within(&target, h)) || above_hidden(&target) {
                continue;
            }
            out.insert(target);
        }
    }
    out
}

fn build(hidden: &[PathBuf], allow: &[PathBuf]) -> Result<Option<OwnedFd>, String> {
    let all = AccessFs::from_all(ABI_WANTED);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .and_then(|r| r.scope(Scope::Signal))
        .and_then(|r| r.scope(Scope::AbstractUnixSocket))
        .and_then(|r| r.create())
        .map_err(|e| e.to_string())?;
    let mut grant = |path: &Path, access: BitFlags<AccessFs>| -> Result<(), String> {
        let Ok(fd) = PathFd::new(path) else {
            // Gone since it was listed, or not openable: nothing to grant.
            return Ok(());
        };
        let access = if path.is_dir() {
            access
        } else {
            access & AccessFs::from_file(ABI_WANTED)
        };
        (&mut ruleset)
            .add_rule(PathBeneath::new(fd, access))
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    for path in granted(hidden) {
        grant(&path, all)?;
    }
    // Exceptions inside a hidden path (the bundles directory) are readable and executable.
    for path in allow.iter().filter_map(|p| std::fs::canonicalize(p).ok()) {
        if hidden.iter().any(|h| is_within(&path, h)) {
            grant(&path, AccessFs::from_read(ABI_WANTED))?;
        }
    }
    Ok(ruleset.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_everything_but_the_hidden_path_and_its_ancestors() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(home.join("bundles")).unwrap();
        std::fs::create_dir_all(root.join("work")).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        std::os::unix::fs::symlink(&home, root.join("to-home")).unwrap();
        std::os::unix::fs::symlink(root.join("work"), root.join("to-work")).unwrap();
        let g = granted(std::slice::from_ref(&home));
        assert!(g.contains(&root.join("work")));
        assert!(g.contains(&root.join("file")));
        assert!(!g.contains(&home), "hidden");
        assert!(!g.contains(&root), "an ancestor is never granted whole");
        assert!(!g.contains(&PathBuf::from("/")));
        assert!(!g.iter().any(|p| p.starts_with(&home)), "{g:?}");
        assert!(g.contains(&PathBuf::from("/usr")) || !Path::new("/usr").exists());
    }
}
