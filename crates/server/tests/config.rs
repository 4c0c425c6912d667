//! `--config FILE`: the TOML file mapped onto `cofferd::Config`, its checks (unknown keys,
//! permissions, values), and the binary run with it (`--check-config`, flags over the file,
//! serving).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use coffer::audit_log::Durability;
use cofferd::{Config, Error, LogFormat, RootKeyProvider};

mod common;

use common::TempDir;

/// Writing the files a configuration names.
trait WriteFile {
    /// Writes `rel` (creating directories) with `mode`.
    fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf;
}

impl WriteFile for TempDir {
    fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
const POLICY_FROM_FILE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}"#;

/// A file setting every key, with relative paths; the TLS, passphrase and policy files exist.
fn full_file(dir: &TempDir) -> PathBuf {
    dir.write(
        "tls/cert.pem",
        "not checked until the server loads it",
        0o644,
    );
    dir.write("tls/key.pem", "private", 0o600);
    dir.write(
        "secrets/passphrase",
        "correct horse battery staple\n",
        0o600,
    );
    dir.write("policies/deny-decrypt.json", POLICY_FROM_FILE, 0o600);
    let text = format!(
        r#"
data_dir = "data"
region = "eu-central-1"
account_id = "111122223333"
listen = "0.0.0.0:4443"

[root_key]
provider = "passphrase-file"
path = "secrets/passphrase"

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"

[limits]
max_body_bytes = 1000
max_skew_secs = 60
max_connections = 50
max_connections_per_ip = 5
header_timeout_secs = 2
body_timeout_secs = 3
idle_timeout_secs = 4
drain_timeout_secs = 5

[limits.per_ip]
rate = 10.5
burst = 20

[limits.per_access_key]
rate = 7
burst = 9

[quotas]
enabled = false
max_buckets = 1000

[quotas.defaults.CreateKey]
rate = 2.0

[quotas.accounts."444455556666".SymmetricCryptographic]
rate = 100.0
burst = 150

[audit]
durability = "buffered"
flush_interval_ms = 250
fail_open = true
max_file_bytes = 1048576

[maintenance]
interval_secs = 17

[log]
format = "json"
level = "warn,cofferd=debug"

[[principals]]
arn = "arn:aws:iam::111122223333:role/app"
policies = ['{POLICY}']
policy_files = ["policies/deny-decrypt.json"]
tags = {{ team = "billing", env = "prod" }}

[[principals]]
arn = "arn:aws:iam::111122223333:user/ops"
"#
    );
    dir.write("cofferd.toml", &text, 0o600)
}

