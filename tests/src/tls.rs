//! A private certificate authority for HTTPS tests: a CA and a server certificate for
//! `127.0.0.1` and `localhost`, written as PEM files, and an in-test HTTPS server.

use std::path::{Path, PathBuf};

/// PEM files of a throwaway CA and a server certificate it signed.
pub struct TestCa {
    /// The CA certificate (what clients trust: `AIRLOCK_CA_CERT`).
    pub ca_cert: PathBuf,
    /// The server's certificate.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
}

impl TestCa {
    /// Creates the CA and a server certificate in `dir`.
    pub fn create(dir: &Path) -> Self {
        let fail = |e: rcgen::Error| -> ! { panic!("cannot make test certificates: {e}") };
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail(e));
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Airlock test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| fail(e));
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap_or_else(|e| fail(e));
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap_or_else(|e| fail(e));
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| fail(e));
        let cert = params.signed_by(&key, &ca).unwrap_or_else(|e| fail(e));
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
            path
        };
        Self {
            ca_cert: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", cert.pem()),
            server_key: write("server-key.pem", key.serialize_pem()),
        }
    }

    /// Serves `app` over HTTPS with the server certificate on `listener`, until the test ends.
    pub fn serve(&self, listener: tokio::net::TcpListener, app: axum::Router) {
        let acceptor = airlock_api_server::tls::acceptor(&self.server_cert, &self.server_key)
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    }
}
