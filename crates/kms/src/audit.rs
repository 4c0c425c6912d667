//! Auditing: one CloudTrail-shaped event per call, allowed or denied, success or failure.
//!
//! Every public operation runs inside a [`Call`]: the event is built from the request's
//! parameters (never a secret: plaintext, blobs and key material are not in them), and recorded
//! when the call ends, or — for a call that changes state — just before its transaction
//! commits, so that a sink that fails (fail-closed, the default) fails the call and the change is
//! rolled back: no committed change without its record.

use std::cell::{Cell, RefCell};

use coffer_audit::{AuditEvent, UserIdentity};
use coffer_keys::KeyRecord;
use serde_json::{json, Value};

use crate::model::*;
use crate::{Caller, Error, Kms, Operation};

/// Randomness for audit event ids, drawn from the service's source 1 KiB at a time: an id is not
/// a secret, only unique, and one system call per event would cost more than the rest of the
/// event (a forked child could repeat a buffered id; event ids name events, they protect
/// nothing).
pub(crate) struct EventIds {
    rng: std::sync::Arc<dyn coffer_crypto::RandomSource>,
    buf: parking_lot::Mutex<(Box<[u8; 1024]>, usize)>,
}

impl EventIds {
    pub(crate) fn new(rng: std::sync::Arc<dyn coffer_crypto::RandomSource>) -> Self {
        Self {
            rng,
            buf: parking_lot::Mutex::new((Box::new([0u8; 1024]), 1024)),
        }
    }
}

impl coffer_crypto::RandomSource for EventIds {
    fn fill(&self, dest: &mut [u8]) -> Result<(), coffer_crypto::CryptoError> {
        let mut guard = self.buf.lock();
        let (buf, pos) = &mut *guard;
        if dest.len() > buf.len() {
            return self.rng.fill(dest);
        }
        if *pos + dest.len() > buf.len() {
            self.rng.fill(&mut buf[..])?;
            *pos = 0;
        }
        dest.copy_from_slice(&buf[*pos..*pos + dest.len()]);
        *pos += dest.len();
        Ok(())
    }
}

/// Why a call was refused: the resource and, where authorization knows it, the reason (which
/// policy statement denied, or that nothing allowed). For the audit record's
/// `additionalEventData`; never for the caller.
#[derive(Debug)]
pub(crate) struct Denial {
    /// The resource refused: a key ARN, an alias ARN, or `*`.
    pub(crate) resource: String,
    /// Why, if authorization said.
    pub(crate) reason: Option<String>,
}

thread_local! {
    /// The denial of the call running on this thread. The facade's calls are synchronous, each
    /// on one thread from [`Call::begin`] to [`Call::finish`], so this slot is the call's own:
    /// `begin` empties it, authorization fills it as it refuses, `finish` takes it.
    static DENIAL: RefCell<Option<Denial>> = const { RefCell::new(None) };
}

/// Notes why the current call is being refused access (see [`Denial`]); the last note wins.
pub(crate) fn note_denial(resource: &str, reason: Option<String>) {
    DENIAL.with(|d| {
        *d.borrow_mut() = Some(Denial {
            resource: resource.to_owned(),
            reason,
        });
    });
}

fn take_denial() -> Option<Denial> {
    DENIAL.with(|d| d.borrow_mut().take())
}

fn sink_failed(e: coffer_audit::AuditError) -> Error {
    Error::internal(e)
}

/// One audited call.
pub(crate) struct Call<'a> {
    kms: &'a Kms,
    event: RefCell<Option<AuditEvent>>,
    /// The event could not be built (the random source failed): the call fails closed.
    broken: Cell<bool>,
    recorded: Cell<bool>,
}

