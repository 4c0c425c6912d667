//! The default sink: hash-chained JSON Lines files with signed digests and group commit.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use coffer_core::{Clock, SystemClock};
use coffer_crypto::{SigningKey, VerifyingKey};
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::anchors::{self, Publisher};
use crate::record::{
    digest_line, event_line, genesis_hash, line_hash, parse_header, ChainHash, Header,
};
use crate::{
    hex, layout, padding, perms, time, AuditError, AuditEvent, AuditRecord, AuditSink,
    DigestReason, DigestRecord, FailureMode, Gap, Pruned, SignedDigest, TamperKind, Tampering,
};

/// Default size at which a log file rolls over: 64 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

/// How far ahead of its records the sink keeps the live file written with zeros, by default:
/// 256 KiB (see [`FileSinkOptions::preallocate`]).
pub const DEFAULT_PREALLOCATE_BYTES: u64 = 256 << 10;

/// When [`FileSink::record`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// After the record is fsynced (group commit: one fsync covers every record queued while the
    /// previous one ran). Nothing acknowledged is lost to a crash or a power loss. The default.
    #[default]
    Sync,
    /// After the record is written to the operating system (it survives the process being
    /// killed); a background thread fsyncs every `interval`, so a power loss or kernel crash can
    /// lose at most the records acknowledged in the last `interval`.
    Periodic(Duration),
    /// After the record is queued in memory (serialized, chained and hashed); a background thread
    /// writes and fsyncs every `interval`, and a caller that finds more than
    /// [`BUFFERED_MAX_PENDING_BYTES`] queued writes them itself. A crash of the process loses at
    /// most the records acknowledged in the last `interval` (and at most that many bytes); the
    /// cheapest mode, for deployments that accept that window.
    Buffered(Duration),
}

/// How long a failed sink waits before it tries to write again, by default.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// In [`Durability::Buffered`], the most bytes of acknowledged records kept only in memory.
pub const BUFFERED_MAX_PENDING_BYTES: usize = 1 << 20;

/// How a [`FileSink`] behaves. Build with [`FileSinkOptions::default`] and the setters.
#[derive(Clone)]
pub struct FileSinkOptions {
    max_file_bytes: u64,
    max_total_bytes: Option<u64>,
    durability: Durability,
    failure_mode: FailureMode,
    clock: Arc<dyn Clock>,
    anchor_dir: Option<PathBuf>,
    on_digest: Option<DigestHook>,
    retry_interval: Duration,
    node_id: Option<String>,
    preallocate: u64,
    /// Tests: faults to inject in writes and fsyncs.
    #[cfg(test)]
    faults: Option<fault::Hook>,
}

/// A function [`FileSink`] calls with each signed digest once it is durable (and published to
/// the anchor directory, if there is one): to log it, or ship it off the host.
pub type DigestHook = Arc<dyn Fn(&SignedDigest) + Send + Sync>;

impl Default for FileSinkOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_total_bytes: None,
            durability: Durability::Sync,
            failure_mode: FailureMode::FailClosed,
            clock: Arc::new(SystemClock),
            anchor_dir: None,
            on_digest: None,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            node_id: None,
            preallocate: DEFAULT_PREALLOCATE_BYTES,
            #[cfg(test)]
            faults: None,
        }
    }
}

impl fmt::Debug for FileSinkOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSinkOptions")
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_total_bytes", &self.max_total_bytes)
            .field("durability", &self.durability)
            .field("failure_mode", &self.failure_mode)
            .field("anchor_dir", &self.anchor_dir)
            .field("retry_interval", &self.retry_interval)
            .field("node_id", &self.node_id)
            .field("preallocate", &self.preallocate)
            .finish_non_exhaustive()
    }
}

impl FileSinkOptions {
    /// The size at which a file rolls over (at least 4 KiB; a file may exceed it by one record).
    #[must_use]
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes.max(4096);
        self
    }

    /// Size-based retention (default `None`: keep everything). With `Some(bytes)`, whenever a
    /// file rolls over (and when the sink opens) and the log's files together exceed `bytes`, the
    /// oldest whole files are removed until they do not: first a signed `prune` digest naming
    /// them, their record count and the hash of their last record is written and made durable
    /// in the live file, then they are deleted. The live file is never removed, so the log can
    /// exceed the budget by up to one file ([`FileSinkOptions::max_file_bytes`]); keep the budget
    /// several files large. See `docs/AUDIT.md` for what pruning means for verification.
    #[must_use]
    pub fn max_total_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_total_bytes = bytes;
        self
    }

    /// How far ahead of its records the sink keeps the live file written with zeros (default
    /// [`DEFAULT_PREALLOCATE_BYTES`]; `0`: append, nothing ahead). Each batch is then written
    /// over blocks the file already has, so its fsync commits no file size or block
    /// allocation, only the data: on ext4 that took a 800-byte write-and-`fdatasync` from
    /// ~180 µs to ~120 µs and its CPU from ~75 µs to ~49 µs. When less than a quarter of the
    /// zeroed space is left, the batch that crosses the mark writes the next stretch of zeros
    /// (and its fsync commits the new size). The padding is cut off when the file rolls over,
    /// when the sink closes and when it next opens; every reader stops at a file's first NUL
    /// byte, which no record holds (docs/AUDIT.md, "Preallocated tail").
    #[must_use]
    pub fn preallocate(mut self, bytes: u64) -> Self {
        self.preallocate = bytes;
        self
    }

    /// When `record` returns (default [`Durability::Sync`]).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Fail closed (default) or open.
    #[must_use]
    pub fn failure_mode(mut self, mode: FailureMode) -> Self {
        self.failure_mode = mode;
        self
    }

    /// The clock that stamps digests.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// An anchor directory (default none), best on another volume than the log: every signed
    /// digest is appended to its [`crate::ANCHORS_FILE`] and fsynced once the digest is durable
    /// in the log, and [`FileSink::open`] refuses a log that lacks the newest digest published
    /// there (a log cut back to an earlier point). A digest that cannot be published fails the
    /// sink, as a failed write does. Created 0700 (file 0600) if missing.
    #[must_use]
    pub fn anchor_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.anchor_dir = dir;
        self
    }

    /// Stamps every event this log records with `node_id` (its `nodeId` field), for a node
    /// of several sharing one database; an event that already names a node keeps it.
    #[must_use]
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.node_id = Some(node_id.into());
        self
    }

    /// The anchor directory, if one is set.
    pub fn anchor_dir_path(&self) -> Option<&Path> {
        self.anchor_dir.as_deref()
    }

    /// Called with each signed digest once it is durable and published (from the thread that
    /// wrote it: keep it quick). cofferd logs it.
    #[must_use]
    pub fn on_digest(mut self, hook: DigestHook) -> Self {
        self.on_digest = Some(hook);
        self
    }

    /// How long a sink whose write or fsync failed waits between attempts to write again
    /// (default [`DEFAULT_RETRY_INTERVAL`], at least 1 ms). The background flusher makes the
    /// attempts; [`FileSink::retry`] makes one at once. See [`FileSink::retry`].
    #[must_use]
    pub fn retry_interval(mut self, every: Duration) -> Self {
        self.retry_interval = every.max(Duration::from_millis(1));
        self
    }

    /// Tests: `hook` decides, before every write and fsync of the log, whether it fails.
    #[cfg(test)]
    pub(crate) fn faults(mut self, hook: fault::Hook) -> Self {
        self.faults = Some(hook);
        self
    }
}

/// Fault injection for the unit tests: a write or fsync of the log that fails, or a write cut
/// short, without a real full disk.
#[cfg(test)]
pub(crate) mod fault {
    use std::io;
    use std::sync::Arc;

    /// What is about to happen.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Op {
        /// A write of this many bytes.
        Write(usize),
        /// An fsync (`fdatasync`).
        Sync,
        /// Publishing durable digests (anchor directory, hook).
        Publish,
    }

    /// What happens instead.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Fault {
        /// The call fails with this kind, writing nothing.
        Fail(io::ErrorKind),
        /// A write puts this many bytes in the file, then fails (a torn line).
        Partial(usize, io::ErrorKind),
    }

    /// Decides, per operation, whether it fails (`None`: it runs normally).
    pub(crate) type Hook = Arc<dyn Fn(Op) -> Option<Fault> + Send + Sync>;
}

