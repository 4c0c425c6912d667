//! The AWS KMS JSON 1.1 protocol: request bodies decoded into the facade's requests, its
//! responses encoded, member names and shapes as the service model (`kms/2014-11-01`) gives
//! them. Blobs are base64; timestamps are epoch seconds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms, Operation, SecretBytes};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::ApiError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Every operation name of the AWS KMS API (the service model's 54).
pub const AWS_OPERATIONS: &[&str] = &[
    "CancelKeyDeletion",
    "ConnectCustomKeyStore",
    "CreateAlias",
    "CreateCustomKeyStore",
    "CreateGrant",
    "CreateKey",
    "Decrypt",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyLastUsage",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// How many operations coffer serves ([`Operation::served`]).
const SERVED_COUNT: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < Operation::ALL.len() {
        if Operation::ALL[i].served() {
            n += 1;
        }
        i += 1;
    }
    n
};

/// The names of the served operations, in the table's order.
const SERVED_NAMES: [&str; SERVED_COUNT] = {
    let mut names = [""; SERVED_COUNT];
    let (mut i, mut n) = (0, 0);
    while i < Operation::ALL.len() {
        if Operation::ALL[i].served() {
            names[n] = Operation::ALL[i].as_str();
            n += 1;
        }
        i += 1;
    }
    names
};

/// The operations cofferd serves: derived from the operation table ([`Operation::served`]).
pub const SUPPORTED_OPERATIONS: &[&str] = &SERVED_NAMES;

// ---------------------------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------------------------

/// Decodes a request body (empty means `{}`). Wrong JSON or wrong types are
/// SerializationException; the message names the position, never the value.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "has a value of the wrong type",
            _ => "is not valid JSON",
        };
        ApiError::serialization(format!(
            "The request body {what} (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })
}

fn null_error(field: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn required<T>(field: &str, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| null_error(field))
}

/// An integer member: out of the `u32` range is a ValidationException (the facade checks the
/// model's narrower ranges).
fn int(field: &str, v: Option<i64>) -> Result<Option<u32>, ApiError> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| {
            let bound = if n < 0 {
                "Member must have value greater than or equal to 1"
            } else {
                "Member must have value less than or equal to 2147483647"
            };
            ApiError::validation(format!(
                "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: {bound}"
            ))
        })
    })
    .transpose()
}

/// An enumeration member, by its AWS spelling.
fn enumeration<T: Copy>(
    field: &str,
    v: Option<String>,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Option<T>, ApiError> {
    let Some(s) = v else { return Ok(None) };
    parse(&s).map(Some).ok_or_else(|| {
        let set: Vec<&str> = all.iter().map(|t| name(*t)).collect();
        // The value is an enumeration name the client chose, not a secret; keep it short.
        let shown: String = s.chars().take(64).collect();
        ApiError::validation(format!(
            "1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            set.join(", ")
        ))
    })
}

fn unsupported_member(op: &str, member: &str, present: bool) -> Result<(), ApiError> {
    if present {
        Err(ApiError::unsupported(format!(
            "{op}: the {member} parameter is not supported by coffer."
        )))
    } else {
        Ok(())
    }
}

fn context(v: Option<BTreeMap<String, String>>) -> EncryptionContext {
    let mut ctx = EncryptionContext::new();
    for (k, val) in v.unwrap_or_default() {
        ctx.insert(k, val);
    }
    ctx
}

/// A base64 blob member (not secret).
#[derive(Default)]
struct Blob(Vec<u8>);

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Blob, E> {
                B64.decode(s)
                    .map(Blob)
                    .map_err(|_| E::custom("invalid base64"))
            }
        }
        d.deserialize_str(V)
    }
}

/// A base64 blob member holding a secret: decoded straight into a [`SecretBytes`].
struct SecretBlob(SecretBytes);

impl<'de> Deserialize<'de> for SecretBlob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SecretBlob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SecretBlob, E> {
                let mut out = SecretBytes::new(vec![0u8; base64::decoded_len_estimate(s.len())]);
                let n = B64
                    .decode_slice(s, out.expose_mut())
                    .map_err(|_| E::custom("invalid base64"))?;
                out.truncate(n);
                Ok(SecretBlob(out))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagIn {
    tag_key: Option<String>,
    tag_value: Option<String>,
}

fn tags(v: Option<Vec<TagIn>>) -> Result<Vec<Tag>, ApiError> {
    v.unwrap_or_default()
        .into_iter()
        .map(|t| {
            Ok(Tag {
                tag_key: required("tags.member.tagKey", t.tag_key)?,
                tag_value: required("tags.member.tagValue", t.tag_value)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers
// ---------------------------------------------------------------------------------------------

/// Epoch seconds with millisecond precision, as AWS JSON timestamps are.
fn epoch(t: SystemTime) -> f64 {
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as f64,
        Err(e) => -(e.duration().as_millis() as f64),
    };
    ms / 1000.0
}

fn ser_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(epoch(*t))
}

fn ser_opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_f64(epoch(*t)),
        None => s.serialize_none(),
    }
}

fn ser_blob<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&B64.encode(b))
}

