//! The key lifecycle end to end: the state table cell by cell, deletion, rotation, aliases,
//! tags and listing, with an injected clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, Error, Kms};

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const DAY: Duration = Duration::from_secs(86_400);

struct World {
    kms: Kms,
    clock: Arc<ManualClock>,
    alice: Caller,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_700_000_000));
    World {
        // These tests make more management calls per (unmoving) second than AWS's quotas allow;
        // quotas have their own tests (tests/quota.rs).
        kms: Kms::builder()
            .clock(clock.clone())
            .quotas(coffer::QuotaConfig {
                enabled: false,
                ..Default::default()
            })
            .build()
            .unwrap(),
        clock,
        alice: Caller::new(ALICE)
            .unwrap()
            .with_identity_policy_json(KMS_ADMIN)
            .unwrap(),
    }
}

impl World {
    fn key(&self) -> KeyMetadata {
        self.kms
            .create_key(&self.alice, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
    }

    fn id(&self, key: &str) -> KeyIdRequest {
        KeyIdRequest { key_id: key.into() }
    }

    fn encrypt(&self, key: &str, pt: &[u8]) -> Result<Vec<u8>, Error> {
        self.kms
            .encrypt(
                &self.alice,
                EncryptRequest {
                    key_id: key.into(),
                    plaintext: pt.to_vec().into(),
                    ..Default::default()
                },
            )
            .map(|r| r.ciphertext_blob)
    }

    fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, Error> {
        self.kms
            .decrypt(
                &self.alice,
                DecryptRequest {
                    ciphertext_blob: blob.to_vec(),
                    ..Default::default()
                },
            )
            .map(|r| r.plaintext.expose().to_vec())
    }

    fn state(&self, key: &str) -> KeyState {
        self.describe(key).key_state
    }

    fn describe(&self, key: &str) -> KeyMetadata {
        self.kms
            .describe_key(
                &self.alice,
                DescribeKeyRequest {
                    key_id: key.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata
    }

    fn now(&self) -> SystemTime {
        coffer::Clock::now(&*self.clock)
    }
}

fn outcome<T>(r: Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// Runs `op` against a key in `state`, in a fresh world.
fn run(op: &str, state: KeyState) -> &'static str {
    let w = world();
    let key = w.key();
    let k = key.key_id.clone();
    let blob = w.encrypt(&k, b"before").unwrap();
    let other = w.key();
    w.kms
        .create_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/existing".into(),
                target_key_id: other.key_id.clone(),
            },
        )
        .unwrap();
    w.kms
        .create_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/mine".into(),
                target_key_id: k.clone(),
            },
        )
        .unwrap();
    match state {
        KeyState::Enabled => {}
        KeyState::Disabled => w.kms.disable_key(&w.alice, w.id(&k)).unwrap(),
        KeyState::PendingDeletion => {
            w.kms
                .schedule_key_deletion(
                    &w.alice,
                    ScheduleKeyDeletionRequest {
                        key_id: k.clone(),
                        pending_window_in_days: Some(7),
                    },
                )
                .unwrap();
        }
        other => panic!("state {other} is not reachable yet"),
    }
    assert_eq!(w.state(&k), state);
    let kms = &w.kms;
    let a = &w.alice;
    let gdk = || GenerateDataKeyRequest {
        key_id: k.clone(),
        key_spec: Some(DataKeySpec::Aes256),
        ..Default::default()
    };
    match op {
        "Encrypt" => outcome(w.encrypt(&k, b"x")),
        "Decrypt" => outcome(w.decrypt(&blob)),
        "ReEncrypt(source)" => outcome(kms.re_encrypt(
            a,
            ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                destination_key_id: other.key_id.clone(),
                ..Default::default()
            },
        )),
        "ReEncrypt(destination)" => {
            let ob = w.encrypt(&other.key_id, b"x").unwrap();
            outcome(kms.re_encrypt(
                a,
                ReEncryptRequest {
                    ciphertext_blob: ob,
                    destination_key_id: k.clone(),
                    ..Default::default()
                },
            ))
        }
        "GenerateDataKey" => outcome(kms.generate_data_key(a, gdk())),
        "GenerateDataKeyWithoutPlaintext" => {
            outcome(kms.generate_data_key_without_plaintext(a, gdk()))
        }
        "DescribeKey" => outcome(kms.describe_key(
            a,
            DescribeKeyRequest {
                key_id: k.clone(),
                ..Default::default()
            },
        )),
        "EnableKey" => outcome(kms.enable_key(a, w.id(&k))),
        "DisableKey" => outcome(kms.disable_key(a, w.id(&k))),
        "UpdateKeyDescription" => outcome(kms.update_key_description(
            a,
            UpdateKeyDescriptionRequest {
                key_id: k.clone(),
                description: "new".into(),
            },
        )),
        "ScheduleKeyDeletion" => outcome(kms.schedule_key_deletion(
            a,
            ScheduleKeyDeletionRequest {
                key_id: k.clone(),
                pending_window_in_days: None,
            },
        )),
        "CancelKeyDeletion" => outcome(kms.cancel_key_deletion(a, w.id(&k))),
        "EnableKeyRotation" => outcome(kms.enable_key_rotation(
            a,
            EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: None,
            },
        )),
        "DisableKeyRotation" => outcome(kms.disable_key_rotation(a, w.id(&k))),
        "GetKeyRotationStatus" => outcome(kms.get_key_rotation_status(a, w.id(&k))),
        "RotateKeyOnDemand" => outcome(kms.rotate_key_on_demand(a, w.id(&k))),
        "ListKeyRotations" => outcome(kms.list_key_rotations(
            a,
            ListKeyRotationsRequest {
                key_id: k.clone(),
                ..Default::default()
            },
        )),
        "CreateAlias" => outcome(kms.create_alias(
            a,
            AliasRequest {
                alias_name: "alias/new".into(),
                target_key_id: k.clone(),
            },
        )),
        "UpdateAlias" => outcome(kms.update_alias(
            a,
            AliasRequest {
                alias_name: "alias/existing".into(),
                target_key_id: k.clone(),
            },
        )),
        "DeleteAlias" => outcome(kms.delete_alias(
            a,
            DeleteAliasRequest {
                alias_name: "alias/mine".into(),
            },
        )),
        "ListAliases" => outcome(kms.list_aliases(
            a,
            ListAliasesRequest {
                key_id: Some(k.clone()),
                ..Default::default()
            },
        )),
        "TagResource" => outcome(kms.tag_resource(
            a,
            TagResourceRequest {
                key_id: k.clone(),
                tags: vec![Tag {
                    tag_key: "a".into(),
                    tag_value: "b".into(),
                }],
            },
        )),
        "UntagResource" => outcome(kms.untag_resource(
            a,
            UntagResourceRequest {
                key_id: k.clone(),
                tag_keys: vec!["a".into()],
            },
        )),
        "ListResourceTags" => outcome(kms.list_resource_tags(
            a,
            ListResourceTagsRequest {
                key_id: k.clone(),
                ..Default::default()
            },
        )),
        other => panic!("no driver for {other}"),
    }
}

