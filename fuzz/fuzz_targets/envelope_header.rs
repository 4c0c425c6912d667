#![no_main]
//! The envelope header decoder: never panics, accepts only the one deterministic encoding (what
//! it accepts re-encodes to the same bytes), and decoding that again gives the same header. The
//! same holds for the asymmetric recipients' wrapped-key decoder, fed both the whole input and
//! every wrapped key of an accepted header.
use coffer_envelope::{Header, Limits, WrappedKey};
use libfuzzer_sys::fuzz_target;

fn wrapped_key_round_trips(bytes: &[u8]) {
    if let Ok(wrapped) = WrappedKey::decode(bytes) {
        assert_eq!(wrapped.encode(), bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    wrapped_key_round_trips(data);
    let limits = Limits::default();
    if let Ok(header) = Header::decode(data, &limits) {
        let encoded = header.encode();
        assert_eq!(encoded, data);
        for edk in header.encrypted_data_keys() {
            wrapped_key_round_trips(&edk.ciphertext);
        }
        assert_eq!(Header::decode(&encoded, &limits).ok(), Some(header));
    }
});