impl<'a> Call<'a> {
    pub(crate) fn begin(kms: &'a Kms, caller: &Caller, op: Operation, params: Value) -> Self {
        let mut broken = false;
        let event = if kms.audit.is_some() {
            match AuditEvent::for_operation(
                &kms.event_ids,
                op,
                kms.clock.now(),
                &kms.region,
                identity_of(caller),
            ) {
                Ok(e) => Some(request_facts(e.request_parameters(params), caller)),
                Err(_) => {
                    broken = true;
                    None
                }
            }
        } else {
            None
        };
        // A denial noted before this call began is not this call's.
        let _ = take_denial();
        Self {
            kms,
            event: RefCell::new(event),
            broken: Cell::new(broken),
            recorded: Cell::new(false),
        }
    }

    /// Names a key the call concerns.
    pub(crate) fn resource(&self, arn: &str, account: &str) {
        let mut ev = self.event.borrow_mut();
        if let Some(e) = ev.take() {
            *ev = Some(if e.resources.iter().any(|r| r.arn == arn) {
                e
            } else {
                e.resource(arn, account)
            });
        }
    }

    fn record(&self, event: &AuditEvent) -> Result<(), Error> {
        match &self.kms.audit {
            Some(sink) => sink.record(event).map_err(sink_failed),
            None => Ok(()),
        }
    }

    /// Records the call as successful before its change commits; an error aborts the change.
    pub(crate) fn before_commit(&self) -> Result<(), Error> {
        if self.broken.get() {
            return Err(Error::internal(coffer_crypto::CryptoError));
        }
        if let Some(e) = self.event.borrow().as_ref() {
            self.record(e)?;
        }
        self.recorded.set(true);
        Ok(())
    }

    /// Ends the call: records its outcome unless it was recorded before commit.
    pub(crate) fn finish<T: AuditResponse>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if self.broken.get() && self.kms.audit.is_some() {
            return Err(Error::internal(coffer_crypto::CryptoError));
        }
        let Some(mut event) = self.event.borrow_mut().take() else {
            return result;
        };
        if self.recorded.get() {
            if let Err(e) = &result {
                // Recorded as a success, then the commit failed: say so.
                let failed = event.error(e.code(), e.message());
                let _ = self.record(&failed);
            }
            return result;
        }
        match &result {
            Ok(r) => {
                if let Some((arn, account)) = r.key() {
                    if !event.resources.iter().any(|x| x.arn == arn) {
                        event = event.resource(arn, account);
                    }
                }
                event = event.response_elements(r.elements());
            }
            Err(e) => {
                event = event.error(e.code(), e.message());
                if matches!(e, Error::AccessDenied { .. }) {
                    if let Some(denial) = take_denial() {
                        event = with_denial(event, denial);
                    }
                }
            }
        }
        self.record(&event)?;
        result
    }
}