/// Records appended to the log, not yet handed to the file.
#[derive(Clone)]
struct Segment {
    file_index: u64,
    data: Vec<u8>,
}

struct State {
    pending: Vec<Segment>,
    next_seq: u64,
    last_hash: ChainHash,
    file_index: u64,
    file_bytes: u64,
    /// Records `[0, written)` are in the operating system's hands.
    written: u64,
    /// Records `[0, durable)` are fsynced.
    durable: u64,
    leader: bool,
    failed: Option<io::ErrorKind>,
    /// While `failed`: what the failure has cost so far, for the `recover` digest.
    outage: Option<Outage>,
    closed: bool,
    /// Batches taken for writing so far: the batch that will hold a record appended now is
    /// `batches + 1` (see [`Inner::durable_cv`]).
    batches: u64,
    /// The synchronous-mode flusher is waiting for records.
    flusher_waiting: bool,
    /// Log files before the live one that are on disk and not yet pruned, oldest first.
    old_files: VecDeque<FileInfo>,
    /// The sequence number and `prev` of the live file's first record, once it has one.
    live_first: Option<(u64, ChainHash)>,
    /// Files a prune digest removes, to delete once that digest is durable.
    prune: Option<PendingPrune>,
    /// Digests appended but not yet durable: published (anchor directory, hook) once they are.
    unpublished: Vec<SignedDigest>,
}

/// The time a sink could not write.
#[derive(Debug, Clone, Copy)]
struct Outage {
    /// Events refused meanwhile.
    refused: u64,
    /// Failed attempts (the first failure included).
    failures: u64,
    first: SystemTime,
    last: SystemTime,
    /// When the last attempt failed, for the retry interval.
    last_attempt: Instant,
}

/// A log file before the live one, for the retention policy.
#[derive(Debug, Clone, Copy)]
struct FileInfo {
    index: u64,
    bytes: u64,
    /// Its first record's sequence number and `prev` (`None` if it could not be read: then the
    /// files before it are never pruned, since the boundary could not be stated).
    first: Option<(u64, ChainHash)>,
}

/// Files `..=through` may be deleted once record `after_seq` (the prune digest) is durable.
#[derive(Debug, Clone, Copy)]
struct PendingPrune {
    through: u64,
    after_seq: u64,
}

struct Writer {
    file: File,
    index: u64,
    /// The bytes of `index` handed to the file so far: where the next write goes.
    len: u64,
    /// The file's size: `len` and the zeros written ahead of it.
    allocated: u64,
    /// The file and its length after the last batch that succeeded: after a failure, the sink
    /// cuts the log back to here (a torn line, a batch written but not fsynced) and writes the
    /// failed batch again.
    good: (u64, u64),
}

struct Inner {
    dir: PathBuf,
    key: SigningKey,
    opts: FileSinkOptions,
    state: Mutex<State>,
    turn: Condvar,
    writer: Mutex<Writer>,
    lost: AtomicU64,
    stop: Mutex<bool>,
    stop_signal: Condvar,
    /// In [`Durability::Sync`], the flusher thread waits here for records to write.
    flush_cv: Condvar,
    /// Set when the sink is dropped, for the synchronous-mode flusher.
    stopping: AtomicBool,
    /// Callers waiting for their record to be durable, by the parity of the batch that holds
    /// it: finishing batch `b` wakes only `durable_cv[b % 2]`, not the callers whose records
    /// are in the next batch.
    durable_cv: [Condvar; 2],
    /// Called whenever records become durable or the sink fails (see [`FileSink::on_durable`]).
    hook: Mutex<Option<DurableHook>>,
    /// Files the retention policy could not delete (they are retried after the next batch).
    prune_failures: AtomicU64,
    /// Paths whose permissions were tightened to owner-only when the sink opened.
    tightened: Vec<PathBuf>,
    /// The anchor directory's file, if there is one.
    publisher: Mutex<Option<Publisher>>,
    /// The newest durable digest.
    latest: Mutex<Option<SignedDigest>>,
    /// What [`FileSink::durable_through`] answers while the sink works, readable without the
    /// state lock: `State::durable` in [`Durability::Sync`], `State::written` in
    /// [`Durability::Periodic`] (in [`Durability::Buffered`] it answers `next_seq`, under the
    /// lock). Stored after the state changes, under the lock ([`Inner::publish_marks`]).
    mark: AtomicU64,
    /// `State::failed.is_some()`, readable without the lock (the kind is read under it).
    failed: AtomicBool,
}

/// Why a batch failed: before its records were durable, or after (publishing its digests).
enum BatchError {
    Unwritten(AuditError),
    Unpublished(AuditError),
}

thread_local! {
    /// Each thread's buffer for serializing events: an event is serialized here, outside the
    /// state lock, and copied into the chain's buffer under it, so neither allocates per event.
    static EVENT_JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest serialization buffer a thread keeps between events.
const EVENT_JSON_KEEP: usize = 64 * 1024;

/// Serializes `event` into the thread's buffer and hands the bytes to `then`.
fn with_event_json<T>(
    event: &AuditEvent,
    node_id: Option<&str>,
    then: impl FnOnce(&[u8]) -> Result<T, AuditError>,
) -> Result<T, AuditError> {
    // A node of several stamps its id (a copy of the event, only in that mode).
    let stamped;
    let event = match node_id {
        Some(id) if event.node_id.is_none() => {
            let mut e = event.clone();
            e.node_id = Some(id.to_owned());
            stamped = e;
            &stamped
        }
        _ => event,
    };
    // Taken out of the cell (not borrowed), so a `then` that records again on this thread
    // serializes into a fresh buffer instead of finding this one borrowed.
    let mut buf = EVENT_JSON.with(|b| std::mem::take(&mut *b.borrow_mut()));
    buf.clear();
    let result = serde_json::to_writer(&mut buf, event)
        .map_err(AuditError::Encode)
        .and_then(|()| then(&buf));
    if buf.capacity() <= EVENT_JSON_KEEP {
        EVENT_JSON.with(|b| *b.borrow_mut() = buf);
    }
    result
}

/// A function [`FileSink`] calls when records become durable or the sink fails, with the new
/// durability mark (records `0..mark` are durable; in [`Durability::Sync`] and
/// [`Durability::Periodic`] what [`FileSink::durable_through`] answers, and never more) or
/// `None` once the sink has failed. It may run while the sink holds its own lock:
/// it must not call back into the sink.
pub type DurableHook = Arc<dyn Fn(Option<u64>) + Send + Sync>;

/// The default audit sink: JSON Lines files in a directory, each record chained to the one
/// before by SHA-256, signed digests at open, rollover, close and on [`FileSink::write_digest`],
/// and group commit. See `docs/AUDIT.md`.
pub struct FileSink {
    inner: Arc<Inner>,
    flusher: Option<JoinHandle<()>>,
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSink")
            .field("dir", &self.inner.dir)
            .field("public_key", &self.public_key_hex())
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

/// Zeros to write ahead of the records ([`FileSinkOptions::preallocate`]), a piece at a time.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// Writes all of `data` at `offset` of `file`.
fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, data, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, Write};
        let mut f = file;
        f.seek(io::SeekFrom::Start(offset))?;
        f.write_all(data)
    }
}

/// Opens (or creates) a log file for writing at given offsets (not `O_APPEND`: the sink writes
/// its records over the zeros it wrote ahead of them).
fn open_log(path: &Path) -> Result<File, AuditError> {
    let mut o = OpenOptions::new();
    o.create(true).truncate(false).read(true).write(true);
    perms::private_file(&mut o);
    o.open(path).map_err(|e| AuditError::io(path, e))
}

