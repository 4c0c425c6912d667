//! The web console's audit trail (`GET /console/api/audit`): this node's audit log read newest
//! first, filtered, each event with whether a signed digest vouches for it.
//!
//! Each file is read whole (the sink rolls them over at `max_file_bytes`) and walked from its
//! end: a digest whose signature verifies under the sink's own key vouches for the line before
//! it, and from there, line by line backwards, each line whose SHA-256 is the `prev` of the line
//! after it ("verified"). Events after the newest digest are "pending" (chained, not yet
//! signed); a line whose hash breaks the chain, an unreadable line, a digest that does not
//! verify, or events after the last digest of a file that was rolled over are "failed" (up to
//! the next good digest before them). A torn last line (being written) is left out.
//!
//! The scan stops once the page is full, and reads at most [`MAX_SCAN_BYTES`] per request
//! (always at least one file); when it stops there, the answer says so (`scanCapped`) and its
//! cursor continues where it stopped.

use std::path::{Path, PathBuf};

use coffer::audit_log::{line_hash, AuditRecord, ChainHash, DigestRecord};
use coffer_crypto::VerifyingKey;
use serde_json::{json, Value};

use crate::ApiError;

/// Most events in one answer.
pub(crate) const MAX_LIMIT: usize = 200;
/// Events in one answer when the request does not say.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// Most bytes of log read for one answer (at least one file is always read).
pub(crate) const MAX_SCAN_BYTES: u64 = 64 << 20;

/// Error codes that mean the request was refused (authentication or authorization).
const DENIALS: [&str; 5] = [
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
];

/// How a call ended, as the lookup filters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No error.
    Allowed,
    /// Refused: not authenticated or not authorized.
    Denied,
    /// Any other error.
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }

    fn of(error_code: Option<&str>) -> Self {
        match error_code {
            None => Self::Allowed,
            Some(c) if DENIALS.contains(&c) => Self::Denied,
            Some(_) => Self::Error,
        }
    }
}

/// Where a page starts: events of file `file` with a sequence number below `seq`, then older
/// files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    file: u64,
    seq: u64,
}

impl Cursor {
    fn parse(s: &str) -> Option<Self> {
        let (f, q) = s.split_once('.')?;
        let ok = |x: &str| !x.is_empty() && x.len() <= 20 && x.bytes().all(|b| b.is_ascii_digit());
        if !ok(f) || !ok(q) {
            return None;
        }
        Some(Self {
            file: f.parse().ok()?,
            seq: q.parse().ok()?,
        })
    }

    fn to_text(self) -> String {
        format!("{}.{}", self.file, self.seq)
    }
}

/// A lookup's filters and page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Query {
    key_id: Option<String>,
    principal: Option<String>,
    operation: Option<String>,
    outcome: Option<Outcome>,
    from: Option<i64>,
    to: Option<i64>,
    limit: usize,
    cursor: Option<Cursor>,
}

impl Query {
    /// The filters as the audit record of the lookup states them.
    pub(crate) fn params(&self) -> Value {
        json!({
            "keyId": self.key_id,
            "principal": self.principal,
            "operation": self.operation,
            "outcome": self.outcome.map(Outcome::as_str),
            "from": self.from,
            "to": self.to,
            "limit": self.limit,
            "cursor": self.cursor.map(Cursor::to_text),
        })
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

/// Decodes `%XX` and `+` of a query value.
fn decode(v: &str) -> Result<String, ApiError> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| invalid("A query parameter is not well encoded."))?;
                out.push(hex);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| invalid("A query parameter is not UTF-8."))
}

/// Parses the query string of `GET /console/api/audit`: an unknown or repeated parameter or a
/// bad value is a ValidationException naming the parameter, never quoting its value.
pub(crate) fn parse_query(query: Option<&str>) -> Result<Query, ApiError> {
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        ..Query::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        if seen.contains(&name) {
            return Err(invalid(format!("The parameter {name} is given twice.")));
        }
        let value = decode(raw)?;
        if value.len() > 2048 {
            return Err(invalid(format!("The parameter {name} is too long.")));
        }
        let text = || (!value.is_empty()).then(|| value.clone());
        let epoch = || -> Result<Option<i64>, ApiError> {
            if value.is_empty() {
                return Ok(None);
            }
            value
                .parse::<i64>()
                .map(Some)
                .map_err(|_| invalid(format!("The parameter {name} must be epoch seconds.")))
        };
        match name {
            "keyId" => q.key_id = text(),
            "principal" => q.principal = text(),
            "operation" => q.operation = text(),
            "outcome" => {
                q.outcome = match value.as_str() {
                    "" => None,
                    "allowed" => Some(Outcome::Allowed),
                    "denied" => Some(Outcome::Denied),
                    "error" => Some(Outcome::Error),
                    _ => {
                        return Err(invalid(
                            "The parameter outcome must be allowed, denied or error.",
                        ))
                    }
                }
            }
            "from" => q.from = epoch()?,
            "to" => q.to = epoch()?,
            "limit" => {
                if !value.is_empty() {
                    q.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            invalid(format!("The parameter limit must be 1 to {MAX_LIMIT}."))
                        })?;
                }
            }
            "cursor" => {
                if !value.is_empty() {
                    q.cursor = Some(
                        Cursor::parse(&value)
                            .ok_or_else(|| invalid("The parameter cursor is not valid."))?,
                    );
                }
            }
            _ => {
                let shown: String = name.chars().take(32).collect();
                return Err(invalid(format!("Unknown parameter {shown}.")));
            }
        }
        seen.push(name);
    }
    Ok(q)
}

