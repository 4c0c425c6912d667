//! cofferd end to end: the real binary on a loopback port, driven by the official AWS SDK for
//! Rust (`aws-sdk-kms`) and, for the security cases, by a raw HTTP/1.1 client with its own
//! SigV4 signer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};
use aws_sdk_kms::Client;
use coffer::SecretBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

mod common;

use common::{Admin, TempDir};

/// A running `cofferd` in region eu-west-1; killed when dropped.
struct Cofferd {
    server: common::Server,
    addr: String,
}

impl Cofferd {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut cmd =
            common::Server::command(&["--listen", "127.0.0.1:0", "--region", "eu-west-1"]);
        cmd.arg("--data-dir")
            .arg(dir)
            .args(extra)
            .stderr(Stdio::null());
        let server = common::Server::spawn(cmd);
        let addr = server.addr.clone();
        Self { server, addr }
    }

    fn stop(self) {
        self.server.stop();
    }
}

fn admin(dir: &Path) -> Admin {
    let a = Admin::of(dir);
    assert_eq!(
        a.principal_arn,
        format!("arn:aws:iam::{}:root", a.account_id)
    );
    a
}

fn client_with(
    srv: &Cofferd,
    a: &Admin,
    tweak: impl FnOnce(aws_sdk_kms::config::Builder) -> aws_sdk_kms::config::Builder,
) -> Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(a.region.clone()))
        .credentials_provider(Credentials::new(
            &a.access_key_id,
            &a.secret,
            None,
            None,
            "test",
        ))
        .endpoint_url(format!("http://{}", srv.addr))
        .http_client(aws_smithy_http_client::Builder::new().build_http());
    Client::from_conf(tweak(conf).build())
}

fn client(srv: &Cofferd, a: &Admin) -> Client {
    client_with(srv, a, |c| c)
}

fn no_retries(c: aws_sdk_kms::config::Builder) -> aws_sdk_kms::config::Builder {
    c.retry_config(RetryConfig::disabled())
}

use common::sdk_code as code;

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client and signer
// ---------------------------------------------------------------------------------------------

struct Raw {
    status: u16,
    body: serde_json::Value,
    content_type: String,
}

