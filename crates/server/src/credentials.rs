//! The server's credential store: access key id → secret, principal and account, kept in
//! `DATA_DIR/credentials.json` (mode 0600). On first start in an empty data dir it creates the
//! administrator credential (the account root) and writes it once to
//! `DATA_DIR/admin-credentials.json` (mode 0600).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use coffer::{AccountId, Caller, RandomSource, SecretBytes};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The credential store's file name in the data dir.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// The administrator credential's file name in the data dir.
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials.json";

/// Version of the credential file format.
const FORMAT: u32 = 1;

/// One access key: its secret and the principal it authenticates.
pub struct Credential {
    access_key_id: String,
    secret: SecretBytes,
    caller: Caller,
}

impl Credential {
    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key.
    pub fn secret(&self) -> &SecretBytes {
        &self.secret
    }

    /// The principal (and account) the key authenticates.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"[redacted]")
            .field("principal_arn", &self.caller.principal_arn)
            .finish()
    }
}

/// A credential as stored. The secret is stored as is (a SigV4 verifier needs it), in a file
/// only the server's user can read.
#[derive(Serialize, Deserialize)]
struct StoredCredential {
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
    principal_arn: String,
}

impl Drop for StoredCredential {
    fn drop(&mut self) {
        coffer_crypto::wipe(&mut std::mem::take(&mut self.secret_access_key).into_bytes());
    }
}

#[derive(Serialize, Deserialize)]
struct StoreFile {
    format: u32,
    region: String,
    credentials: Vec<StoredCredential>,
}

/// The administrator's credential file, as the issue fixes its fields.
#[derive(Serialize, Deserialize)]
struct AdminFile {
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
    principal_arn: String,
    region: String,
}

impl Drop for AdminFile {
    fn drop(&mut self) {
        coffer_crypto::wipe(&mut std::mem::take(&mut self.secret_access_key).into_bytes());
    }
}

/// The purpose name of the data dir's sealing key that wraps credential secrets.
pub const SEALING_PURPOSE: &str = "cofferd.credentials";

/// What to create on first start, and what the configuration adds to credentials.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The region the data dir serves.
    pub region: String,
    /// The administrator's account; a random 12-digit one when `None`.
    pub account_id: Option<AccountId>,
    /// Identity policies and tags the configuration attaches to principals.
    pub principals: Vec<crate::PrincipalSettings>,
}

/// The credentials the server accepts, loaded from the data dir.
pub struct CredentialStore {
    region: String,
    by_key: HashMap<String, Arc<Credential>>,
    admin: String,
    created: bool,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("region", &self.region)
            .field("credentials", &self.by_key.len())
            .finish_non_exhaustive()
    }
}

