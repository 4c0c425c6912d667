//! One line of the log: an event or a signed digest, with its place in the hash chain.
//!
//! ```text
//! {"seq":41,"prev":"<sha256 hex of line 40>","type":"event","event":{...CloudTrail event...}}
//! {"seq":42,"prev":"<sha256 hex of line 41>","type":"digest","digest":{"time":...,"reason":"timer",
//!   "file":"audit-0000000001.jsonl","publicKey":"<hex>","signature":"<hex>"}}
//! ```

use std::fmt;
use std::str::FromStr;

use coffer_crypto::{sha256, SigningKey, VerifyingKey, ED25519_SIGNATURE_LEN, SHA256_LEN};
use serde::{Deserialize, Serialize};

use crate::{hex, AuditError, AuditEvent};

/// A SHA-256 value in the chain.
pub type ChainHash = [u8; SHA256_LEN];

const GENESIS_LABEL: &[u8] = b"coffer-audit-v1 genesis";
const DIGEST_LABEL: &[u8] = b"coffer-audit-digest-v1";

/// The `prev` of the very first record of a log: SHA-256 of `coffer-audit-v1 genesis`.
pub fn genesis_hash() -> ChainHash {
    sha256(GENESIS_LABEL)
}

/// The hash by which the next record refers to `line` (the line's bytes without its newline).
pub fn line_hash(line: &[u8]) -> ChainHash {
    sha256(line)
}

/// Why a digest was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DigestReason {
    /// The sink opened the log (first start, or restart after a stop or crash).
    Open,
    /// The owner asked for one ([`crate::FileSink::write_digest`], on a timer).
    Timer,
    /// The file reached its size limit; the next record starts the file named in `next`.
    Rollover,
    /// The sink was closed.
    Close,
    /// The sink's retention policy removes the oldest log files, named in
    /// [`DigestRecord::pruned`]; written (and made durable) before they are deleted.
    Prune,
    /// The sink recovered after its writes had failed: the first record it wrote once writing
    /// and fsync worked again, saying in [`DigestRecord::gap`] what the failure cost.
    Recover,
}

impl DigestReason {
    /// The reason as the log writes it: `open`, `timer`, `rollover`, `close`, `prune`,
    /// `recover`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Timer => "timer",
            Self::Rollover => "rollover",
            Self::Close => "close",
            Self::Prune => "prune",
            Self::Recover => "recover",
        }
    }
}

/// What a `prune` digest says the retention policy removes: whole files, oldest first, and
/// where the kept log begins. The verifier starts from the oldest kept file and accepts the
/// missing files before it only if a signed prune digest names them and its boundary matches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// The oldest file removed by this prune.
    pub first_file: String,
    /// The newest file removed by this prune; the kept log continues in the file after it.
    pub last_file: String,
    /// Records (events and digests) in the files this prune removes.
    pub records: u64,
    /// Bytes of the files this prune removes.
    pub bytes: u64,
    /// The sequence number of the first record after `last_file` = how many records the log
    /// has held before the kept part (every prune so far included).
    pub next_seq: u64,
    /// The hash of the last record of `last_file`: the `prev` of the first kept record.
    pub last_hash: ChainHash,
}

/// What a `recover` digest says about the time the sink could not write: how many events it
/// refused, when, and the kind of error. Never any data of the refused events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// Events refused while the sink could not write (`record` and `append` errors, or events
    /// lost while failing open): calls that have no record in the log.
    pub refused: u64,
    /// Failed write or fsync attempts, the first failure and every failed retry.
    pub failures: u64,
    /// When the first write or fsync failed (`YYYY-MM-DDTHH:MM:SSZ`).
    pub first_failure: String,
    /// When the last one failed.
    pub last_failure: String,
    /// The kind of the last I/O error, as Rust names it (`StorageFull`, `PermissionDenied`, …).
    pub error: String,
}

impl Gap {
    /// Builds a gap record.
    pub fn new(
        refused: u64,
        failures: u64,
        first_failure: String,
        last_failure: String,
        error: String,
    ) -> Self {
        Self {
            refused,
            failures,
            first_failure,
            last_failure,
            error,
        }
    }
}