impl Raw {
    fn code(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

async fn send(addr: &str, head: &str, body: &[u8]) -> Raw {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (h, b) = text.split_once("\r\n\r\n").unwrap();
    let status = h.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = h
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Raw {
        status,
        body: serde_json::from_str(b).unwrap_or(serde_json::Value::Null),
        content_type,
    }
}

/// How to spoil a request.
#[derive(Default, Clone)]
struct Spoil {
    secret: Option<String>,
    access_key_id: Option<String>,
    date_offset_secs: i64,
    region: Option<String>,
    /// Replace the body after signing.
    tamper_body: Option<Vec<u8>>,
    /// Replace the Authorization header.
    authorization: Option<String>,
    unsigned: bool,
}

async fn signed_call(srv: &Cofferd, a: &Admin, op: &str, body: &str, spoil: Spoil) -> Raw {
    let amz_date = common::amz_date_now(spoil.date_offset_secs);
    let secret = SecretBytes::copy_from(spoil.secret.as_deref().unwrap_or(&a.secret).as_bytes());
    let (headers, auth) = common::sign(
        &srv.addr,
        &format!("TrentService.{op}"),
        spoil.access_key_id.as_deref().unwrap_or(&a.access_key_id),
        &secret,
        spoil.region.as_deref().unwrap_or(&a.region),
        &amz_date,
        body.as_bytes(),
    );
    let auth = spoil.authorization.clone().unwrap_or(auth);
    let sent = spoil
        .tamper_body
        .clone()
        .unwrap_or_else(|| body.as_bytes().to_vec());
    let mut head = common::head(&headers, sent.len(), true);
    if !spoil.unsigned {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    send(&srv.addr, &head, &sent).await
}

async fn call(srv: &Cofferd, a: &Admin, op: &str, body: &str) -> Raw {
    signed_call(srv, a, op, body, Spoil::default()).await
}

// ---------------------------------------------------------------------------------------------
// Every operation through the SDK
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_drives_every_operation() {
    let dir = TempDir::new("sdk");
    let srv = Cofferd::start(&dir.0, &[]);
    let a = admin(&dir.0);
    assert_eq!(a.region, "eu-west-1");
    let kms = client(&srv, &a);

    // CreateKey, DescribeKey.
    let created = kms
        .create_key()
        .description("billing")
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("a")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let md = created.key_metadata().unwrap();
    let key_id = md.key_id().to_owned();
    let arn = md.arn().unwrap().to_owned();
    assert_eq!(md.aws_account_id(), Some(a.account_id.as_str()));
    assert_eq!(
        arn,
        format!("arn:aws:kms:eu-west-1:{}:key/{key_id}", a.account_id)
    );
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(md.description(), Some("billing"));
    assert!(md.enabled());
    let created_at = md.creation_date().unwrap().secs();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (created_at - now).abs() < 600,
        "creation date is epoch seconds"
    );
    let d = kms.describe_key().key_id(&arn).send().await.unwrap();
    assert_eq!(d.key_metadata().unwrap().key_id(), key_id);

    // UpdateKeyDescription.
    kms.update_key_description()
        .key_id(&key_id)
        .description("ledger")
        .send()
        .await
        .unwrap();
    let d = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(d.key_metadata().unwrap().description(), Some("ledger"));

    // ListKeys, with paging.
    let second = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let page = kms.list_keys().limit(1).send().await.unwrap();
    assert_eq!(page.keys().len(), 1);
    assert!(page.truncated());
    let rest = kms
        .list_keys()
        .marker(page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    let mut all: Vec<String> = page
        .keys()
        .iter()
        .chain(rest.keys())
        .map(|k| k.key_id().unwrap().to_owned())
        .collect();
    all.sort();
    let mut want = vec![key_id.clone(), second.clone()];
    want.sort();
    assert_eq!(all, want);

    // Aliases: CreateAlias, ListAliases, UpdateAlias, DescribeKey by alias, DeleteAlias.
    kms.create_alias()
        .alias_name("alias/billing")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            kms.create_alias()
                .alias_name("alias/billing")
                .target_key_id(&key_id)
                .send()
                .await
        ),
        "AlreadyExistsException"
    );
    let aliases = kms.list_aliases().key_id(&key_id).send().await.unwrap();
    let al = &aliases.aliases()[0];
    assert_eq!(al.alias_name(), Some("alias/billing"));
    assert_eq!(al.target_key_id(), Some(key_id.as_str()));
    assert!(al.creation_date().is_some());
    let by_alias = kms
        .describe_key()
        .key_id("alias/billing")
        .send()
        .await
        .unwrap();
    assert_eq!(by_alias.key_metadata().unwrap().key_id(), key_id);

    // Encrypt / Decrypt with an encryption context, through the alias.
    let ct = kms
        .encrypt()
        .key_id("alias/billing")
        .plaintext(Blob::new(b"attack at dawn".to_vec()))
        .encryption_context("customer", "4711")
        .send()
        .await
        .unwrap();
    assert_eq!(ct.key_id(), Some(arn.as_str()));
    let blob = ct.ciphertext_blob().unwrap().clone();
    let pt = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("customer", "4711")
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"attack at dawn");
    assert_eq!(pt.key_id(), Some(arn.as_str()));
    assert_eq!(
        code(kms.decrypt().ciphertext_blob(blob.clone()).send().await),
        "InvalidCiphertextException"
    );

