//! `audit verify` (of `coffer` and of `cofferd`): the audit log of a data directory, checked
//! offline (or beside a running server, read-only), with a report for a person and an exit
//! status for a script. One implementation: both command lines flatten [`VerifyArgs`] and call
//! [`verify`]. And the line cofferd logs for every signed digest.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use coffer::audit_log::{
    public_key_from_hex, read_anchors, verify_with, AuditError, SignedDigest, VerifyOptions,
    VerifyReport,
};
use coffer::{AUDIT_DIR, AUDIT_PUBLIC_KEY_FILE};

/// Exit status when the log verifies.
pub const VERIFIED: u8 = 0;
/// Exit status when it does not.
pub const FAILED: u8 = 1;
/// Exit status for bad arguments or input that cannot be read.
pub const USAGE_ERROR: u8 = 2;

/// Logs a digest as it is signed (cofferd sets this as the sink's digest hook): the structured
/// log then holds every digest too, for a log collector to keep off the host.
pub fn log_digest(d: &SignedDigest) {
    let anchor = d.anchor();
    tracing::info!(
        seq = anchor.seq,
        hash = %crate::sigv4::hex(&anchor.hash),
        reason = d.record.reason.as_str(),
        file = %d.record.file,
        time = %d.record.time,
        signature = %crate::sigv4::hex(&d.record.signature),
        "audit digest signed"
    );
}

/// `audit verify`'s arguments.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
pub struct VerifyArgs {
    /// The data directory (its audit log is DIR/audit)
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The anchor directory (the configuration's audit anchor_dir) to check the log
    /// against: a log cut back or rewritten after one of its digests fails
    #[arg(long, value_name = "DIR")]
    pub anchors: Option<PathBuf>,
    /// The audit public key to verify with, as 64 hex characters or a file holding them
    /// (default: DIR/audit-public-key.hex; pin it elsewhere, as a copy in the directory can be
    /// replaced too)
    #[arg(long, value_name = "HEX|FILE")]
    pub public_key: Option<String>,
    /// Another node's directory, for cofferd nodes sharing one PostgreSQL database (repeat for
    /// each): every node's log is verified with its own key, and the report lists each node's
    /// completeness and which node each event names
    #[arg(long = "node-dir", value_name = "DIR")]
    pub node_dirs: Vec<PathBuf>,
}

impl VerifyArgs {
    /// Verify the log of `data_dir` with the key it holds, and no anchors.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            anchors: None,
            public_key: None,
            node_dirs: Vec::new(),
        }
    }
}

/// The help shown after `audit verify`'s options.
pub const VERIFY_AFTER_HELP: &str = "\
Checks the audit log in DIR/audit: the hash chain, every signed digest, the files, and with
--anchors every digest published in that anchor directory. Read-only: works on a stopped
server's data directory, and beside a running one.

Exit status: 0 the log verifies, 1 it does not, 2 bad arguments or unreadable input";

/// `cofferd audit`'s command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "cofferd audit",
    about = "The audit log of a data directory, checked offline or beside a running server.",
    disable_version_flag = true
)]
struct AuditCli {
    #[command(subcommand)]
    command: AuditCmd,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCmd {
    /// Verify a data directory's audit log
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
}

/// The public key, and where it came from.
fn public_key(args: &VerifyArgs) -> Result<(coffer_crypto::VerifyingKey, String), String> {
    let (text, from) = match &args.public_key {
        Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (v.clone(), "--public-key".to_owned())
        }
        Some(file) => (read_key_file(Path::new(file))?, file.clone()),
        None => {
            let file = args.data_dir.join(AUDIT_PUBLIC_KEY_FILE);
            let text = read_key_file(&file)?;
            (
                text,
                format!(
                    "{} (in the data directory: pin a copy elsewhere and pass --public-key)",
                    file.display()
                ),
            )
        }
    };
    let key = public_key_from_hex(&text)
        .map_err(|_| format!("{from}: not an audit public key (64 hex characters)"))?;
    Ok((key, from))
}

fn read_key_file(file: &Path) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the public key {}: {e}", file.display()))
}

/// Runs `cofferd audit ARGS…`: the report (or the help) goes to `out`, and the exit status
/// is returned ([`VERIFIED`], [`FAILED`], [`USAGE_ERROR`]); clap's usage errors go to `err`.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    use clap::Parser;
    let argv = std::iter::once("cofferd audit".to_owned()).chain(args.iter().cloned());
    let cli = match AuditCli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = write!(out, "{e}");
            return VERIFIED;
        }
        Err(e) => {
            let _ = write!(err, "{e}");
            return USAGE_ERROR;
        }
    };
    let AuditCmd::Verify(args) = cli.command;
    let (text, status) = verify(&args);
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    status
}

