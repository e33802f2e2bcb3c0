//! Signing keys: a shared HMAC secret (the default) or an RSA / Ed25519 private key.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// Where signing material comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// An HMAC secret given directly (`AIRLOCK_JWT_SECRET`).
    Secret(String),
    /// An HMAC secret kept in a file, generated (once) if the file does not exist.
    SecretFile(PathBuf),
    /// A PEM private key (RSA → RS256, Ed25519 → EdDSA).
    PrivateKey(PathBuf),
}

/// Errors loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("cannot use key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret is too short to be safe.
    #[error("the JWT secret must be at least 32 bytes long")]
    WeakSecret,
    /// The private key is neither an RSA nor an Ed25519 PEM key.
    #[error("{path} is not an RSA or Ed25519 private key in PEM form: {detail}")]
    BadPrivateKey {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

/// Loaded signing material.
pub struct KeyMaterial {
    /// The signing algorithm.
    pub algorithm: Algorithm,
    /// Signs tokens.
    pub encoding: EncodingKey,
    /// Checks tokens.
    pub decoding: DecodingKey,
    /// The `kid` header (`not-used` for HMAC, as in Airflow; the JWK thumbprint otherwise).
    pub kid: String,
    /// Public keys for validators elsewhere (asymmetric keys only).
    pub jwks: Option<JwkSet>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, KeyError> {
    airlock_store::secret_file::load_or_create(path, 64)
        .map(String::into_bytes)
        .map_err(io_err(path))
}

fn hmac(secret: &[u8]) -> Result<KeyMaterial, KeyError> {
    if secret.len() < 32 {
        return Err(KeyError::WeakSecret);
    }
    Ok(KeyMaterial {
        algorithm: Algorithm::HS512,
        encoding: EncodingKey::from_secret(secret),
        decoding: DecodingKey::from_secret(secret),
        kid: "not-used".into(),
        jwks: None,
    })
}

fn asymmetric(path: &Path) -> Result<KeyMaterial, KeyError> {
    let pem = std::fs::read(path).map_err(io_err(path))?;
    let bad = |detail: String| KeyError::BadPrivateKey {
        path: path.to_owned(),
        detail,
    };
    let (algorithm, encoding) = match EncodingKey::from_rsa_pem(&pem) {
        Ok(k) => (Algorithm::RS256, k),
        Err(rsa_err) => match EncodingKey::from_ed_pem(&pem) {
            Ok(k) => (Algorithm::EdDSA, k),
            Err(ed_err) => return Err(bad(format!("as RSA: {rsa_err}; as Ed25519: {ed_err}"))),
        },
    };
    let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).map_err(|e| bad(e.to_string()))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| bad(e.to_string()))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(match algorithm {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        _ => KeyAlgorithm::EdDSA,
    });
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| bad(e.to_string()))?;
    Ok(KeyMaterial {
        algorithm,
        encoding,
        decoding,
        kid,
        jwks: Some(JwkSet { keys: vec![jwk] }),
    })
}

impl KeySource {
    /// Loads (or creates) the keys.
    pub fn load(&self) -> Result<KeyMaterial, KeyError> {
        match self {
            Self::Secret(s) => hmac(s.as_bytes()),
            Self::SecretFile(path) => hmac(&load_or_create_secret(path)?),
            Self::PrivateKey(path) => asymmetric(path),
        }
    }
}