impl Kms {
    /// Runs `body` as one audited call.
    pub(crate) fn audited<T: AuditResponse>(
        &self,
        caller: &Caller,
        op: Operation,
        params: Value,
        body: impl FnOnce(&Call<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let call = Call::begin(self, caller, op, params);
        let result = body(&call);
        call.finish(result)
    }

    /// Records a change made by the service itself (maintenance), before it commits.
    pub(crate) fn service_event(&self, name: &str, key: &KeyRecord) -> Result<(), Error> {
        let Some(sink) = &self.audit else {
            return Ok(());
        };
        let event = AuditEvent::new(
            &self.event_ids,
            name,
            self.clock.now(),
            &self.region,
            serde_json::from_value(
                json!({ "type": "AWSService", "invokedBy": "kms.amazonaws.com" }),
            )
            .unwrap_or_else(|_| UserIdentity::unknown(None)),
        )
        .map_err(sink_failed)?
        .request_parameters(json!({ "keyId": key.arn() }))
        .resource(key.arn(), key.account.as_str());
        sink.record(&event).map_err(sink_failed)
    }

    /// Records a call to an operation that lives outside the facade (cofferd's credential
    /// management, say): who made it (and from where, the caller's source IP), its parameters, and its outcome — `Ok` with the
    /// response elements or `Err` with an error code and message. The caller of this function
    /// must leave secrets out of both values. Fail-closed: an error means the record was not
    /// written, and a change should not be made (record before committing it).
    pub fn audit_external(
        &self,
        caller: &Caller,
        operation: &str,
        request_parameters: Value,
        outcome: Result<Value, (&str, &str)>,
    ) -> Result<(), Error> {
        let Some(sink) = &self.audit else {
            return Ok(());
        };
        let mut event = AuditEvent::new(
            &self.event_ids,
            operation,
            self.clock.now(),
            &self.region,
            identity_of(caller),
        )
        .map_err(sink_failed)?
        .request_parameters(request_parameters);
        event = match outcome {
            Ok(elements) => event.response_elements(elements),
            Err((code, message)) => event.error(code, message),
        };
        sink.record(&request_facts(event, caller))
            .map_err(sink_failed)
    }

    /// Records a request refused before it reached an operation (bad or missing signature,
    /// unknown access key, skewed clock, malformed body, throttled before authentication), so a
    /// server can audit those too. `operation` is the name the request gave, if it could be read.
    /// [`Self::audit_refused_request`] records the request id and user agent too.
    pub fn audit_refused(
        &self,
        operation: Option<&str>,
        access_key_id: Option<&str>,
        source_ip: Option<std::net::IpAddr>,
        error_code: &str,
        error_message: &str,
    ) -> Result<(), Error> {
        self.audit_refused_request(&RefusedRequest {
            operation,
            access_key_id,
            source_ip,
            request_id: None,
            user_agent: None,
            error: (error_code, error_message),
        })
    }

    /// Records a request refused before it reached an operation, as [`Self::audit_refused`],
    /// with the id the server answered it with and its user agent (cut to
    /// [`MAX_USER_AGENT_CHARS`](crate::MAX_USER_AGENT_CHARS) characters).
    pub fn audit_refused_request(&self, refused: &RefusedRequest<'_>) -> Result<(), Error> {
        let Some(sink) = &self.audit else {
            return Ok(());
        };
        let (error_code, error_message) = refused.error;
        let mut event = AuditEvent::refused(
            &self.event_ids,
            refused.operation,
            self.clock.now(),
            &self.region,
            UserIdentity::unknown(refused.access_key_id),
            error_code,
            error_message,
        )
        .map_err(sink_failed)?;
        if let Some(ip) = refused.source_ip {
            event = event.source_ip(ip.to_string());
        }
        if let Some(id) = refused.request_id {
            event = event.request_id(id);
        }
        if let Some(agent) = refused.user_agent {
            event = event.user_agent(crate::caller::cut_user_agent(agent));
        }
        sink.record(&event).map_err(sink_failed)
    }

    /// Records a summary of requests refused before an operation that a server counted instead
    /// of recording each one with [`Self::audit_refused`] (so that a flood of refused requests
    /// cannot fill the disk). The event is named `event_name` (cofferd:
    /// `RefusedRequestsSummary`), by an `Unknown` identity, from `source_ip` (`None`: sources
    /// the server did not track one by one), with `error_code` (the most frequent refusal) and
    /// `error_message`; `summary` (the counts: how many, when, which codes and claimed access
    /// key ids) becomes its `requestParameters`. The caller must leave secrets out of it.
    /// Fail-closed as every record: an error means the record was not written.
    pub fn audit_refused_summary(
        &self,
        event_name: &str,
        source_ip: Option<std::net::IpAddr>,
        error: (&str, &str),
        summary: Value,
    ) -> Result<(), Error> {
        let Some(sink) = &self.audit else {
            return Ok(());
        };
        let (error_code, error_message) = error;
        let mut event = AuditEvent::refused(
            &self.event_ids,
            Some(event_name),
            self.clock.now(),
            &self.region,
            UserIdentity::unknown(None),
            error_code,
            error_message,
        )
        .map_err(sink_failed)?
        .request_parameters(summary);
        if let Some(ip) = source_ip {
            event = event.source_ip(ip.to_string());
        }
        sink.record(&event).map_err(sink_failed)
    }
}

/// A request refused before it reached an operation, for [`Kms::audit_refused_request`].
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct RefusedRequest<'a> {
    /// The operation the request named, if it could be read.
    pub operation: Option<&'a str>,
    /// The access key id it claimed, if any (never trusted: it was not verified).
    pub access_key_id: Option<&'a str>,
    /// Where it came from.
    pub source_ip: Option<std::net::IpAddr>,
    /// The id the server answered it with (`x-amzn-RequestId`).
    pub request_id: Option<&'a str>,
    /// Its `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// The error code and message it was answered with.
    pub error: (&'a str, &'a str),
}

