//! TLS with rustls on ring: the certificate chain and private key from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, TlsFiles};

fn bad(path: &Path, what: &str) -> Error {
    Error::Tls {
        path: path.to_owned(),
        message: what.to_owned(),
    }
}

/// A TLS acceptor for `files`: TLS 1.2 and 1.3 with rustls's safe defaults, HTTP/1.1 by ALPN.
/// The key file must be the owner's alone.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, Error> {
    crate::config_file::check_private(&files.key)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad(&files.cert, &e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&files.cert, &e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(&files.cert, "no certificate in the file"));
    }
    // The key's parse error is not echoed: it could quote key material.
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|_| {
        bad(
            &files.key,
            "no PKCS#8, PKCS#1 or SEC1 private key in the file",
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&files.cert, &e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&files.cert, &format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
