//! The keyring against a real cofferd, in process on a loopback port: envelope messages round
//! trip (one-shot and streaming) through the blocking keyring; a message under two keys opens
//! with only the second key's permission; a changed context, a key the caller may not use, a
//! disabled key and an unreachable endpoint fail with their codes; the async API; blocking use
//! inside a runtime is an error, not a panic; no error or Debug text carries a data key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may panic

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::types::GrantOperation;
use aws_sdk_kms::Client;
use coffer_core::EncryptionContext;
use coffer_envelope::{
    decrypt, encrypt, DataKeyProvider, DecryptOptions, DecryptingReader, EncryptOptions,
    EncryptingWriter, EnvelopeError, ProviderError,
};
use coffer_kms_keyring::{codes, BlockingKmsKeyring, KmsKeyring};

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "coffer-keyring-test-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A credential: access key id and secret.
#[derive(Clone)]
struct Cred {
    id: String,
    secret: String,
}

/// A running cofferd (stopped and its directory removed when dropped), with its bootstrap
/// administrator (the account's root) and a runtime for the administrator's own calls.
struct Cofferd {
    url: String,
    region: String,
    admin: Cred,
    admin_file: PathBuf,
    _dir: TempDir,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Cofferd {
    fn start(name: &str) -> Self {
        let dir = TempDir::new(name);
        let data = dir.0.join("data");
        let mut cfg = cofferd::Config::new(&data);
        cfg.region = "eu-west-1".into();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = cofferd::Server::bind(cfg).await.unwrap();
                addr_tx.send(server.local_addr().unwrap()).unwrap();
                server
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().expect("cofferd did not start");
        let admin_file = data.join(cofferd::ADMIN_CREDENTIALS_FILE);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&admin_file).unwrap()).unwrap();
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        Self {
            url: format!("http://{addr}"),
            region: s("region"),
            admin: Cred {
                id: s("access_key_id"),
                secret: s("secret_access_key"),
            },
            admin_file,
            _dir: dir,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// An SDK client for `cred` (no retries, no shared files).
    fn client(&self, cred: &Cred) -> Client {
        client_for(&self.url, &self.region, cred)
    }

    /// The administrator's blocking keyring.
    fn admin_keyring(&self) -> BlockingKmsKeyring {
        BlockingKmsKeyring::new(KmsKeyring::new(self.client(&self.admin))).unwrap()
    }

    /// A new symmetric key; its ARN.
    fn create_key(&self) -> String {
        let c = self.client(&self.admin);
        self.rt.block_on(async {
            let r = c.create_key().send().await.unwrap();
            r.key_metadata().unwrap().arn().unwrap().to_owned()
        })
    }

    fn disable_key(&self, arn: &str) {
        let c = self.client(&self.admin);
        self.rt
            .block_on(c.disable_key().key_id(arn).send())
            .unwrap();
    }

    /// A grant on `arn` for `grantee`; its token.
    fn grant(&self, arn: &str, grantee: &str, ops: &[GrantOperation]) -> String {
        let c = self.client(&self.admin);
        self.rt.block_on(async {
            let r = c
                .create_grant()
                .key_id(arn)
                .grantee_principal(grantee)
                .set_operations(Some(ops.to_vec()))
                .send()
                .await
                .unwrap();
            r.grant_token().unwrap().to_owned()
        })
    }

    /// A new credential for `principal` whose identity policy allows `actions` on `resources`
    /// only (made through `cofferd credentials create`).
    fn principal(&self, principal: &str, actions: &[&str], resources: &[&str]) -> Cred {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}],
        });
        // Through cofferd's admin client, as `coffer credentials create` does.
        let mut opts = cofferd::admin_client::ClientOptions::default();
        opts.endpoint = Some(self.url.clone());
        opts.credentials_file = Some(self.admin_file.clone());
        let client = cofferd::admin_client::Client::new(&opts).unwrap();
        let body = serde_json::json!({
            "PrincipalArn": principal,
            "IdentityPolicies": [policy.to_string()],
        });
        let v = client
            .call("CreateCredential", &body)
            .unwrap()
            .json()
            .unwrap();
        Cred {
            id: v["AccessKeyId"].as_str().unwrap().to_owned(),
            secret: v["SecretAccessKey"].as_str().unwrap().to_owned(),
        }
    }

    fn account(&self, arn: &str) -> String {
        arn.split(':').nth(4).unwrap().to_owned()
    }
}