/// Verifies the log `args` name: the report for a person, and the exit status ([`VERIFIED`],
/// [`FAILED`], [`USAGE_ERROR`]).
pub fn verify(args: &VerifyArgs) -> (String, u8) {
    if !args.node_dirs.is_empty() {
        return verify_nodes(args);
    }
    let mut s = String::new();
    let log = args.data_dir.join(AUDIT_DIR);
    let _ = writeln!(s, "audit log:   {}", log.display());
    let (key, from) = match public_key(args) {
        Ok(k) => k,
        Err(msg) => {
            let _ = writeln!(s, "ERROR: {msg}");
            return (s, USAGE_ERROR);
        }
    };
    let _ = writeln!(
        s,
        "public key:  {} from {from}",
        crate::sigv4::hex(key.as_bytes())
    );
    let mut opts = VerifyOptions::default();
    let mut anchor_count = None;
    if let Some(dir) = &args.anchors {
        let file = dir.join(coffer::audit_log::ANCHORS_FILE);
        match read_anchors(dir, &key) {
            Ok(set) => {
                let _ = writeln!(
                    s,
                    "anchor file: {} ({} digests{})",
                    file.display(),
                    set.anchors.len(),
                    if set.torn_tail {
                        "; a torn last line ignored"
                    } else {
                        ""
                    }
                );
                if set.anchors.is_empty() {
                    let _ = writeln!(
                        s,
                        "FAILED: the anchor directory holds no digest: nothing to check the log against"
                    );
                    return (s, FAILED);
                }
                anchor_count = Some(set.anchors.len());
                opts.anchors = set.anchors;
            }
            Err(e @ AuditError::Io { .. }) => {
                let _ = writeln!(s, "ERROR: {}", crate::error_chain(&e));
                return (s, USAGE_ERROR);
            }
            Err(e) => {
                let _ = writeln!(s, "FAILED: {}", crate::error_chain(&e));
                return (s, FAILED);
            }
        }
    }
    match verify_with(&log, &key, &opts) {
        Ok(r) => {
            describe(&mut s, &r, anchor_count);
            let _ = writeln!(s, "result:      OK, the log verifies");
            (s, VERIFIED)
        }
        Err(AuditError::Tampered(t)) => {
            let _ = writeln!(s, "FAILED: {}:{}: {}", t.file.display(), t.line, t.kind);
            let _ = writeln!(
                s,
                "        ({} records verified before it)",
                t.records_verified
            );
            (s, FAILED)
        }
        Err(e @ AuditError::Io { .. }) => {
            let _ = writeln!(s, "ERROR: {}", crate::error_chain(&e));
            (s, USAGE_ERROR)
        }
        Err(e) => {
            let _ = writeln!(s, "FAILED: {}", crate::error_chain(&e));
            (s, FAILED)
        }
    }
}

/// Several nodes' logs (`--node-dir`): each verified on its own, with its own key file, then a
/// summary. Every node must verify, and each event of a node's log must name that node.
fn verify_nodes(args: &VerifyArgs) -> (String, u8) {
    let mut s = String::new();
    if args.public_key.is_some() || args.anchors.is_some() {
        let _ = writeln!(
            s,
            "ERROR: --public-key and --anchors name one log: verify nodes one at a time to use them"
        );
        return (s, USAGE_ERROR);
    }
    let dirs: Vec<&PathBuf> = std::iter::once(&args.data_dir)
        .chain(args.node_dirs.iter())
        .collect();
    let mut worst = VERIFIED;
    let mut verified = 0usize;
    // The nodes' events taken together: how many, and the span of their eventTimes.
    let mut merged_events = 0usize;
    let mut span: Option<(String, String)> = None;
    for dir in &dirs {
        let node = std::fs::read_to_string(dir.join(coffer::NODE_ID_FILE))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default();
        let label = if node.is_empty() {
            "(no node id: not a cluster node's directory)".to_owned()
        } else {
            node.clone()
        };
        let _ = writeln!(s, "== node {label} ({})", dir.display());
        let (report, code) = verify(&VerifyArgs::new(dir.as_path()));
        for line in report.lines() {
            let _ = writeln!(s, "   {line}");
        }
        let mut code = code;
        if code == VERIFIED {
            match events_by_node(&dir.join(AUDIT_DIR)) {
                Ok((counts, first_last)) => {
                    merged_events += counts.values().sum::<usize>();
                    if let Some((first, last)) = first_last {
                        span = Some(match span.take() {
                            None => (first, last),
                            Some((f, l)) => (f.min(first), l.max(last)),
                        });
                    }
                    let foreign: usize = counts
                        .iter()
                        .filter(|(k, _)| k.as_deref() != Some(node.as_str()))
                        .map(|(_, n)| n)
                        .sum();
                    let own = counts.get(&Some(node.clone())).copied().unwrap_or(0);
                    let _ = writeln!(s, "   events naming this node: {own}");
                    if node.is_empty() || foreign > 0 {
                        let _ =
                            writeln!(s, "   FAILED: {foreign} events name another node or none");
                        code = FAILED;
                    }
                }
                Err(e) => {
                    let _ = writeln!(s, "   ERROR: {e}");
                    code = USAGE_ERROR;
                }
            }
        }
        if code == VERIFIED {
            verified += 1;
        }
        worst = worst.max(code);
    }
    if let Some((first, last)) = &span {
        let _ = writeln!(
            s,
            "merged:      {merged_events} events from {} nodes, {first} to {last}",
            dirs.len()
        );
    }
    let _ = writeln!(
        s,
        "nodes:       {} of {} verify{}",
        verified,
        dirs.len(),
        if worst == VERIFIED {
            ": OK, every node's log verifies"
        } else {
            ""
        }
    );
    (s, worst)
}

