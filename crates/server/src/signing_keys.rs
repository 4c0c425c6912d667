//! A cache of SigV4 signing keys, so that a request does not derive its key (four HMACs from
//! the secret) when the same credential signed for the same scope a moment ago — what the SDKs
//! do on their side.
//!
//! An entry is keyed by the access key id and the credential scope (date, region, service) and
//! is used only for the very credential it was derived from: it holds a weak reference to that
//! [`Credential`], and a lookup hits only when the credential the store returns for the request
//! *now* is the same allocation. A rotated, revoked, expired or replaced credential is a
//! different allocation or none at all, so its cached key can never sign for it again; and since
//! the weak reference keeps the allocation's address from being reused, no other credential can
//! match a stale entry. Nothing here replaces a check: the scope's date is checked against
//! `X-Amz-Date` and the clock, its region and service against the server's, and the signature is
//! verified, on every request, before and after the cache as without it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use coffer_credentials::Credential;
use coffer_crypto::SecretBytes;
use parking_lot::RwLock;

use crate::sigv4;

/// How many scopes are kept: a server sees few credentials a day; past this the cache drops
/// the entries of credentials that are gone and of other days, then everything if still full.
const CAPACITY: usize = 1024;

struct Entry {
    cred: Weak<Credential>,
    key: SecretBytes,
}

/// Signing keys by `access_key_id/date/region/service`.
pub(crate) struct SigningKeys {
    map: RwLock<HashMap<String, Entry>>,
    /// How many keys were derived (cache misses), for tests.
    #[cfg(test)]
    derived: std::sync::atomic::AtomicU64,
}