/// The audit log's files in `dir`, newest first.
fn files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(index) = name
            .to_str()
            .and_then(|n| n.strip_prefix("audit-"))
            .and_then(|n| n.strip_suffix(".jsonl"))
            .filter(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((index, entry.path()));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(out)
}

/// Whether a digest vouches for the lines before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cover {
    /// Vouched for by a good digest: the next line back must hash to this.
    Verified(ChainHash),
    /// After the log's newest digest.
    Pending,
    /// The chain or a signature is broken.
    Failed,
}

impl Cover {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verified(_) => "verified",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }
}

/// One event found, with its verification.
struct Found {
    seq: u64,
    event: Value,
    cover: Cover,
}

/// A line of the log as the lookup reads it.
enum Line {
    /// An event: its sequence number, the hash of the line before, the event as logged.
    Event {
        seq: u64,
        prev: ChainHash,
        event: Value,
    },
    /// A signed digest.
    Digest(DigestRecord),
}

/// Parses a line: as JSON once for an event (which is most lines), and by the audit crate's
/// own parser for a digest, whose signature is then checked.
fn parse_line(l: &str) -> Option<Line> {
    let mut v: Value = serde_json::from_str(l).ok()?;
    match v.get("type")?.as_str()? {
        "event" => {
            let seq = v.get("seq")?.as_u64()?;
            let prev = coffer_crypto::hex::decode_array(v.get("prev")?.as_str()?)?;
            let event = v.get_mut("event")?.take();
            event
                .is_object()
                .then_some(Line::Event { seq, prev, event })
        }
        "digest" => match AuditRecord::parse_line(l).ok()? {
            AuditRecord::Digest(d) => Some(Line::Digest(d)),
            _ => None,
        },
        _ => None,
    }
}

/// The events of one file's text, newest first, each with its verification (`newest`: the
/// log's newest file, whose events after its last digest are pending rather than failed).
fn walk(text: &[u8], key: &VerifyingKey, newest: bool) -> Vec<Found> {
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    // The piece after the last newline: empty, or a line being written.
    lines.pop();
    let mut cover = if newest {
        Cover::Pending
    } else {
        Cover::Failed
    };
    let mut out = Vec::new();
    for line in lines.iter().rev() {
        let parsed = std::str::from_utf8(line).ok().and_then(parse_line);
        let Some(record) = parsed else {
            // Unreadable: it cannot be vouched for, nor can what comes before it until the
            // next good digest.
            cover = Cover::Failed;
            continue;
        };
        // The link from the line after this one.
        let hash = line_hash(line);
        let linked = match cover {
            Cover::Verified(want) => want == hash,
            _ => true,
        };
        match record {
            Line::Digest(d) => {
                cover = if d.verify_signature(key) {
                    Cover::Verified(d.prev)
                } else {
                    Cover::Failed
                };
            }
            Line::Event { seq, prev, event } => {
                let this = if linked { cover } else { Cover::Failed };
                cover = match this {
                    Cover::Verified(_) => Cover::Verified(prev),
                    other => other,
                };
                out.push(Found {
                    seq,
                    event,
                    cover: this,
                });
            }
        }
    }
    out
}

/// `eventTime` (`YYYY-MM-DDTHH:MM:SSZ`) as epoch seconds.
fn event_time(v: &Value) -> Option<i64> {
    let t = v.get("eventTime")?.as_str()?;
    let basic: String = t.chars().filter(|c| *c != '-' && *c != ':').collect();
    crate::amz_date::parse(&basic)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn key_arns(v: &Value) -> impl Iterator<Item = &str> {
    v.get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("ARN").and_then(Value::as_str))
}

/// Whether the event belongs to `account`: its key's account, or the caller's.
fn in_account(v: &Value, account: &str) -> bool {
    str_at(v, &["recipientAccountId"]) == Some(account)
        || str_at(v, &["userIdentity", "accountId"]) == Some(account)
}