/// Events per node (`None`: no node) and the earliest and latest eventTime.
type NodeCounts = (
    std::collections::BTreeMap<Option<String>, usize>,
    Option<(String, String)>,
);

/// How many events of the log in `log` name each node (`None`: no node), and their time span
/// (eventTime is `YYYY-MM-DDTHH:MM:SSZ`: text order is time order).
fn events_by_node(log: &Path) -> Result<NodeCounts, String> {
    let mut counts = std::collections::BTreeMap::new();
    let mut span: Option<(String, String)> = None;
    let entries =
        std::fs::read_dir(log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", log.display()))?
            .path();
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for line in text.lines() {
            if let Ok(coffer::audit_log::AuditRecord::Event { event, .. }) =
                coffer::audit_log::AuditRecord::parse_line(line)
            {
                *counts.entry(event.node_id.clone()).or_insert(0) += 1;
                let t = event.event_time.clone();
                span = Some(match span.take() {
                    None => (t.clone(), t),
                    Some((f, l)) => (f.min(t.clone()), l.max(t)),
                });
            }
        }
    }
    Ok((counts, span))
}

fn describe(s: &mut String, r: &VerifyReport, anchors: Option<usize>) {
    let _ = writeln!(s, "files:       {}", r.files);
    let _ = writeln!(
        s,
        "records:     {} ({} events, {} signed digests, {} of them prune digests)",
        r.records, r.events, r.digests, r.prune_digests
    );
    if let Some(p) = &r.pruned {
        let _ = writeln!(
            s,
            "pruned:      {} files ({} records, through {}) by the retention policy, per the \
             prune digest of {} at {}:{}",
            p.files,
            p.records,
            p.through,
            p.time,
            p.digest.file.display(),
            p.digest.line
        );
    }
    if let (Some(a), Some(t)) = (&r.last_digest, &r.last_digest_time) {
        let _ = writeln!(s, "last digest: {a} at {t}");
    }
    let _ = writeln!(
        s,
        "after it:    {} records (covered by the chain only, not yet by a signature)",
        r.records_after_last_digest
    );
    let _ = writeln!(
        s,
        "closed:      {}",
        if r.closed {
            "yes (ends with a close digest)"
        } else {
            "no (running, or stopped without a close digest)"
        }
    );
    if let Some(t) = &r.torn_tail {
        let _ = writeln!(
            s,
            "torn tail:   {}:{} (a crash mid-write; cut off when the server next opens the log)",
            t.file.display(),
            t.line
        );
    }
    if let Some(n) = anchors {
        let _ = writeln!(
            s,
            "anchors:     {} of {n} found with their exact hash{}",
            r.anchors_checked,
            if r.anchors_pruned > 0 {
                format!(", {} pruned by the retention policy", r.anchors_pruned)
            } else {
                String::new()
            }
        );
    } else {
        let _ = writeln!(
            s,
            "anchors:     none given: a log cut back to an earlier digest would verify too \
             (pass --anchors)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_are_checked() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(&args(&["verify"]), &mut out, &mut err), USAGE_ERROR);
        assert_eq!(run(&args(&["frobnicate"]), &mut out, &mut err), USAGE_ERROR);
        assert_eq!(
            run(&args(&["verify", "--data-dir"]), &mut out, &mut err),
            USAGE_ERROR
        );
        assert_eq!(run(&args(&["--help"]), &mut out, &mut err), VERIFIED);
        assert_eq!(
            run(&args(&["verify", "--help"]), &mut out, &mut err),
            VERIFIED
        );
        assert_eq!(
            run(
                &args(&["verify", "--data-dir=/x", "--bogus"]),
                &mut out,
                &mut err
            ),
            USAGE_ERROR
        );
    }

    #[test]
    fn a_missing_data_dir_is_not_a_verified_log() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = run(
            &args(&["verify", "--data-dir", "/nonexistent/coffer-test-dir"]),
            &mut out,
            &mut err,
        );
        assert_eq!(status, USAGE_ERROR);
        assert!(String::from_utf8(out).unwrap().contains("ERROR"));
    }
}