/// The first record of a log file: its sequence number and `prev` (`None` if the file is empty
/// or its first line is not a record).
fn first_record(path: &Path) -> Result<Option<(u64, ChainHash)>, AuditError> {
    let file = File::open(path).map_err(|e| AuditError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::with_capacity(1024);
    reader
        .read_until(b'\n', &mut line)
        .map_err(|e| AuditError::io(path, e))?;
    let Some(line) = line.strip_suffix(b"\n") else {
        return Ok(None);
    };
    Ok(match parse_header(line) {
        Ok(Header::Event { seq, prev }) => Some((seq, prev)),
        Ok(Header::Digest(d)) => Some((d.seq, d.prev)),
        Err(_) => None,
    })
}

/// The newest prune digest, signed by `key`, in the newest two files up to `live`: the files it
/// names may still be on disk after a crash between writing it and deleting them.
fn latest_prune(
    dir: &Path,
    live: u64,
    key: &VerifyingKey,
) -> Result<Option<(u64, PathBuf)>, AuditError> {
    let files = layout::list(dir)?;
    for (_, path) in files.iter().rev().filter(|(i, _)| *i <= live).take(2) {
        let data = fs::read(path).map_err(|e| AuditError::io(path, e))?;
        for line in data.split(|&b| b == b'\n').rev() {
            if !contains(line, b"\"reason\":\"prune\"") {
                continue;
            }
            let Ok(AuditRecord::Digest(d)) = std::str::from_utf8(line)
                .map_err(|_| AuditError::NotARecord("not UTF-8"))
                .and_then(AuditRecord::parse_line)
            else {
                continue;
            };
            let through = d
                .pruned
                .as_ref()
                .and_then(|p| layout::parse_file_name(&p.last_file));
            if let Some(through) = through {
                if d.verify_signature(key) && through < live {
                    return Ok(Some((through, path.clone())));
                }
            }
        }
    }
    Ok(None)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Deletes the log files with index `..=through` that are still on disk, oldest first, then
/// syncs the directory. Returns how many could not be deleted.
fn delete_through(dir: &Path, through: u64) -> Result<u64, AuditError> {
    let mut failed = 0;
    let mut removed = false;
    for (_, path) in layout::list(dir)?.iter().filter(|(i, _)| *i <= through) {
        match fs::remove_file(path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => failed += 1,
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(failed)
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io(dir, e))?;
    Ok(())
}

/// Where an existing log left off.
struct Resume {
    next_seq: u64,
    last_hash: ChainHash,
    file_index: u64,
    file_bytes: u64,
    truncated: u64,
    /// The newest signed digest in the log.
    last_digest: Option<SignedDigest>,
    /// A digest in the log newer than the newest one in the anchor directory (a crash between
    /// the two writes): to publish now.
    republish: Option<SignedDigest>,
    /// The anchor file's complete bytes and its length (a torn line is cut when it opens).
    anchor_file: (u64, u64),
}

fn rejected(path: &Path, line: u64, kind: TamperKind, verified: u64) -> AuditError {
    AuditError::TailRejected(Box::new(Tampering {
        file: path.to_path_buf(),
        line,
        kind,
        records_verified: verified,
    }))
}

/// The checked tail of the newest file holding records.
struct Tail {
    last_seq: u64,
    last_hash: ChainHash,
    rolled: bool,
    lines: u64,
    /// The newest signed digest (in this file, or the rollover digest ending the file before)
    /// and where it is.
    digest: SignedDigest,
    digest_at: (PathBuf, u64),
    /// The records after it in this file: sequence number, line hash, line number.
    after: Vec<(u64, ChainHash, u64)>,
}

/// The last complete line of a file, and its line number.
fn last_line_of(path: &Path) -> Result<Option<(Vec<u8>, u64)>, AuditError> {
    let data = fs::read(path).map_err(|e| AuditError::io(path, e))?;
    let data = padding::content(&data);
    let Some(end) = data.iter().rposition(|&b| b == b'\n') else {
        return Ok(None);
    };
    let body = data.get(..end).unwrap_or_default();
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let line_no = body.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    Ok(Some((
        body.get(start..).unwrap_or_default().to_vec(),
        line_no,
    )))
}

/// Checks the newest file holding records (`body`: its complete lines) before the sink appends
/// to it: every line is a record chained to the one before; the newest signed digest (in it, or
/// the rollover digest that ends the file before) is signed by `key` and names its file; the
/// records after it chain from it.
fn check_tail(
    dir: &Path,
    index: u64,
    path: &Path,
    body: &[u8],
    key: &VerifyingKey,
) -> Result<Tail, AuditError> {
    let name = layout::file_name(index);
    let text = body.strip_suffix(b"\n").unwrap_or(body);
    let mut last: Option<(u64, ChainHash)> = None;
    let mut digest: Option<(DigestRecord, &[u8], u64)> = None;
    let mut after = Vec::new();
    let mut lines = 0u64;
    for line in text.split(|&b| b == b'\n') {
        lines += 1;
        let verified = lines - 1;
        let header = parse_header(line)
            .map_err(|_| rejected(path, lines, TamperKind::Malformed, verified))?;
        let (seq, prev) = match &header {
            Header::Event { seq, prev } => (*seq, *prev),
            Header::Digest(d) => (d.seq, d.prev),
        };
        if let Some((last_seq, last_hash)) = last {
            let expected = last_seq.saturating_add(1);
            if seq > expected {
                let kind = TamperKind::Gap {
                    expected,
                    found: seq,
                };
                return Err(rejected(path, lines, kind, verified));
            }
            if seq < expected {
                let kind = TamperKind::OutOfOrder {
                    expected,
                    found: seq,
                };
                return Err(rejected(path, lines, kind, verified));
            }
            if prev != last_hash {
                return Err(rejected(path, lines, TamperKind::ChainBroken, verified));
            }
        }
        if matches!(&digest, Some((d, _, _)) if d.next.is_some()) {
            // Nothing follows a rollover digest in its file.
            return Err(rejected(path, lines, TamperKind::DigestMismatch, verified));
        }
        let hash = line_hash(line);
        match header {
            Header::Digest(d) => {
                digest = Some((d, line, lines));
                after.clear();
            }
            Header::Event { .. } => after.push((seq, hash, lines)),
        }
        last = Some((seq, hash));
    }
    let Some((last_seq, last_hash)) = last else {
        return Err(rejected(path, 1, TamperKind::Malformed, 0));
    };
    let (digest, digest_at) = match digest {
        Some((d, line, line_no)) => {
            if &d.public_key != key.as_bytes() {
                return Err(rejected(path, line_no, TamperKind::ForeignKey, line_no - 1));
            }
            if !d.verify_signature(key) {
                return Err(rejected(
                    path,
                    line_no,
                    TamperKind::BadSignature,
                    line_no - 1,
                ));
            }
            if d.file != name {
                return Err(rejected(
                    path,
                    line_no,
                    TamperKind::DigestMismatch,
                    line_no - 1,
                ));
            }
            let line = String::from_utf8(line.to_vec())
                .map_err(|_| rejected(path, line_no, TamperKind::Malformed, line_no - 1))?;
            let sd = SignedDigest { record: d, line };
            (sd, (path.to_path_buf(), line_no))
        }
        None => {
            // No digest in this file: the file before must end with the rollover digest that
            // names this one, and this file must chain from it.
            let before = dir.join(layout::file_name(index.saturating_sub(1)));
            let found = if index > 1 && before.exists() {
                last_line_of(&before)?
            } else {
                None
            };
            let Some((line, line_no)) = found else {
                return Err(rejected(path, 1, TamperKind::MissingDigest, 0));
            };
            let sd = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| SignedDigest::parse(l).ok())
                .filter(|d| d.record.next.as_deref() == Some(name.as_str()))
                .ok_or_else(|| rejected(path, 1, TamperKind::MissingDigest, 0))?;
            let d = &sd.record;
            if &d.public_key != key.as_bytes() {
                return Err(rejected(&before, line_no, TamperKind::ForeignKey, 0));
            }
            if !d.verify_signature(key) {
                return Err(rejected(&before, line_no, TamperKind::BadSignature, 0));
            }
            let first = after.first().map(|(seq, _, _)| *seq);
            let first_prev =
                match parse_header(text.split(|&b| b == b'\n').next().unwrap_or_default()) {
                    Ok(Header::Event { prev, .. }) => Some(prev),
                    _ => None,
                };
            if first != Some(d.seq.saturating_add(1)) || first_prev != Some(line_hash(&line)) {
                return Err(rejected(path, 1, TamperKind::ChainBroken, 0));
            }
            (sd, (before, line_no))
        }
    };
    Ok(Tail {
        last_seq,
        last_hash,
        rolled: digest_at.0 == path && digest.record.next.is_some() && after.is_empty(),
        lines,
        digest,
        digest_at,
        after,
    })
}

/// Compares the log's tail with the newest digest published in `anchor_dir`: the log must hold
/// it. Returns the log's newest digest if the anchor directory lags behind it (a crash between
/// the log's fsync and the anchor's), and the anchor file's sizes.
fn check_anchor(
    anchor_dir: &Path,
    dir: &Path,
    tail: Option<(&Tail, &Path)>,
    key: &VerifyingKey,
) -> Result<(Option<SignedDigest>, (u64, u64)), AuditError> {
    let (latest, complete, len) = anchors::latest_signed(anchor_dir, key)?;
    let Some(published) = latest else {
        return Ok((tail.map(|(t, _)| t.digest.clone()), (complete, len)));
    };
    let anchor = published.anchor();
    let missing = TamperKind::AnchorNotFound { seq: anchor.seq };
    let Some((t, path)) = tail else {
        return Err(rejected(dir, 0, missing, 0));
    };
    let ours = t.digest.anchor();
    if anchor.seq > t.last_seq {
        return Err(rejected(path, t.lines, missing, t.lines));
    }
    if anchor.seq < ours.seq {
        return Ok((Some(t.digest.clone()), (complete, len)));
    }
    if anchor.seq == ours.seq {
        if anchor.hash != ours.hash {
            return Err(rejected(&t.digest_at.0, t.digest_at.1, missing, 0));
        }
        return Ok((None, (complete, len)));
    }
    match t.after.iter().find(|(seq, _, _)| *seq == anchor.seq) {
        Some((_, hash, _)) if *hash == anchor.hash => Ok((None, (complete, len))),
        Some((_, _, line)) => Err(rejected(path, *line, missing, 0)),
        None => Err(rejected(path, t.lines, missing, 0)),
    }
}

/// Finds where the log left off and checks its tail before anything is written: the newest
/// file's records chain from the newest signed digest (see [`check_tail`]) and, with an anchor
/// directory, the log holds the newest digest published there. Only then does it cut off a
/// torn last line (what a crash mid-write leaves) and remove trailing files left empty.
fn resume(dir: &Path, key: &VerifyingKey, anchor_dir: Option<&Path>) -> Result<Resume, AuditError> {
    let files = layout::list(dir)?;
    // Read-only first: the files after the last complete record, and that record's file.
    let mut emptied: Vec<(PathBuf, u64)> = Vec::new();
    let mut found = None;
    for (index, path) in files.iter().rev() {
        let data = fs::read(path).map_err(|e| AuditError::io(path, e))?;
        // The records end at the padding (a crash leaves the zeros written ahead of them).
        let cut = padding::content(&data)
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        if cut == 0 {
            emptied.push((path.clone(), padding::stray_bytes(&data)));
            continue;
        }
        found = Some((*index, path.clone(), data, cut));
        break;
    }
    let tail = match &found {
        Some((index, path, data, cut)) => Some(check_tail(
            dir,
            *index,
            path,
            data.get(..*cut).unwrap_or_default(),
            key,
        )?),
        None => None,
    };
    let (republish, anchor_file) = match anchor_dir {
        Some(a) => {
            let t = tail.as_ref().zip(found.as_ref().map(|f| f.1.as_path()));
            check_anchor(a, dir, t, key)?
        }
        None => (None, (0, 0)),
    };
    // The tail verified: now cut what a crash left.
    let mut truncated = 0u64;
    for (path, len) in &emptied {
        truncated += len;
        fs::remove_file(path).map_err(|e| AuditError::io(path, e))?;
    }
    if let Some((_, path, data, cut)) = &found {
        if *cut < data.len() {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| AuditError::io(path, e))?;
            f.set_len(*cut as u64)
                .and_then(|()| f.sync_all())
                .map_err(|e| AuditError::io(path, e))?;
            // A torn line counts, the padding does not.
            truncated += padding::stray_bytes(data.get(*cut..).unwrap_or_default());
        }
    }
    if !emptied.is_empty() {
        sync_dir(dir)?;
    }
    Ok(match (found, tail) {
        (Some((index, _, _, cut)), Some(t)) => Resume {
            next_seq: t.last_seq.saturating_add(1),
            last_hash: t.last_hash,
            file_index: if t.rolled { index + 1 } else { index },
            file_bytes: if t.rolled { 0 } else { cut as u64 },
            truncated,
            last_digest: Some(t.digest),
            republish,
            anchor_file,
        },
        _ => Resume {
            next_seq: 0,
            last_hash: genesis_hash(),
            file_index: 1,
            file_bytes: 0,
            truncated,
            last_digest: None,
            republish,
            anchor_file,
        },
    })
}

impl FileSink {
    /// Opens (or creates) the log in `dir`, signing digests with `key`. An existing log is
    /// continued, after its tail is checked: the newest file's records must chain from the
    /// newest signed digest (signed by `key`), and with an anchor directory
    /// ([`FileSinkOptions::anchor_dir`]) the log must hold the newest digest published there.
    /// A tail that does not is refused with [`AuditError::TailRejected`] (file, line, what is
    /// wrong) before anything is written. Records after the newest digest that chain from it
    /// are kept (a crash before the next digest leaves them), and a torn last line left by a
    /// crash is cut off (the count of bytes cut is recorded in the signed `open` digest written
    /// now). The log before the tail is not verified here: see [`crate::verify`].
    pub fn open(
        dir: impl Into<PathBuf>,
        key: SigningKey,
        opts: FileSinkOptions,
    ) -> Result<Self, AuditError> {
        let dir = dir.into();
        let tightened = perms::create_private_dir(&dir)?;
        let r = resume(&dir, &key.verifying_key(), opts.anchor_dir.as_deref())?;
        let mut publisher = match &opts.anchor_dir {
            Some(a) => Some(Publisher::open(a, r.anchor_file.0, r.anchor_file.1)?),
            None => None,
        };
        if let (Some(p), Some(d)) = (publisher.as_mut(), &r.republish) {
            p.publish(std::slice::from_ref(d))?;
        }
        // A crash between a prune digest and the deletions it announces: finish them.
        let mut prune_failures = 0;
        if let Some((through, record_file)) =
            latest_prune(&dir, r.file_index, &key.verifying_key())?
        {
            File::open(&record_file)
                .and_then(|f| f.sync_all())
                .map_err(|e| AuditError::io(&record_file, e))?;
            prune_failures += delete_through(&dir, through)?;
        }
        let mut closed = VecDeque::new();
        let mut live_first = None;
        for (index, path) in layout::list(&dir)? {
            if index < r.file_index {
                let bytes = fs::metadata(&path)
                    .map_err(|e| AuditError::io(&path, e))?
                    .len();
                closed.push_back(FileInfo {
                    index,
                    bytes,
                    first: first_record(&path)?,
                });
            } else if index == r.file_index && r.file_bytes > 0 {
                live_first = first_record(&path)?;
            }
        }
        let path = dir.join(layout::file_name(r.file_index));
        let file = open_log(&path)?;
        let len = file.metadata().map_err(|e| AuditError::io(&path, e))?.len();
        sync_dir(&dir)?;
        let inner = Arc::new(Inner {
            dir,
            key,
            state: Mutex::new(State {
                pending: Vec::new(),
                next_seq: r.next_seq,
                last_hash: r.last_hash,
                file_index: r.file_index,
                file_bytes: r.file_bytes,
                written: r.next_seq,
                durable: r.next_seq,
                leader: false,
                failed: None,
                outage: None,
                closed: false,
                batches: 0,
                flusher_waiting: false,
                old_files: closed,
                live_first,
                prune: None,
                unpublished: Vec::new(),
            }),
            turn: Condvar::new(),
            writer: Mutex::new(Writer {
                file,
                index: r.file_index,
                len,
                allocated: len,
                good: (r.file_index, len),
            }),
            lost: AtomicU64::new(0),
            stop: Mutex::new(false),
            stop_signal: Condvar::new(),
            flush_cv: Condvar::new(),
            stopping: AtomicBool::new(false),
            durable_cv: [Condvar::new(), Condvar::new()],
            hook: Mutex::new(None),
            prune_failures: AtomicU64::new(prune_failures),
            tightened,
            publisher: Mutex::new(publisher),
            latest: Mutex::new(r.last_digest),
            mark: AtomicU64::new(r.next_seq),
            failed: AtomicBool::new(false),
            opts,
        });
        let seq = {
            let mut st = inner.state.lock();
            let open = inner
                .push_digest(&mut st, DigestReason::Open, r.truncated)?
                .record
                .seq;
            inner.maybe_prune(&mut st)?.unwrap_or(open)
        };
        inner.commit(seq + 1, true)?;
        let flusher = match inner.opts.durability {
            Durability::Sync => {
                // One thread writes and fsyncs batch after batch while records keep coming, so
                // the disk is never idle waiting for a caller to be scheduled to lead the next
                // group commit.
                let worker = Arc::clone(&inner);
                Some(
                    std::thread::Builder::new()
                        .name("coffer-audit-fsync".into())
                        .spawn(move || worker.flush_continuously())
                        .map_err(|e| AuditError::io(&inner.dir, e))?,
                )
            }
            Durability::Periodic(every) | Durability::Buffered(every) => {
                let worker = Arc::clone(&inner);
                Some(
                    std::thread::Builder::new()
                        .name("coffer-audit-fsync".into())
                        .spawn(move || worker.flush_periodically(every))
                        .map_err(|e| AuditError::io(&inner.dir, e))?,
                )
            }
        };
        Ok(Self { inner, flusher })
    }

    /// The audit public key, to pin for verification.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.inner.key.verifying_key()
    }

    /// The audit public key in hex (64 characters), as operators pin it.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.inner.key.verifying_key().as_bytes())
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Writes a signed digest covering every record so far and returns it once durable, for
    /// export off the host. Call it on a timer (e.g. every minute): records after the last digest
    /// are protected only by the chain until the next one.
    pub fn write_digest(&self) -> Result<SignedDigest, AuditError> {
        self.inner.digest_now(DigestReason::Timer)
    }

    /// The newest signed digest that is durable in the log (and published to the anchor
    /// directory, if there is one): what an operator compares with the anchors kept elsewhere.
    pub fn latest_digest(&self) -> Option<SignedDigest> {
        self.inner.latest.lock().clone()
    }

    /// Writes the final `close` digest and refuses further records. Also done, best effort, on drop.
    pub fn close(&self) -> Result<SignedDigest, AuditError> {
        let d = self.inner.digest_now(DigestReason::Close)?;
        self.inner.trim_padding();
        Ok(d)
    }

    /// Records appended to the log (events and digests) that are not yet fsynced: the audit
    /// log's lag behind the calls it records. Always 0 between calls in [`Durability::Sync`];
    /// bounded by the flush interval in the other modes.
    pub fn unsynced_records(&self) -> u64 {
        let st = self.inner.state.lock();
        st.next_seq.saturating_sub(st.durable)
    }

    /// Events lost while failing open.
    pub fn lost_events(&self) -> u64 {
        self.inner.lost.load(Ordering::Relaxed)
    }

    /// Log files the retention policy announced in a prune digest but could not delete (each
    /// failure counted once per attempt; they are retried after the next durable batch and on
    /// the next open). Export it as a metric: the log then grows past its budget.
    pub fn prune_failures(&self) -> u64 {
        self.inner.prune_failures.load(Ordering::Relaxed)
    }

    /// The directory and files whose permissions [`FileSink::open`] found open to group or
    /// others and tightened to owner-only (0700, 0600): empty unless an earlier version or an
    /// operator loosened them. Worth a line in the operator's log.
    pub fn tightened_permissions(&self) -> &[PathBuf] {
        &self.inner.tightened
    }

    /// Appends `event` and returns its sequence number at once, without waiting for it to be
    /// durable — for a caller that holds back its own answer until [`FileSink::durable_through`]
    /// passes the number (an asynchronous server, say, waking on [`FileSink::on_durable`]).
    /// With [`Durability::Sync`] the flusher thread makes it durable promptly; in the other
    /// modes this is [`AuditSink::record`]'s promise. Errors are returned even when the sink
    /// fails open: the caller decides.
    pub fn append(&self, event: &AuditEvent) -> Result<u64, AuditError> {
        with_event_json(event, self.inner.opts.node_id.as_deref(), |json| {
            self.append_json(json)
        })
    }

    fn append_json(&self, json: &[u8]) -> Result<u64, AuditError> {
        let mut st = self.inner.state.lock();
        let seq = self.inner.push_event(&mut st, json)?;
        match self.inner.opts.durability {
            Durability::Sync => {
                if st.flusher_waiting {
                    self.inner.flush_cv.notify_one();
                }
                Ok(seq)
            }
            Durability::Buffered(_) => Ok(seq),
            Durability::Periodic(_) => {
                drop(st);
                self.inner.commit(seq + 1, false).map(|()| seq)
            }
        }
    }

    /// How many records are durable (records `0..n` are fsynced, or in the modes that do not
    /// fsync per record, written as promised); an error once the sink has failed.
    ///
    /// In [`Durability::Sync`] and [`Durability::Periodic`] this reads two atomics and takes
    /// no lock unless the sink has failed: callers waiting for their records (woken together
    /// by [`FileSink::on_durable`]) do not queue on the lock that appends take.
    pub fn durable_through(&self) -> Result<u64, AuditError> {
        if let Durability::Buffered(_) = self.inner.opts.durability {
            let st = self.inner.state.lock();
            if let Some(kind) = st.failed {
                return Err(AuditError::Failed { kind });
            }
            return Ok(st.next_seq);
        }
        // The flag first: the mark is only ever a count of records really durable, so a
        // failure that lands between the two loads cannot make the answer wrong.
        if self.inner.failed.load(Ordering::Acquire) {
            let st = self.inner.state.lock();
            if let Some(kind) = st.failed {
                return Err(AuditError::Failed { kind });
            }
        }
        Ok(self.inner.mark.load(Ordering::Acquire))
    }

    /// After a write or fsync failed, tries at once to write again instead of waiting for the
    /// flusher's next attempt (every [`FileSinkOptions::retry_interval`]). `Ok(())` if the sink
    /// accepts records (it had not failed, or it has recovered now); the error of the attempt
    /// otherwise.
    ///
    /// While failed, the sink refuses every record (or, failing open, counts it lost); nothing
    /// is acknowledged that is not durable. The records it had queued when the write failed
    /// stay queued, chained as they were. Recovering, it cuts the log back to where the last
    /// successful batch ended (a torn line, or lines written but not fsynced, go), writes the
    /// queued records again, then a signed `recover` digest whose `gap` says how many events
    /// were refused, how many attempts failed, the first and last failure time and the kind of
    /// error, fsyncs, and only then accepts records again.
    pub fn retry(&self) -> Result<(), AuditError> {
        self.inner.retry()
    }

    /// Whether the sink has failed and not yet recovered (see [`FileSink::retry`]).
    pub fn is_failed(&self) -> bool {
        self.inner.failed.load(Ordering::Acquire)
    }

    /// Sets the function called (from the flusher thread, quickly please) each time records
    /// become durable in [`Durability::Sync`] mode, and when the sink fails; it is given the
    /// mark (see [`DurableHook`]).
    pub fn on_durable(&self, hook: DurableHook) {
        *self.inner.hook.lock() = Some(hook);
    }
}

