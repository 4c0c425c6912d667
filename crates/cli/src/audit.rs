//! `coffer audit verify`: cofferd's audit-log verification ([`cofferd::audit_cli::verify`]),
//! the same report and exit statuses as `cofferd audit verify`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cli::Global;

/// `coffer audit`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Verify a data directory's audit log (give the directory with --data-dir DIR): the
    /// hash chain, every signed digest, and with --anchors every published digest
    #[command(after_help = cofferd::audit_cli::VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
}

/// `coffer audit verify`'s own flags (the directory is the global `--data-dir`).
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The anchor directory (the configuration's audit anchor_dir) to check the log
    /// against: a log cut back or rewritten after one of its digests fails
    #[arg(long, value_name = "DIR")]
    anchors: Option<PathBuf>,
    /// The audit public key to verify with, as 64 hex characters or a file holding them
    /// (default: DIR/audit-public-key.hex; pin it elsewhere, as a copy in the directory can
    /// be replaced too)
    #[arg(long, value_name = "HEX|FILE")]
    public_key: Option<String>,
}

/// Runs `coffer audit …`: the report on stdout; exit 0 the log verifies, 1 it does not, 2 bad
/// arguments or unreadable input. Read-only: the data directory is not opened as a service.
pub(crate) fn run(g: &Global, cmd: &AuditCmd) -> ExitCode {
    let AuditCmd::Verify(a) = cmd;
    let Some(dir) = &g.local.data_dir else {
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: audit verify needs --data-dir DIR (the data directory whose log to verify)"
        );
        return ExitCode::from(cofferd::audit_cli::USAGE_ERROR);
    };
    let mut args = cofferd::audit_cli::VerifyArgs::new(dir);
    args.anchors.clone_from(&a.anchors);
    args.public_key.clone_from(&a.public_key);
    let (report, status) = cofferd::audit_cli::verify(&args);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(report.as_bytes()).and_then(|()| out.flush());
    ExitCode::from(status)
}
