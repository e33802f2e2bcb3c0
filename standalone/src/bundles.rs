//! DAG registration: every executable in the bundles directory is asked for its DAGs
//! (`<bundle> dags`), and what it declares is registered through the control API.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_api_client::{ApiClient, ClientError};
use airlock_protocol::dag::BundleDefinition;

/// Longest a bundle may take to describe its DAGs.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a bundle could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundles directory cannot be read.
    #[error("cannot read the bundles directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bundle could not be run.
    #[error("cannot run bundle {path}: {source}")]
    Spawn {
        /// The executable.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bundle took too long.
    #[error("bundle {0} did not describe its DAGs within 30 s")]
    Timeout(PathBuf),
    /// The bundle failed or printed something that is not a bundle definition.
    #[error("bundle {path} could not describe its DAGs: {message}")]
    Invalid {
        /// The executable.
        path: PathBuf,
        /// What it said.
        message: String,
    },
    /// The bundle could not describe one of its DAGs or files (the others registered): an
    /// `error: ` line it wrote on stderr while exiting 0.
    #[error("bundle {bundle}: {message}")]
    Reported {
        /// The bundle.
        bundle: String,
        /// What it said.
        message: String,
    },
    /// The server refused one of the bundle's DAGs (the others registered).
    #[error("bundle {bundle}: DAG {dag_id} refused: {message}")]
    RefusedDag {
        /// The bundle.
        bundle: String,
        /// The DAG.
        dag_id: String,
        /// Why.
        message: String,
    },
    /// The server refused the registration.
    #[error("registering bundle {bundle}: {source}")]
    Register {
        /// The bundle.
        bundle: String,
        /// Why.
        source: ClientError,
    },
}

/// The executables in `dir` (hidden files and subdirectories are ignored), by name.
pub fn list_bundles(dir: &Path) -> Result<Vec<PathBuf>, BundleError> {
    let entries = std::fs::read_dir(dir).map_err(|source| BundleError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            let executable = std::fs::metadata(p)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            !hidden && executable
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Runs `<bundle> dags` and parses what it prints, with the problems it reported about some of
/// its DAGs (`error: ` lines on stderr; the rest of stderr is the bundle's own chatter). The
/// bundle is named after its file (that is how supervisors find it), whatever it calls itself.
pub async fn describe(path: &Path) -> Result<(BundleDefinition, Vec<String>), BundleError> {
    let run = tokio::process::Command::new(path)
        .arg("dags")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DESCRIBE_TIMEOUT, run)
        .await
        .map_err(|_| BundleError::Timeout(path.to_owned()))?
        .map_err(|source| BundleError::Spawn {
            path: path.to_owned(),
            source,
        })?;
    let invalid = |message: String| BundleError::Invalid {
        path: path.to_owned(),
        message,
    };
    if !out.status.success() {
        return Err(invalid(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut def: BundleDefinition =
        serde_json::from_slice(&out.stdout).map_err(|e| invalid(e.to_string()))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if def.bundle != file_name {
        tracing::warn!(
            declared = %def.bundle,
            file = %file_name,
            "a bundle is registered under its file name, not the name it declares"
        );
        def.bundle = file_name;
    }
    let problems = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .map(str::to_owned)
        .collect();
    Ok((def, problems))
}

/// Registers the bundles of a directory, skipping those unchanged since the last call.
#[derive(Default)]
pub struct BundleSync {
    seen: HashMap<PathBuf, String>,
}

/// What one sync did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// DAGs registered (new or changed), by bundle.
    pub registered: Vec<(String, Vec<String>)>,
    /// Bundles that failed, with why.
    pub failed: Vec<BundleError>,
}

impl BundleSync {
    /// Describes every bundle in `dir` and registers those that changed.
    pub async fn sync(
        &mut self,
        client: &ApiClient,
        dir: &Path,
    ) -> Result<SyncReport, BundleError> {
        let mut report = SyncReport::default();
        for path in list_bundles(dir)? {
            let def = match describe(&path).await {
                Ok((d, problems)) => {
                    report.failed.extend(problems.into_iter().map(|message| {
                        BundleError::Reported {
                            bundle: d.bundle.clone(),
                            message,
                        }
                    }));
                    d
                }
                Err(e) => {
                    report.failed.push(e);
                    continue;
                }
            };
            let fingerprint = serde_json::to_string(&def).unwrap_or_default();
            if self.seen.get(&path) == Some(&fingerprint) {
                continue;
            }
            match client.register_bundle(&def).await {
                Ok(r) => {
                    self.seen.insert(path, fingerprint);
                    report
                        .failed
                        .extend(r.refused.into_iter().map(|d| BundleError::RefusedDag {
                            bundle: r.bundle.clone(),
                            dag_id: d.dag_id,
                            message: d.message,
                        }));
                    report.registered.push((r.bundle, r.dags));
                }
                Err(source) => report.failed.push(BundleError::Register {
                    bundle: def.bundle.clone(),
                    source,
                }),
            }
        }
        Ok(report)
    }
}
