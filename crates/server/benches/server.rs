//! What cofferd adds to a request: SigV4 (canonical request, signing key, HMAC) and the JSON
//! protocol (decode, dispatch, encode), each beside its baseline — a SHA-256 of the body, and
//! the facade call made directly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use std::hint::black_box;

use coffer::model::{DataKeySpec, EncryptRequest, GenerateDataKeyRequest};
use coffer::{Caller, SecretBytes};
use criterion::{criterion_group, criterion_main, Criterion};

fn sigv4(c: &mut Criterion) {
    let body = br#"{"KeyId":"alias/billing","Plaintext":"YXR0YWNrIGF0IGRhd24=","EncryptionContext":{"customer":"4711"}}"#;
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "127.0.0.1:4000".parse().unwrap());
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    headers.insert("x-amz-date", "20250101T000000Z".parse().unwrap());
    headers.insert("x-amz-target", "TrentService.Encrypt".parse().unwrap());
    let secret = SecretBytes::copy_from(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let params = cofferd::SigningParams {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: &secret,
        region: "us-east-1",
        service: "kms",
        amz_date: "20250101T000000Z",
    };
    let req = cofferd::RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
    };
    let signed = ["content-type", "host", "x-amz-date", "x-amz-target"];
    let auth = cofferd::authorization(&params, &req, &signed, body);

    let mut g = c.benchmark_group("sigv4");
    g.bench_function("baseline_sha256_body", |b| {
        b.iter(|| cofferd::payload_hash(black_box(body)))
    });
    g.bench_function("parse_authorization", |b| {
        b.iter(|| cofferd::parse_authorization(black_box(&auth)).unwrap())
    });
    g.bench_function("sign_request", |b| {
        b.iter(|| cofferd::authorization(&params, &req, &signed, black_box(body)))
    });
    g.finish();
}

fn protocol(c: &mut Criterion) {
    // Quotas off: the bench calls far faster than AWS's 10,000 Encrypt/s per account.
    let quotas = coffer::QuotaConfig {
        enabled: false,
        ..Default::default()
    };
    let kms = coffer::Kms::builder().quotas(quotas).build().unwrap();
    let caller = Caller::new("arn:aws:iam::111122223333:root").unwrap();
    let key = kms
        .create_key(&caller, Default::default())
        .unwrap()
        .key_metadata
        .key_id;
    let body = format!(
        r#"{{"KeyId":"{key}","Plaintext":"YXR0YWNrIGF0IGRhd24=","EncryptionContext":{{"customer":"4711"}}}}"#
    );
    let mut g = c.benchmark_group("protocol");
    g.bench_function("baseline_facade_encrypt", |b| {
        b.iter(|| {
            let mut ctx = coffer::EncryptionContext::new();
            ctx.insert("customer", "4711");
            kms.encrypt(
                &caller,
                EncryptRequest {
                    key_id: key.clone(),
                    plaintext: b"attack at dawn".to_vec().into(),
                    encryption_context: ctx,
                    ..Default::default()
                },
            )
            .unwrap()
        })
    });
    g.bench_function("dispatch_encrypt_json", |b| {
        b.iter(|| cofferd::dispatch(&kms, &caller, "Encrypt", black_box(body.as_bytes())).unwrap())
    });
    // GenerateDataKey: its answer carries two blobs (the wrapped key and the data key).
    let gdk_body = format!(
        r#"{{"KeyId":"{key}","KeySpec":"AES_256","EncryptionContext":{{"customer":"4711"}}}}"#
    );
    g.bench_function("baseline_facade_generate_data_key", |b| {
        b.iter(|| {
            let mut ctx = coffer::EncryptionContext::new();
            ctx.insert("customer", "4711");
            kms.generate_data_key(
                &caller,
                GenerateDataKeyRequest {
                    key_id: key.clone(),
                    key_spec: Some(DataKeySpec::Aes256),
                    encryption_context: ctx,
                    ..Default::default()
                },
            )
            .unwrap()
        })
    });
    g.bench_function("dispatch_generate_data_key_json", |b| {
        b.iter(|| {
            cofferd::dispatch(
                &kms,
                &caller,
                "GenerateDataKey",
                black_box(gdk_body.as_bytes()),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, sigv4, protocol);
criterion_main!(benches);