impl CredentialStore {
    /// Loads the store from `data_dir`, creating the data dir, the store and the administrator
    /// credential on first start. The administrator file is written only then.
    pub fn open(
        data_dir: &Path,
        init: &InitOptions,
        rng: &dyn RandomSource,
        _sealing: coffer_crypto::SymmetricKey,
    ) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
        let store_path = data_dir.join(CREDENTIALS_FILE);
        let admin_path = data_dir.join(ADMIN_CREDENTIALS_FILE);
        if store_path.exists() {
            let store = Self::load(&store_path)?;
            if store.region != init.region {
                return Err(Error::RegionMismatch {
                    stored: store.region,
                    requested: init.region.clone(),
                });
            }
            return Ok(store);
        }
        // First start (or a first start cut short after the admin file was written: recover
        // the administrator from it rather than minting a second one).
        let admin = if admin_path.exists() {
            let bytes = read_secret_file(&admin_path)?;
            let admin: AdminFile =
                serde_json::from_slice(bytes.expose()).map_err(|source| Error::CredentialFile {
                    path: admin_path.clone(),
                    source,
                })?;
            admin
        } else {
            let admin = new_admin(init, rng)?;
            let json = SecretBytes::new(serde_json::to_vec_pretty(&admin).map_err(|source| {
                Error::CredentialFile {
                    path: admin_path.clone(),
                    source,
                }
            })?);
            write_private(&admin_path, json.expose())?;
            admin
        };
        let file = StoreFile {
            format: FORMAT,
            region: admin.region.clone(),
            credentials: vec![StoredCredential {
                access_key_id: admin.access_key_id.clone(),
                secret_access_key: admin.secret_access_key.clone(),
                account_id: admin.account_id.clone(),
                principal_arn: admin.principal_arn.clone(),
            }],
        };
        let json = SecretBytes::new(serde_json::to_vec_pretty(&file).map_err(|source| {
            Error::CredentialFile {
                path: store_path.clone(),
                source,
            }
        })?);
        write_private(&store_path, json.expose())?;
        let mut store = Self::load(&store_path)?;
        if store.region != init.region {
            return Err(Error::RegionMismatch {
                stored: store.region,
                requested: init.region.clone(),
            });
        }
        store.created = true;
        Ok(store)
    }

    fn load(path: &Path) -> Result<Self, Error> {
        let bytes = read_secret_file(path)?;
        let file: StoreFile =
            serde_json::from_slice(bytes.expose()).map_err(|source| Error::CredentialFile {
                path: path.to_owned(),
                source,
            })?;
        let invalid = |what| Error::InvalidCredential {
            path: path.to_owned(),
            what,
        };
        if file.format != FORMAT {
            return Err(invalid("format"));
        }
        let mut by_key = HashMap::new();
        let mut admin = None;
        for c in &file.credentials {
            let caller = Caller::new(&c.principal_arn).map_err(|_| invalid("principal_arn"))?;
            if caller.account.as_str() != c.account_id {
                return Err(invalid("account_id"));
            }
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                return Err(invalid("access key"));
            }
            admin.get_or_insert_with(|| c.access_key_id.clone());
            let cred = Credential {
                access_key_id: c.access_key_id.clone(),
                secret: SecretBytes::copy_from(c.secret_access_key.as_bytes()),
                caller,
            };
            if by_key
                .insert(c.access_key_id.clone(), Arc::new(cred))
                .is_some()
            {
                return Err(invalid("duplicate access_key_id"));
            }
        }
        Ok(Self {
            region: file.region.clone(),
            by_key,
            admin: admin.ok_or_else(|| invalid("no credentials"))?,
            created: false,
        })
    }

    /// The credential of an access key id.
    pub fn get(&self, access_key_id: &str) -> Option<Arc<Credential>> {
        self.by_key.get(access_key_id).cloned()
    }

    /// The region the data dir serves.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The administrator's access key id.
    pub fn admin_access_key_id(&self) -> &str {
        &self.admin
    }

    /// Whether the bootstrap administrator credential is still active (until credential
    /// management lands, it always is).
    pub fn bootstrap_active(&self) -> bool {
        true
    }

    /// Whether this call created the store (first start).
    pub fn created(&self) -> bool {
        self.created
    }

    /// How many credentials there are.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there are none (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Characters of an access key id after its `AKIA` prefix (base 32, as AWS's).
const KEY_ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn new_admin(init: &InitOptions, rng: &dyn RandomSource) -> Result<AdminFile, Error> {
    let mut raw = SecretBytes::random(rng, 16 + 30 + 12).map_err(Error::Random)?;
    let b = raw.expose_mut();
    let (id_bytes, rest) = b.split_at(16);
    let (secret_bytes, acct_bytes) = rest.split_at(30);
    let mut access_key_id = String::from("AKIA");
    access_key_id.extend(
        id_bytes
            .iter()
            .map(|x| char::from(KEY_ID_ALPHABET[usize::from(x % 32)])),
    );
    // 30 random bytes → 40 base64 characters, the length of an AWS secret access key.
    let secret_access_key = base64::engine::general_purpose::STANDARD.encode(secret_bytes);
    let account = match init.account_id {
        Some(a) => a,
        None => {
            // 12 random decimal digits; the first is never 0, so the id reads as a number too.
            let digits: String = acct_bytes
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let d = if i == 0 { 1 + x % 9 } else { x % 10 };
                    char::from(b'0' + d)
                })
                .collect();
            AccountId::parse(&digits).map_err(|_| Error::Config("generated account id"))?
        }
    };
    Ok(AdminFile {
        access_key_id,
        secret_access_key,
        account_id: account.to_string(),
        principal_arn: Caller::account_root(account).principal_arn.clone(),
        region: init.region.clone(),
    })
}

