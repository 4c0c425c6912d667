#![no_main]
//! The JSON request decoder behind every operation: any body, for any operation, is answered
//! with a response that is a JSON object or with a client error — never a panic, never an
//! internal error.
use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;

struct Fixture {
    kms: coffer::Kms,
    caller: coffer::Caller,
    calls: u32,
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ops = cofferd::AWS_OPERATIONS;
    let op = ops[usize::from(selector) % ops.len()];
    FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        // A fresh service every so often, so keys made by CreateKey do not pile up.
        if f.as_ref().is_none_or(|x| x.calls > 2000) {
            *f = Some(Fixture {
                // Quotas off, so the decoder, not the throttle, answers every input.
                kms: coffer::Kms::builder()
                    .quotas(coffer::QuotaConfig {
                        enabled: false,
                        ..Default::default()
                    })
                    .build()
                    .unwrap(),
                caller: coffer::Caller::new("arn:aws:iam::111122223333:root").unwrap(),
                calls: 0,
            });
        }
        let fx = f.as_mut().unwrap();
        fx.calls += 1;
        match cofferd::dispatch(&fx.kms, &fx.caller, op, body) {
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
