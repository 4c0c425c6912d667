//! The blocking keyring: a [`DataKeyProvider`] over [`KmsKeyring`] and a runtime of its own.

use std::fmt;
use std::future::Future;

use coffer_core::EncryptionContext;
use coffer_crypto::SymmetricKey;
use coffer_envelope::{
    DataKeyProvider, EncryptedDataKey, EncryptionMaterials, EnvelopeError, GeneratedDataKey,
    MaterialsRequest, ProviderError,
};
use tokio::runtime::Runtime;

use crate::error::codes;
use crate::KmsKeyring;

/// A [`KmsKeyring`] as the synchronous [`DataKeyProvider`] that `coffer_envelope`'s `encrypt`,
/// `decrypt`, `EncryptingWriter` and `DecryptingReader` take. It owns a tokio runtime (one
/// worker thread, unless given another) and blocks the calling thread on each request.
///
/// Call it from plain threads only. On a thread that is running tokio code (an `async fn`, a
/// task, `spawn_blocking`) every call fails with the code
/// [`codes::BLOCKING_IN_ASYNC_CONTEXT`] rather than panicking or stalling the runtime: use
/// the async [`KmsKeyring`] there. Dropping it is safe anywhere. `Send + Sync`: several threads
/// may share one.
pub struct BlockingKmsKeyring {
    keyring: KmsKeyring,
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl fmt::Debug for BlockingKmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingKmsKeyring")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

impl BlockingKmsKeyring {
    /// `keyring` on a new runtime of its own, with one worker thread: the client's
    /// connections are driven by it, so a keyring whose client is shared (with another
    /// runtime, another keyring) never waits on a runtime nobody is running.
    pub fn new(keyring: KmsKeyring) -> std::io::Result<Self> {
        Ok(Self::with_runtime(keyring, own_runtime()?))
    }

    /// `keyring` on `runtime` (for instance the one its client's configuration was loaded on;
    /// the keyring takes it over). A current-thread runtime makes progress only while a call
    /// blocks on it: give it only a client used by this keyring alone.
    pub fn with_runtime(keyring: KmsKeyring, runtime: Runtime) -> Self {
        Self {
            keyring,
            runtime: Some(runtime),
        }
    }

    /// A keyring whose client is configured as the aws CLI is (flags aside): the `AWS_*`
    /// environment variables, `~/.aws/config` and `~/.aws/credentials`, then container and
    /// instance metadata. The configuration is loaded on the keyring's own runtime.
    pub fn from_env() -> std::io::Result<Self> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(std::io::Error::other(in_async_context()));
        }
        let runtime = own_runtime()?;
        let config = runtime.block_on(aws_config::load_defaults(
            aws_config::BehaviorVersion::latest(),
        ));
        Ok(Self::with_runtime(KmsKeyring::from_conf(&config), runtime))
    }

    /// The async keyring inside.
    pub fn keyring(&self) -> &KmsKeyring {
        &self.keyring
    }

    /// Runs `fut` to completion on the keyring's runtime, unless this thread is already
    /// running asynchronous code (where blocking would panic or stall it).
    fn block_on<T, E: From<ProviderError>>(
        &self,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(in_async_context().into());
        }
        match &self.runtime {
            Some(rt) => rt.block_on(fut),
            None => {
                Err(ProviderError::new(codes::CONNECTION, "the keyring's runtime is gone").into())
            }
        }
    }
}

/// A runtime with one worker thread (its tasks progress between calls, too).
fn own_runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("coffer-kms-keyring")
        .enable_all()
        .build()
}

fn in_async_context() -> ProviderError {
    ProviderError::new(
        codes::BLOCKING_IN_ASYNC_CONTEXT,
        "BlockingKmsKeyring called from asynchronous code (inside a tokio runtime): use the \
         async KmsKeyring there, or call it from a plain thread",
    )
}

impl Drop for BlockingKmsKeyring {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; shutting it down in the background
        // never does.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl DataKeyProvider for BlockingKmsKeyring {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        self.block_on(self.keyring.generate_data_key(key_id, context))
    }

    fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        self.block_on(self.keyring.encrypt_data_key(key_id, data_key, context))
    }

    fn decrypt_data_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        self.block_on(self.keyring.decrypt_data_key(key_id, ciphertext, context))
    }

    fn encryption_materials(
        &self,
        request: &MaterialsRequest<'_>,
    ) -> Result<EncryptionMaterials, EnvelopeError> {
        // One runtime entry for all the calls; a failure names its key, as the default does.
        let block = self.block_on(async {
            Ok::<_, ProviderError>(
                self.keyring
                    .encryption_materials(request.key_ids, request.context)
                    .await,
            )
        });
        match block {
            Ok(result) => result,
            Err(source) => Err(EnvelopeError::Provider {
                key_id: request
                    .key_ids
                    .first()
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                source,
            }),
        }
    }
}
