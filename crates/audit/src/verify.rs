//! Walks a log directory and checks the chain, the sequence, the files and the signed digests.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use coffer_crypto::VerifyingKey;

use crate::record::{genesis_hash, line_hash, parse_header, ChainHash, Header};
use crate::{hex, layout, padding, Anchor, AuditError, DigestReason, TamperKind, Tampering};

/// Options for [`verify_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Digests exported earlier ([`crate::SignedDigest::anchor`]) that must be in the log: they
    /// turn a log cut back (or rewritten) after them into a finding.
    pub anchors: Vec<Anchor>,
    /// Whether a last line without its newline at the very end of the last file is accepted and
    /// reported in [`VerifyReport::torn_tail`] (what a crash mid-write leaves; the sink cuts it off
    /// when it reopens) rather than reported as tampering. Default `true`.
    pub allow_torn_tail: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            anchors: Vec::new(),
            allow_torn_tail: true,
        }
    }
}

impl VerifyOptions {
    /// Adds an anchor that must be found.
    #[must_use]
    pub fn anchor(mut self, anchor: Anchor) -> Self {
        self.anchors.push(anchor);
        self
    }

    /// Sets [`VerifyOptions::allow_torn_tail`].
    #[must_use]
    pub fn allow_torn_tail(mut self, allow: bool) -> Self {
        self.allow_torn_tail = allow;
        self
    }
}

/// A place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: u64,
}

/// What an intact log holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Log files walked.
    pub files: u64,
    /// Records (events and digests).
    pub records: u64,
    /// Event records.
    pub events: u64,
    /// Signed digests, every one verified.
    pub digests: u64,
    /// Records after the last digest: chained but not yet covered by a signature. An edit of these
    /// that also rewrites the chain after it is detected only by the next digest (or not at all if
    /// the log is cut back before that digest is written and no anchor was kept).
    pub records_after_last_digest: u64,
    /// The last digest, as an anchor to compare with (or keep as) an exported one.
    pub last_digest: Option<Anchor>,
    /// The time of the last digest.
    pub last_digest_time: Option<String>,
    /// Whether the log ends with a `close` digest (the sink was closed cleanly).
    pub closed: bool,
    /// A torn last line (no newline) at the end of the last file, if any: what a crash leaves.
    pub torn_tail: Option<Location>,
    /// The sequence number of the first record present: 0, unless the retention policy pruned
    /// the oldest files.
    pub first_seq: u64,
    /// What the retention policy removed, if it removed anything: the kept log starts after
    /// files that a signed prune digest in it names.
    pub pruned: Option<PruneSummary>,
    /// Prune digests in the kept log (each one verified).
    pub prune_digests: u64,
    /// Anchors given to the verifier whose records were pruned (before [`VerifyReport::first_seq`]):
    /// covered by a signed prune digest, but their hashes can no longer be checked.
    pub anchors_pruned: u64,
    /// Anchors given to the verifier that were found in the log with their exact hash.
    pub anchors_checked: u64,
    /// `recover` digests: times the sink could not write for a while and then recovered.
    pub recoveries: u64,
    /// Events refused while the sink could not write, as the `recover` digests count them
    /// (calls that failed and have no record).
    pub refused_in_gaps: u64,
}

/// What the retention policy removed from a log, as the verifier established it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneSummary {
    /// Files removed (every file before the oldest kept one).
    pub files: u64,
    /// Records removed (every record before the first kept one).
    pub records: u64,
    /// The newest file removed.
    pub through: String,
    /// When the prune digest that removed it was written.
    pub time: String,
    /// Where that prune digest is.
    pub digest: Location,
}

/// The first record of a file (sequence number, `prev`), if it has a complete first line that
/// is a record.
fn first_record_of(path: &Path) -> Result<Option<(u64, ChainHash)>, AuditError> {
    let file = File::open(path).map_err(|e| AuditError::io(path, e))?;
    let mut buf = Vec::with_capacity(1024);
    BufReader::new(file)
        .read_until(b'\n', &mut buf)
        .map_err(|e| AuditError::io(path, e))?;
    let Some(line) = buf.strip_suffix(b"\n") else {
        return Ok(None);
    };
    Ok(match parse_header(line) {
        Ok(Header::Event { seq, prev }) => Some((seq, prev)),
        Ok(Header::Digest(d)) => Some((d.seq, d.prev)),
        Err(_) => None,
    })
}