impl Inner {
    /// Mirrors the durability watermark and the failure flag into the atomics that
    /// [`FileSink::durable_through`] reads; called, under the state lock, after every change
    /// of `durable`, `written` or `failed`.
    fn publish_marks(&self, st: &State) {
        let mark = match self.opts.durability {
            Durability::Sync => st.durable,
            Durability::Periodic(_) | Durability::Buffered(_) => st.written,
        };
        self.mark.store(mark, Ordering::Release);
        self.failed.store(st.failed.is_some(), Ordering::Release);
    }

    fn digest_now(&self, reason: DigestReason) -> Result<SignedDigest, AuditError> {
        let d = {
            let mut st = self.state.lock();
            Self::check_open(&st)?;
            let d = self.push_digest(&mut st, reason, 0)?;
            if reason == DigestReason::Close {
                st.closed = true;
            }
            d
        };
        self.commit(d.record.seq + 1, true)?;
        Ok(d)
    }

    fn check_open(st: &State) -> Result<(), AuditError> {
        if let Some(kind) = st.failed {
            return Err(AuditError::Failed { kind });
        }
        if st.closed {
            return Err(AuditError::Closed);
        }
        Ok(())
    }

    /// Appends one line (built by `build` into the buffer) to the pending records.
    fn append(st: &mut State, build: impl FnOnce(u64, &ChainHash, &mut Vec<u8>)) -> u64 {
        let seq = st.next_seq;
        if st
            .pending
            .last()
            .is_none_or(|s| s.file_index != st.file_index)
        {
            st.pending.push(Segment {
                file_index: st.file_index,
                data: Vec::with_capacity(16 * 1024),
            });
        }
        let prev = st.last_hash;
        if st.file_bytes == 0 {
            st.live_first = Some((seq, prev));
        }
        let mut hash = prev;
        let mut added = 0;
        if let Some(seg) = st.pending.last_mut() {
            let start = seg.data.len();
            build(seq, &prev, &mut seg.data);
            hash = line_hash(seg.data.get(start..).unwrap_or_default());
            seg.data.push(b'\n');
            added = seg.data.len() - start;
        }
        st.last_hash = hash;
        st.file_bytes += added as u64;
        st.next_seq += 1;
        seq
    }