fn matches(q: &Query, v: &Value, account: &str) -> bool {
    if !in_account(v, account) {
        return false;
    }
    if let Some(op) = &q.operation {
        if str_at(v, &["eventName"]) != Some(op.as_str()) {
            return false;
        }
    }
    if let Some(p) = &q.principal {
        if str_at(v, &["userIdentity", "arn"]) != Some(p.as_str()) {
            return false;
        }
    }
    if let Some(k) = &q.key_id {
        let hit = key_arns(v)
            .any(|arn| arn == k || arn.rsplit_once('/').is_some_and(|(_, id)| id == k.as_str()));
        if !hit {
            return false;
        }
    }
    if let Some(o) = q.outcome {
        if Outcome::of(str_at(v, &["errorCode"])) != o {
            return false;
        }
    }
    if q.from.is_some() || q.to.is_some() {
        let Some(t) = event_time(v) else {
            return false;
        };
        if q.from.is_some_and(|f| t < f) || q.to.is_some_and(|to| t > to) {
            return false;
        }
    }
    true
}

fn shape(f: Found) -> Value {
    let v = &f.event;
    let error_code = str_at(v, &["errorCode"]);
    json!({
        "eventId": str_at(v, &["eventID"]),
        "eventTime": str_at(v, &["eventTime"]),
        "eventName": str_at(v, &["eventName"]),
        "principal": str_at(v, &["userIdentity", "arn"]),
        "keyArn": key_arns(v).next(),
        "outcome": Outcome::of(error_code).as_str(),
        "errorCode": error_code,
        "requestId": str_at(v, &["requestID"]),
        "sourceIPAddress": str_at(v, &["sourceIPAddress"]),
        "verification": f.cover.as_str(),
        "record": f.event,
    })
}

/// The page of `q` from the log in `dir` (signed by `key`) for `account`.
pub(crate) fn lookup(
    dir: &Path,
    key: &VerifyingKey,
    account: &str,
    q: &Query,
) -> Result<Value, ApiError> {
    lookup_capped(dir, key, account, q, MAX_SCAN_BYTES)
}

