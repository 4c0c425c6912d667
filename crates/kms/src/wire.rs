//! The AWS KMS JSON 1.1 codec of the facade's requests and responses (feature `wire`): member
//! names and shapes as the service model (`kms/2014-11-01`) gives them, blobs base64,
//! timestamps epoch seconds, enumerations by their AWS names.
//!
//! Each request type decodes and validates itself ([`WireRequest`]), each response type
//! encodes itself ([`WireResponse`]); [`Kms::call_wire`](crate::Kms::call_wire), generated from
//! the operation table in `api.rs`, runs decode → call → encode for every served operation.
//! Errors are the facade's: a body that is not JSON or has a member of the wrong JSON type is
//! `SerializationException` (the message names the position, never the value), a missing
//! required member or an out-of-range value `ValidationException` worded as AWS words it, and a
//! member coffer does not support `UnsupportedOperationException`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::{EncryptionContext, Error, Operation, SecretBytes};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A request that can be read from its JSON 1.1 body.
pub trait WireRequest: Sized {
    /// Decodes and validates the body of `op` (the operations sharing a request type differ
    /// only in the operation their messages name).
    fn from_wire(op: Operation, body: &[u8]) -> Result<Self, Error>;
}

/// A response that can be written as its JSON 1.1 body.
pub trait WireResponse {
    /// The JSON body.
    fn to_wire(&self) -> Result<Vec<u8>, Error>;
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------------------------

/// Decodes a request body (empty means `{}`). Wrong JSON or wrong types are
/// SerializationException; the message names the position, never the value.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
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
        Error::serialization(format!(
            "The request body {what} (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })
}

fn null_error(field: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn required<T>(field: &str, v: Option<T>) -> Result<T, Error> {
    v.ok_or_else(|| null_error(field))
}

/// An integer member: out of the `u32` range is a ValidationException (the facade checks the
/// model's narrower ranges).
fn int(field: &str, v: Option<i64>) -> Result<Option<u32>, Error> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| {
            let bound = if n < 0 {
                "Member must have value greater than or equal to 1"
            } else {
                "Member must have value less than or equal to 2147483647"
            };
            Error::validation(format!(
                "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: {bound}"
            ))
        })
    })
    .transpose()
}

/// An enumeration of the model: parsed from and named by its AWS spelling.
trait WireEnum: Copy + 'static {
    const ALL: &'static [Self];
    fn parse(s: &str) -> Option<Self>;
    fn as_str(self) -> &'static str;
}

macro_rules! wire_enums {
    ($($t:ty),+) => {$(
        impl WireEnum for $t {
            const ALL: &'static [Self] = <$t>::ALL;
            fn parse(s: &str) -> Option<Self> { <$t>::parse(s) }
            fn as_str(self) -> &'static str { <$t>::as_str(self) }
        }
    )+};
}

wire_enums!(
    KeyUsage,
    KeySpec,
    DataKeySpec,
    Origin,
    EncryptionAlgorithmSpec,
    MacAlgorithmSpec,
    SigningAlgorithmSpec,
    MessageType,
    KeyAgreementAlgorithmSpec,
    EncapsulationAlgorithmSpec,
    DataKeyPairSpec,
    AlgorithmSpec,
    WrappingKeySpec,
    ExpirationModel
);

/// An enumeration member, by its AWS spelling; another value is a ValidationException.
fn enumeration<T: WireEnum>(field: &str, v: Option<String>) -> Result<Option<T>, Error> {
    let Some(s) = v else { return Ok(None) };
    T::parse(&s).map(Some).ok_or_else(|| {
        let set: Vec<&str> = T::ALL.iter().map(|t| t.as_str()).collect();
        // The value is an enumeration name the client chose, not a secret; keep it short.
        let shown: String = s.chars().take(64).collect();
        Error::validation(format!(
            "1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            set.join(", ")
        ))
    })
}