impl<'a> RefusedRequest<'a> {
    /// A refusal answered with `error_code` and `error_message`, nothing else known yet.
    pub fn new(error_code: &'a str, error_message: &'a str) -> Self {
        Self {
            error: (error_code, error_message),
            ..Self::default()
        }
    }

    /// Sets the operation the request named.
    #[must_use]
    pub fn operation(mut self, operation: Option<&'a str>) -> Self {
        self.operation = operation;
        self
    }

    /// Sets the access key id the request claimed.
    #[must_use]
    pub fn access_key_id(mut self, access_key_id: Option<&'a str>) -> Self {
        self.access_key_id = access_key_id;
        self
    }

    /// Sets the source address.
    #[must_use]
    pub fn source_ip(mut self, ip: std::net::IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// Sets the request id the server answered with.
    #[must_use]
    pub fn request_id(mut self, id: &'a str) -> Self {
        self.request_id = Some(id);
        self
    }

    /// Sets the request's `User-Agent`.
    #[must_use]
    pub fn user_agent(mut self, agent: Option<&'a str>) -> Self {
        self.user_agent = agent;
        self
    }
}

/// The request's facts the caller carries: `sourceIPAddress`, `userAgent`, `requestID`.
fn request_facts(mut event: AuditEvent, caller: &Caller) -> AuditEvent {
    if let Some(ip) = caller.source_ip {
        event = event.source_ip(ip.to_string());
    }
    if let Some(agent) = &caller.user_agent {
        event = event.user_agent(agent.clone());
    }
    if let Some(id) = &caller.request_id {
        event = event.request_id(id.clone());
    }
    event
}

/// A refused call's event with its [`Denial`]: the key refused among its `resources`, and
/// `additionalEventData.denialReason` / `deniedResource`.
fn with_denial(mut event: AuditEvent, denial: Denial) -> AuditEvent {
    if denial.resource.contains(":key/")
        && !event.resources.iter().any(|r| r.arn == denial.resource)
    {
        let account = arn_account(&denial.resource).to_owned();
        event = event.resource(denial.resource.clone(), account);
    }
    let mut data = serde_json::Map::new();
    data.insert("deniedResource".into(), Value::String(denial.resource));
    if let Some(reason) = denial.reason {
        data.insert("denialReason".into(), Value::String(reason));
    }
    event.additional_event_data(Value::Object(data))
}

/// The audit record's `userIdentity` of a caller, with the access key it signed with.
fn identity_of(caller: &Caller) -> UserIdentity {
    let identity = UserIdentity::from_caller(caller.identity());
    match &caller.access_key_id {
        Some(id) => identity.access_key_id(id.clone()),
        None => identity,
    }
}

/// What a response tells the audit record: the key it concerned and `responseElements`.
pub(crate) trait AuditResponse {
    /// The key ARN and account, where the response names one.
    fn key(&self) -> Option<(&str, &str)> {
        None
    }
    /// `responseElements` (`null` for none, as CloudTrail records many KMS calls).
    fn elements(&self) -> Value {
        Value::Null
    }
}

/// The account in a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

macro_rules! key_arn_response {
    ($($t:ty),+) => {
        $(impl AuditResponse for $t {
            fn key(&self) -> Option<(&str, &str)> {
                Some((&self.key_id, arn_account(&self.key_id)))
            }
            fn elements(&self) -> Value {
                json!({ "keyId": self.key_id })
            }
        })+
    };
}

macro_rules! quiet_response {
    ($($t:ty),+) => { $(impl AuditResponse for $t {})+ };
}

key_arn_response!(
    EncryptResponse,
    DecryptResponse,
    GenerateDataKeyResponse,
    GenerateDataKeyWithoutPlaintextResponse,
    KeyIdResponse,
    GetKeyRotationStatusResponse
);
quiet_response!(
    (),
    GenerateRandomResponse,
    ListKeysResponse,
    ListKeyRotationsResponse,
    ListAliasesResponse,
    ListResourceTagsResponse,
    GetKeyPolicyResponse,
    ListKeyPoliciesResponse,
    ListGrantsResponse
);

impl AuditResponse for CreateKeyResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.key_metadata.arn, &self.key_metadata.aws_account_id))
    }
    fn elements(&self) -> Value {
        json!({ "keyMetadata": {
            "keyId": self.key_metadata.key_id,
            "arn": self.key_metadata.arn,
            "keySpec": self.key_metadata.key_spec.as_str(),
            "keyUsage": self.key_metadata.key_usage.as_str(),
            "keyState": self.key_metadata.key_state.as_str(),
        }})
    }
}

