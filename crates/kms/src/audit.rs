//! Auditing: one CloudTrail-shaped event per call, allowed or denied, success or failure.
//!
//! Every public operation runs inside a [`Call`]: the event is built from the request's
//! parameters (never a secret: plaintext, blobs and key material are not in them), and recorded
//! when the call ends, or — for a call that changes state — just before its transaction
//! commits, so that a sink that fails (fail-closed, the default) fails the call and the change is
//! rolled back: no committed change without its record.

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::Arc;
use std::time::SystemTime;

use coffer_audit::{AuditEvent, UserIdentity};
use coffer_keys::KeyRecord;
use serde_json::{json, Value};

use crate::audit_shapes::{arn_account, AuditResponse};
use crate::kms::CachedKey;
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
/// policy statement denied, or that nothing allowed). Admission writes it on the [`Call`]; the
/// audit record's `additionalEventData` carries it; the caller is never told.
#[derive(Debug)]
pub(crate) struct Denial {
    /// The resource refused: a key ARN, an alias ARN, or `*`.
    pub(crate) resource: String,
    /// Why, if authorization said.
    pub(crate) reason: Option<String>,
}

fn sink_failed(e: coffer_audit::AuditError) -> Error {
    Error::internal(e)
}

/// One audited call: its audit event, and what admission learnt about it (whether the quota
/// was charged, why it was refused).
pub(crate) struct Call<'a> {
    kms: &'a Kms,
    op: Operation,
    /// When the call began: one coarse clock reading ([`Clock::since_epoch_coarse`], to
    /// within a tick) serves its audit event's time, its quota charge, the policies'
    /// `aws:CurrentTime` and its keys' last use; `since_epoch` is the same reading.
    ///
    /// [`Clock::since_epoch_coarse`]: coffer_core::Clock::since_epoch_coarse
    at: SystemTime,
    since_epoch: std::time::Duration,
    /// The call's audit event, boxed: an event is ~630 bytes, and a call without an audit sink
    /// (or before its event is built) should not carry that on its stack.
    event: RefCell<Option<Box<AuditEvent>>>,
    /// The call's quota was charged (once per call, at its first admission).
    charged: Cell<bool>,
    /// Why the call was refused, if it was.
    denial: RefCell<Option<Denial>>,
    /// The event could not be built (the random source failed): the call fails closed.
    broken: Cell<bool>,
    recorded: Cell<bool>,
    /// The keys admission let the call use, held until it ends (the operation borrows them
    /// from here, and GetKeyLastUsage's tracking records into them): two slots inline (no
    /// operation uses more than a source and a destination key), any further in `more`.
    held: [OnceCell<Arc<CachedKey>>; 2],
    more: RefCell<Vec<Arc<CachedKey>>>,
}

/// A key admission let a call use: borrowed from the call, which holds it until it ends (and
/// then records the use into the key's last-use cell, with no lookup), or shared when the call
/// already holds two.
pub(crate) enum Admitted<'c> {
    Held(&'c CachedKey),
    Shared(Arc<CachedKey>),
}

impl std::ops::Deref for Admitted<'_> {
    type Target = CachedKey;

    fn deref(&self) -> &CachedKey {
        match self {
            Self::Held(k) => k,
            Self::Shared(k) => k,
        }
    }
}

impl<'a> Call<'a> {
    pub(crate) fn begin(kms: &'a Kms, caller: &Caller, op: Operation, params: Value) -> Self {
        let mut broken = false;
        let since_epoch = kms.clock.since_epoch_coarse();
        let at = SystemTime::UNIX_EPOCH
            .checked_add(since_epoch)
            .unwrap_or_else(|| kms.clock.now());
        let event = if kms.audit.is_some() {
            match AuditEvent::for_operation(
                &kms.event_ids,
                op,
                at,
                &kms.region,
                identity_of(caller),
            ) {
                Ok(mut e) => {
                    e.set_request_parameters(params);
                    request_facts(&mut e, caller);
                    Some(Box::new(e))
                }
                Err(_) => {
                    broken = true;
                    None
                }
            }
        } else {
            None
        };
        Self {
            kms,
            op,
            at,
            since_epoch,
            event: RefCell::new(event),
            charged: Cell::new(false),
            denial: RefCell::new(None),
            broken: Cell::new(broken),
            recorded: Cell::new(false),
            held: [OnceCell::new(), OnceCell::new()],
            more: RefCell::new(Vec::new()),
        }
    }

    /// The operation the call is audited, charged and admitted as.
    pub(crate) fn op(&self) -> Operation {
        self.op
    }

    /// When the call began (the time its quota is charged at, its policies see as
    /// `aws:CurrentTime` and its keys' last use is recorded at).
    pub(crate) fn at(&self) -> SystemTime {
        self.at
    }

    /// [`at`](Self::at) as the time since the Unix epoch.
    pub(crate) fn since_epoch(&self) -> std::time::Duration {
        self.since_epoch
    }

