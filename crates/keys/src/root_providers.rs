//! Where a [`LocalRootKey`] comes from: a key file, or a passphrase.
//!
//! - [`KeyFile`]: 32 random bytes in a file made with mode 0600 on first use; a file that group
//!   or others may access is refused.
//! - [`PassphraseRoot`]: Argon2id over a passphrase, with a random salt and cost parameters that
//!   are not secret and are kept beside the data (`to_bytes` / `from_bytes`).
//!
//! Both give the same [`LocalRootKey`]; neither checks that the key is the *right* one for some
//! data: that is the data directory's root-key check value.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_crypto::{
    derive_key_argon2id, wipe, Argon2Params, RandomSource, SecretBytes, SymmetricKey,
    SYMMETRIC_KEY_LEN,
};

use crate::{KeyError, LocalRootKey};

/// A root key kept in a file of 32 random bytes.
#[derive(Clone, Debug)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    /// The key file at `path` (nothing is read until [`load`](Self::load)).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    fn io(&self) -> impl Fn(std::io::Error) -> KeyError + '_ {
        move |source| KeyError::KeyFileIo {
            path: self.path.clone(),
            source,
        }
    }

    /// Creates the file with 32 fresh random bytes, mode 0600, and returns the key. Fails if the
    /// file exists. The bytes are written under a temporary name, synced, and linked into place,
    /// so a crash leaves either no key file or a whole one.
    pub fn create(&self, rng: Arc<dyn RandomSource>) -> Result<LocalRootKey, KeyError> {
        let key = SymmetricKey::generate(rng.as_ref())?;
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(self.io()(e)),
            _ => {}
        }
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let written = opts
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(key.expose())?;
                f.sync_all()
            })
            // A hard link never replaces an existing file: two racing creators cannot both win.
            .and_then(|()| fs::hard_link(&tmp, &self.path));
        let _ = fs::remove_file(&tmp);
        written.map_err(self.io())?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(self.io())?;
        }
        LocalRootKey::new(&key, rng)
    }

    /// Reads the key. Refuses a file that group or others may access, and one that does not
    /// hold exactly 32 bytes.
    pub fn load(&self, rng: Arc<dyn RandomSource>) -> Result<LocalRootKey, KeyError> {
        let mut file = File::open(&self.path).map_err(self.io())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file.metadata().map_err(self.io())?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::KeyFilePermissions {
                    path: self.path.clone(),
                    mode,
                });
            }
        }
        let mut buf = [0u8; SYMMETRIC_KEY_LEN + 1];
        let mut len = 0;
        let read = loop {
            let Some(rest) = buf.get_mut(len..) else {
                break Ok(());
            };
            if rest.is_empty() {
                break Ok(());
            }
            match file.read(rest) {
                Ok(0) => break Ok(()),
                Ok(n) => len += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let key = match read {
            Ok(()) if len == SYMMETRIC_KEY_LEN => {
                SymmetricKey::from_slice(buf.get(..SYMMETRIC_KEY_LEN).unwrap_or_default())
                    .map_err(KeyError::from)
            }
            Ok(()) => Err(KeyError::KeyFileLength {
                path: self.path.clone(),
                len,
            }),
            Err(e) => Err(self.io()(e)),
        };
        wipe(&mut buf);
        LocalRootKey::new(&key?, rng)
    }
}

/// Salt length of a passphrase-derived root key.
const SALT_LEN: usize = 16;
/// Length of [`PassphraseRoot::to_bytes`].
const ENCODED_LEN: usize = 1 + SALT_LEN + 12;
const ENCODING_V1: u8 = 1;

/// The non-secret half of a passphrase-derived root key: the Argon2id salt and cost parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassphraseRoot {
    salt: [u8; SALT_LEN],
    params: Argon2Params,
}

