//! Crash safety, for real: a child process (this test binary, re-invoked to run the ignored
//! `crash_child`) performs mutations on a data directory and reports each acknowledged one on
//! stdout; the parent kills it with SIGKILL after N acknowledgements (N from a seeded generator,
//! so the kill lands at a different point of the write path each round), reopens the directory
//! and checks that every acknowledged mutation is there, that nothing half-written is visible,
//! and that every ciphertext made before the kill decrypts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(clippy::print_stdout)] // the child reports acknowledgements on stdout

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use coffer::model::*;
use coffer::{
    Caller, DataDir, EncryptionContext, Kms, LimitOverride, QuotaClass, QuotaConfig, RootKeySource,
};

const ROUNDS: u64 = 50;
const SEED: u64 = 0x00c0_ffee_5eed;
const ENV_DIR: &str = "COFFER_CRASH_DIR";
const ENV_KEY: &str = "COFFER_CRASH_KEY";
const ENV_ROUND: &str = "COFFER_CRASH_ROUND";

const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn alice() -> Caller {
    Caller::new("arn:aws:iam::111122223333:user/alice")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn ctx() -> EncryptionContext {
    [("purpose", "crash")].into_iter().collect()
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

fn open(dir: &Path, key: &Path) -> Kms {
    DataDir::open(dir, RootKeySource::key_file(key))
        .unwrap()
        .builder()
        .quotas(no_quotas())
        .build()
        .unwrap()
}

use coffer_crypto::hex::encode as hex;

fn unhex(s: &str) -> Vec<u8> {
    coffer_crypto::hex::decode(s).unwrap()
}

/// The child: runs only when re-invoked by `crash_kills_lose_no_acknowledged_mutation`.
/// Each key goes through: create, encrypt, rotate, alias, encrypt, disable, schedule deletion.
#[test]
#[ignore = "the crash test's child process; run by the parent only"]
fn crash_child() {
    let (Ok(dir), Ok(key), Ok(round)) = (
        std::env::var(ENV_DIR),
        std::env::var(ENV_KEY),
        std::env::var(ENV_ROUND),
    ) else {
        panic!("crash_child runs only under crash_kills_lose_no_acknowledged_mutation");
    };
    let kms = open(Path::new(&dir), Path::new(&key));
    let me = alice();
    for k in 0..1000 {
        let id = kms
            .create_key(&me, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id;
        println!("ACK create {id}");
        let seal = |n: u32| {
            let pt = format!("round {round} key {k} message {n}").into_bytes();
            let blob = kms
                .encrypt(
                    &me,
                    EncryptRequest {
                        key_id: id.clone(),
                        plaintext: pt.clone().into(),
                        encryption_context: ctx(),
                        ..Default::default()
                    },
                )
                .unwrap()
                .ciphertext_blob;
            println!("ACK encrypt {id} {} {}", hex(&blob), hex(&pt));
        };
        seal(1);
        kms.rotate_key_on_demand(&me, KeyIdRequest { key_id: id.clone() })
            .unwrap();
        println!("ACK rotate {id}");
        let name = format!("alias/r{round}-k{k}");
        kms.create_alias(
            &me,
            AliasRequest {
                alias_name: name.clone(),
                target_key_id: id.clone(),
            },
        )
        .unwrap();
        println!("ACK alias {id} {name}");
        seal(2);
        kms.disable_key(&me, KeyIdRequest { key_id: id.clone() })
            .unwrap();
        println!("ACK disable {id}");
        kms.schedule_key_deletion(
            &me,
            ScheduleKeyDeletionRequest {
                key_id: id.clone(),
                pending_window_in_days: Some(30),
            },
        )
        .unwrap();
        println!("ACK schedule {id}");
    }
}

/// What the parent knows of one key from the acknowledgements.
#[derive(Default, Debug)]
struct Acked {
    /// Acknowledged steps, in order (create = 1 … schedule = 7).
    steps: usize,
    alias: Option<String>,
    ciphertexts: Vec<(Vec<u8>, Vec<u8>)>,
}

fn step_of(op: &str) -> usize {
    match op {
        "create" => 1,
        "encrypt" => 0, // counted by position below
        "rotate" => 3,
        "alias" => 4,
        "disable" => 6,
        "schedule" => 7,
        other => panic!("unknown acknowledgement {other}"),
    }
}

fn record(keys: &mut BTreeMap<String, Acked>, line: &str) {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (op, id) = (parts[1], parts[2].to_owned());
    let k = keys.entry(id).or_default();
    match op {
        "encrypt" => {
            k.steps += 1;
            k.ciphertexts.push((unhex(parts[3]), unhex(parts[4])));
        }
        "alias" => {
            k.steps = step_of(op);
            k.alias = Some(parts[3].to_owned());
        }
        _ => k.steps = step_of(op),
    }
}

/// Checks one key against what was acknowledged. The child runs on between the parent's last
/// read and the kill, so any later steps may have committed too: the acknowledged steps are a
/// lower bound, and whatever is stored must be a prefix of the sequence (no step without the
/// ones before it). Leaves the key in the state it found.
fn verify_key(kms: &Kms, id: &str, k: &Acked) {
    let me = alice();
    let must = |step: usize| k.steps >= step;
    let meta = kms
        .describe_key(
            &me,
            DescribeKeyRequest {
                key_id: id.into(),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("acknowledged key {id} is missing: {e}"))
        .key_metadata;
    let rotations = kms
        .list_key_rotations(
            &me,
            ListKeyRotationsRequest {
                key_id: id.into(),
                limit: None,
                marker: None,
            },
        )
        .unwrap()
        .rotations
        .len();
    let aliases = kms
        .list_aliases(
            &me,
            ListAliasesRequest {
                key_id: Some(id.into()),
                limit: None,
                marker: None,
            },
        )
        .unwrap()
        .aliases
        .len();
    use coffer::model::KeyState as S;
    let rank = |s: S| match s {
        S::Enabled => 0,
        S::Disabled => 1,
        S::PendingDeletion => 2,
        other => panic!("{id}: unexpected state {other:?}"),
    };
    let acked_rank = match k.steps {
        s if s >= 7 => 2,
        6 => 1,
        _ => 0,
    };
    let seen = rank(meta.key_state);
    assert!(
        rotations <= 1 && aliases <= 1,
        "{id}: {rotations} rotations, {aliases} aliases"
    );
    // Acknowledged means stored.
    assert!(
        !must(3) || rotations == 1,
        "{id}: acknowledged rotation missing"
    );
    assert!(!must(4) || aliases == 1, "{id}: acknowledged alias missing");
    assert!(
        seen >= acked_rank,
        "{id}: state {:?} behind {k:?}",
        meta.key_state
    );
    // A prefix of the sequence: no step is stored without the steps before it.
    assert!(
        aliases == 0 || rotations == 1,
        "{id}: alias without its rotation"
    );
    assert!(seen == 0 || aliases == 1, "{id}: disabled before its alias");

    // Decrypt every acknowledged ciphertext, enabling the key for it if need be, then put the
    // key back as it was.
    let state = meta.key_state;
    let req = || KeyIdRequest { key_id: id.into() };
    if state == S::PendingDeletion {
        kms.cancel_key_deletion(&me, req()).unwrap();
    }
    if state != S::Enabled {
        kms.enable_key(&me, req()).unwrap();
    }
    // A key that is stored is whole: it encrypts.
    kms.encrypt(
        &me,
        EncryptRequest {
            key_id: id.into(),
            plaintext: b"whole".to_vec().into(),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{id}: stored key is not usable: {e}"));
    for (blob, pt) in &k.ciphertexts {
        let got = kms
            .decrypt(
                &me,
                DecryptRequest {
                    ciphertext_blob: blob.clone(),
                    encryption_context: ctx(),
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{id}: acknowledged ciphertext fails: {e}"));
        assert_eq!(got.plaintext.expose(), pt.as_slice());
    }
    if state != S::Enabled {
        kms.disable_key(&me, req()).unwrap();
    }
    if state == S::PendingDeletion {
        kms.schedule_key_deletion(
            &me,
            ScheduleKeyDeletionRequest {
                key_id: id.into(),
                pending_window_in_days: Some(30),
            },
        )
        .unwrap();
    }
}

/// xorshift64: the kill schedule is reproducible from `SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn crash_kills_lose_no_acknowledged_mutation() {
    let base: PathBuf = std::env::temp_dir().join(format!("coffer-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let dir = base.join("data");
    let key = base.join("root.key");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(SEED);
    let mut keys: BTreeMap<String, Acked> = BTreeMap::new();
    let mut unacknowledged = 0usize;
    let mut kills = 0;

    for round in 0..ROUNDS {
        let n = 1 + rng.below(16);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DIR, &dir)
            .env(ENV_KEY, &key)
            .env(ENV_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = 0;
        let mut this_round = BTreeSet::new();
        let mut line = String::new();
        while seen < n {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("round {round}: the child ended early:\n{err}");
            }
            if line.starts_with("ACK ") {
                record(&mut keys, line.trim_end());
                this_round.insert(line.split_whitespace().nth(2).unwrap().to_owned());
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let kms = open(&dir, &key);
        for id in &this_round {
            verify_key(&kms, id, &keys[id]);
        }
        // Nothing half-written: every stored key is whole, acknowledged or not (the child may
        // have created keys after the last acknowledgement the parent read).
        let listed = kms
            .list_keys(
                &alice(),
                ListKeysRequest {
                    limit: Some(1000),
                    marker: None,
                },
            )
            .unwrap()
            .keys;
        for entry in &listed {
            if !keys.contains_key(&entry.key_id) {
                unacknowledged += 1;
                keys.insert(entry.key_id.clone(), Acked::default());
                verify_key(&kms, &entry.key_id, &Acked::default());
            }
        }
        assert_eq!(listed.len(), keys.len(), "an acknowledged key is missing");
        kills += 1;
    }
    assert_eq!(kills, ROUNDS);
    // Make sure the kills landed mid-sequence, not only between keys.
    assert!(keys.values().any(|k| (1..7).contains(&k.steps)));
    let _ = unacknowledged;

    // Finally, every key of every round, once more, after all the kills.
    let kms = open(&dir, &key);
    for (id, k) in &keys {
        verify_key(&kms, id, k);
    }
    drop(kms);
    let _ = std::fs::remove_dir_all(&base);
}
