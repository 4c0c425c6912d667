//! cofferd: [`coffer`] over the AWS KMS JSON 1.1 wire protocol, authenticated with
//! AWS Signature Version 4, so the `aws` CLI, boto3 and `aws-sdk-kms` talk to it unchanged.
//!
//! The binary is a thin shell over [`Server`]: `cofferd --data-dir DIR --listen
//! 127.0.0.1:PORT`. Embedded in a test or another program:
//!
//! ```no_run
//! # async fn demo() -> Result<(), cofferd::Error> {
//! let server = cofferd::Server::bind(cofferd::Config::new("/tmp/coffer-data")).await?;
//! println!("listening on {}", server.local_addr()?);
//! server.run(std::future::pending()).await
//! # }
//! ```
//!
//! The pieces are public for tests and tools: the SigV4 header parser and signer
//! ([`parse_authorization`], [`authorization`]), the protocol's request decoder and operation
//! dispatcher ([`decode`], [`dispatch`]), and the credential store ([`CredentialStore`], from
//! `coffer-credentials`).
//!
//! ```
//! let h = cofferd::parse_authorization(
//!     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, \
//!      SignedHeaders=host;x-amz-date, \
//!      Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
//! )?;
//! assert_eq!(h.access_key_id, "AKIDEXAMPLE");
//! assert_eq!(h.service, "kms");
//! # Ok::<(), cofferd::MalformedAuthorization>(())
//! ```
#![forbid(unsafe_code)]

mod admin;
pub mod admin_client;
mod amz_date;
mod api_error;
pub mod audit_cli;
mod auth;
pub mod backup_cli;
pub mod check_cli;
mod cluster;
mod config;
mod config_file;
mod conn;
mod console;
mod console_audit;
mod console_metrics;
mod console_session;
mod deferred;
pub mod dev;
mod error;
mod health;
pub mod healthcheck_cli;
mod hsm;
mod limiter;
mod listen_addr;
mod listener;
mod local;
mod logging;
mod metrics;
mod protocol;
mod refusals;
pub mod replication;
pub mod seed;
mod server;
mod signing_keys;
mod sigv4;
mod tls;

pub use admin::{dispatch as admin_dispatch, OPERATIONS as ADMIN_OPERATIONS};
pub use api_error::ApiError;
pub use auth::{ADMIN_TARGET_PREFIX, CONTENT_TYPE, SERVICE, TARGET_PREFIX};
pub use cluster::CREDENTIALS_META;
pub use coffer_credentials::{
    ConfiguredPrincipal, Credential, CredentialStore, InitOptions, ADMIN_CREDENTIALS_FILE,
    CREDENTIALS_FILE, SEALING_PURPOSE,
};
pub use config::{
    AuditSettings, Config, HsmClusterEntry, Limits, LogFormat, LogSettings, Maintenance,
    Pkcs11RootSettings, PrincipalEntry, RootKeyProvider, StoreSettings, StoreUrl, TlsFiles,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SKEW, DEFAULT_REFUSAL_SUMMARY_INTERVAL,
    DEFAULT_ROOT_KEY_LABEL,
};
pub use config_file::{
    check_start_files, load_config_file, load_config_file_with, parse_config, plain_http_warning,
    validate_config,
};
pub use error::Error;
pub use hsm::hsm_clusters_from_config;
pub use limiter::RateLimit;
pub use listen_addr::{InvalidListenAddr, ListenAddr};
pub use local::LocalService;
pub use logging::init_logging;
pub use protocol::{decode, dispatch, AWS_OPERATIONS, SUPPORTED_OPERATIONS};
pub use server::{open_service, Server, Service};
pub use sigv4::{
    authorization, canonical_request, parse_authorization, payload_hash, signature, signing_key,
    string_to_sign, AuthorizationHeader, MalformedAuthorization, RequestParts, SigningParams,
    ALGORITHM,
};

/// An error and its causes on one line (`error: cause: cause`), for the operator. Each cause is
/// printed once: one whose message the line already ends with (an error that also prints its
/// source in its own message, as some library errors do) is not repeated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !text.is_empty() && !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// Formats Unix seconds as an `X-Amz-Date` value (`YYYYMMDDTHHMMSSZ`).
pub fn amz_date(unix_secs: i64) -> String {
    amz_date::format(unix_secs)
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    /// An error that prints its cause in its own message and also returns it as its source.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot listen: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn error_chain_prints_each_cause_once() {
        let io = || std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let e = Repeats(io());
        assert_eq!(error_chain(&e), format!("cannot listen: {}", io()));
        let e = crate::Error::Bind {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
            source: io(),
        };
        assert_eq!(
            error_chain(&e),
            format!("cannot listen on 127.0.0.1:9: {}", io())
        );
    }
}
