//! Credential management over the wire: `X-Amz-Target: CofferAdmin.<Operation>`, for
//! administrator credentials only.

use coffer::{Caller, Kms};

use crate::credentials::{Credential, CredentialStore};
use crate::ApiError;

/// Runs one credential-management operation for `cred` (already authenticated).
pub(crate) fn dispatch(
    _kms: &Kms,
    _creds: &CredentialStore,
    _cred: &Credential,
    _caller: &Caller,
    _op: &str,
    _body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    Err(crate::protocol::unknown_operation())
}