impl SigningKeys {
    pub(crate) fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            #[cfg(test)]
            derived: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The signature of `string_to_sign` by `cred` (the store's current credential for the
    /// request's access key id) in the scope `date/region/service`: the signing key comes from
    /// the cache when it was derived from this same credential, else it is derived and kept.
    pub(crate) fn signature(
        &self,
        cred: &Arc<Credential>,
        date: &str,
        region: &str,
        service: &str,
        string_to_sign: &str,
    ) -> [u8; 32] {
        let name = cache_key(cred.access_key_id(), date, region, service);
        {
            let map = self.map.read();
            if let Some(entry) = map.get(&name) {
                if std::ptr::eq(entry.cred.as_ptr(), Arc::as_ptr(cred)) {
                    return sigv4::signature(&entry.key, string_to_sign);
                }
            }
        }
        let key = sigv4::signing_key(cred.secret(), date, region, service);
        #[cfg(test)]
        self.derived
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let signature = sigv4::signature(&key, string_to_sign);
        let mut map = self.map.write();
        if map.len() >= CAPACITY && !map.contains_key(&name) {
            let today = format!("/{date}/");
            map.retain(|k, e| e.cred.strong_count() > 0 && k.contains(&today));
            if map.len() >= CAPACITY {
                map.clear();
            }
        }
        map.insert(
            name,
            Entry {
                cred: Arc::downgrade(cred),
                key,
            },
        );
        signature
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.read().len()
    }

    #[cfg(test)]
    fn derived(&self) -> u64 {
        self.derived.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn cache_key(access_key_id: &str, date: &str, region: &str, service: &str) -> String {
    let mut s =
        String::with_capacity(access_key_id.len() + date.len() + region.len() + service.len() + 3);
    for (i, part) in [access_key_id, date, region, service]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            s.push('/');
        }
        s.push_str(part);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer::{RandomSource, SystemRandom};
    use coffer_credentials::{CredentialStore, Error, InitOptions, NewCredential};
    use coffer_crypto::SymmetricKey;

    const A: &str = "111122223333";
    const DAY: &str = "20261203";

    struct Store {
        dir: std::path::PathBuf,
        creds: CredentialStore,
    }

    impl Drop for Store {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn store() -> Store {
        let mut b = [0u8; 8];
        SystemRandom::new().fill(&mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("cofferd-sigkeys-{}", sigv4::hex(&b)));
        let init = InitOptions {
            region: "eu-west-1".into(),
            account_id: Some(coffer::AccountId::parse(A).unwrap()),
            principals: Vec::new(),
        };
        let creds = CredentialStore::open(
            &dir,
            &init,
            &SystemRandom::new(),
            SymmetricKey::from_bytes([9; 32]),
        )
        .unwrap();
        Store { dir, creds }
    }

    fn create(s: &Store, user: &str) -> Arc<Credential> {
        s.creds
            .create::<Error>(
                NewCredential {
                    principal_arn: format!("arn:aws:iam::{A}:user/{user}"),
                    ..NewCredential::default()
                },
                &mut |_| Ok(()),
            )
            .unwrap()
    }

    fn fresh(cred: &Credential, date: &str, sts: &str) -> [u8; 32] {
        sigv4::signature(
            &sigv4::signing_key(cred.secret(), date, "eu-west-1", "kms"),
            sts,
        )
    }

    fn sign(cache: &SigningKeys, cred: &Arc<Credential>, date: &str, sts: &str) -> [u8; 32] {
        cache.signature(cred, date, "eu-west-1", "kms", sts)
    }

    /// The cached key signs exactly as a fresh derivation; the key is derived once per
    /// credential and scope.
    #[test]
    fn the_key_is_derived_once_per_credential_and_scope() {
        let s = store();
        let cache = SigningKeys::new();
        let a = create(&s, "app-a");
        for sts in ["one", "two", "one"] {
            assert_eq!(sign(&cache, &a, DAY, sts), fresh(&a, DAY, sts));
        }
        assert_eq!(cache.derived(), 1);
        // Another day is another scope and another key.
        assert_eq!(
            sign(&cache, &a, "20261204", "one"),
            fresh(&a, "20261204", "one")
        );
        assert_ne!(fresh(&a, DAY, "one"), fresh(&a, "20261204", "one"));
        // Another region or service too.
        let other = cache.signature(&a, DAY, "us-east-1", "kms", "one");
        assert_eq!(
            other,
            sigv4::signature(
                &sigv4::signing_key(a.secret(), DAY, "us-east-1", "kms"),
                "one"
            )
        );
        assert_eq!(cache.derived(), 3);
        // Another credential never shares one.
        let b = create(&s, "app-b");
        assert_eq!(sign(&cache, &b, DAY, "one"), fresh(&b, DAY, "one"));
        assert_ne!(fresh(&a, DAY, "one"), fresh(&b, DAY, "one"));
        assert_eq!(cache.derived(), 4);
    }

    /// Rotation replaces the credential the store holds under the old access key id (it now
    /// expires): the cached key is not used for the replacement, which derives its own; the
    /// new key signs with its own secret; a revoked key is no longer in the store at all.
    #[test]
    fn rotation_and_revocation_invalidate_the_cached_key() {
        let s = store();
        let cache = SigningKeys::new();
        let a = create(&s, "app-a");
        let id = a.access_key_id().to_owned();
        assert_eq!(sign(&cache, &a, DAY, "x"), fresh(&a, DAY, "x"));
        assert_eq!(cache.derived(), 1);

        let rotated = s.creds.rotate::<Error>(&id, 300, &mut |_| Ok(())).unwrap();
        let during_grace = s.creds.get(&id).unwrap();
        assert!(!Arc::ptr_eq(&during_grace, &a));
        assert_eq!(sign(&cache, &during_grace, DAY, "x"), fresh(&a, DAY, "x"));
        assert_eq!(cache.derived(), 2, "the replaced credential derived again");
        // The stale Arc (no longer the store's) does not hit the entry of its replacement.
        assert_eq!(sign(&cache, &a, DAY, "x"), fresh(&a, DAY, "x"));
        assert_eq!(cache.derived(), 3);

        let new = rotated.new;
        assert_eq!(sign(&cache, &new, DAY, "x"), fresh(&new, DAY, "x"));
        assert_ne!(fresh(&new, DAY, "x"), fresh(&a, DAY, "x"));

        s.creds.revoke::<Error>(&id, &mut |_| Ok(())).unwrap();
        assert!(
            s.creds.get(&id).is_none(),
            "authentication refuses it first"
        );
    }

    #[test]
    fn a_full_cache_drops_what_is_gone_and_stays_bounded() {
        let s = store();
        let cache = SigningKeys::new();
        let a = create(&s, "app-a");
        for i in 0..CAPACITY + 10 {
            // A day per entry: the same credential in as many scopes as fit, and more.
            let date = format!("2026{i:04}");
            sign(&cache, &a, &date, "x");
            assert!(cache.len() <= CAPACITY);
        }
        assert_eq!(sign(&cache, &a, DAY, "x"), fresh(&a, DAY, "x"));
        assert!(cache.len() <= CAPACITY);
    }
}