impl PassphraseRoot {
    /// A fresh random salt with `params`, for a new data directory.
    pub fn generate(rng: &dyn RandomSource, params: Argon2Params) -> Result<Self, KeyError> {
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt)?;
        Ok(Self { salt, params })
    }

    /// The cost parameters.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Derives the root key from `passphrase` (Argon2id: slow on purpose). Fails only if the
    /// parameters are out of range.
    pub fn derive(
        &self,
        passphrase: &SecretBytes,
        rng: Arc<dyn RandomSource>,
    ) -> Result<LocalRootKey, KeyError> {
        let key = derive_key_argon2id(passphrase, &self.salt, &self.params)?;
        LocalRootKey::new(&key, rng)
    }

    /// The stored form: `0x01 ‖ salt (16) ‖ memory KiB ‖ iterations ‖ parallelism` (each a
    /// big-endian `u32`), 29 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.push(ENCODING_V1);
        out.extend_from_slice(&self.salt);
        for n in [
            self.params.memory_kib,
            self.params.iterations,
            self.params.parallelism,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes); `None` if malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != ENCODED_LEN || b.first() != Some(&ENCODING_V1) {
            return None;
        }
        let salt: [u8; SALT_LEN] = b.get(1..1 + SALT_LEN)?.try_into().ok()?;
        let word = |i: usize| -> Option<u32> {
            let at = 1 + SALT_LEN + 4 * i;
            Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
        };
        Some(Self {
            salt,
            params: Argon2Params {
                memory_kib: word(0)?,
                iterations: word(1)?,
                parallelism: word(2)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackingKey, RootKey};
    use coffer_core::KeyId;
    use coffer_crypto::SystemRandom;
    use std::time::SystemTime;

    fn rng() -> Arc<dyn RandomSource> {
        Arc::new(SystemRandom::new())
    }

    /// Whether two root keys are the same key: one unwraps what the other wrapped.
    fn same(a: &dyn RootKey, b: &dyn RootKey) -> bool {
        let r = rng();
        let id = KeyId::generate(r.as_ref()).unwrap();
        let v = BackingKey::generate(r.as_ref(), SystemTime::UNIX_EPOCH, None).unwrap();
        v.wrap(&id, a).unwrap().unwrap(&id, b).is_ok()
    }

    #[test]
    fn key_file_created_private_then_loaded() {
        let dir = std::env::temp_dir().join(format!("coffer-keyfile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let kf = KeyFile::new(dir.join("root.key"));
        assert!(!kf.exists());
        let created = kf.create(rng()).unwrap();
        assert!(
            kf.create(rng()).is_err(),
            "create never replaces a key file"
        );
        assert_eq!(fs::read(kf.path()).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(kf.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let loaded = kf.load(rng()).unwrap();
        assert!(same(&created, &loaded));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(kf.path(), fs::Permissions::from_mode(0o640)).unwrap();
            let err = kf.load(rng()).unwrap_err();
            assert!(matches!(
                err,
                KeyError::KeyFilePermissions { mode: 0o640, .. }
            ));
            assert!(err.to_string().contains("chmod 600"));
            fs::set_permissions(kf.path(), fs::Permissions::from_mode(0o600)).unwrap();
        }
        for len in [0usize, 31, 33, 64] {
            fs::write(kf.path(), vec![7u8; len]).unwrap();
            let err = kf.load(rng()).unwrap_err();
            assert!(
                matches!(err, KeyError::KeyFileLength { len: l, .. } if l == len.min(33)),
                "{len}: {err}"
            );
        }
        fs::remove_file(kf.path()).unwrap();
        assert!(matches!(kf.load(rng()), Err(KeyError::KeyFileIo { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passphrase_root_round_trips_and_depends_on_everything() {
        let params = Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let r = rng();
        let p = PassphraseRoot::generate(r.as_ref(), params).unwrap();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), ENCODED_LEN);
        let back = PassphraseRoot::from_bytes(&bytes).unwrap();
        assert_eq!(back, p);
        let pw = SecretBytes::copy_from(b"correct horse battery staple");
        let k1 = p.derive(&pw, r.clone()).unwrap();
        let k2 = back.derive(&pw, r.clone()).unwrap();
        assert!(same(&k1, &k2));
        let wrong = p
            .derive(
                &SecretBytes::copy_from(b"correct horse battery stapler"),
                r.clone(),
            )
            .unwrap();
        assert!(!same(&k1, &wrong));
        let other_salt = PassphraseRoot::generate(r.as_ref(), params).unwrap();
        assert!(!same(&k1, &other_salt.derive(&pw, r.clone()).unwrap()));
        // Malformed encodings.
        assert!(PassphraseRoot::from_bytes(&bytes[..bytes.len() - 1]).is_none());
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert!(PassphraseRoot::from_bytes(&v2).is_none());
        assert!(PassphraseRoot::from_bytes(&[]).is_none());
    }
}
