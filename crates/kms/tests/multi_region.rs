//! Multi-Region keys in the facade: CreateKey with MultiRegion, `mrk-` ids, DescribeKey's
//! MultiRegionConfiguration, ListKeys, aliases, ciphertexts, and ordinary ids unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;
use std::time::Duration;

use coffer::model::*;
use coffer::testing::ManualClock;
use coffer::{Caller, Kms, SecretBytes};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const KMS_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn kms(region: &str) -> Kms {
    kms_on(region, clock())
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

fn kms_on(region: &str, clock: Arc<ManualClock>) -> Kms {
    Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .clock(clock)
        .region(region)
        .build()
        .unwrap()
}

fn alice() -> Caller {
    Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ALL)
        .unwrap()
}

fn create(kms: &Kms, caller: &Caller, spec: KeySpec, usage: KeyUsage) -> KeyMetadata {
    kms.create_key(
        caller,
        CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            multi_region: Some(true),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

#[test]
fn create_key_multi_region_makes_a_primary_with_an_mrk_id() {
    let kms = kms("eu-west-1");
    let alice = alice();
    for (spec, usage) in [
        (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
        (KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
        (KeySpec::EccNistP256, KeyUsage::SignVerify),
    ] {
        let m = create(&kms, &alice, spec, usage);
        assert!(m.key_id.starts_with("mrk-"), "{}", m.key_id);
        assert_eq!(m.key_id.len(), 36);
        assert_eq!(
            m.arn,
            format!("arn:aws:kms:eu-west-1:111122223333:key/{}", m.key_id)
        );
        assert!(m.multi_region);
        let conf = m.multi_region_configuration.clone().unwrap();
        assert_eq!(conf.multi_region_key_type, MultiRegionKeyType::Primary);
        assert_eq!(conf.primary_key.arn, m.arn);
        assert_eq!(conf.primary_key.region, "eu-west-1");
        assert!(conf.replica_keys.is_empty());
        // DescribeKey by id and by ARN says the same.
        for name in [m.key_id.clone(), m.arn.clone()] {
            let d = kms
                .describe_key(
                    &alice,
                    DescribeKeyRequest {
                        key_id: name,
                        ..Default::default()
                    },
                )
                .unwrap()
                .key_metadata;
            assert_eq!(d, m);
        }
    }
    // ListKeys lists them by their mrk ids.
    let listed = kms.list_keys(&alice, ListKeysRequest::default()).unwrap();
    let mrks = listed
        .keys
        .iter()
        .filter(|k| k.key_id.starts_with("mrk-"))
        .count();
    assert_eq!(mrks, 3);
}

#[test]
fn single_region_keys_are_as_before() {
    let kms = kms("us-east-1");
    let alice = alice();
    for multi_region in [None, Some(false)] {
        let m = kms
            .create_key(
                &alice,
                CreateKeyRequest {
                    multi_region,
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata;
        assert!(!m.key_id.starts_with("mrk-"));
        assert_eq!(m.key_id.len(), 36);
        assert_eq!(m.key_id.matches('-').count(), 4);
        assert!(!m.multi_region);
        assert_eq!(m.multi_region_configuration, None);
    }
}

#[test]
fn an_mrk_key_encrypts_and_decrypts_by_alias_and_its_blob_names_it() {
    let kms = kms("us-east-1");
    let alice = alice();
    let m = create(
        &kms,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    kms.create_alias(
        &alice,
        AliasRequest {
            alias_name: "alias/global".into(),
            target_key_id: m.key_id.clone(),
        },
    )
    .unwrap();
    let aliases = kms
        .list_aliases(
            &alice,
            ListAliasesRequest {
                key_id: Some(m.key_id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(aliases.aliases.len(), 1);
    assert_eq!(aliases.aliases[0].target_key_id, m.key_id);
    let blob = kms
        .encrypt(
            &alice,
            EncryptRequest {
                key_id: "alias/global".into(),
                plaintext: SecretBytes::copy_from(b"everywhere"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(blob.key_id, m.arn);
    let plain = kms
        .decrypt(
            &alice,
            DecryptRequest {
                ciphertext_blob: blob.ciphertext_blob,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(plain.plaintext.expose(), b"everywhere");
    assert_eq!(plain.key_id, m.arn);
}

#[test]
fn multi_region_external_keys_are_refused_and_bad_mrk_ids_are_not_found() {
    let kms = kms("us-east-1");
    let alice = alice();
    let e = kms
        .create_key(
            &alice,
            CreateKeyRequest {
                origin: Some(Origin::External),
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    for bad in [
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "mrk-1234abcd12ab34cde6ef1234567890ab",
        "mrk-zz",
    ] {
        let e = kms
            .describe_key(
                &alice,
                DescribeKeyRequest {
                    key_id: bad.into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "NotFoundException", "{bad}");
    }
}

#[test]
fn kms_multi_region_condition_key_sees_the_key_kind() {
    let kms = kms("us-east-1");
    // Alice may do anything except create multi-Region keys.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{"Bool":{"kms:MultiRegion":"true"}}}]}"#;
    let limited = Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(policy)
        .unwrap();
    let e = kms
        .create_key(
            &limited,
            CreateKeyRequest {
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    kms.create_key(&limited, CreateKeyRequest::default())
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Replication between two regions in one process: each its own Kms (store, root key), the
// transport serializes every message as JSON the way cofferd sends it.
// ---------------------------------------------------------------------------------------------

use std::sync::atomic::{AtomicBool, Ordering};

use coffer::{
    MultiRegionNotice, Region, ReplicaOffer, ReplicaOfferRequest, ReplicaPackage, ReplicaTransport,
};

const PEER: &str = "arn:aws:iam::111122223333:user/replicator";
const ACCEPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"coffer:AcceptReplica","Resource":"*"}]}"#;

/// Region B as region A reaches it: B's Kms, the caller A's credential is in B, and a switch
/// that takes B down.
struct Peer {
    region: Region,
    kms: Arc<Kms>,
    caller: Caller,
    down: AtomicBool,
}

impl Peer {
    fn reach(&self, region: &Region) -> Result<(), coffer::Error> {
        if *region != self.region {
            return Err(coffer::Error::unsupported(format!(
                "no peer region {region}"
            )));
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(coffer::Error::dependency_timeout(format!(
                "{region} did not answer"
            )));
        }
        Ok(())
    }
}

impl ReplicaTransport for Peer {
    fn offer(
        &self,
        region: &Region,
        request: &ReplicaOfferRequest,
    ) -> Result<ReplicaOffer, coffer::Error> {
        self.reach(region)?;
        let wire: ReplicaOfferRequest =
            serde_json::from_slice(&serde_json::to_vec(request).unwrap()).unwrap();
        let offer = self.kms.replica_offer(&self.caller, wire)?;
        Ok(serde_json::from_slice(&serde_json::to_vec(&offer).unwrap()).unwrap())
    }

    fn install(&self, region: &Region, package: &ReplicaPackage) -> Result<(), coffer::Error> {
        self.reach(region)?;
        let wire: ReplicaPackage =
            serde_json::from_slice(&serde_json::to_vec(package).unwrap()).unwrap();
        self.kms.install_replica(&self.caller, wire)
    }

    fn notify(&self, region: &Region, notice: &MultiRegionNotice) -> Result<(), coffer::Error> {
        self.reach(region)?;
        let wire: MultiRegionNotice =
            serde_json::from_slice(&serde_json::to_vec(notice).unwrap()).unwrap();
        self.kms.receive_notice(&self.caller, wire)
    }
}

struct Pair {
    a: Arc<Kms>,
    b: Arc<Kms>,
    /// How A reaches B.
    peer: Arc<Peer>,
    /// How B reaches A.
    back: Arc<Peer>,
    /// The clock both regions read.
    clock: Arc<ManualClock>,
}

fn pair_with(peer_arn: &str, peer_policy: &str) -> Pair {
    let clock = clock();
    let a = Arc::new(kms_on("us-east-1", clock.clone()));
    let b = Arc::new(kms_on("eu-west-1", clock.clone()));
    let caller = || {
        Caller::new(peer_arn)
            .unwrap()
            .with_identity_policy_json(peer_policy)
            .unwrap()
    };
    let peer = Arc::new(Peer {
        region: Region::parse("eu-west-1").unwrap(),
        kms: b.clone(),
        caller: caller(),
        down: AtomicBool::new(false),
    });
    let back = Arc::new(Peer {
        region: Region::parse("us-east-1").unwrap(),
        kms: a.clone(),
        caller: caller(),
        down: AtomicBool::new(false),
    });
    a.set_replica_transport(peer.clone());
    b.set_replica_transport(back.clone());
    Pair {
        a,
        b,
        peer,
        back,
        clock,
    }
}

fn pair() -> Pair {
    pair_with(PEER, ACCEPT)
}

fn replicate(
    pair: &Pair,
    caller: &Caller,
    key_id: &str,
) -> Result<ReplicateKeyResponse, coffer::Error> {
    pair.a.replicate_key(
        caller,
        ReplicateKeyRequest {
            key_id: key_id.into(),
            replica_region: "eu-west-1".into(),
            description: Some("the replica".into()),
            tags: vec![Tag {
                tag_key: "site".into(),
                tag_value: "dublin".into(),
            }],
            ..Default::default()
        },
    )
}

fn enc(kms: &Kms, caller: &Caller, key_id: &str, text: &[u8]) -> Vec<u8> {
    kms.encrypt(
        caller,
        EncryptRequest {
            key_id: key_id.into(),
            plaintext: SecretBytes::copy_from(text),
            ..Default::default()
        },
    )
    .unwrap()
    .ciphertext_blob
}

fn dec(kms: &Kms, caller: &Caller, blob: Vec<u8>) -> Result<Vec<u8>, coffer::Error> {
    kms.decrypt(
        caller,
        DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        },
    )
    .map(|r| r.plaintext.expose().to_vec())
}

fn describe(kms: &Kms, caller: &Caller, key_id: &str) -> KeyMetadata {
    kms.describe_key(
        caller,
        DescribeKeyRequest {
            key_id: key_id.into(),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
}

#[test]
fn replicate_key_makes_a_replica_that_decrypts_the_primarys_ciphertexts() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    let blob = enc(&p.a, &alice, &m.key_id, b"made in us-east-1");

    let r = replicate(&p, &alice, &m.key_id).unwrap();
    let rm = &r.replica_key_metadata;
    assert_eq!(rm.key_id, m.key_id);
    assert_eq!(
        rm.arn,
        format!("arn:aws:kms:eu-west-1:111122223333:key/{}", m.key_id)
    );
    assert_eq!(rm.key_state, KeyState::Enabled);
    assert_eq!(rm.description, "the replica");
    assert_eq!(r.replica_tags.len(), 1);
    assert!(r.replica_policy.contains("Statement"));
    let conf = rm.multi_region_configuration.clone().unwrap();
    assert_eq!(conf.multi_region_key_type, MultiRegionKeyType::Replica);

    // Region B describes its replica: same id, REPLICA, the primary in us-east-1, same version.
    let b = describe(&p.b, &alice, &m.key_id);
    assert_eq!(b.key_state, KeyState::Enabled);
    assert_eq!(b.description, "the replica");
    assert_eq!(b.current_key_material_id, m.current_key_material_id);
    let conf = b.multi_region_configuration.unwrap();
    assert_eq!(conf.multi_region_key_type, MultiRegionKeyType::Replica);
    assert_eq!(conf.primary_key.region, "us-east-1");
    assert_eq!(conf.primary_key.arn, m.arn);
    assert_eq!(conf.replica_keys.len(), 1);
    assert_eq!(conf.replica_keys[0].region, "eu-west-1");
    assert_eq!(conf.replica_keys[0].arn, rm.arn);

    // The primary lists its replica.
    let a = describe(&p.a, &alice, &m.key_id);
    let conf = a.multi_region_configuration.unwrap();
    assert_eq!(conf.multi_region_key_type, MultiRegionKeyType::Primary);
    assert_eq!(conf.replica_keys.len(), 1);
    assert_eq!(conf.replica_keys[0].region, "eu-west-1");

    // A ciphertext made in A decrypts in B, and one made in B decrypts in A.
    assert_eq!(dec(&p.b, &alice, blob).unwrap(), b"made in us-east-1");
    let back = enc(&p.b, &alice, &m.key_id, b"made in eu-west-1");
    assert_eq!(dec(&p.a, &alice, back).unwrap(), b"made in eu-west-1");

    // Its own tags and policy, not the primary's.
    let tags =
        p.b.list_resource_tags(
            &alice,
            ListResourceTagsRequest {
                key_id: m.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(tags.tags.len(), 1);
    assert_eq!(tags.tags[0].tag_value, "dublin");

    // Again: AlreadyExistsException; the replica cannot be replicated or rotated itself.
    assert_eq!(
        replicate(&p, &alice, &m.key_id).unwrap_err().code(),
        "AlreadyExistsException"
    );
    let e =
        p.b.rotate_key_on_demand(
            &alice,
            KeyIdRequest {
                key_id: m.key_id.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
}

#[test]
fn hmac_and_asymmetric_keys_replicate() {
    let p = pair();
    let alice = alice();
    let mac = create(&p.a, &alice, KeySpec::Hmac384, KeyUsage::GenerateVerifyMac);
    replicate(&p, &alice, &mac.key_id).unwrap();
    let made =
        p.a.generate_mac(
            &alice,
            GenerateMacRequest {
                key_id: mac.key_id.clone(),
                message: b"m".to_vec(),
                mac_algorithm: Some(MacAlgorithmSpec::HmacSha384),
                ..Default::default()
            },
        )
        .unwrap();
    let checked =
        p.b.verify_mac(
            &alice,
            VerifyMacRequest {
                key_id: mac.key_id.clone(),
                message: b"m".to_vec(),
                mac_algorithm: Some(MacAlgorithmSpec::HmacSha384),
                mac: made.mac.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(checked.mac_valid);

    let ec = create(&p.a, &alice, KeySpec::EccNistP256, KeyUsage::SignVerify);
    replicate(&p, &alice, &ec.key_id).unwrap();
    let pk = |k: &Kms| {
        k.get_public_key(
            &alice,
            GetPublicKeyRequest {
                key_id: ec.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .public_key
    };
    assert_eq!(pk(&p.a), pk(&p.b));
}

#[test]
fn only_a_multi_region_primary_replicates() {
    let p = pair();
    let alice = alice();
    let single =
        p.a.create_key(&alice, CreateKeyRequest::default())
            .unwrap()
            .key_metadata;
    let e = replicate(&p, &alice, &single.key_id).unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    // To its own region, or to a region with no peer, or a malformed region.
    for (region, code) in [
        ("us-east-1", "ValidationException"),
        ("ap-south-1", "UnsupportedOperationException"),
        ("EU_WEST", "ValidationException"),
    ] {
        let e =
            p.a.replicate_key(
                &alice,
                ReplicateKeyRequest {
                    key_id: m.key_id.clone(),
                    replica_region: region.into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), code, "{region}");
    }
    // Aliases are not accepted (AWS: key id or key ARN).
    p.a.create_alias(
        &alice,
        AliasRequest {
            alias_name: "alias/m".into(),
            target_key_id: m.key_id.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        replicate(&p, &alice, "alias/m").unwrap_err().code(),
        "NotFoundException"
    );
}

#[test]
fn attackers_cannot_replicate() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    // Another account, however permissive its own policies.
    let mallory = Caller::new("arn:aws:iam::444455556666:user/mallory")
        .unwrap()
        .with_identity_policy_json(KMS_ALL)
        .unwrap();
    assert_eq!(
        replicate(&p, &mallory, &m.arn).unwrap_err().code(),
        "AccessDeniedException"
    );
    assert_eq!(
        replicate(&p, &mallory, &m.key_id).unwrap_err().code(),
        "NotFoundException"
    );
    // A principal of the account without kms:ReplicateKey.
    let no_replicate = Caller::new("arn:aws:iam::111122223333:user/bob")
        .unwrap()
        .with_identity_policy_json(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
                {"Effect":"Deny","Action":"kms:ReplicateKey","Resource":"*"}]}"#,
        )
        .unwrap();
    assert_eq!(
        replicate(&p, &no_replicate, &m.key_id).unwrap_err().code(),
        "AccessDeniedException"
    );
    // kms:ReplicateKey but not kms:CreateKey.
    let no_create = Caller::new("arn:aws:iam::111122223333:user/carol")
        .unwrap()
        .with_identity_policy_json(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
                {"Effect":"Deny","Action":"kms:CreateKey","Resource":"*"}]}"#,
        )
        .unwrap();
    assert_eq!(
        replicate(&p, &no_create, &m.key_id).unwrap_err().code(),
        "AccessDeniedException"
    );
    // Nothing reached region B.
    let e =
        p.b.describe_key(
            &alice,
            DescribeKeyRequest {
                key_id: m.key_id.clone(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "NotFoundException");
}

#[test]
fn the_replica_region_refuses_peers_without_permission_or_of_another_account() {
    let alice = alice();
    for (peer, policy) in [
        // The peer's credential is not allowed coffer:AcceptReplica.
        (PEER, KMS_ALL),
        // The peer's credential is of another account.
        ("arn:aws:iam::444455556666:user/replicator", ACCEPT),
    ] {
        let p = pair_with(peer, policy);
        let m = create(
            &p.a,
            &alice,
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
        );
        let e = replicate(&p, &alice, &m.key_id).unwrap_err();
        assert_eq!(e.code(), "AccessDeniedException", "{peer}");
        assert!(p
            .b
            .describe_key(
                &alice,
                DescribeKeyRequest {
                    key_id: m.key_id.clone(),
                    ..Default::default()
                }
            )
            .is_err());
        // The primary lists no replica.
        let conf = describe(&p.a, &alice, &m.key_id)
            .multi_region_configuration
            .unwrap();
        assert!(conf.replica_keys.is_empty());
    }
}

#[test]
fn a_package_tampered_with_or_for_another_key_does_not_open() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    // Take B down after the offer: the replica stays Creating, A lists nothing.
    struct Half(Arc<Peer>);
    impl ReplicaTransport for Half {
        fn offer(
            &self,
            region: &Region,
            request: &ReplicaOfferRequest,
        ) -> Result<ReplicaOffer, coffer::Error> {
            self.0.offer(region, request)
        }
        fn notify(&self, region: &Region, notice: &MultiRegionNotice) -> Result<(), coffer::Error> {
            self.0.notify(region, notice)
        }
        fn install(&self, _: &Region, package: &ReplicaPackage) -> Result<(), coffer::Error> {
            // A flipped bit in a sealed version, then the token of another key.
            let mut bad = package.clone();
            let last = bad.versions[0].sealed.len() - 1;
            bad.versions[0].sealed[last] ^= 1;
            let e = self.0.kms.install_replica(&self.0.caller, bad).unwrap_err();
            assert_eq!(e.code(), "ValidationException");
            let mut other = package.clone();
            other.key_id = coffer::KeyId::parse("mrk-1234abcd12ab34cde6ef1234567890ab").unwrap();
            assert!(self.0.kms.install_replica(&self.0.caller, other).is_err());
            Err(coffer::Error::dependency_timeout("down after the offer"))
        }
    }
    p.a.set_replica_transport(Arc::new(Half(p.peer.clone())));
    let e = replicate(&p, &alice, &m.key_id).unwrap_err();
    assert_eq!(e.code(), "DependencyTimeoutException");
    assert_eq!(e.http_status(), 500);
    assert_eq!(
        describe(&p.b, &alice, &m.key_id).key_state,
        KeyState::Creating
    );
    assert!(describe(&p.a, &alice, &m.key_id)
        .multi_region_configuration
        .unwrap()
        .replica_keys
        .is_empty());
    // The real transport again: ReplicateKey is retried and completes.
    p.a.set_replica_transport(p.peer.clone());
    replicate(&p, &alice, &m.key_id).unwrap();
    assert_eq!(
        describe(&p.b, &alice, &m.key_id).key_state,
        KeyState::Enabled
    );
}

#[test]
fn rotation_of_the_primary_reaches_the_replica_and_a_region_down_converges() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    replicate(&p, &alice, &m.key_id).unwrap();
    let rotate = || {
        p.a.rotate_key_on_demand(
            &alice,
            KeyIdRequest {
                key_id: m.key_id.clone(),
            },
        )
        .unwrap()
    };
    rotate();
    let after = enc(&p.a, &alice, &m.key_id, b"after rotation");
    assert_eq!(dec(&p.b, &alice, after).unwrap(), b"after rotation");
    assert_eq!(
        describe(&p.b, &alice, &m.key_id).current_key_material_id,
        describe(&p.a, &alice, &m.key_id).current_key_material_id
    );

    // B is down: the rotation succeeds in A and waits for B.
    p.peer.down.store(true, Ordering::SeqCst);
    rotate();
    let while_down = enc(&p.a, &alice, &m.key_id, b"while down");
    let e = dec(&p.b, &alice, while_down.clone()).unwrap_err();
    assert_eq!(e.code(), "InvalidCiphertextException");
    assert_eq!(
        p.a.sync_replicas(&coffer::KeyId::parse(&m.key_id).unwrap())
            .unwrap_err()
            .code(),
        "DependencyTimeoutException"
    );
    p.a.run_maintenance().unwrap();
    assert!(dec(&p.b, &alice, while_down.clone()).is_err());

    // B is back: maintenance brings it up to date, and it is no longer due.
    p.peer.down.store(false, Ordering::SeqCst);
    p.a.run_maintenance().unwrap();
    assert_eq!(dec(&p.b, &alice, while_down).unwrap(), b"while down");
    assert_eq!(
        p.a.sync_replicas(&coffer::KeyId::parse(&m.key_id).unwrap())
            .unwrap(),
        0
    );
}

fn schedule(kms: &Kms, caller: &Caller, key_id: &str) -> ScheduleKeyDeletionResponse {
    kms.schedule_key_deletion(
        caller,
        ScheduleKeyDeletionRequest {
            key_id: key_id.into(),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap()
}

#[test]
fn a_primary_with_replicas_waits_for_them_to_be_deleted() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    replicate(&p, &alice, &m.key_id).unwrap();

    // The primary: PendingReplicaDeletion, no deletion date, unusable.
    let s = schedule(&p.a, &alice, &m.key_id);
    assert_eq!(s.key_state, KeyState::PendingReplicaDeletion);
    assert_eq!(s.deletion_date, None);
    assert_eq!(s.pending_window_in_days, 7);
    let d = describe(&p.a, &alice, &m.key_id);
    assert_eq!(d.key_state, KeyState::PendingReplicaDeletion);
    assert_eq!(d.deletion_date, None);
    let e =
        p.a.encrypt(
            &alice,
            EncryptRequest {
                key_id: m.key_id.clone(),
                plaintext: SecretBytes::copy_from(b"x"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    // It can be cancelled, and scheduled again.
    p.a.cancel_key_deletion(
        &alice,
        KeyIdRequest {
            key_id: m.key_id.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        describe(&p.a, &alice, &m.key_id).key_state,
        KeyState::Disabled
    );
    schedule(&p.a, &alice, &m.key_id);

    // The replica deletes normally: PendingDeletion with a date.
    let r = schedule(&p.b, &alice, &m.key_id);
    assert_eq!(r.key_state, KeyState::PendingDeletion);
    assert!(r.deletion_date.is_some());

    // Its waiting period ends while the primary's region is down: it waits to tell it.
    p.back.down.store(true, Ordering::SeqCst);
    p.clock.advance(Duration::from_secs(8 * 86_400));
    p.b.run_maintenance().unwrap();
    assert_eq!(
        describe(&p.b, &alice, &m.key_id).key_state,
        KeyState::PendingDeletion
    );
    assert_eq!(
        describe(&p.a, &alice, &m.key_id).key_state,
        KeyState::PendingReplicaDeletion
    );
    // Back: the replica is deleted and the primary's own waiting period begins.
    p.back.down.store(false, Ordering::SeqCst);
    let report = p.b.run_maintenance().unwrap();
    assert_eq!(report.keys_deleted.len(), 1);
    assert_eq!(
        p.b.describe_key(
            &alice,
            DescribeKeyRequest {
                key_id: m.key_id.clone(),
                ..Default::default()
            }
        )
        .unwrap_err()
        .code(),
        "NotFoundException"
    );
    let d = describe(&p.a, &alice, &m.key_id);
    assert_eq!(d.key_state, KeyState::PendingDeletion);
    assert!(d.deletion_date.is_some());
    assert!(d
        .multi_region_configuration
        .unwrap()
        .replica_keys
        .is_empty());
}

#[test]
fn update_primary_region_swaps_the_roles() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    replicate(&p, &alice, &m.key_id).unwrap();
    let update = |kms: &Kms, region: &str| {
        kms.update_primary_region(
            &alice,
            UpdatePrimaryRegionRequest {
                key_id: m.key_id.clone(),
                primary_region: region.into(),
            },
        )
    };
    // Only the primary's region can move the primary, and only to a replica's region.
    assert_eq!(
        update(&p.b, "eu-west-1").unwrap_err().code(),
        "UnsupportedOperationException"
    );
    assert_eq!(
        update(&p.a, "ap-south-1").unwrap_err().code(),
        "NotFoundException"
    );
    // B down: the call fails, retryable, and A is the primary again, Enabled.
    p.peer.down.store(true, Ordering::SeqCst);
    assert_eq!(
        update(&p.a, "eu-west-1").unwrap_err().code(),
        "DependencyTimeoutException"
    );
    let a = describe(&p.a, &alice, &m.key_id);
    assert_eq!(a.key_state, KeyState::Enabled);
    assert_eq!(
        a.multi_region_configuration.unwrap().multi_region_key_type,
        MultiRegionKeyType::Primary
    );
    p.peer.down.store(false, Ordering::SeqCst);

    update(&p.a, "eu-west-1").unwrap();
    let a = describe(&p.a, &alice, &m.key_id);
    let b = describe(&p.b, &alice, &m.key_id);
    assert_eq!(a.key_state, KeyState::Enabled);
    assert_eq!(b.key_state, KeyState::Enabled);
    let (ca, cb) = (
        a.multi_region_configuration.unwrap(),
        b.multi_region_configuration.unwrap(),
    );
    assert_eq!(ca.multi_region_key_type, MultiRegionKeyType::Replica);
    assert_eq!(cb.multi_region_key_type, MultiRegionKeyType::Primary);
    assert_eq!(ca.primary_key.region, "eu-west-1");
    assert_eq!(cb.primary_key.region, "eu-west-1");
    assert_eq!(cb.replica_keys.len(), 1);
    assert_eq!(cb.replica_keys[0].region, "us-east-1");

    // The new primary rotates, and its new version reaches the former primary.
    p.b.rotate_key_on_demand(
        &alice,
        KeyIdRequest {
            key_id: m.key_id.clone(),
        },
    )
    .unwrap();
    let blob = enc(&p.b, &alice, &m.key_id, b"from the new primary");
    assert_eq!(dec(&p.a, &alice, blob).unwrap(), b"from the new primary");
    // The former primary cannot rotate or replicate any more.
    assert_eq!(
        replicate(&p, &alice, &m.key_id).unwrap_err().code(),
        "UnsupportedOperationException"
    );
}

#[test]
fn kms_multi_region_key_type_tells_primary_from_replica() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    replicate(&p, &alice, &m.key_id).unwrap();
    // Carol may encrypt only with primary keys.
    let carol = Caller::new("arn:aws:iam::111122223333:user/carol")
        .unwrap()
        .with_identity_policy_json(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
                "Condition":{"StringEquals":{"kms:MultiRegionKeyType":"PRIMARY"}}}]}"#,
        )
        .unwrap();
    let try_encrypt = |kms: &Kms| {
        kms.encrypt(
            &carol,
            EncryptRequest {
                key_id: m.key_id.clone(),
                plaintext: SecretBytes::copy_from(b"x"),
                ..Default::default()
            },
        )
    };
    try_encrypt(&p.a).unwrap();
    assert_eq!(
        try_encrypt(&p.b).unwrap_err().code(),
        "AccessDeniedException"
    );
}

/// Three regions, each reaching the other two.
struct Mesh {
    regions: std::collections::BTreeMap<String, (Arc<Kms>, Caller)>,
}

impl Mesh {
    fn target(&self, region: &Region) -> Result<&(Arc<Kms>, Caller), coffer::Error> {
        self.regions
            .get(region.as_str())
            .ok_or_else(|| coffer::Error::unsupported(format!("no peer region {region}")))
    }
}

impl ReplicaTransport for Mesh {
    fn offer(
        &self,
        region: &Region,
        request: &ReplicaOfferRequest,
    ) -> Result<ReplicaOffer, coffer::Error> {
        let (kms, caller) = self.target(region)?;
        kms.replica_offer(caller, request.clone())
    }
    fn install(&self, region: &Region, package: &ReplicaPackage) -> Result<(), coffer::Error> {
        let (kms, caller) = self.target(region)?;
        kms.install_replica(caller, package.clone())
    }
    fn notify(&self, region: &Region, notice: &MultiRegionNotice) -> Result<(), coffer::Error> {
        let (kms, caller) = self.target(region)?;
        kms.receive_notice(caller, notice.clone())
    }
}

#[test]
fn three_regions_a_new_primary_takes_the_other_replicas_along() {
    let clock = clock();
    let names = ["us-east-1", "eu-west-1", "ap-south-1"];
    let all: Vec<Arc<Kms>> = names
        .iter()
        .map(|n| Arc::new(kms_on(n, clock.clone())))
        .collect();
    let peer = || {
        Caller::new(PEER)
            .unwrap()
            .with_identity_policy_json(ACCEPT)
            .unwrap()
    };
    let mesh = Arc::new(Mesh {
        regions: names
            .iter()
            .zip(&all)
            .map(|(n, k)| (n.to_string(), (k.clone(), peer())))
            .collect(),
    });
    for k in &all {
        k.set_replica_transport(mesh.clone());
    }
    let (a, b, c) = (&all[0], &all[1], &all[2]);
    let alice = alice();
    let m = create(
        a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    for region in ["eu-west-1", "ap-south-1"] {
        a.replicate_key(
            &alice,
            ReplicateKeyRequest {
                key_id: m.key_id.clone(),
                replica_region: region.into(),
                ..Default::default()
            },
        )
        .unwrap();
    }
    // The first replica learnt of the second.
    let regions = |k: &Kms| {
        let conf = describe(k, &alice, &m.key_id)
            .multi_region_configuration
            .unwrap();
        let mut r: Vec<String> = conf.replica_keys.into_iter().map(|k| k.region).collect();
        r.sort();
        (conf.primary_key.region, r)
    };
    let expect = |p: &str, r: [&str; 2]| (p.to_owned(), r.map(str::to_owned).to_vec());
    for k in [a, b, c] {
        assert_eq!(regions(k), expect("us-east-1", ["ap-south-1", "eu-west-1"]));
    }
    // eu-west-1 becomes the primary: all three agree, and its rotation reaches both others.
    a.update_primary_region(
        &alice,
        UpdatePrimaryRegionRequest {
            key_id: m.key_id.clone(),
            primary_region: "eu-west-1".into(),
        },
    )
    .unwrap();
    for k in [a, b, c] {
        assert_eq!(regions(k), expect("eu-west-1", ["ap-south-1", "us-east-1"]));
    }
    b.rotate_key_on_demand(
        &alice,
        KeyIdRequest {
            key_id: m.key_id.clone(),
        },
    )
    .unwrap();
    let blob = enc(b, &alice, &m.key_id, b"from eu-west-1");
    assert_eq!(dec(a, &alice, blob.clone()).unwrap(), b"from eu-west-1");
    assert_eq!(dec(c, &alice, blob).unwrap(), b"from eu-west-1");
    // The former primary refuses rotation now.
    assert_eq!(
        a.rotate_key_on_demand(
            &alice,
            KeyIdRequest {
                key_id: m.key_id.clone()
            }
        )
        .unwrap_err()
        .code(),
        "UnsupportedOperationException"
    );
}

#[test]
fn replicas_share_the_rotation_status_and_updating_keys_stay_usable() {
    let p = pair();
    let alice = alice();
    let m = create(
        &p.a,
        &alice,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    replicate(&p, &alice, &m.key_id).unwrap();
    let status = |k: &Kms| {
        k.get_key_rotation_status(
            &alice,
            KeyIdRequest {
                key_id: m.key_id.clone(),
            },
        )
        .unwrap()
    };
    assert!(!status(&p.b).key_rotation_enabled);
    p.a.enable_key_rotation(
        &alice,
        EnableKeyRotationRequest {
            key_id: m.key_id.clone(),
            rotation_period_in_days: Some(180),
        },
    )
    .unwrap();
    let (a, b) = (status(&p.a), status(&p.b));
    assert!(b.key_rotation_enabled);
    assert_eq!(b.rotation_period_in_days, Some(180));
    assert_eq!(b.next_rotation_date, a.next_rotation_date);
    // A replica cannot change it.
    let e =
        p.b.disable_key_rotation(
            &alice,
            KeyIdRequest {
                key_id: m.key_id.clone(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "UnsupportedOperationException");
    // When it is due, the primary rotates (once) and the replica follows; the replica does not
    // rotate by itself.
    p.clock.advance(Duration::from_secs(181 * 86_400));
    let rb = p.b.run_maintenance().unwrap();
    assert!(rb.keys_rotated.is_empty());
    let ra = p.a.run_maintenance().unwrap();
    assert_eq!(ra.keys_rotated.len(), 1);
    let blob = enc(&p.a, &alice, &m.key_id, b"rotated automatically");
    assert_eq!(dec(&p.b, &alice, blob).unwrap(), b"rotated automatically");
    assert_eq!(
        status(&p.b).next_rotation_date,
        status(&p.a).next_rotation_date
    );
    p.a.disable_key_rotation(
        &alice,
        KeyIdRequest {
            key_id: m.key_id.clone(),
        },
    )
    .unwrap();
    assert!(!status(&p.b).key_rotation_enabled);

    // While the primary Region is being updated, the old primary (Updating) still encrypts
    // but is not managed.
    struct Watch(Arc<Peer>, Arc<Kms>, String);
    impl ReplicaTransport for Watch {
        fn offer(
            &self,
            region: &Region,
            request: &ReplicaOfferRequest,
        ) -> Result<ReplicaOffer, coffer::Error> {
            self.0.offer(region, request)
        }
        fn install(&self, region: &Region, package: &ReplicaPackage) -> Result<(), coffer::Error> {
            self.0.install(region, package)
        }
        fn notify(&self, region: &Region, notice: &MultiRegionNotice) -> Result<(), coffer::Error> {
            let alice = Caller::new(ALICE)
                .unwrap()
                .with_identity_policy_json(KMS_ALL)
                .unwrap();
            let d = self
                .1
                .describe_key(
                    &alice,
                    DescribeKeyRequest {
                        key_id: self.2.clone(),
                        ..Default::default()
                    },
                )
                .unwrap()
                .key_metadata;
            assert_eq!(d.key_state, KeyState::Updating);
            enc(&self.1, &alice, &self.2, b"while updating");
            let e = self
                .1
                .disable_key(
                    &alice,
                    KeyIdRequest {
                        key_id: self.2.clone(),
                    },
                )
                .unwrap_err();
            assert_eq!(e.code(), "KMSInvalidStateException");
            self.0.notify(region, notice)
        }
    }
    p.a.set_replica_transport(Arc::new(Watch(
        p.peer.clone(),
        p.a.clone(),
        m.key_id.clone(),
    )));
    p.a.update_primary_region(
        &alice,
        UpdatePrimaryRegionRequest {
            key_id: m.key_id.clone(),
            primary_region: "eu-west-1".into(),
        },
    )
    .unwrap();
    assert_eq!(
        describe(&p.a, &alice, &m.key_id).key_state,
        KeyState::Enabled
    );
}
