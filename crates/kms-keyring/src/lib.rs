//! A keyring for coffer's envelope format backed by a remote KMS: a cofferd, or AWS KMS
//! itself, through the official `aws-sdk-kms` client.
//!
//! [`KmsKeyring`] is async: GenerateDataKey, Encrypt and Decrypt of 256-bit data keys, bound to
//! the message's encryption context. [`BlockingKmsKeyring`] wraps it, with a runtime of its
//! own, as the synchronous [`coffer_envelope::DataKeyProvider`] that `coffer_envelope::encrypt`,
//! `decrypt`, `EncryptingWriter` and `DecryptingReader` take; it refuses (with an error, not a
//! panic) to block a thread that is running async code. Errors are
//! [`coffer_envelope::ProviderError`]s carrying the service's AWS error code, or one of
//! [`codes`] when the service gave no answer.
//!
//! ```no_run
//! use coffer_core::EncryptionContext;
//! use coffer_envelope::{decrypt, encrypt, DecryptOptions, EncryptOptions};
//! use coffer_kms_keyring::BlockingKmsKeyring;
//!
//! // Endpoint, region and credentials as the aws CLI finds them (AWS_ENDPOINT_URL=http://127.0.0.1:4000
//! // for a local `cofferd --dev`).
//! let keyring = BlockingKmsKeyring::from_env()?;
//! let mut context = EncryptionContext::new();
//! context.insert("app", "billing");
//! let message = encrypt(&keyring, &["alias/app"], &context, b"hello", &EncryptOptions::new())?;
//! let opened = decrypt(&keyring, &message, &DecryptOptions::new().expect_context(context))?;
//! assert_eq!(opened.plaintext().expose(), b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In async code, use [`KmsKeyring`] directly:
//!
//! ```no_run
//! # async fn demo() -> Result<(), coffer_envelope::ProviderError> {
//! use coffer_core::EncryptionContext;
//! use coffer_kms_keyring::KmsKeyring;
//!
//! let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let keyring = KmsKeyring::from_conf(&config);
//! let context = EncryptionContext::new();
//! let generated = keyring.generate_data_key("alias/app", &context).await?;
//! let edk = &generated.encrypted; // key_id is the key ARN
//! let again = keyring.decrypt_data_key(&edk.key_id, &edk.ciphertext, &context).await?;
//! assert_eq!(again.expose(), generated.data_key.expose());
//! # Ok(()) }
//! ```
//!
//! Plaintext data keys are held in [`coffer_crypto::SymmetricKey`] (wiped on drop), and the
//! response buffers this crate takes them from are wiped too; the SDK's own HTTP buffers are
//! not (they are outside this crate's reach). No `Debug` or error message carries key material.
//! The permissions a caller needs: `kms:GenerateDataKey` on the first key of a message and
//! `kms:Encrypt` on each further one to encrypt, `kms:Decrypt` on any one of them to decrypt.
#![forbid(unsafe_code)]

mod blocking;
mod error;
mod keyring;

pub use blocking::BlockingKmsKeyring;
pub use error::codes;
pub use keyring::KmsKeyring;
