//! cofferd with its root key in a PKCS#11 token (SoftHSM2), through aws-sdk-kms: the token
//! holds the key (never extractable), the data dir holds no root key material, a restart
//! decrypts old ciphertexts, a token absent or a PIN wrong at start stops cofferd clearly (the
//! PIN never printed), a token gone while running answers retryable errors (never a wrong
//! answer) and its return heals without a restart.
//!
//! SoftHSM reads its configuration (`SOFTHSM2_CONF`) once per process, so each cofferd runs as
//! a child with the test's own token directory. "Removing" a token is renaming its directory
//! away under the token directory: SoftHSM then fails C_GetTokenInfo and C_Login and no longer
//! lists the token after a re-initialization; renamed back, a re-initialization finds it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use common::{Admin, Server, TempDir};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "pin-31415926-do-not-print";
const SO_PIN: &str = "so-27182818";
const LABEL: &str = "coffer-root-token";

/// A SoftHSM token directory and configuration of one test, with one token in it.
struct Token {
    dir: TempDir,
}

impl Token {
    fn new(name: &str) -> Self {
        let dir = TempDir::new(name);
        coffer_hsm::softhsm::SoftHsmDir::create(dir.path(), "")
            .and_then(|h| h.init_token(LABEL, PIN, SO_PIN))
            .unwrap();
        Self { dir }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn tool(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", self.conf());
        c
    }

    /// The token's directory (the one directory under `tokens/`).
    fn token_dir(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("tokens"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs.pop().unwrap()
    }

    /// Takes the token away (its directory moved out of the token directory).
    fn remove(&self) -> PathBuf {
        let from = self.token_dir();
        let away = self.dir.path().join("removed");
        std::fs::rename(&from, &away).unwrap();
        from
    }

    fn put_back(&self, to: &Path) {
        std::fs::rename(self.dir.path().join("removed"), to).unwrap();
    }

    /// `pkcs11-tool` on the token, logged in: its exit success and output.
    fn pkcs11_tool(&self, args: &[&str]) -> (bool, String) {
        let out = self
            .tool("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                LABEL,
                "--login",
                "--pin",
                PIN,
            ])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// A data dir and a configuration file naming the token as the root key, PIN in a file.
struct Setup {
    token: Token,
    dir: TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(name: &str, token_label: &str, pin: &str) -> Self {
        let token = Token::new(name);
        let dir = TempDir::new(&format!("{name}-data"));
        let pin_file = dir.path().join("token.pin");
        std::fs::write(&pin_file, format!("{pin}\n")).unwrap();
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.path().join("cofferd.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nregion = \"eu-west-1\"\n\
                 [root_key]\nprovider = \"pkcs11\"\nmodule = {MODULE:?}\n\
                 token_label = {token_label:?}\npin_file = {:?}\nkey_label = \"coffer-root\"\n\
                 [[hsm_clusters]]\nid = \"cluster-1234567abcd\"\nmodule = {MODULE:?}\n\
                 token_label = \"cluster-token\"\n",
                dir.path().join("data").display().to_string(),
                pin_file.display().to_string(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        Self { token, dir, config }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("cofferd.log")
    }

    fn command(&self) -> Command {
        let mut cmd = Server::command(&["--config", self.config.to_str().unwrap()]);
        cmd.env("SOFTHSM2_CONF", self.token.conf())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.log())
                    .unwrap(),
            ));
        cmd
    }

    fn start(&self) -> Server {
        Server::spawn(self.command())
    }

    /// Runs cofferd expecting it not to start: its exit code and everything it printed.
    fn fail_to_start(&self) -> (Option<i32>, String) {
        let out = self
            .command()
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn client(&self, server: &Server) -> aws_sdk_kms::Client {
        let a = Admin::of(&self.data_dir());
        use aws_sdk_kms::config::retry::RetryConfig;
        use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
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
            .endpoint_url(format!("http://{}", server.addr))
            // Each answer is observed as given: no retries hiding a failure.
            .retry_config(RetryConfig::disabled())
            .http_client(aws_smithy_http_client::Builder::new().build_http());
        aws_sdk_kms::Client::from_conf(conf.build())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn encrypt(c: &aws_sdk_kms::Client, key: &str, plain: &[u8]) -> Vec<u8> {
    c.encrypt()
        .key_id(key)
        .plaintext(Blob::new(plain))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap()
        .into_inner()
}

async fn decrypt(
    c: &aws_sdk_kms::Client,
    blob: &[u8],
) -> Result<Vec<u8>, aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::decrypt::DecryptError>> {
    c.decrypt()
        .ciphertext_blob(Blob::new(blob))
        .send()
        .await
        .map(|o| o.plaintext.unwrap().into_inner())
}

async fn create_key(c: &aws_sdk_kms::Client) -> Result<String, String> {
    c.create_key()
        .send()
        .await
        .map(|o| o.key_metadata.unwrap().key_id)
        .map_err(|e| {
            let e = e.into_service_error();
            aws_sdk_kms::error::ProvideErrorMetadata::code(&e)
                .unwrap_or("?")
                .to_owned()
        })
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_root_key_lives_in_the_token_and_a_restart_decrypts_old_ciphertexts() {
    let s = Setup::new("hsm-root", LABEL, PIN);
    let rt = runtime();
    let server = s.start();
    let c = s.client(&server);
    let (key, blob, data_key) = rt.block_on(async {
        let key = create_key(&c).await.unwrap();
        let blob = encrypt(&c, &key, b"in the token").await;
        assert_eq!(decrypt(&c, &blob).await.unwrap(), b"in the token");
        let dk = c
            .generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .unwrap();
        (
            key,
            blob,
            (
                dk.plaintext.unwrap().into_inner(),
                dk.ciphertext_blob.unwrap().into_inner(),
            ),
        )
    });
    server.stop();

    // No root key material in the data dir: no key file, and nothing there unwraps without
    // the token (the restart below finds the key in the token, not in the directory).
    let all = files(&s.data_dir());
    assert!(!all.is_empty());
    for f in &all {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(!name.contains("root"), "{f:?}");
    }
    assert!(!s.data_dir().join("root.key").exists());

    // The token holds the key: sensitive, never extractable; its value cannot be read.
    let (ok, listing) = s
        .token
        .pkcs11_tool(&["--list-objects", "--type", "secrkey"]);
    assert!(ok, "{listing}");
    assert!(listing.contains("coffer-root"), "{listing}");
    assert!(listing.contains("never extractable"), "{listing}");
    assert!(listing.contains("sensitive"), "{listing}");
    let (ok, out) = s.token.pkcs11_tool(&[
        "--read-object",
        "--type",
        "secrkey",
        "--label",
        "coffer-root",
    ]);
    assert!(!ok, "the root key's value was read: {out}");

    // Restarted on the same token: old ciphertexts decrypt.
    let server = s.start();
    let c = s.client(&server);
    rt.block_on(async {
        assert_eq!(decrypt(&c, &blob).await.unwrap(), b"in the token");
        assert_eq!(decrypt(&c, &data_key.1).await.unwrap(), data_key.0);
        let again = encrypt(&c, &key, b"after restart").await;
        assert_eq!(decrypt(&c, &again).await.unwrap(), b"after restart");
    });
    server.stop();

    // The PIN was never logged; the token and key label were.
    let log = std::fs::read_to_string(s.log()).unwrap();
    assert!(!log.contains(PIN), "{log}");
    assert!(log.contains("PKCS#11"), "{log}");
}

#[test]
fn an_absent_token_or_a_wrong_pin_stops_the_start_naming_the_token_never_the_pin() {
    // The token is absent.
    let s = Setup::new("hsm-absent", "no-such-token", PIN);
    let (code, out) = s.fail_to_start();
    assert!(code.is_some_and(|c| c != 0), "{code:?} {out}");
    assert!(
        out.contains("no-such-token") && out.contains(MODULE),
        "{out}"
    );
    assert!(out.contains("not present"), "{out}");
    assert!(!out.contains(PIN), "{out}");
    assert!(!s.data_dir().join("coffer.db").exists());

    // The PIN is wrong.
    let wrong = "wrong-pin-16180339";
    let s = Setup::new("hsm-wrong-pin", LABEL, wrong);
    let (code, out) = s.fail_to_start();
    assert!(code.is_some_and(|c| c != 0), "{code:?} {out}");
    assert!(
        out.contains(LABEL) && out.contains("refused the PIN"),
        "{out}"
    );
    assert!(!out.contains(wrong) && !out.contains(PIN), "{out}");

    // A data dir made with one token does not start on another one (no key object there):
    // no new root key is made over an existing directory.
    let s = Setup::new("hsm-other-token", LABEL, PIN);
    s.start().stop();
    let other = Token::new("hsm-other-token-2");
    let mut cmd = s.command();
    cmd.env("SOFTHSM2_CONF", other.conf())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("coffer-root"), "{text}");
}

#[test]
fn a_token_gone_while_running_answers_retryable_errors_and_heals_when_it_returns() {
    let s = Setup::new("hsm-gone", LABEL, PIN);
    let rt = runtime();
    // Ciphertexts of a key that the next run will not have unwrapped (not in its cache).
    let server = s.start();
    let c = s.client(&server);
    let (cold_blob, warm_key) = rt.block_on(async {
        let cold = create_key(&c).await.unwrap();
        let warm = create_key(&c).await.unwrap();
        (encrypt(&c, &cold, b"cold").await, warm)
    });
    server.stop();

    let server = s.start();
    let c = s.client(&server);
    let a = Admin::of(&s.data_dir());
    rt.block_on(async {
        // The warm key is unwrapped (cached) while the token is there.
        let warm_blob = encrypt(&c, &warm_key, b"warm").await;
        let place = s.token.remove();

        // Whatever needs the root key answers the retryable DependencyTimeoutException
        // (HTTP 500, which SDKs retry), never a wrong answer.
        assert_eq!(
            create_key(&c).await.unwrap_err(),
            "DependencyTimeoutException"
        );
        let e = decrypt(&c, &cold_blob).await.unwrap_err();
        assert_eq!(
            common::sdk_code(Err::<(), _>(e)),
            "DependencyTimeoutException"
        );
        let (status, body) = common::signed_call(
            &server.addr,
            &a.access_key_id,
            &a.secret,
            &a.region,
            "TrentService.Decrypt",
            &serde_json::to_vec(&serde_json::json!({
                "CiphertextBlob": base64_encode(&cold_blob),
            }))
            .unwrap(),
        );
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["__type"], "DependencyTimeoutException", "{body}");
        assert!(!body.to_string().contains(LABEL), "{body}");
        // A key already unwrapped keeps serving from memory.
        assert_eq!(decrypt(&c, &warm_blob).await.unwrap(), b"warm");

        // Back: the very next calls succeed, no restart.
        s.token.put_back(&place);
        assert_eq!(decrypt(&c, &cold_blob).await.unwrap(), b"cold");
        let key = create_key(&c).await.unwrap();
        let blob = encrypt(&c, &key, b"healed").await;
        assert_eq!(decrypt(&c, &blob).await.unwrap(), b"healed");
    });
    server.stop();
    let log = std::fs::read_to_string(s.log()).unwrap();
    assert!(!log.contains(PIN), "{log}");
}

#[test]
fn check_config_shows_the_pin_source_never_the_pin() {
    let s = Setup::new("hsm-check", LABEL, PIN);
    // The PIN from an environment variable instead of the file.
    let text = std::fs::read_to_string(&s.config).unwrap();
    let pin_line = text
        .lines()
        .find(|l| l.starts_with("pin_file"))
        .unwrap()
        .to_owned();
    std::fs::write(
        &s.config,
        text.replace(&pin_line, "pin_env = \"COFFER_TEST_TOKEN_PIN\""),
    )
    .unwrap();
    let out = Server::command(&["--check-config", "--config", s.config.to_str().unwrap()])
        .env("COFFER_TEST_TOKEN_PIN", PIN)
        .env("SOFTHSM2_CONF", s.token.conf())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "root_key = pkcs11 module {MODULE:?} token_label {LABEL:?} key_label \"coffer-root\" \
             pin_env COFFER_TEST_TOKEN_PIN (set)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "hsm_cluster cluster-1234567abcd: module {MODULE:?} token_label \"cluster-token\" \
             trust_anchor (none)"
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains(PIN) && !stderr.contains(PIN),
        "{stdout}{stderr}"
    );

    // Both PIN sources, a PIN in the file, a bad cluster id: refused, naming the key.
    for (from, to, says) in [
        (
            "pin_env = \"COFFER_TEST_TOKEN_PIN\"",
            "pin_env = \"COFFER_TEST_TOKEN_PIN\"\npin_file = \"/x\"",
            "root_key.pin_file / root_key.pin_env",
        ),
        (
            "pin_env = \"COFFER_TEST_TOKEN_PIN\"",
            &format!("pin = {PIN:?}"),
            "pin",
        ),
        ("cluster-1234567abcd", "cluster-bad!", "hsm_clusters.id"),
    ] {
        let cfg = s.dir.path().join("bad.toml");
        let text = std::fs::read_to_string(&s.config)
            .unwrap()
            .replace(from, to);
        std::fs::write(&cfg, text).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = Server::command(&["--check-config", "--config", cfg.to_str().unwrap()])
            .env("COFFER_TEST_TOKEN_PIN", PIN)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{all}");
        assert!(all.contains(says), "{says}: {all}");
        // Even a PIN written where it does not belong is not echoed back.
        assert!(!all.contains(PIN), "{all}");
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
