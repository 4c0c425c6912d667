//! Key agreement and key encapsulation: DeriveSharedSecret (ECDH), Encapsulate and Decapsulate
//! (ML-KEM).

use crate::audit::Call;
use crate::model::*;
use crate::{Caller, Error, Kms};

impl Kms {
    /// ECDH between a KEY_AGREEMENT key and the other party's public key.
    pub(crate) fn derive_shared_secret_op(
        &self,
        _caller: &Caller,
        _req: DeriveSharedSecretRequest,
        _call: &Call<'_>,
    ) -> Result<DeriveSharedSecretResponse, Error> {
        Err(Error::unsupported("DeriveSharedSecret: in progress"))
    }

    /// A fresh shared secret and its ML-KEM encapsulation under an ML-KEM key.
    pub(crate) fn encapsulate_op(
        &self,
        _caller: &Caller,
        _req: EncapsulateRequest,
        _call: &Call<'_>,
    ) -> Result<EncapsulateResponse, Error> {
        Err(Error::unsupported("Encapsulate: in progress"))
    }

    /// The shared secret of an ML-KEM encapsulation.
    pub(crate) fn decapsulate_op(
        &self,
        _caller: &Caller,
        _req: DecapsulateRequest,
        _call: &Call<'_>,
    ) -> Result<DecapsulateResponse, Error> {
        Err(Error::unsupported("Decapsulate: in progress"))
    }
}
