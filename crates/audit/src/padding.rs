//! The zeroed space a log file may hold after its records.
//!
//! [`crate::FileSink`] writes zeros ahead of its write position
//! ([`crate::FileSinkOptions::preallocate`]) and then writes its records over them, so the
//! fsync of a batch changes no file size and no block allocation: the file system has no
//! metadata to commit for it. The live file therefore ends in zeros while the sink has it open
//! (and after a crash), until the sink trims it at rollover, close or the next open. No record
//! holds a NUL byte (JSON escapes every control character), so a file's records end at its
//! first NUL. What follows it is padding, or, in the newest file after a crash, bytes of a
//! batch that was never acknowledged (an fsync the crash cut short can leave a later page of
//! the batch on disk without an earlier one).
//!
//! Every reader of the log goes through these functions.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::Path;

/// Where a log file's records end: at its first NUL byte, or at its end.
pub(crate) fn content_end(data: &[u8]) -> usize {
    data.iter().position(|&b| b == 0).unwrap_or(data.len())
}

/// `data` up to where its records end ([`content_end`]).
pub(crate) fn content(data: &[u8]) -> &[u8] {
    data.get(..content_end(data)).unwrap_or(data)
}

/// The bytes after the records that are not padding: what a crash left of a batch it cut short.
pub(crate) fn stray_bytes(after_content: &[u8]) -> u64 {
    after_content.iter().filter(|&&b| b != 0).count() as u64
}

/// Whether every byte `reader` has left is zero.
pub(crate) fn rest_is_zero(reader: &mut impl BufRead) -> io::Result<bool> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(true);
        }
        if buf.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// Whether the file at `path` holds any record: it is not empty and does not start with
/// padding.
pub(crate) fn holds_records(path: &Path) -> io::Result<bool> {
    let mut first = [0u8; 1];
    let n = File::open(path)?.read(&mut first)?;
    Ok(n == 1 && first[0] != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_end_at_the_first_nul() {
        assert_eq!(
            content(b"{\"a\":1}\n{\"b\":2}\n\0\0\0"),
            b"{\"a\":1}\n{\"b\":2}\n"
        );
        assert_eq!(content(b"{\"a\":1}\n"), b"{\"a\":1}\n");
        assert_eq!(content(b"\0\0"), b"");
        assert_eq!(content(b""), b"");
        assert_eq!(content_end(b"ab\0cd\0"), 2);
    }

    #[test]
    fn stray_bytes_count_what_is_not_zero() {
        assert_eq!(stray_bytes(b"\0\0\0"), 0);
        assert_eq!(stray_bytes(b"\0x\0yz"), 3);
    }

    #[test]
    fn the_rest_of_a_reader_is_checked_past_its_buffer() {
        let mut zeros = io::BufReader::with_capacity(4, &[0u8; 10][..]);
        assert!(rest_is_zero(&mut zeros).unwrap());
        let mut data = [0u8; 10];
        data[9] = 1;
        let mut late = io::BufReader::with_capacity(4, &data[..]);
        assert!(!rest_is_zero(&mut late).unwrap());
    }

    #[test]
    fn a_file_holds_records_when_it_starts_with_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"").unwrap();
        assert!(!holds_records(&p).unwrap());
        std::fs::write(&p, b"\0\0\0").unwrap();
        assert!(!holds_records(&p).unwrap());
        std::fs::write(&p, b"{}\n\0").unwrap();
        assert!(holds_records(&p).unwrap());
    }
}