    fn push_event(&self, st: &mut State, json: &[u8]) -> Result<u64, AuditError> {
        if let Err(e) = Self::check_open(st) {
            if let Some(o) = st.outage.as_mut() {
                o.refused += 1;
            }
            return Err(e);
        }
        let estimate = json.len() as u64 + 128;
        if st.file_bytes > 0 && st.file_bytes + estimate > self.opts.max_file_bytes {
            self.push_digest(st, DigestReason::Rollover, 0)?;
            self.maybe_prune(st)?;
        }
        Ok(Self::append(st, |seq, prev, out| {
            event_line(seq, prev, json, out)
        }))
    }

    /// Applies the retention policy: if the log's files exceed the budget, appends a prune
    /// digest naming the oldest files to remove (deleted once it is durable, see
    /// [`Inner::commit`]) and returns its sequence number.
    fn maybe_prune(&self, st: &mut State) -> Result<Option<u64>, AuditError> {
        let Some(max) = self.opts.max_total_bytes else {
            return Ok(None);
        };
        let mut total = st.old_files.iter().map(|f| f.bytes).sum::<u64>() + st.file_bytes;
        let mut removed: Vec<FileInfo> = Vec::new();
        while total > max {
            // The kept log's first record: the boundary the prune digest states. A file is
            // removed only when that boundary is known.
            let boundary = match st.old_files.get(1) {
                Some(next) => next.first,
                None => st.live_first.or(Some((st.next_seq, st.last_hash))),
            };
            if boundary.is_none() {
                break;
            }
            let Some(f) = st.old_files.pop_front() else {
                break;
            };
            total = total.saturating_sub(f.bytes);
            removed.push(f);
        }
        let (Some(first), Some(last)) = (removed.first(), removed.last()) else {
            return Ok(None);
        };
        let (next_seq, last_hash) = st
            .old_files
            .front()
            .and_then(|f| f.first)
            .or(st.live_first)
            .unwrap_or((st.next_seq, st.last_hash));
        let pruned = Pruned {
            first_file: layout::file_name(first.index),
            last_file: layout::file_name(last.index),
            records: next_seq.saturating_sub(first.first.map_or(0, |(seq, _)| seq)),
            bytes: removed.iter().map(|f| f.bytes).sum(),
            next_seq,
            last_hash,
        };
        let through = last.index;
        let d = self.push_digest_with(st, DigestReason::Prune, 0, Some(Box::new(pruned)), None)?;
        let after_seq = d.record.seq;
        st.prune = Some(match st.prune {
            Some(p) => PendingPrune {
                through: p.through.max(through),
                after_seq,
            },
            None => PendingPrune { through, after_seq },
        });
        Ok(Some(after_seq))
    }