#[test]
fn a_full_file_sets_every_field() {
    let dir = TempDir::new("full");
    let path = full_file(&dir);
    let c: Config = cofferd::load_config_file(&path).unwrap();
    let d = &dir.0;
    assert_eq!(c.data_dir, d.join("data"));
    assert_eq!(c.region, "eu-central-1");
    assert_eq!(c.account_id.unwrap().to_string(), "111122223333");
    assert_eq!(c.listen, "0.0.0.0:4443".parse().unwrap());
    assert_eq!(
        c.root_key,
        RootKeyProvider::PassphraseFile(d.join("secrets/passphrase"))
    );
    let tls = c.tls.clone().unwrap();
    assert_eq!(tls.cert, d.join("tls/cert.pem"));
    assert_eq!(tls.key, d.join("tls/key.pem"));
    assert_eq!(c.limits.max_body_bytes, 1000);
    assert_eq!(c.limits.max_skew, Duration::from_secs(60));
    assert_eq!(c.limits.max_connections, 50);
    assert_eq!(c.limits.max_connections_per_ip, 5);
    assert_eq!(c.limits.header_timeout, Duration::from_secs(2));
    assert_eq!(c.limits.body_timeout, Duration::from_secs(3));
    assert_eq!(c.limits.idle_timeout, Duration::from_secs(4));
    assert_eq!(c.limits.drain_timeout, Duration::from_secs(5));
    assert_eq!((c.limits.per_ip.rate, c.limits.per_ip.burst), (10.5, 20.0));
    assert_eq!(
        (c.limits.per_access_key.rate, c.limits.per_access_key.burst),
        (7.0, 9.0)
    );
    assert!(!c.quotas.enabled);
    assert_eq!(c.quotas.max_buckets, 1000);
    assert_eq!(
        c.quotas.defaults[&coffer::QuotaClass::CreateKey].rate,
        Some(2.0)
    );
    let acct = &c.quotas.accounts["444455556666"][&coffer::QuotaClass::SymmetricCryptographic];
    assert_eq!((acct.rate, acct.burst), (Some(100.0), Some(150)));
    assert_eq!(
        c.audit.durability,
        Durability::Buffered(Duration::from_millis(250))
    );
    assert!(c.audit.fail_open);
    assert_eq!(c.audit.max_file_bytes, 1_048_576);
    assert_eq!(c.maintenance.interval, Duration::from_secs(17));
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "warn,cofferd=debug");
    assert_eq!(c.principals.len(), 2);
    let app = &c.principals[0];
    assert_eq!(app.arn, "arn:aws:iam::111122223333:role/app");
    assert_eq!(app.policies, [POLICY, POLICY_FROM_FILE]);
    assert_eq!(app.tags.len(), 2);
    assert_eq!(app.tags["team"], "billing");
    assert_eq!(app.tags["env"], "prod");
    let ops = &c.principals[1];
    assert_eq!(ops.arn, "arn:aws:iam::111122223333:user/ops");
    assert!(ops.policies.is_empty() && ops.tags.is_empty());
    // What the loader returns passes the public check too.
    cofferd::validate_config(&c).unwrap();
}

#[test]
fn the_documented_example_file_parses() {
    let dir = TempDir::new("example");
    let text = include_str!("../../../docs/cofferd.example.toml");
    let path = dir.write("cofferd.toml", text, 0o600);
    let c = cofferd::load_config_file(&path).unwrap();
    assert_eq!(c.data_dir, Path::new("/var/lib/cofferd"));
    assert_eq!(c.region, "eu-west-1");
    assert_eq!(c.listen, "127.0.0.1:4000".parse().unwrap());
    assert_eq!(
        c.root_key,
        RootKeyProvider::KeyFile(Some("/etc/cofferd/root.key".into()))
    );
    assert_eq!(c.principals.len(), 1);
    assert_eq!(c.principals[0].tags["team"], "billing");
    assert_eq!(c.audit.durability, Durability::Sync);
    // The values the example spells out are the defaults (but for those it marks).
    let d = Config::new("/var/lib/cofferd");
    assert_eq!(c.limits.max_body_bytes, d.limits.max_body_bytes);
    assert_eq!(c.limits.max_skew, d.limits.max_skew);
    assert_eq!(c.limits.max_connections, d.limits.max_connections);
    assert_eq!(
        c.limits.max_connections_per_ip,
        d.limits.max_connections_per_ip
    );
    assert_eq!(c.limits.header_timeout, d.limits.header_timeout);
    assert_eq!(c.limits.body_timeout, d.limits.body_timeout);
    assert_eq!(c.limits.idle_timeout, d.limits.idle_timeout);
    assert_eq!(c.limits.drain_timeout, d.limits.drain_timeout);
    assert_eq!(c.limits.per_ip, d.limits.per_ip);
    assert_eq!(c.limits.per_access_key, d.limits.per_access_key);
    assert_eq!(c.audit, d.audit);
    assert_eq!(c.maintenance.interval, d.maintenance.interval);
    assert_eq!(c.log.format, d.log.format);
    assert_eq!(c.log.level, d.log.level);
}

