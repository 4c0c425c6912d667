//! Why a [`KmsBuilder`](crate::KmsBuilder) could not build a service: a misconfiguration the
//! embedder can fix, or a failure drawing the keys every service starts with.

/// The error of [`KmsBuilder::build`](crate::KmsBuilder::build).
///
/// Configuration problems ([`InvalidRegion`](Self::InvalidRegion), [`Quotas`](Self::Quotas))
/// say which setting is wrong; the others are failures of the random source. Through `?` into
/// a [`crate::Error`], a configuration problem becomes a `ValidationException` and a failure a
/// `KMSInternalException` (with this error as its cause).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The region is not 1 to 32 characters of `a-z`, `0-9` and `-`.
    #[error("invalid region name {region:?}")]
    InvalidRegion {
        /// The region as given.
        region: String,
    },
    /// The quota configuration is invalid (see [`coffer_quota::QuotaConfig::validate`]).
    #[error("invalid quota configuration")]
    Quotas(#[source] coffer_quota::QuotaError),
    /// No root key was given and the ephemeral one could not be made.
    #[error("cannot create the ephemeral root key")]
    RootKey(#[source] coffer_keys::KeyError),
    /// The pagination-marker or grant-token key could not be drawn or derived.
    #[error("cannot make the service's marker and grant token keys")]
    ServiceKeys(#[source] coffer_crypto::CryptoError),
    /// The custom key stores that were connected could not be read back to reconnect them.
    #[error("cannot reconnect the custom key stores")]
    CustomKeyStores(#[source] Box<crate::Error>),
}

impl From<BuildError> for crate::Error {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::InvalidRegion { .. } => Self::validation("invalid region name"),
            BuildError::Quotas(q) => Self::validation(format!("invalid quota configuration: {q}")),
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kms, QuotaClass, QuotaConfig};

    #[test]
    fn each_misconfiguration_has_its_variant() {
        let e = Kms::builder().region("EU West").build().unwrap_err();
        assert!(
            matches!(&e, BuildError::InvalidRegion { region } if region == "EU West"),
            "{e:?}"
        );
        let mut quotas = QuotaConfig::default();
        quotas.defaults.insert(
            QuotaClass::CreateKey,
            crate::LimitOverride {
                rate: Some(-1.0),
                burst: None,
            },
        );
        let e = Kms::builder().quotas(quotas).build().unwrap_err();
        assert!(
            matches!(
                &e,
                BuildError::Quotas(coffer_quota::QuotaError::InvalidRate {
                    class: QuotaClass::CreateKey,
                    account: None,
                    ..
                })
            ),
            "{e:?}"
        );
        let e = Kms::builder()
            .quotas(QuotaConfig {
                max_buckets: 0,
                ..QuotaConfig::default()
            })
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                BuildError::Quotas(coffer_quota::QuotaError::InvalidMaxBuckets)
            ),
            "{e:?}"
        );
        Kms::builder().region("eu-west-1").build().unwrap();
    }

    #[test]
    fn through_question_mark_a_misconfiguration_is_a_validation_exception() {
        let e = crate::Error::from(Kms::builder().region("").build().unwrap_err());
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(e.message(), "invalid region name");
        let e = crate::Error::from(BuildError::ServiceKeys(coffer_crypto::CryptoError));
        assert_eq!(e.code(), "KMSInternalException");
    }
}