/// Parses an audit public key given in hex (64 characters), as [`crate::FileSink::public_key_hex`]
/// prints it.
pub fn public_key_from_hex(hex_key: &str) -> Result<VerifyingKey, AuditError> {
    let bytes =
        hex::decode_array::<32>(hex_key.trim().as_bytes()).ok_or(AuditError::InvalidPublicKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| AuditError::InvalidPublicKey)
}

/// Verifies the log in `dir` against the audit public key `key`, which must come from outside
/// the log (pinned by the operator). Returns what an intact log holds, or
/// [`AuditError::Tampered`] with the first break.
pub fn verify(dir: impl AsRef<Path>, key: &VerifyingKey) -> Result<VerifyReport, AuditError> {
    verify_with(dir, key, &VerifyOptions::default())
}

/// [`verify`] with options (anchors, torn tail).
pub fn verify_with(
    dir: impl AsRef<Path>,
    key: &VerifyingKey,
    opts: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    Walk::new(dir.as_ref(), key, opts).run()
}

/// [`verify_with`] against every digest published in the anchor directory `anchor_dir`
/// ([`crate::FileSinkOptions::anchor_dir`]): each must be in the log with its exact hash, so a
/// log cut back to any point before the newest anchor, or rewritten, fails with
/// [`TamperKind::AnchorNotFound`]. A malformed anchor file is [`AuditError::BadAnchor`].
pub fn verify_with_anchors(
    dir: impl AsRef<Path>,
    key: &VerifyingKey,
    anchor_dir: impl AsRef<Path>,
) -> Result<VerifyReport, AuditError> {
    let set = crate::read_anchors(anchor_dir, key)?;
    let opts = VerifyOptions {
        anchors: set.anchors,
        ..VerifyOptions::default()
    };
    verify_with(dir, key, &opts)
}

struct Walk<'a> {
    dir: &'a Path,
    key: &'a VerifyingKey,
    opts: &'a VerifyOptions,
    anchors: BTreeMap<u64, [u8; 32]>,
    report: VerifyReport,
    expected_seq: u64,
    prev: [u8; 32],
    /// The index of the oldest file present.
    first_index: u64,
    /// The first record (sequence number, `prev`) of each file walked.
    first_records: BTreeMap<u64, (u64, ChainHash)>,
}

impl<'a> Walk<'a> {
    fn new(dir: &'a Path, key: &'a VerifyingKey, opts: &'a VerifyOptions) -> Self {
        Self {
            dir,
            key,
            opts,
            anchors: opts.anchors.iter().map(|a| (a.seq, a.hash)).collect(),
            report: VerifyReport::default(),
            expected_seq: 0,
            prev: genesis_hash(),
            first_index: 1,
            first_records: BTreeMap::new(),
        }
    }

    fn fail(&self, file: &Path, line: u64, kind: TamperKind) -> AuditError {
        AuditError::Tampered(Box::new(Tampering {
            file: file.to_path_buf(),
            line,
            kind,
            records_verified: self.report.records,
        }))
    }

