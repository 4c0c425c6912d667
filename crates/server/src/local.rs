//! A data directory opened in process, for tools that act on it without a server
//! (`coffer --data-dir DIR`): the key management service, acting as the root of the
//! administrator's account. Filesystem access to the directory is the authority (whoever can
//! read the root key and the database can do anything anyway); every call is audited as a
//! server's would be.

use std::fmt;
use std::path::Path;

use coffer::{AccountId, Caller, Kms};
use coffer_credentials::{CredentialStore, InitOptions, CREDENTIALS_FILE, SEALING_PURPOSE};

use crate::{Config, Error};

/// An open data directory: its service, its region and the administrator's account.
pub struct LocalService {
    kms: Kms,
    data_dir: coffer::DataDir,
    account: AccountId,
    region: String,
}

impl fmt::Debug for LocalService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalService")
            .field("data_dir", &self.data_dir.path())
            .field("account", &self.account.to_string())
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl LocalService {
    /// Opens the existing data directory `config.data_dir` with the root key `config.root_key`
    /// names. Refused, creating nothing, when the directory does not exist or is not one a
    /// cofferd has started in ([`Error::NotADataDir`]), and when another process (a running
    /// cofferd) holds it. The region is the data dir's own (fixed at its first start;
    /// `config.region` is not used); the account is the bootstrap administrator's while it is
    /// active, else the one account of the lasting administrator credentials.
    pub fn open(config: &Config) -> Result<Self, Error> {
        let dir = &config.data_dir;
        if !dir.is_dir() {
            return Err(Error::NotADataDir {
                path: dir.clone(),
                problem: "no such directory (cofferd creates a data directory at its first \
                          start; --data-dir never does)",
            });
        }
        for part in [coffer::DB_FILE, CREDENTIALS_FILE] {
            if !dir.join(part).is_file() {
                return Err(Error::NotADataDir {
                    path: dir.join(part),
                    problem: "missing: not a data directory cofferd has started in",
                });
            }
        }
        let data_dir = crate::server::open_data_dir(config)?;
        let creds = open_credentials(&data_dir, dir, &config.region)?;
        let account = administrator_account(&creds)?;
        let region = creds.region().to_owned();
        let kms = crate::server::build_kms(&data_dir, config, &region)?;
        Ok(Self {
            kms,
            data_dir,
            account,
            region,
        })
    }

    /// The service.
    pub fn kms(&self) -> &Kms {
        &self.kms
    }

    /// The region the data directory serves.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The administrator's account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The caller every local request acts as: the administrator account's root.
    pub fn root_caller(&self) -> Caller {
        Caller::account_root(self.account)
    }

    /// Closes the audit log with a close digest, as a server does at shutdown.
    pub fn close(self) -> Result<(), Error> {
        self.data_dir
            .audit_log()
            .close()
            .map(drop)
            .map_err(|e| Error::Kms(coffer::Error::internal(e)))
    }
}

/// The credential store, in the region it was made for (`region` first; the stored one when
/// they differ).
fn open_credentials(
    data_dir: &coffer::DataDir,
    dir: &Path,
    region: &str,
) -> Result<CredentialStore, Error> {
    let open = |region: &str| -> Result<CredentialStore, Error> {
        let init = InitOptions {
            region: region.to_owned(),
            account_id: None,
            principals: Vec::new(),
        };
        let sealing = data_dir.sealing_key(SEALING_PURPOSE).map_err(Error::Kms)?;
        Ok(CredentialStore::open(
            dir,
            &init,
            &coffer::SystemRandom::new(),
            sealing,
        )?)
    };
    match open(region) {
        Err(Error::Credentials(coffer_credentials::Error::RegionMismatch { stored, .. })) => {
            open(&stored)
        }
        r => r,
    }
}

/// The bootstrap administrator's account while it is active, else the one account of the
/// lasting administrator credentials.
fn administrator_account(creds: &CredentialStore) -> Result<AccountId, Error> {
    let bootstrap = creds
        .bootstrap_access_key_id()
        .and_then(|id| creds.get(&id));
    let mut accounts: Vec<String> = match bootstrap {
        Some(b) => vec![b.account_id().to_owned()],
        None => creds
            .list_visible(usize::MAX, None, &mut |c| {
                c.is_administrator() && c.expires_at().is_none()
            })
            .credentials
            .iter()
            .map(|c| c.account_id().to_owned())
            .collect(),
    };
    accounts.sort();
    accounts.dedup();
    match accounts.as_slice() {
        [one] => one
            .parse()
            .map_err(|_| Error::Config("an administrator credential's account is not valid")),
        [] => Err(Error::Config(
            "the data directory has no lasting administrator credential",
        )),
        many => Err(Error::AmbiguousAccount(many.join(", "))),
    }
}