/// A member coffer does not support: present is UnsupportedOperationException.
fn unsupported_member(op: Operation, member: &str, present: bool) -> Result<(), Error> {
    if present {
        Err(Error::unsupported(format!(
            "{}: the {member} parameter is not supported by coffer.",
            op.as_str()
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

fn tags(v: Option<Vec<TagIn>>) -> Result<Vec<Tag>, Error> {
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

pub(crate) fn ser_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(epoch(*t))
}

pub(crate) fn ser_opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_f64(epoch(*t)),
        None => s.serialize_none(),
    }
}

pub(crate) fn ser_blob<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&B64.encode(b))
}

pub(crate) fn ser_display<T: fmt::Display, S: Serializer>(t: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// A secret blob, encoded into a zeroizing buffer and written into the response from there.
pub(crate) fn ser_secret<S: Serializer>(b: &SecretBytes, s: S) -> Result<S::Ok, S::Error> {
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

/// Algorithm names, as KeyMetadata lists them.
pub(crate) fn ser_algorithms<S: Serializer>(
    v: &[EncryptionAlgorithmSpec],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|a| a.as_str()))
}

/// An optional enumeration member by its AWS name.
pub(crate) fn ser_opt_display<T: fmt::Display, S: Serializer>(
    t: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

/// A list of enumeration members by their AWS names.
pub(crate) fn ser_names<T: fmt::Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|a| a.to_string()))
}

/// MAC algorithm names, as KeyMetadata lists them.
pub(crate) fn ser_mac_algorithms<S: Serializer>(
    v: &[MacAlgorithmSpec],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|a| a.as_str()))
}

/// Grant operation names, as a grant lists them.
pub(crate) fn ser_grant_operations<S: Serializer>(
    v: &[GrantOperation],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|o| o.as_str()))
}

/// A grant's constraints: the members it has.
pub(crate) fn ser_constraints<S: Serializer>(
    c: &Option<GrantConstraints>,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        encryption_context_equals: Option<&'a BTreeMap<String, String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encryption_context_subset: Option<&'a BTreeMap<String, String>>,
    }
    c.as_ref()
        .map(|c| Out {
            encryption_context_equals: c.encryption_context_equals.as_ref(),
            encryption_context_subset: c.encryption_context_subset.as_ref(),
        })
        .serialize(s)
}

/// Writes a response; `secret_len` is the length of the secret it holds (0 for none).
fn encode<T: Serialize>(v: &T, secret_len: usize) -> Result<Vec<u8>, Error> {
    // Room for the whole answer up front, so a response holding a secret is not reallocated
    // (which would leave unwiped copies behind).
    let mut out = Vec::with_capacity(1024 + secret_len.saturating_mul(2));
    serde_json::to_writer(&mut out, v).map_err(Error::internal)?;
    Ok(out)
}

/// A JSON object written field by field, for the answers every data-plane call gets (Encrypt,
/// Decrypt, ReEncrypt, GenerateDataKey and GenerateDataKeyWithoutPlaintext): a blob's base64
/// goes straight into the output, since the base64 alphabet needs no JSON escape, where serde
/// scans every byte of every string for one (~13 % of Encrypt's dispatch in instructions).
/// Each such answer is held to its serde encoding by a property test
/// (`hot_answers_are_written_as_serde_writes_them`).
struct JsonObject {
    out: Vec<u8>,
    empty: bool,
}

impl JsonObject {
    /// An object with room for `capacity` bytes: enough for the whole answer when it holds a
    /// secret, which must not be copied by a reallocation.
    fn with_capacity(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        Self { out, empty: true }
    }

