//! `coffer` end to end: the built binary against a real cofferd on a loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may panic

mod common;

use std::process::Output;

use common::Cofferd;
use serde_json::Value;

fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&ok(o).stdout).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn create_alias_encrypt_decrypt_describe_and_not_found() {
    let srv = Cofferd::start("e2e");
    let dir = srv.dir();
    // The endpoint from the flag this time (the environment's is a dead one).
    let dead = format!("http://{}", common::free_addr());
    let flag = ["--endpoint-url", srv.url.as_str()];
    let coffer = |args: &[&str], stdin: &[u8]| {
        let mut cmd = srv.coffer(&flag);
        cmd.env("AWS_ENDPOINT_URL", &dead).args(args);
        common::run_with(cmd, stdin)
    };

    // key create
    let created = json(&coffer(
        &[
            "key",
            "create",
            "--description",
            "e2e",
            "--tag",
            "team=cli",
            "--output",
            "json",
        ],
        b"",
    ));
    let meta = &created["KeyMetadata"];
    let key_id = meta["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(meta["Description"], "e2e");
    assert_eq!(meta["KeyState"], "Enabled");
    assert_eq!(meta["Enabled"], true);
    assert_eq!(meta["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(meta["KeyUsage"], "ENCRYPT_DECRYPT");
    assert!(meta["Arn"]
        .as_str()
        .unwrap()
        .ends_with(&format!("key/{key_id}")));
    assert!(meta["CreationDate"].as_str().unwrap().ends_with('Z'));

    // alias create (no output)
    let o = ok(&coffer(&["alias", "create", "alias/e2e", &key_id], b"")).clone();
    assert!(o.stdout.is_empty());

    // encrypt a binary file by alias, with a context
    let plaintext: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let pt = dir.join("plain.bin");
    let ct = dir.join("cipher.bin");
    let back = dir.join("back.bin");
    std::fs::write(&pt, &plaintext).unwrap();
    let p = |p: &std::path::Path| p.display().to_string();
    let o = ok(&coffer(
        &[
            "encrypt",
            "--key",
            "alias/e2e",
            "--context",
            "app=cli",
            &p(&pt),
            "-o",
            &p(&ct),
        ],
        b"",
    ))
    .clone();
    assert!(o.stdout.is_empty(), "nothing on stdout when -o is a file");
    let ciphertext = std::fs::read(&ct).unwrap();
    assert!(ciphertext.len() > plaintext.len());
    assert!(!ciphertext.windows(64).any(|w| w == &plaintext[..64]));

    // decrypt to a file, byte for byte, owner-only
    let o = ok(&coffer(
        &["decrypt", "--context", "app=cli", &p(&ct), "-o", &p(&back)],
        b"",
    ))
    .clone();
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read(&back).unwrap(), plaintext);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&back).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "plaintext file mode {mode:o}");
    }

    // stdin to stdout, both ways
    let o = coffer(&["encrypt", "--key", &key_id, "-"], b"hello from stdin");
    let ct2 = ok(&o).stdout.clone();
    let o = coffer(&["decrypt"], &ct2);
    assert_eq!(ok(&o).stdout, b"hello from stdin");

    // JSON encrypt: base64 ciphertext, which decrypts; JSON decrypt shows no plaintext
    let v = json(&coffer(
        &["encrypt", "--key", "alias/e2e", "--output", "json"],
        b"json me",
    ));
    assert_eq!(v["KeyId"].as_str().unwrap(), meta["Arn"].as_str().unwrap());
    assert_eq!(v["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    use base64::Engine as _;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(v["CiphertextBlob"].as_str().unwrap())
        .unwrap();
    let out = dir.join("json.bin");
    let v = json(&coffer(
        &["decrypt", "--output", "json", "-o", &p(&out)],
        &blob,
    ));
    assert_eq!(v["KeyId"].as_str().unwrap(), meta["Arn"].as_str().unwrap());
    assert!(v.get("Plaintext").is_none());
    assert_eq!(std::fs::read(&out).unwrap(), b"json me");
    let o = coffer(&["decrypt", "--output", "json"], &blob);
    assert_eq!(
        o.status.code(),
        Some(2),
        "JSON decrypt to stdout is refused"
    );
    assert!(o.stdout.is_empty());

    // the wrong context: the service refuses (exit 1), nothing written
    let o = coffer(&["decrypt", "--context", "app=other", &p(&ct)], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("InvalidCiphertextException: "),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());

    // key describe --output json, by alias
    let v = json(&coffer(
        &["key", "describe", "alias/e2e", "--output", "json"],
        b"",
    ));
    assert_eq!(v["KeyMetadata"]["KeyId"], key_id.as_str());
    assert_eq!(v["KeyMetadata"], *meta);

    // an unknown key: NotFoundException, exit 1
    let o = coffer(&["key", "describe", "alias/missing"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("NotFoundException: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(o.stdout.is_empty());
}

#[test]
fn usage_and_connection_errors() {
    let srv = Cofferd::start("errors");
    // Over 4096 bytes of plaintext: refused before sending (exit 2).
    let o = srv.run(&["encrypt", "--key", "alias/x", "-o", "-"], &[7u8; 4097]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("4096"), "{}", stderr(&o));
    // Nor is nothing.
    let o = srv.run(&["encrypt", "--key", "alias/x", "-o", "-"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
    // Exactly 4096 is fine as far as the CLI goes (the key does not exist: exit 1).
    let o = srv.run(&["encrypt", "--key", "alias/x"], &[7u8; 4096]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("NotFoundException: "));
    // A policy that is not JSON, or has no Statement: exit 2.
    for bad in [&b"not json"[..], br#"{"Version":"2012-10-17"}"#] {
        let o = srv.run(&["policy", "put", "alias/x", "-"], bad);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    }
    // A missing input file: exit 3.
    let missing = srv.dir().join("missing.bin").display().to_string();
    let o = srv.run(&["encrypt", "--key", "alias/x", &missing], b"");
    assert_eq!(o.status.code(), Some(3));
    // Nobody listening: exit 3.
    let dead = format!("http://{}", common::free_addr());
    let o = srv.run(&["key", "list", "--endpoint-url", &dead], b"");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // No region at all: a usage error.
    let o = common::run_with(common::coffer_bare(&["key", "list"]), b"");
    assert_eq!(o.status.code(), Some(2));
    // Wrong credentials: the service refuses.
    let mut cmd = srv.coffer(&["key", "list"]);
    cmd.env("AWS_SECRET_ACCESS_KEY", "wrong");
    let o = common::run_with(cmd, b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("IncorrectSignature") || stderr(&o).contains("Signature"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_command_against_cofferd() {
    let srv = Cofferd::start("every");
    let run = |args: &[&str]| srv.run(args, b"");
    let key = json(&run(&["key", "create", "--output", "json"]))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let k = key.as_str();

    // key list: table and JSON
    let v = json(&run(&["key", "list", "--output", "json"]));
    assert!(v["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["KeyId"] == k));
    let t = String::from_utf8(ok(&run(&["key", "list"])).stdout.clone()).unwrap();
    assert!(t.starts_with("KEY ID"));
    assert!(t.lines().any(|l| l.starts_with(k)));

    // enable / disable
    ok(&run(&["key", "disable", k]));
    let v = json(&run(&["key", "describe", k, "--output", "json"]));
    assert_eq!(v["KeyMetadata"]["KeyState"], "Disabled");
    ok(&run(&["key", "enable", k]));

    // aliases
    ok(&run(&["alias", "create", "alias/one", k]));
    let other = json(&run(&["key", "create", "--output", "json"]))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&run(&["alias", "update", "alias/one", &other]));
    let v = json(&run(&[
        "alias", "list", "--key", &other, "--output", "json",
    ]));
    assert_eq!(v["Aliases"][0]["AliasName"], "alias/one");
    assert_eq!(v["Aliases"][0]["TargetKeyId"], other.as_str());
    ok(&run(&["alias", "delete", "alias/one"]));
    let v = json(&run(&[
        "alias", "list", "--key", &other, "--output", "json",
    ]));
    assert_eq!(v["Aliases"], serde_json::json!([]));

    // tags
    ok(&run(&["tag", "add", k, "a=1", "b=x=y"]));
    let v = json(&run(&["tag", "list", k, "--output", "json"]));
    let tags = v["Tags"].as_array().unwrap();
    assert!(tags.contains(&serde_json::json!({"TagKey": "b", "TagValue": "x=y"})));
    ok(&run(&["tag", "remove", k, "a"]));
    let t = String::from_utf8(ok(&run(&["tag", "list", k])).stdout.clone()).unwrap();
    assert_eq!(t, "KEY  VALUE\nb    x=y\n");

    // policy get / put
    let v = json(&run(&["policy", "get", k, "--output", "json"]));
    assert_eq!(v["PolicyName"], "default");
    let mut doc: Value = serde_json::from_str(v["Policy"].as_str().unwrap()).unwrap();
    doc["Statement"][0]["Sid"] = "Changed by coffer".into();
    let file = srv.dir().join("policy.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    ok(&run(&["policy", "put", k, &file.display().to_string()]));
    let t = String::from_utf8(ok(&run(&["policy", "get", k])).stdout.clone()).unwrap();
    let back: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(back["Statement"][0]["Sid"], "Changed by coffer");

    // grants
    let grantee = "arn:aws:iam::111122223333:role/app";
    let g = json(&run(&[
        "grant",
        "create",
        k,
        "--grantee",
        grantee,
        "--operations",
        "Encrypt,Decrypt",
        "--name",
        "app",
        "--context-subset",
        "team=cli",
        "--output",
        "json",
    ]));
    let gid = g["GrantId"].as_str().unwrap().to_owned();
    assert!(g["GrantToken"].as_str().is_some());
    let v = json(&run(&["grant", "list", k, "--output", "json"]));
    let entry = &v["Grants"][0];
    assert_eq!(entry["GrantId"], gid.as_str());
    assert_eq!(entry["GranteePrincipal"], grantee);
    let mut ops: Vec<&str> = entry["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    ops.sort_unstable();
    assert_eq!(ops, ["Decrypt", "Encrypt"]);
    assert_eq!(
        entry["Constraints"]["EncryptionContextSubset"]["team"],
        "cli"
    );
    let t = String::from_utf8(ok(&run(&["grant", "list", k])).stdout.clone()).unwrap();
    assert!(t.starts_with("GRANT ID"));
    assert!(
        t.contains("Decrypt, Encrypt") || t.contains("Encrypt, Decrypt"),
        "{t}"
    );
    ok(&run(&["grant", "revoke", k, &gid]));
    let v = json(&run(&["grant", "list", k, "--output", "json"]));
    assert_eq!(v["Grants"], serde_json::json!([]));
    let g = json(&run(&[
        "grant",
        "create",
        k,
        "--grantee",
        grantee,
        "--operations",
        "Encrypt",
        "--output",
        "json",
    ]));
    ok(&run(&[
        "grant",
        "retire",
        k,
        g["GrantId"].as_str().unwrap(),
    ]));
    let v = json(&run(&["grant", "list", k, "--output", "json"]));
    assert_eq!(v["Grants"], serde_json::json!([]));

    // rotation on demand, then its record
    let v = json(&run(&["key", "rotate", k, "--output", "json"]));
    assert!(v["KeyId"].as_str().unwrap().ends_with(k));
    let v = json(&run(&["key", "rotations", k, "--output", "json"]));
    assert_eq!(v["Rotations"][0]["RotationType"], "ON_DEMAND");
    let t = String::from_utf8(ok(&run(&["key", "rotations", k])).stdout.clone()).unwrap();
    assert!(t.starts_with("ROTATION DATE"));
    assert!(t.contains("ON_DEMAND"));

    // scheduled deletion, then cancelled
    let v = json(&run(&[
        "key",
        "schedule-deletion",
        k,
        "--days",
        "7",
        "--output",
        "json",
    ]));
    assert_eq!(v["KeyState"], "PendingDeletion");
    assert_eq!(v["PendingWindowInDays"], 7);
    let o = srv.run(&["encrypt", "--key", k, "-o", "-"], b"x");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("KMSInvalidStateException: "),
        "{}",
        stderr(&o)
    );
    let t = String::from_utf8(ok(&run(&["key", "cancel-deletion", k])).stdout.clone()).unwrap();
    assert_eq!(t, format!("KeyId  {}\n", v["KeyId"].as_str().unwrap()));
    let v = json(&run(&["key", "describe", k, "--output", "json"]));
    assert_eq!(v["KeyMetadata"]["KeyState"], "Disabled");

    // EXTERNAL origin: pending import
    let v = json(&run(&[
        "key", "create", "--origin", "EXTERNAL", "--output", "json",
    ]));
    assert_eq!(v["KeyMetadata"]["KeyState"], "PendingImport");
    assert_eq!(v["KeyMetadata"]["Origin"], "EXTERNAL");
}

#[test]
fn a_profile_from_the_shared_files() {
    let srv = Cofferd::start("profile");
    let config = srv.dir().join("config");
    let credentials = srv.dir().join("credentials");
    std::fs::write(
        &config,
        format!(
            "[profile local]\nregion = {}\nendpoint_url = {}\n",
            srv.admin.region, srv.url
        ),
    )
    .unwrap();
    std::fs::write(
        &credentials,
        format!(
            "[local]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            srv.admin.access_key_id, srv.admin.secret
        ),
    )
    .unwrap();
    let with_files = |args: &[&str]| {
        let mut cmd = common::coffer_bare(args);
        cmd.env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1");
        cmd
    };
    // --profile
    let v = json(&common::run_with(
        with_files(&["--profile", "local", "key", "create", "--output", "json"]),
        b"",
    ));
    let arn = v["KeyMetadata"]["Arn"].as_str().unwrap();
    assert!(arn.starts_with(&format!("arn:aws:kms:{}:", srv.admin.region)));
    // AWS_PROFILE
    let mut cmd = with_files(&["key", "list", "--output", "json"]);
    cmd.env("AWS_PROFILE", "local");
    let v = json(&common::run_with(cmd, b""));
    assert_eq!(v["Keys"][0]["KeyArn"], arn);
    // A flag beats the profile: --region elsewhere signs for a region cofferd does not serve.
    let o = common::run_with(
        with_files(&[
            "--profile",
            "local",
            "--region",
            "ap-south-1",
            "key",
            "list",
        ]),
        b"",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}
