//! `cofferd --dev`: the fixed, documented credential works with the official SDK (signatures
//! still verified: a wrong secret is refused), the fixed account, quotas off, and the temporary
//! data directory is removed when the server stops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use common::Server;

fn client(addr: &str, secret: &str) -> Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(cofferd::dev::DEV_REGION))
        .credentials_provider(Credentials::new(
            cofferd::dev::DEV_ACCESS_KEY_ID,
            secret,
            None,
            None,
            "dev",
        ))
        .endpoint_url(format!("http://{addr}"))
        .retry_config(RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn dev_mode_serves_the_documented_credential_and_cleans_up() {
    // --listen overrides the fixed port so that the test takes a free one.
    let mut cmd = Server::command(&["--dev", "--listen", "127.0.0.1:0"]);
    cmd.stderr(std::process::Stdio::null());
    let srv = Server::spawn(cmd);
    let addr = srv.addr.clone();
    let temp_dir = std::env::temp_dir().join(format!("cofferd-dev-{}", srv.child.id()));
    assert!(temp_dir.join("root.key").exists(), "{}", temp_dir.display());

    let kms = client(&addr, cofferd::dev::DEV_SECRET_ACCESS_KEY);
    let key = kms.create_key().send().await.unwrap();
    let meta = key.key_metadata().unwrap();
    assert_eq!(meta.aws_account_id(), Some(cofferd::dev::DEV_ACCOUNT_ID));
    let ct = kms
        .encrypt()
        .key_id(meta.key_id())
        .plaintext(Blob::new(b"dev".to_vec()))
        .send()
        .await
        .unwrap();
    let pt = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"dev");
    // Quotas are off: more CreateKey calls than AWS's 5 per second all succeed.
    for _ in 0..12 {
        kms.create_key().send().await.unwrap();
    }
    // Signatures are still verified.
    let wrong = client(&addr, "not-the-dev-secret");
    let e = wrong.list_keys().send().await.unwrap_err();
    assert_eq!(
        common::sdk_code(Err::<(), _>(e)),
        "InvalidSignatureException"
    );

    // SIGTERM: the server drains, and the temporary data directory goes with it.
    let mut srv = srv;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(srv.child.wait().unwrap().success());
    assert!(!temp_dir.exists(), "{} left behind", temp_dir.display());
}

const SEED: &str = r#"
[[keys]]
alias = "alias/app"
description = "the app's key"
tags = { team = "payments" }

[[keys]]
alias = "alias/mac"
key_spec = "HMAC_256"
material = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

[[grants]]
alias = "alias/app"
name = "app-runtime"
grantee = "arn:aws:iam::111122223333:role/app"
operations = ["Encrypt", "Decrypt"]
"#;

/// The same seed in YAML, with a further alias of the first key.
const SEED_YAML: &str = r#"
keys:
  - alias: alias/app
    aliases: [alias/app-v2]
    description: the app's key
    tags: { team: payments }
  - alias: alias/mac
    key_spec: HMAC_256
    material: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
grants:
  - alias: alias/app
    name: app-runtime
    grantee: arn:aws:iam::111122223333:role/app
    operations: [Encrypt, Decrypt]
"#;

#[tokio::test]
async fn a_seed_is_applied_at_start_and_again_changes_nothing() {
    seed_twice("seed.toml", SEED, &["alias/app", "alias/mac"]).await;
}

#[tokio::test]
async fn a_yaml_seed_is_applied_like_a_toml_one_with_its_further_aliases() {
    seed_twice(
        "seed.yaml",
        SEED_YAML,
        &["alias/app", "alias/app-v2", "alias/mac"],
    )
    .await;
}

