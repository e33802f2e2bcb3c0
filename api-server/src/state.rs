//! What every handler shares.

use std::sync::Arc;

use crate::auth::TokenAuthority;
use crate::db::Db;

/// Shared handler state: the database and the token authority.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Signs and checks tokens.
    pub tokens: Arc<TokenAuthority>,
}
