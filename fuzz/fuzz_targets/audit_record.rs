#![no_main]
//! The audit record parser: never panics on any line, and a record it accepts writes back to a
//! line that parses to the same record and the same line, which holds no NUL byte (a log file's
//! records end at its first NUL: the zeros the sink writes ahead of them).
use coffer_audit::AuditRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(record) = AuditRecord::parse_line(line) {
        let written = record.to_line().expect("a parsed record must serialize");
        assert!(!written.contains('\0'), "a written record holds a NUL");
        let again = AuditRecord::parse_line(&written).expect("a written record must parse");
        assert_eq!(again, record);
        assert_eq!(again.to_line().expect("serialize"), written);
    }
});
