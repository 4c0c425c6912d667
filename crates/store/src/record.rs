use std::time::SystemTime;

use coffer_core::{AccountId, AliasName, KeyId};
use serde::{Deserialize, Serialize};

/// An alias: a friendly name for a key, unique within an account (and region).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// The owning account.
    pub account: AccountId,
    /// The name, `alias/…`.
    pub name: String,
    /// The key it points at.
    pub target: KeyId,
    /// When it was created.
    pub creation_date: SystemTime,
    /// When it was last pointed at another key.
    pub last_updated: SystemTime,
}

impl AliasRecord {
    /// The alias name, parsed.
    pub fn alias_name(&self) -> Option<AliasName> {
        AliasName::parse(&self.name).ok()
    }
}

/// A custom key store (AWS's `AWS_CLOUDHSM` type, backed by an operator-configured PKCS#11
/// token): what the store keeps of it. Its connection state is the running process's, not
/// stored; `connect` says whether the operator last asked for it to be connected, so a
/// restarted service reconnects it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomKeyStoreRecord {
    /// The id, `cks-` and 17 hex digits.
    pub id: String,
    /// The owning account.
    pub account: AccountId,
    /// The name, unique within the account.
    pub name: String,
    /// The configured token (AWS's `CloudHsmClusterId`).
    pub cluster_id: String,
    /// The trust anchor certificate (PEM) given at creation.
    pub trust_anchor: String,
    /// The token user's PIN (AWS's `KeyStorePassword`), wrapped by the root key bound to the
    /// store id; never stored or returned in plaintext.
    pub wrapped_password: Vec<u8>,
    /// When it was created.
    pub creation_date: SystemTime,
    /// Whether it should be connected (ConnectCustomKeyStore sets it, Disconnect clears it).
    pub connect: bool,
}

impl std::fmt::Debug for CustomKeyStoreRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomKeyStoreRecord")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("name", &self.name)
            .field("cluster_id", &self.cluster_id)
            .field("wrapped_password", &"[redacted]")
            .field("creation_date", &self.creation_date)
            .field("connect", &self.connect)
            .finish_non_exhaustive()
    }
}
