#![no_main]
//! cofferd's credential-management requests (`CofferAdmin.*`): any body, for any operation, is
//! answered with a JSON object or a client error — never a panic, never an internal error.
use std::cell::RefCell;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

struct Fixture {
    dir: std::path::PathBuf,
    kms: coffer::Kms,
    store: cofferd::CredentialStore,
    admin: Arc<cofferd::Credential>,
    calls: u32,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
    static MADE: RefCell<u32> = const { RefCell::new(0) };
}

fn fixture() -> Fixture {
    let n = MADE.with(|m| {
        *m.borrow_mut() += 1;
        *m.borrow()
    });
    let dir = std::env::temp_dir().join(format!("cofferd-fuzz-admin-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let init = cofferd::InitOptions {
        region: "us-east-1".into(),
        account_id: None,
        principals: Vec::new(),
    };
    let store = cofferd::CredentialStore::open(
        &dir,
        &init,
        &coffer::SystemRandom::new(),
        coffer_crypto::SymmetricKey::from_bytes([7; 32]),
    )
    .unwrap();
    let admin = store
        .get(&store.bootstrap_access_key_id().unwrap())
        .unwrap();
    Fixture {
        dir,
        kms: coffer::Kms::builder()
            .quotas(coffer::QuotaConfig {
                enabled: false,
                ..Default::default()
            })
            .build()
            .unwrap(),
        store,
        admin,
        calls: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ops = cofferd::ADMIN_OPERATIONS;
    let op = ops[usize::from(selector) % ops.len()];
    FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        // A fresh store every so often, so credentials made by CreateCredential do not pile up.
        if f.as_ref().is_none_or(|x| x.calls > 500) {
            *f = None;
            *f = Some(fixture());
        }
        let fx = f.as_mut().unwrap();
        fx.calls += 1;
        let caller = fx.admin.caller().clone();
        match cofferd::admin_dispatch(&fx.kms, &fx.store, None, &fx.admin, &caller, op, body) {
            Ok(out) => {
                let v: serde_json::Value = serde_json::from_slice(&out).expect("response is JSON");
                assert!(v.is_object());
            }
            Err(e) => {
                assert_eq!(e.status(), 400, "{op}: {e}");
                assert!(e.code().ends_with("Exception"));
            }
        }
    });
});