    // UpdateAlias to the second key; ReEncrypt to it.
    kms.update_alias()
        .alias_name("alias/billing")
        .target_key_id(&second)
        .send()
        .await
        .unwrap();
    let re = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("customer", "4711")
        .destination_key_id("alias/billing")
        .send()
        .await
        .unwrap();
    assert_eq!(re.source_key_id(), Some(arn.as_str()));
    assert!(re.key_id().unwrap().ends_with(&second));
    let pt2 = kms
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pt2.plaintext().unwrap().as_ref(), b"attack at dawn");
    kms.delete_alias()
        .alias_name("alias/billing")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(kms.describe_key().key_id("alias/billing").send().await),
        "NotFoundException"
    );

    // GenerateDataKey (+ WithoutPlaintext): the wrapped key decrypts to the plaintext one.
    let dk = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    let un = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        un.plaintext().unwrap().as_ref(),
        dk.plaintext().unwrap().as_ref()
    );
    let dk2 = kms
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .number_of_bytes(16)
        .send()
        .await
        .unwrap();
    let un2 = kms
        .decrypt()
        .ciphertext_blob(dk2.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(un2.plaintext().unwrap().as_ref().len(), 16);

    // GenerateRandom, and a value out of range.
    let r = kms
        .generate_random()
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert_eq!(r.plaintext().unwrap().as_ref().len(), 64);
    assert_eq!(
        code(kms.generate_random().number_of_bytes(5000).send().await),
        "ValidationException"
    );

    // Tags.
    kms.tag_resource()
        .key_id(&key_id)
        .tags(
            Tag::builder()
                .tag_key("env")
                .tag_value("prod")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let tags = kms
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let mut kv: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect();
    kv.sort();
    assert_eq!(
        kv,
        [
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "a".to_owned())
        ]
    );
    kms.untag_resource()
        .key_id(&key_id)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = kms
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);

    // Rotation.
    kms.enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let st = kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert!(st.key_rotation_enabled());
    assert_eq!(st.rotation_period_in_days(), Some(90));
    assert!(st.next_rotation_date().is_some());
    assert_eq!(
        code(
            kms.enable_key_rotation()
                .key_id(&key_id)
                .rotation_period_in_days(10)
                .send()
                .await
        ),
        "ValidationException"
    );
    kms.disable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert!(!kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_rotation_enabled());
    let rot = kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(rot.key_id(), Some(arn.as_str()));
    let rots = kms
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(rots.rotations().len(), 1);
    assert!(rots.rotations()[0].rotation_date().is_some());
    // Ciphertext made before the rotation still decrypts.
    let old = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("customer", "4711")
        .send()
        .await
        .unwrap();
    assert_eq!(old.plaintext().unwrap().as_ref(), b"attack at dawn");

    // Key policies: the default one, replaced, listed.
    let pol = kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(pol.policy().unwrap()).unwrap();
    assert!(doc["Statement"].is_array());
    assert_eq!(pol.policy_name(), Some("default"));
    let new_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#,
        a.account_id
    );
    kms.put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(&new_policy)
        .send()
        .await
        .unwrap();
    let pol = kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(pol.policy().unwrap()).unwrap();
    assert_eq!(doc["Statement"][0]["Sid"], "root");
    let names = kms
        .list_key_policies()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["default"]);
    assert_eq!(
        code(
            kms.put_key_policy()
                .key_id(&key_id)
                .policy_name("default")
                .policy("{not a policy")
                .send()
                .await
        ),
        "MalformedPolicyDocumentException"
    );

    // DisableKey / EnableKey.
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(b"x".to_vec()))
                .send()
                .await
        ),
        "DisabledException"
    );
    kms.enable_key().key_id(&key_id).send().await.unwrap();

    // ScheduleKeyDeletion / CancelKeyDeletion.
    let sched = kms
        .schedule_key_deletion()
        .key_id(&second)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(sched.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(sched.pending_window_in_days(), Some(7));
    let del = sched.deletion_date().unwrap().secs();
    assert!((del - now - 7 * 86_400).abs() < 600);
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&second)
                .plaintext(Blob::new(b"x".to_vec()))
                .send()
                .await
        ),
        "KMSInvalidStateException"
    );
    let cancel = kms
        .cancel_key_deletion()
        .key_id(&second)
        .send()
        .await
        .unwrap();
    assert!(cancel.key_id().unwrap().ends_with(&second));
    let d = kms.describe_key().key_id(&second).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );

    // Errors by code.
    assert_eq!(
        code(
            kms.describe_key()
                .key_id("00000000-0000-0000-0000-000000000000")
                .send()
                .await
        ),
        "NotFoundException"
    );
    assert_eq!(
        code(
            kms.sign()
                .key_id(&key_id)
                .message(Blob::new(b"m".to_vec()))
                .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await
        ),
        // A symmetric encryption key does not sign.
        "InvalidKeyUsageException"
    );
    srv.stop();
}