impl AuditResponse for DescribeKeyResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.key_metadata.arn, &self.key_metadata.aws_account_id))
    }
}

impl AuditResponse for ReEncryptResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.source_key_id, arn_account(&self.source_key_id)))
    }
    fn elements(&self) -> Value {
        json!({ "sourceKeyId": self.source_key_id, "keyId": self.key_id })
    }
}

impl AuditResponse for ScheduleKeyDeletionResponse {
    fn key(&self) -> Option<(&str, &str)> {
        Some((&self.key_id, arn_account(&self.key_id)))
    }
    fn elements(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "keyState": self.key_state.as_str(),
            "pendingWindowInDays": self.pending_window_in_days,
        })
    }
}

impl AuditResponse for CreateGrantResponse {
    fn elements(&self) -> Value {
        json!({ "grantId": self.grant_id })
    }
}

fn context(c: &coffer_core::EncryptionContext) -> Value {
    if c.is_empty() {
        Value::Null
    } else {
        json!(c.as_map())
    }
}

/// `requestParameters` of each request: identifiers, sizes, algorithms and encryption contexts
/// (which CloudTrail records); never plaintext, ciphertext or key material.
pub(crate) trait AuditParams {
    fn params(&self) -> Value;
}

impl AuditParams for CreateKeyRequest {
    fn params(&self) -> Value {
        json!({
            "description": self.description,
            "keySpec": self.key_spec.or(self.customer_master_key_spec).map(|s| s.as_str()),
            "keyUsage": self.key_usage.map(|u| u.as_str()),
            "origin": self.origin.map(|o| o.as_str()),
            "bypassPolicyLockoutSafetyCheck": self.bypass_policy_lockout_safety_check,
            "tags": self.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
        })
    }
}

impl AuditParams for DescribeKeyRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for EncryptRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "encryptionContext": context(&self.encryption_context),
            "encryptionAlgorithm": self.encryption_algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault).as_str(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for DecryptRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "encryptionContext": context(&self.encryption_context),
            "encryptionAlgorithm": self.encryption_algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault).as_str(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for ReEncryptRequest {
    fn params(&self) -> Value {
        json!({
            "sourceKeyId": self.source_key_id,
            "destinationKeyId": self.destination_key_id,
            "sourceEncryptionContext": context(&self.source_encryption_context),
            "destinationEncryptionContext": context(&self.destination_encryption_context),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GenerateDataKeyRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "encryptionContext": context(&self.encryption_context),
            "keySpec": self.key_spec.map(|s| s.as_str()),
            "numberOfBytes": self.number_of_bytes,
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for GenerateRandomRequest {
    fn params(&self) -> Value {
        json!({ "numberOfBytes": self.number_of_bytes })
    }
}

impl AuditParams for KeyIdRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for UpdateKeyDescriptionRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "description": self.description })
    }
}

impl AuditParams for ListKeysRequest {
    fn params(&self) -> Value {
        json!({ "limit": self.limit })
    }
}

impl AuditParams for ScheduleKeyDeletionRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "pendingWindowInDays": self.pending_window_in_days })
    }
}