    fn push_digest(
        &self,
        st: &mut State,
        reason: DigestReason,
        truncated_bytes: u64,
    ) -> Result<SignedDigest, AuditError> {
        self.push_digest_with(st, reason, truncated_bytes, None, None)
    }

    fn push_digest_with(
        &self,
        st: &mut State,
        reason: DigestReason,
        truncated_bytes: u64,
        pruned: Option<Box<Pruned>>,
        gap: Option<Box<Gap>>,
    ) -> Result<SignedDigest, AuditError> {
        let rollover = reason == DigestReason::Rollover;
        let record = DigestRecord {
            seq: st.next_seq,
            prev: st.last_hash,
            time: time::rfc3339(self.opts.clock.now()),
            reason,
            file: layout::file_name(st.file_index),
            next: rollover.then(|| layout::file_name(st.file_index + 1)),
            truncated_bytes,
            pruned,
            gap,
            public_key: [0; 32],
            signature: [0; 64],
        }
        .sign(&self.key);
        let mut line = Vec::with_capacity(512);
        digest_line(&record, &mut line)?;
        Self::append(st, |_, _, out| out.extend_from_slice(&line));
        let signed = SignedDigest {
            record,
            line: String::from_utf8(line).map_err(|_| AuditError::NotARecord("not UTF-8"))?,
        };
        st.unpublished.push(signed.clone());
        if rollover {
            if let Some(first) = st.live_first.take() {
                st.old_files.push_back(FileInfo {
                    index: st.file_index,
                    bytes: st.file_bytes,
                    first: Some(first),
                });
            }
            st.file_index += 1;
            st.file_bytes = 0;
        }
        Ok(signed)
    }

    /// Waits until records `[0, target)` are written (and fsynced if `need_sync` or the sink is
    /// synchronous), writing them itself if no other thread is: leader/follower group commit.
    fn commit(&self, target: u64, need_sync: bool) -> Result<(), AuditError> {
        let sync = need_sync || self.opts.durability == Durability::Sync;
        let mut st = self.state.lock();
        loop {
            let done = if sync { st.durable } else { st.written };
            if done >= target {
                return Ok(());
            }
            if let Some(kind) = st.failed {
                return Err(AuditError::Failed { kind });
            }
            if st.leader {
                self.turn.wait(&mut st);
                continue;
            }
            st.leader = true;
            let batch = std::mem::take(&mut st.pending);
            let upto = st.next_seq;
            st.batches += 1;
            let number = st.batches;
            // Digests are published once durable: a published digest is always in the log.
            let digests = if sync {
                std::mem::take(&mut st.unpublished)
            } else {
                Vec::new()
            };
            let result = MutexGuard::unlocked(&mut st, || {
                self.write_batch(&batch, sync)
                    .map_err(BatchError::Unwritten)?;
                self.publish(&digests).map_err(BatchError::Unpublished)
            });
            st.leader = false;
            self.turn.notify_all();
            match result {
                Ok(()) => {
                    st.written = upto;
                    if sync {
                        st.durable = upto;
                    }
                    self.publish_marks(&st);
                    if let Some(cv) = self.durable_cv.get((number % 2) as usize) {
                        cv.notify_all();
                    }
                    if sync {
                        // The hook wakes the tasks awaiting these records (and may unpark a
                        // runtime worker): outside the lock, so that appends are not held up
                        // behind the wake-ups. The mark is published already.
                        MutexGuard::unlocked(&mut st, || self.call_hook());
                        self.delete_pruned(&mut st);
                    }
                }
                Err(BatchError::Unwritten(e)) => {
                    // The batch goes back to the front of the queue, to be written again when
                    // the sink recovers (see [`Inner::retry`]).
                    let mut later = std::mem::take(&mut st.pending);
                    st.pending = batch;
                    st.pending.append(&mut later);
                    return Err(self.batch_failed(&mut st, digests, e));
                }
                Err(BatchError::Unpublished(e)) => {
                    // The records are durable in the log (their callers may go on); the
                    // digests wait for the anchor directory, and the sink fails until they
                    // are published.
                    st.written = upto;
                    if sync {
                        st.durable = upto;
                    }
                    self.publish_marks(&st);
                    return Err(self.batch_failed(&mut st, digests, e));
                }
            }
        }
    }

