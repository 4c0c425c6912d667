//! A tamper-evident audit log shaped like AWS CloudTrail's KMS events.
//!
//! - [`AuditEvent`]: one event per facade call, allowed or denied, success or failure, with
//!   CloudTrail's field names. Plaintext, data keys, key and import material never appear in it
//!   (the builder strips [`REDACTED_FIELDS`] whatever it is given); the encryption context does.
//! - [`AuditSink`]: where events go. [`NullSink`] and [`MemorySink`] for tests and benches;
//!   [`FileSink`], the default, appends JSON Lines where each record carries the SHA-256 of the one
//!   before, writes Ed25519-signed digests at open, rollover, close and on
//!   [`FileSink::write_digest`], and commits in groups (one fsync for every record queued while the
//!   previous fsync ran). Fail-closed by default ([`FailureMode`]); after a failed write or
//!   fsync it retries by itself and, once it can write again, records the gap in a signed
//!   `recover` digest ([`FileSink::retry`]).
//!   Before continuing an existing log it checks the tail: the newest records must chain from
//!   the newest signed digest, or [`FileSink::open`] refuses with [`AuditError::TailRejected`].
//! - Anchors: with [`FileSinkOptions::anchor_dir`], every signed digest is also appended to
//!   [`ANCHORS_FILE`] in a directory outside the log (and handed to
//!   [`FileSinkOptions::on_digest`]); a log cut back to before the newest one is refused at
//!   open and fails [`verify_with_anchors`].
//! - [`verify`]: walks a log with a public key pinned from outside it and reports the first
//!   edited, deleted, inserted, reordered or truncated record, or what the intact log holds.
//!
//! ```
//! use coffer_audit::{verify, AuditEvent, AuditSink, FileSink, FileSinkOptions, UserIdentity};
//! use coffer_core::{Caller, Region};
//! use coffer_crypto::{SigningKey, SystemRandom};
//! use std::time::SystemTime;
//!
//! let dir = std::env::temp_dir().join(format!("coffer-audit-doc-{}", std::process::id()));
//! let rng = SystemRandom::new();
//! let sink = FileSink::open(&dir, SigningKey::generate(&rng)?, FileSinkOptions::default())?;
//! let public = sink.verifying_key(); // operators pin sink.public_key_hex()
//!
//! let caller = Caller::new("arn:aws:iam::111122223333:user/alice")?;
//! let key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
//! let event = AuditEvent::new(&rng, "Encrypt", SystemTime::now(), &Region::parse("us-east-1")?,
//!         UserIdentity::from_caller(&caller))?
//!     .request_parameters(serde_json::json!({
//!         "keyId": key_arn, "encryptionContext": {"app": "billing"},
//!         "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}))
//!     .resource(key_arn, "111122223333")
//!     .request_id("c0ffee00-0000-4000-8000-000000000000");
//! sink.record(&event)?; // durable when it returns
//! let exported = sink.write_digest()?; // ship exported.line off the host
//! drop(sink); // writes the close digest
//!
//! let report = verify(&dir, &public)?;
//! assert_eq!((report.events, report.records_after_last_digest), (1, 0));
//! assert!(report.closed);
//! # let _ = exported;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod anchors;
mod error;
mod event;
mod file;
mod layout;
mod padding;
mod perms;
mod record;
mod sink;
mod verify;

use coffer_core::time;
use coffer_crypto::hex;

pub use anchors::{read_anchors, AnchorSet, ANCHORS_FILE};
pub use error::{AuditError, TamperKind, Tampering};
pub use event::{
    is_read_only_operation, uuid_v4, AuditEvent, Resource, UserIdentity, EVENT_SOURCE,
    EVENT_VERSION, KEY_RESOURCE_TYPE, REDACTED_FIELDS,
};
pub use file::{
    DigestHook, Durability, DurableHook, FileSink, FileSinkOptions, BUFFERED_MAX_PENDING_BYTES,
    DEFAULT_MAX_FILE_BYTES, DEFAULT_PREALLOCATE_BYTES, DEFAULT_RETRY_INTERVAL,
};
pub use record::{
    genesis_hash, line_hash, Anchor, AuditRecord, ChainHash, DigestReason, DigestRecord, Gap,
    Pruned, SignedDigest,
};
/// A log file's records: its bytes up to its first NUL, where the zeros the sink writes ahead
/// of its records begin ([`FileSinkOptions::preallocate`]). Read a log file through this.
pub fn file_records(data: &[u8]) -> &[u8] {
    padding::content(data)
}

pub use sink::{AuditSink, FailureMode, MemorySink, NullSink};
pub use verify::{
    public_key_from_hex, verify, verify_with, verify_with_anchors, Location, PruneSummary,
    VerifyOptions, VerifyReport,
};
