//! The CloudTrail-shaped event.

use std::borrow::Cow;
use std::time::SystemTime;

use coffer_core::{Caller, Operation, Region};
use coffer_crypto::RandomSource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{time, AuditError};

/// The `eventVersion` coffer writes (CloudTrail's current record version).
pub const EVENT_VERSION: &str = "1.08";
/// The `eventSource` of every event.
pub const EVENT_SOURCE: &str = "kms.amazonaws.com";
/// The resource `type` of a KMS key.
pub const KEY_RESOURCE_TYPE: &str = "AWS::KMS::Key";

/// Field names removed, at any depth and in any case, from `requestParameters` and
/// `responseElements`: CloudTrail never records plaintext, key material, import material,
/// ciphertext blobs, messages, signatures or MACs, and neither does coffer, whatever a caller
/// passes to the builder.
pub const REDACTED_FIELDS: &[&str] = &[
    "plaintext",
    "ciphertextblob",
    "sourceciphertextblob",
    "encryptedkeymaterial",
    "keymaterial",
    "importtoken",
    "privatekeyplaintext",
    "privatekeyciphertextblob",
    "message",
    "signature",
    "mac",
    "secretaccesskey",
    "sessiontoken",
];

/// One audit event, serialized exactly as CloudTrail names its fields.
///
/// Built with [`AuditEvent::new`] (or [`AuditEvent::refused`]) and the chained setters; the
/// fields are public for readers of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditEvent {
    /// Record format version, [`EVENT_VERSION`].
    pub event_version: Cow<'static, str>,
    /// Who called.
    pub user_identity: UserIdentity,
    /// When, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub event_time: String,
    /// Always [`EVENT_SOURCE`].
    pub event_source: Cow<'static, str>,
    /// The operation, e.g. `Encrypt`.
    pub event_name: Cow<'static, str>,
    /// The region that served the call.
    pub aws_region: String,
    /// The caller's address, where known.
    #[serde(
        rename = "sourceIPAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_ip_address: Option<String>,
    /// The caller's user agent, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The error code (an AWS exception name) of a failed or denied call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message of a failed or denied call (may carry detail the caller was not told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's parameters, secrets removed (`null` when none).
    pub request_parameters: Option<Value>,
    /// The response's elements, secrets removed (`null` when none, as for Encrypt).
    pub response_elements: Option<Value>,
    /// What the record adds beyond CloudTrail's fixed fields (coffer: `denialReason` and
    /// `deniedResource` of a refused call, which the caller is not told; `null` when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    /// The request id the caller was given.
    #[serde(rename = "requestID", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The cofferd node that served the call, when several share one database (each keeps its
    /// own log; `cofferd audit verify --node-dir` checks them together). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// This event's unique id (UUID v4).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the operation only reads (cryptographic operations count as reads, as in CloudTrail).
    pub read_only: bool,
    /// The keys concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Always `AwsApiCall`.
    pub event_type: Cow<'static, str>,
    /// Always `true`: KMS events are management events.
    pub management_event: bool,
    /// The account the event belongs to: the key's owner, else the caller's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_account_id: Option<String>,
    /// Always `Management`.
    pub event_category: Cow<'static, str>,
}

/// The caller, as CloudTrail's `userIdentity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSService` or `Unknown`.
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    /// The principal's unique id, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// The principal's ARN, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The principal's account, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key id that signed the request, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The IAM user name, for `IAMUser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

impl UserIdentity {
    /// The identity of an authenticated caller; the type is read from the ARN (`:root` → `Root`,
    /// `:user/` → `IAMUser` with its user name, `:assumed-role/` or `:role/` → `AssumedRole`).
    pub fn from_caller(caller: &Caller) -> Self {
        let arn = caller.principal_arn.as_str();
        let resource = coffer_core::arn_part(arn, 5).unwrap_or_default();
        let (kind, user_name, principal_id) = if resource == "root" {
            ("Root", None, Some(caller.account.as_str().to_owned()))
        } else if let Some(user) = resource.strip_prefix("user/") {
            let name = user.rsplit('/').next().unwrap_or(user);
            ("IAMUser", Some(name.to_owned()), None)
        } else if resource.starts_with("assumed-role/") || resource.starts_with("role/") {
            ("AssumedRole", None, None)
        } else {
            ("Unknown", None, None)
        };
        Self {
            kind: Cow::Borrowed(kind),
            principal_id,
            arn: Some(arn.to_owned()),
            account_id: Some(caller.account.as_str().to_owned()),
            access_key_id: None,
            user_name,
        }
    }

