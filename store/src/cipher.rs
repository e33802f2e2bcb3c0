//! Secrets at rest: trigger arguments (which may hold credentials of the system a trigger polls)
//! and Connection passwords and extras are stored encrypted (AES-256-GCM). Only the API server
//! holds the key; triggerers and tasks receive values decrypted, over the API, when authorised.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;

/// The prefix of encrypted values.
const PREFIX: &str = "airlock-aes256gcm:v1:";
const NONCE_LEN: usize = 12;

/// Why a key or a value was refused.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The key is not 32 base64-encoded bytes.
    #[error("the secrets key must be 32 bytes, base64-encoded")]
    BadKey,
    /// The key file could not be read or created.
    #[error("cannot use the secrets key file: {0}")]
    Io(#[from] std::io::Error),
    /// The stored value does not decrypt with this key.
    #[error("a stored secret does not decrypt with this key")]
    Undecryptable,
    /// The value is in a format Airlock cannot read (e.g. Airflow's Fernet).
    #[error("a stored secret is in an unknown format")]
    UnknownFormat,
}

/// Encrypts and decrypts secrets at rest.
#[derive(Clone)]
pub struct SecretCipher {
    cipher: Aes256Gcm,
}

impl SecretCipher {
    /// A cipher from a base64 key (32 bytes).
    pub fn from_base64(key: &str) -> Result<Self, CipherError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| CipherError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&raw).map_err(|_| CipherError::BadKey)?;
        Ok(Self { cipher })
    }

    /// The key configured, or the one kept in (and generated into) `path`.
    pub fn load(configured: Option<&str>, path: &std::path::Path) -> Result<Self, CipherError> {
        match configured {
            Some(k) => Self::from_base64(k),
            None => Self::from_base64(&crate::secret_file::load_or_create(path, 32)?),
        }
    }

    /// Encrypts a value for storage.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // AES-GCM encryption of an in-memory buffer cannot fail.
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    /// Decrypts stored trigger arguments; plain JSON (as a client may send it already encoded)
    /// passes through.
    pub fn open(&self, stored: &str) -> Result<String, CipherError> {
        if stored.starts_with(PREFIX) {
            self.decrypt(stored)
        } else if stored.trim_start().starts_with('{') {
            Ok(stored.to_owned())
        } else {
            Err(CipherError::UnknownFormat)
        }
    }

    /// Decrypts a stored Connection field; a value without the encryption prefix was stored in
    /// clear by an earlier version and passes through.
    pub fn open_field(&self, stored: &str) -> Result<String, CipherError> {
        if stored.starts_with(PREFIX) {
            self.decrypt(stored)
        } else {
            Ok(stored.to_owned())
        }
    }

    fn decrypt(&self, stored: &str) -> Result<String, CipherError> {
        if let Some(b64) = stored.strip_prefix(PREFIX) {
            let blob = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| CipherError::Undecryptable)?;
            if blob.len() < NONCE_LEN {
                return Err(CipherError::Undecryptable);
            }
            let (nonce, sealed) = blob.split_at(NONCE_LEN);
            let nonce: [u8; NONCE_LEN] =
                nonce.try_into().map_err(|_| CipherError::Undecryptable)?;
            let plain = self
                .cipher
                .decrypt(&Nonce::from(nonce), sealed)
                .map_err(|_| CipherError::Undecryptable)?;
            String::from_utf8(plain).map_err(|_| CipherError::Undecryptable)
        } else {
            Err(CipherError::UnknownFormat)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    }

    #[test]
    fn seals_and_opens() {
        let c = SecretCipher::from_base64(&key()).unwrap();
        let sealed = c.seal(r#"{"password": "hunter2"}"#);
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("hunter2"));
        assert_eq!(c.open(&sealed).unwrap(), r#"{"password": "hunter2"}"#);
        assert_ne!(c.seal("{}"), c.seal("{}"), "a fresh nonce each time");
        assert_eq!(c.open(r#"{"plain": 1}"#).unwrap(), r#"{"plain": 1}"#);
        assert!(matches!(
            c.open("gAAAAA-fernet"),
            Err(CipherError::UnknownFormat)
        ));
        let other =
            SecretCipher::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32]))
                .unwrap();
        assert!(matches!(
            other.open(&sealed),
            Err(CipherError::Undecryptable)
        ));
        assert_eq!(c.open_field("plain").unwrap(), "plain");
        assert_eq!(c.open_field(&c.seal("hunter2")).unwrap(), "hunter2");
        assert!(matches!(
            SecretCipher::from_base64("short"),
            Err(CipherError::BadKey)
        ));
    }
}