fn config_file_error(dir: &TempDir, text: &str) -> String {
    let path = dir.write("bad.toml", text, 0o600);
    match cofferd::load_config_file(&path) {
        Err(Error::ConfigFile { path: p, message }) => {
            assert_eq!(p, path);
            message
        }
        other => panic!("{text:?}: expected a ConfigFile error, got {other:?}"),
    }
}

#[test]
fn unknown_keys_are_refused_naming_the_key_and_line() {
    let dir = TempDir::new("unknown");
    for (text, key, line) in [
        ("data_dir = \"/d\"\nregoin = \"eu-west-1\"\n", "regoin", "line 2"),
        (
            "data_dir = \"/d\"\n[limits]\nmax_body_bytes = 1\nmax_conections = 5\n",
            "max_conections",
            "line 4",
        ),
        ("data_dir = \"/d\"\n[tls]\ncert = \"c\"\nkey = \"k\"\nca = \"x\"\n", "ca", "line 5"),
        ("data_dir = \"/d\"\n[audit]\nfsync = true\n", "fsync", "line 3"),
        (
            "data_dir = \"/d\"\n[quotas.defaults.CreateKey]\nrate = 1.0\nburts = 2\n",
            "burts",
            "line 4",
        ),
        (
            "data_dir = \"/d\"\n[[principals]]\narn = \"arn:aws:iam::111122223333:root\"\npolicy = []\n",
            "policy",
            "line 4",
        ),
    ] {
        let message = config_file_error(&dir, text);
        assert!(message.contains(&format!("`{key}`")), "{text:?}: {message}");
        assert!(message.contains(line), "{text:?}: {message}");
    }
}

#[test]
fn a_syntax_error_gives_line_and_column() {
    let dir = TempDir::new("syntax");
    let message = config_file_error(&dir, "data_dir = \"/d\"\nregion = eu-west-1\n");
    assert!(message.contains("line 2, column 10"), "{message}");
}

#[test]
fn invalid_values_are_refused_naming_the_key() {
    let dir = TempDir::new("values");
    for (body, key) in [
        ("region = \"EU West\"", "region"),
        ("account_id = \"1234\"", "account_id"),
        ("listen = \"4000\"", "listen"),
        ("[limits]\nheader_timeout_secs = 0", "limits.header_timeout_secs"),
        ("[limits.per_ip]\nrate = -1.0", "limits.per_ip"),
        ("[audit]\ndurability = \"periodic\"\nflush_interval_ms = 0", "audit.flush_interval_ms"),
        ("[quotas.defaults.CreateKey]\nrate = 0.0", "quotas"),
        (
            "[[principals]]\narn = \"arn:aws:iam::111122223333:role/a\"\npolicies = ['{\"Statement\": 5}']",
            "principals[0]",
        ),
    ] {
        let message = config_file_error(&dir, &format!("data_dir = \"/d\"\n{body}\n"));
        assert!(message.starts_with(key), "{body:?}: {message}");
    }
}

#[test]
fn a_file_group_or_others_may_read_is_refused() {
    let dir = TempDir::new("perm");
    for mode in [0o640, 0o604, 0o620] {
        let path = dir.write("cofferd.toml", "data_dir = \"/d\"\n", mode);
        match cofferd::load_config_file(&path) {
            Err(Error::Permissions { path: p, mode: m }) => {
                assert_eq!(p, path);
                assert_eq!(m, mode);
            }
            other => panic!("mode {mode:o}: {other:?}"),
        }
    }
    let path = dir.write("cofferd.toml", "data_dir = \"/d\"\n", 0o400);
    cofferd::load_config_file(&path).unwrap();
}

