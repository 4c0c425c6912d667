//! The facade's one error type: each variant is one AWS KMS exception.

/// The cause behind an internal error, kept for logs and never sent to a client.
pub type InternalCause = Box<dyn std::error::Error + Send + Sync>;

macro_rules! kms_errors {
    ($( $(#[$m:meta])* $variant:ident => $code:literal, )+) => {
        /// An AWS KMS exception.
        ///
        /// Each variant carries the message a client sees; [`Error::code`] is the exception name.
        /// Messages never carry key material or plaintext. Cryptographic and authorization
        /// failures say nothing about why.
        #[derive(Debug, thiserror::Error)]
        #[non_exhaustive]
        pub enum Error {
            $(
                $(#[$m])*
                #[error("{code}: {message}", code = $code)]
                $variant {
                    /// What the client is told.
                    message: String,
                },
            )+
            /// `KMSInternalException`: a failure of coffer itself (storage, root key). The cause
            /// is kept for the operator's log; the client sees only the message.
            #[error("KMSInternalException: {message}")]
            Internal {
                /// What the client is told.
                message: String,
                /// What went wrong.
                #[source]
                source: Option<InternalCause>,
            },
        }

        impl Error {
            /// The AWS exception name, e.g. `NotFoundException`.
            pub fn code(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $code,)+
                    Self::Internal { .. } => "KMSInternalException",
                }
            }

            /// The message a client is shown.
            pub fn message(&self) -> &str {
                match self {
                    $(Self::$variant { message } => message,)+
                    Self::Internal { message, .. } => message,
                }
            }

            /// Every exception name this type can produce.
            pub const CODES: &'static [&'static str] = &[$($code,)+ "KMSInternalException"];

            /// The error of exception name `code` with `message` (no cause), if `code` is one
            /// of [`CODES`](Self::CODES).
            pub fn from_code(code: &str, message: impl Into<String>) -> Option<Self> {
                let message = message.into();
                match code {
                    $($code => Some(Self::$variant { message }),)+
                    "KMSInternalException" => Some(Self::Internal { message, source: None }),
                    _ => None,
                }
            }
        }
    };
}

kms_errors! {
    /// The caller may not perform the operation.
    AccessDenied => "AccessDeniedException",
    /// A resource with that name or id already exists.
    AlreadyExists => "AlreadyExistsException",
    /// The request conflicts with the resource's state.
    Conflict => "ConflictException",
    /// The key is disabled.
    Disabled => "DisabledException",
    /// The CloudHSM cluster (a configured token) is already used by another custom key store.
    CloudHsmClusterInUse => "CloudHsmClusterInUseException",
    /// No CloudHSM cluster (configured token) has that id.
    CloudHsmClusterNotFound => "CloudHsmClusterNotFoundException",
    /// The new cluster of UpdateCustomKeyStore is not one the store's keys can live in.
    CloudHsmClusterNotRelated => "CloudHsmClusterNotRelatedException",
    /// The custom key store still holds keys.
    CustomKeyStoreHasCmks => "CustomKeyStoreHasCMKsException",
    /// The custom key store's connection state does not permit the operation.
    CustomKeyStoreInvalidState => "CustomKeyStoreInvalidStateException",
    /// Another custom key store of the account has that name.
    CustomKeyStoreNameInUse => "CustomKeyStoreNameInUseException",
    /// No custom key store of the account has that id or name.
    CustomKeyStoreNotFound => "CustomKeyStoreNotFoundException",
    /// The trust anchor certificate is not the cluster's.
    IncorrectTrustAnchor => "IncorrectTrustAnchorException",
    /// A service the request depends on (another region of a multi-Region key) did not
    /// answer; the request can be retried (HTTP 500, a fault of the service).
    DependencyTimeout => "DependencyTimeoutException",
    /// A dry run would have succeeded.
    DryRunOperation => "DryRunOperationException",
    /// The key given is not the key that made the ciphertext.
    IncorrectKey => "IncorrectKeyException",
    /// The alias name is invalid.
    InvalidAliasName => "InvalidAliasNameException",
    /// An ARN is malformed.
    InvalidArn => "InvalidArnException",
    /// The import token has expired.
    ExpiredImportToken => "ExpiredImportTokenException",
    /// Imported material differs from the material the key had.
    IncorrectKeyMaterial => "IncorrectKeyMaterialException",
    /// The import token is not one made for this key.
    InvalidImportToken => "InvalidImportTokenException",
    /// The ciphertext, or its encryption context, is not valid.
    InvalidCiphertext => "InvalidCiphertextException",
    /// The grant id is invalid.
    InvalidGrantId => "InvalidGrantIdException",
    /// The grant token is invalid.
    InvalidGrantToken => "InvalidGrantTokenException",
    /// The key's usage or spec does not permit the operation.
    InvalidKeyUsage => "InvalidKeyUsageException",
    /// The MAC did not verify (VerifyMac).
    InvalidMac => "KMSInvalidMacException",
    /// The signature did not verify (Verify).
    InvalidSignature => "KMSInvalidSignatureException",
    /// The pagination marker is not one this service issued.
    InvalidMarker => "InvalidMarkerException",
    /// The key's state does not permit the operation.
    InvalidState => "KMSInvalidStateException",
    /// A limit was reached.
    LimitExceeded => "LimitExceededException",
    /// The policy document is malformed.
    MalformedPolicyDocument => "MalformedPolicyDocumentException",
    /// The resource does not exist.
    NotFound => "NotFoundException",
    /// A tag is invalid.
    Tag => "TagException",
    /// Too many requests.
    Throttling => "ThrottlingException",
    /// The operation is not supported for this key or here.
    UnsupportedOperation => "UnsupportedOperationException",
    /// The request is malformed or a value is out of range.
    Validation => "ValidationException",
    /// A request body that is not JSON, or a member of the wrong JSON type (raised by the wire
    /// codec, never by the facade's own calls).
    Serialization => "SerializationException",
}

