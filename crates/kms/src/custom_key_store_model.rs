//! The custom key store shapes of the AWS service model: CreateCustomKeyStore,
//! ConnectCustomKeyStore, DisconnectCustomKeyStore, DeleteCustomKeyStore,
//! DescribeCustomKeyStores and UpdateCustomKeyStore, `CustomKeyStoresListEntry`,
//! `ConnectionStateType`, `ConnectionErrorCodeType` and `CustomKeyStoreType`.

use std::fmt;
use std::time::SystemTime;

use coffer_crypto::SecretBytes;

macro_rules! names {
    ($(#[$m:meta])* $t:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $t {
            $($(#[$vm])* $v,)+
        }

        impl $t {
            /// Every value, in the model's order.
            pub const ALL: &'static [Self] = &[$(Self::$v,)+];

            /// The AWS name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$v => $s,)+
                }
            }

            /// The value of an AWS name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some(Self::$v),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(
    /// The type of a custom key store (`CustomKeyStoreType`).
    CustomKeyStoreType {
        /// Backed by a CloudHSM cluster: in coffer, an operator-configured PKCS#11 token.
        AwsCloudHsm = "AWS_CLOUDHSM",
        /// Backed by an external key manager through a proxy: refused by coffer.
        ExternalKeyStore = "EXTERNAL_KEY_STORE",
    }
);

names!(
    /// Whether a custom key store is connected (`ConnectionStateType`).
    ConnectionState {
        /// Connected: its keys can be created and used.
        Connected = "CONNECTED",
        /// Being connected.
        Connecting = "CONNECTING",
        /// Disconnected, or never connected since it was created (AWS has no state of its own
        /// for that).
        Disconnected = "DISCONNECTED",
        /// Being disconnected.
        Disconnecting = "DISCONNECTING",
        /// The last attempt to connect failed; `ConnectionErrorCode` says why.
        Failed = "FAILED",
    }
);

names!(
    /// Why a custom key store is in state FAILED (`ConnectionErrorCodeType`, the members that
    /// apply to a token).
    ConnectionErrorCode {
        /// The token refused the KeyStorePassword (the user PIN).
        InvalidCredentials = "INVALID_CREDENTIALS",
        /// The configured token is no longer configured.
        ClusterNotFound = "CLUSTER_NOT_FOUND",
        /// The token could not be reached (absent, removed, its module failing).
        NetworkErrors = "NETWORK_ERRORS",
        /// Anything else.
        InternalError = "INTERNAL_ERROR",
        /// The token's user is locked out (too many wrong PINs).
        UserLockedOut = "USER_LOCKED_OUT",
    }
);

/// CreateCustomKeyStore. Its Debug leaves the password out.
#[derive(Clone, Default)]
pub struct CreateCustomKeyStoreRequest {
    /// 1–256 characters, unique in the account.
    pub custom_key_store_name: String,
    /// The configured token's id (19–24 characters).
    pub cloud_hsm_cluster_id: Option<String>,
    /// The PEM trust anchor the operator configured for the token.
    pub trust_anchor_certificate: Option<String>,
    /// The token user's PIN (7–32 characters).
    pub key_store_password: Option<SecretBytes>,
    /// `AWS_CLOUDHSM` (the default); `EXTERNAL_KEY_STORE` is refused.
    pub custom_key_store_type: Option<CustomKeyStoreType>,
}

impl fmt::Debug for CreateCustomKeyStoreRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateCustomKeyStoreRequest")
            .field("custom_key_store_name", &self.custom_key_store_name)
            .field("cloud_hsm_cluster_id", &self.cloud_hsm_cluster_id)
            .field("key_store_password", &"[redacted]")
            .field("custom_key_store_type", &self.custom_key_store_type)
            .finish_non_exhaustive()
    }
}

/// CreateCustomKeyStore's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct CreateCustomKeyStoreResponse {
    /// The new store's id.
    pub custom_key_store_id: String,
}

/// ConnectCustomKeyStore, DisconnectCustomKeyStore and DeleteCustomKeyStore.
#[derive(Clone, Debug, Default)]
pub struct CustomKeyStoreIdRequest {
    /// The store's id.
    pub custom_key_store_id: String,
}

/// DescribeCustomKeyStores.
#[derive(Clone, Debug, Default)]
pub struct DescribeCustomKeyStoresRequest {
    /// Only this store.
    pub custom_key_store_id: Option<String>,
    /// Only the store of this name.
    pub custom_key_store_name: Option<String>,
    /// At most this many (1–1000).
    pub limit: Option<u32>,
    /// Where the previous page ended.
    pub marker: Option<String>,
}

/// One custom key store (`CustomKeyStoresListEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct CustomKeyStoresListEntry {
    /// Its id.
    pub custom_key_store_id: String,
    /// Its name.
    pub custom_key_store_name: String,
    /// The configured token it uses.
    pub cloud_hsm_cluster_id: String,
    /// The trust anchor given at creation.
    pub trust_anchor_certificate: String,
    /// Whether it is connected.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub connection_state: ConnectionState,
    /// Why it FAILED, when it did.
    #[cfg_attr(
        feature = "wire",
        serde(
            serialize_with = "crate::wire::ser_opt_display",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub connection_error_code: Option<ConnectionErrorCode>,
    /// When it was created.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_time"))]
    pub creation_date: SystemTime,
    /// Always `AWS_CLOUDHSM`.
    #[cfg_attr(feature = "wire", serde(serialize_with = "crate::wire::ser_display"))]
    pub custom_key_store_type: CustomKeyStoreType,
}

/// DescribeCustomKeyStores's answer.
#[derive(Clone, Debug)]
#[cfg_attr(
    feature = "wire",
    derive(serde::Serialize),
    serde(rename_all = "PascalCase")
)]
pub struct DescribeCustomKeyStoresResponse {
    /// The stores, ordered by id.
    pub custom_key_stores: Vec<CustomKeyStoresListEntry>,
    /// Where the next page starts, when truncated.
    #[cfg_attr(feature = "wire", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Whether there are more.
    pub truncated: bool,
}

/// UpdateCustomKeyStore. Its Debug leaves the password out.
#[derive(Clone, Default)]
pub struct UpdateCustomKeyStoreRequest {
    /// The store's id.
    pub custom_key_store_id: String,
    /// A new name (allowed while connected).
    pub new_custom_key_store_name: Option<String>,
    /// A new user PIN (only while disconnected).
    pub key_store_password: Option<SecretBytes>,
    /// Another configured token (only while disconnected, and only for a store without keys).
    pub cloud_hsm_cluster_id: Option<String>,
}

impl fmt::Debug for UpdateCustomKeyStoreRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateCustomKeyStoreRequest")
            .field("custom_key_store_id", &self.custom_key_store_id)
            .field("new_custom_key_store_name", &self.new_custom_key_store_name)
            .field("key_store_password", &"[redacted]")
            .field("cloud_hsm_cluster_id", &self.cloud_hsm_cluster_id)
            .finish()
    }
}
