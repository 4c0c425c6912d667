#![no_main]
//! The policy parser: never panics on any input, and what it accepts serializes to JSON that
//! parses back to the same policy and the same JSON; it accepts no document that repeats a member.
use coffer_policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = Policy::parse(text) {
        // Nothing with a repeated member is ever accepted.
        assert!(serde_json::from_str::<coffer_core::UniqueKeys>(text).is_ok());
        let json = policy.to_json();
        let again = Policy::parse(&json).expect("serialized policy must parse");
        assert_eq!(again.to_json(), json);
        assert_eq!(again, policy);
    }
});