/// Starts a dev server with `text` as the seed file `name` twice on one data directory: the
/// aliases are `expected` both times, one grant, the imported HMAC material gives the MAC
/// computed here, and every alias of the seed names one key.
async fn seed_twice(name: &str, text: &str, expected: &[&str]) {
    let dir = common::TempDir::new("dev-seed");
    let seed = dir.path().join(name);
    std::fs::write(&seed, text).unwrap();
    let data = dir.path().join("data");
    let start = || {
        let mut cmd = Server::command(&[
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--seed",
            seed.to_str().unwrap(),
        ]);
        cmd.stderr(std::process::Stdio::null());
        Server::spawn(cmd)
    };
    let material: Vec<u8> = (0u8..32).collect();
    for round in 0..2 {
        let srv = start();
        let kms = client(&srv.addr, cofferd::dev::DEV_SECRET_ACCESS_KEY);
        let aliases = kms.list_aliases().send().await.unwrap();
        let names: Vec<_> = aliases
            .aliases()
            .iter()
            .filter_map(|a| a.alias_name())
            .collect();
        assert_eq!(names, expected, "round {round}");
        let app = kms.describe_key().key_id("alias/app").send().await.unwrap();
        for alias in expected.iter().filter(|a| a.starts_with("alias/app")) {
            let same = kms.describe_key().key_id(*alias).send().await.unwrap();
            assert_eq!(
                same.key_metadata().unwrap().key_id(),
                app.key_metadata().unwrap().key_id(),
                "{alias}"
            );
        }
        assert_eq!(
            app.key_metadata().unwrap().description(),
            Some("the app's key")
        );
        let grants = kms
            .list_grants()
            .key_id(app.key_metadata().unwrap().key_id())
            .send()
            .await
            .unwrap();
        assert_eq!(grants.grants().len(), 1, "round {round}");
        // The imported HMAC material gives the MAC computed here.
        let mac = kms
            .generate_mac()
            .key_id("alias/mac")
            .message(Blob::new(b"order 4711".to_vec()))
            .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
            .send()
            .await
            .unwrap();
        let local = coffer_crypto::hmac_sign(
            coffer_crypto::HmacAlgorithm::Sha256,
            &material,
            b"order 4711",
        )
        .unwrap();
        assert_eq!(mac.mac().unwrap().as_ref(), &local[..]);
        srv.stop();
    }
    // A data directory named with --data-dir is kept.
    assert!(data.join("root.key").exists());
}

#[test]
fn a_yaml_seed_parses_as_its_toml_twin_and_errors_name_no_value() {
    use cofferd::seed::{parse, Format};
    let toml = parse(SEED, Format::Toml).unwrap();
    let yaml = parse(SEED_YAML, Format::Yaml).unwrap();
    assert_eq!(yaml.keys.len(), toml.keys.len());
    for (y, t) in yaml.keys.iter().zip(&toml.keys) {
        assert_eq!(
            (&y.alias, &y.description, &y.key_spec, &y.tags, &y.material),
            (&t.alias, &t.description, &t.key_spec, &t.tags, &t.material)
        );
    }
    assert_eq!(yaml.keys[0].aliases, ["alias/app-v2"]);
    assert_eq!(yaml.grants[0].operations, toml.grants[0].operations);
    assert_eq!(Format::of(std::path::Path::new("s.YML")), Format::Yaml);
    assert_eq!(Format::of(std::path::Path::new("s.toml")), Format::Toml);
    // An unknown field is refused, and the message quotes no value of the file.
    let bad = "keys:\n  - alias: alias/x\n    materail: U0VDUkVUU0VDUkVU\n";
    let e = parse(bad, Format::Yaml).unwrap_err();
    assert!(e.contains("materail"), "{e}");
    assert!(!e.contains("U0VDUkVU"), "{e}");
    // A material of the wrong type: its value is not echoed either.
    let e = parse(
        "keys:\n  - alias: alias/x\n    material: [U0VDUkVUU0VDUkVU]\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert!(!e.contains("U0VDUkVU"), "{e}");
}

#[test]
fn a_seed_never_prints_its_material() {
    let dir = common::TempDir::new("dev-seed-debug");
    let path = dir.path().join("seed.toml");
    std::fs::write(&path, SEED).unwrap();
    let seed = cofferd::seed::load(&path).unwrap();
    let shown = format!("{seed:?}");
    assert!(
        shown.contains("alias/mac") && shown.contains("[redacted]"),
        "{shown}"
    );
    assert!(!shown.contains("AAECAwQF"), "{shown}");
}