macro_rules! ctor {
    ($($fn:ident => $variant:ident,)+) => {
        impl Error {
            $(
                #[doc = concat!("A `", stringify!($variant), "` error with `message`.")]
                pub fn $fn(message: impl Into<String>) -> Self {
                    Self::$variant { message: message.into() }
                }
            )+
        }
    };
}

ctor! {
    access_denied => AccessDenied,
    already_exists => AlreadyExists,
    disabled => Disabled,
    cluster_in_use => CloudHsmClusterInUse,
    cluster_not_found => CloudHsmClusterNotFound,
    cluster_not_related => CloudHsmClusterNotRelated,
    store_has_keys => CustomKeyStoreHasCmks,
    store_invalid_state => CustomKeyStoreInvalidState,
    store_name_in_use => CustomKeyStoreNameInUse,
    store_not_found => CustomKeyStoreNotFound,
    incorrect_trust_anchor => IncorrectTrustAnchor,
    dependency_timeout => DependencyTimeout,
    dry_run => DryRunOperation,
    incorrect_key => IncorrectKey,
    expired_import_token => ExpiredImportToken,
    incorrect_key_material => IncorrectKeyMaterial,
    invalid_import_token => InvalidImportToken,
    invalid_alias_name => InvalidAliasName,
    invalid_arn => InvalidArn,
    invalid_grant_id => InvalidGrantId,
    invalid_grant_token => InvalidGrantToken,
    invalid_ciphertext => InvalidCiphertext,
    invalid_key_usage => InvalidKeyUsage,
    invalid_mac => InvalidMac,
    invalid_signature => InvalidSignature,
    invalid_marker => InvalidMarker,
    invalid_state => InvalidState,
    limit_exceeded => LimitExceeded,
    not_found => NotFound,
    tag => Tag,
    throttling => Throttling,
    unsupported => UnsupportedOperation,
    validation => Validation,
    serialization => Serialization,
}

impl Error {
    /// An internal error with a cause for the log; a root key that cannot be reached now (a
    /// PKCS#11 token that is absent: [`KeyError::RootUnavailable`](coffer_keys::KeyError)) is
    /// instead the retryable `DependencyTimeoutException`, whichever path it took here.
    pub fn internal(cause: impl Into<InternalCause>) -> Self {
        let cause = cause.into();
        if let Some(coffer_keys::KeyError::RootUnavailable(_)) =
            cause.downcast_ref::<coffer_keys::KeyError>()
        {
            return Self::root_unavailable();
        }
        Self::Internal {
            message: "An internal error occurred.".into(),
            source: Some(cause),
        }
    }

    /// `DependencyTimeoutException` for a root key that cannot be reached now: the client's
    /// SDK retries it. The message names no token (the operator's log has it).
    fn root_unavailable() -> Self {
        Self::dependency_timeout(
            "The key store that holds the root key is unavailable; retry the request.",
        )
    }
}