#[tokio::test]
async fn sdk_drives_hmac_keys() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec};
    let dir = TempDir::new("sdk-hmac");
    let srv = Cofferd::start(&dir.0, &[]);
    let a = admin(&dir.0);
    let kms = client(&srv, &a);

    let created = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let md = created.key_metadata().unwrap();
    let key_id = md.key_id().to_owned();
    let arn = md.arn().unwrap().to_owned();
    assert_eq!(md.key_spec(), Some(&KeySpec::Hmac256));
    assert_eq!(md.key_usage(), Some(&KeyUsageType::GenerateVerifyMac));
    assert_eq!(md.mac_algorithms(), [MacAlgorithmSpec::HmacSha256]);
    assert!(md.encryption_algorithms().is_empty());
    kms.create_alias()
        .alias_name("alias/sdk-mac")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();

    let message = Blob::new(b"message to authenticate".to_vec());
    let g = kms
        .generate_mac()
        .key_id("alias/sdk-mac")
        .message(message.clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    let mac = g.mac().unwrap().as_ref().to_vec();
    assert_eq!(mac.len(), 32);
    assert_eq!(g.key_id(), Some(arn.as_str()));
    assert_eq!(g.mac_algorithm(), Some(&MacAlgorithmSpec::HmacSha256));

    let v = kms
        .verify_mac()
        .key_id(&key_id)
        .message(message.clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .mac(Blob::new(mac.clone()))
        .send()
        .await
        .unwrap();
    assert!(v.mac_valid());
    assert_eq!(v.key_id(), Some(arn.as_str()));
    assert_eq!(v.mac_algorithm(), Some(&MacAlgorithmSpec::HmacSha256));

    // A flipped bit: KMSInvalidMacException.
    let mut bad = mac.clone();
    bad[5] ^= 0x10;
    assert_eq!(
        code(
            kms.verify_mac()
                .key_id(&key_id)
                .message(message.clone())
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .mac(Blob::new(bad))
                .send()
                .await
        ),
        "KMSInvalidMacException"
    );
    // Another algorithm, or Encrypt with the HMAC key: InvalidKeyUsageException.
    assert_eq!(
        code(
            kms.generate_mac()
                .key_id(&key_id)
                .message(message.clone())
                .mac_algorithm(MacAlgorithmSpec::HmacSha512)
                .send()
                .await
        ),
        "InvalidKeyUsageException"
    );
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(b"x".to_vec()))
                .send()
                .await
        ),
        "InvalidKeyUsageException"
    );
    // An empty message: ValidationException.
    assert_eq!(
        code(
            kms.generate_mac()
                .key_id(&key_id)
                .message(Blob::new(Vec::new()))
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .send()
                .await
        ),
        "ValidationException"
    );
    // Automatic rotation is refused for HMAC keys, as AWS refuses it.
    assert_eq!(
        code(kms.enable_key_rotation().key_id(&key_id).send().await),
        "UnsupportedOperationException"
    );
    srv.stop();
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn signed_requests_pass_and_spoiled_ones_are_refused() {
    let dir = TempDir::new("auth");
    let srv = Cofferd::start(&dir.0, &[]);
    let a = admin(&dir.0);
    let body = r#"{"Limit": 5}"#;

    // The positive control: our own signer is accepted.
    let ok = call(&srv, &a, "ListKeys", body).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["Truncated"], false);
    assert_eq!(ok.content_type, "application/x-amz-json-1.1");

    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "unsigned",
            Spoil {
                unsigned: true,
                ..Spoil::default()
            },
            "MissingAuthenticationTokenException",
        ),
        (
            "malformed",
            Spoil {
                authorization: Some("AWS4-HMAC-SHA256 Credential=garbage".into()),
                ..Spoil::default()
            },
            "IncompleteSignatureException",
        ),
        (
            "not sigv4",
            Spoil {
                authorization: Some("Bearer abc".into()),
                ..Spoil::default()
            },
            "IncompleteSignatureException",
        ),
        (
            "unknown key",
            Spoil {
                access_key_id: Some("AKIAUNKNOWNUNKNOWN00".into()),
                ..Spoil::default()
            },
            "UnrecognizedClientException",
        ),
        (
            "wrong secret",
            Spoil {
                secret: Some("not-the-secret".into()),
                ..Spoil::default()
            },
            "InvalidSignatureException",
        ),
        (
            "body tampered",
            Spoil {
                tamper_body: Some(br#"{"Limit": 6}"#.to_vec()),
                ..Spoil::default()
            },
            "InvalidSignatureException",
        ),
        (
            "wrong region",
            Spoil {
                region: Some("us-east-1".into()),
                ..Spoil::default()
            },
            "InvalidSignatureException",
        ),
        (
            "skewed past",
            Spoil {
                date_offset_secs: -600,
                ..Spoil::default()
            },
            "InvalidSignatureException",
        ),
        (
            "skewed future",
            Spoil {
                date_offset_secs: 600,
                ..Spoil::default()
            },
            "InvalidSignatureException",
        ),
    ];
    for (name, spoil, want) in cases {
        let r = signed_call(&srv, &a, "ListKeys", body, spoil).await;
        assert_eq!((r.status, r.code()), (400, want), "{name}: {:?}", r.body);
        assert_eq!(r.content_type, "application/x-amz-json-1.1", "{name}");
    }
    let r = signed_call(
        &srv,
        &a,
        "ListKeys",
        body,
        Spoil {
            date_offset_secs: -600,
            ..Spoil::default()
        },
    )
    .await;
    assert!(
        r.message().starts_with("Signature expired: "),
        "{}",
        r.message()
    );

    // A signature made for one request does not authenticate another operation.
    let amz_date = common::amz_date_now(0);
    let secret = SecretBytes::copy_from(a.secret.as_bytes());
    let (_, auth) = common::sign(
        &srv.addr,
        "TrentService.ListKeys",
        &a.access_key_id,
        &secret,
        &a.region,
        &amz_date,
        b"{}",
    );
    let head = format!(
        "POST / HTTP/1.1\r\nConnection: close\r\nHost: {}\r\nX-Amz-Date: {amz_date}\r\nX-Amz-Target: TrentService.CreateKey\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nAuthorization: {auth}\r\n\r\n",
        srv.addr
    );
    let r = send(&srv.addr, &head, b"{}").await;
    assert_eq!(r.code(), "InvalidSignatureException");
    srv.stop();
}