#[test]
fn files_holding_secrets_or_policies_must_be_private() {
    let dir = TempDir::new("secrets");
    let cases = [
        ("key.pem", "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\""),
        (
            "pass",
            "[root_key]\nprovider = \"passphrase-file\"\npath = \"pass\"",
        ),
        (
            "root.key",
            "[root_key]\nprovider = \"key-file\"\npath = \"root.key\"",
        ),
        (
            "p.json",
            "[[principals]]\narn = \"arn:aws:iam::111122223333:root\"\npolicy_files = [\"p.json\"]",
        ),
    ];
    dir.write("cert.pem", "cert", 0o644);
    for (file, body) in cases {
        let secret = dir.write(file, POLICY, 0o644);
        let path = dir.write(
            "cofferd.toml",
            &format!("data_dir = \"d\"\n{body}\n"),
            0o600,
        );
        match cofferd::load_config_file(&path) {
            Err(Error::Permissions { path: p, mode }) => {
                assert_eq!(p, secret);
                assert_eq!(mode, 0o644);
            }
            other => panic!("{file}: {other:?}"),
        }
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        cofferd::load_config_file(&path).unwrap();
    }
    // A root-key file that does not exist yet is fine: it is created 0600 at first start.
    let path = dir.write(
        "cofferd.toml",
        "data_dir = \"d\"\n[root_key]\nprovider = \"key-file\"\npath = \"new.key\"\n",
        0o600,
    );
    cofferd::load_config_file(&path).unwrap();
    // A TLS certificate that does not exist is an I/O error naming it.
    let path = dir.write(
        "cofferd.toml",
        "data_dir = \"d\"\n[tls]\ncert = \"missing.pem\"\nkey = \"key.pem\"\n",
        0o600,
    );
    match cofferd::load_config_file(&path) {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, dir.0.join("missing.pem")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_non_loopback_listen_address_needs_tls() {
    let dir = TempDir::new("loopback");
    for addr in ["0.0.0.0:4000", "[::]:4000", "192.0.2.1:443"] {
        let message = config_file_error(&dir, &format!("data_dir = \"/d\"\nlisten = \"{addr}\"\n"));
        assert!(message.starts_with("listen"), "{message}");
        assert!(message.contains("TLS"), "{message}");
    }
    for addr in ["127.0.0.1:4000", "[::1]:4000", "127.0.0.2:1"] {
        let path = dir.write(
            "ok.toml",
            &format!("data_dir = \"/d\"\nlisten = \"{addr}\"\n"),
            0o600,
        );
        cofferd::load_config_file(&path).unwrap();
    }
    dir.write("c.pem", "c", 0o644);
    dir.write("k.pem", "k", 0o600);
    let path = dir.write(
        "tls.toml",
        "data_dir = \"/d\"\nlisten = \"0.0.0.0:4000\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        0o600,
    );
    cofferd::load_config_file(&path).unwrap();
}

#[test]
fn relative_paths_resolve_against_the_files_directory() {
    let dir = TempDir::new("relative");
    let path = dir.write(
        "etc/cofferd/cofferd.toml",
        "data_dir = \"../../var/data\"\n[root_key]\nprovider = \"key-file\"\npath = \"keys/root.key\"\n",
        0o600,
    );
    let c = cofferd::load_config_file(&path).unwrap();
    let base = dir.0.join("etc/cofferd");
    assert_eq!(c.data_dir, base.join("../../var/data"));
    assert_eq!(
        c.root_key,
        RootKeyProvider::KeyFile(Some(base.join("keys/root.key")))
    );
    // Absolute paths stay as written.
    let path = dir.write("abs.toml", "data_dir = \"/srv/coffer\"\n", 0o600);
    assert_eq!(
        cofferd::load_config_file(&path).unwrap().data_dir,
        Path::new("/srv/coffer")
    );
    // A file named relative to the working directory: still against its own directory. (The
    // root key file's directory must exist for --check-config.)
    std::fs::create_dir_all(base.join("keys")).unwrap();
    let c = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .current_dir(&dir.0)
        .args(["--check-config", "--config", "etc/cofferd/cofferd.toml"])
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let out = String::from_utf8(c.stdout).unwrap();
    let want = format!(
        "data_dir = {:?}",
        base.join("../../var/data").display().to_string()
    );
    assert!(out.contains(&want), "{out}");
}

fn cofferd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .args(args)
        .env("COFFER_TEST_PASSPHRASE", "hunter2-do-not-print")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn check_config_prints_the_file_with_flags_applied_and_no_secret() {
    let dir = TempDir::new("check");
    let path = dir.write(
        "cofferd.toml",
        "data_dir = \"/d\"\nregion = \"eu-west-1\"\n\
         [root_key]\nprovider = \"passphrase-env\"\nvariable = \"COFFER_TEST_PASSPHRASE\"\n\
         [limits]\nidle_timeout_secs = 90\nmax_connections = 10\n",
        0o600,
    );
    let p = path.to_str().unwrap();
    let (code, out, err) = cofferd(&["--check-config", "--config", p]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("configuration OK\n"), "{out}");
    assert!(out.contains("region = \"eu-west-1\""), "{out}");
    assert!(out.contains("limits.idle_timeout_secs = 90"), "{out}");
    assert!(
        out.contains("root_key = passphrase-env COFFER_TEST_PASSPHRASE (set)"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");

    // Flags override the file, field by field. (A root key file to be created needs an
    // existing directory.)
    let key = dir.0.join("keys-root.key");
    let key = key.to_str().unwrap();
    let (code, out, err) = cofferd(&[
        "--check-config",
        "--config",
        p,
        "--region",
        "ap-south-2",
        "--max-connections",
        "20",
        "--audit-durability",
        "periodic:40",
        "--log-format",
        "json",
        "--root-key",
        key,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("region = \"ap-south-2\""), "{out}");
    assert!(!out.contains("eu-west-1"), "{out}");
    assert!(!out.contains("limits.max_connections = 10\n"), "{out}");
    assert!(out.contains("limits.max_connections = 20\n"), "{out}");
    assert!(out.contains("limits.idle_timeout_secs = 90"), "{out}");
    assert!(
        out.contains("audit.durability = \"periodic\"\naudit.flush_interval_ms = 40"),
        "{out}"
    );
    assert!(out.contains("log.format = \"json\""), "{out}");
    assert!(
        out.contains(&format!("root_key = key-file {key:?}")),
        "{out}"
    );

    // An invalid override, or an invalid file: exit 2 with the reason.
    let (code, _, err) = cofferd(&["--check-config", "--config", p, "--region", "EU"]);
    assert_eq!(code, 2);
    assert!(err.contains("region (--region)"), "{err}");
    let (code, _, err) = cofferd(&["--check-config", "--config", p, "--listen", "0.0.0.0:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--tls-cert"), "{err}");
    let bad = dir.write(
        "bad.toml",
        "data_dir = \"/d\"\nlisten = \"nowhere\"\n",
        0o600,
    );
    let (code, _, err) = cofferd(&["--check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml: listen: not an IP address"), "{err}");

    // Without a file: the flags alone, --data-dir required.
    let (code, out, err) = cofferd(&["--check-config", "--data-dir", "/d", "--log-level", "debug"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("log.level = \"debug\""), "{out}");
    // A flag given twice takes its last value.
    let (code, out, err) = cofferd(&[
        "--check-config",
        "--config",
        p,
        "--ip-rate",
        "5",
        "--ip-rate",
        "7.5",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("limits.per_ip = { rate = 7.5, burst = 400 }"),
        "{out}"
    );
    let (code, _, err) = cofferd(&["--check-config"]);
    assert_eq!(code, 2);
    assert!(err.contains("--data-dir is required"), "{err}");

    // A file without data_dir: --data-dir supplies it; without the flag, refused.
    let no_dir = dir.write("no-dir.toml", "region = \"eu-west-2\"\n", 0o600);
    let no_dir = no_dir.to_str().unwrap();
    let (code, out, err) = cofferd(&["--check-config", "--config", no_dir, "--data-dir", "/srv/d"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/srv/d") && out.contains("eu-west-2"), "{out}");
    let (code, _, err) = cofferd(&["--check-config", "--config", no_dir]);
    assert_eq!(code, 2);
    assert!(err.contains("data_dir: missing"), "{err}");
}

#[test]
fn help_prints_usage() {
    let (code, out, _) = cofferd(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--config",
        "--check-config",
        "--tls-cert",
        "--header-timeout-secs",
        "--audit-durability",
        "--root-passphrase-env",
    ] {
        assert!(out.contains(flag), "{flag}: {out}");
    }
    let (code, _, err) = cofferd(&["--data-dir", "/d", "--no-such-flag", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown option --no-such-flag"), "{err}");
}

/// A running `cofferd`, killed (by its own handle) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_healthz(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn the_binary_serves_with_a_config_file() {
    let dir = TempDir::new("serve");
    let path = dir.write(
        "cofferd.toml",
        "data_dir = \"data\"\nregion = \"sa-east-1\"\naccount_id = \"123456789012\"\n\
         listen = \"127.0.0.1:0\"\n[maintenance]\ninterval_secs = 3600\n[log]\nlevel = \"warn\"\n",
        0o600,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("cofferd listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    let resp = get_healthz(&addr);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.trim_end().ends_with("\r\n\r\nok"), "{resp}");
    // The data dir (relative to the file) holds the administrator credential, in the file's
    // region and account.
    let admin: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.0.join("data").join(cofferd::ADMIN_CREDENTIALS_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(admin["region"], "sa-east-1");
    assert_eq!(admin["account_id"], "123456789012");
    drop(running);
}

#[test]
fn the_binary_refuses_a_group_readable_config_file() {
    let dir = TempDir::new("refuse");
    let path = dir.write(
        "cofferd.toml",
        "data_dir = \"data\"\nlisten = \"127.0.0.1:0\"\n",
        0o640,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("mode 640"), "{err}");
    // Nothing was started: no data dir.
    assert!(!dir.0.join("data").exists());
}

#[test]
fn repeated_keys_and_repeated_policy_members_are_refused() {
    let dir = TempDir::new("repeated");
    // TOML itself: a key or a table given twice.
    let message = config_file_error(
        &dir,
        "data_dir = \"/d\"\nregion = \"eu-west-1\"\nregion = \"us-east-1\"\n",
    );
    assert!(message.contains("line 3"), "{message}");
    let message = config_file_error(
        &dir,
        "data_dir = \"/d\"\n[limits]\nmax_body_bytes = 1\n[limits]\nmax_body_bytes = 2\n",
    );
    assert!(message.contains("line 4"), "{message}");
    // An identity policy that repeats "Effect": what the reader sees (Deny) is not what a
    // last-wins parser would enforce (Allow).
    let text = r#"data_dir = "/d"
[[principals]]
arn = "arn:aws:iam::111122223333:user/app"
policies = ['{"Statement":{"Effect":"Deny","Action":"kms:*","Resource":"*","Effect":"Allow"}}']
"#;
    let path = dir.write("dup-policy.toml", text, 0o600);
    let err = cofferd::load_config_file(&path)
        .and_then(|c| cofferd::validate_config(&c).map(|_| c))
        .expect_err("a policy with a repeated member must be refused");
    let shown = format!("{err}");
    assert!(shown.contains("principals"), "{shown}");
}

#[test]
fn flags_override_the_file_half_by_half_and_refuse_what_cannot_combine() {
    let dir = TempDir::new("halves");
    let path = dir.write(
        "cofferd.toml",
        "data_dir = \"data\"\n[limits.per_ip]\nrate = 5.5\n[limits.per_access_key]\nburst = 30\n",
        0o600,
    );
    let p = path.to_str().unwrap();
    // One half of a rate table from a flag, the other from the file (or the default).
    let (code, out, err) = cofferd(&[
        "--check-config",
        "--config",
        p,
        "--ip-burst",
        "9",
        "--key-rate",
        "2.5",
        "--data-dir",
        "/srv/elsewhere",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("limits.per_ip = { rate = 5.5, burst = 9 }\n"),
        "{out}"
    );
    assert!(
        out.contains("limits.per_access_key = { rate = 2.5, burst = 30 }\n"),
        "{out}"
    );
    // --data-dir overrides a data_dir the file gives.
    assert!(out.contains("data_dir = \"/srv/elsewhere\"\n"), "{out}");
    // Two root key sources, half a TLS pair without a file's [tls], a value a flag cannot
    // take: usage errors, exit 2, nothing on stdout.
    for (args, reason) in [
        (
            &["--root-key", "/k", "--root-passphrase-env", "V"][..],
            "cannot be used with",
        ),
        (&["--tls-cert", "/c.pem"][..], "--tls-cert needs --tls-key"),
        (&["--tls-key", "/k.pem"][..], "--tls-key needs --tls-cert"),
        (&["--max-connections", "0"][..], "must be at least 1"),
        (&["--header-timeout-secs", "ten"][..], "not a whole number"),
        (&["--account-id", "12"][..], "not 12 digits"),
        (
            &["--audit-durability", "periodic"][..],
            "periodic needs :MS",
        ),
        (&["--log-format", "xml"][..], "xml"),
    ] {
        let mut all = vec!["--check-config", "--data-dir", "/d"];
        all.extend_from_slice(args);
        let (code, out, err) = cofferd(&all);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(reason), "{args:?}: {err}");
    }
}

#[test]
fn help_lists_every_flag() {
    let (code, out, _) = cofferd(&["-h"]);
    assert_eq!(code, 0);
    for flag in [
        "--config",
        "--check-config",
        "--data-dir",
        "--listen",
        "--tls-cert",
        "--tls-key",
        "--root-key",
        "--root-passphrase-file",
        "--root-passphrase-env",
        "--region",
        "--account-id",
        "--max-skew-secs",
        "--max-body-bytes",
        "--max-connections",
        "--max-connections-per-ip",
        "--header-timeout-secs",
        "--body-timeout-secs",
        "--idle-timeout-secs",
        "--drain-timeout-secs",
        "--ip-rate",
        "--ip-burst",
        "--key-rate",
        "--key-burst",
        "--refusal-summary-secs",
        "--audit-durability",
        "--maintenance-secs",
        "--log-format",
        "--log-level",
        "cofferd check",
        "cofferd backup",
        "cofferd restore",
        "cofferd audit verify",
        "coffer credentials",
    ] {
        assert!(out.contains(flag), "{flag}: {out}");
    }
}

#[test]
fn the_binary_logs_its_effective_configuration_at_start_without_secrets() {
    let dir = TempDir::new("startlog");
    let data = dir.0.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cofferd"))
        .args(["--data-dir", data.to_str().unwrap(), "--log-format", "json"])
        .args(["--region", "eu-north-1", "--max-connections", "77"])
        .args(["--root-passphrase-env", "COFFER_TEST_PASSPHRASE"])
        .env("COFFER_TEST_PASSPHRASE", "hunter2-do-not-print")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("cofferd listening on"), "{line:?}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8(out.stderr).unwrap();
    let start: serde_json::Value = logs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["message"] == "starting")
        .unwrap_or_else(|| panic!("no start line in\n{logs}"));
    let config = start["config"].as_str().unwrap();
    assert!(config.contains("region = \"eu-north-1\""), "{config}");
    assert!(config.contains("limits.max_connections = 77;"), "{config}");
    assert!(
        config.contains("root_key = passphrase-env COFFER_TEST_PASSPHRASE (set)"),
        "{config}"
    );
    assert!(!logs.contains("hunter2"), "{logs}");
}
