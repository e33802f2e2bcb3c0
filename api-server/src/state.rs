//! What every handler shares.

use std::sync::Arc;

use chrono::TimeDelta;
use tokio::sync::{Notify, watch};

use crate::auth::TokenAuthority;
use crate::db::Db;
use crate::kwargs_cipher::KwargsCipher;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Signs and checks tokens.
    pub tokens: Arc<TokenAuthority>,
    /// Trigger handling.
    pub triggers: Arc<Triggers>,
    /// Turns true when the server starts shutting down (long polls return early).
    pub stopping: watch::Receiver<bool>,
}

/// What the trigger routes need.
pub struct Triggers {
    /// Encrypts trigger arguments at rest.
    pub cipher: KwargsCipher,
    /// Wakes long-polling claims when a trigger is created (or could be claimed).
    pub created: Notify,
    /// How long a triggerer may be silent before its triggers go to others.
    pub health_timeout: TimeDelta,
    /// Most triggers per claim.
    pub claim_batch: i64,
}