#[tokio::test]
async fn sdk_with_a_skewed_clock_is_refused() {
    let dir = TempDir::new("skew");
    let srv = Cofferd::start(&dir.0, &[]);
    let a = admin(&dir.0);
    let behind = SystemTime::now() - Duration::from_secs(3600);
    let kms = client_with(&srv, &a, |c| {
        no_retries(c).time_source(aws_smithy_async::time::StaticTimeSource::new(behind))
    });
    let err = kms.list_keys().send().await.unwrap_err();
    let meta = err.as_service_error().unwrap().meta();
    assert_eq!(meta.code(), Some("InvalidSignatureException"));
    assert!(meta.message().unwrap().starts_with("Signature expired"));
    srv.stop();
}

// ---------------------------------------------------------------------------------------------
// Protocol errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn protocol_errors_have_aws_codes() {
    let dir = TempDir::new("proto");
    let srv = Cofferd::start(&dir.0, &["--max-body-bytes", "4096"]);
    let a = admin(&dir.0);

    let r = call(&srv, &a, "NoSuchOperation", "{}").await;
    assert_eq!((r.status, r.code()), (400, "UnknownOperationException"));
    // Custom key stores are served (AWS_CLOUDHSM over configured tokens); external key stores
    // are not, and a CloudHSM store needs its cluster, trust anchor and password.
    let r = call(
        &srv,
        &a,
        "CreateCustomKeyStore",
        r#"{"CustomKeyStoreName":"x","CustomKeyStoreType":"EXTERNAL_KEY_STORE","XksProxyUriEndpoint":"https://xks.example"}"#,
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "UnsupportedOperationException"));
    assert!(r.message().contains("CreateCustomKeyStore"));
    let r = call(
        &srv,
        &a,
        "CreateCustomKeyStore",
        r#"{"CustomKeyStoreName":"x"}"#,
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "ValidationException"));
    let r = call(
        &srv,
        &a,
        "CreateCustomKeyStore",
        r#"{"CustomKeyStoreName":"x","CloudHsmClusterId":"cluster-1234567890a","TrustAnchorCertificate":"pem","KeyStorePassword":"secret-pin-1"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "CloudHsmClusterNotFoundException")
    );
    assert!(!r.message().contains("secret-pin-1"));
    let r = call(&srv, &a, "ListKeys", "{not json").await;
    assert_eq!((r.status, r.code()), (400, "SerializationException"));
    let r = call(&srv, &a, "ListKeys", r#"{"Limit": "five"}"#).await;
    assert_eq!((r.status, r.code()), (400, "SerializationException"));
    let r = call(&srv, &a, "Encrypt", r#"{"KeyId": "x", "Plaintext": "%%%"}"#).await;
    assert_eq!((r.status, r.code()), (400, "SerializationException"));
    let r = call(&srv, &a, "ListKeys", r#"{"Limit": 0}"#).await;
    assert_eq!((r.status, r.code()), (400, "ValidationException"));
    let r = call(&srv, &a, "ListKeys", r#"{"Limit": -1}"#).await;
    assert_eq!((r.status, r.code()), (400, "ValidationException"));
    let r = call(&srv, &a, "DescribeKey", "{}").await;
    assert_eq!((r.status, r.code()), (400, "ValidationException"));
    // An empty body is an empty request.
    let r = call(&srv, &a, "ListKeys", "").await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Too large: refused on its Content-Length, before the body is read or anything else.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-Amz-Target: TrentService.CreateKey\r\nContent-Length: 5000\r\n\r\n",
        srv.addr
    );
    let r = send(&srv.addr, &head, b"").await;
    assert_eq!(
        (r.status, r.code()),
        (413, "RequestEntityTooLargeException")
    );

    // Health.
    let r = send(
        &srv.addr,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            srv.addr
        ),
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    srv.stop();
}

// ---------------------------------------------------------------------------------------------
// Pre-authentication limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn floods_are_throttled_per_ip() {
    let dir = TempDir::new("ip");
    // A failure budget of 3 that refills once in 1000 s.
    let srv = Cofferd::start(&dir.0, &["--ip-rate", "0.001", "--ip-burst", "3"]);
    let a = admin(&dir.0);
    let kms = client_with(&srv, &a, no_retries);
    // Authenticated requests spend nothing: three times the budget, all served.
    for _ in 0..9 {
        kms.list_keys().send().await.unwrap();
    }
    let unsigned = || Spoil {
        unsigned: true,
        ..Spoil::default()
    };
    // Refused requests spend it…
    for _ in 0..3 {
        let r = signed_call(&srv, &a, "ListKeys", "{}", unsigned()).await;
        assert_eq!(r.code(), "MissingAuthenticationTokenException");
    }
    // …and then the address is refused before any signature work, signed requests too.
    let r = signed_call(&srv, &a, "ListKeys", "{}", unsigned()).await;
    assert_eq!(r.code(), "ThrottlingException");
    assert_eq!(code(kms.list_keys().send().await), "ThrottlingException");
    srv.stop();
}

#[tokio::test]
async fn floods_are_throttled_per_access_key() {
    let dir = TempDir::new("key");
    let srv = Cofferd::start(&dir.0, &["--key-rate", "0.001", "--key-burst", "2"]);
    let a = admin(&dir.0);
    let bogus = Spoil {
        access_key_id: Some("AKIAFLOODFLOODFLOOD0".into()),
        ..Spoil::default()
    };
    for _ in 0..2 {
        let r = signed_call(&srv, &a, "ListKeys", "{}", bogus.clone()).await;
        assert_eq!(r.code(), "UnrecognizedClientException");
    }
    let r = signed_call(&srv, &a, "ListKeys", "{}", bogus).await;
    assert_eq!(r.code(), "ThrottlingException");
    // Another key id is unaffected.
    let kms = client_with(&srv, &a, no_retries);
    kms.list_keys().send().await.unwrap();
    srv.stop();
}

// ---------------------------------------------------------------------------------------------
// Restart
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn restart_keeps_the_administrator_credential() {
    let dir = TempDir::new("restart");
    let srv = Cofferd::start(&dir.0, &[]);
    let a = admin(&dir.0);
    let admin_path = dir.0.join("admin-credentials.json");
    let admin_before = std::fs::read(&admin_path).unwrap();
    let modified_before = std::fs::metadata(&admin_path).unwrap().modified().unwrap();
    let key_id = client(&srv, &a)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    srv.stop();

    let srv = Cofferd::start(&dir.0, &[]);
    // The administrator file is not rewritten, and its credential still authenticates.
    assert_eq!(std::fs::read(&admin_path).unwrap(), admin_before);
    assert_eq!(
        std::fs::metadata(&admin_path).unwrap().modified().unwrap(),
        modified_before
    );
    let kms = client(&srv, &a);
    let listed = kms.list_keys().send().await.unwrap();

    // Keys survive: the SQLite store in the data dir, under the root key in DIR/root.key.
    assert!(listed
        .keys()
        .iter()
        .any(|k| k.key_id() == Some(key_id.as_str())));
    kms.describe_key().key_id(&key_id).send().await.unwrap();
    srv.stop();
}

#[tokio::test]
async fn sdk_drives_grants() {
    use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
    let dir = TempDir::new("grants");
    let srv = Cofferd::start(&dir.0, &[]);
    let a = admin(&dir.0);
    let kms = client(&srv, &a);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let grantee = format!("arn:aws:iam::{}:role/app", a.account_id);

    let created = kms
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(&grantee)
        .retiring_principal(&grantee)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("tenant", "acme")
                .build(),
        )
        .name("app")
        .send()
        .await
        .unwrap();
    let grant_id = created.grant_id().unwrap().to_owned();
    let token = created.grant_token().unwrap().to_owned();
    assert_eq!(grant_id.len(), 64);

    // The token is accepted with a request; a forged one is refused.
    kms.encrypt()
        .key_id(&key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
        .grant_tokens(&token)
        .send()
        .await
        .unwrap();
    // The tag's last byte changed (to 00, or to 01 where it was 00: one token in 256 ends in
    // 00, which made a fixed "00" a forgery that was no forgery).
    let (kept, last) = token.split_at(token.len() - 2);
    let forged = format!("{kept}{}", if last == "00" { "01" } else { "00" });
    assert_ne!(forged, token);
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&key_id)
                .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
                .grant_tokens(forged)
                .send()
                .await
        ),
        "InvalidGrantTokenException"
    );

    let listed = kms.list_grants().key_id(&key_id).send().await.unwrap();
    let grants = listed.grants();
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    assert_eq!(g.grant_id(), Some(grant_id.as_str()));
    assert_eq!(g.key_id(), Some(arn.as_str()));
    assert_eq!(g.grantee_principal(), Some(grantee.as_str()));
    assert_eq!(g.name(), Some("app"));
    assert_eq!(
        g.operations(),
        [GrantOperation::Decrypt, GrantOperation::Encrypt]
    );
    assert_eq!(
        g.constraints()
            .unwrap()
            .encryption_context_subset()
            .unwrap()
            .get("tenant")
            .map(String::as_str),
        Some("acme")
    );
    let retirable = kms
        .list_retirable_grants()
        .retiring_principal(&grantee)
        .send()
        .await
        .unwrap();
    assert_eq!(retirable.grants().len(), 1);

    // The account root that created the grant may retire it.
    kms.retire_grant()
        .key_id(&arn)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap();
    assert!(kms
        .list_grants()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .grants()
        .is_empty());
    assert_eq!(
        code(
            kms.revoke_grant()
                .key_id(&key_id)
                .grant_id(&grant_id)
                .send()
                .await
        ),
        "NotFoundException"
    );
    srv.stop();
}

