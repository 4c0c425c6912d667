//! The async keyring: GenerateDataKey, Encrypt and Decrypt through an `aws_sdk_kms::Client`.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use coffer_core::EncryptionContext;
use coffer_crypto::SymmetricKey;
use coffer_envelope::{
    EncryptedDataKey, EncryptionMaterials, EnvelopeError, GeneratedDataKey, InvalidArgument,
    ProviderError,
};
use zeroize::Zeroizing;

use crate::error::{from_sdk, invalid_response};

/// Wraps and unwraps envelope data keys with KMS keys held by a remote cofferd or by AWS KMS,
/// through the official `aws-sdk-kms` client (async).
///
/// - [`generate_data_key`](Self::generate_data_key) is GenerateDataKey (`AES_256`);
/// - [`encrypt_data_key`](Self::encrypt_data_key) is Encrypt of an existing data key;
/// - [`decrypt_data_key`](Self::decrypt_data_key) is Decrypt **with the stored key id as
///   `KeyId`**, so a wrapped key made under any other key is refused by the service.
///
/// The encryption context goes to the service as `EncryptionContext` on every call, which
/// binds the wrapped key to it. Grant tokens, if set, go with every call. Failures are
/// [`ProviderError`]s carrying the service's error code (`AccessDeniedException`,
/// `NotFoundException`, `DisabledException`, `InvalidCiphertextException`, ...) or one of
/// [`codes`](crate::codes).
///
/// Cheap to clone (the client is reference-counted). For the synchronous
/// [`DataKeyProvider`](coffer_envelope::DataKeyProvider) that `coffer_envelope`'s `encrypt`,
/// `decrypt`, `EncryptingWriter` and `DecryptingReader` take, wrap it in a
/// [`BlockingKmsKeyring`](crate::BlockingKmsKeyring).
#[derive(Clone)]
pub struct KmsKeyring {
    client: Client,
    grant_tokens: Vec<String>,
}

impl fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's Debug shows its configuration (credentials provider included): leave it
        // out, and count the grant tokens rather than print them.
        f.debug_struct("KmsKeyring")
            .field("grant_tokens", &self.grant_tokens.len())
            .finish_non_exhaustive()
    }
}

impl KmsKeyring {
    /// A keyring over `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            grant_tokens: Vec::new(),
        }
    }

    /// A keyring over a client made from `config` (as `aws_config::load_defaults` returns it:
    /// endpoint, region and credentials as the aws CLI finds them).
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// Sends these grant tokens with every request (for a grant that is not yet eventually
    /// consistent, as with AWS KMS's `GrantTokens`).
    #[must_use]
    pub fn with_grant_tokens<I, S>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn grant_tokens(&self) -> Option<Vec<String>> {
        (!self.grant_tokens.is_empty()).then(|| self.grant_tokens.clone())
    }

    /// GenerateDataKey (`AES_256`) under `key_id` (a key id, key ARN, alias name or alias ARN).
    /// The wrapped key's [`EncryptedDataKey::key_id`] is the key ARN the service answers with.
    pub async fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        const OP: &str = "GenerateDataKey";
        let out = self
            .client
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(map_of(context))
            .set_grant_tokens(self.grant_tokens())
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
        // Take the plaintext out of the response at once, into memory that is wiped on drop.
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        let data_key = data_key_of(OP, &plaintext)?;
        let ciphertext = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| invalid_response(OP, "no CiphertextBlob"))?;
        let arn = out.key_id.ok_or_else(|| invalid_response(OP, "no KeyId"))?;
        Ok(GeneratedDataKey {
            data_key,
            encrypted: EncryptedDataKey::new(arn, ciphertext),
        })
    }

    /// Encrypt of `data_key` under `key_id`. The wrapped key's [`EncryptedDataKey::key_id`] is
    /// the key ARN the service answers with.
    pub async fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        const OP: &str = "Encrypt";
        // The SDK owns the request body from here on (it is not wiped: see the crate docs).
        let out = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(data_key.expose().to_vec()))
            .set_encryption_context(map_of(context))
            .set_grant_tokens(self.grant_tokens())
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
        let ciphertext = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| invalid_response(OP, "no CiphertextBlob"))?;
        let arn = out.key_id.ok_or_else(|| invalid_response(OP, "no KeyId"))?;
        Ok(EncryptedDataKey::new(arn, ciphertext))
    }

    /// Decrypt of `ciphertext` with `key_id` (the key id stored beside it) as `KeyId`: a
    /// ciphertext made under another key is refused (`IncorrectKeyException`), as is one bound
    /// to another context (`InvalidCiphertextException`).
    pub async fn decrypt_data_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        const OP: &str = "Decrypt";
        let out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(ciphertext.to_vec()))
            .set_encryption_context(map_of(context))
            .set_grant_tokens(self.grant_tokens())
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
        let plaintext = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        data_key_of(OP, &plaintext)
    }

    /// The materials for one message: a data key generated under the first of `key_ids` and
    /// wrapped under each further one (as
    /// [`DataKeyProvider::encryption_materials`](coffer_envelope::DataKeyProvider::encryption_materials)
    /// does), for callers that fetch them ahead of a synchronous writer.
    pub async fn encryption_materials(
        &self,
        key_ids: &[&str],
        context: &EncryptionContext,
    ) -> Result<EncryptionMaterials, EnvelopeError> {
        let (first, rest) = key_ids
            .split_first()
            .ok_or(EnvelopeError::InvalidArgument(InvalidArgument::NoKeyIds))?;
        let provider = |key_id: &str| {
            let key_id = key_id.to_owned();
            move |source| EnvelopeError::Provider { key_id, source }
        };
        let generated = self
            .generate_data_key(first, context)
            .await
            .map_err(provider(first))?;
        let mut encrypted_data_keys = Vec::with_capacity(key_ids.len());
        encrypted_data_keys.push(generated.encrypted);
        for id in rest {
            let edk = self
                .encrypt_data_key(id, &generated.data_key, context)
                .await
                .map_err(provider(id))?;
            encrypted_data_keys.push(edk);
        }
        Ok(EncryptionMaterials {
            data_key: generated.data_key,
            encrypted_data_keys,
        })
    }
}

/// A 256-bit data key from a response's plaintext (anything else is an invalid response; its
/// length alone is reported).
fn data_key_of(op: &'static str, plaintext: &[u8]) -> Result<SymmetricKey, ProviderError> {
    SymmetricKey::from_slice(plaintext).map_err(|_| {
        invalid_response(
            op,
            &format!("the data key is {} bytes, not 32", plaintext.len()),
        )
    })
}

/// The context as the SDK takes it (none when empty).
fn map_of(context: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!context.is_empty()).then(|| {
        context
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}