fn ser_display<T: fmt::Display, S: Serializer>(t: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// A secret blob, encoded into a zeroizing buffer and written into the response from there.
fn ser_secret<S: Serializer>(b: &SecretBytes, s: S) -> Result<S::Ok, S::Error> {
    let len = base64::encoded_len(b.len(), true)
        .ok_or_else(|| serde::ser::Error::custom("blob too long"))?;
    let mut buf = SecretBytes::new(vec![0u8; len]);
    let n = B64
        .encode_slice(b.expose(), buf.expose_mut())
        .map_err(|_| serde::ser::Error::custom("base64"))?;
    buf.truncate(n);
    let text =
        std::str::from_utf8(buf.expose()).map_err(|_| serde::ser::Error::custom("base64"))?;
    s.serialize_str(text)
}

fn encode<T: Serialize>(v: &T, secret_len: usize) -> Result<Vec<u8>, ApiError> {
    // Room for the whole answer up front, so a response holding a secret is not reallocated
    // (which would leave unwiped copies behind).
    let mut out = Vec::with_capacity(1024 + secret_len.saturating_mul(2));
    serde_json::to_writer(&mut out, v).map_err(|e| ApiError::from(coffer::Error::internal(e)))?;
    Ok(out)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadataOut<'a> {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: &'a str,
    key_id: &'a str,
    arn: &'a str,
    #[serde(serialize_with = "ser_time")]
    creation_date: SystemTime,
    enabled: bool,
    description: &'a str,
    #[serde(serialize_with = "ser_display")]
    key_usage: KeyUsage,
    #[serde(serialize_with = "ser_display")]
    key_state: KeyState,
    #[serde(
        serialize_with = "ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    deletion_date: Option<SystemTime>,
    #[serde(serialize_with = "ser_display")]
    origin: Origin,
    key_manager: &'a str,
    #[serde(serialize_with = "ser_display")]
    customer_master_key_spec: KeySpec,
    #[serde(serialize_with = "ser_display")]
    key_spec: KeySpec,
    encryption_algorithms: Vec<&'static str>,
    multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_deletion_window_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_key_material_id: Option<&'a str>,
}

impl<'a> From<&'a KeyMetadata> for KeyMetadataOut<'a> {
    fn from(m: &'a KeyMetadata) -> Self {
        Self {
            aws_account_id: &m.aws_account_id,
            key_id: &m.key_id,
            arn: &m.arn,
            creation_date: m.creation_date,
            enabled: m.enabled,
            description: &m.description,
            key_usage: m.key_usage,
            key_state: m.key_state,
            deletion_date: m.deletion_date,
            origin: m.origin,
            key_manager: m.key_manager,
            customer_master_key_spec: m.customer_master_key_spec,
            key_spec: m.key_spec,
            encryption_algorithms: m.encryption_algorithms.iter().map(|a| a.as_str()).collect(),
            multi_region: m.multi_region,
            pending_deletion_window_in_days: m.pending_deletion_window_in_days,
            current_key_material_id: m.current_key_material_id.as_deref(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadataResponse<'a> {
    key_metadata: KeyMetadataOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Page<'a, T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<&'a str>,
    truncated: bool,
    #[serde(flatten)]
    items: T,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdOut<'a> {
    key_id: &'a str,
}

const EMPTY: &[u8] = b"{}";

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConstraintsIn {
    encryption_context_equals: Option<BTreeMap<String, String>>,
    encryption_context_subset: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantIn {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    retiring_principal: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<ConstraintsIn>,
    grant_tokens: Option<Vec<String>>,
    name: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsIn {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
    retiring_principal: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetireGrantIn {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdIn {
    key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyIn {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    tags: Option<Vec<TagIn>>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeKeyIn {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIn {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
    include_key_material: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleIn {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateDescriptionIn {
    key_id: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptIn {
    key_id: Option<String>,
    plaintext: Option<SecretBlob>,
    encryption_context: Option<BTreeMap<String, String>>,
    grant_tokens: Option<Vec<String>>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptIn {
    ciphertext_blob: Option<Blob>,
    encryption_context: Option<BTreeMap<String, String>>,
    grant_tokens: Option<Vec<String>>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptIn {
    ciphertext_blob: Option<Blob>,
    source_encryption_context: Option<BTreeMap<String, String>>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    destination_encryption_context: Option<BTreeMap<String, String>>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyIn {
    key_id: Option<String>,
    encryption_context: Option<BTreeMap<String, String>>,
    number_of_bytes: Option<i64>,
    key_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RandomIn {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyIn {
    key_id: Option<String>,
    policy_name: Option<String>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasIn {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceIn {
    key_id: Option<String>,
    tags: Option<Vec<TagIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagIn {
    key_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotationIn {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

fn key_usage(v: Option<String>) -> Result<Option<KeyUsage>, ApiError> {
    enumeration(
        "keyUsage",
        v,
        KeyUsage::parse,
        KeyUsage::ALL,
        KeyUsage::as_str,
    )
}

fn key_spec(field: &str, v: Option<String>) -> Result<Option<KeySpec>, ApiError> {
    enumeration(field, v, KeySpec::parse, KeySpec::ALL, KeySpec::as_str)
}

fn algorithm(field: &str, v: Option<String>) -> Result<Option<EncryptionAlgorithmSpec>, ApiError> {
    enumeration(
        field,
        v,
        EncryptionAlgorithmSpec::parse,
        EncryptionAlgorithmSpec::ALL,
        EncryptionAlgorithmSpec::as_str,
    )
}

fn key_id_request(body: &[u8]) -> Result<KeyIdRequest, ApiError> {
    let i: KeyIdIn = decode(body)?;
    Ok(KeyIdRequest {
        key_id: required("keyId", i.key_id)?,
    })
}

fn data_key_request(op: &str, body: &[u8]) -> Result<GenerateDataKeyRequest, ApiError> {
    let i: DataKeyIn = decode(body)?;
    unsupported_member(op, "Recipient", i.recipient.is_some())?;
    Ok(GenerateDataKeyRequest {
        key_id: required("keyId", i.key_id)?,
        encryption_context: context(i.encryption_context),
        number_of_bytes: int("numberOfBytes", i.number_of_bytes)?,
        key_spec: enumeration(
            "keySpec",
            i.key_spec,
            DataKeySpec::parse,
            DataKeySpec::ALL,
            DataKeySpec::as_str,
        )?,
        grant_tokens: i.grant_tokens.unwrap_or_default(),
        dry_run: i.dry_run.unwrap_or(false),
    })
}

/// Runs one operation for `caller` on a JSON request body; returns the JSON response body.
///
/// Names AWS has but coffer does not serve are UnsupportedOperationException; names AWS does
/// not have are UnknownOperationException.
pub fn dispatch(kms: &Kms, caller: &Caller, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    match op {
        "CreateKey" => {
            let i: CreateKeyIn = decode(body)?;
            unsupported_member(op, "CustomKeyStoreId", i.custom_key_store_id.is_some())?;
            unsupported_member(op, "XksKeyId", i.xks_key_id.is_some())?;
            let req = CreateKeyRequest {
                policy: i.policy,
                description: i.description,
                key_usage: key_usage(i.key_usage)?,
                key_spec: key_spec("keySpec", i.key_spec)?,
                customer_master_key_spec: key_spec(
                    "customerMasterKeySpec",
                    i.customer_master_key_spec,
                )?,
                origin: enumeration(
                    "origin",
                    i.origin,
                    Origin::parse,
                    Origin::ALL,
                    Origin::as_str,
                )?,
                bypass_policy_lockout_safety_check: i
                    .bypass_policy_lockout_safety_check
                    .unwrap_or(false),
                tags: tags(i.tags)?,
                multi_region: i.multi_region,
            };
            let r = kms.create_key(caller, req)?;
            encode(
                &KeyMetadataResponse {
                    key_metadata: (&r.key_metadata).into(),
                },
                0,
            )
        }
        "DescribeKey" => {
            let i: DescribeKeyIn = decode(body)?;
            let r = kms.describe_key(
                caller,
                DescribeKeyRequest {
                    key_id: required("keyId", i.key_id)?,
                    grant_tokens: i.grant_tokens.unwrap_or_default(),
                },
            )?;
            encode(
                &KeyMetadataResponse {
                    key_metadata: (&r.key_metadata).into(),
                },
                0,
            )
        }
        "ListKeys" => {
            let i: ListIn = decode(body)?;
            let r = kms.list_keys(
                caller,
                ListKeysRequest {
                    limit: int("limit", i.limit)?,
                    marker: i.marker,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Entry<'a> {
                key_id: &'a str,
                key_arn: &'a str,
            }
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Keys<'a> {
                keys: Vec<Entry<'a>>,
            }
            let keys = r
                .keys
                .iter()
                .map(|k| Entry {
                    key_id: &k.key_id,
                    key_arn: &k.key_arn,
                })
                .collect();
            encode(
                &Page {
                    next_marker: r.next_marker.as_deref(),
                    truncated: r.truncated,
                    items: Keys { keys },
                },
                0,
            )
        }
        "EnableKey" => {
            kms.enable_key(caller, key_id_request(body)?)?;
            Ok(EMPTY.to_vec())
        }
        "DisableKey" => {
            kms.disable_key(caller, key_id_request(body)?)?;
            Ok(EMPTY.to_vec())
        }
        "ScheduleKeyDeletion" => {
            let i: ScheduleIn = decode(body)?;
            let r = kms.schedule_key_deletion(
                caller,
                ScheduleKeyDeletionRequest {
                    key_id: required("keyId", i.key_id)?,
                    pending_window_in_days: int("pendingWindowInDays", i.pending_window_in_days)?,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                key_id: &'a str,
                #[serde(serialize_with = "ser_time")]
                deletion_date: SystemTime,
                #[serde(serialize_with = "ser_display")]
                key_state: KeyState,
                pending_window_in_days: u32,
            }
            encode(
                &Out {
                    key_id: &r.key_id,
                    deletion_date: r.deletion_date,
                    key_state: r.key_state,
                    pending_window_in_days: r.pending_window_in_days,
                },
                0,
            )
        }
        "CancelKeyDeletion" => {
            let r = kms.cancel_key_deletion(caller, key_id_request(body)?)?;
            encode(&KeyIdOut { key_id: &r.key_id }, 0)
        }
        "UpdateKeyDescription" => {
            let i: UpdateDescriptionIn = decode(body)?;
            kms.update_key_description(
                caller,
                UpdateKeyDescriptionRequest {
                    key_id: required("keyId", i.key_id)?,
                    description: required("description", i.description)?,
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        "Encrypt" => {
            let i: EncryptIn = decode(body)?;
            let r = kms.encrypt(
                caller,
                EncryptRequest {
                    key_id: required("keyId", i.key_id)?,
                    plaintext: required("plaintext", i.plaintext)?.0,
                    encryption_context: context(i.encryption_context),
                    grant_tokens: i.grant_tokens.unwrap_or_default(),
                    encryption_algorithm: algorithm("encryptionAlgorithm", i.encryption_algorithm)?,
                    dry_run: i.dry_run.unwrap_or(false),
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                #[serde(serialize_with = "ser_blob")]
                ciphertext_blob: &'a [u8],
                key_id: &'a str,
                #[serde(serialize_with = "ser_display")]
                encryption_algorithm: EncryptionAlgorithmSpec,
            }
            encode(
                &Out {
                    ciphertext_blob: &r.ciphertext_blob,
                    key_id: &r.key_id,
                    encryption_algorithm: r.encryption_algorithm,
                },
                0,
            )
        }
        "Decrypt" => {
            let i: DecryptIn = decode(body)?;
            unsupported_member(op, "Recipient", i.recipient.is_some())?;
            unsupported_member(op, "DryRunModifiers", i.dry_run_modifiers.is_some())?;
            let r = kms.decrypt(
                caller,
                DecryptRequest {
                    ciphertext_blob: required("ciphertextBlob", i.ciphertext_blob)?.0,
                    encryption_context: context(i.encryption_context),
                    grant_tokens: i.grant_tokens.unwrap_or_default(),
                    key_id: i.key_id,
                    encryption_algorithm: algorithm("encryptionAlgorithm", i.encryption_algorithm)?,
                    dry_run: i.dry_run.unwrap_or(false),
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                key_id: &'a str,
                #[serde(serialize_with = "ser_secret")]
                plaintext: &'a SecretBytes,
                #[serde(serialize_with = "ser_display")]
                encryption_algorithm: EncryptionAlgorithmSpec,
                key_material_id: &'a str,
            }
            encode(
                &Out {
                    key_id: &r.key_id,
                    plaintext: &r.plaintext,
                    encryption_algorithm: r.encryption_algorithm,
                    key_material_id: &r.key_material_id,
                },
                r.plaintext.len(),
            )
        }
        "ReEncrypt" => {
            let i: ReEncryptIn = decode(body)?;
            unsupported_member(op, "DryRunModifiers", i.dry_run_modifiers.is_some())?;
            let r = kms.re_encrypt(
                caller,
                ReEncryptRequest {
                    ciphertext_blob: required("ciphertextBlob", i.ciphertext_blob)?.0,
                    source_encryption_context: context(i.source_encryption_context),
                    source_key_id: i.source_key_id,
                    destination_key_id: required("destinationKeyId", i.destination_key_id)?,
                    destination_encryption_context: context(i.destination_encryption_context),
                    source_encryption_algorithm: algorithm(
                        "sourceEncryptionAlgorithm",
                        i.source_encryption_algorithm,
                    )?,
                    destination_encryption_algorithm: algorithm(
                        "destinationEncryptionAlgorithm",
                        i.destination_encryption_algorithm,
                    )?,
                    grant_tokens: i.grant_tokens.unwrap_or_default(),
                    dry_run: i.dry_run.unwrap_or(false),
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                #[serde(serialize_with = "ser_blob")]
                ciphertext_blob: &'a [u8],
                source_key_id: &'a str,
                key_id: &'a str,
                #[serde(serialize_with = "ser_display")]
                source_encryption_algorithm: EncryptionAlgorithmSpec,
                #[serde(serialize_with = "ser_display")]
                destination_encryption_algorithm: EncryptionAlgorithmSpec,
            }
            encode(
                &Out {
                    ciphertext_blob: &r.ciphertext_blob,
                    source_key_id: &r.source_key_id,
                    key_id: &r.key_id,
                    source_encryption_algorithm: r.source_encryption_algorithm,
                    destination_encryption_algorithm: r.destination_encryption_algorithm,
                },
                0,
            )
        }
        "GenerateDataKey" => {
            let r = kms.generate_data_key(caller, data_key_request(op, body)?)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                #[serde(serialize_with = "ser_blob")]
                ciphertext_blob: &'a [u8],
                #[serde(serialize_with = "ser_secret")]
                plaintext: &'a SecretBytes,
                key_id: &'a str,
            }
            encode(
                &Out {
                    ciphertext_blob: &r.ciphertext_blob,
                    plaintext: &r.plaintext,
                    key_id: &r.key_id,
                },
                r.plaintext.len(),
            )
        }
        "GenerateDataKeyWithoutPlaintext" => {
            let r = kms.generate_data_key_without_plaintext(caller, data_key_request(op, body)?)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                #[serde(serialize_with = "ser_blob")]
                ciphertext_blob: &'a [u8],
                key_id: &'a str,
            }
            encode(
                &Out {
                    ciphertext_blob: &r.ciphertext_blob,
                    key_id: &r.key_id,
                },
                0,
            )
        }
        "GenerateRandom" => {
            let i: RandomIn = decode(body)?;
            unsupported_member(op, "CustomKeyStoreId", i.custom_key_store_id.is_some())?;
            unsupported_member(op, "Recipient", i.recipient.is_some())?;
            let r = kms.generate_random(
                caller,
                GenerateRandomRequest {
                    number_of_bytes: int("numberOfBytes", i.number_of_bytes)?,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                #[serde(serialize_with = "ser_secret")]
                plaintext: &'a SecretBytes,
            }
            encode(
                &Out {
                    plaintext: &r.plaintext,
                },
                r.plaintext.len(),
            )
        }
        "PutKeyPolicy" => {
            let i: PolicyIn = decode(body)?;
            kms.put_key_policy(
                caller,
                PutKeyPolicyRequest {
                    key_id: required("keyId", i.key_id)?,
                    policy_name: i.policy_name,
                    policy: required("policy", i.policy)?,
                    bypass_policy_lockout_safety_check: i
                        .bypass_policy_lockout_safety_check
                        .unwrap_or(false),
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        "GetKeyPolicy" => {
            let i: PolicyIn = decode(body)?;
            let r = kms.get_key_policy(
                caller,
                GetKeyPolicyRequest {
                    key_id: required("keyId", i.key_id)?,
                    policy_name: i.policy_name,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                policy: &'a str,
                policy_name: &'a str,
            }
            encode(
                &Out {
                    policy: &r.policy,
                    policy_name: &r.policy_name,
                },
                r.policy.len(),
            )
        }
        "ListKeyPolicies" => {
            let i: ListIn = decode(body)?;
            let r = kms.list_key_policies(
                caller,
                ListKeyPoliciesRequest {
                    key_id: required("keyId", i.key_id)?,
                    limit: int("limit", i.limit)?,
                    marker: i.marker,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Names<'a> {
                policy_names: &'a [String],
            }
            encode(
                &Page {
                    next_marker: r.next_marker.as_deref(),
                    truncated: r.truncated,
                    items: Names {
                        policy_names: &r.policy_names,
                    },
                },
                0,
            )
        }
        "CreateAlias" | "UpdateAlias" => {
            let i: AliasIn = decode(body)?;
            let req = AliasRequest {
                alias_name: required("aliasName", i.alias_name)?,
                target_key_id: required("targetKeyId", i.target_key_id)?,
            };
            if op == "CreateAlias" {
                kms.create_alias(caller, req)?;
            } else {
                kms.update_alias(caller, req)?;
            }
            Ok(EMPTY.to_vec())
        }
        "DeleteAlias" => {
            let i: AliasIn = decode(body)?;
            kms.delete_alias(
                caller,
                DeleteAliasRequest {
                    alias_name: required("aliasName", i.alias_name)?,
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        "ListAliases" => {
            let i: ListIn = decode(body)?;
            let r = kms.list_aliases(
                caller,
                ListAliasesRequest {
                    key_id: i.key_id,
                    limit: int("limit", i.limit)?,
                    marker: i.marker,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Entry<'a> {
                alias_name: &'a str,
                alias_arn: &'a str,
                target_key_id: &'a str,
                #[serde(serialize_with = "ser_time")]
                creation_date: SystemTime,
                #[serde(serialize_with = "ser_time")]
                last_updated_date: SystemTime,
            }
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Aliases<'a> {
                aliases: Vec<Entry<'a>>,
            }
            let aliases = r
                .aliases
                .iter()
                .map(|a| Entry {
                    alias_name: &a.alias_name,
                    alias_arn: &a.alias_arn,
                    target_key_id: &a.target_key_id,
                    creation_date: a.creation_date,
                    last_updated_date: a.last_updated_date,
                })
                .collect();
            encode(
                &Page {
                    next_marker: r.next_marker.as_deref(),
                    truncated: r.truncated,
                    items: Aliases { aliases },
                },
                0,
            )
        }
        "TagResource" => {
            let i: TagResourceIn = decode(body)?;
            kms.tag_resource(
                caller,
                TagResourceRequest {
                    key_id: required("keyId", i.key_id)?,
                    tags: tags(Some(required("tags", i.tags)?))?,
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        "UntagResource" => {
            let i: UntagIn = decode(body)?;
            kms.untag_resource(
                caller,
                UntagResourceRequest {
                    key_id: required("keyId", i.key_id)?,
                    tag_keys: required("tagKeys", i.tag_keys)?,
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        "ListResourceTags" => {
            let i: ListIn = decode(body)?;
            let r = kms.list_resource_tags(
                caller,
                ListResourceTagsRequest {
                    key_id: required("keyId", i.key_id)?,
                    limit: int("limit", i.limit)?,
                    marker: i.marker,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Tags<'a> {
                tags: &'a [Tag],
            }
            encode(
                &Page {
                    next_marker: r.next_marker.as_deref(),
                    truncated: r.truncated,
                    items: Tags { tags: &r.tags },
                },
                0,
            )
        }
        "EnableKeyRotation" => {
            let i: RotationIn = decode(body)?;
            kms.enable_key_rotation(
                caller,
                EnableKeyRotationRequest {
                    key_id: required("keyId", i.key_id)?,
                    rotation_period_in_days: int(
                        "rotationPeriodInDays",
                        i.rotation_period_in_days,
                    )?,
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        "DisableKeyRotation" => {
            kms.disable_key_rotation(caller, key_id_request(body)?)?;
            Ok(EMPTY.to_vec())
        }
        "GetKeyRotationStatus" => {
            let r = kms.get_key_rotation_status(caller, key_id_request(body)?)?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                key_rotation_enabled: bool,
                key_id: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                rotation_period_in_days: Option<u32>,
                #[serde(
                    serialize_with = "ser_opt_time",
                    skip_serializing_if = "Option::is_none"
                )]
                next_rotation_date: Option<SystemTime>,
                #[serde(
                    serialize_with = "ser_opt_time",
                    skip_serializing_if = "Option::is_none"
                )]
                on_demand_rotation_start_date: Option<SystemTime>,
            }
            encode(
                &Out {
                    key_rotation_enabled: r.key_rotation_enabled,
                    key_id: &r.key_id,
                    rotation_period_in_days: r.rotation_period_in_days,
                    next_rotation_date: r.next_rotation_date,
                    on_demand_rotation_start_date: r.on_demand_rotation_start_date,
                },
                0,
            )
        }
        "RotateKeyOnDemand" => {
            let r = kms.rotate_key_on_demand(caller, key_id_request(body)?)?;
            encode(&KeyIdOut { key_id: &r.key_id }, 0)
        }
        "ListKeyRotations" => {
            let i: ListIn = decode(body)?;
            match i.include_key_material.as_deref() {
                None | Some("ROTATIONS_ONLY") => {}
                Some("ALL_KEY_MATERIAL") => {
                    return Err(ApiError::unsupported(
                        "ListKeyRotations: IncludeKeyMaterial ALL_KEY_MATERIAL is not supported by coffer.",
                    ))
                }
                Some(_) => {
                    return Err(ApiError::validation(
                        "1 validation error detected: Value at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
                    ))
                }
            }
            let r = kms.list_key_rotations(
                caller,
                ListKeyRotationsRequest {
                    key_id: required("keyId", i.key_id)?,
                    limit: int("limit", i.limit)?,
                    marker: i.marker,
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Entry<'a> {
                key_id: &'a str,
                key_material_id: &'a str,
                #[serde(serialize_with = "ser_time")]
                rotation_date: SystemTime,
                #[serde(serialize_with = "ser_display")]
                rotation_type: RotationType,
            }
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Rotations<'a> {
                rotations: Vec<Entry<'a>>,
            }
            let rotations = r
                .rotations
                .iter()
                .map(|e| Entry {
                    key_id: &e.key_id,
                    key_material_id: &e.key_material_id,
                    rotation_date: e.rotation_date,
                    rotation_type: e.rotation_type,
                })
                .collect();
            encode(
                &Page {
                    next_marker: r.next_marker.as_deref(),
                    truncated: r.truncated,
                    items: Rotations { rotations },
                },
                0,
            )
        }
        "CreateGrant" => {
            let i: CreateGrantIn = decode(body)?;
            let operations = i
                .operations
                .ok_or_else(|| null_error("operations"))?
                .iter()
                .map(|o| {
                    GrantOperation::parse(o).map_err(|_| {
                        ApiError::validation(format!(
                            "1 validation error detected: Value '{o}' at 'operations' failed to satisfy constraint: Member must satisfy enum value set"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let r = kms.create_grant(
                caller,
                CreateGrantRequest {
                    key_id: required("keyId", i.key_id)?,
                    grantee_principal: required("granteePrincipal", i.grantee_principal)?,
                    retiring_principal: i.retiring_principal,
                    operations,
                    constraints: i.constraints.map(|c| GrantConstraints {
                        encryption_context_equals: c.encryption_context_equals,
                        encryption_context_subset: c.encryption_context_subset,
                    }),
                    grant_tokens: i.grant_tokens.unwrap_or_default(),
                    name: i.name,
                    dry_run: i.dry_run.unwrap_or(false),
                },
            )?;
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Out<'a> {
                grant_token: &'a str,
                grant_id: &'a str,
            }
            encode(
                &Out {
                    grant_token: &r.grant_token,
                    grant_id: &r.grant_id,
                },
                0,
            )
        }
        "ListGrants" | "ListRetirableGrants" => {
            let i: ListGrantsIn = decode(body)?;
            let r = if op == "ListGrants" {
                kms.list_grants(
                    caller,
                    ListGrantsRequest {
                        key_id: required("keyId", i.key_id)?,
                        limit: int("limit", i.limit)?,
                        marker: i.marker,
                        grant_id: i.grant_id,
                        grantee_principal: i.grantee_principal,
                    },
                )?
            } else {
                kms.list_retirable_grants(
                    caller,
                    ListRetirableGrantsRequest {
                        retiring_principal: required("retiringPrincipal", i.retiring_principal)?,
                        limit: int("limit", i.limit)?,
                        marker: i.marker,
                    },
                )?
            };
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct ConstraintsOut<'a> {
                #[serde(skip_serializing_if = "Option::is_none")]
                encryption_context_equals: Option<&'a BTreeMap<String, String>>,
                #[serde(skip_serializing_if = "Option::is_none")]
                encryption_context_subset: Option<&'a BTreeMap<String, String>>,
            }
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Entry<'a> {
                key_id: &'a str,
                grant_id: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                name: Option<&'a str>,
                #[serde(serialize_with = "ser_time")]
                creation_date: SystemTime,
                grantee_principal: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                retiring_principal: Option<&'a str>,
                issuing_account: &'a str,
                operations: Vec<&'static str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                constraints: Option<ConstraintsOut<'a>>,
            }
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Grants<'a> {
                grants: Vec<Entry<'a>>,
            }
            let grants = r
                .grants
                .iter()
                .map(|g| Entry {
                    key_id: &g.key_id,
                    grant_id: &g.grant_id,
                    name: g.name.as_deref(),
                    creation_date: g.creation_date,
                    grantee_principal: &g.grantee_principal,
                    retiring_principal: g.retiring_principal.as_deref(),
                    issuing_account: &g.issuing_account,
                    operations: g.operations.iter().map(|o| o.as_str()).collect(),
                    constraints: g.constraints.as_ref().map(|c| ConstraintsOut {
                        encryption_context_equals: c.encryption_context_equals.as_ref(),
                        encryption_context_subset: c.encryption_context_subset.as_ref(),
                    }),
                })
                .collect();
            encode(
                &Page {
                    next_marker: r.next_marker.as_deref(),
                    truncated: r.truncated,
                    items: Grants { grants },
                },
                0,
            )
        }
        "RetireGrant" => {
            let i: RetireGrantIn = decode(body)?;
            kms.retire_grant(
                caller,
                RetireGrantRequest {
                    grant_token: i.grant_token,
                    key_id: i.key_id,
                    grant_id: i.grant_id,
                    dry_run: i.dry_run.unwrap_or(false),
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        "RevokeGrant" => {
            let i: RetireGrantIn = decode(body)?;
            kms.revoke_grant(
                caller,
                RevokeGrantRequest {
                    key_id: required("keyId", i.key_id)?,
                    grant_id: required("grantId", i.grant_id)?,
                    dry_run: i.dry_run.unwrap_or(false),
                },
            )?;
            Ok(EMPTY.to_vec())
        }
        other if AWS_OPERATIONS.contains(&other) => Err(ApiError::unsupported(format!(
            "The {other} operation is not supported by coffer."
        ))),
        _ => Err(unknown_operation()),
    }
}

/// The answer to a target that names no AWS KMS operation.
pub(crate) fn unknown_operation() -> ApiError {
    ApiError::new(
        "UnknownOperationException",
        "The requested operation is not recognized.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_operations_are_exactly_the_dispatched_ones() {
        let kms = Kms::builder().build().unwrap();
        let caller = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        for op in AWS_OPERATIONS {
            let r = dispatch(&kms, &caller, op, b"{}");
            let unsupported = matches!(&r, Err(e) if e.code() == "UnsupportedOperationException"
                && e.message().contains(op));
            assert_eq!(
                unsupported,
                !SUPPORTED_OPERATIONS.contains(op),
                "{op}: {r:?}"
            );
        }
        for op in SUPPORTED_OPERATIONS {
            assert!(AWS_OPERATIONS.contains(op), "{op}");
        }
        assert_eq!(
            dispatch(&kms, &caller, "NoSuchOperation", b"{}")
                .unwrap_err()
                .code(),
            "UnknownOperationException"
        );
    }

    /// The wire's list of AWS names is the operation table plus GetKeyLastUsage (in the
    /// service model, not yet in the table: nothing serves it).
    #[test]
    fn aws_operations_are_the_table() {
        let mut table: Vec<&str> = Operation::ALL.iter().map(|op| op.as_str()).collect();
        table.push("GetKeyLastUsage");
        table.sort_unstable();
        let mut wire = AWS_OPERATIONS.to_vec();
        wire.sort_unstable();
        assert_eq!(wire, table);
    }

    /// Served = dispatched (above) = metric labels = audit event names.
    #[test]
    fn served_operations_have_metric_labels_and_audit_names() {
        use std::sync::Arc;

        use coffer::audit_log::MemorySink;

        use crate::metrics::Metrics;

        let sink = Arc::new(MemorySink::new());
        let kms = Kms::builder().audit_sink(sink.clone()).build().unwrap();
        let caller = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        let metrics = Metrics::new();
        let served: Vec<Operation> = Operation::ALL
            .iter()
            .copied()
            .filter(|op| op.served())
            .collect();
        assert_eq!(
            served.iter().map(|op| op.as_str()).collect::<Vec<_>>(),
            SUPPORTED_OPERATIONS
        );
        let mut recorded = Vec::new();
        for op in served {
            let name = op.as_str();
            assert_eq!(metrics.label(Metrics::kms_op(name)), name);
            sink.clear();
            let _ = dispatch(&kms, &caller, name, b"{}");
            // An empty body fails decoding for most operations before any call begins; the
            // ones that record show the operation's name and its read-only column.
            let events = sink.events();
            assert!(events.len() <= 1, "{name}");
            if let Some(e) = events.first() {
                assert_eq!(e.event_name, name);
                assert_eq!(e.read_only, op.is_read_only(), "{name}");
                recorded.push(op);
            }
        }
        for op in [
            Operation::CreateKey,
            Operation::ListKeys,
            Operation::ListAliases,
            Operation::GenerateRandom,
        ] {
            assert!(recorded.contains(&op), "{op:?}");
        }
    }
}