    /// An unauthenticated or unidentified caller (a refused request), with the access key id it
    /// claimed, if any.
    pub fn unknown(access_key_id: Option<&str>) -> Self {
        Self {
            kind: Cow::Borrowed("Unknown"),
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: access_key_id.map(str::to_owned),
            user_name: None,
        }
    }

    /// Sets the access key id that signed the request.
    #[must_use]
    pub fn access_key_id(mut self, id: impl Into<String>) -> Self {
        self.access_key_id = Some(id.into());
        self
    }

    /// Sets the principal's unique id.
    #[must_use]
    pub fn principal_id(mut self, id: impl Into<String>) -> Self {
        self.principal_id = Some(id.into());
        self
    }

    /// Sets the account (e.g. the account a claimed access key belongs to).
    #[must_use]
    pub fn account_id(mut self, account: impl Into<String>) -> Self {
        self.account_id = Some(account.into());
        self
    }
}

/// A resource touched by the call, as CloudTrail's `resources` entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Resource {
    /// The key's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The key's account.
    #[serde(rename = "accountId")]
    pub account_id: String,
    /// [`KEY_RESOURCE_TYPE`].
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
}

thread_local! {
    /// The last second formatted on this thread, and its text: events come many to a second.
    static LAST_SECOND: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// `time` as RFC 3339 to the second ([`time::rfc3339`]), formatted once per second per thread.
fn event_time(time: SystemTime) -> String {
    let Ok(since) = time.duration_since(std::time::UNIX_EPOCH) else {
        return time::rfc3339(time);
    };
    let secs = since.as_secs();
    LAST_SECOND.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.0 != secs {
            *last = (secs, time::rfc3339(time));
        }
        last.1.clone()
    })
}

/// A random (version 4) UUID in its hyphenated text form, for event and request ids.
pub fn uuid_v4(rng: &dyn RandomSource) -> Result<String, AuditError> {
    let mut b = [0u8; 16];
    rng.fill(&mut b).map_err(AuditError::Random)?;
    let mut text = uuid::Uuid::encode_buffer();
    Ok(uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned())
}

/// Whether CloudTrail marks a call `readOnly`: for a KMS operation, its row in the operation
/// table ([`Operation::is_read_only`]); for any other name (coffer's own management calls), the
/// `Describe*`, `Get*` and `List*` calls.
pub fn is_read_only_operation(event_name: &str) -> bool {
    match Operation::parse(event_name) {
        Some(op) => op.is_read_only(),
        None => {
            event_name.starts_with("Describe")
                || event_name.starts_with("Get")
                || event_name.starts_with("List")
        }
    }
}

impl AuditEvent {
    /// An event for a call to the KMS operation `op`: its name and `readOnly` from the
    /// operation table, otherwise as [`Self::new`].
    pub fn for_operation(
        rng: &dyn RandomSource,
        op: Operation,
        time: SystemTime,
        region: &Region,
        user: UserIdentity,
    ) -> Result<Self, AuditError> {
        Self::named(
            rng,
            Cow::Borrowed(op.as_str()),
            op.is_read_only(),
            time,
            region,
            user,
        )
    }

    /// An event for a call to `event_name` at `time` in `region` by `user`, with a fresh event id
    /// from `rng`; `readOnly` is set from the operation's name ([`is_read_only_operation`]) and
    /// `recipientAccountId` to the caller's account until [`Self::resource`] names the key's.
    pub fn new(
        rng: &dyn RandomSource,
        event_name: &str,
        time: SystemTime,
        region: &Region,
        user: UserIdentity,
    ) -> Result<Self, AuditError> {
        Self::named(
            rng,
            Cow::Owned(event_name.to_owned()),
            is_read_only_operation(event_name),
            time,
            region,
            user,
        )
    }

