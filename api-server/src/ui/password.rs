//! Web-UI passwords: Argon2id (the `argon2` crate's defaults, OWASP's minimum: 19 MiB, two
//! passes), hashed and checked on the blocking pool so a sign-in never stalls request handling.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

use crate::error::ApiError;

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;
/// Longest password accepted (hashing cost grows with it).
pub const MAX_LEN: usize = 1024;

/// Refuses a password that is too short or too long.
pub fn check_policy(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if (MIN_LEN..=MAX_LEN).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            reason: "invalid_password",
            message: format!("a password has {MIN_LEN} to {MAX_LEN} characters, not {n}"),
        })
    }
}

fn hash_now(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
}

/// The PHC string of `password` (after [`check_policy`]).
pub async fn hash(password: String) -> Result<String, ApiError> {
    check_policy(&password)?;
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Whether `password` matches `stored` (a PHC string). With no stored hash (an unknown user),
/// a dummy is checked so the answer takes as long as for a known one.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = match stored {
            Some(s) => s,
            None => DUMMY
                .get_or_init(|| hash_now("not a password of anyone").ok())
                .clone()
                .unwrap_or_default(),
        };
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))
}
