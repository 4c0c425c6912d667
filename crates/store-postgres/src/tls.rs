//! How a connection is made: plain TCP or a Unix socket, or TLS through rustls when the URL asks
//! for it.
//!
//! `sslmode=require` connects with TLS and **verifies** the server's certificate and host name
//! (against the system's roots, or the roots given in [`PostgresOptions`](crate::PostgresOptions));
//! libpq's `require` does not verify, coffer does not offer an unauthenticated TLS. The default
//! `sslmode=prefer` is treated as `disable`: an opportunistic TLS that accepts any certificate
//! protects nothing against an active attacker, so coffer does not pretend it does.

use std::fmt;
use std::sync::Arc;

use coffer_store::StoreError;
use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::classify;

/// The connector chosen from the URL's `sslmode`.
#[derive(Clone)]
pub(crate) enum Connector {
    Plain,
    Rustls(Arc<rustls::ClientConfig>),
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "plain",
            Self::Rustls(_) => "tls (rustls, verified)",
        })
    }
}

impl Connector {
    /// The connector for `config`; `tls` replaces the system's roots when given.
    pub(crate) fn for_config(
        config: &mut Config,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, StoreError> {
        match config.get_ssl_mode() {
            SslMode::Disable | SslMode::Prefer => {
                config.ssl_mode(SslMode::Disable);
                Ok(Self::Plain)
            }
            // `require`, and any stricter mode a later client version adds.
            _ => Ok(Self::Rustls(match tls {
                Some(c) => c,
                None => Arc::new(system_roots_config()?),
            })),
        }
    }

    pub(crate) fn connect(&self, config: &Config) -> Result<Client, StoreError> {
        match self {
            Self::Plain => config.connect(NoTls),
            Self::Rustls(c) => config.connect(MakeRustlsConnect::new((**c).clone())),
        }
        .map_err(|e| classify("connecting to PostgreSQL", e))
    }
}

/// A rustls client configuration (ring provider, TLS 1.2 and 1.3) that trusts the system's root
/// certificates.
fn system_roots_config() -> Result<rustls::ClientConfig, StoreError> {
    let tls_err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Backend {
        context: "setting up TLS to PostgreSQL",
        source: e,
    };
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(tls_err(
            "sslmode=require but no system root certificate could be loaded; \
             give the database's CA in PostgresOptions::tls"
                .into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(Box::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
