//! `--data-dir DIR`: the data directory opened in process instead of an endpoint. The SDK
//! client is the same one every command uses; its HTTP client is replaced by one that hands
//! each request's `X-Amz-Target` and body to `cofferd::dispatch`, as the root of the data
//! directory's administrator account. Filesystem access to the data directory is the
//! authority: whoever can read its root key and database can do anything with it anyway. Every
//! call is audited as a server's would be.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_kms::config::http::{HttpRequest, HttpResponse};
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::Client;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use clap::Args;

use crate::failure::Failure;

/// The flags of `--data-dir` mode (global: they go before or after the command).
#[derive(Debug, Args)]
pub(crate) struct LocalArgs {
    /// Open this data directory in process instead of calling an endpoint (as the root of its
    /// administrator account; it must exist and no cofferd may be running on it)
    #[arg(long, global = true, value_name = "DIR", conflicts_with_all = ["endpoint_url", "profile"])]
    pub(crate) data_dir: Option<PathBuf>,
    /// With --data-dir: the root-key file (default DIR/root.key)
    #[arg(long, global = true, value_name = "FILE", group = "root")]
    pub(crate) root_key: Option<PathBuf>,
    /// With --data-dir: derive the root key from the passphrase in FILE (mode 0600)
    #[arg(long, global = true, value_name = "FILE", group = "root")]
    pub(crate) root_passphrase_file: Option<PathBuf>,
    /// With --data-dir: derive the root key from the passphrase in variable VAR
    #[arg(long, global = true, value_name = "VAR", group = "root")]
    pub(crate) root_passphrase_env: Option<String>,
}

/// The configuration cofferd would open the data directory with.
fn config(dir: &std::path::Path, a: &LocalArgs) -> cofferd::Config {
    let mut cfg = cofferd::Config::new(dir);
    cfg.root_key = if let Some(f) = &a.root_passphrase_file {
        cofferd::RootKeyProvider::PassphraseFile(f.clone())
    } else if let Some(v) = &a.root_passphrase_env {
        cofferd::RootKeyProvider::PassphraseEnv(v.clone())
    } else {
        cofferd::RootKeyProvider::KeyFile(a.root_key.clone())
    };
    cfg
}

/// Opens the data directory `a` names (exit 3 if it cannot: missing, not a data directory, a
/// cofferd running on it, the wrong root key).
pub(crate) fn open(a: &LocalArgs) -> Result<Option<Arc<cofferd::LocalService>>, Failure> {
    let Some(dir) = &a.data_dir else {
        if a.root_key.is_some()
            || a.root_passphrase_file.is_some()
            || a.root_passphrase_env.is_some()
        {
            return Err(Failure::Usage(
                "--root-key, --root-passphrase-file and --root-passphrase-env go with --data-dir"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let cfg = config(dir, a);
    // A key file is made by cofferd's first start, never here.
    if let cofferd::RootKeyProvider::KeyFile(file) = &cfg.root_key {
        let file = file.clone().unwrap_or_else(|| dir.join("root.key"));
        if dir.is_dir() && !file.is_file() {
            return Err(Failure::Io(format!(
                "{}: no root key file (give --root-key, --root-passphrase-file or \
                 --root-passphrase-env as cofferd is started)",
                file.display()
            )));
        }
    }
    cofferd::LocalService::open(&cfg)
        .map(|s| Some(Arc::new(s)))
        .map_err(|e| {
            Failure::Io(format!(
                "cannot open the data directory {}: {}",
                dir.display(),
                cofferd::error_chain(&e)
            ))
        })
}

/// Closes the audit log with its close digest.
pub(crate) fn close(svc: Arc<cofferd::LocalService>) -> Result<(), Failure> {
    match Arc::try_unwrap(svc) {
        Ok(s) => s.close().map_err(|e| {
            Failure::Io(format!(
                "closing the audit log: {}",
                cofferd::error_chain(&e)
            ))
        }),
        // Still shared (cannot happen once the client is dropped): the log stays open, its
        // records written.
        Err(_) => Ok(()),
    }
}

/// An SDK client whose requests `svc` serves in process.
pub(crate) fn client(svc: &Arc<cofferd::LocalService>) -> Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(svc.region().to_owned()))
        // The SDK signs every request; nothing checks the signature in process.
        .credentials_provider(Credentials::new(
            "COFFERLOCALDATADIR00",
            "not-a-secret-requests-never-leave-the-process",
            None,
            None,
            "coffer --data-dir",
        ))
        .endpoint_url("http://data-dir.coffer.invalid")
        .retry_config(RetryConfig::disabled())
        .http_client(InProcess { svc: svc.clone() })
        .build();
    Client::from_conf(conf)
}

/// The HTTP client (and connector) that serves requests in process.
#[derive(Clone)]
struct InProcess {
    svc: Arc<cofferd::LocalService>,
}

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess").field("svc", &self.svc).finish()
    }
}

impl HttpClient for InProcess {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for InProcess {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let headers = request.headers();
        let target = headers.get("x-amz-target").unwrap_or_default();
        let op = target
            .strip_prefix(cofferd::TARGET_PREFIX)
            .unwrap_or(target);
        let mut caller = self.svc.root_caller();
        if let Some(ua) = headers.get("user-agent") {
            caller = caller.with_user_agent(ua);
        }
        let body = request.body().bytes().unwrap_or_default();
        let (status, body) = match cofferd::dispatch(self.svc.kms(), &caller, op, body) {
            Ok(out) => (200, out),
            Err(e) => (e.status(), e.body()),
        };
        let status = match StatusCode::try_from(status).or_else(|_| StatusCode::try_from(500)) {
            Ok(s) => s,
            Err(e) => {
                return HttpConnectorFuture::ready(Err(ConnectorError::other(e.into(), None)))
            }
        };
        let mut response = HttpResponse::new(status, SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", cofferd::CONTENT_TYPE);
        HttpConnectorFuture::ready(Ok(response))
    }
}
