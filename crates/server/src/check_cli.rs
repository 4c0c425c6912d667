//! `cofferd check --data-dir DIR`: the full integrity check of a data directory's database, for
//! damage SQLite's quick check at open cannot see (a zeroed value, flipped bits inside a
//! record). It reads the database read-only, so it runs beside a live server too.
//!
//! Exit status: 0 when nothing is damaged, 1 when something is (each damaged row named, and the
//! keys it affects), 2 when the check could not run.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

/// Full integrity check of a data directory's database.
#[derive(Debug, Parser)]
#[command(
    name = "cofferd check",
    about = "Full integrity check of a data directory's database: SQLite's integrity_check and \
             every stored row against its digest; damaged rows are named by key.",
    disable_version_flag = true
)]
struct Args {
    /// The data directory (the one `cofferd --data-dir` serves).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Print the report as JSON (for scripts) instead of text.
    #[arg(long)]
    json: bool,
}

/// What the check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing damaged.
    Clean,
    /// Damage found and reported.
    Damaged,
}

/// Runs `cofferd check ARGS`, writing the report to `out`. `Err` carries a message (or clap's
/// help/usage text) for standard error.
pub fn run(args: &[String], out: &mut dyn Write) -> Result<Outcome, String> {
    let argv = std::iter::once("cofferd check".to_owned()).chain(args.iter().cloned());
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            out.write_all(e.to_string().as_bytes())
                .map_err(|e| format!("writing the help: {e}"))?;
            return Ok(Outcome::Clean);
        }
        Err(e) => return Err(e.to_string()),
    };
    let report = coffer::integrity::check_data_dir(&args.data_dir)
        .map_err(|e| format!("{}: {}", args.data_dir.display(), crate::error_chain(&e)))?;
    let write = |out: &mut dyn Write, text: String| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing the report: {e}"))
    };
    if args.json {
        let damaged: Vec<_> = report
            .damaged
            .iter()
            .map(|d| {
                serde_json::json!({
                    "table": d.table,
                    "keyId": d.key_id.map(|k| k.to_string()),
                    "detail": d.detail,
                })
            })
            .collect();
        let keys: Vec<String> = report
            .damaged_keys()
            .iter()
            .map(ToString::to_string)
            .collect();
        let v = serde_json::json!({
            "ok": report.is_ok(),
            "rowsChecked": report.rows_checked,
            "sqliteProblems": report.sqlite_problems,
            "damaged": damaged,
            "damagedKeys": keys,
        });
        write(out, format!("{v}\n"))?;
    } else {
        let mut text = format!(
            "{}: {} rows checked\nSQLite integrity_check: {}\n",
            args.data_dir.display(),
            report.rows_checked,
            if report.sqlite_problems.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} problems", report.sqlite_problems.len())
            }
        );
        for p in &report.sqlite_problems {
            text.push_str(&format!("  {p}\n"));
        }
        if report.damaged.is_empty() {
            text.push_str("stored rows: every digest matches\n");
        } else {
            text.push_str(&format!("damaged rows: {}\n", report.damaged.len()));
            for d in &report.damaged {
                text.push_str(&format!("  {d}\n"));
            }
            let keys: Vec<String> = report
                .damaged_keys()
                .iter()
                .map(ToString::to_string)
                .collect();
            text.push_str(&format!("damaged keys: {}\n", keys.join(", ")));
        }
        write(out, text)?;
    }
    Ok(if report.is_ok() {
        Outcome::Clean
    } else {
        Outcome::Damaged
    })
}