impl AuditParams for EnableKeyRotationRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "rotationPeriodInDays": self.rotation_period_in_days })
    }
}

impl AuditParams for ListKeyRotationsRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "limit": self.limit })
    }
}

impl AuditParams for AliasRequest {
    fn params(&self) -> Value {
        json!({ "aliasName": self.alias_name, "targetKeyId": self.target_key_id })
    }
}

impl AuditParams for DeleteAliasRequest {
    fn params(&self) -> Value {
        json!({ "aliasName": self.alias_name })
    }
}

impl AuditParams for ListAliasesRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "limit": self.limit })
    }
}

impl AuditParams for TagResourceRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "tags": self.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
        })
    }
}

impl AuditParams for UntagResourceRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "tagKeys": self.tag_keys })
    }
}

impl AuditParams for ListResourceTagsRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "limit": self.limit })
    }
}

impl AuditParams for PutKeyPolicyRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "policyName": self.policy_name.as_deref().unwrap_or("default"),
            "policy": self.policy,
            "bypassPolicyLockoutSafetyCheck": self.bypass_policy_lockout_safety_check,
        })
    }
}

impl AuditParams for GetKeyPolicyRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "policyName": self.policy_name.as_deref().unwrap_or("default") })
    }
}

impl AuditParams for ListKeyPoliciesRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id })
    }
}

impl AuditParams for CreateGrantRequest {
    fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "granteePrincipal": self.grantee_principal,
            "retiringPrincipal": self.retiring_principal,
            "operations": self.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            "constraints": self.constraints.as_ref().map(|c| json!({
                "encryptionContextEquals": c.encryption_context_equals,
                "encryptionContextSubset": c.encryption_context_subset,
            })),
            "name": self.name,
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for ListGrantsRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "grantId": self.grant_id, "granteePrincipal": self.grantee_principal })
    }
}

impl AuditParams for ListRetirableGrantsRequest {
    fn params(&self) -> Value {
        json!({ "retiringPrincipal": self.retiring_principal })
    }
}

impl AuditParams for RetireGrantRequest {
    fn params(&self) -> Value {
        // The token is a bearer credential: only whether one was given.
        json!({
            "keyId": self.key_id,
            "grantId": self.grant_id,
            "grantTokenGiven": self.grant_token.is_some(),
            "dryRun": self.dry_run,
        })
    }
}

impl AuditParams for RevokeGrantRequest {
    fn params(&self) -> Value {
        json!({ "keyId": self.key_id, "grantId": self.grant_id, "dryRun": self.dry_run })
    }
}