    fn key(&mut self, name: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A string member, escaped as JSON requires.
    fn string(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.key(name);
        serde_json::to_writer(&mut self.out, value).map_err(Error::internal)
    }

    /// A member holding `bytes` in base64, written in place.
    fn base64(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        self.key(name);
        let len = base64::encoded_len(bytes.len(), true)
            .ok_or_else(|| Error::internal("blob too long"))?;
        self.out.push(b'"');
        let start = self.out.len();
        self.out.resize(start + len, 0);
        let n = self
            .out
            .get_mut(start..)
            .and_then(|dst| B64.encode_slice(bytes, dst).ok())
            .ok_or_else(|| Error::internal("base64"))?;
        self.out.truncate(start + n);
        self.out.push(b'"');
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Room for a string member's value however it is escaped: at most six bytes (`\u00XX`) for
/// each byte, and its quotes. An answer holding a secret reserves this for every string it
/// writes, so its buffer is never reallocated (which would leave an unwiped copy behind)
/// whatever the strings hold.
fn escaped_room(s: &str) -> usize {
    s.len().saturating_mul(6).saturating_add(2)
}

/// Room for `bytes` as base64, with its quotes.
fn base64_room(bytes: &[u8]) -> usize {
    bytes.len().div_ceil(3).saturating_mul(4).saturating_add(2)
}

/// Room for Decrypt's whole answer: member names and punctuation (under 128 bytes), the
/// plaintext's base64 and every string escaped at worst.
fn decrypt_room(r: &DecryptResponse) -> usize {
    128 + escaped_room(&r.key_id)
        + base64_room(r.plaintext.expose())
        + escaped_room(r.encryption_algorithm.as_str())
        + r.key_material_id.as_deref().map_or(0, escaped_room)
}

/// Room for GenerateDataKey's whole answer, as [`decrypt_room`].
fn generate_data_key_room(r: &GenerateDataKeyResponse) -> usize {
    128 + base64_room(&r.ciphertext_blob)
        + base64_room(r.plaintext.expose())
        + escaped_room(&r.key_id)
}

impl WireResponse for EncryptResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        let mut o = JsonObject::with_capacity(
            128 + self.key_id.len() + self.ciphertext_blob.len().saturating_mul(2),
        );
        o.base64("CiphertextBlob", &self.ciphertext_blob)?;
        o.string("KeyId", &self.key_id)?;
        o.string("EncryptionAlgorithm", self.encryption_algorithm.as_str())?;
        Ok(o.finish())
    }
}

impl WireResponse for DecryptResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        let mut o = JsonObject::with_capacity(decrypt_room(self));
        o.string("KeyId", &self.key_id)?;
        o.base64("Plaintext", self.plaintext.expose())?;
        o.string("EncryptionAlgorithm", self.encryption_algorithm.as_str())?;
        if let Some(id) = &self.key_material_id {
            o.string("KeyMaterialId", id)?;
        }
        Ok(o.finish())
    }
}

impl WireResponse for ReEncryptResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        let mut o = JsonObject::with_capacity(
            192 + self.source_key_id.len()
                + self.key_id.len()
                + self.ciphertext_blob.len().saturating_mul(2),
        );
        o.base64("CiphertextBlob", &self.ciphertext_blob)?;
        o.string("SourceKeyId", &self.source_key_id)?;
        o.string("KeyId", &self.key_id)?;
        o.string(
            "SourceEncryptionAlgorithm",
            self.source_encryption_algorithm.as_str(),
        )?;
        o.string(
            "DestinationEncryptionAlgorithm",
            self.destination_encryption_algorithm.as_str(),
        )?;
        Ok(o.finish())
    }
}

impl WireResponse for GenerateDataKeyResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        let mut o = JsonObject::with_capacity(generate_data_key_room(self));
        o.base64("CiphertextBlob", &self.ciphertext_blob)?;
        o.base64("Plaintext", self.plaintext.expose())?;
        o.string("KeyId", &self.key_id)?;
        Ok(o.finish())
    }
}

impl WireResponse for GenerateDataKeyWithoutPlaintextResponse {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        let mut o = JsonObject::with_capacity(
            64 + self.key_id.len() + self.ciphertext_blob.len().saturating_mul(2),
        );
        o.base64("CiphertextBlob", &self.ciphertext_blob)?;
        o.string("KeyId", &self.key_id)?;
        Ok(o.finish())
    }
}

