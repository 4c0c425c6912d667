//! `cofferd backup --data-dir DIR --to FILE` and `cofferd restore --from FILE --data-dir NEW`:
//! an online backup of a data directory (store, sealed credentials, audit public key and log;
//! never the root key) and its restore into a new directory, proved against the root key
//! before the command succeeds. The logic is `coffer::DataDir::backup_online` and
//! `restore_backup`; this is argument parsing and the report.
//!
//! Exit status (set by `main`): 0 done, 2 anything failed (nothing is left behind: no partial
//! backup file, no half-restored directory).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::{Config, RootKeyProvider};
use coffer_credentials::CREDENTIALS_FILE;

/// Online backup of a data directory.
#[derive(Debug, Parser)]
#[command(
    name = "cofferd backup",
    about = "Online, consistent backup of a data directory into one file (mode 0600): the \
             database from one snapshot, the sealed credentials, the audit public key and the \
             audit log up to that moment. The root key is not in it.",
    disable_version_flag = true
)]
struct BackupArgs {
    /// The data directory (it may be in use by a running cofferd).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The backup file to write; it must not exist.
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

/// Restore of a backup into a new data directory.
#[derive(Debug, Parser)]
#[command(
    name = "cofferd restore",
    about = "Restores a backup file (cofferd backup) into a new or empty data directory, then \
             opens it with the root key to prove the key is the backup's: a wrong root key is \
             refused and the directory left as it was.",
    disable_version_flag = true
)]
#[command(group(
    clap::ArgGroup::new("root")
        .required(true)
        .args(["root_key", "root_passphrase_file", "root_passphrase_env"])
))]
struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The new data directory: absent, or an empty directory.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The root key file of the directory the backup came from.
    #[arg(long, value_name = "FILE")]
    root_key: Option<PathBuf>,
    /// A file holding the root passphrase of the directory the backup came from.
    #[arg(long, value_name = "FILE")]
    root_passphrase_file: Option<PathBuf>,
    /// An environment variable holding that passphrase.
    #[arg(long, value_name = "VAR")]
    root_passphrase_env: Option<String>,
}

/// Parses `argv` for `P`; `Ok(None)` when help was asked for (and written to `out`).
fn parse<P: Parser>(name: &str, args: &[String], out: &mut dyn Write) -> Result<Option<P>, String> {
    let argv = std::iter::once(name.to_owned()).chain(args.iter().cloned());
    match P::try_parse_from(argv) {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            out.write_all(e.to_string().as_bytes())
                .map_err(|e| format!("writing the help: {e}"))?;
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

fn report(out: &mut dyn Write, text: &str) -> Result<(), String> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing the report: {e}"))
}

fn summary_text(what: &str, path: &Path, s: &coffer::BackupSummary) -> String {
    let mut text = format!("{what} {}\n", path.display());
    for (name, size) in &s.entries {
        text.push_str(&format!("  {name} ({size} bytes)\n"));
    }
    match (s.audit_last_seq, &s.audit_last_hash) {
        (Some(seq), Some(hash)) => text.push_str(&format!(
            "audit position: record {seq} (line hash {hash}), last signed digest {}\n",
            s.audit_last_digest_seq
                .map_or_else(|| "none".to_owned(), |d| d.to_string())
        )),
        _ => text.push_str("audit position: the log is empty\n"),
    }
    text
}

/// Runs `cofferd backup ARGS`, writing the report to `out`. `Err` carries a message (or clap's
/// usage text) for standard error.
pub fn run_backup(args: &[String], out: &mut dyn Write) -> Result<(), String> {
    let Some(args) = parse::<BackupArgs>("cofferd backup", args, out)? else {
        return Ok(());
    };
    let summary = coffer::DataDir::backup_online(&args.data_dir, &args.to, &[CREDENTIALS_FILE])
        .map_err(|e| crate::error_chain(&e))?;
    report(out, &summary_text("wrote", &args.to, &summary))
}

/// Runs `cofferd restore ARGS`, writing the report to `out`. `Err` carries a message (or clap's
/// usage text) for standard error.
pub fn run_restore(args: &[String], out: &mut dyn Write) -> Result<(), String> {
    let Some(args) = parse::<RestoreArgs>("cofferd restore", args, out)? else {
        return Ok(());
    };
    let dir = &args.data_dir;
    let existed = dir.exists();
    let summary =
        coffer::DataDir::restore_backup(&args.from, dir).map_err(|e| crate::error_chain(&e))?;
    let mut config = Config::new(dir.clone());
    config.root_key = match (
        args.root_key,
        args.root_passphrase_file,
        args.root_passphrase_env,
    ) {
        (Some(file), _, _) => RootKeyProvider::KeyFile(Some(file)),
        (_, Some(file), _) => RootKeyProvider::PassphraseFile(file),
        (_, _, Some(var)) => RootKeyProvider::PassphraseEnv(var),
        (None, None, None) => unreachable!("clap requires one root key option"),
    };
    // Prove the root key: open the restored directory as cofferd will (this verifies the
    // root-key check value before writing anything), then close its audit log.
    let proved = crate::open_service(&config)
        .map_err(|e| crate::error_chain(&e))
        .and_then(|service| {
            service
                .data_dir
                .audit_log()
                .close()
                .map(drop)
                .map_err(|e| format!("closing the audit log: {}", crate::error_chain(&e)))
        });
    if let Err(e) = proved {
        // Leave the directory as it was: absent, or empty.
        coffer::DataDir::discard_restore(dir, existed);
        return Err(format!("{e}; the restored files were removed"));
    }
    let mut text = summary_text("restored", dir, &summary);
    text.push_str(
        "root key: verified\nstart cofferd on this directory with the same root key and a new, \
         empty audit anchor directory (docs/OPERATIONS.md, \"Restore\")\n",
    );
    report(out, &text)
}
