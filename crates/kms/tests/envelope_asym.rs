//! Envelope messages encrypted offline to a KMS key's public key (GetPublicKey), opened through
//! the facade: RSA-OAEP-SHA-256 recipients unwrap with Decrypt, ECDH P-256 recipients with
//! DeriveSharedSecret. Another key, another account, a disabled key and a tampered header are
//! refused; a message may mix symmetric and public-key recipients.
//!
//! The adapter below is what `crates/kms/src/envelope_asym.rs` (`Kms::private_keys`) provides;
//! it is repeated here so that these tests run whether or not that module is wired in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::sync::Arc;

use coffer::envelope::{
    decrypt, encrypt, DataKeyProvider, DecryptOptions, EncryptOptions, EnvelopeError,
    PrivateKeyOperations, PrivateKeyUnwrapper, ProviderError, PublicKeyRecipients, RecipientKey,
};
use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms, SecretBytes};

const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// Decrypt and DeriveSharedSecret through the facade as one caller.
struct Facade {
    kms: Arc<Kms>,
    caller: Caller,
}

fn provider_error(e: coffer::Error) -> ProviderError {
    ProviderError::new(e.code(), e.message().to_owned())
}

impl PrivateKeyOperations for Facade {
    fn decrypt_rsaes_oaep_sha256(
        &self,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, ProviderError> {
        self.kms
            .decrypt(
                &self.caller,
                DecryptRequest {
                    ciphertext_blob: ciphertext.to_vec(),
                    key_id: Some(key_id.to_owned()),
                    encryption_algorithm: Some(EncryptionAlgorithmSpec::RsaesOaepSha256),
                    ..Default::default()
                },
            )
            .map(|out| out.plaintext)
            .map_err(provider_error)
    }

    fn derive_shared_secret(
        &self,
        key_id: &str,
        public_key: &[u8],
    ) -> Result<SecretBytes, ProviderError> {
        self.kms
            .derive_shared_secret(
                &self.caller,
                DeriveSharedSecretRequest {
                    key_id: key_id.to_owned(),
                    key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
                    public_key: public_key.to_vec(),
                    ..Default::default()
                },
            )
            .map(|out| out.shared_secret)
            .map_err(provider_error)
    }
}

fn caller(arn: &str) -> Caller {
    Caller::new(arn)
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap()
}

fn alice() -> Caller {
    caller("arn:aws:iam::111122223333:user/alice")
}

fn kms() -> Arc<Kms> {
    Arc::new(
        Kms::builder()
            .quotas(coffer::QuotaConfig {
                enabled: false,
                ..Default::default()
            })
            .build()
            .unwrap(),
    )
}

/// A key of `spec` and `usage`, its ARN and its public key.
fn key(kms: &Kms, spec: KeySpec, usage: KeyUsage) -> (String, Vec<u8>) {
    let arn = kms
        .create_key(
            &alice(),
            CreateKeyRequest {
                key_spec: Some(spec),
                key_usage: Some(usage),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .arn;
    let public = kms
        .get_public_key(
            &alice(),
            GetPublicKeyRequest {
                key_id: arn.clone(),
                ..Default::default()
            },
        )
        .unwrap()
        .public_key;
    (arn, public)
}

fn unwrapper(kms: &Arc<Kms>, who: Caller) -> PrivateKeyUnwrapper<Facade> {
    PrivateKeyUnwrapper::new(Facade {
        kms: kms.clone(),
        caller: who,
    })
}

fn ctx() -> EncryptionContext {
    [("file", "ledger.csv")].into_iter().collect()
}

fn last_code(e: EnvelopeError) -> String {
    match e {
        EnvelopeError::NoDecryptableDataKey { last: Some(e), .. } => e.code().to_owned(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn ecdh_p256_recipient_round_trips_through_derive_shared_secret() {
    let kms = kms();
    let (arn, public) = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    // Offline: only the public key.
    let recipients =
        PublicKeyRecipients::new().with(RecipientKey::ecdh_p256(&arn, public).unwrap());
    let data = vec![0x3cu8; 100_000];
    let msg = encrypt(
        &recipients,
        &[arn.as_str()],
        &ctx(),
        &data,
        &EncryptOptions::new(),
    )
    .unwrap();
    let out = decrypt(
        &unwrapper(&kms, alice()),
        &msg,
        &DecryptOptions::new().expect_context(ctx()),
    )
    .unwrap();
    assert_eq!(out.plaintext().expose(), &data[..]);
    assert_eq!(out.header().encrypted_data_keys()[0].key_id, arn);
}

#[test]
fn rsa_oaep_recipient_round_trips_through_decrypt() {
    let kms = kms();
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let (arn, public) = key(&kms, spec, KeyUsage::EncryptDecrypt);
        let recipients =
            PublicKeyRecipients::new().with(RecipientKey::rsa_oaep_sha256(&arn, public).unwrap());
        let msg = encrypt(
            &recipients,
            &[arn.as_str()],
            &ctx(),
            b"offline",
            &EncryptOptions::new(),
        )
        .unwrap();
        let out = decrypt(&unwrapper(&kms, alice()), &msg, &DecryptOptions::new())
            .unwrap_or_else(|e| panic!("{spec}: {e:?}"));
        assert_eq!(out.plaintext().expose(), b"offline");
    }
}

#[test]
fn the_wrong_key_cannot_open() {
    let kms = kms();
    let (ec, ec_public) = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let (other_ec, _) = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let recipients =
        PublicKeyRecipients::new().with(RecipientKey::ecdh_p256(&ec, ec_public).unwrap());
    let msg = encrypt(
        &recipients,
        &[ec.as_str()],
        &ctx(),
        b"x",
        &EncryptOptions::new(),
    )
    .unwrap();
    // The header entry relabelled to name another key: that key's shared secret is another one,
    // and the sealed data key does not open.
    let mut relabelled = msg.clone();
    let at = msg
        .windows(ec.len())
        .position(|w| w == ec.as_bytes())
        .unwrap();
    assert_eq!(ec.len(), other_ec.len());
    relabelled[at..at + ec.len()].copy_from_slice(other_ec.as_bytes());
    let code = last_code(
        decrypt(
            &unwrapper(&kms, alice()),
            &relabelled,
            &DecryptOptions::new(),
        )
        .unwrap_err(),
    );
    assert_eq!(code, "InvalidCiphertextException");
    // Another account cannot use the key at all.
    let mallory = caller("arn:aws:iam::444455556666:user/mallory");
    let code =
        last_code(decrypt(&unwrapper(&kms, mallory), &msg, &DecryptOptions::new()).unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    // A disabled key opens nothing.
    kms.disable_key(&alice(), KeyIdRequest { key_id: ec.clone() })
        .unwrap();
    let code =
        last_code(decrypt(&unwrapper(&kms, alice()), &msg, &DecryptOptions::new()).unwrap_err());
    assert_eq!(code, "DisabledException");
    // A key of the wrong usage is refused when the recipient is made, and by the KMS.
    let (signing, signing_public) = key(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    assert!(RecipientKey::rsa_oaep_sha256(&signing, signing_public.clone()).is_err());
    let fake = RecipientKey::ecdh_p256(&signing, signing_public).unwrap();
    let msg = encrypt(
        &PublicKeyRecipients::new().with(fake),
        &[signing.as_str()],
        &ctx(),
        b"x",
        &EncryptOptions::new(),
    )
    .unwrap();
    let code =
        last_code(decrypt(&unwrapper(&kms, alice()), &msg, &DecryptOptions::new()).unwrap_err());
    assert_eq!(code, "InvalidKeyUsageException");
}

#[test]
fn a_tampered_header_is_refused() {
    let kms = kms();
    let (arn, public) = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let recipients =
        PublicKeyRecipients::new().with(RecipientKey::ecdh_p256(&arn, public).unwrap());
    let msg = encrypt(
        &recipients,
        &[arn.as_str()],
        &ctx(),
        b"payload",
        &EncryptOptions::new(),
    )
    .unwrap();
    let header_len = u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]) as usize;
    let unwrap = unwrapper(&kms, alice());
    for i in 0..8 + header_len + 16 {
        let mut bad = msg.clone();
        bad[i] ^= 0x04;
        assert!(
            decrypt(&unwrap, &bad, &DecryptOptions::new()).is_err(),
            "flipped byte {i}"
        );
    }
    // A different expected context is refused before any KMS call.
    let other: EncryptionContext = [("file", "other.csv")].into_iter().collect();
    assert!(matches!(
        decrypt(&unwrap, &msg, &DecryptOptions::new().expect_context(other)),
        Err(EnvelopeError::ContextMismatch)
    ));
}

#[test]
fn symmetric_and_public_key_recipients_in_one_message() {
    let kms = kms();
    let symmetric = kms
        .create_key(&alice(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .arn;
    let (ec, ec_public) = key(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let recipient = RecipientKey::ecdh_p256(&ec, ec_public).unwrap();
    // The KMS generates the data key under the symmetric key; the recipient wraps it offline.
    let provider = kms.data_keys(alice());
    let mut materials = provider
        .encryption_materials(&coffer::envelope::MaterialsRequest {
            key_ids: &[symmetric.as_str()],
            context: &ctx(),
            plaintext_len: None,
        })
        .unwrap();
    let edk = recipient.wrap(&materials.data_key).unwrap();
    materials.encrypted_data_keys.push(edk);
    // Through a provider that returns those materials for the two ids.
    struct Fixed(coffer::envelope::EncryptionMaterials);
    impl DataKeyProvider for Fixed {
        fn generate_data_key(
            &self,
            _: &str,
            _: &EncryptionContext,
        ) -> Result<coffer::envelope::GeneratedDataKey, ProviderError> {
            unreachable!()
        }
        fn encrypt_data_key(
            &self,
            _: &str,
            _: &coffer::SymmetricKey,
            _: &EncryptionContext,
        ) -> Result<coffer::envelope::EncryptedDataKey, ProviderError> {
            unreachable!()
        }
        fn decrypt_data_key(
            &self,
            _: &str,
            _: &[u8],
            _: &EncryptionContext,
        ) -> Result<coffer::SymmetricKey, ProviderError> {
            unreachable!()
        }
        fn encryption_materials(
            &self,
            _: &coffer::envelope::MaterialsRequest<'_>,
        ) -> Result<coffer::envelope::EncryptionMaterials, EnvelopeError> {
            Ok(self.0.clone())
        }
    }
    let msg = encrypt(
        &Fixed(materials),
        &[symmetric.as_str(), ec.as_str()],
        &ctx(),
        b"both",
        &EncryptOptions::new(),
    )
    .unwrap();
    let both = unwrapper(&kms, alice()).with_fallback(kms.data_keys(alice()));
    for only in [&symmetric, &ec] {
        let out = decrypt(
            &both,
            &msg,
            &DecryptOptions::new().allow_key_ids([only.clone()]),
        )
        .unwrap();
        assert_eq!(out.plaintext().expose(), b"both");
    }
}