    /// Deletes the files of a prune digest that is now durable (outside the state lock).
    fn delete_pruned(&self, st: &mut MutexGuard<'_, State>) {
        let durable = st.durable;
        let Some(p) = st.prune.take_if(|p| p.after_seq < durable) else {
            return;
        };
        let failed = MutexGuard::unlocked(st, || delete_through(&self.dir, p.through));
        if !matches!(failed, Ok(0)) {
            self.prune_failures
                .fetch_add(failed.unwrap_or(1), Ordering::Relaxed);
            // Retry after the next batch.
            st.prune = Some(match st.prune {
                Some(q) => PendingPrune {
                    through: q.through.max(p.through),
                    after_seq: q.after_seq,
                },
                None => p,
            });
        }
    }

    fn write_batch(&self, batch: &[Segment], sync: bool) -> Result<(), AuditError> {
        let mut w = self.writer.lock();
        // Create every new file before writing the rollover digest that names it, so a crash
        // never leaves a digest pointing at a file that does not exist.
        let last_index = batch.last().map_or(w.index, |s| s.file_index);
        if last_index > w.index {
            for index in w.index + 1..=last_index {
                open_log(&self.dir.join(layout::file_name(index)))?;
            }
            sync_dir(&self.dir)?;
        }
        for seg in batch {
            if seg.file_index != w.index {
                let old = self.dir.join(layout::file_name(w.index));
                self.sync_file(&w.file)
                    .map_err(|e| AuditError::io(&old, e))?;
                // The full file's records are durable; its padding goes. Best effort: a reader
                // stops at the padding anyway, and the next open cuts what is left of it.
                if w.allocated > w.len && w.file.set_len(w.len).is_ok() {
                    let _ = w.file.sync_all();
                }
                let path = self.dir.join(layout::file_name(seg.file_index));
                w.file = open_log(&path)?;
                w.index = seg.file_index;
                w.len = w
                    .file
                    .metadata()
                    .map_err(|e| AuditError::io(&path, e))?
                    .len();
                w.allocated = w.len;
            }
            self.write_file(&mut w, &seg.data)
                .map_err(|e| AuditError::io(self.dir.join(layout::file_name(w.index)), e))?;
            w.len += seg.data.len() as u64;
        }
        if sync {
            self.sync_file(&w.file)
                .map_err(|e| AuditError::io(self.dir.join(layout::file_name(w.index)), e))?;
        }
        w.good = (w.index, w.len);
        Ok(())
    }

    /// Writes `data` to the log file at the writer's position (tests may inject a fault here),
    /// then, if the zeros ahead of it run short, writes the next stretch of them
    /// ([`FileSinkOptions::preallocate`]).
    fn write_file(&self, w: &mut Writer, data: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(f) = self
            .opts
            .faults
            .as_ref()
            .and_then(|h| h(fault::Op::Write(data.len())))
        {
            return match f {
                fault::Fault::Fail(kind) => Err(kind.into()),
                fault::Fault::Partial(n, kind) => {
                    write_all_at(&w.file, data.get(..n).unwrap_or(data), w.len)?;
                    Err(kind.into())
                }
            };
        }
        write_all_at(&w.file, data, w.len)?;
        let end = w.len + data.len() as u64;
        w.allocated = w.allocated.max(end);
        let ahead = self.opts.preallocate;
        // No zeros past the size at which the file rolls over: they would only be cut off.
        let limit = self.opts.max_file_bytes.max(end);
        if ahead > 0 && end.saturating_add(ahead / 4) > w.allocated && w.allocated < limit {
            let target = end.saturating_add(ahead).next_multiple_of(4096).min(limit);
            while w.allocated < target {
                let n = (target - w.allocated).min(ZEROS.len() as u64) as usize;
                write_all_at(&w.file, ZEROS.get(..n).unwrap_or_default(), w.allocated)?;
                w.allocated += n as u64;
            }
        }
        Ok(())
    }

    /// Cuts the zeros written ahead of the records off the live file, once nothing more is
    /// written to it (close). Best effort: every reader stops at the padding, and the next open
    /// cuts what is left of it.
    fn trim_padding(&self) {
        let mut w = self.writer.lock();
        if w.allocated > w.len && w.file.set_len(w.len).is_ok() {
            w.allocated = w.len;
            let _ = w.file.sync_all();
        }
    }

    /// Fsyncs the log file's data (tests may inject a fault here).
    fn sync_file(&self, file: &File) -> io::Result<()> {
        #[cfg(test)]
        if let Some(f) = self.opts.faults.as_ref().and_then(|h| h(fault::Op::Sync)) {
            let (fault::Fault::Fail(kind) | fault::Fault::Partial(_, kind)) = f;
            return Err(kind.into());
        }
        file.sync_data()
    }

    /// Cuts the log back to where the last successful batch left it: removes the files a
    /// failed batch created after it and truncates its file (a torn line, or lines written but
    /// never fsynced), so the batch can be written again and the chain stays whole.
    fn rewind(&self, w: &mut Writer) -> Result<(), AuditError> {
        let (index, len) = w.good;
        let mut removed = false;
        for (i, path) in layout::list(&self.dir)? {
            if i > index {
                match fs::remove_file(&path) {
                    Ok(()) => removed = true,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(AuditError::io(&path, e)),
                }
            }
        }
        let path = self.dir.join(layout::file_name(index));
        let file = open_log(&path)?;
        // The padding goes too: the next write writes it again.
        file.set_len(len).map_err(|e| AuditError::io(&path, e))?;
        if removed {
            sync_dir(&self.dir)?;
        }
        w.file = file;
        w.index = index;
        w.len = len;
        w.allocated = len;
        Ok(())
    }

    /// Marks the sink failed by `e` (or notes one more failed attempt).
    /// A batch failed with `e`: its `digests` go back to the front of the unpublished queue,
    /// the sink fails, waiters wake and the hook runs. Returns `e`.
    fn batch_failed(
        &self,
        st: &mut State,
        digests: Vec<SignedDigest>,
        e: AuditError,
    ) -> AuditError {
        let mut later = std::mem::take(&mut st.unpublished);
        st.unpublished = digests;
        st.unpublished.append(&mut later);
        self.note_failure(st, &e);
        for cv in &self.durable_cv {
            cv.notify_all();
        }
        self.call_hook();
        e
    }

