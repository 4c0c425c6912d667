//! The in-process [`PrivateKeyOperations`] for envelope messages encrypted offline to a key's
//! public key: Decrypt (`RSAES_OAEP_SHA_256`) and DeriveSharedSecret (`ECDH`) by this `Kms` on
//! behalf of one caller.

use std::ops::Deref;

use coffer_crypto::SecretBytes;
use coffer_envelope::{PrivateKeyOperations, PrivateKeyUnwrapper, ProviderError};
use coffer_keys::{EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec};

use crate::model::{DecryptRequest, DeriveSharedSecretRequest};
use crate::{Caller, Error, Kms};

/// A `Kms` acting for one caller as the private half of envelope asymmetric recipients. Every
/// call goes through the full pipeline (quota, authorization, key state) as that caller, and
/// errors keep their AWS exception names (`ProviderError::code`).
///
/// `K` is `&Kms` or `Arc<Kms>` (anything that derefs to a `Kms` and can be shared).
#[derive(Debug, Clone)]
pub struct KmsPrivateKeys<K> {
    kms: K,
    caller: Caller,
}

impl<K: Deref<Target = Kms> + Send + Sync> KmsPrivateKeys<K> {
    /// The private-key operations of `kms`, acting as `caller`.
    pub fn new(kms: K, caller: Caller) -> Self {
        Self { kms, caller }
    }
}

impl Kms {
    /// An envelope provider that opens messages encrypted offline to this service's asymmetric
    /// keys (`coffer_envelope::PublicKeyRecipients`), acting for `caller`. Add the symmetric
    /// provider ([`Kms::data_keys`]) as its fallback to open messages that have both kinds of
    /// recipient.
    pub fn private_keys(&self, caller: Caller) -> PrivateKeyUnwrapper<KmsPrivateKeys<&Kms>> {
        PrivateKeyUnwrapper::new(KmsPrivateKeys::new(self, caller))
    }
}

fn provider_error(e: Error) -> ProviderError {
    let message = e.message().to_owned();
    ProviderError::new(e.code(), message).with_source(e)
}

impl<K: Deref<Target = Kms> + Send + Sync> PrivateKeyOperations for KmsPrivateKeys<K> {
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

#[cfg(test)]
mod tests {
    use coffer_core::EncryptionContext;
    use coffer_envelope::{
        decrypt, encrypt, DecryptOptions, EncryptOptions, PublicKeyRecipients, RecipientKey,
    };
    use coffer_keys::{KeySpec, KeyUsage};

    use crate::model::{CreateKeyRequest, GetPublicKeyRequest};
    use crate::{Caller, Kms};

    const KMS_ADMIN: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

    fn key(kms: &Kms, alice: &Caller, spec: KeySpec, usage: KeyUsage) -> (String, Vec<u8>) {
        let arn = kms
            .create_key(
                alice,
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
                alice,
                GetPublicKeyRequest {
                    key_id: arn.clone(),
                    ..Default::default()
                },
            )
            .unwrap()
            .public_key;
        (arn, public)
    }

    #[test]
    fn messages_to_public_keys_open_through_the_kms() {
        let kms = Kms::builder().build().unwrap();
        let alice = Caller::new("arn:aws:iam::111122223333:user/alice")
            .unwrap()
            .with_identity_policy_json(KMS_ADMIN)
            .unwrap();
        let symmetric = kms
            .create_key(&alice, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .arn;
        let (rsa, rsa_public) = key(&kms, &alice, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
        let (ec, ec_public) = key(&kms, &alice, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
        let recipients = PublicKeyRecipients::new()
            .with(RecipientKey::rsa_oaep_sha256(&rsa, rsa_public).unwrap())
            .with(RecipientKey::ecdh_p256(&ec, ec_public).unwrap());
        let ctx: EncryptionContext = [("k", "v")].into_iter().collect();
        let msg = encrypt(
            &recipients,
            &[rsa.as_str(), ec.as_str()],
            &ctx,
            b"offline",
            &EncryptOptions::new(),
        )
        .unwrap();
        let unwrapper = kms
            .private_keys(alice.clone())
            .with_fallback(kms.data_keys(alice.clone()));
        for only in [&rsa, &ec] {
            let options = DecryptOptions::new().allow_key_ids([only.clone()]);
            let out = decrypt(&unwrapper, &msg, &options).unwrap();
            assert_eq!(out.plaintext().expose(), b"offline");
        }
        // The fallback serves symmetric messages through the same provider.
        let sym = encrypt(
            &unwrapper,
            &[symmetric.as_str()],
            &ctx,
            b"s",
            &EncryptOptions::new(),
        )
        .unwrap();
        assert_eq!(
            decrypt(&unwrapper, &sym, &DecryptOptions::new())
                .unwrap()
                .plaintext()
                .expose(),
            b"s"
        );
    }
}