#[test]
fn state_table_cell_by_cell() {
    const OK: &str = "ok";
    const DIS: &str = "DisabledException";
    const INV: &str = "KMSInvalidStateException";
    // operation: (Enabled, Disabled, PendingDeletion), from AWS's key-state table.
    let table: &[(&str, [&str; 3])] = &[
        ("Encrypt", [OK, DIS, INV]),
        ("Decrypt", [OK, DIS, INV]),
        ("ReEncrypt(source)", [OK, DIS, INV]),
        ("ReEncrypt(destination)", [OK, DIS, INV]),
        ("GenerateDataKey", [OK, DIS, INV]),
        ("GenerateDataKeyWithoutPlaintext", [OK, DIS, INV]),
        ("DescribeKey", [OK, OK, OK]),
        ("EnableKey", [OK, OK, INV]),
        ("DisableKey", [OK, OK, INV]),
        ("UpdateKeyDescription", [OK, OK, INV]),
        ("ScheduleKeyDeletion", [OK, OK, INV]),
        ("CancelKeyDeletion", [INV, INV, OK]),
        ("EnableKeyRotation", [OK, DIS, INV]),
        ("DisableKeyRotation", [OK, DIS, INV]),
        ("GetKeyRotationStatus", [OK, OK, OK]),
        ("RotateKeyOnDemand", [OK, DIS, INV]),
        ("ListKeyRotations", [OK, OK, OK]),
        ("CreateAlias", [OK, OK, INV]),
        ("UpdateAlias", [OK, OK, INV]),
        ("DeleteAlias", [OK, OK, OK]),
        ("ListAliases", [OK, OK, OK]),
        ("TagResource", [OK, OK, INV]),
        ("UntagResource", [OK, OK, INV]),
        ("ListResourceTags", [OK, OK, OK]),
    ];
    let states = [
        KeyState::Enabled,
        KeyState::Disabled,
        KeyState::PendingDeletion,
    ];
    let mut wrong = Vec::new();
    for (op, expected) in table {
        for (state, want) in states.iter().zip(expected) {
            let got = run(op, *state);
            if got != *want {
                wrong.push(format!("{op} in {state}: got {got}, want {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn state_table_covers_unreachable_states_too() {
    use coffer::{CheckState, Operation};
    let arn = "arn:aws:kms:us-east-1:111122223333:key/x";
    // PendingImport (imported material arrives with its own issue) and the custom-key-store /
    // multi-region states, checked at the table itself.
    let pi = KeyState::PendingImport;
    let code = |op: Operation, s: KeyState| match op.check_state(s, arn) {
        Ok(()) => "ok",
        Err(e) => e.code(),
    };
    assert_eq!(code(Operation::Encrypt, pi), "KMSInvalidStateException");
    assert_eq!(code(Operation::EnableKey, pi), "KMSInvalidStateException");
    assert_eq!(code(Operation::TagResource, pi), "ok");
    assert_eq!(code(Operation::ScheduleKeyDeletion, pi), "ok");
    assert_eq!(
        code(Operation::EnableKeyRotation, pi),
        "UnsupportedOperationException"
    );
    assert_eq!(code(Operation::DescribeKey, pi), "ok");
    assert_eq!(
        code(Operation::CancelKeyDeletion, pi),
        "KMSInvalidStateException"
    );
    for s in [KeyState::Unavailable, KeyState::Creating] {
        assert_eq!(code(Operation::Decrypt, s), "KMSInvalidStateException");
        assert_eq!(code(Operation::DescribeKey, s), "ok");
    }
    // Updating (a multi-Region key's primary Region changing): still usable in cryptographic
    // operations, as AWS documents; not replicated again or managed meanwhile.
    let up = KeyState::Updating;
    assert_eq!(code(Operation::Decrypt, up), "ok");
    assert_eq!(code(Operation::DescribeKey, up), "ok");
    assert_eq!(code(Operation::EnableKey, up), "KMSInvalidStateException");
    assert_eq!(
        code(Operation::ReplicateKey, up),
        "KMSInvalidStateException"
    );
    assert_eq!(
        code(Operation::UpdatePrimaryRegion, up),
        "KMSInvalidStateException"
    );
    // Every operation has a row, and every (operation, state) cell gives an answer.
    for op in Operation::ALL {
        for s in KeyState::ALL {
            let _ = code(*op, *s);
        }
    }
}

#[test]
fn deletion_window_cancel_and_purge() {
    let w = world();
    let key = w.key();
    let k = key.key_id.clone();
    let blob = w.encrypt(&k, b"doomed").unwrap();
    for bad in [Some(6), Some(31), Some(0)] {
        let r = w.kms.schedule_key_deletion(
            &w.alice,
            ScheduleKeyDeletionRequest {
                key_id: k.clone(),
                pending_window_in_days: bad,
            },
        );
        assert_eq!(outcome(r), "ValidationException");
    }
    let s = w
        .kms
        .schedule_key_deletion(
            &w.alice,
            ScheduleKeyDeletionRequest {
                key_id: k.clone(),
                pending_window_in_days: None,
            },
        )
        .unwrap();
    assert_eq!(s.pending_window_in_days, 30);
    assert_eq!(s.key_state, KeyState::PendingDeletion);
    assert_eq!(s.deletion_date, Some(w.now() + DAY * 30));
    assert_eq!(s.key_id, key.arn);
    let d = w.describe(&k);
    assert_eq!(d.deletion_date, Some(w.now() + DAY * 30));
    assert_eq!(d.pending_deletion_window_in_days, Some(30));
    assert!(!d.enabled);

    // Cancel: the key comes back disabled, with no deletion date.
    let c = w.kms.cancel_key_deletion(&w.alice, w.id(&k)).unwrap();
    assert_eq!(c.key_id, key.arn);
    let d = w.describe(&k);
    assert_eq!(d.key_state, KeyState::Disabled);
    assert_eq!(d.deletion_date, None);
    assert_eq!(outcome(w.decrypt(&blob)), "DisabledException");
    w.kms.enable_key(&w.alice, w.id(&k)).unwrap();
    assert_eq!(w.decrypt(&blob).unwrap(), b"doomed");

    // Schedule with 7 days; nothing happens one second early; then it is gone.
    w.kms
        .schedule_key_deletion(
            &w.alice,
            ScheduleKeyDeletionRequest {
                key_id: k.clone(),
                pending_window_in_days: Some(7),
            },
        )
        .unwrap();
    w.clock.advance(DAY * 7 - Duration::from_secs(1));
    assert!(w.kms.run_maintenance().unwrap().keys_deleted.is_empty());
    assert_eq!(w.state(&k), KeyState::PendingDeletion);
    w.clock.advance(Duration::from_secs(1));
    let report = w.kms.run_maintenance().unwrap();
    assert_eq!(report.keys_deleted, vec![key.arn.clone()]);
    assert_eq!(outcome(w.decrypt(&blob)), "NotFoundException");
    assert_eq!(
        outcome(w.kms.describe_key(
            &w.alice,
            DescribeKeyRequest {
                key_id: k.clone(),
                ..Default::default()
            }
        )),
        "NotFoundException"
    );
    // A second sweep has nothing to do.
    assert_eq!(
        w.kms.run_maintenance().unwrap(),
        MaintenanceReport::default()
    );
}

#[test]
fn purge_removes_aliases_of_the_key() {
    let w = world();
    let key = w.key();
    w.kms
        .create_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/gone".into(),
                target_key_id: key.key_id.clone(),
            },
        )
        .unwrap();
    // Warm the alias cache.
    w.encrypt("alias/gone", b"x").unwrap();
    w.kms
        .schedule_key_deletion(
            &w.alice,
            ScheduleKeyDeletionRequest {
                key_id: key.key_id.clone(),
                pending_window_in_days: Some(7),
            },
        )
        .unwrap();
    w.clock.advance(DAY * 8);
    w.kms.run_maintenance().unwrap();
    assert_eq!(outcome(w.encrypt("alias/gone", b"x")), "NotFoundException");
    let list = w
        .kms
        .list_aliases(&w.alice, ListAliasesRequest::default())
        .unwrap();
    assert!(list.aliases.is_empty());
}

#[test]
fn old_ciphertext_decrypts_across_five_rotations() {
    let w = world();
    let key = w.key();
    let k = key.key_id.clone();
    let mut blobs = vec![(w.encrypt(&k, b"v0").unwrap(), b"v0".to_vec())];
    let mut material_ids = vec![key.current_key_material_id.clone().unwrap()];
    for i in 1..=5 {
        w.clock.advance(DAY);
        let r = w.kms.rotate_key_on_demand(&w.alice, w.id(&k)).unwrap();
        assert_eq!(r.key_id, key.arn);
        let now_id = w.describe(&k).current_key_material_id.unwrap();
        assert!(!material_ids.contains(&now_id));
        material_ids.push(now_id);
        let pt = format!("v{i}").into_bytes();
        blobs.push((w.encrypt(&k, &pt).unwrap(), pt));
    }
    // Each Decrypt names the version that encrypted: the current one (whose id the facade
    // shares from its cache) and each older one (written per call).
    for ((blob, pt), id) in blobs.iter().zip(&material_ids) {
        let d = w
            .kms
            .decrypt(
                &w.alice,
                DecryptRequest {
                    ciphertext_blob: blob.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(d.plaintext.expose(), pt.as_slice());
        assert_eq!(d.key_material_id.as_deref(), Some(id.as_str()));
    }
    let rot = w
        .kms
        .list_key_rotations(
            &w.alice,
            ListKeyRotationsRequest {
                key_id: k.clone(),
                limit: Some(2),
                marker: None,
            },
        )
        .unwrap();
    assert_eq!(rot.rotations.len(), 2);
    assert!(rot.truncated);
    let mut all = rot.rotations.clone();
    let mut marker = rot.next_marker.clone();
    while let Some(m) = marker {
        let page = w
            .kms
            .list_key_rotations(
                &w.alice,
                ListKeyRotationsRequest {
                    key_id: k.clone(),
                    limit: Some(2),
                    marker: Some(m),
                },
            )
            .unwrap();
        all.extend(page.rotations);
        marker = page.next_marker;
    }
    assert_eq!(all.len(), 5);
    assert!(all
        .iter()
        .all(|r| r.rotation_type == RotationType::OnDemand));
    let listed: Vec<_> = all.iter().map(|r| r.key_material_id.clone()).collect();
    assert_eq!(listed, material_ids[1..]);
    assert!(all
        .windows(2)
        .all(|p| p[0].rotation_date < p[1].rotation_date));
}

#[test]
fn on_demand_rotation_limit_and_schedule_untouched() {
    let w = world();
    let k = w.key().key_id;
    w.kms
        .enable_key_rotation(
            &w.alice,
            EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: Some(90),
            },
        )
        .unwrap();
    let before = w.kms.get_key_rotation_status(&w.alice, w.id(&k)).unwrap();
    assert!(before.key_rotation_enabled);
    assert_eq!(before.rotation_period_in_days, Some(90));
    assert_eq!(before.next_rotation_date, Some(w.now() + DAY * 90));
    for _ in 0..coffer::MAX_ON_DEMAND_ROTATIONS {
        w.kms.rotate_key_on_demand(&w.alice, w.id(&k)).unwrap();
    }
    assert_eq!(
        outcome(w.kms.rotate_key_on_demand(&w.alice, w.id(&k))),
        "LimitExceededException"
    );
    let after = w.kms.get_key_rotation_status(&w.alice, w.id(&k)).unwrap();
    assert_eq!(after.next_rotation_date, before.next_rotation_date);
}

#[test]
fn automatic_rotation_due_dates_and_deferral() {
    let w = world();
    let key = w.key();
    let k = key.key_id.clone();
    for bad in [89, 2561] {
        assert_eq!(
            outcome(w.kms.enable_key_rotation(
                &w.alice,
                EnableKeyRotationRequest {
                    key_id: k.clone(),
                    rotation_period_in_days: Some(bad),
                }
            )),
            "ValidationException"
        );
    }
    w.kms
        .enable_key_rotation(
            &w.alice,
            EnableKeyRotationRequest {
                key_id: k.clone(),
                rotation_period_in_days: None,
            },
        )
        .unwrap();
    let status = w.kms.get_key_rotation_status(&w.alice, w.id(&k)).unwrap();
    assert_eq!(status.rotation_period_in_days, Some(365));
    let due = status.next_rotation_date.unwrap();
    assert_eq!(due, w.now() + DAY * 365);
    let blob = w.encrypt(&k, b"year one").unwrap();

    // One second early: nothing.
    w.clock.set(due - Duration::from_secs(1));
    assert!(w.kms.run_maintenance().unwrap().keys_rotated.is_empty());
    // Due: rotated, and the next date is a period later.
    w.clock.set(due);
    assert_eq!(
        w.kms.run_maintenance().unwrap().keys_rotated,
        vec![key.arn.clone()]
    );
    let s2 = w.kms.get_key_rotation_status(&w.alice, w.id(&k)).unwrap();
    assert_eq!(s2.next_rotation_date, Some(due + DAY * 365));
    assert_ne!(
        w.describe(&k).current_key_material_id,
        key.current_key_material_id
    );
    assert_eq!(w.decrypt(&blob).unwrap(), b"year one");

    // Disabled when due: the rotation waits…
    w.kms.disable_key(&w.alice, w.id(&k)).unwrap();
    w.clock.set(due + DAY * 400);
    assert!(w.kms.run_maintenance().unwrap().keys_rotated.is_empty());
    let material = w.describe(&k).current_key_material_id;
    // …and happens at the first sweep after the key is enabled again, restarting the period.
    w.kms.enable_key(&w.alice, w.id(&k)).unwrap();
    assert_eq!(w.kms.run_maintenance().unwrap().keys_rotated.len(), 1);
    assert_ne!(w.describe(&k).current_key_material_id, material);
    let s3 = w.kms.get_key_rotation_status(&w.alice, w.id(&k)).unwrap();
    assert_eq!(s3.next_rotation_date, Some(w.now() + DAY * 365));
    let kinds: Vec<_> = w
        .kms
        .list_key_rotations(
            &w.alice,
            ListKeyRotationsRequest {
                key_id: k.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .rotations
        .into_iter()
        .map(|r| r.rotation_type)
        .collect();
    assert_eq!(kinds, [RotationType::Automatic, RotationType::Automatic]);

    // Pending deletion: no rotation.
    w.kms
        .schedule_key_deletion(
            &w.alice,
            ScheduleKeyDeletionRequest {
                key_id: k.clone(),
                pending_window_in_days: Some(30),
            },
        )
        .unwrap();
    w.clock.advance(DAY * 366);
    let r = w.kms.run_maintenance().unwrap();
    assert!(r.keys_rotated.is_empty());
    assert_eq!(r.keys_deleted.len(), 1);

    // Disabling rotation clears the schedule.
    let k2 = w.key().key_id;
    w.kms
        .enable_key_rotation(
            &w.alice,
            EnableKeyRotationRequest {
                key_id: k2.clone(),
                rotation_period_in_days: Some(100),
            },
        )
        .unwrap();
    w.kms.disable_key_rotation(&w.alice, w.id(&k2)).unwrap();
    let s = w.kms.get_key_rotation_status(&w.alice, w.id(&k2)).unwrap();
    assert!(!s.key_rotation_enabled);
    assert_eq!(s.next_rotation_date, None);
    w.clock.advance(DAY * 200);
    assert!(w.kms.run_maintenance().unwrap().keys_rotated.is_empty());
}

#[test]
fn list_keys_pages_and_refuses_forged_markers() {
    let w = world();
    let mut ids: Vec<String> = (0..7).map(|_| w.key().key_id).collect();
    ids.sort();
    // Another account's keys never show.
    let bob = Caller::new("arn:aws:iam::999988887777:user/bob")
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    w.kms.create_key(&bob, CreateKeyRequest::default()).unwrap();
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = w
            .kms
            .list_keys(
                &w.alice,
                ListKeysRequest {
                    limit: Some(3),
                    marker: marker.clone(),
                },
            )
            .unwrap();
        assert!(page.keys.len() <= 3);
        seen.extend(page.keys.iter().map(|k| k.key_id.clone()));
        assert!(page
            .keys
            .iter()
            .all(|k| k.key_arn.ends_with(&k.key_id) && k.key_arn.contains("111122223333")));
        if !page.truncated {
            assert!(page.next_marker.is_none());
            break;
        }
        marker = page.next_marker;
    }
    assert_eq!(seen, ids);
    for limit in [0, 1001] {
        assert_eq!(
            outcome(w.kms.list_keys(
                &w.alice,
                ListKeysRequest {
                    limit: Some(limit),
                    marker: None
                }
            )),
            "ValidationException"
        );
    }
    let page = w
        .kms
        .list_keys(
            &w.alice,
            ListKeysRequest {
                limit: Some(1),
                marker: None,
            },
        )
        .unwrap();
    let m = page.next_marker.unwrap();
    let mut forged = m.clone().into_bytes();
    forged[3] = if forged[3] == b'a' { b'b' } else { b'a' };
    for bad in [
        String::from_utf8(forged).unwrap(),
        "garbage".into(),
        "00".into(),
    ] {
        assert_eq!(
            outcome(w.kms.list_keys(
                &w.alice,
                ListKeysRequest {
                    limit: Some(1),
                    marker: Some(bad)
                }
            )),
            "InvalidMarkerException"
        );
    }
    // A marker of one account is no good to another.
    assert_eq!(
        outcome(w.kms.list_keys(
            &bob,
            ListKeysRequest {
                limit: Some(1),
                marker: Some(m)
            }
        )),
        "InvalidMarkerException"
    );
}

#[test]
fn enable_disable_and_description() {
    let w = world();
    let k = w.key().key_id;
    let blob = w.encrypt(&k, b"x").unwrap();
    w.kms.disable_key(&w.alice, w.id(&k)).unwrap();
    assert_eq!(outcome(w.encrypt(&k, b"x")), "DisabledException");
    assert_eq!(outcome(w.decrypt(&blob)), "DisabledException");
    assert!(!w.describe(&k).enabled);
    w.kms.enable_key(&w.alice, w.id(&k)).unwrap();
    assert!(w.encrypt(&k, b"x").is_ok());
    w.kms
        .update_key_description(
            &w.alice,
            UpdateKeyDescriptionRequest {
                key_id: k.clone(),
                description: "new words".into(),
            },
        )
        .unwrap();
    assert_eq!(w.describe(&k).description, "new words");
    assert_eq!(
        outcome(w.kms.update_key_description(
            &w.alice,
            UpdateKeyDescriptionRequest {
                key_id: k.clone(),
                description: "x".repeat(8193),
            }
        )),
        "ValidationException"
    );
}

#[test]
fn aliases_name_rules_and_operations() {
    let w = world();
    let k1 = w.key();
    let k2 = w.key();
    let create = |name: &str, target: &str| {
        w.kms.create_alias(
            &w.alice,
            AliasRequest {
                alias_name: name.into(),
                target_key_id: target.into(),
            },
        )
    };
    for bad in [
        "app",
        "alias/",
        "alias/has space",
        "alias/ü",
        &format!("alias/{}", "a".repeat(251)),
    ] {
        assert_eq!(
            outcome(create(bad, &k1.key_id)),
            "InvalidAliasNameException",
            "{bad}"
        );
    }
    assert_eq!(
        outcome(create("alias/aws/s3", &k1.key_id)),
        "InvalidAliasNameException"
    );
    assert!(create(&format!("alias/{}", "a".repeat(250)), &k1.key_id).is_ok());
    assert!(create("alias/app/prod_1-x", &k1.key_id).is_ok());
    assert_eq!(
        outcome(create("alias/app/prod_1-x", &k2.key_id)),
        "AlreadyExistsException"
    );
    // Management operations take key ids and ARNs, not aliases.
    assert_eq!(
        outcome(create("alias/other", "alias/app/prod_1-x")),
        "NotFoundException"
    );
    assert_eq!(
        outcome(w.kms.disable_key(&w.alice, w.id("alias/app/prod_1-x"))),
        "NotFoundException"
    );
    // Cryptographic operations take aliases, by name and ARN.
    let blob = w.encrypt("alias/app/prod_1-x", b"via alias").unwrap();
    let alias_arn = "arn:aws:kms:us-east-1:111122223333:alias/app/prod_1-x";
    assert!(w.encrypt(alias_arn, b"x").is_ok());
    assert_eq!(w.describe("alias/app/prod_1-x").key_id, k1.key_id);

    // Update moves the alias; ciphertext made through it still decrypts.
    w.clock.advance(DAY);
    w.kms
        .update_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/app/prod_1-x".into(),
                target_key_id: k2.arn.clone(),
            },
        )
        .unwrap();
    assert_eq!(w.describe("alias/app/prod_1-x").key_id, k2.key_id);
    assert_eq!(w.decrypt(&blob).unwrap(), b"via alias");
    assert_eq!(
        outcome(w.kms.update_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/missing".into(),
                target_key_id: k2.key_id.clone()
            }
        )),
        "NotFoundException"
    );

    let listed = w
        .kms
        .list_aliases(&w.alice, ListAliasesRequest::default())
        .unwrap();
    assert_eq!(listed.aliases.len(), 2);
    let moved = listed
        .aliases
        .iter()
        .find(|a| a.alias_name == "alias/app/prod_1-x")
        .unwrap();
    assert_eq!(moved.alias_arn, alias_arn);
    assert_eq!(moved.target_key_id, k2.key_id);
    assert_eq!(moved.last_updated_date, moved.creation_date + DAY);

    let for_k1 = w
        .kms
        .list_aliases(
            &w.alice,
            ListAliasesRequest {
                key_id: Some(k1.key_id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(for_k1.aliases.len(), 1);

    w.kms
        .delete_alias(
            &w.alice,
            DeleteAliasRequest {
                alias_name: "alias/app/prod_1-x".into(),
            },
        )
        .unwrap();
    assert_eq!(
        outcome(w.encrypt("alias/app/prod_1-x", b"x")),
        "NotFoundException"
    );
    assert_eq!(
        outcome(w.kms.delete_alias(
            &w.alice,
            DeleteAliasRequest {
                alias_name: "alias/app/prod_1-x".into()
            }
        )),
        "NotFoundException"
    );
}

#[test]
fn alias_listing_pages_and_limit_per_key() {
    let w = world();
    let k = w.key();
    for i in 0..coffer::MAX_ALIASES_PER_KEY {
        w.kms
            .create_alias(
                &w.alice,
                AliasRequest {
                    alias_name: format!("alias/a{i:02}"),
                    target_key_id: k.key_id.clone(),
                },
            )
            .unwrap();
    }
    assert_eq!(
        outcome(w.kms.create_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/one-too-many".into(),
                target_key_id: k.key_id.clone()
            }
        )),
        "LimitExceededException"
    );
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = w
            .kms
            .list_aliases(
                &w.alice,
                ListAliasesRequest {
                    key_id: None,
                    limit: Some(7),
                    marker: marker.clone(),
                },
            )
            .unwrap();
        names.extend(page.aliases.into_iter().map(|a| a.alias_name));
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    let want: Vec<_> = (0..50).map(|i| format!("alias/a{i:02}")).collect();
    assert_eq!(names, want);
}

#[test]
fn tags_rules() {
    let w = world();
    let k = w.key().key_id;
    let tag = |key: &str, value: &str| Tag {
        tag_key: key.into(),
        tag_value: value.into(),
    };
    let tag_res = |tags: Vec<Tag>| {
        w.kms.tag_resource(
            &w.alice,
            TagResourceRequest {
                key_id: k.clone(),
                tags,
            },
        )
    };
    tag_res(vec![tag("env", "dev"), tag("team", "pay")]).unwrap();
    tag_res(vec![tag("env", "prod")]).unwrap();
    let list = |limit, marker| {
        w.kms
            .list_resource_tags(
                &w.alice,
                ListResourceTagsRequest {
                    key_id: k.clone(),
                    limit,
                    marker,
                },
            )
            .unwrap()
    };
    assert_eq!(
        list(None, None).tags,
        vec![tag("env", "prod"), tag("team", "pay")]
    );
    for bad in [
        vec![tag("", "x")],
        vec![tag(&"k".repeat(129), "x")],
        vec![tag("k", &"v".repeat(257))],
        vec![tag("aws:x", "y")],
        vec![tag("AWS:x", "y")],
    ] {
        assert_eq!(outcome(tag_res(bad)), "TagException");
    }
    assert!(tag_res(vec![
        tag(&"k".repeat(128), &"v".repeat(256)),
        tag("empty", "")
    ])
    .is_ok());
    // 50 in all at most.
    let many: Vec<_> = (0..46).map(|i| tag(&format!("t{i}"), "")).collect();
    assert!(tag_res(many).is_ok());
    assert_eq!(list(None, None).tags.len(), 50);
    assert_eq!(outcome(tag_res(vec![tag("fifty-one", "")])), "TagException");
    // Paging.
    let first = list(Some(20), None);
    assert!(first.truncated);
    let second = list(Some(50), first.next_marker.clone());
    assert_eq!(first.tags.len() + second.tags.len(), 50);
    assert!(!second.truncated);
    // Untag: present and absent keys; reserved prefix refused.
    w.kms
        .untag_resource(
            &w.alice,
            UntagResourceRequest {
                key_id: k.clone(),
                tag_keys: vec!["env".into(), "never-there".into()],
            },
        )
        .unwrap();
    assert!(!list(None, None).tags.iter().any(|t| t.tag_key == "env"));
    assert_eq!(
        outcome(w.kms.untag_resource(
            &w.alice,
            UntagResourceRequest {
                key_id: k.clone(),
                tag_keys: vec!["aws:x".into()]
            }
        )),
        "TagException"
    );
}

#[test]
fn disabled_key_stops_working_at_once_even_when_cached() {
    let w = world();
    let k = w.key().key_id;
    for _ in 0..3 {
        w.encrypt(&k, b"warm").unwrap();
    }
    w.kms.disable_key(&w.alice, w.id(&k)).unwrap();
    assert_eq!(outcome(w.encrypt(&k, b"x")), "DisabledException");
}

/// Each thread keeps its few recent keys in front of the shared cache: a change made on another
/// thread must reach a thread that has the key in its recent slots, on its very next call.
#[test]
fn a_change_on_another_thread_reaches_a_thread_that_used_the_key() {
    let w = world();
    let k = w.key().key_id;
    let other = w.key().key_id;
    let (warm_tx, warm_rx) = std::sync::mpsc::channel();
    let (changed_tx, changed_rx) = std::sync::mpsc::channel::<()>();
    let (wr, kr, otherr) = (&w, &k, &other);
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            for _ in 0..3 {
                wr.encrypt(kr, b"warm").unwrap();
                wr.encrypt(otherr, b"warm").unwrap();
            }
            warm_tx.send(()).unwrap();
            changed_rx.recv().unwrap();
            (
                outcome(wr.encrypt(kr, b"x")),
                outcome(wr.encrypt(otherr, b"x")),
            )
        });
        warm_rx.recv().unwrap();
        w.kms.disable_key(&w.alice, w.id(&k)).unwrap();
        changed_tx.send(()).unwrap();
        // The disabled key is refused; the key that did not change still works.
        assert_eq!(worker.join().unwrap(), ("DisabledException", "ok"));
    });
    w.kms.enable_key(&w.alice, w.id(&k)).unwrap();
    assert_eq!(outcome(w.encrypt(&k, b"x")), "ok");
}

