//! The key-state rules: which states of a key each [`Operation`] (declared in `coffer_core`,
//! with its other properties) permits.

use coffer_core::KeyStateRow as Row;
pub use coffer_core::Operation;
use coffer_keys::KeyState;

use crate::Error;

/// The key-state table (AWS's key-state page) applied to an [`Operation`].
pub trait CheckState {
    /// Whether this operation is allowed on a key in `state`, and if not, the exception AWS
    /// gives (messages as AWS words them, naming the key ARN).
    fn check_state(self, state: KeyState, arn: &str) -> Result<(), Error>;
}

impl CheckState for Operation {
    fn check_state(self, state: KeyState, arn: &str) -> Result<(), Error> {
        use KeyState::*;
        let pending_deletion = || Error::invalid_state(format!("{arn} is pending deletion."));
        let pending_import = || Error::invalid_state(format!("{arn} is pending import."));
        let unavailable = || Error::invalid_state(format!("{arn} is unavailable."));
        let disabled = || Error::disabled(format!("{arn} is disabled."));
        let unsupported = || {
            Error::unsupported(format!(
                "{arn} origin is EXTERNAL which is not valid for this operation."
            ))
        };
        match (self.key_state_row(), state) {
            (Row::Any | Row::NoKey, _) => Ok(()),
            (Row::Cancel, PendingDeletion | PendingReplicaDeletion) => Ok(()),
            (Row::Cancel, _) => Err(Error::invalid_state(format!(
                "{arn} is not pending deletion."
            ))),
            (Row::RotationRead, Enabled | Disabled | PendingDeletion) => Ok(()),
            (_, PendingDeletion | PendingReplicaDeletion) => Err(pending_deletion()),
            (Row::Use, Enabled) => Ok(()),
            // A multi-Region key whose primary Region is being updated is still usable in
            // cryptographic operations (AWS); management waits.
            (Row::Use, Updating)
                if !matches!(
                    self,
                    Operation::ReplicateKey | Operation::UpdatePrimaryRegion
                ) =>
            {
                Ok(())
            }
            (Row::Use, Disabled) => Err(disabled()),
            (Row::Use, PendingImport) => Err(pending_import()),
            (Row::Manage, Enabled | Disabled | PendingImport) => Ok(()),
            (Row::Toggle, Enabled | Disabled) => Ok(()),
            (Row::Toggle, PendingImport) => Err(pending_import()),
            (Row::RotationChange, Enabled) => Ok(()),
            (Row::RotationChange, Disabled) => Err(disabled()),
            (Row::RotationChange | Row::RotationRead, PendingImport) => Err(unsupported()),
            (_, Creating | Unavailable | Updating) => Err(unavailable()),
            // KeyState is non-exhaustive: a state this table does not know refuses.
            #[allow(unreachable_patterns)]
            _ => Err(unavailable()),
        }
    }
}
