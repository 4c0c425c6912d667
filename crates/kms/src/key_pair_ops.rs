//! Data key pairs: GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext; and
//! GetKeyLastUsage.

use crate::audit::Call;
use crate::model::*;
use crate::{Caller, Error, Kms};

impl Kms {
    /// A fresh key pair, its private key wrapped under a symmetric key.
    pub(crate) fn generate_data_key_pair_op(
        &self,
        _caller: &Caller,
        _req: GenerateDataKeyPairRequest,
        _call: &Call<'_>,
    ) -> Result<GenerateDataKeyPairResponse, Error> {
        Err(Error::unsupported("GenerateDataKeyPair: in progress"))
    }

    /// A fresh key pair, its private key only wrapped.
    pub(crate) fn generate_data_key_pair_without_plaintext_op(
        &self,
        _caller: &Caller,
        _req: GenerateDataKeyPairRequest,
        _call: &Call<'_>,
    ) -> Result<GenerateDataKeyPairWithoutPlaintextResponse, Error> {
        Err(Error::unsupported(
            "GenerateDataKeyPairWithoutPlaintext: in progress",
        ))
    }

    /// The last successful cryptographic use of a key.
    pub(crate) fn get_key_last_usage_op(
        &self,
        _caller: &Caller,
        _req: GetKeyLastUsageRequest,
        _call: &Call<'_>,
    ) -> Result<GetKeyLastUsageResponse, Error> {
        Err(Error::unsupported("GetKeyLastUsage: in progress"))
    }
}
