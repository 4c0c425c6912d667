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