/// The answer of an operation that returns nothing.
impl WireResponse for () {
    fn to_wire(&self) -> Result<Vec<u8>, Error> {
        Ok(b"{}".to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: each decodes its shape, then validates into the facade's type
// ---------------------------------------------------------------------------------------------

/// A wire request that reads an input shape `In` and validates it into `Self`.
macro_rules! request {
    ($t:ty, $in:ty, |$op:pat_param, $i:ident| $body:expr) => {
        impl WireRequest for $t {
            fn from_wire(op: Operation, body: &[u8]) -> Result<Self, Error> {
                let $i: $in = decode(body)?;
                let $op = op;
                $body
            }
        }
    };
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdIn {
    key_id: Option<String>,
}

request!(KeyIdRequest, KeyIdIn, |_, i| Ok(KeyIdRequest {
    key_id: required("keyId", i.key_id)?,
}));

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

request!(CreateKeyRequest, CreateKeyIn, |op, i| {
    unsupported_member(op, "XksKeyId", i.xks_key_id.is_some())?;
    Ok(CreateKeyRequest {
        policy: i.policy,
        description: i.description,
        key_usage: enumeration("keyUsage", i.key_usage)?,
        key_spec: enumeration("keySpec", i.key_spec)?,
        customer_master_key_spec: enumeration("customerMasterKeySpec", i.customer_master_key_spec)?,
        origin: enumeration("origin", i.origin)?,
        bypass_policy_lockout_safety_check: i.bypass_policy_lockout_safety_check.unwrap_or(false),
        tags: tags(i.tags)?,
        multi_region: i.multi_region,
        custom_key_store_id: i.custom_key_store_id,
    })
});

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeKeyIn {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
}

request!(DescribeKeyRequest, DescribeKeyIn, |_, i| Ok(
    DescribeKeyRequest {
        key_id: required("keyId", i.key_id)?,
        grant_tokens: i.grant_tokens.unwrap_or_default(),
    }
));

/// The members of the list operations.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIn {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
    include_key_material: Option<String>,
}

request!(ListKeysRequest, ListIn, |_, i| Ok(ListKeysRequest {
    limit: int("limit", i.limit)?,
    marker: i.marker,
}));

request!(ListKeyPoliciesRequest, ListIn, |_, i| Ok(
    ListKeyPoliciesRequest {
        key_id: required("keyId", i.key_id)?,
        limit: int("limit", i.limit)?,
        marker: i.marker,
    }
));

request!(ListAliasesRequest, ListIn, |_, i| Ok(ListAliasesRequest {
    key_id: i.key_id,
    limit: int("limit", i.limit)?,
    marker: i.marker,
}));

request!(ListResourceTagsRequest, ListIn, |_, i| Ok(
    ListResourceTagsRequest {
        key_id: required("keyId", i.key_id)?,
        limit: int("limit", i.limit)?,
        marker: i.marker,
    }
));

request!(ListKeyRotationsRequest, ListIn, |_, i| {
    match i.include_key_material.as_deref() {
        None | Some("ROTATIONS_ONLY") => {}
        Some("ALL_KEY_MATERIAL") => {
            return Err(Error::unsupported(
                "ListKeyRotations: IncludeKeyMaterial ALL_KEY_MATERIAL is not supported by coffer.",
            ))
        }
        Some(_) => {
            return Err(Error::validation(
                "1 validation error detected: Value at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
            ))
        }
    }
    Ok(ListKeyRotationsRequest {
        key_id: required("keyId", i.key_id)?,
        limit: int("limit", i.limit)?,
        marker: i.marker,
    })
});

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleIn {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

request!(ScheduleKeyDeletionRequest, ScheduleIn, |_, i| Ok(
    ScheduleKeyDeletionRequest {
        key_id: required("keyId", i.key_id)?,
        pending_window_in_days: int("pendingWindowInDays", i.pending_window_in_days)?,
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateDescriptionIn {
    key_id: Option<String>,
    description: Option<String>,
}

request!(UpdateKeyDescriptionRequest, UpdateDescriptionIn, |_, i| Ok(
    UpdateKeyDescriptionRequest {
        key_id: required("keyId", i.key_id)?,
        description: required("description", i.description)?,
    }
));

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

request!(EncryptRequest, EncryptIn, |_, i| Ok(EncryptRequest {
    key_id: required("keyId", i.key_id)?,
    plaintext: required("plaintext", i.plaintext)?.0,
    encryption_context: context(i.encryption_context),
    grant_tokens: i.grant_tokens.unwrap_or_default(),
    encryption_algorithm: enumeration("encryptionAlgorithm", i.encryption_algorithm)?,
    dry_run: i.dry_run.unwrap_or(false),
}));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MacIn {
    key_id: Option<String>,
    message: Option<Blob>,
    mac_algorithm: Option<String>,
    mac: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

request!(GenerateMacRequest, MacIn, |_, i| Ok(GenerateMacRequest {
    key_id: required("keyId", i.key_id)?,
    message: required("message", i.message)?.0,
    mac_algorithm: Some(required(
        "macAlgorithm",
        enumeration("macAlgorithm", i.mac_algorithm)?
    )?),
    grant_tokens: i.grant_tokens.unwrap_or_default(),
    dry_run: i.dry_run.unwrap_or(false),
}));

request!(VerifyMacRequest, MacIn, |_, i| Ok(VerifyMacRequest {
    key_id: required("keyId", i.key_id)?,
    message: required("message", i.message)?.0,
    mac_algorithm: Some(required(
        "macAlgorithm",
        enumeration("macAlgorithm", i.mac_algorithm)?
    )?),
    mac: required("mac", i.mac)?.0,
    grant_tokens: i.grant_tokens.unwrap_or_default(),
    dry_run: i.dry_run.unwrap_or(false),
}));

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

request!(DecryptRequest, DecryptIn, |op, i| {
    unsupported_member(op, "Recipient", i.recipient.is_some())?;
    unsupported_member(op, "DryRunModifiers", i.dry_run_modifiers.is_some())?;
    Ok(DecryptRequest {
        ciphertext_blob: required("ciphertextBlob", i.ciphertext_blob)?.0,
        encryption_context: context(i.encryption_context),
        grant_tokens: i.grant_tokens.unwrap_or_default(),
        key_id: i.key_id,
        encryption_algorithm: enumeration("encryptionAlgorithm", i.encryption_algorithm)?,
        dry_run: i.dry_run.unwrap_or(false),
    })
});

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

request!(ReEncryptRequest, ReEncryptIn, |op, i| {
    unsupported_member(op, "DryRunModifiers", i.dry_run_modifiers.is_some())?;
    Ok(ReEncryptRequest {
        ciphertext_blob: required("ciphertextBlob", i.ciphertext_blob)?.0,
        source_encryption_context: context(i.source_encryption_context),
        source_key_id: i.source_key_id,
        destination_key_id: required("destinationKeyId", i.destination_key_id)?,
        destination_encryption_context: context(i.destination_encryption_context),
        source_encryption_algorithm: enumeration(
            "sourceEncryptionAlgorithm",
            i.source_encryption_algorithm,
        )?,
        destination_encryption_algorithm: enumeration(
            "destinationEncryptionAlgorithm",
            i.destination_encryption_algorithm,
        )?,
        grant_tokens: i.grant_tokens.unwrap_or_default(),
        dry_run: i.dry_run.unwrap_or(false),
    })
});

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

request!(GenerateDataKeyRequest, DataKeyIn, |op, i| {
    unsupported_member(op, "Recipient", i.recipient.is_some())?;
    Ok(GenerateDataKeyRequest {
        key_id: required("keyId", i.key_id)?,
        encryption_context: context(i.encryption_context),
        number_of_bytes: int("numberOfBytes", i.number_of_bytes)?,
        key_spec: enumeration("keySpec", i.key_spec)?,
        grant_tokens: i.grant_tokens.unwrap_or_default(),
        dry_run: i.dry_run.unwrap_or(false),
    })
});

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RandomIn {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<serde_json::Value>,
}

request!(GenerateRandomRequest, RandomIn, |op, i| {
    unsupported_member(op, "CustomKeyStoreId", i.custom_key_store_id.is_some())?;
    unsupported_member(op, "Recipient", i.recipient.is_some())?;
    Ok(GenerateRandomRequest {
        number_of_bytes: int("numberOfBytes", i.number_of_bytes)?,
    })
});

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyIn {
    key_id: Option<String>,
    policy_name: Option<String>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
}

request!(PutKeyPolicyRequest, PolicyIn, |_, i| Ok(
    PutKeyPolicyRequest {
        key_id: required("keyId", i.key_id)?,
        policy_name: i.policy_name,
        policy: required("policy", i.policy)?,
        bypass_policy_lockout_safety_check: i.bypass_policy_lockout_safety_check.unwrap_or(false),
    }
));

request!(GetKeyPolicyRequest, PolicyIn, |_, i| Ok(
    GetKeyPolicyRequest {
        key_id: required("keyId", i.key_id)?,
        policy_name: i.policy_name,
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasIn {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

request!(AliasRequest, AliasIn, |_, i| Ok(AliasRequest {
    alias_name: required("aliasName", i.alias_name)?,
    target_key_id: required("targetKeyId", i.target_key_id)?,
}));

request!(DeleteAliasRequest, AliasIn, |_, i| Ok(DeleteAliasRequest {
    alias_name: required("aliasName", i.alias_name)?,
}));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceIn {
    key_id: Option<String>,
    tags: Option<Vec<TagIn>>,
}

request!(TagResourceRequest, TagResourceIn, |_, i| Ok(
    TagResourceRequest {
        key_id: required("keyId", i.key_id)?,
        tags: tags(Some(required("tags", i.tags)?))?,
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagIn {
    key_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

request!(UntagResourceRequest, UntagIn, |_, i| Ok(
    UntagResourceRequest {
        key_id: required("keyId", i.key_id)?,
        tag_keys: required("tagKeys", i.tag_keys)?,
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotationIn {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

request!(EnableKeyRotationRequest, RotationIn, |_, i| Ok(
    EnableKeyRotationRequest {
        key_id: required("keyId", i.key_id)?,
        rotation_period_in_days: int("rotationPeriodInDays", i.rotation_period_in_days)?,
    }
));

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

request!(CreateGrantRequest, CreateGrantIn, |_, i| {
    let operations = i
        .operations
        .ok_or_else(|| null_error("operations"))?
        .iter()
        .map(|o| {
            GrantOperation::parse(o).map_err(|_| {
                Error::validation(format!(
                    "1 validation error detected: Value '{o}' at 'operations' failed to satisfy constraint: Member must satisfy enum value set"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CreateGrantRequest {
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
    })
});

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

request!(ListGrantsRequest, ListGrantsIn, |_, i| Ok(
    ListGrantsRequest {
        key_id: required("keyId", i.key_id)?,
        limit: int("limit", i.limit)?,
        marker: i.marker,
        grant_id: i.grant_id,
        grantee_principal: i.grantee_principal,
    }
));

request!(ListRetirableGrantsRequest, ListGrantsIn, |_, i| Ok(
    ListRetirableGrantsRequest {
        retiring_principal: required("retiringPrincipal", i.retiring_principal)?,
        limit: int("limit", i.limit)?,
        marker: i.marker,
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetireGrantIn {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

request!(RetireGrantRequest, RetireGrantIn, |_, i| Ok(
    RetireGrantRequest {
        grant_token: i.grant_token,
        key_id: i.key_id,
        grant_id: i.grant_id,
        dry_run: i.dry_run.unwrap_or(false),
    }
));

request!(RevokeGrantRequest, RetireGrantIn, |_, i| Ok(
    RevokeGrantRequest {
        key_id: required("keyId", i.key_id)?,
        grant_id: required("grantId", i.grant_id)?,
        dry_run: i.dry_run.unwrap_or(false),
    }
));

// ---------------------------------------------------------------------------------------------
// Responses: the model's response types serialize themselves (`model.rs`, this feature)
// ---------------------------------------------------------------------------------------------

/// The responses, each written as the model type derives it; `=> member` names the secret it
/// holds (room for it is made up front, see [`encode`]).
macro_rules! responses {
    ($($t:ty $(=> $secret:ident)?),+ $(,)?) => {$(
        impl WireResponse for $t {
            fn to_wire(&self) -> Result<Vec<u8>, Error> {
                encode(self, 0 $(+ self.$secret.len())?)
            }
        }
    )+};
}

responses! {
    CreateKeyResponse,
    DescribeKeyResponse,
    KeyIdResponse,
    ListKeysResponse,
    ScheduleKeyDeletionResponse,
    GenerateMacResponse,
    VerifyMacResponse,
    GenerateRandomResponse => plaintext,
    GetKeyPolicyResponse => policy,
    ListKeyPoliciesResponse,
    ListAliasesResponse,
    ListResourceTagsResponse,
    GetKeyRotationStatusResponse,
    ListKeyRotationsResponse,
    CreateGrantResponse,
    ListGrantsResponse,
}

#[path = "wire_asym.rs"]
mod asym;
#[path = "custom_key_store_wire.rs"]
mod custom_key_store;
#[path = "wire_import.rs"]
mod import;
#[path = "multi_region_wire.rs"]
mod multi_region;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;

    fn json_of(r: &impl WireResponse) -> Value {
        serde_json::from_slice(&r.to_wire().unwrap()).unwrap()
    }

    fn text(any: &str) -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(any).unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The answers written field by field (Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
        /// GenerateDataKeyWithoutPlaintext) are byte for byte what serde writes from the model
        /// types: blobs of any size, key ids and key material ids with characters JSON must
        /// escape, with and without the optional member.
        #[test]
        fn hot_answers_are_written_as_serde_writes_them(
            blob in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..5000),
            key_id in text("(arn:aws:kms:us-east-1:111122223333:key/[0-9a-f-]{36}|[\\x00-\\x{10FFFF}]{0,40}|[\\x00-\\x1f\"\\\\]{20,40})"),
            material in proptest::option::of(text("[\\x00-\\x{10FFFF}]{0,64}")),
            alg in proptest::sample::select(EncryptionAlgorithmSpec::ALL),
            other_alg in proptest::sample::select(EncryptionAlgorithmSpec::ALL),
            data_key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1100),
            source_key_id in text("[\\x00-\\x{10FFFF}]{0,40}"),
        ) {
            let r = ReEncryptResponse {
                ciphertext_blob: blob.clone(),
                source_key_id: source_key_id.into(),
                key_id: key_id.as_str().into(),
                source_encryption_algorithm: other_alg,
                destination_encryption_algorithm: alg,
            };
            proptest::prop_assert_eq!(r.to_wire().unwrap(), encode(&r, 0).unwrap());
            let g = GenerateDataKeyResponse {
                ciphertext_blob: blob.clone(),
                plaintext: SecretBytes::new(data_key),
                key_id: key_id.as_str().into(),
            };
            let wire = g.to_wire().unwrap();
            // Written in the room reserved up front: never reallocated, so no copy of the data
            // key's base64 was left behind (a reallocation changes the capacity).
            proptest::prop_assert_eq!(wire.capacity(), generate_data_key_room(&g));
            proptest::prop_assert_eq!(wire, encode(&g, 0).unwrap());
            let w = GenerateDataKeyWithoutPlaintextResponse {
                ciphertext_blob: blob.clone(),
                key_id: key_id.as_str().into(),
            };
            proptest::prop_assert_eq!(w.to_wire().unwrap(), encode(&w, 0).unwrap());
            let e = EncryptResponse {
                ciphertext_blob: blob.clone(),
                key_id: key_id.as_str().into(),
                encryption_algorithm: alg,
            };
            proptest::prop_assert_eq!(e.to_wire().unwrap(), encode(&e, 0).unwrap());
            let d = DecryptResponse {
                key_id: key_id.into(),
                plaintext: SecretBytes::new(blob),
                encryption_algorithm: alg,
                key_material_id: material.map(Into::into),
            };
            let wire = d.to_wire().unwrap();
            proptest::prop_assert_eq!(wire.capacity(), decrypt_room(&d));
            proptest::prop_assert_eq!(wire, encode(&d, 0).unwrap());
        }
    }

    #[test]
    fn responses_are_the_model_types_in_aws_shapes() {
        let r = EncryptResponse {
            ciphertext_blob: vec![1, 2, 3],
            key_id: "arn:k".into(),
            encryption_algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
        };
        assert_eq!(
            json_of(&r),
            json!({"CiphertextBlob": "AQID", "KeyId": "arn:k", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
        );
        let r = GenerateRandomResponse {
            plaintext: SecretBytes::new(vec![0xff; 2]),
        };
        assert_eq!(json_of(&r), json!({"Plaintext": "//8="}));
        // Pages: no NextMarker when there is none; timestamps in epoch seconds (milliseconds).
        let r = ListAliasesResponse {
            aliases: vec![AliasListEntry {
                alias_name: "alias/a".into(),
                alias_arn: "arn:a".into(),
                target_key_id: "k".into(),
                creation_date: UNIX_EPOCH + Duration::from_millis(1_500),
                last_updated_date: UNIX_EPOCH + Duration::from_secs(2),
            }],
            next_marker: None,
            truncated: false,
        };
        let v = json_of(&r);
        assert_eq!(v["Truncated"], false);
        assert!(v.get("NextMarker").is_none());
        assert_eq!(v["Aliases"][0]["CreationDate"], 1.5);
        assert_eq!(v["Aliases"][0]["LastUpdatedDate"], 2.0);
        assert_eq!(v["Aliases"][0]["AliasName"], "alias/a");
        assert_eq!(().to_wire().unwrap(), b"{}");
    }

    fn err<T: WireRequest>(op: Operation, body: &str) -> Error {
        match T::from_wire(op, body.as_bytes()) {
            Ok(_) => panic!("{body} decoded"),
            Err(e) => e,
        }
    }

    #[test]
    fn requests_validate_as_aws_does() {
        let e = err::<EncryptRequest>(Operation::Encrypt, "{}");
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(
            e.message(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
        // Wrong JSON type: the position, never the value.
        let e = err::<EncryptRequest>(
            Operation::Encrypt,
            r#"{"KeyId": "k", "Plaintext": 12345678}"#,
        );
        assert_eq!(e.code(), "SerializationException");
        assert!(e.message().contains("line 1, column"), "{}", e.message());
        assert!(!e.message().contains("12345678"), "{}", e.message());
        let e = err::<DecryptRequest>(
            Operation::Decrypt,
            r#"{"CiphertextBlob": "AA==", "Recipient": {}}"#,
        );
        assert_eq!(e.code(), "UnsupportedOperationException");
        assert_eq!(
            e.message(),
            "Decrypt: the Recipient parameter is not supported by coffer."
        );
        let e = err::<CreateKeyRequest>(Operation::CreateKey, r#"{"KeyUsage": "NOPE"}"#);
        assert_eq!(e.code(), "ValidationException");
        assert!(
            e.message().contains("Value 'NOPE' at 'keyUsage'"),
            "{}",
            e.message()
        );
        // The operation sharing a request type is the one its message names.
        let e = err::<GenerateDataKeyRequest>(
            Operation::GenerateDataKeyWithoutPlaintext,
            r#"{"KeyId": "k", "Recipient": {}}"#,
        );
        assert!(e.message().starts_with("GenerateDataKeyWithoutPlaintext:"));
        // A plaintext decodes into its zeroizing buffer.
        let r = EncryptRequest::from_wire(
            Operation::Encrypt,
            br#"{"KeyId": "k", "Plaintext": "aGk="}"#,
        )
        .unwrap();
        assert_eq!(r.plaintext.expose(), b"hi");
    }

    #[test]
    fn mac_requests_and_responses() {
        let r = VerifyMacRequest::from_wire(
            Operation::VerifyMac,
            br#"{"KeyId": "alias/m", "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_384", "Mac": "AAE=", "DryRun": true}"#,
        )
        .unwrap();
        assert_eq!(r.key_id, "alias/m");
        assert_eq!(r.message, b"hi");
        assert_eq!(r.mac, [0, 1]);
        assert_eq!(r.mac_algorithm, Some(MacAlgorithmSpec::HmacSha384));
        assert!(r.dry_run);
        // MacAlgorithm is required, and must be one of the model's.
        let e = err::<GenerateMacRequest>(
            Operation::GenerateMac,
            r#"{"KeyId": "k", "Message": "aGk="}"#,
        );
        assert_eq!(e.code(), "ValidationException");
        assert!(e.message().contains("'macAlgorithm'"), "{e}");
        let e = err::<GenerateMacRequest>(
            Operation::GenerateMac,
            r#"{"KeyId": "k", "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_1"}"#,
        );
        assert_eq!(e.code(), "ValidationException");
        assert!(e.message().contains("HMAC_SHA_224, HMAC_SHA_256"), "{e}");
        let e = err::<VerifyMacRequest>(
            Operation::VerifyMac,
            r#"{"KeyId": "k", "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_256"}"#,
        );
        assert!(e.message().contains("'mac'"), "{e}");

        let g = GenerateMacResponse {
            mac: vec![0xff, 0x00],
            mac_algorithm: MacAlgorithmSpec::HmacSha256,
            key_id: "arn:k".into(),
        };
        assert_eq!(
            json_of(&g),
            json!({"Mac": "/wA=", "MacAlgorithm": "HMAC_SHA_256", "KeyId": "arn:k"})
        );
        let v = VerifyMacResponse {
            key_id: "arn:k".into(),
            mac_valid: true,
            mac_algorithm: MacAlgorithmSpec::HmacSha512,
        };
        assert_eq!(
            json_of(&v),
            json!({"KeyId": "arn:k", "MacValid": true, "MacAlgorithm": "HMAC_SHA_512"})
        );
    }
}