    /// Holds `key`, which admission let the call use, until the call ends; the operation
    /// borrows it from here.
    pub(crate) fn hold(&self, key: Arc<CachedKey>) -> Admitted<'_> {
        for slot in &self.held {
            if slot.get().is_none() {
                return Admitted::Held(slot.get_or_init(|| key));
            }
        }
        self.more.borrow_mut().push(key.clone());
        Admitted::Shared(key)
    }

    /// Records, for GetKeyLastUsage, this call's use of the keys it used, after it succeeded
    /// and its event was recorded (whose id it takes). Nothing when it used no key or its
    /// operation is not tracked.
    fn record_use(&self, caller: &Caller) {
        if !crate::last_usage::tracked(self.op) {
            return;
        }
        // Slots fill in order: no first key, no key at all.
        let Some(first) = self.held[0].get() else {
            return;
        };
        let word = crate::last_usage::word(self.op, self.since_epoch);
        let mut event_id = self
            .event
            .borrow_mut()
            .as_mut()
            .map(|e| std::mem::take(&mut e.event_id));
        if let Some(second) = self.held[1].get() {
            for key in std::iter::once(second).chain(self.more.borrow().iter()) {
                key.last_use
                    .record(word, event_id.clone(), caller.request_id.clone());
            }
        }
        first
            .last_use
            .record(word, event_id.take(), caller.request_id.clone());
    }

    /// Whether the call's quota is still to be charged, marking it charged: true once per call.
    pub(crate) fn first_charge(&self) -> bool {
        !self.charged.replace(true)
    }

    /// Records that the call was refused `resource`, and why (for the audit record only).
    pub(crate) fn denied(&self, resource: &str, reason: Option<String>) {
        // Without an event there is no record to carry it.
        if self.event.borrow().is_some() {
            *self.denial.borrow_mut() = Some(Denial {
                resource: resource.to_owned(),
                reason,
            });
        }
    }

    /// Names a key the call concerns.
    pub(crate) fn resource(&self, arn: &str, account: &coffer_core::AccountId) {
        if let Some(e) = self.event.borrow_mut().as_mut() {
            if !e.resources.iter().any(|r| r.arn == arn) {
                e.add_resource(arn, account.as_str());
            }
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
        // Every operation that succeeds went through admission (which charged the call).
        debug_assert!(
            result.is_err() || self.charged.get(),
            "{} succeeded without admission",
            self.op.as_str()
        );
        if self.broken.get() && self.kms.audit.is_some() {
            return Err(Error::internal(coffer_crypto::CryptoError));
        }
        // The event stays on the call (its id goes to the last-use record after).
        let mut slot = self.event.borrow_mut();
        let Some(event) = slot.as_mut() else {
            return result;
        };
        if self.recorded.get() {
            if let Err(e) = &result {
                // Recorded as a success, then the commit failed: say so.
                event.set_error(e.code(), e.message());
                let _ = self.record(event);
            }
            return result;
        }
        match &result {
            Ok(r) => {
                if let Some((arn, account)) = r.key() {
                    if !event.resources.iter().any(|x| x.arn == arn) {
                        event.add_resource(arn, account);
                    }
                }
                event.set_response_elements(r.elements());
            }
            Err(e) => {
                event.set_error(e.code(), e.message());
                if matches!(e, Error::AccessDenied { .. }) {
                    if let Some(denial) = self.denial.borrow_mut().take() {
                        with_denial(event, denial);
                    }
                }
            }
        }
        self.record(event)?;
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
        let result = call.finish(body(&call));
        if result.is_ok() {
            call.record_use(caller);
        }
        result
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
        request_facts(&mut event, caller);
        sink.record(&event).map_err(sink_failed)
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
fn request_facts(event: &mut AuditEvent, caller: &Caller) {
    if let Some(ip) = caller.source_ip {
        event.source_ip_address = Some(ip.to_string());
    }
    if let Some(agent) = &caller.user_agent {
        event.user_agent = Some(agent.clone());
    }
    if let Some(id) = &caller.request_id {
        event.request_id = Some(id.clone());
    }
}

/// A refused call's event with its [`Denial`]: the key refused among its `resources`, and
/// `additionalEventData.denialReason` / `deniedResource`.
fn with_denial(event: &mut AuditEvent, denial: Denial) {
    if denial.resource.contains(":key/")
        && !event.resources.iter().any(|r| r.arn == denial.resource)
    {
        let account = arn_account(&denial.resource).to_owned();
        event.add_resource(denial.resource.clone(), account);
    }
    let mut data = serde_json::Map::new();
    data.insert("deniedResource".into(), Value::String(denial.resource));
    if let Some(reason) = denial.reason {
        data.insert("denialReason".into(), Value::String(reason));
    }
    event.set_additional_event_data(Value::Object(data));
}

/// The audit record's `userIdentity` of a caller, with the access key it signed with.
fn identity_of(caller: &Caller) -> UserIdentity {
    let identity = UserIdentity::from_caller(caller.identity());
    match &caller.access_key_id {
        Some(id) => identity.access_key_id(id.clone()),
        None => identity,
    }
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

#[cfg(test)]
mod held_key_tests {
    use serde_json::Value;

    use super::{Admitted, Call};
    use crate::{Caller, Operation};

    #[test]
    fn a_call_lends_the_keys_it_holds_and_records_the_use_of_every_one() {
        let (kms, ids) = crate::recent::tests::kms_with_keys(3);
        let root = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        let call = Call::begin(&kms, &root, Operation::ReEncrypt, Value::Null);
        let held: Vec<_> = ids
            .iter()
            .map(|id| call.hold(kms.load(id).unwrap().unwrap()))
            .collect();
        // Two are lent from the call's slots; a third (no operation admits one) is shared.
        assert!(matches!(held[0], Admitted::Held(_)));
        assert!(matches!(held[1], Admitted::Held(_)));
        assert!(matches!(held[2], Admitted::Shared(_)));
        for (k, id) in held.iter().zip(&ids) {
            assert_eq!(k.record.key_id, *id);
        }
        drop(held);
        assert!(ids.iter().all(|id| kms.last_usage.get(id).is_none()));
        call.record_use(&root);
        for id in &ids {
            let last = kms.last_usage.get(id).unwrap();
            assert_eq!(last.operation, "ReEncrypt");
            // Kept to the microsecond.
            let behind = call.at().duration_since(last.timestamp).unwrap();
            assert!(behind < std::time::Duration::from_micros(1), "{behind:?}");
        }
    }
}
