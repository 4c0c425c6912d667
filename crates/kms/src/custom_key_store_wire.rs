//! The wire shapes of the custom key store operations. `KeyStorePassword` is read straight
//! into a zeroizing buffer and never written back.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::{decode, encode, enumeration, int, required, unsupported_member};
use super::{WireEnum, WireRequest, WireResponse};
use crate::model::*;
use crate::{Error, Operation, SecretBytes};

impl WireEnum for CustomKeyStoreType {
    const ALL: &'static [Self] = CustomKeyStoreType::ALL;
    fn parse(s: &str) -> Option<Self> {
        CustomKeyStoreType::parse(s)
    }
    fn as_str(self) -> &'static str {
        CustomKeyStoreType::as_str(self)
    }
}

/// A string member holding a secret (the PIN): copied straight into a [`SecretBytes`].
struct SecretString(SecretBytes);

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SecretString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SecretString, E> {
                Ok(SecretString(SecretBytes::copy_from(s.as_bytes())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Whether a request gave any of the external key store (XKS) members, which coffer refuses.
macro_rules! xks_given {
    ($i:ident) => {
        $i.xks_proxy_uri_endpoint.is_some()
            || $i.xks_proxy_uri_path.is_some()
            || $i.xks_proxy_vpc_endpoint_service_name.is_some()
            || $i.xks_proxy_vpc_endpoint_service_owner.is_some()
            || $i.xks_proxy_authentication_credential.is_some()
            || $i.xks_proxy_connectivity.is_some()
    };
}

/// The XKS members: present means an external key store, which coffer refuses.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateCustomKeyStoreIn {
    custom_key_store_name: Option<String>,
    cloud_hsm_cluster_id: Option<String>,
    trust_anchor_certificate: Option<String>,
    key_store_password: Option<SecretString>,
    custom_key_store_type: Option<String>,
    xks_proxy_uri_endpoint: Option<serde_json::Value>,
    xks_proxy_uri_path: Option<serde_json::Value>,
    xks_proxy_vpc_endpoint_service_name: Option<serde_json::Value>,
    xks_proxy_vpc_endpoint_service_owner: Option<serde_json::Value>,
    xks_proxy_authentication_credential: Option<serde_json::Value>,
    xks_proxy_connectivity: Option<serde_json::Value>,
}

request!(
    CreateCustomKeyStoreRequest,
    CreateCustomKeyStoreIn,
    |op, i| {
        unsupported_member(op, "XksProxy*", xks_given!(i))?;
        Ok(CreateCustomKeyStoreRequest {
            custom_key_store_name: required("customKeyStoreName", i.custom_key_store_name)?,
            cloud_hsm_cluster_id: i.cloud_hsm_cluster_id,
            trust_anchor_certificate: i.trust_anchor_certificate,
            key_store_password: i.key_store_password.map(|p| p.0),
            custom_key_store_type: enumeration("customKeyStoreType", i.custom_key_store_type)?,
        })
    }
);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CustomKeyStoreIdIn {
    custom_key_store_id: Option<String>,
}

request!(CustomKeyStoreIdRequest, CustomKeyStoreIdIn, |_, i| Ok(
    CustomKeyStoreIdRequest {
        custom_key_store_id: required("customKeyStoreId", i.custom_key_store_id)?,
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeCustomKeyStoresIn {
    custom_key_store_id: Option<String>,
    custom_key_store_name: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

request!(
    DescribeCustomKeyStoresRequest,
    DescribeCustomKeyStoresIn,
    |_, i| Ok(DescribeCustomKeyStoresRequest {
        custom_key_store_id: i.custom_key_store_id,
        custom_key_store_name: i.custom_key_store_name,
        limit: int("limit", i.limit)?,
        marker: i.marker,
    })
);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCustomKeyStoreIn {
    custom_key_store_id: Option<String>,
    new_custom_key_store_name: Option<String>,
    key_store_password: Option<SecretString>,
    cloud_hsm_cluster_id: Option<String>,
    xks_proxy_uri_endpoint: Option<serde_json::Value>,
    xks_proxy_uri_path: Option<serde_json::Value>,
    xks_proxy_vpc_endpoint_service_name: Option<serde_json::Value>,
    xks_proxy_vpc_endpoint_service_owner: Option<serde_json::Value>,
    xks_proxy_authentication_credential: Option<serde_json::Value>,
    xks_proxy_connectivity: Option<serde_json::Value>,
}

request!(
    UpdateCustomKeyStoreRequest,
    UpdateCustomKeyStoreIn,
    |op, i| {
        unsupported_member(op, "XksProxy*", xks_given!(i))?;
        Ok(UpdateCustomKeyStoreRequest {
            custom_key_store_id: required("customKeyStoreId", i.custom_key_store_id)?,
            new_custom_key_store_name: i.new_custom_key_store_name,
            key_store_password: i.key_store_password.map(|p| p.0),
            cloud_hsm_cluster_id: i.cloud_hsm_cluster_id,
        })
    }
);

impl WireResponse for CreateCustomKeyStoreResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        encode(self, 0)
    }
}

impl WireResponse for DescribeCustomKeyStoresResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        encode(self, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_read_into_a_secret_and_xks_is_refused() {
        let body = br#"{"CustomKeyStoreName":"n","CloudHsmClusterId":"cluster-1234567890a","TrustAnchorCertificate":"pem","KeyStorePassword":"hunter2hunter2"}"#;
        let req =
            CreateCustomKeyStoreRequest::from_wire(Operation::CreateCustomKeyStore, body).unwrap();
        assert_eq!(
            req.key_store_password.as_ref().map(|p| p.expose().to_vec()),
            Some(b"hunter2hunter2".to_vec())
        );
        assert!(!format!("{req:?}").contains("hunter2"));
        let xks = br#"{"CustomKeyStoreName":"n","CustomKeyStoreType":"EXTERNAL_KEY_STORE","XksProxyUriEndpoint":"https://x"}"#;
        let e = CreateCustomKeyStoreRequest::from_wire(Operation::CreateCustomKeyStore, xks)
            .unwrap_err();
        assert_eq!(e.code(), "UnsupportedOperationException");
        let e = CreateCustomKeyStoreRequest::from_wire(Operation::CreateCustomKeyStore, b"{}")
            .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        let e = CustomKeyStoreIdRequest::from_wire(Operation::ConnectCustomKeyStore, b"{}")
            .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
    }
}