#[tokio::test]
async fn every_call_and_every_refusal_is_in_the_verified_audit_log() {
    let dir = TempDir::new("audit");
    let srv = Cofferd::start(&dir.0, &[]);
    let a = admin(&dir.0);
    let kms = client(&srv, &a);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    kms.encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"AUDIT-SECRET-PLAINTEXT".to_vec()))
        .send()
        .await
        .unwrap();
    let unsigned = signed_call(
        &srv,
        &a,
        "ListKeys",
        "{}",
        Spoil {
            unsigned: true,
            ..Spoil::default()
        },
    )
    .await;
    assert_eq!(unsigned.code(), "MissingAuthenticationTokenException");
    let wrong = signed_call(
        &srv,
        &a,
        "ListKeys",
        "{}",
        Spoil {
            secret: Some("not-the-secret".into()),
            ..Spoil::default()
        },
    )
    .await;
    assert_eq!(wrong.code(), "InvalidSignatureException");
    srv.stop();

    let public = std::fs::read_to_string(dir.0.join(coffer::AUDIT_PUBLIC_KEY_FILE)).unwrap();
    let key = coffer::audit_log::public_key_from_hex(public.trim()).unwrap();
    // The server was killed: its last records are after the last digest, and still chain.
    let report = coffer::audit_log::verify_with(
        dir.0.join(coffer::AUDIT_DIR),
        &key,
        &coffer::audit_log::VerifyOptions::default().allow_torn_tail(true),
    )
    .unwrap();
    assert!(report.events >= 4, "{report:?}");
    let mut text = String::new();
    for f in std::fs::read_dir(dir.0.join(coffer::AUDIT_DIR)).unwrap() {
        text.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
    }
    for needle in [
        "\"eventName\":\"CreateKey\"",
        "\"eventName\":\"Encrypt\"",
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        &a.access_key_id,
    ] {
        assert!(text.contains(needle), "the log lacks {needle}");
    }
    assert!(!text.contains("AUDIT-SECRET-PLAINTEXT"));
    assert!(!text.contains(&a.secret));
}
