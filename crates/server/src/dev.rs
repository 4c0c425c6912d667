//! `cofferd --dev`: a zero-setup server for development and tests, as local-kms and LocalStack
//! offer one. A fresh temporary data directory (deleted at exit), a fixed port, account and
//! credential pair (documented, so SDKs and the `aws` CLI work without setup; signatures are
//! still verified), quotas and pre-authentication failure budgets off. Never for production:
//! it says so on stderr at start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::{Config, Error};

/// The port `--dev` listens on (unless `--listen` says otherwise).
pub const DEV_PORT: u16 = 4000;
/// The account of `--dev`.
pub const DEV_ACCOUNT_ID: &str = "111122223333";
/// The access key id of `--dev`'s administrator (the account's root).
pub const DEV_ACCESS_KEY_ID: &str = "AKIACOFFERDEV0000000";
/// Its secret. Public by design: `--dev` is for development only.
pub const DEV_SECRET_ACCESS_KEY: &str = "coffer-dev-mode-secret-not-for-production";
/// The region of `--dev`.
pub const DEV_REGION: &str = "us-east-1";

/// The banner `--dev` prints on stderr.
pub const BANNER: &str = "\
cofferd --dev: DEVELOPMENT MODE — NOT FOR PRODUCTION.
  A temporary data directory (deleted at exit), quotas and failure budgets off, and a fixed,
  public credential:
    AWS_ACCESS_KEY_ID=AKIACOFFERDEV0000000
    AWS_SECRET_ACCESS_KEY=coffer-dev-mode-secret-not-for-production
    AWS_DEFAULT_REGION=us-east-1   (account 111122223333)
";

/// A fresh temporary data directory for `--dev`, unique to this process.
pub fn temp_data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("cofferd-dev-{}", std::process::id()))
}

/// Applies `--dev`'s settings over `config` (before the flags, which override them): the fixed
/// port, account and region, no quotas, no pre-authentication failure budgets.
pub fn apply(config: &mut Config) {
    config.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, DEV_PORT)).into();
    config.region = DEV_REGION.to_owned();
    config.account_id = DEV_ACCOUNT_ID.parse().ok();
    config.quotas.enabled = false;
    for budget in [&mut config.limits.per_ip, &mut config.limits.per_access_key] {
        budget.rate = 1e9;
        budget.burst = 1e9;
    }
}

/// Prepares `dir` for a first start with the fixed credential: creates it (it must not exist:
/// `--dev` never reuses a directory) and writes the administrator file the first start adopts.
pub fn prepare(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir(dir).map_err(Error::io(dir))?;
    let admin = serde_json::json!({
        "access_key_id": DEV_ACCESS_KEY_ID,
        "secret_access_key": DEV_SECRET_ACCESS_KEY,
        "account_id": DEV_ACCOUNT_ID,
        "principal_arn": format!("arn:aws:iam::{DEV_ACCOUNT_ID}:root"),
        "region": DEV_REGION,
    });
    let path = dir.join(coffer_credentials::ADMIN_CREDENTIALS_FILE);
    let text = serde_json::to_vec_pretty(&admin)
        .map_err(|e| Error::io(&path)(std::io::Error::other(e)))?;
    write_owner_only(&path, &text)
}

fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(Error::io(path))?;
    f.write_all(bytes).map_err(Error::io(path))?;
    f.sync_all().map_err(Error::io(path))
}
