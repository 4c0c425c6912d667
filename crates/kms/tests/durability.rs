//! Data directories end to end: reopen, locking, root-key providers and the wrong root key,
//! the store-read count after warm-up, deletion that leaves no copy, no raw key or plaintext in
//! any file, damage, concurrency, backup and restore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer::model::*;
use coffer::testing::{CountingStore, ManualClock};
use coffer::{
    Argon2Params, Caller, DataDir, EncryptionContext, Error, Kms, LimitOverride, QuotaClass,
    QuotaConfig, RandomSource, RootKeySource, SecretBytes, SqliteStore, Store, SystemRandom,
};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn alice() -> Caller {
    Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn no_quotas() -> QuotaConfig {
    let lifted = LimitOverride {
        rate: Some(1e9),
        burst: Some(1_000_000_000),
    };
    let mut config = QuotaConfig::default();
    for class in QuotaClass::ALL {
        config.defaults.insert(*class, lifted);
    }
    config
}

/// A temporary directory, removed on drop.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "coffer-durability-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A data directory and, beside it (not inside), its key file.
struct Fixture {
    data: PathBuf,
    key: PathBuf,
    _tmp: TmpDir,
}

fn fixture() -> Fixture {
    let tmp = TmpDir::new();
    Fixture {
        data: tmp.0.join("data"),
        key: tmp.0.join("root.key"),
        _tmp: tmp,
    }
}

impl Fixture {
    fn open(&self) -> Result<DataDir, Error> {
        DataDir::open(&self.data, RootKeySource::key_file(&self.key))
    }

    fn kms(&self) -> Kms {
        self.open()
            .unwrap()
            .builder()
            .quotas(no_quotas())
            .build()
            .unwrap()
    }
}

/// The whole cause chain of an error, for matching on what it names.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(" <- ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn create(kms: &Kms) -> String {
    kms.create_key(&alice(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id
}

fn encrypt(kms: &Kms, key: &str, pt: &[u8]) -> Vec<u8> {
    kms.encrypt(
        &alice(),
        EncryptRequest {
            key_id: key.into(),
            plaintext: pt.to_vec().into(),
            encryption_context: [("purpose", "test")].into_iter().collect(),
            ..Default::default()
        },
    )
    .unwrap()
    .ciphertext_blob
}

fn decrypt(kms: &Kms, blob: &[u8]) -> Result<Vec<u8>, Error> {
    let ctx: EncryptionContext = [("purpose", "test")].into_iter().collect();
    kms.decrypt(
        &alice(),
        DecryptRequest {
            ciphertext_blob: blob.to_vec(),
            encryption_context: ctx,
            ..Default::default()
        },
    )
    .map(|r| r.plaintext.expose().to_vec())
}

fn rotate(kms: &Kms, key: &str) {
    kms.rotate_key_on_demand(&alice(), KeyIdRequest { key_id: key.into() })
        .unwrap();
}

fn alias(kms: &Kms, name: &str, key: &str) {
    kms.create_alias(
        &alice(),
        AliasRequest {
            alias_name: name.into(),
            target_key_id: key.into(),
        },
    )
    .unwrap();
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The files under `dirs` that contain `needle`.
fn holders(dirs: &[&Path], needle: &[u8]) -> Vec<PathBuf> {
    assert!(needle.len() >= 16, "needles must be unambiguous");
    dirs.iter()
        .flat_map(|d| files(d))
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// Wrapped material of every version of `key`, read from the store itself.
fn wrapped_versions(store: &SqliteStore, key: &str) -> Vec<Vec<u8>> {
    let id = coffer::KeyId::parse(key).unwrap();
    let mut txn = store.begin().unwrap();
    txn.versions(&id)
        .unwrap()
        .into_iter()
        .map(|v| v.wrapped)
        .collect()
}

#[test]
fn everything_survives_a_restart_and_markers_stay_valid() {
    let fx = fixture();
    let (key, blob, marker) = {
        let kms = fx.kms();
        let key = create(&kms);
        create(&kms);
        let blob = encrypt(&kms, &key, b"survives restarts");
        rotate(&kms, &key);
        alias(&kms, "alias/app", &key);
        kms.disable_key(
            &alice(),
            KeyIdRequest {
                key_id: key.clone(),
            },
        )
        .unwrap();
        kms.enable_key(
            &alice(),
            KeyIdRequest {
                key_id: key.clone(),
            },
        )
        .unwrap();
        let page = kms
            .list_keys(
                &alice(),
                ListKeysRequest {
                    limit: Some(1),
                    marker: None,
                },
            )
            .unwrap();
        (key, blob, page.next_marker.unwrap())
    };
    let kms = fx.kms();
    assert_eq!(decrypt(&kms, &blob).unwrap(), b"survives restarts");
    let rotations = kms
        .list_key_rotations(
            &alice(),
            ListKeyRotationsRequest {
                key_id: key.clone(),
                limit: None,
                marker: None,
            },
        )
        .unwrap();
    assert_eq!(rotations.rotations.len(), 1);
    let via_alias = encrypt(&kms, "alias/app", b"by alias");
    assert_eq!(decrypt(&kms, &via_alias).unwrap(), b"by alias");
    // A marker made before the restart is still accepted.
    let page = kms
        .list_keys(
            &alice(),
            ListKeysRequest {
                limit: Some(1),
                marker: Some(marker),
            },
        )
        .unwrap();
    assert_eq!(page.keys.len(), 1);
    assert!(!page.truncated);
}

#[test]
fn a_second_open_is_refused_while_the_first_lives() {
    let fx = fixture();
    let first = fx.open().unwrap();
    let err = fx.open().unwrap_err();
    assert_eq!(err.code(), "KMSInternalException");
    assert!(err.message().contains("in use by another coffer"), "{err}");
    let kms = first.builder().build().unwrap();
    drop(first);
    // The Kms still holds the store, and so the lock.
    assert!(fx.open().is_err());
    drop(kms);
    fx.open().unwrap();
}

#[test]
fn the_wrong_root_key_is_refused_and_changes_nothing() {
    let fx = fixture();
    let blob = {
        let kms = fx.kms();
        let key = create(&kms);
        encrypt(&kms, &key, b"guarded")
    };
    let db = fx.data.join(coffer_store_db());
    let before = std::fs::read(&db).unwrap();

    // Another key file.
    let other = fx.data.parent().unwrap().join("other.key");
    let err = DataDir::open(&fx.data, RootKeySource::key_file(&other)).unwrap_err();
    assert!(
        chain(&err).contains("cannot load the root key file"),
        "{err}"
    );
    std::fs::write(&other, [9u8; 32]).unwrap();
    set_mode(&other, 0o600);
    let err = DataDir::open(&fx.data, RootKeySource::key_file(&other)).unwrap_err();
    assert!(err.message().contains("wrong root key"), "{err}");
    // A passphrase where a key file was used.
    let err = DataDir::open(
        &fx.data,
        RootKeySource::passphrase(SecretBytes::copy_from(b"guess")),
    )
    .unwrap_err();
    assert!(
        err.message().contains("created with a key-file root key"),
        "{err}"
    );
    // A key file open to others.
    set_mode(&fx.key, 0o644);
    let err = fx.open().unwrap_err();
    assert!(chain(&err).contains("chmod 600"), "{err}");
    set_mode(&fx.key, 0o600);

    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database was changed"
    );
    let kms = fx.kms();
    assert_eq!(decrypt(&kms, &blob).unwrap(), b"guarded");
}

fn coffer_store_db() -> &'static str {
    "coffer.db"
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn passphrase_root_keys_reopen_and_refuse_the_wrong_passphrase() {
    let fx = fixture();
    let small = Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
    let source = |p: &[u8]| RootKeySource::Passphrase {
        passphrase: SecretBytes::copy_from(p),
        params: small,
    };
    let blob = {
        let kms = DataDir::open(&fx.data, source(b"open sesame"))
            .unwrap()
            .builder()
            .build()
            .unwrap();
        let key = create(&kms);
        encrypt(&kms, &key, b"passphrase protected")
    };
    let err = DataDir::open(&fx.data, source(b"open sesame!")).unwrap_err();
    assert!(err.message().contains("wrong root key"), "{err}");
    let err = DataDir::open(&fx.data, RootKeySource::key_file(&fx.key)).unwrap_err();
    assert!(
        err.message().contains("created with a passphrase root key"),
        "{err}"
    );
    assert!(!fx.key.exists(), "a refused open created a key file");
    let kms = DataDir::open(&fx.data, source(b"open sesame"))
        .unwrap()
        .builder()
        .build()
        .unwrap();
    assert_eq!(decrypt(&kms, &blob).unwrap(), b"passphrase protected");
}

/// A `Store` over a shared `SqliteStore`, so it can be wrapped in a `CountingStore`.
struct Shared(Arc<SqliteStore>);

impl Store for Shared {
    fn begin(&self) -> Result<Box<dyn coffer_store::Txn + '_>, coffer_store::StoreError> {
        self.0.begin()
    }
}

#[test]
fn after_warm_up_encrypt_and_decrypt_never_read_the_store() {
    let fx = fixture();
    let dir = fx.open().unwrap();
    let counting = CountingStore::new(Shared(dir.store()));
    let reads = counting.counter();
    let kms = dir
        .builder()
        .store(Arc::new(counting))
        .quotas(no_quotas())
        .build()
        .unwrap();
    let key = create(&kms);
    alias(&kms, "alias/warm", &key);
    let blob = encrypt(&kms, &key, b"warm");
    decrypt(&kms, &blob).unwrap();
    encrypt(&kms, "alias/warm", b"warm");
    let before = reads.load(Ordering::SeqCst);
    for _ in 0..50 {
        let b = encrypt(&kms, &key, b"hot path");
        assert_eq!(decrypt(&kms, &b).unwrap(), b"hot path");
        encrypt(&kms, "alias/warm", b"by alias");
        assert_eq!(decrypt(&kms, &blob).unwrap(), b"warm");
    }
    assert_eq!(reads.load(Ordering::SeqCst), before);
    // A mutation invalidates: the next use reads the store again.
    rotate(&kms, &key);
    encrypt(&kms, &key, b"after rotation");
    assert!(reads.load(Ordering::SeqCst) > before);
}

#[test]
fn a_purged_key_leaves_no_wrapped_material_in_any_file() {
    let fx = fixture();
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
    let dir = fx.open().unwrap();
    let kms = dir
        .builder()
        .clock(clock.clone())
        .quotas(no_quotas())
        .build()
        .unwrap();
    let doomed = create(&kms);
    rotate(&kms, &doomed);
    alias(&kms, "alias/doomed", &doomed);
    let kept = create(&kms);
    let doomed_wrapped = wrapped_versions(&dir.store(), &doomed);
    let kept_wrapped = wrapped_versions(&dir.store(), &kept);
    assert_eq!(doomed_wrapped.len(), 2);
    // The scan finds what is there: the wrapped versions are in the files before the purge.
    for w in &doomed_wrapped {
        assert!(!holders(&[&fx.data], w).is_empty());
    }
    let backup = fx.data.parent().unwrap().join("before-purge.db");
    dir.backup_to(&backup).unwrap();

    kms.schedule_key_deletion(
        &alice(),
        ScheduleKeyDeletionRequest {
            key_id: doomed.clone(),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    clock.advance(Duration::from_secs(7 * 86_400 + 1));
    let report = kms.run_maintenance().unwrap();
    assert_eq!(report.keys_deleted.len(), 1);

    // Live files, while the store is open: nothing left of the purged key.
    for w in &doomed_wrapped {
        assert_eq!(holders(&[&fx.data], w), Vec::<PathBuf>::new());
    }
    for w in &kept_wrapped {
        assert!(!holders(&[&fx.data], w).is_empty(), "the kept key vanished");
    }
    // Backups keep what they held: documented, and checked so the docs stay true.
    for w in &doomed_wrapped {
        assert_eq!(holders(&[backup.parent().unwrap()], w).len(), 1);
    }
    drop(kms);
    drop(dir);
    for w in &doomed_wrapped {
        assert_eq!(holders(&[&fx.data], w), Vec::<PathBuf>::new());
    }
}

/// Records every 32-byte draw (backing keys, data keys, the marker key, the key file's root key)
/// so the files can be searched for them.
struct Recording {
    inner: SystemRandom,
    seen: Mutex<Vec<Vec<u8>>>,
}

impl RandomSource for Recording {
    fn fill(&self, dest: &mut [u8]) -> Result<(), coffer_crypto::CryptoError> {
        self.inner.fill(dest)?;
        if dest.len() == 32 {
            self.seen.lock().unwrap().push(dest.to_vec());
        }
        Ok(())
    }
}

#[test]
fn no_raw_key_or_plaintext_in_any_file_of_the_directory_or_its_backups() {
    let fx = fixture();
    let rng = Arc::new(Recording {
        inner: SystemRandom::new(),
        seen: Mutex::new(Vec::new()),
    });
    let dir =
        DataDir::open_with_random(&fx.data, RootKeySource::key_file(&fx.key), rng.clone()).unwrap();
    let kms = dir.builder().quotas(no_quotas()).build().unwrap();
    let backups = fx.data.parent().unwrap().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let mut plaintexts = Vec::new();
    for i in 0..5u8 {
        let key = create(&kms);
        alias(&kms, &format!("alias/k{i}"), &key);
        rotate(&kms, &key);
        let pt = format!("plaintext number {i} that must never be stored").into_bytes();
        encrypt(&kms, &key, &pt);
        plaintexts.push(pt);
        let dk = kms
            .generate_data_key(
                &alice(),
                GenerateDataKeyRequest {
                    key_id: key.clone(),
                    number_of_bytes: Some(32),
                    ..Default::default()
                },
            )
            .unwrap();
        plaintexts.push(dk.plaintext.expose().to_vec());
        if i == 2 {
            dir.backup_to(backups.join("mid.db")).unwrap();
        }
    }
    dir.backup_to(backups.join("end.db")).unwrap();
    DataDir::backup_online(&fx.data, backups.join("end.backup"), &[]).unwrap();
    let seen = rng.seen.lock().unwrap().clone();
    // Root key, marker key, 5 keys × 2 versions, 5 data keys at least.
    assert!(seen.len() >= 17, "{}", seen.len());
    let scan = || {
        for needle in seen.iter().chain(&plaintexts) {
            assert_eq!(
                holders(&[&fx.data, &backups], needle),
                Vec::<PathBuf>::new(),
                "a raw key or plaintext is stored"
            );
        }
    };
    // While live (database, WAL, shared memory, lock file), and after closing.
    assert!(files(&fx.data).iter().any(|f| f.ends_with("coffer.db-wal")));
    scan();
    drop(kms);
    drop(dir);
    scan();
    // The one place the root key is: its key file, outside the directory.
    let root_file = std::fs::read(&fx.key).unwrap();
    assert!(seen.contains(&root_file));
}

#[test]
fn damage_gives_a_clear_error_never_a_panic_or_wrong_plaintext() {
    let fx = fixture();
    let (key, blobs) = {
        let kms = fx.kms();
        let mut blobs = Vec::new();
        let mut key = String::new();
        for i in 0..4 {
            key = create(&kms);
            alias(&kms, &format!("alias/d{i}"), &key);
            let pt = format!("damage test {i}").into_bytes();
            blobs.push((encrypt(&kms, &key, &pt), pt));
            rotate(&kms, &key);
        }
        (key, blobs)
    };
    let db = fx.data.join("coffer.db");
    let pristine = std::fs::read(&db).unwrap();

    // A flipped bit inside one wrapped version: the error names the key and the version row.
    let wrapped = wrapped_versions(&fx.open().unwrap().store(), &key);
    let at = pristine
        .windows(wrapped[0].len())
        .position(|w| w == wrapped[0].as_slice())
        .unwrap();
    let mut bad = pristine.clone();
    bad[at + 20] ^= 0x01;
    std::fs::write(&db, &bad).unwrap();
    {
        let kms = fx.kms();
        let err = decrypt(&kms, &blobs[3].0).unwrap_err();
        assert_eq!(err.code(), "KMSInternalException");
        let c = chain(&err);
        assert!(
            c.contains(&format!("key version of key {key} is damaged")),
            "{c}"
        );
        // The other keys are untouched.
        for (b, pt) in &blobs[..3] {
            assert_eq!(&decrypt(&kms, b).unwrap(), pt);
        }
    }

    // Truncated: refused at open, naming the database file.
    std::fs::write(&db, &pristine[..pristine.len() / 2]).unwrap();
    let err = fx.open().unwrap_err();
    assert!(err.message().contains("database file"), "{err}");
    std::fs::write(&db, &pristine[..10]).unwrap();
    let err = fx.open().unwrap_err();
    assert!(err.message().contains("database file"), "{err}");
    std::fs::write(&db, b"").unwrap();
    let err = fx.open().unwrap_err();
    assert!(err.message().contains("database file (empty)"), "{err}");

    // Bit flips across the whole file: each open either fails, or every answer is the right
    // plaintext or an error.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for _ in 0..60 {
        let mut bad = pristine.clone();
        let i = (next() % bad.len() as u64) as usize;
        bad[i] ^= 1 << (next() % 8);
        std::fs::write(&db, &bad).unwrap();
        let _ = std::fs::remove_file(fx.data.join("coffer.db-wal"));
        match fx.open() {
            Err(e) => {
                refused += 1;
                assert_eq!(e.code(), "KMSInternalException");
            }
            Ok(dir) => {
                let kms = dir.builder().quotas(no_quotas()).build().unwrap();
                for (b, pt) in &blobs {
                    if let Ok(got) = decrypt(&kms, b) {
                        assert_eq!(&got, pt, "wrong plaintext after a flip at byte {i}");
                    }
                }
                let _ = kms.list_keys(&alice(), ListKeysRequest::default());
                let _ = kms.list_aliases(
                    &alice(),
                    ListAliasesRequest {
                        key_id: None,
                        limit: None,
                        marker: None,
                    },
                );
            }
        }
    }
    // Not every flip lands in live data, but some must be caught.
    assert!(refused > 0);
    std::fs::write(&db, &pristine).unwrap();
    let kms = fx.kms();
    for (b, pt) in &blobs {
        assert_eq!(&decrypt(&kms, b).unwrap(), pt);
    }
}

#[test]
fn many_threads_at_once_see_whole_changes_only() {
    let fx = fixture();
    let kms = Arc::new(fx.kms());
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let kms = kms.clone();
            std::thread::spawn(move || {
                let mut made = Vec::new();
                for i in 0..8 {
                    let key = create(&kms);
                    let pt = format!("thread {t} item {i}").into_bytes();
                    let blob = encrypt(&kms, &key, &pt);
                    rotate(&kms, &key);
                    alias(&kms, &format!("alias/t{t}-{i}"), &key);
                    assert_eq!(decrypt(&kms, &blob).unwrap(), pt);
                    made.push((key, blob, pt));
                }
                made
            })
        })
        .collect();
    let made: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let listed = kms
        .list_keys(
            &alice(),
            ListKeysRequest {
                limit: Some(1000),
                marker: None,
            },
        )
        .unwrap();
    assert_eq!(listed.keys.len(), made.len());
    drop(kms);
    let kms = fx.kms();
    for (key, blob, pt) in &made {
        assert_eq!(&decrypt(&kms, blob).unwrap(), pt);
        let rotations = kms
            .list_key_rotations(
                &alice(),
                ListKeyRotationsRequest {
                    key_id: key.clone(),
                    limit: None,
                    marker: None,
                },
            )
            .unwrap();
        assert_eq!(rotations.rotations.len(), 1);
    }
}

#[test]
fn an_online_backup_restores_to_a_working_directory() {
    let fx = fixture();
    let dir = fx.open().unwrap();
    let kms = Arc::new(dir.builder().quotas(no_quotas()).build().unwrap());
    let key = create(&kms);
    let blob = encrypt(&kms, &key, b"backed up");
    alias(&kms, "alias/backed", &key);
    // Writers keep going while the backup runs.
    let writer = {
        let kms = kms.clone();
        std::thread::spawn(move || {
            for _ in 0..20 {
                let k = create(&kms);
                rotate(&kms, &k);
            }
        })
    };
    // A whole-directory backup (database, audit log and public key) while the directory is
    // open: a database alone restores to a directory that open refuses (no audit log).
    let backup = fx.data.parent().unwrap().join("online.backup");
    DataDir::backup_online(&fx.data, &backup, &[]).unwrap();
    writer.join().unwrap();
    assert!(
        DataDir::backup_online(&fx.data, &backup, &[]).is_err(),
        "a backup never overwrites"
    );
    let after_backup = create(&kms);

    let restored = fx.data.parent().unwrap().join("restored");
    DataDir::restore_backup(&backup, &restored).unwrap();
    assert!(DataDir::restore_backup(&backup, &restored).is_err());
    let kms2 = DataDir::open(&restored, RootKeySource::key_file(&fx.key))
        .unwrap()
        .builder()
        .quotas(no_quotas())
        .build()
        .unwrap();
    assert_eq!(decrypt(&kms2, &blob).unwrap(), b"backed up");
    let via_alias = encrypt(&kms2, "alias/backed", b"restored alias");
    assert_eq!(decrypt(&kms2, &via_alias).unwrap(), b"restored alias");
    // Every key in the copy opens (no half-written rotation was copied).
    let listed = kms2
        .list_keys(
            &alice(),
            ListKeysRequest {
                limit: Some(1000),
                marker: None,
            },
        )
        .unwrap();
    assert!(listed.keys.iter().all(|k| k.key_id != after_backup));
    for k in &listed.keys {
        encrypt(&kms2, &k.key_id, b"each key works");
    }
    // The original is untouched by the restore and still serves.
    assert_eq!(decrypt(&kms, &blob).unwrap(), b"backed up");
}

#[test]
fn sealing_keys_persist_per_purpose_and_need_the_root_key() {
    let fx = fixture();
    let (a, b) = {
        let dir = fx.open().unwrap();
        let a = dir.sealing_key("cofferd.credentials").unwrap();
        let again = dir.sealing_key("cofferd.credentials").unwrap();
        assert_eq!(a.expose(), again.expose());
        let b = dir.sealing_key("other-purpose").unwrap();
        assert_ne!(a.expose(), b.expose());
        for bad in ["", "has space", "slash/", &"x".repeat(65)] {
            assert_eq!(
                dir.sealing_key(bad).unwrap_err().code(),
                "ValidationException"
            );
        }
        (
            SecretBytes::copy_from(a.expose()),
            SecretBytes::copy_from(b.expose()),
        )
    };
    // The same keys after a restart; never in any file in the clear.
    let dir = fx.open().unwrap();
    assert_eq!(
        dir.sealing_key("cofferd.credentials").unwrap().expose(),
        a.expose()
    );
    assert_eq!(
        dir.sealing_key("other-purpose").unwrap().expose(),
        b.expose()
    );
    drop(dir);
    assert!(holders(&[&fx.data], a.expose()).is_empty());
    assert!(holders(&[&fx.data], b.expose()).is_empty());
}