fn read_secret_file(path: &Path) -> Result<SecretBytes, Error> {
    Ok(SecretBytes::new(
        std::fs::read(path).map_err(Error::io(path))?,
    ))
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, synced, then
/// renamed), readable and writable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp: PathBuf = path.with_extension("json.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(Error::io(&tmp))?;
    #[cfg(unix)]
    {
        // The mode above applies only to a new file; make sure of it for a stale one.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(Error::io(&tmp))?;
    }
    f.write_all(bytes).map_err(Error::io(&tmp))?;
    f.sync_all().map_err(Error::io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(Error::io(path))?;
    if let Some(dir) = path.parent() {
        // Make the rename durable; not every platform can open a directory, so best effort.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer::SystemRandom;

    fn temp_dir(name: &str) -> PathBuf {
        let mut b = [0u8; 8];
        SystemRandom::new().fill(&mut b).unwrap();
        let d = std::env::temp_dir().join(format!("cofferd-{name}-{}", crate::sigv4::hex(&b)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn init() -> InitOptions {
        InitOptions {
            region: "eu-west-1".into(),
            account_id: None,
            principals: Vec::new(),
        }
    }

    fn key() -> coffer_crypto::SymmetricKey {
        coffer_crypto::SymmetricKey::from_bytes([7; 32])
    }

    #[test]
    fn first_start_creates_admin_and_restart_keeps_it() {
        let dir = temp_dir("creds");
        let rng = SystemRandom::new();
        let s = CredentialStore::open(&dir, &init(), &rng, key()).unwrap();
        assert!(s.created());
        assert_eq!(s.len(), 1);
        let admin_text = std::fs::read_to_string(dir.join(ADMIN_CREDENTIALS_FILE)).unwrap();
        let admin: serde_json::Value = serde_json::from_str(&admin_text).unwrap();
        let akid = admin["access_key_id"].as_str().unwrap();
        assert!(akid.starts_with("AKIA") && akid.len() == 20);
        assert_eq!(admin["secret_access_key"].as_str().unwrap().len(), 40);
        let account = admin["account_id"].as_str().unwrap();
        assert_eq!(account.len(), 12);
        assert_eq!(
            admin["principal_arn"],
            format!("arn:aws:iam::{account}:root")
        );
        assert_eq!(admin["region"], "eu-west-1");
        let cred = s.get(akid).unwrap();
        assert_eq!(
            cred.secret().expose(),
            admin["secret_access_key"].as_str().unwrap().as_bytes()
        );
        assert!(!format!("{cred:?}").contains(admin["secret_access_key"].as_str().unwrap()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [ADMIN_CREDENTIALS_FILE, CREDENTIALS_FILE] {
                let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }

        let s2 = CredentialStore::open(&dir, &init(), &rng, key()).unwrap();
        assert!(!s2.created());
        assert_eq!(s2.admin_access_key_id(), akid);
        assert_eq!(
            std::fs::read_to_string(dir.join(ADMIN_CREDENTIALS_FILE)).unwrap(),
            admin_text
        );

        let other = InitOptions {
            region: "us-east-1".into(),
            account_id: None,
            principals: Vec::new(),
        };
        assert!(matches!(
            CredentialStore::open(&dir, &other, &rng, key()),
            Err(Error::RegionMismatch { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn interrupted_first_start_recovers_admin() {
        let dir = temp_dir("recover");
        let rng = SystemRandom::new();
        let acct = AccountId::parse("111122223333").unwrap();
        let opts = InitOptions {
            region: "eu-west-1".into(),
            account_id: Some(acct),
            principals: Vec::new(),
        };
        let s = CredentialStore::open(&dir, &opts, &rng, key()).unwrap();
        let akid = s.admin_access_key_id().to_owned();
        std::fs::remove_file(dir.join(CREDENTIALS_FILE)).unwrap();
        let s2 = CredentialStore::open(&dir, &opts, &rng, key()).unwrap();
        assert_eq!(s2.admin_access_key_id(), akid);
        assert_eq!(s2.get(&akid).unwrap().caller().account, acct);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_store_is_an_error() {
        let dir = temp_dir("corrupt");
        std::fs::write(dir.join(CREDENTIALS_FILE), b"{not json").unwrap();
        let r = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key());
        assert!(matches!(r, Err(Error::CredentialFile { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