/// A signed digest: it commits, through `prev`, to every record before it (`seq` of them).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestRecord {
    /// This record's sequence number = the number of records before it.
    pub seq: u64,
    /// Hash of the record before (or the genesis value).
    pub prev: ChainHash,
    /// When it was written (`YYYY-MM-DDTHH:MM:SSZ`).
    pub time: String,
    /// Why it was written.
    pub reason: DigestReason,
    /// The name of the file it is in.
    pub file: String,
    /// For a rollover: the file the log continues in.
    pub next: Option<String>,
    /// For an open after a crash: bytes of a torn last line that were cut off.
    pub truncated_bytes: u64,
    /// For a `prune` digest: the files removed and where the kept log begins.
    pub pruned: Option<Box<Pruned>>,
    /// For a `recover` digest: what the sink refused while it could not write.
    pub gap: Option<Box<Gap>>,
    /// The audit public key that signed it.
    pub public_key: [u8; 32],
    /// Ed25519 signature over [`DigestRecord::signed_message`].
    pub signature: [u8; ED25519_SIGNATURE_LEN],
}

impl DigestRecord {
    /// The bytes the signature covers: a label and every field, each length-prefixed.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(256);
        let mut field = |b: &[u8]| {
            m.extend_from_slice(&(b.len() as u64).to_be_bytes());
            m.extend_from_slice(b);
        };
        field(DIGEST_LABEL);
        field(&self.seq.to_be_bytes());
        field(&self.prev);
        field(self.time.as_bytes());
        field(self.reason.as_str().as_bytes());
        field(self.file.as_bytes());
        field(&[u8::from(self.next.is_some())]);
        field(self.next.as_deref().unwrap_or_default().as_bytes());
        field(&self.truncated_bytes.to_be_bytes());
        field(&self.public_key);
        // Only a prune digest has these: the message of every other digest is unchanged.
        if let Some(p) = &self.pruned {
            field(b"pruned");
            field(p.first_file.as_bytes());
            field(p.last_file.as_bytes());
            field(&p.records.to_be_bytes());
            field(&p.bytes.to_be_bytes());
            field(&p.next_seq.to_be_bytes());
            field(&p.last_hash);
        }
        // Only a recover digest has these.
        if let Some(g) = &self.gap {
            field(b"gap");
            field(&g.refused.to_be_bytes());
            field(&g.failures.to_be_bytes());
            field(g.first_failure.as_bytes());
            field(g.last_failure.as_bytes());
            field(g.error.as_bytes());
        }
        m
    }

    /// Signs the fields with `key` (setting `public_key` and `signature`).
    pub(crate) fn sign(mut self, key: &SigningKey) -> Self {
        self.public_key = *key.verifying_key().as_bytes();
        self.signature = key.sign(&self.signed_message());
        self
    }

    /// Whether the signature verifies under `key` (and `key` is the one the digest names).
    pub fn verify_signature(&self, key: &VerifyingKey) -> bool {
        &self.public_key == key.as_bytes()
            && key.verify(&self.signed_message(), &self.signature).is_ok()
    }
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AuditRecord {
    /// An audit event.
    Event {
        /// Number of records before it.
        seq: u64,
        /// Hash of the record before.
        prev: ChainHash,
        /// The event.
        event: Box<AuditEvent>,
    },
    /// A signed digest.
    Digest(DigestRecord),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DigestBody {
    time: String,
    reason: DigestReason,
    file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    truncated_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pruned: Option<PrunedBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gap: Option<GapBody>,
    public_key: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrunedBody {
    from: String,
    through: String,
    records: u64,
    bytes: u64,
    next_seq: u64,
    last_hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GapBody {
    refused: u64,
    failures: u64,
    first_failure: String,
    last_failure: String,
    error: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    seq: u64,
    prev: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    event: Option<Box<AuditEvent>>,
    #[serde(default)]
    digest: Option<DigestBody>,
}

/// The fixed start of every line, up to the body.
pub(crate) fn line_prefix(seq: u64, prev: &ChainHash, kind: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b",\"prev\":\"");
    hex::encode_into(prev, out);
    out.extend_from_slice(b"\",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends an event line (without newline) whose body is the already-encoded `event_json`.
pub(crate) fn event_line(seq: u64, prev: &ChainHash, event_json: &[u8], out: &mut Vec<u8>) {
    line_prefix(seq, prev, "event", out);
    out.extend_from_slice(event_json);
    out.push(b'}');
}

pub(crate) fn digest_line(d: &DigestRecord, out: &mut Vec<u8>) -> Result<(), AuditError> {
    let body = DigestBody {
        time: d.time.clone(),
        reason: d.reason,
        file: d.file.clone(),
        next: d.next.clone(),
        truncated_bytes: d.truncated_bytes,
        pruned: d.pruned.as_ref().map(|p| PrunedBody {
            from: p.first_file.clone(),
            through: p.last_file.clone(),
            records: p.records,
            bytes: p.bytes,
            next_seq: p.next_seq,
            last_hash: hex::encode(&p.last_hash),
        }),
        gap: d.gap.as_ref().map(|g| GapBody {
            refused: g.refused,
            failures: g.failures,
            first_failure: g.first_failure.clone(),
            last_failure: g.last_failure.clone(),
            error: g.error.clone(),
        }),
        public_key: hex::encode(&d.public_key),
        signature: hex::encode(&d.signature),
    };
    line_prefix(d.seq, &d.prev, "digest", out);
    serde_json::to_writer(&mut *out, &body).map_err(AuditError::Encode)?;
    out.push(b'}');
    Ok(())
}

impl AuditRecord {
    /// Parses one line of the log (without its newline). Never panics.
    pub fn parse_line(line: &str) -> Result<Self, AuditError> {
        let raw: RawRecord = serde_json::from_str(line).map_err(AuditError::Parse)?;
        let prev = hex::decode_array::<SHA256_LEN>(raw.prev.as_bytes())
            .ok_or(AuditError::NotARecord("prev is not a SHA-256 in hex"))?;
        match (raw.kind.as_str(), raw.event, raw.digest) {
            ("event", Some(event), None) => Ok(Self::Event {
                seq: raw.seq,
                prev,
                event,
            }),
            ("digest", None, Some(b)) => Ok(Self::Digest(DigestRecord {
                pruned: match b.pruned {
                    None => None,
                    Some(p) => Some(Box::new(Pruned {
                        first_file: p.from,
                        last_file: p.through,
                        records: p.records,
                        bytes: p.bytes,
                        next_seq: p.next_seq,
                        last_hash: hex::decode_array(p.last_hash.as_bytes())
                            .ok_or(AuditError::NotARecord("lastHash is not a SHA-256 in hex"))?,
                    })),
                },
                gap: b.gap.map(|g| {
                    Box::new(Gap {
                        refused: g.refused,
                        failures: g.failures,
                        first_failure: g.first_failure,
                        last_failure: g.last_failure,
                        error: g.error,
                    })
                }),
                seq: raw.seq,
                prev,
                time: b.time,
                reason: b.reason,
                file: b.file,
                next: b.next,
                truncated_bytes: b.truncated_bytes,
                public_key: hex::decode_array(b.public_key.as_bytes())
                    .ok_or(AuditError::NotARecord("publicKey is not 32 bytes of hex"))?,
                signature: hex::decode_array(b.signature.as_bytes())
                    .ok_or(AuditError::NotARecord("signature is not 64 bytes of hex"))?,
            })),
            _ => Err(AuditError::NotARecord(
                "type must be event or digest, with the matching body",
            )),
        }
    }

    /// The record as one line of the log (no newline).
    pub fn to_line(&self) -> Result<String, AuditError> {
        let mut out = Vec::with_capacity(1024);
        match self {
            Self::Event { seq, prev, event } => {
                let json = serde_json::to_vec(event).map_err(AuditError::Encode)?;
                event_line(*seq, prev, &json, &mut out);
            }
            Self::Digest(d) => digest_line(d, &mut out)?,
        }
        // JSON is UTF-8.
        String::from_utf8(out).map_err(|_| AuditError::NotARecord("not UTF-8"))
    }

    /// The record's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Event { seq, .. } => *seq,
            Self::Digest(d) => d.seq,
        }
    }

    /// The hash of the record before it.
    pub fn prev(&self) -> &ChainHash {
        match self {
            Self::Event { prev, .. } => prev,
            Self::Digest(d) => &d.prev,
        }
    }
}

/// What the verifier needs from a line, read without parsing an event's body.
pub(crate) enum Header {
    Event { seq: u64, prev: ChainHash },
    Digest(DigestRecord),
}

/// Reads a line's sequence number, `prev` and kind. Lines in the layout the sink writes are read
/// by a fast path that leaves the event body unparsed (the chain covers its bytes); any other
/// layout goes through the full parser.
pub(crate) fn parse_header(line: &[u8]) -> Result<Header, AuditError> {
    if let Some(h) = fast_event_header(line) {
        return Ok(h);
    }
    let text = std::str::from_utf8(line).map_err(|_| AuditError::NotARecord("not UTF-8"))?;
    Ok(match AuditRecord::parse_line(text)? {
        AuditRecord::Event { seq, prev, .. } => Header::Event { seq, prev },
        AuditRecord::Digest(d) => Header::Digest(d),
    })
}

fn fast_event_header(line: &[u8]) -> Option<Header> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || (digits > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    let seq: u64 = std::str::from_utf8(rest.get(..digits)?)
        .ok()?
        .parse()
        .ok()?;
    let rest = rest.get(digits..)?.strip_prefix(b",\"prev\":\"")?;
    let prev = hex::decode_array::<SHA256_LEN>(rest.get(..64)?)?;
    let body = rest
        .get(64..)?
        .strip_prefix(b"\",\"type\":\"event\",\"event\":{")?;
    // The body is a JSON object followed by the record's closing brace.
    body.strip_suffix(b"}}")?;
    Some(Header::Event { seq, prev })
}

/// A digest as written, for export off the host: its line, and the anchor that pins it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SignedDigest {
    /// The digest's fields.
    pub record: DigestRecord,
    /// The line as written in the log (no newline).
    pub line: String,
}

impl SignedDigest {
    /// Parses an exported digest line.
    pub fn parse(line: &str) -> Result<Self, AuditError> {
        match AuditRecord::parse_line(line)? {
            AuditRecord::Digest(record) => Ok(Self {
                record,
                line: line.to_owned(),
            }),
            AuditRecord::Event { .. } => Err(AuditError::NotARecord("not a digest")),
        }
    }

    /// The anchor (sequence number and line hash) to give the verifier later.
    pub fn anchor(&self) -> Anchor {
        Anchor {
            seq: self.record.seq,
            hash: line_hash(self.line.as_bytes()),
        }
    }
}

/// A record the verifier must find in the log, pinned by its sequence number and line hash:
/// what an operator keeps off the host so that a log cut back to an earlier digest is detected.
/// Written and parsed as `SEQ:HEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Anchor {
    /// The record's sequence number.
    pub seq: u64,
    /// SHA-256 of its line.
    pub hash: ChainHash,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, hex::encode(&self.hash))
    }
}