/// A key policy that stops allowing the caller takes effect on the next call of a thread that
/// used the key a moment before (its recent slot is stale by the cache's epoch).
#[test]
fn a_new_key_policy_applies_to_the_next_call_after_warm_use() {
    let w = world();
    let k = w.key().key_id;
    for _ in 0..3 {
        w.encrypt(&k, b"warm").unwrap();
    }
    let deny_alice_encrypt = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    w.kms
        .put_key_policy(
            &w.alice,
            PutKeyPolicyRequest {
                key_id: k.clone(),
                policy: deny_alice_encrypt,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(outcome(w.encrypt(&k, b"x")), "AccessDeniedException");
}

/// An alias pointed elsewhere, then deleted, on another thread: a thread that resolved it a
/// moment before follows it on its next call (its recent alias slot is stale by the cache's
/// epoch), to the new key and then to NotFoundException.
#[test]
fn an_alias_change_on_another_thread_reaches_a_thread_that_used_the_alias() {
    let w = world();
    let (first, second) = (w.key().key_id, w.key().key_id);
    w.kms
        .create_alias(
            &w.alice,
            AliasRequest {
                alias_name: "alias/app".into(),
                target_key_id: first.clone(),
            },
        )
        .unwrap();
    // The key an Encrypt by the alias used, or the error's name.
    let by_alias = |w: &World| match w.kms.encrypt(
        &w.alice,
        EncryptRequest {
            key_id: "alias/app".into(),
            plaintext: b"x".to_vec().into(),
            ..Default::default()
        },
    ) {
        Ok(r) => r.key_id.to_string(),
        Err(e) => e.code().to_owned(),
    };
    let (warm_tx, warm_rx) = std::sync::mpsc::channel();
    let (step_tx, step_rx) = std::sync::mpsc::channel::<()>();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let wr = &w;
    std::thread::scope(|s| {
        s.spawn(move || {
            let warm: Vec<String> = (0..3).map(|_| by_alias(wr)).collect();
            warm_tx.send(warm).unwrap();
            while step_rx.recv().is_ok() {
                seen_tx.send(by_alias(wr)).unwrap();
            }
        });
        let warm = warm_rx.recv().unwrap();
        assert!(warm.iter().all(|arn| arn.ends_with(&first)), "{warm:?}");
        w.kms
            .update_alias(
                &w.alice,
                AliasRequest {
                    alias_name: "alias/app".into(),
                    target_key_id: second.clone(),
                },
            )
            .unwrap();
        step_tx.send(()).unwrap();
        let retargeted = seen_rx.recv().unwrap();
        w.kms
            .delete_alias(
                &w.alice,
                DeleteAliasRequest {
                    alias_name: "alias/app".into(),
                },
            )
            .unwrap();
        step_tx.send(()).unwrap();
        let deleted = seen_rx.recv().unwrap();
        drop(step_tx);
        assert!(retargeted.ends_with(&second), "{retargeted}");
        assert_eq!(deleted, "NotFoundException");
    });
}