    /// [`Self::new`] with the name and `readOnly` decided by the caller (the fixed fields are
    /// borrowed from constants: an event allocates only what varies).
    fn named(
        rng: &dyn RandomSource,
        event_name: Cow<'static, str>,
        read_only: bool,
        time: SystemTime,
        region: &Region,
        user: UserIdentity,
    ) -> Result<Self, AuditError> {
        let recipient = user.account_id.clone();
        Ok(Self {
            event_version: Cow::Borrowed(EVENT_VERSION),
            user_identity: user,
            event_time: event_time(time),
            event_source: Cow::Borrowed(EVENT_SOURCE),
            event_name,
            aws_region: region.as_str().to_owned(),
            source_ip_address: None,
            user_agent: None,
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: None,
            node_id: None,
            event_id: uuid_v4(rng)?,
            read_only,
            resources: Vec::new(),
            event_type: Cow::Borrowed("AwsApiCall"),
            management_event: true,
            recipient_account_id: recipient,
            event_category: Cow::Borrowed("Management"),
        })
    }

    /// An event for a request refused before it reached an operation (bad or missing signature,
    /// unknown access key, skewed clock, malformed body, throttled before authentication).
    /// `event_name` is the operation the request named, if it could be read.
    #[allow(clippy::too_many_arguments)]
    pub fn refused(
        rng: &dyn RandomSource,
        event_name: Option<&str>,
        time: SystemTime,
        region: &Region,
        user: UserIdentity,
        error_code: &str,
        error_message: &str,
    ) -> Result<Self, AuditError> {
        let mut e = Self::new(rng, event_name.unwrap_or("Unknown"), time, region, user)?;
        e.error_code = Some(error_code.to_owned());
        e.error_message = Some(error_message.to_owned());
        Ok(e)
    }

    /// Sets `requestParameters` (secret fields removed, see [`REDACTED_FIELDS`]; `null` means none).
    #[must_use]
    pub fn request_parameters(mut self, params: Value) -> Self {
        self.set_request_parameters(params);
        self
    }

    /// Sets `requestParameters` in place (as [`Self::request_parameters`]: secret fields
    /// removed). The in-place setters serve a caller that keeps the event in a slot while a
    /// call runs: the event is large, and each builder call moves all of it.
    pub fn set_request_parameters(&mut self, params: Value) {
        self.request_parameters = scrubbed(params);
    }

    /// Sets `responseElements` (secret fields removed, see [`REDACTED_FIELDS`]; `null` means none).
    #[must_use]
    pub fn response_elements(mut self, elements: Value) -> Self {
        self.set_response_elements(elements);
        self
    }

    /// Sets `responseElements` in place (as [`Self::response_elements`]).
    pub fn set_response_elements(&mut self, elements: Value) {
        self.response_elements = scrubbed(elements);
    }

    /// Sets `additionalEventData` (secret fields removed, see [`REDACTED_FIELDS`]; `null` means
    /// none).
    #[must_use]
    pub fn additional_event_data(mut self, data: Value) -> Self {
        self.set_additional_event_data(data);
        self
    }

    /// Sets `additionalEventData` in place (as [`Self::additional_event_data`]).
    pub fn set_additional_event_data(&mut self, data: Value) {
        self.additional_event_data = scrubbed(data);
    }

    /// Marks the call failed or denied with an AWS error code and message.
    #[must_use]
    pub fn error(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.set_error(code, message);
        self
    }

    /// Marks the call failed or denied in place (as [`Self::error`]).
    pub fn set_error(&mut self, code: impl Into<String>, message: impl Into<String>) {
        self.error_code = Some(code.into());
        self.error_message = Some(message.into());
    }

    /// Adds a key the call concerned; the first one also sets `recipientAccountId`.
    #[must_use]
    pub fn resource(mut self, key_arn: impl Into<String>, account: impl Into<String>) -> Self {
        self.add_resource(key_arn, account);
        self
    }

