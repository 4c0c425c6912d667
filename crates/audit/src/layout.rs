//! File names of the log directory.

use std::path::{Path, PathBuf};

use crate::AuditError;

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";
const DIGITS: usize = 10;

/// The name of the log file with 1-based index `index`: `audit-0000000001.jsonl`.
pub(crate) fn file_name(index: u64) -> String {
    format!("{PREFIX}{index:010}{SUFFIX}")
}

/// The index of a log file name, if it is one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The log files in `dir`, by index; other files are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| AuditError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io(dir, e))?;
        if let Some(index) = entry.file_name().to_str().and_then(parse_file_name) {
            out.push((index, entry.path()));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(1), "audit-0000000001.jsonl");
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        for bad in [
            "audit-1.jsonl",
            "audit-000000000x.jsonl",
            "x-0000000001.jsonl",
            "audit-0000000001.json",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
