//! What every handler shares.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::TimeDelta;
use tokio::sync::{Notify, watch};

use crate::auth::TokenAuthority;
use airlock_scheduler::SchedulerSettings;
use airlock_store::Db;
use airlock_store::cipher::SecretCipher;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Signs and checks tokens.
    pub tokens: Arc<TokenAuthority>,
    /// Trigger handling.
    pub triggers: Arc<Triggers>,
    /// Encrypts and decrypts secrets at rest.
    pub cipher: Arc<SecretCipher>,
    /// Variables and Connections from the server's environment, looked up first.
    pub env_secrets: Arc<crate::env_secrets::EnvSecrets>,
    /// Turns true when the server starts shutting down (long polls return early).
    pub stopping: watch::Receiver<bool>,
    /// Scheduling.
    pub scheduling: Arc<Scheduling>,
}

/// What the control routes need.
pub struct Scheduling {
    /// How the scheduler judges time.
    pub settings: SchedulerSettings,
    /// Task logs written on this host.
    pub log_dir: PathBuf,
    /// Counts changes that may let the scheduler make progress (wakes long-polling ticks).
    changes: watch::Sender<u64>,
}

impl Scheduling {
    /// Scheduling with `settings`, serving logs from `log_dir`.
    pub fn new(settings: SchedulerSettings, log_dir: PathBuf) -> Self {
        Self {
            settings,
            log_dir,
            changes: watch::channel(0).0,
        }
    }

    /// Notes a change (a task finished, a run was created, a trigger fired...).
    pub fn changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that sees the changes made after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        let mut rx = self.changes.subscribe();
        rx.borrow_and_update();
        rx
    }
}

/// What the trigger routes need.
pub struct Triggers {
    /// Wakes long-polling claims when a trigger is created (or could be claimed).
    pub created: Notify,
    /// How long a triggerer may be silent before its triggers go to others.
    pub health_timeout: TimeDelta,
    /// Most triggers per claim.
    pub claim_batch: i64,
}