    fn note_failure(&self, st: &mut State, e: &AuditError) {
        let kind = match e {
            AuditError::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        let now = self.opts.clock.now();
        st.failed = Some(kind);
        let o = st.outage.get_or_insert(Outage {
            refused: 0,
            failures: 0,
            first: now,
            last: now,
            last_attempt: Instant::now(),
        });
        o.failures += 1;
        o.last = now;
        o.last_attempt = Instant::now();
        self.publish_marks(st);
    }

    /// If the sink has failed, tries to write again: cuts the log back to the end of the last
    /// batch that succeeded, then writes, in one batch, the records that were queued when it
    /// failed (they are still chained where they were) followed by a signed `recover` digest
    /// stating the gap, and fsyncs. If that works the sink accepts records again; if not, the
    /// queue is as it was and the sink stays failed. Returns whether the sink is working.
    fn retry(&self) -> Result<(), AuditError> {
        let mut st = self.state.lock();
        while st.leader {
            self.turn.wait(&mut st);
        }
        let (Some(kind), Some(outage)) = (st.failed, st.outage) else {
            return Ok(());
        };
        let saved = (
            st.pending.clone(),
            st.unpublished.clone(),
            st.next_seq,
            st.last_hash,
            st.file_bytes,
            st.live_first,
            st.closed,
        );
        let gap = Gap::new(
            outage.refused,
            outage.failures,
            time::rfc3339(outage.first),
            time::rfc3339(outage.last),
            format!("{kind:?}"),
        );
        let pushed = self
            .push_digest_with(&mut st, DigestReason::Recover, 0, None, Some(Box::new(gap)))
            .and_then(|_| {
                if st.closed {
                    // The close digest was in the failed batch: the log still ends with one.
                    self.push_digest(&mut st, DigestReason::Close, 0)?;
                }
                Ok(())
            })
            .map_err(BatchError::Unwritten);
        let result = pushed
            .and_then(|()| {
                st.leader = true;
                let batch = std::mem::take(&mut st.pending);
                let digests = std::mem::take(&mut st.unpublished);
                let r = MutexGuard::unlocked(&mut st, || {
                    let rewound = self.rewind(&mut self.writer.lock());
                    rewound
                        .and_then(|()| self.write_batch(&batch, true))
                        .map_err(BatchError::Unwritten)?;
                    self.publish(&digests).map_err(BatchError::Unpublished)
                });
                st.leader = false;
                self.turn.notify_all();
                if let Err(BatchError::Unpublished(_)) = &r {
                    // Written and fsynced, gap digest included: only the publication is left.
                    st.unpublished = digests;
                }
                r
            })
            .map_err(|e| match e {
                BatchError::Unwritten(e) => (false, e),
                BatchError::Unpublished(e) => (true, e),
            });
        match result {
            Ok(()) => {
                st.failed = None;
                st.outage = None;
                st.batches += 1;
                st.written = st.next_seq;
                st.durable = st.next_seq;
                self.publish_marks(&st);
                for cv in &self.durable_cv {
                    cv.notify_all();
                }
                self.call_hook();
                self.delete_pruned(&mut st);
                Ok(())
            }
            Err((false, e)) => {
                (
                    st.pending,
                    st.unpublished,
                    st.next_seq,
                    st.last_hash,
                    st.file_bytes,
                    st.live_first,
                    st.closed,
                ) = saved;
                self.note_failure(&mut st, &e);
                self.call_hook();
                Err(e)
            }
            Err((true, e)) => {
                // The queue and the gap digest are durable in the log: the outage they
                // describe is over; what follows is a new one, until the digests are published.
                st.written = st.next_seq;
                st.durable = st.next_seq;
                st.outage = None;
                self.note_failure(&mut st, &e);
                for cv in &self.durable_cv {
                    cv.notify_all();
                }
                self.call_hook();
                Err(e)
            }
        }
    }

    /// Whether a failed sink's next attempt is due.
    fn retry_due(&self, st: &State) -> Option<Instant> {
        st.outage
            .filter(|_| st.failed.is_some())
            .map(|o| o.last_attempt + self.opts.retry_interval)
    }

    /// Appends durable digests to the anchor directory, then makes them the latest and hands
    /// them to the digest hook. A failure fails the sink, as a failed write does.
    fn publish(&self, digests: &[SignedDigest]) -> Result<(), AuditError> {
        let Some(last) = digests.last() else {
            return Ok(());
        };
        #[cfg(test)]
        if let Some(f) = self
            .opts
            .faults
            .as_ref()
            .and_then(|h| h(fault::Op::Publish))
        {
            let (fault::Fault::Fail(kind) | fault::Fault::Partial(_, kind)) = f;
            return Err(AuditError::io(&self.dir, kind.into()));
        }
        if let Some(p) = self.publisher.lock().as_mut() {
            p.publish(digests)?;
        }
        *self.latest.lock() = Some(last.clone());
        if let Some(hook) = &self.opts.on_digest {
            for d in digests {
                hook(d);
            }
        }
        Ok(())
    }

    /// Runs the durable hook with the mark [`Inner::publish_marks`] published last (every
    /// caller publishes before it calls).
    fn call_hook(&self) {
        let hook = self.hook.lock().clone();
        if let Some(hook) = hook {
            let mark = if self.failed.load(Ordering::Acquire) {
                None
            } else {
                Some(self.mark.load(Ordering::Acquire))
            };
            hook(mark);
        }
    }

    /// The synchronous-mode flusher: while records are waiting, write and fsync them as one
    /// batch, and again, until the sink is dropped.
    /// After a failure it tries again every [`FileSinkOptions::retry_interval`].
    fn flush_continuously(&self) {
        loop {
            let target = {
                let mut st = self.state.lock();
                loop {
                    if self.stopping.load(Ordering::Acquire) {
                        return;
                    }
                    if let Some(due) = self.retry_due(&st) {
                        if Instant::now() >= due {
                            break None;
                        }
                        st.flusher_waiting = true;
                        self.flush_cv.wait_until(&mut st, due);
                        st.flusher_waiting = false;
                        continue;
                    }
                    if st.failed.is_none() && st.next_seq > st.durable {
                        break Some(st.next_seq);
                    }
                    st.flusher_waiting = true;
                    self.flush_cv.wait(&mut st);
                    st.flusher_waiting = false;
                }
            };
            // A failure marks the sink failed and wakes the waiting callers, who report it; a
            // failed retry leaves it failed until the next.
            let _ = match target {
                Some(target) => self.commit(target, true),
                None => self.retry(),
            };
        }
    }

    /// Waits until record `seq` is fsynced by the flusher (synchronous mode).
    fn wait_durable(&self, mut st: MutexGuard<'_, State>, seq: u64) -> Result<(), AuditError> {
        let batch = st.batches + 1;
        if st.flusher_waiting {
            self.flush_cv.notify_one();
        }
        let cv = self
            .durable_cv
            .get((batch % 2) as usize)
            .unwrap_or(&self.turn);
        loop {
            if st.durable > seq {
                return Ok(());
            }
            if let Some(kind) = st.failed {
                return Err(AuditError::Failed { kind });
            }
            cv.wait(&mut st);
        }
    }

    fn flush_periodically(&self, every: Duration) {
        loop {
            {
                let mut stop = self.stop.lock();
                if !*stop {
                    self.stop_signal.wait_for(&mut stop, every);
                }
                if *stop {
                    return;
                }
            }
            let (target, retry) = {
                let st = self.state.lock();
                let due = self.retry_due(&st);
                (st.next_seq, due.is_some_and(|d| Instant::now() >= d))
            };
            // A failure marks the sink failed; the next record reports it. A failed sink tries
            // again at the first tick after its retry interval.
            let _ = if retry {
                self.retry()
            } else {
                self.commit(target, true)
            };
        }
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let result = with_event_json(event, self.inner.opts.node_id.as_deref(), |json| {
            let mut st = self.inner.state.lock();
            let seq = self.inner.push_event(&mut st, json)?;
            match self.inner.opts.durability {
                Durability::Sync => return self.inner.wait_durable(st, seq),
                Durability::Buffered(_) => {
                    let queued: usize = st.pending.iter().map(|s| s.data.len()).sum();
                    if queued <= BUFFERED_MAX_PENDING_BYTES {
                        return Ok(());
                    }
                }
                Durability::Periodic(_) => {}
            }
            drop(st);
            self.inner.commit(seq + 1, false)
        });
        match (result, self.inner.opts.failure_mode) {
            (Err(_), FailureMode::FailOpen) => {
                self.inner.lost.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            (r, _) => r,
        }
    }

    fn flush(&self) -> Result<(), AuditError> {
        let target = self.inner.state.lock().next_seq;
        self.inner.commit(target, true)
    }

    fn lost_events(&self) -> u64 {
        FileSink::lost_events(self)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        *self.inner.stop.lock() = true;
        self.inner.stop_signal.notify_all();
        self.inner.stopping.store(true, Ordering::Release);
        {
            // Under the state lock, so the flusher cannot miss it between check and wait.
            let _st = self.inner.state.lock();
            self.inner.flush_cv.notify_all();
        }
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
        // A failed sink has one more try, so that its queued records and the close digest
        // are written if the disk is back.
        let _ = self.inner.retry();
        let open = {
            let st = self.inner.state.lock();
            st.failed.is_none() && !st.closed
        };
        if open {
            // Best effort: a failure here is visible as a log that does not end in `close`.
            let _ = self.inner.digest_now(DigestReason::Close);
        }
        self.inner.trim_padding();
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