    fn run(mut self) -> Result<VerifyReport, AuditError> {
        let files = layout::list(self.dir)?;
        let Some((first_index, first_path)) = files.first() else {
            return Err(self.fail(self.dir, 0, TamperKind::Empty));
        };
        if *first_index > 1 {
            // The oldest files are gone: start from the first record present, provisionally.
            // A signed prune digest later in the log must name every missing file and state
            // this very record as the kept log's start, or the walk fails below.
            self.first_index = *first_index;
            if let Some((seq, prev)) = first_record_of(first_path)? {
                self.expected_seq = seq;
                self.prev = prev;
                self.report.first_seq = seq;
                let pruned = self.anchors.range(..seq).count() as u64;
                self.report.anchors_pruned = pruned;
            }
        }
        // The file the previous one's rollover digest named, if it ended with one.
        let mut rolled_to: Option<String> = None;
        let mut last_line = (self.dir.to_path_buf(), 0u64);
        // A crash mid-write may tear the last line of the last file holding records; files after
        // it can exist, empty, created ahead of a rollover.
        let mut last_with_records = 0;
        for (n, (_, path)) in files.iter().enumerate() {
            if padding::holds_records(path).map_err(|e| AuditError::io(path, e))? {
                last_with_records = n;
            }
        }
        for (n, (index, path)) in files.iter().enumerate() {
            let name = layout::file_name(*index);
            let expected_index = self.first_index + n as u64;
            if *index != expected_index {
                let missing = layout::file_name(expected_index);
                return Err(self.fail(
                    &self.dir.join(&missing),
                    0,
                    TamperKind::MissingFile { name: missing },
                ));
            }
            if n > last_with_records {
                // Empty files after the last one holding records, created ahead of a rollover
                // (a crash can leave one before the rollover digest is written).
                if rolled_to.take().is_some_and(|next| next != name) {
                    return Err(self.fail(path, 0, TamperKind::DigestMismatch));
                }
                self.report.files += 1;
                continue;
            }
            match rolled_to.take() {
                Some(next) if next != name => {
                    return Err(self.fail(path, 0, TamperKind::DigestMismatch));
                }
                None if n > 0 => {
                    // The previous file did not end with its rollover digest: its tail was cut.
                    return Err(self.fail(
                        &last_line.0,
                        last_line.1 + 1,
                        TamperKind::TruncatedLine,
                    ));
                }
                _ => {}
            }
            let may_tear = n >= last_with_records;
            let (lines, next) = self.walk_file(path, &name, may_tear)?;
            rolled_to = next;
            last_line = (path.clone(), lines);
            self.report.files += 1;
            if self.report.torn_tail.is_some() {
                break;
            }
        }
        if self.first_index > 1 && self.report.pruned.is_none() {
            // Files before the oldest present are missing and no signed prune digest says
            // the retention policy removed them: deleted by hand.
            let name = layout::file_name(self.first_index - 1);
            return Err(self.fail(&self.dir.join(&name), 0, TamperKind::MissingFile { name }));
        }
        if let Some(name) = rolled_to {
            return Err(self.fail(&self.dir.join(&name), 0, TamperKind::MissingFile { name }));
        }
        if self.report.records == 0 {
            return Err(self.fail(self.dir, 0, TamperKind::Empty));
        }
        if let Some((&seq, _)) = self.anchors.range(self.expected_seq..).next() {
            return Err(self.fail(
                &last_line.0,
                last_line.1,
                TamperKind::AnchorNotFound { seq },
            ));
        }
        Ok(self.report)
    }

    /// Checks a (signed) prune digest against the log: it removes files before its own, and
    /// where the file after the last one it removes is present, that file starts with the record
    /// the digest states. The newest prune digest that reaches the oldest file present accounts
    /// for every missing file before it.
    fn check_prune(
        &mut self,
        p: &crate::Pruned,
        path: &Path,
        line_no: u64,
        name: &str,
        time: &str,
    ) -> Result<(), AuditError> {
        let own = layout::parse_file_name(name).unwrap_or_default();
        let (Some(from), Some(through)) = (
            layout::parse_file_name(&p.first_file),
            layout::parse_file_name(&p.last_file),
        ) else {
            return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
        };
        if from > through || through >= own || from == 0 {
            return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
        }
        if through + 1 >= self.first_index {
            // The kept log starts at or before the file after `through`: its first record
            // must be the one the digest names.
            if self.first_records.get(&(through + 1)) != Some(&(p.next_seq, p.last_hash)) {
                return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
            }
            if self.first_index > 1 {
                self.report.pruned = Some(PruneSummary {
                    files: self.first_index - 1,
                    records: self.report.first_seq,
                    through: layout::file_name(self.first_index - 1),
                    time: time.to_owned(),
                    digest: Location {
                        file: path.to_path_buf(),
                        line: line_no,
                    },
                });
            }
        }
        self.report.prune_digests += 1;
        Ok(())
    }