    /// Adds a key the call concerned in place (as [`Self::resource`]).
    pub fn add_resource(&mut self, key_arn: impl Into<String>, account: impl Into<String>) {
        let account = account.into();
        if self.resources.is_empty() {
            self.recipient_account_id = Some(account.clone());
        }
        self.resources.push(Resource {
            arn: key_arn.into(),
            account_id: account,
            kind: Cow::Borrowed(KEY_RESOURCE_TYPE),
        });
    }

    /// Overrides `readOnly`.
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Sets `sourceIPAddress`.
    #[must_use]
    pub fn source_ip(mut self, ip: impl Into<String>) -> Self {
        self.source_ip_address = Some(ip.into());
        self
    }

    /// Sets `userAgent`.
    #[must_use]
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Sets `requestID`.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Whether the call failed or was denied.
    pub fn is_error(&self) -> bool {
        self.error_code.is_some()
    }

    /// The event as one line of JSON (no newline).
    pub fn to_json(&self) -> Result<String, AuditError> {
        serde_json::to_string(self).map_err(AuditError::Encode)
    }
}

fn scrubbed(mut v: Value) -> Option<Value> {
    scrub(&mut v);
    (!v.is_null()).then_some(v)
}

fn scrub(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !REDACTED_FIELDS.iter().any(|f| k.eq_ignore_ascii_case(f)));
            map.values_mut().for_each(scrub);
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::testing::DeterministicRandom;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    fn alice() -> Caller {
        Caller::new("arn:aws:iam::111122223333:user/ops/alice").unwrap()
    }

    #[test]
    fn encrypt_event_has_cloudtrail_shape() {
        let rng = DeterministicRandom::new(b"ev");
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let e = AuditEvent::new(
            &rng,
            "Encrypt",
            UNIX_EPOCH + Duration::from_secs(1_594_757_862),
            &Region::parse("us-east-1").unwrap(),
            UserIdentity::from_caller(&alice()).access_key_id("AKIAEXAMPLE"),
        )
        .unwrap()
        .request_parameters(json!({
            "keyId": key,
            "encryptionContext": {"Department": "IT"},
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "Plaintext": "c2VjcmV0",
        }))
        .response_elements(Value::Null)
        .resource(key, "111122223333")
        .source_ip("192.0.2.1")
        .user_agent("aws-cli/2")
        .request_id("req-1");
        let v: Value = serde_json::from_str(&e.to_json().unwrap()).unwrap();
        assert_eq!(v["eventVersion"], "1.08");
        assert_eq!(v["eventTime"], "2020-07-14T20:17:42Z");
        assert_eq!(v["eventSource"], "kms.amazonaws.com");
        assert_eq!(v["eventName"], "Encrypt");
        assert_eq!(v["awsRegion"], "us-east-1");
        assert_eq!(v["userIdentity"]["type"], "IAMUser");
        assert_eq!(v["userIdentity"]["userName"], "alice");
        assert_eq!(v["userIdentity"]["accountId"], "111122223333");
        assert_eq!(v["userIdentity"]["accessKeyId"], "AKIAEXAMPLE");
        assert_eq!(v["sourceIPAddress"], "192.0.2.1");
        assert_eq!(v["userAgent"], "aws-cli/2");
        assert_eq!(
            v["requestParameters"]["encryptionContext"]["Department"],
            "IT"
        );
        assert!(v["requestParameters"].get("Plaintext").is_none());
        assert_eq!(v["responseElements"], Value::Null);
        assert_eq!(v["requestID"], "req-1");
        assert_eq!(v["eventID"].as_str().unwrap().len(), 36);
        assert_eq!(v["readOnly"], true);
        assert_eq!(v["resources"][0]["ARN"], key);
        assert_eq!(v["resources"][0]["type"], "AWS::KMS::Key");
        assert_eq!(v["eventCategory"], "Management");
        assert_eq!(v["recipientAccountId"], "111122223333");
        assert!(v.get("errorCode").is_none());
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn secrets_are_scrubbed_at_any_depth_and_case() {
        let rng = DeterministicRandom::new(b"ev");
        let e = AuditEvent::new(
            &rng,
            "ImportKeyMaterial",
            UNIX_EPOCH,
            &Region::parse("eu-west-1").unwrap(),
            UserIdentity::unknown(None),
        )
        .unwrap()
        .request_parameters(json!({
            "keyId": "k",
            "EncryptedKeyMaterial": "AAAA",
            "importToken": "BBBB",
            "nested": [{"plaintext": "x", "keep": 1}],
        }))
        .response_elements(json!({"Plaintext": "x", "CiphertextBlob": "y", "keyId": "k"}));
        let s = e.to_json().unwrap();
        for secret in ["AAAA", "BBBB", "\"x\"", "\"y\""] {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
        assert!(s.contains("\"keep\":1"));
        assert!(!e.read_only);
    }

    #[test]
    fn event_time_is_rfc3339_whatever_the_cache_holds() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::from_millis(1_594_757_862_999),
            UNIX_EPOCH + Duration::from_millis(1_594_757_863_000),
            UNIX_EPOCH + Duration::from_secs(1_594_757_862),
            UNIX_EPOCH - Duration::from_secs(5),
            UNIX_EPOCH + Duration::from_secs(4_102_444_800),
        ] {
            assert_eq!(event_time(t), time::rfc3339(t));
            assert_eq!(event_time(t), time::rfc3339(t));
        }
    }

    #[test]
    fn event_ids_are_lowercase_hyphenated_v4() {
        let rng = DeterministicRandom::new(b"id");
        let id = uuid_v4(&rng).unwrap();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.hyphenated().to_string(), id);
    }

    #[test]
    fn identities_from_arns() {
        let root = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        let role = Caller::new("arn:aws:sts::111122223333:assumed-role/app/session").unwrap();
        assert_eq!(UserIdentity::from_caller(&root).kind, "Root");
        assert_eq!(
            UserIdentity::from_caller(&root).principal_id.as_deref(),
            Some("111122223333")
        );
        assert_eq!(UserIdentity::from_caller(&role).kind, "AssumedRole");
        assert_eq!(UserIdentity::unknown(Some("AKIA1")).kind, "Unknown");
    }

    #[test]
    fn refused_event_carries_error() {
        let rng = DeterministicRandom::new(b"ev");
        let e = AuditEvent::refused(
            &rng,
            None,
            UNIX_EPOCH,
            &Region::parse("us-east-1").unwrap(),
            UserIdentity::unknown(Some("AKIAUNKNOWN")),
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        .unwrap();
        assert_eq!(e.event_name, "Unknown");
        assert!(e.is_error());
        assert_eq!(e.error_code.as_deref(), Some("UnrecognizedClientException"));
        assert!(e.resources.is_empty());
        assert_eq!(e.recipient_account_id, None);
    }

    #[test]
    fn read_only_classification() {
        for r in [
            "Decrypt",
            "DescribeKey",
            "ListAliases",
            "GetKeyPolicy",
            "GenerateDataKey",
        ] {
            assert!(is_read_only_operation(r), "{r}");
        }
        for w in [
            "CreateKey",
            "ScheduleKeyDeletion",
            "PutKeyPolicy",
            "CreateAlias",
        ] {
            assert!(!is_read_only_operation(w), "{w}");
        }
    }

    /// The table's read-only column is what the audit log always wrote: the cryptographic
    /// operations (DeriveSharedSecret excepted) and the `Describe*`, `Get*` and `List*` calls.
    #[test]
    fn read_only_column_matches_cloudtrail_rule() {
        const READS: &[&str] = &[
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateRandom",
            "GenerateMac",
            "VerifyMac",
            "Sign",
            "Verify",
            "Encapsulate",
            "Decapsulate",
        ];
        for op in Operation::ALL {
            let name = op.as_str();
            let rule = READS.contains(&name)
                || name.starts_with("Describe")
                || name.starts_with("Get")
                || name.starts_with("List");
            assert_eq!(op.is_read_only(), rule, "{name}");
            assert_eq!(is_read_only_operation(name), rule, "{name}");
        }
        assert!(is_read_only_operation("ListCredentials"));
        assert!(!is_read_only_operation("CreateCredential"));
    }
}