/// The public operations: each an audited call of its `_op`.
macro_rules! operations {
    ($($(#[$m:meta])* $name:ident($req:ty) -> $resp:ty = $op:ident, $inner:ident;)+) => {
        impl Kms {
            $(
                $(#[$m])*
                pub fn $name(&self, caller: &Caller, req: $req) -> Result<$resp, Error> {
                    let params = if self.audit.is_some() { req.params() } else { Value::Null };
                    self.audited(caller, Operation::$op, params, |call| self.$inner(caller, req, call))
                }
            )+
        }
    };
}

operations! {
    /// Creates a key in the caller's account.
    create_key(CreateKeyRequest) -> CreateKeyResponse = CreateKey, create_key_op;
    /// Describes a key, in any state. Accepts key ids, key ARNs, alias names and alias ARNs.
    describe_key(DescribeKeyRequest) -> DescribeKeyResponse = DescribeKey, describe_key_op;
    /// Encrypts up to 4096 bytes under a symmetric key, binding the encryption context.
    encrypt(EncryptRequest) -> EncryptResponse = Encrypt, encrypt_op;
    /// Decrypts a ciphertext blob. The blob names its key, so `key_id` is optional; when given
    /// it must name that key.
    decrypt(DecryptRequest) -> DecryptResponse = Decrypt, decrypt_op;
    /// Decrypts under one key and context and encrypts under another, without the plaintext
    /// leaving the service.
    re_encrypt(ReEncryptRequest) -> ReEncryptResponse = ReEncrypt, re_encrypt_op;
    /// Generates a data key and returns it both in plaintext and wrapped under the key.
    generate_data_key(GenerateDataKeyRequest) -> GenerateDataKeyResponse = GenerateDataKey, generate_data_key_op;
    /// Generates a data key and returns it only wrapped under the key.
    generate_data_key_without_plaintext(GenerateDataKeyRequest) -> GenerateDataKeyWithoutPlaintextResponse = GenerateDataKeyWithoutPlaintext, generate_data_key_without_plaintext_op;
    /// Returns 1–1024 random bytes from the service's random source.
    generate_random(GenerateRandomRequest) -> GenerateRandomResponse = GenerateRandom, generate_random_op;
    /// Replaces a key's policy. Refused if the caller could not call PutKeyPolicy under the new
    /// policy, unless `bypass_policy_lockout_safety_check` is set.
    put_key_policy(PutKeyPolicyRequest) -> () = PutKeyPolicy, put_key_policy_op;
    /// A key's policy document.
    get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse = GetKeyPolicy, get_key_policy_op;
    /// The names of a key's policies: always `default`.
    list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse = ListKeyPolicies, list_key_policies_op;
    /// Enables a disabled key (a no-op on an enabled one).
    enable_key(KeyIdRequest) -> () = EnableKey, enable_key_op;
    /// Disables a key: it can no longer be used until enabled again.
    disable_key(KeyIdRequest) -> () = DisableKey, disable_key_op;
    /// Replaces a key's description.
    update_key_description(UpdateKeyDescriptionRequest) -> () = UpdateKeyDescription, update_key_description_op;
    /// Lists the caller's account's keys, ordered by key id.
    list_keys(ListKeysRequest) -> ListKeysResponse = ListKeys, list_keys_op;
    /// Schedules a key for deletion after a waiting period of 7–30 days (default 30).
    schedule_key_deletion(ScheduleKeyDeletionRequest) -> ScheduleKeyDeletionResponse = ScheduleKeyDeletion, schedule_key_deletion_op;
    /// Cancels a scheduled deletion; the key is left disabled, as AWS leaves it.
    cancel_key_deletion(KeyIdRequest) -> KeyIdResponse = CancelKeyDeletion, cancel_key_deletion_op;
    /// Turns on automatic rotation every `rotation_period_in_days` (90–2560, default 365).
    enable_key_rotation(EnableKeyRotationRequest) -> () = EnableKeyRotation, enable_key_rotation_op;
    /// Turns off automatic rotation.
    disable_key_rotation(KeyIdRequest) -> () = DisableKeyRotation, disable_key_rotation_op;
    /// Whether automatic rotation is on, its period and next date.
    get_key_rotation_status(KeyIdRequest) -> GetKeyRotationStatusResponse = GetKeyRotationStatus, get_key_rotation_status_op;
    /// Rotates now: a new backing-key version becomes current; the automatic schedule does not
    /// move. At most 25 times per key.
    rotate_key_on_demand(KeyIdRequest) -> KeyIdResponse = RotateKeyOnDemand, rotate_key_on_demand_op;
    /// Completed rotations of a key, oldest first.
    list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse = ListKeyRotations, list_key_rotations_op;
    /// Creates an alias for a key of the caller's account.
    create_alias(AliasRequest) -> () = CreateAlias, create_alias_op;
    /// Points an existing alias at another key of the same type and usage.
    update_alias(AliasRequest) -> () = UpdateAlias, update_alias_op;
    /// Deletes an alias; the key is unaffected.
    delete_alias(DeleteAliasRequest) -> () = DeleteAlias, delete_alias_op;
    /// Lists the caller's aliases (all, or those of one key), ordered by name.
    list_aliases(ListAliasesRequest) -> ListAliasesResponse = ListAliases, list_aliases_op;
    /// Adds or replaces tags on a key (at most 50 in all).
    tag_resource(TagResourceRequest) -> () = TagResource, tag_resource_op;
    /// Removes tags from a key by tag key; absent keys are ignored.
    untag_resource(UntagResourceRequest) -> () = UntagResource, untag_resource_op;
    /// A key's tags.
    list_resource_tags(ListResourceTagsRequest) -> ListResourceTagsResponse = ListResourceTags, list_resource_tags_op;
    /// Creates a grant on a key.
    create_grant(CreateGrantRequest) -> CreateGrantResponse = CreateGrant, create_grant_op;
    /// The grants on a key.
    list_grants(ListGrantsRequest) -> ListGrantsResponse = ListGrants, list_grants_op;
    /// The grants of the caller's account that a retiring principal may retire.
    list_retirable_grants(ListRetirableGrantsRequest) -> ListGrantsResponse = ListRetirableGrants, list_retirable_grants_op;
    /// Retires a grant, by its token or by key ARN and grant id.
    retire_grant(RetireGrantRequest) -> () = RetireGrant, retire_grant_op;
    /// Revokes a grant; the caller needs kms:RevokeGrant on the key.
    revoke_grant(RevokeGrantRequest) -> () = RevokeGrant, revoke_grant_op;
}

#[cfg(test)]
mod refused_summary_tests {
    use std::sync::Arc;

    use coffer_audit::{FailureMode, MemorySink};
    use serde_json::json;

    use crate::Kms;

    fn kms_with(sink: Arc<MemorySink>) -> Kms {
        Kms::builder().audit_sink(sink).build().unwrap()
    }

    #[test]
    fn a_refusal_summary_is_one_unknown_caller_event_with_its_counts() {
        let sink = Arc::new(MemorySink::new());
        let kms = kms_with(sink.clone());
        let ip = "192.0.2.7".parse().unwrap();
        kms.audit_refused_summary(
            "RefusedRequestsSummary",
            Some(ip),
            ("InvalidSignatureException", "300 requests were refused"),
            json!({ "refusedRequests": 300, "accessKeyIds": ["AKIAEXAMPLE"], "signature": "x" }),
        )
        .unwrap();
        let e = sink.last().unwrap();
        assert_eq!(sink.len(), 1);
        assert_eq!(e.event_name, "RefusedRequestsSummary");
        assert_eq!(e.user_identity.kind, "Unknown");
        assert_eq!(e.user_identity.access_key_id, None);
        assert_eq!(e.source_ip_address.as_deref(), Some("192.0.2.7"));
        assert_eq!(e.error_code.as_deref(), Some("InvalidSignatureException"));
        let p = e.request_parameters.unwrap();
        assert_eq!(p["refusedRequests"], 300);
        // The audit log's redaction applies to summaries too.
        assert!(p.get("signature").is_none());
    }

    #[test]
    fn a_summary_that_cannot_be_written_is_an_error() {
        let sink = Arc::new(MemorySink::with_failure_mode(FailureMode::FailClosed));
        sink.set_failing(true);
        let kms = kms_with(sink.clone());
        assert!(kms
            .audit_refused_summary("RefusedRequestsSummary", None, ("X", "y"), json!({}))
            .is_err());
        assert!(sink.is_empty());
    }
}
