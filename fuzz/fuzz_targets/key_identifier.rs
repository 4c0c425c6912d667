#![no_main]
//! The key-reference parser (`KeyRef`, on every facade call): never panics, and what it accepts
//! it reads from the text, each part a slice of it that satisfies its own rule.
use coffer_core::{arn_part, AliasName, KeyId, KeyRef, Region};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = KeyRef::parse(text) else {
        return;
    };
    let range = text.as_ptr() as usize..=text.as_ptr() as usize + text.len();
    let inside = |part: &str| range.contains(&(part.as_ptr() as usize));
    match parsed {
        KeyRef::KeyId(id) => {
            assert!(!parsed.is_alias());
            assert_eq!(KeyId::parse(text), Ok(id));
        }
        KeyRef::KeyArn { region, account, key_id } => {
            assert!(!parsed.is_alias());
            assert!(inside(region) && Region::check(region).is_ok());
            assert_eq!(arn_part(text, 3), Some(region));
            assert_eq!(arn_part(text, 4), Some(account.as_str()));
            let id = arn_part(text, 5).and_then(|r| r.strip_prefix("key/"));
            assert_eq!(id.map(KeyId::parse), Some(Ok(key_id)));
        }
        KeyRef::AliasName(name) => {
            assert!(parsed.is_alias());
            assert!(AliasName::check(name).is_ok());
            assert_eq!(name, text);
        }
        KeyRef::AliasArn { region, account, alias } => {
            assert!(parsed.is_alias());
            assert!(inside(region) && Region::check(region).is_ok());
            assert!(inside(alias) && AliasName::check(alias).is_ok());
            assert_eq!(arn_part(text, 3), Some(region));
            assert_eq!(arn_part(text, 4), Some(account.as_str()));
            assert_eq!(arn_part(text, 5), Some(alias));
        }
    }
});
