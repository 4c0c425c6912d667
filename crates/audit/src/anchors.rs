//! The anchor directory: every signed digest, published outside the data directory.
//!
//! The directory (0700) holds one file, [`ANCHORS_FILE`] (0600): one line per digest, the digest
//! record exactly as the log holds it, appended and fsynced once the digest is durable in the
//! log. A line's anchor is its sequence number and the SHA-256 of the line, so the file is both
//! human-readable and what the verifier compares the log with.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use coffer_crypto::VerifyingKey;

use crate::{perms, Anchor, AuditError, SignedDigest};

/// The file in an anchor directory that holds the published digests, one JSON line each.
pub const ANCHORS_FILE: &str = "anchors.jsonl";

/// The anchors published in an anchor directory, as [`read_anchors`] found them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AnchorSet {
    /// The anchors, by increasing sequence number.
    pub anchors: Vec<Anchor>,
    /// Whether the file ended in a line without its newline (what a crash mid-append leaves;
    /// ignored, and cut off when the sink next opens).
    pub torn_tail: bool,
}

impl AnchorSet {
    /// The newest anchor.
    pub fn latest(&self) -> Option<&Anchor> {
        self.anchors.last()
    }
}

fn bad(path: &Path, line: u64, reason: &'static str) -> AuditError {
    AuditError::BadAnchor {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// Parses one anchor line: a digest record naming `key`.
fn parse_line(
    path: &Path,
    line_no: u64,
    line: &[u8],
    key: &VerifyingKey,
) -> Result<SignedDigest, AuditError> {
    let text = std::str::from_utf8(line).map_err(|_| bad(path, line_no, "not UTF-8"))?;
    let d = SignedDigest::parse(text).map_err(|_| bad(path, line_no, "not a digest record"))?;
    if &d.record.public_key != key.as_bytes() {
        return Err(bad(path, line_no, "a digest of another audit key"));
    }
    Ok(d)
}

/// Reads the anchors published in `dir` (a missing file is an empty set). Every line must be a
/// digest naming `key`, in increasing sequence order; a torn last line is ignored. Signatures
/// are not checked here: the verifier compares each anchor with the log line by hash, and the
/// log's digests are verified there.
pub fn read_anchors(dir: impl AsRef<Path>, key: &VerifyingKey) -> Result<AnchorSet, AuditError> {
    let path = dir.as_ref().join(ANCHORS_FILE);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AnchorSet::default()),
        Err(e) => return Err(AuditError::io(&path, e)),
    };
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let mut set = AnchorSet {
        anchors: Vec::new(),
        torn_tail: complete < data.len(),
    };
    if complete == 0 {
        return Ok(set);
    }
    let body = data.get(..complete - 1).unwrap_or_default();
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = n as u64 + 1;
        let d = parse_line(&path, line_no, line, key)?;
        let anchor = d.anchor();
        if set.latest().is_some_and(|a| a.seq >= anchor.seq) {
            return Err(bad(&path, line_no, "sequence numbers do not increase"));
        }
        set.anchors.push(anchor);
    }
    Ok(set)
}

/// The newest anchor of `dir`, with its signature checked (what the sink compares the log's
/// tail with when it opens), and the length of the file's complete lines.
pub(crate) fn latest_signed(
    dir: &Path,
    key: &VerifyingKey,
) -> Result<(Option<SignedDigest>, u64, u64), AuditError> {
    let path = dir.join(ANCHORS_FILE);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, 0, 0)),
        Err(e) => return Err(AuditError::io(&path, e)),
    };
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let body = data.get(..complete.saturating_sub(1)).unwrap_or_default();
    if complete == 0 {
        return Ok((None, 0, data.len() as u64));
    }
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let line_no = body.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let d = parse_line(&path, line_no, body.get(start..).unwrap_or_default(), key)?;
    if !d.record.verify_signature(key) {
        return Err(bad(&path, line_no, "signature does not verify"));
    }
    Ok((Some(d), complete as u64, data.len() as u64))
}

/// Appends digests to an anchor directory's file and fsyncs it.
pub(crate) struct Publisher {
    path: PathBuf,
    file: File,
    /// The file's length after the last publication that succeeded: a failed one (a torn
    /// line, perhaps) is cut back to it before the next.
    len: u64,
    dirty: bool,
}

impl Publisher {
    /// Creates `dir` (0700) if needed and opens its anchors file for appending, cutting off a
    /// torn last line (`complete` bytes are kept when `len` is longer).
    pub(crate) fn open(dir: &Path, complete: u64, len: u64) -> Result<Self, AuditError> {
        perms::create_private_dir(dir)?;
        let path = dir.join(ANCHORS_FILE);
        let mut o = OpenOptions::new();
        o.create(true).append(true);
        perms::private_file(&mut o);
        let file = o.open(&path).map_err(|e| AuditError::io(&path, e))?;
        perms::tighten(&path, perms::FILE_MODE)?;
        if len > complete {
            file.set_len(complete)
                .and_then(|()| file.sync_all())
                .map_err(|e| AuditError::io(&path, e))?;
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| AuditError::io(dir, e))?;
        let len = file.metadata().map_err(|e| AuditError::io(&path, e))?.len();
        Ok(Self {
            path,
            file,
            len,
            dirty: false,
        })
    }

    /// Appends the digests' lines and fsyncs.
    pub(crate) fn publish(&mut self, digests: &[SignedDigest]) -> Result<(), AuditError> {
        if digests.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(digests.len() * 512);
        for d in digests {
            buf.extend_from_slice(d.line.as_bytes());
            buf.push(b'\n');
        }
        if self.dirty {
            self.file
                .set_len(self.len)
                .map_err(|e| AuditError::io(&self.path, e))?;
            self.dirty = false;
        }
        self.dirty = true;
        self.file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| AuditError::io(&self.path, e))?;
        self.dirty = false;
        self.len += buf.len() as u64;
        Ok(())
    }
}