    /// Walks one file; returns its line count and, if it ends with a rollover digest, the file
    /// that digest names.
    fn walk_file(
        &mut self,
        path: &Path,
        name: &str,
        may_tear: bool,
    ) -> Result<(u64, Option<String>), AuditError> {
        let file = File::open(path).map_err(|e| AuditError::io(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut buf = Vec::with_capacity(4096);
        let mut line_no = 0u64;
        let mut rolled_to: Option<String> = None;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| AuditError::io(path, e))?;
            if n == 0 {
                return Ok((line_no, rolled_to));
            }
            line_no += 1;
            let torn = if buf.contains(&0) {
                // The records end at the padding (the zeros the sink writes ahead of them). A
                // piece of a line before it, or anything but zeros after it, is what a crash
                // left of a batch it cut short: a torn tail.
                let clean = buf.first() == Some(&0)
                    && buf.iter().all(|&b| b == 0)
                    && padding::rest_is_zero(&mut reader).map_err(|e| AuditError::io(path, e))?;
                if clean {
                    return Ok((line_no - 1, rolled_to));
                }
                true
            } else {
                !buf.ends_with(b"\n")
            };
            if torn {
                if may_tear && self.opts.allow_torn_tail {
                    self.report.torn_tail = Some(Location {
                        file: path.to_path_buf(),
                        line: line_no,
                    });
                    return Ok((line_no - 1, rolled_to));
                }
                return Err(self.fail(path, line_no, TamperKind::TruncatedLine));
            }
            let line = buf.strip_suffix(b"\n").unwrap_or(buf.as_slice());
            if rolled_to.is_some() {
                // Nothing may follow a rollover digest in its file.
                return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
            }
            let header =
                parse_header(line).map_err(|_| self.fail(path, line_no, TamperKind::Malformed))?;
            let (seq, prev) = match &header {
                Header::Event { seq, prev } => (*seq, *prev),
                Header::Digest(d) => (d.seq, d.prev),
            };
            if seq > self.expected_seq {
                let expected = self.expected_seq;
                return Err(self.fail(
                    path,
                    line_no,
                    TamperKind::Gap {
                        expected,
                        found: seq,
                    },
                ));
            }
            if seq < self.expected_seq {
                let expected = self.expected_seq;
                return Err(self.fail(
                    path,
                    line_no,
                    TamperKind::OutOfOrder {
                        expected,
                        found: seq,
                    },
                ));
            }
            if prev != self.prev {
                return Err(self.fail(path, line_no, TamperKind::ChainBroken));
            }
            if line_no == 1 {
                let index = layout::parse_file_name(name).unwrap_or_default();
                self.first_records.insert(index, (seq, prev));
            }
            let hash = line_hash(line);
            if let Some(want) = self.anchors.get(&seq) {
                if *want != hash {
                    return Err(self.fail(path, line_no, TamperKind::AnchorNotFound { seq }));
                }
                self.report.anchors_checked += 1;
            }
            match header {
                Header::Event { .. } => {
                    self.report.events += 1;
                    self.report.records_after_last_digest += 1;
                    self.report.closed = false;
                }
                Header::Digest(d) => {
                    if &d.public_key != self.key.as_bytes() {
                        return Err(self.fail(path, line_no, TamperKind::ForeignKey));
                    }
                    if !d.verify_signature(self.key) {
                        return Err(self.fail(path, line_no, TamperKind::BadSignature));
                    }
                    if d.file != name {
                        return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
                    }
                    if d.reason == DigestReason::Rollover {
                        let index = layout::parse_file_name(name).unwrap_or_default();
                        let want = layout::file_name(index + 1);
                        if d.next.as_deref() != Some(want.as_str()) {
                            return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
                        }
                        rolled_to = Some(want);
                    } else if d.next.is_some() {
                        return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
                    }
                    if (d.reason == DigestReason::Prune) != d.pruned.is_some()
                        || (d.reason == DigestReason::Recover) != d.gap.is_some()
                    {
                        return Err(self.fail(path, line_no, TamperKind::DigestMismatch));
                    }
                    if let Some(g) = &d.gap {
                        self.report.recoveries += 1;
                        self.report.refused_in_gaps += g.refused;
                    }
                    if let Some(p) = &d.pruned {
                        self.check_prune(p, path, line_no, name, &d.time)?;
                    }
                    self.report.digests += 1;
                    self.report.records_after_last_digest = 0;
                    self.report.last_digest = Some(Anchor { seq, hash });
                    self.report.last_digest_time = Some(d.time);
                    self.report.closed = d.reason == DigestReason::Close;
                }
            }
            self.report.records += 1;
            self.expected_seq += 1;
            self.prev = hash;
        }
    }
}