impl Drop for Cofferd {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn client_for(url: &str, region: &str, cred: &Cred) -> Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(&cred.id, &cred.secret, None, None, "test"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    let mut c = EncryptionContext::new();
    for (k, v) in pairs {
        c.insert(*k, *v);
    }
    c
}

/// The provider error inside an envelope error (a failed encryption, or the last refusal of a
/// failed decryption).
fn provider_error(e: &EnvelopeError) -> &ProviderError {
    match e {
        EnvelopeError::Provider { source, .. } => source,
        EnvelopeError::NoDecryptableDataKey {
            last: Some(source), ..
        } => source,
        other => panic!("not a provider error: {other:?}"),
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn envelope_messages_round_trip_one_shot_and_streaming() {
    let srv = Cofferd::start("round-trip");
    let arn = srv.create_key();
    let keyring = srv.admin_keyring();
    let context = ctx(&[("app", "billing"), ("tenant", "42")]);

    // One-shot.
    let plaintext = data(5000);
    let message = encrypt(
        &keyring,
        &[&arn],
        &context,
        &plaintext,
        &EncryptOptions::new(),
    )
    .unwrap();
    let opened = decrypt(
        &keyring,
        &message,
        &DecryptOptions::new().expect_context(context.clone()),
    )
    .unwrap();
    assert_eq!(opened.plaintext().expose(), plaintext.as_slice());
    // The header names the key by its ARN.
    assert_eq!(opened.header().encrypted_data_keys()[0].key_id, arn);

    // Streaming, many frames and a short final one.
    let plaintext = data(10 * 1024 + 17);
    let mut w = EncryptingWriter::new(
        &keyring,
        &[&arn],
        &context,
        &EncryptOptions::new().with_frame_len(1024),
        Vec::new(),
    )
    .unwrap();
    for chunk in plaintext.chunks(700) {
        w.write_all(chunk).unwrap();
    }
    let message = w.finish().unwrap();
    let mut r = DecryptingReader::new(
        &keyring,
        message.as_slice(),
        &DecryptOptions::new().expect_context(context),
    )
    .unwrap();
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert_eq!(back, plaintext);
}

#[test]
fn two_keys_open_with_the_second_keys_permission_alone() {
    let srv = Cofferd::start("two-keys");
    let first = srv.create_key();
    let second = srv.create_key();
    let context = ctx(&[("purpose", "two-keys")]);
    let message = encrypt(
        &srv.admin_keyring(),
        &[&first, &second],
        &context,
        b"either key opens me",
        &EncryptOptions::new(),
    )
    .unwrap();

    // A principal that may only use the second key.
    let user_arn = format!("arn:aws:iam::{}:user/second-only", srv.account(&first));
    let user = srv.principal(
        &user_arn,
        &["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
        &[&second],
    );
    let keyring = BlockingKmsKeyring::new(KmsKeyring::new(srv.client(&user))).unwrap();
    let opened = decrypt(&keyring, &message, &DecryptOptions::new()).unwrap();
    assert_eq!(opened.plaintext().expose(), b"either key opens me");

    // Only the first key allowed (strict mode): the service's refusal surfaces.
    let e = decrypt(
        &keyring,
        &message,
        &DecryptOptions::new().allow_key_ids([first.clone()]),
    )
    .unwrap_err();
    assert_eq!(provider_error(&e).code(), "AccessDeniedException", "{e:?}");

    // Encrypting under the first key is refused with AccessDenied, naming that key.
    let e = encrypt(&keyring, &[&first], &context, b"x", &EncryptOptions::new()).unwrap_err();
    match &e {
        EnvelopeError::Provider { key_id, source } => {
            assert_eq!(key_id, &first);
            assert_eq!(source.code(), "AccessDeniedException");
            assert!(!source.message().is_empty());
        }
        other => panic!("{other:?}"),
    }
    // As the second of two keys, too.
    let e = encrypt(
        &keyring,
        &[&second, &first],
        &context,
        b"x",
        &EncryptOptions::new(),
    )
    .unwrap_err();
    assert_eq!(provider_error(&e).code(), "AccessDeniedException");
}

#[test]
fn grant_tokens_travel_with_the_requests() {
    let srv = Cofferd::start("grants");
    let arn = srv.create_key();
    let context = ctx(&[("purpose", "grants")]);
    let message = encrypt(
        &srv.admin_keyring(),
        &[&arn],
        &context,
        b"granted",
        &EncryptOptions::new(),
    )
    .unwrap();
    // A principal with no identity permission on the key, then a grant for Decrypt.
    let user_arn = format!("arn:aws:iam::{}:user/grantee", srv.account(&arn));
    let user = srv.principal(&user_arn, &["kms:DescribeKey"], &[&arn]);
    let keyring = KmsKeyring::new(srv.client(&user));
    let without = BlockingKmsKeyring::new(keyring.clone()).unwrap();
    let e = decrypt(&without, &message, &DecryptOptions::new()).unwrap_err();
    assert_eq!(provider_error(&e).code(), "AccessDeniedException");
    let token = srv.grant(&arn, &user_arn, &[GrantOperation::Decrypt]);
    let with = BlockingKmsKeyring::new(keyring.with_grant_tokens([token])).unwrap();
    let opened = decrypt(&with, &message, &DecryptOptions::new()).unwrap();
    assert_eq!(opened.plaintext().expose(), b"granted");
}

#[test]
fn a_changed_context_or_another_key_is_refused() {
    let srv = Cofferd::start("context");
    let arn = srv.create_key();
    let other = srv.create_key();
    let keyring = srv.admin_keyring();
    let context = ctx(&[("app", "billing")]);
    let message = encrypt(
        &keyring,
        &[&arn],
        &context,
        b"bound",
        &EncryptOptions::new(),
    )
    .unwrap();

    // The caller's expectation is checked before any call.
    let e = decrypt(
        &keyring,
        &message,
        &DecryptOptions::new().expect_context(ctx(&[("app", "payroll")])),
    )
    .unwrap_err();
    assert!(matches!(e, EnvelopeError::ContextMismatch), "{e:?}");

    // The service binds the wrapped key to the context, and to its key.
    let generated = keyring.generate_data_key(&arn, &context).unwrap();
    let edk = &generated.encrypted;
    let e = keyring
        .decrypt_data_key(&edk.key_id, &edk.ciphertext, &ctx(&[("app", "payroll")]))
        .unwrap_err();
    assert_eq!(e.code(), "InvalidCiphertextException", "{e:?}");
    let e = keyring
        .decrypt_data_key(&edk.key_id, &edk.ciphertext, &EncryptionContext::new())
        .unwrap_err();
    assert_eq!(e.code(), "InvalidCiphertextException", "{e:?}");
    let e = keyring
        .decrypt_data_key(&other, &edk.ciphertext, &context)
        .unwrap_err();
    assert_eq!(e.code(), "IncorrectKeyException", "{e:?}");
    let back = keyring
        .decrypt_data_key(&edk.key_id, &edk.ciphertext, &context)
        .unwrap();
    assert_eq!(back.expose(), generated.data_key.expose());
}

#[test]
fn disabled_missing_and_unreachable_keys_fail_with_their_codes() {
    let srv = Cofferd::start("disabled");
    let arn = srv.create_key();
    let keyring = srv.admin_keyring();
    let context = EncryptionContext::new();
    let message = encrypt(&keyring, &[&arn], &context, b"soon", &EncryptOptions::new()).unwrap();
    srv.disable_key(&arn);
    let e = encrypt(&keyring, &[&arn], &context, b"x", &EncryptOptions::new()).unwrap_err();
    assert_eq!(provider_error(&e).code(), "DisabledException", "{e:?}");
    let e = decrypt(&keyring, &message, &DecryptOptions::new()).unwrap_err();
    assert_eq!(provider_error(&e).code(), "DisabledException", "{e:?}");

    let e = keyring
        .generate_data_key("alias/missing", &context)
        .unwrap_err();
    assert_eq!(e.code(), "NotFoundException", "{e:?}");

    // Nobody listens there: a connection error, with a code of its own.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = BlockingKmsKeyring::new(KmsKeyring::new(client_for(
        &format!("http://{dead}"),
        &srv.region,
        &srv.admin,
    )))
    .unwrap();
    let e = unreachable.generate_data_key(&arn, &context).unwrap_err();
    assert_eq!(e.code(), codes::CONNECTION, "{e:?}");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn the_async_api() {
    let srv = Cofferd::start("async");
    let first = srv.create_key();
    let second = srv.create_key();
    let keyring = KmsKeyring::new(srv.client(&srv.admin));
    let context = ctx(&[("api", "async")]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let generated = keyring.generate_data_key(&first, &context).await.unwrap();
        assert_eq!(generated.encrypted.key_id, first);
        let wrapped = keyring
            .encrypt_data_key(&second, &generated.data_key, &context)
            .await
            .unwrap();
        assert_eq!(wrapped.key_id, second);
        for edk in [&generated.encrypted, &wrapped] {
            let key = keyring
                .decrypt_data_key(&edk.key_id, &edk.ciphertext, &context)
                .await
                .unwrap();
            assert_eq!(key.expose(), generated.data_key.expose());
        }
        let materials = keyring
            .encryption_materials(&[&first, &second], &context)
            .await
            .unwrap();
        assert_eq!(materials.encrypted_data_keys.len(), 2);
        let e = keyring
            .encryption_materials(&[], &context)
            .await
            .unwrap_err();
        assert!(matches!(e, EnvelopeError::InvalidArgument(_)), "{e:?}");
        let e = keyring
            .encryption_materials(&[&first, "alias/missing"], &context)
            .await
            .unwrap_err();
        match e {
            EnvelopeError::Provider { key_id, source } => {
                assert_eq!(key_id, "alias/missing");
                assert_eq!(source.code(), "NotFoundException");
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn blocking_inside_a_runtime_is_an_error_not_a_panic() {
    let srv = Cofferd::start("in-runtime");
    let arn = srv.create_key();
    let keyring = srv.admin_keyring();
    let context = EncryptionContext::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let e = keyring.generate_data_key(&arn, &context).unwrap_err();
        assert_eq!(e.code(), codes::BLOCKING_IN_ASYNC_CONTEXT);
        let e = encrypt(&keyring, &[&arn], &context, b"x", &EncryptOptions::new()).unwrap_err();
        assert_eq!(provider_error(&e).code(), codes::BLOCKING_IN_ASYNC_CONTEXT);
        let e = BlockingKmsKeyring::from_env().unwrap_err();
        assert!(e.to_string().contains("async KmsKeyring"), "{e}");
        // Made and dropped inside a runtime: no panic either.
        drop(srv.admin_keyring());
    });
    // The same keyring still works from a plain thread.
    let generated = keyring.generate_data_key(&arn, &context).unwrap();
    assert_eq!(generated.encrypted.key_id, arn);
}

#[test]
fn no_error_or_debug_text_carries_a_data_key() {
    let srv = Cofferd::start("redaction");
    let arn = srv.create_key();
    let keyring = srv.admin_keyring();
    let context = ctx(&[("secret", "no")]);
    let generated = keyring.generate_data_key(&arn, &context).unwrap();
    let key = *generated.data_key.expose();
    let edk = generated.encrypted.clone();

    let mut texts = vec![
        format!("{generated:?}"),
        format!("{keyring:?}"),
        format!("{:?}", keyring.keyring()),
    ];
    let materials = keyring
        .encryption_materials(&coffer_envelope::MaterialsRequest {
            key_ids: &[&arn],
            context: &context,
            plaintext_len: None,
        })
        .unwrap();
    texts.push(format!("{materials:?}"));
    // Errors made while the key was in play: a wrong context, a wrong key, a refused wrap.
    let errors: Vec<ProviderError> = vec![
        keyring
            .decrypt_data_key(&edk.key_id, &edk.ciphertext, &EncryptionContext::new())
            .unwrap_err(),
        keyring
            .encrypt_data_key("alias/missing", &generated.data_key, &context)
            .unwrap_err(),
    ];
    srv.disable_key(&arn);
    let errors = errors.into_iter().chain([
        keyring
            .encrypt_data_key(&arn, &generated.data_key, &context)
            .unwrap_err(),
        keyring
            .decrypt_data_key(&edk.key_id, &edk.ciphertext, &context)
            .unwrap_err(),
    ]);
    for e in errors {
        texts.push(format!("{e:?}"));
        let mut chain = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(s) = cur {
            chain.push_str(&format!(" / {s} / {s:?}"));
            cur = s.source();
        }
        texts.push(chain);
    }
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64_of(&key);
    for t in &texts {
        assert!(!t.as_bytes().windows(key.len()).any(|w| w == key), "{t}");
        assert!(!t.to_lowercase().contains(&hex), "{t}");
        assert!(!t.contains(&b64), "{t}");
        assert!(!t.contains(&format!("{key:?}")), "{t}");
    }
}

/// Standard base64 of `b` (the wire form of a key in a KMS JSON body).
fn base64_of(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = c.iter().fold(0u32, |n, &x| n << 8 | u32::from(x)) << (8 * (3 - c.len()));
        for i in 0..=c.len() {
            s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s
}

#[test]
fn base64_helper_is_right() {
    assert_eq!(base64_of(b"hello"), "aGVsbG8");
    assert_eq!(base64_of(b"abc"), "YWJj");
}
