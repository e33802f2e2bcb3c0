//! Secrets kept in the data directory: read if present, else generated once (mode 0600). Two
//! processes starting at once agree on one secret: only one `create_new` can win.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use rand::RngCore;

/// Reads the base64 secret in `path`, or creates it with `len` random bytes; returns the text.
pub fn load_or_create(path: &Path, len: usize) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut raw = vec![0u8; len];
    rand::rng().fill_bytes(&mut raw);
    let secret = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())?;
            f.sync_all()?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().to_owned())
        }
        Err(e) => Err(e),
    }
}