impl Error {
    /// The HTTP status AWS KMS answers this exception with: 500 for a fault of the service,
    /// 400 for everything the client can correct.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Internal { .. } | Self::DependencyTimeout { .. } => 500,
            _ => 400,
        }
    }
}

impl From<coffer_store::StoreError> for Error {
    fn from(e: coffer_store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<coffer_keys::KeyError> for Error {
    /// Failures of the key hierarchy are internal, except a root key that cannot be reached
    /// now, which is retryable ([`Error::internal`]).
    fn from(e: coffer_keys::KeyError) -> Self {
        Self::internal(e)
    }
}

impl From<coffer_crypto::CryptoError> for Error {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        Self::internal(e)
    }
}

impl From<coffer_core::CoreError> for Error {
    /// A malformed principal ARN is the caller's input: `ValidationException` naming the
    /// rule. Anything else of the shared vocabulary reaching `?` stays internal.
    fn from(e: coffer_core::CoreError) -> Self {
        match e {
            coffer_core::CoreError::InvalidPrincipal => Self::validation(e.to_string()),
            _ => Self::internal(e),
        }
    }
}

impl From<coffer_policy::PolicyError> for Error {
    /// A policy coffer cannot parse or evaluate (an identity policy given to
    /// [`Caller::with_identity_policy_json`](crate::Caller::with_identity_policy_json), say) is
    /// `MalformedPolicyDocumentException` with the parser's reason: refused, never ignored.
    fn from(e: coffer_policy::PolicyError) -> Self {
        Self::MalformedPolicyDocument {
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_root_key_is_retryable_and_names_no_token() {
        let e = Error::internal(coffer_keys::KeyError::RootUnavailable(
            "token label \"secret-token\" of module /x.so: gone".into(),
        ));
        assert_eq!(e.code(), "DependencyTimeoutException");
        assert_eq!(e.http_status(), 500);
        assert!(!e.message().contains("secret-token"));
        let e: Error = coffer_keys::KeyError::RootUnavailable(String::new()).into();
        assert_eq!(e.code(), "DependencyTimeoutException");
        let e: Error = coffer_keys::KeyError::InvalidCiphertext.into();
        assert_eq!(e.code(), "KMSInternalException");
    }

    #[test]
    fn a_caller_built_with_question_marks_gets_aws_codes() {
        fn build(arn: &str, policy: &str) -> Result<crate::Caller, Error> {
            Ok(crate::Caller::new(arn)?.with_identity_policy_json(policy)?)
        }
        let e = build("arn:aws:iam::12:user/x", "{}").unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        let e = build("arn:aws:iam::111122223333:user/x", "{not json").unwrap_err();
        assert_eq!(e.code(), "MalformedPolicyDocumentException");
        let unknown = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Action":"kms:*","Resource":"*","Condition":{"NoSuchOperator":{"a":"b"}}}]}"#;
        let e = build("arn:aws:iam::111122223333:user/x", unknown).unwrap_err();
        assert_eq!(e.code(), "MalformedPolicyDocumentException");
        assert!(build("arn:aws:iam::111122223333:user/x", KMS_ALL).is_ok());
    }

    const KMS_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

    #[test]
    fn codes_are_aws_names() {
        assert_eq!(Error::not_found("x").code(), "NotFoundException");
        assert_eq!(Error::invalid_state("x").code(), "KMSInvalidStateException");
        assert_eq!(
            Error::internal(coffer_crypto::CryptoError).code(),
            "KMSInternalException"
        );
        assert!(Error::CODES.iter().all(|c| c.ends_with("Exception")));
        let mut sorted = Error::CODES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), Error::CODES.len());
        assert_eq!(
            Error::disabled("key is disabled").to_string(),
            "DisabledException: key is disabled"
        );
    }

    #[test]
    fn a_malformed_principal_through_question_mark_is_a_validation_error() {
        fn caller(arn: &str) -> Result<crate::Caller, Error> {
            Ok(crate::Caller::new(arn)?)
        }
        let e = caller("arn:aws:iam::111122223333:group/g").unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert!(e.message().contains("principal ARN"), "{e}");
        assert!(caller("arn:aws:iam::111122223333:user/alice").is_ok());
        let e = Error::from(coffer_core::CoreError::Random(coffer_crypto::CryptoError));
        assert_eq!(e.code(), "KMSInternalException");
    }
}
