//! The basic ISO 8601 timestamps SigV4 uses (`20150830T123600Z`), to and from Unix seconds:
//! the one calendar of coffer ([`coffer_core::time`]), read from the one clock.

use coffer_core::{Clock, SystemClock};

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds; `None` unless exactly that form and a real
/// date and time.
pub(crate) use coffer_core::time::parse_basic as parse;

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ`.
pub(crate) use coffer_core::time::format_basic as format;

/// Now, in Unix seconds.
pub(crate) fn now_secs() -> i64 {
    coffer_core::time::unix_seconds(SystemClock.now())
}
