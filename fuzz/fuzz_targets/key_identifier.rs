#![no_main]
//! The key-identifier parsers (`KeyRef`, borrowed, on every facade call; `KeyIdentifier`,
//! owned): never panic, accept the same text, read the same parts, and every part they accept
//! satisfies its own rule.
use coffer_core::{AliasName, KeyIdentifier, KeyRef, Region};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let borrowed = KeyRef::parse(text);
    let owned = KeyIdentifier::parse(text);
    assert_eq!(borrowed.is_ok(), owned.is_ok(), "{text:?}");
    let (Ok(borrowed), Ok(owned)) = (borrowed, owned) else {
        return;
    };
    assert_eq!(borrowed.is_alias(), owned.is_alias());
    match (borrowed, owned) {
        (KeyRef::KeyId(a), KeyIdentifier::KeyId(b)) => assert_eq!(a, b),
        (
            KeyRef::KeyArn { region, account, key_id },
            KeyIdentifier::KeyArn { region: r, account: a, key_id: k },
        ) => {
            assert!(Region::check(region).is_ok());
            assert_eq!((region, account, key_id), (r.as_str(), a, k));
        }
        (KeyRef::AliasName(name), KeyIdentifier::AliasName(n)) => {
            assert!(AliasName::check(name).is_ok());
            assert_eq!(name, n.as_str());
        }
        (
            KeyRef::AliasArn { region, account, alias },
            KeyIdentifier::AliasArn { region: r, account: a, alias: n },
        ) => {
            assert!(Region::check(region).is_ok() && AliasName::check(alias).is_ok());
            assert_eq!((region, account, alias), (r.as_str(), a, n.as_str()));
        }
        (b, o) => panic!("{b:?} against {o:?}"),
    }
});
