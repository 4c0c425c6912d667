#![no_main]
//! The credential store's file (`credentials.json`, formats 1, 2 and 3; coffer-credentials):
//! any content opens as a store or is refused with an error — never a panic.
use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("cofferd-fuzz-creds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(coffer_credentials::CREDENTIALS_FILE);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(&path).unwrap().write_all(data).unwrap();
    let init = coffer_credentials::InitOptions {
        region: "us-east-1".into(),
        account_id: None,
        principals: Vec::new(),
    };
    if let Ok(store) = coffer_credentials::CredentialStore::open(
        &dir,
        &init,
        &coffer_crypto::SystemRandom::new(),
        coffer_crypto::SymmetricKey::from_bytes([7; 32]),
    ) {
        // Whatever opened answers lookups.
        let _ = store.get("AKIAIOSFODNN7EXAMPLE");
        if let Some(id) = store.bootstrap_access_key_id() {
            let _ = store.get(&id);
        }
    }
});
