//! HTTP clients: the one place that decides how Airlock speaks TLS.
//!
//! Every outgoing HTTP client (API clients of workers, supervisors, triggerers and the CLI; the
//! triggerer's HTTP-poll triggers; the notifier's webhooks) is built from [`client_builder`], so
//! `https://` works the same everywhere: rustls with the `ring` provider, the host's trusted
//! roots, plus the certificates in the PEM file named by `AIRLOCK_CA_CERT` (a private CA).

use std::path::PathBuf;

/// The variable naming a PEM file of extra trusted certificates (a private CA).
pub const CA_CERT_ENV: &str = "AIRLOCK_CA_CERT";

/// Why an HTTP client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// `AIRLOCK_CA_CERT` names a file that cannot be read or holds no certificate.
    #[error("cannot use the CA certificates in {path} ({CA_CERT_ENV}): {message}")]
    CaCert {
        /// The file named.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Installs the process's TLS provider. reqwest is built without one (its default, aws-lc-rs,
/// takes several times longer to build); a second install keeps the first, so this is idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client builder for a client that talks to `url` only: for a plain `http://` URL it trusts
/// no certificate at all, since it never makes a TLS handshake. Loading the host's roots costs
/// a process about 20 ms and 3 MB, and the supervisor is one process per try.
pub fn client_builder_for(url: &str) -> Result<reqwest::ClientBuilder, HttpClientError> {
    if plain_http(url) {
        install_tls_provider();
        return Ok(reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only(Vec::new()));
    }
    client_builder()
}

fn plain_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

/// A client builder speaking TLS with rustls, trusting the host's roots and `AIRLOCK_CA_CERT`.
pub fn client_builder() -> Result<reqwest::ClientBuilder, HttpClientError> {
    install_tls_provider();
    let mut builder = reqwest::Client::builder().tls_backend_rustls();
    let Some(path) = std::env::var_os(CA_CERT_ENV).filter(|p| !p.is_empty()) else {
        return Ok(builder);
    };
    let path = PathBuf::from(path);
    let bad = |message: String| HttpClientError::CaCert {
        path: path.clone(),
        message,
    };
    let pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    for cert in certs {
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::plain_http;

    #[test]
    fn only_http_urls_skip_the_roots() {
        assert!(plain_http("http://127.0.0.1:8080/execution"));
        assert!(plain_http("HTTP://api.internal/execution"));
        assert!(!plain_http("https://api.internal/execution"));
        assert!(!plain_http("http"));
        assert!(!plain_http(""));
    }
}