/// [`lookup`] reading at most `max_scan` bytes (and at least one file).
fn lookup_capped(
    dir: &Path,
    key: &VerifyingKey,
    account: &str,
    q: &Query,
    max_scan: u64,
) -> Result<Value, ApiError> {
    let all = files(dir).map_err(|e| ApiError::from(coffer::Error::internal(e)))?;
    let newest = all.first().map(|(i, _)| *i);
    let mut events = Vec::new();
    let mut scanned = 0u64;
    let mut next: Option<Cursor> = None;
    let mut capped = false;
    for (index, path) in &all {
        if q.cursor.is_some_and(|c| *index > c.file) {
            continue;
        }
        // At least one file is read whatever its size.
        if scanned > 0 && scanned >= max_scan {
            capped = true;
            next = Some(Cursor {
                file: *index,
                seq: u64::MAX,
            });
            break;
        }
        // A file pruned away meanwhile is simply not there.
        let Ok(text) = std::fs::read(path) else {
            continue;
        };
        let text = coffer::audit_log::file_records(&text);
        scanned += text.len() as u64;
        let found = walk(text, key, Some(*index) == newest);
        let mut oldest_time = None;
        let mut full = false;
        for f in found {
            if let Some(c) = q.cursor.filter(|c| c.file == *index) {
                if f.seq >= c.seq {
                    continue;
                }
            }
            oldest_time = event_time(&f.event).or(oldest_time);
            if !matches(q, &f.event, account) {
                continue;
            }
            if events.len() == q.limit {
                // One more: the next page starts with it.
                next = Some(Cursor {
                    file: *index,
                    seq: f.seq + 1,
                });
                full = true;
                break;
            }
            events.push(shape(f));
        }
        if full {
            break;
        }
        // Older files hold older events.
        if let (Some(from), Some(t)) = (q.from, oldest_time) {
            if t < from {
                break;
            }
        }
    }
    Ok(json!({
        "events": events,
        "nextCursor": next.map(Cursor::to_text),
        "scanCapped": capped,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_refuse_bad_values() {
        let q = parse_query(Some(
            "keyId=abc&principal=arn%3Aaws%3Aiam%3A%3A111122223333%3Auser%2Fa&operation=Encrypt&outcome=denied&from=10&to=20&limit=200&cursor=3.17",
        ))
        .unwrap();
        assert_eq!(q.key_id.as_deref(), Some("abc"));
        assert_eq!(
            q.principal.as_deref(),
            Some("arn:aws:iam::111122223333:user/a")
        );
        assert_eq!(q.outcome, Some(Outcome::Denied));
        assert_eq!((q.from, q.to, q.limit), (Some(10), Some(20), 200));
        assert_eq!(q.cursor, Some(Cursor { file: 3, seq: 17 }));
        assert_eq!(parse_query(None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse_query(Some("keyId=&limit=")).unwrap().key_id, None);
        for bad in [
            "limit=0",
            "limit=201",
            "limit=x",
            "outcome=maybe",
            "from=yesterday",
            "cursor=abc",
            "cursor=1.",
            "nope=1",
            "keyId=a&keyId=b",
            "keyId=%zz",
            "keyId=%ff",
        ] {
            let e = parse_query(Some(bad)).unwrap_err();
            assert_eq!(e.code(), "ValidationException", "{bad}");
        }
        // The message never quotes the value.
        let e = parse_query(Some("from=SECRETVALUE")).unwrap_err();
        assert!(!e.message().contains("SECRETVALUE"));
    }

    #[test]
    fn outcomes() {
        assert_eq!(Outcome::of(None), Outcome::Allowed);
        assert_eq!(Outcome::of(Some("AccessDeniedException")), Outcome::Denied);
        assert_eq!(
            Outcome::of(Some("InvalidSignatureException")),
            Outcome::Denied
        );
        assert_eq!(Outcome::of(Some("NotFoundException")), Outcome::Error);
    }

    /// A log of small files written by the real sink: `a` events of account A (Encrypt on one
    /// key) and `b` of account B, interleaved.
    fn log(dir: &Path, a: usize, b: usize) -> VerifyingKey {
        use coffer::audit_log::{AuditEvent, AuditSink, FileSink, FileSinkOptions, UserIdentity};
        let rng = coffer::SystemRandom::new();
        let sink = FileSink::open(
            dir,
            coffer_crypto::SigningKey::generate(&rng).unwrap(),
            FileSinkOptions::default().max_file_bytes(4096),
        )
        .unwrap();
        let region = coffer::Region::parse("eu-west-1").unwrap();
        let event = |account: &str, n: usize| {
            let caller = coffer::Caller::new(&format!("arn:aws:iam::{account}:user/u")).unwrap();
            AuditEvent::new(
                &rng,
                "Encrypt",
                std::time::SystemTime::now(),
                &region,
                UserIdentity::from_caller(&caller),
            )
            .unwrap()
            .resource(format!("arn:aws:kms:eu-west-1:{account}:key/k{n}"), account)
        };
        for n in 0..a.max(b) {
            if n < a {
                sink.record(&event("111122223333", n)).unwrap();
            }
            if n < b {
                sink.record(&event("444455556666", n)).unwrap();
            }
        }
        let key = sink.verifying_key();
        // Left open: the newest records stay after the newest digest (pending).
        std::mem::forget(sink);
        key
    }

    #[test]
    fn a_capped_scan_pages_through_the_whole_log_once() {
        let dir = std::env::temp_dir().join(format!(
            "cofferd-console-audit-{}-{}",
            std::process::id(),
            line!()
        ));
        let key = log(&dir, 40, 15);
        assert!(files(&dir).unwrap().len() > 5);
        let (mut seen, mut cursor, mut capped, mut pages) = (Vec::new(), None, false, 0);
        loop {
            let q = Query {
                limit: 7,
                cursor,
                ..Query::default()
            };
            // One file per answer at most.
            let v = lookup_capped(&dir, &key, "111122223333", &q, 1).unwrap();
            pages += 1;
            capped |= v["scanCapped"] == json!(true);
            for e in v["events"].as_array().unwrap() {
                seen.push(
                    e["record"]["resources"][0]["ARN"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
                assert_ne!(e["verification"], json!("failed"), "{e}");
            }
            match v["nextCursor"].as_str() {
                Some(c) => cursor = Some(Cursor::parse(c).unwrap()),
                None => break,
            }
            assert!(pages < 200);
        }
        assert!(capped);
        // Every event of account A once, newest first; none of B's.
        let want: Vec<String> = (0..40)
            .rev()
            .map(|n| format!("arn:aws:kms:eu-west-1:111122223333:key/k{n}"))
            .collect();
        assert_eq!(seen, want);
        // Uncapped: the same, in pages of 7, with verified events in the older files and
        // pending ones at the end.
        let q = Query {
            limit: 200,
            ..Query::default()
        };
        let v = lookup(&dir, &key, "111122223333", &q).unwrap();
        let statuses: Vec<&str> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["verification"].as_str().unwrap())
            .collect();
        assert_eq!(statuses.len(), 40);
        assert_eq!(statuses.first(), Some(&"pending"));
        assert_eq!(statuses.last(), Some(&"verified"));
        assert_eq!(v["nextCursor"], Value::Null);
        assert_eq!(v["scanCapped"], json!(false));
        std::fs::remove_dir_all(&dir).ok();
    }
}
