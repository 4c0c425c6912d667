#![no_main]
//! The envelope header decoder: never panics, accepts only the one deterministic encoding (what
//! it accepts re-encodes to the same bytes), and decoding that again gives the same header.
use coffer_envelope::{Header, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(header) = Header::decode(data, &limits) {
        let encoded = header.encode();
        assert_eq!(encoded, data);
        assert_eq!(Header::decode(&encoded, &limits).ok(), Some(header));
    }
});