impl FromStr for Anchor {
    type Err = AuditError;
    fn from_str(s: &str) -> Result<Self, AuditError> {
        let bad = AuditError::NotARecord("anchor must be SEQ:SHA256HEX");
        let (seq, hash) = s.split_once(':').ok_or(bad)?;
        Ok(Self {
            seq: seq
                .parse()
                .map_err(|_| AuditError::NotARecord("anchor must be SEQ:SHA256HEX"))?,
            hash: hex::decode_array(hash.as_bytes())
                .ok_or(AuditError::NotARecord("anchor must be SEQ:SHA256HEX"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserIdentity;
    use coffer_core::Region;
    use coffer_crypto::testing::DeterministicRandom;
    use std::time::UNIX_EPOCH;

    fn event() -> AuditEvent {
        AuditEvent::new(
            &DeterministicRandom::new(b"r"),
            "Decrypt",
            UNIX_EPOCH,
            &Region::parse("us-east-1").unwrap(),
            UserIdentity::unknown(None),
        )
        .unwrap()
        .request_parameters(serde_json::json!({"encryptionContext": {"a": "b"}, "n": 0.1}))
    }

    fn digest(key: &SigningKey) -> DigestRecord {
        DigestRecord {
            seq: 7,
            prev: [3; 32],
            time: "2024-01-01T00:00:00Z".into(),
            reason: DigestReason::Rollover,
            file: "audit-0000000001.jsonl".into(),
            next: Some("audit-0000000002.jsonl".into()),
            truncated_bytes: 0,
            pruned: None,
            gap: None,
            public_key: [0; 32],
            signature: [0; 64],
        }
        .sign(key)
    }

    #[test]
    fn prune_digest_round_trips_and_its_fields_are_signed() {
        let key = SigningKey::from_seed(&[5; 32]).unwrap();
        let mut d = digest(&key);
        d.reason = DigestReason::Prune;
        d.next = None;
        d.pruned = Some(Box::new(Pruned {
            first_file: "audit-0000000001.jsonl".into(),
            last_file: "audit-0000000003.jsonl".into(),
            records: 900,
            bytes: 1 << 20,
            next_seq: 900,
            last_hash: [4; 32],
        }));
        let d = d.sign(&key);
        let line = AuditRecord::Digest(d.clone()).to_line().unwrap();
        assert!(line.contains("\"reason\":\"prune\""), "{line}");
        assert!(
            line.contains("\"pruned\":{\"from\":\"audit-0000000001.jsonl\""),
            "{line}"
        );
        let parsed = SignedDigest::parse(&line).unwrap().record;
        assert_eq!(parsed, d);
        assert!(parsed.verify_signature(&key.verifying_key()));
        let edits: [fn(&mut Pruned); 6] = [
            |p| p.first_file = "audit-0000000002.jsonl".into(),
            |p| p.last_file = "audit-0000000004.jsonl".into(),
            |p| p.records += 1,
            |p| p.bytes -= 1,
            |p| p.next_seq += 1,
            |p| p.last_hash[0] ^= 1,
        ];
        for edit in edits {
            let mut e = d.clone();
            if let Some(p) = e.pruned.as_mut() {
                edit(p);
            }
            assert!(!e.verify_signature(&key.verifying_key()));
        }
        let mut dropped = d.clone();
        dropped.pruned = None;
        assert!(!dropped.verify_signature(&key.verifying_key()));
    }

    #[test]
    fn event_line_round_trips_and_takes_the_fast_path() {
        let r = AuditRecord::Event {
            seq: 12,
            prev: [9; 32],
            event: Box::new(event()),
        };
        let line = r.to_line().unwrap();
        assert!(line.starts_with("{\"seq\":12,\"prev\":\"0909"));
        assert_eq!(AuditRecord::parse_line(&line).unwrap(), r);
        assert!(matches!(
            fast_event_header(line.as_bytes()),
            Some(Header::Event { seq: 12, .. })
        ));
        // Another key order is still a record, through the slow path.
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let mut m = serde_json::Map::new();
        for k in ["event", "type", "prev", "seq"] {
            m.insert(k.into(), v[k].clone());
        }
        let reordered = serde_json::to_string(&m).unwrap();
        assert!(fast_event_header(reordered.as_bytes()).is_none());
        assert!(matches!(
            parse_header(reordered.as_bytes()).unwrap(),
            Header::Event { seq: 12, .. }
        ));
    }

    #[test]
    fn digest_line_round_trips_and_verifies() {
        let key = SigningKey::from_seed(&[5; 32]).unwrap();
        let d = digest(&key);
        assert!(d.verify_signature(&key.verifying_key()));
        let line = AuditRecord::Digest(d.clone()).to_line().unwrap();
        let sd = SignedDigest::parse(&line).unwrap();
        assert_eq!(sd.record, d);
        assert_eq!(sd.anchor().seq, 7);
        assert_eq!(
            sd.anchor().to_string().parse::<Anchor>().unwrap(),
            sd.anchor()
        );
        let mut other = d.clone();
        other.next = None;
        assert!(!other.verify_signature(&key.verifying_key()));
        let other_key = SigningKey::from_seed(&[6; 32]).unwrap();
        assert!(!d.verify_signature(&other_key.verifying_key()));
    }

    #[test]
    fn rejects_non_records() {
        for bad in [
            "",
            "{}",
            "[1]",
            "{\"seq\":1,\"prev\":\"00\",\"type\":\"event\",\"event\":{}}",
            "{\"seq\":-1,\"prev\":\"\",\"type\":\"x\"}",
            "{\"seq\":1,\"seq\":2}",
        ] {
            assert!(AuditRecord::parse_line(bad).is_err(), "{bad}");
        }
        let line = AuditRecord::Event {
            seq: 1,
            prev: [0; 32],
            event: Box::new(event()),
        }
        .to_line()
        .unwrap();
        let wrong_type = line.replace("\"type\":\"event\"", "\"type\":\"digest\"");
        assert!(AuditRecord::parse_line(&wrong_type).is_err());
        let extra = line.replacen("{\"seq\"", "{\"x\":1,\"seq\"", 1);
        assert!(AuditRecord::parse_line(&extra).is_err());
        assert!("12".parse::<Anchor>().is_err());
        assert!("x:00".parse::<Anchor>().is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = AuditRecord::parse_line(&s);
            let _ = parse_header(s.as_bytes());
        }
    }
}
