//! The store's tests: formats and migrations, sealing, changes, the backend.

use super::*;
use coffer_crypto::aead;
use std::sync::atomic::{AtomicI64, Ordering};

fn temp_dir(name: &str) -> PathBuf {
    let mut b = [0u8; 8];
    SystemRandom::new().fill(&mut b).unwrap();
    let hex = coffer_crypto::hex::encode(&b);
    let d = std::env::temp_dir().join(format!("coffer-credentials-{name}-{hex}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn init() -> InitOptions {
    InitOptions {
        region: "eu-west-1".into(),
        account_id: None,
        principals: Vec::new(),
    }
}

fn key() -> SymmetricKey {
    SymmetricKey::from_bytes([7; 32])
}

fn ok(_: &Credential) -> Result<(), Error> {
    Ok(())
}

/// An error and its causes, as an operator's log prints them.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A store with a manual clock.
fn open_at(dir: &Path, clock: &Arc<AtomicI64>) -> Result<CredentialStore, Error> {
    let c = clock.clone();
    CredentialStore::open_with_clock(
        Box::new(FileBackend::new(dir.join(CREDENTIALS_FILE))),
        &dir.join(ADMIN_CREDENTIALS_FILE),
        &init(),
        &SystemRandom::new(),
        key(),
        Arc::new(move || c.load(Ordering::SeqCst)),
    )
}

fn role(arn: &str, admin: bool) -> NewCredential {
    NewCredential {
        principal_arn: arn.into(),
        administrator: admin,
        ..NewCredential::default()
    }
}

fn file_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(CREDENTIALS_FILE)).unwrap()).unwrap()
}

fn write_json(dir: &Path, v: &serde_json::Value) {
    write_private(
        &dir.join(CREDENTIALS_FILE),
        &serde_json::to_vec_pretty(v).unwrap(),
    )
    .unwrap();
}

#[test]
fn first_start_creates_admin_and_restart_keeps_it() {
    let dir = temp_dir("creds");
    let rng = SystemRandom::new();
    let s = CredentialStore::open(&dir, &init(), &rng, key()).unwrap();
    assert!(s.created());
    assert_eq!(s.len(), 1);
    let admin_text = std::fs::read_to_string(dir.join(ADMIN_CREDENTIALS_FILE)).unwrap();
    let admin: serde_json::Value = serde_json::from_str(&admin_text).unwrap();
    let akid = admin["access_key_id"].as_str().unwrap();
    assert!(akid.starts_with("AKIA") && akid.len() == 20);
    let secret = admin["secret_access_key"].as_str().unwrap();
    assert_eq!(secret.len(), 40);
    let account = admin["account_id"].as_str().unwrap();
    assert_eq!(account.len(), 12);
    assert_eq!(
        admin["principal_arn"],
        format!("arn:aws:iam::{account}:root")
    );
    assert_eq!(admin["region"], "eu-west-1");
    let cred = s.get(akid).unwrap();
    assert_eq!(cred.secret().expose(), secret.as_bytes());
    assert!(cred.is_administrator() && cred.is_bootstrap());
    assert!(s.bootstrap_active());
    assert!(!format!("{cred:?}").contains(secret));
    // The store holds the secret sealed only.
    let store_text = std::fs::read_to_string(dir.join(CREDENTIALS_FILE)).unwrap();
    assert!(!store_text.contains(secret));
    assert_eq!(file_json(&dir)["format"], 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [ADMIN_CREDENTIALS_FILE, CREDENTIALS_FILE] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }

    let s2 = CredentialStore::open(&dir, &init(), &rng, key()).unwrap();
    assert!(!s2.created());
    assert_eq!(s2.bootstrap_access_key_id().as_deref(), Some(akid));
    assert_eq!(s2.get(akid).unwrap().secret().expose(), secret.as_bytes());
    assert_eq!(
        std::fs::read_to_string(dir.join(ADMIN_CREDENTIALS_FILE)).unwrap(),
        admin_text
    );

    let other = InitOptions {
        region: "us-east-1".into(),
        account_id: None,
        principals: Vec::new(),
    };
    assert!(matches!(
        CredentialStore::open(&dir, &other, &rng, key()),
        Err(Error::RegionMismatch { .. })
    ));
    // Another sealing key opens nothing.
    assert!(matches!(
        CredentialStore::open(&dir, &init(), &rng, SymmetricKey::from_bytes([8; 32])),
        Err(Error::InvalidCredential { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupted_first_start_recovers_admin() {
    let dir = temp_dir("recover");
    let rng = SystemRandom::new();
    let acct = AccountId::parse("111122223333").unwrap();
    let opts = InitOptions {
        region: "eu-west-1".into(),
        account_id: Some(acct),
        principals: Vec::new(),
    };
    let s = CredentialStore::open(&dir, &opts, &rng, key()).unwrap();
    let akid = s.bootstrap_access_key_id().unwrap();
    std::fs::remove_file(dir.join(CREDENTIALS_FILE)).unwrap();
    let s2 = CredentialStore::open(&dir, &opts, &rng, key()).unwrap();
    assert_eq!(s2.bootstrap_access_key_id().unwrap(), akid);
    assert_eq!(s2.get(&akid).unwrap().caller().account, acct);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_store_is_an_error() {
    let dir = temp_dir("corrupt");
    write_private(&dir.join(CREDENTIALS_FILE), b"{not json").unwrap();
    let r = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key());
    assert!(matches!(r, Err(Error::CredentialFile { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_malformed_file_is_reported_by_position_never_by_its_values() {
    // serde_json's own message would quote the string it did not expect here.
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    for (file, text) in [
        (CREDENTIALS_FILE, format!("{{\"format\": \"{secret}\"}}")),
        (
            ADMIN_CREDENTIALS_FILE,
            format!("{{\"access_key_id\": 1, \"secret_access_key\": {{\"x\": \"{secret}\"}}}}"),
        ),
        (
            ADMIN_CREDENTIALS_FILE,
            format!("{{\"access_key_id\": \"AKIA\", \"secret_access_key\": \"s\", \"account_id\": 7, \"x\": \"{secret}\"}}"),
        ),
    ] {
        let dir = temp_dir("malformed");
        write_private(&dir.join(file), text.as_bytes()).unwrap();
        let e = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap_err();
        assert!(matches!(e, Error::CredentialFile { line: 1, .. }), "{e}");
        let mut chain = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(c) = cur {
            chain.push_str(&c.to_string());
            cur = c.source();
        }
        assert!(!chain.contains(secret), "{chain}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn readable_files_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("perms");
    CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
    for (f, mode) in [(CREDENTIALS_FILE, 0o640), (ADMIN_CREDENTIALS_FILE, 0o602)] {
        let p = dir.join(f);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        let r = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key());
        assert!(
            matches!(&r, Err(Error::Permissions { path, .. }) if path == &p),
            "{f}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sealed_secrets_cannot_be_swapped_or_entries_altered() {
    let dir = temp_dir("swap");
    let clock = Arc::new(AtomicI64::new(1_000));
    let s = open_at(&dir, &clock).unwrap();
    let user = s
        .create(role("arn:aws:iam::111122223333:user/u", false), &mut ok)
        .unwrap();
    drop(s);
    let original = file_json(&dir);
    assert!(open_at(&dir, &clock).is_ok());

    // Swap the two sealed secrets.
    let mut v = original.clone();
    let a = v["credentials"][0]["sealed_secret"].clone();
    let b = v["credentials"][1]["sealed_secret"].clone();
    v["credentials"][0]["sealed_secret"] = b;
    v["credentials"][1]["sealed_secret"] = a;
    write_json(&dir, &v);
    assert!(matches!(
        open_at(&dir, &clock),
        Err(Error::InvalidCredential { .. })
    ));

    // Promote the user to administrator, or move it to another principal.
    for (field, value) in [
        ("administrator", serde_json::json!(true)),
        (
            "principal_arn",
            serde_json::json!("arn:aws:iam::111122223333:user/v"),
        ),
        ("access_key_id", serde_json::json!("AKIAAAAAAAAAAAAAAAAA")),
    ] {
        let mut v = original.clone();
        let i = usize::from(v["credentials"][0]["access_key_id"] != user.access_key_id());
        v["credentials"][i][field] = value;
        write_json(&dir, &v);
        assert!(
            matches!(open_at(&dir, &clock), Err(Error::InvalidCredential { .. })),
            "{field}"
        );
    }
    write_json(&dir, &original);
    assert!(open_at(&dir, &clock).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn format_1_is_migrated() {
    let dir = temp_dir("migrate");
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let v1 = serde_json::json!({
        "format": 1,
        "region": "eu-west-1",
        "credentials": [
            {"access_key_id": "AKIAOLDADMIN00000000", "secret_access_key": secret,
             "account_id": "111122223333",
             "principal_arn": "arn:aws:iam::111122223333:root"},
            {"access_key_id": "AKIAOLDUSER000000000", "secret_access_key": "other-secret",
             "account_id": "111122223333",
             "principal_arn": "arn:aws:iam::111122223333:user/u"}
        ]
    });
    write_json(&dir, &v1);
    let s = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
    assert!(!s.created());
    let admin = s.get("AKIAOLDADMIN00000000").unwrap();
    assert_eq!(admin.secret().expose(), secret.as_bytes());
    assert!(admin.is_administrator() && admin.is_bootstrap());
    let user = s.get("AKIAOLDUSER000000000").unwrap();
    assert!(!user.is_administrator());
    let text = std::fs::read_to_string(dir.join(CREDENTIALS_FILE)).unwrap();
    assert!(!text.contains(secret) && !text.contains("other-secret"));
    assert_eq!(file_json(&dir)["format"], 3);
    let s2 = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap();
    assert_eq!(
        s2.get("AKIAOLDUSER000000000").unwrap().secret().expose(),
        b"other-secret"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotation_grace_and_expiry_follow_the_clock() {
    let dir = temp_dir("expiry");
    let clock = Arc::new(AtomicI64::new(10_000));
    let s = open_at(&dir, &clock).unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
    let mut req = role("arn:aws:iam::111122223333:role/app", false);
    req.identity_policies = vec![policy.into()];
    req.tags.insert("team".into(), "a".into());
    let old = s.create(req, &mut ok).unwrap();
    assert_eq!(old.caller().identity_policies.len(), 1);

    let r = s
        .rotate(old.access_key_id(), 100, &mut |_: &Rotated| {
            Ok::<(), Error>(())
        })
        .unwrap();
    assert_eq!(r.previous_expires_at, Some(10_100));
    assert_eq!(r.new.principal_arn(), old.principal_arn());
    assert_eq!(r.new.caller().identity_policies.len(), 1);
    assert_eq!(
        r.new.caller().tags.get("team").map(String::as_str),
        Some("a")
    );
    assert!(s.get(old.access_key_id()).is_some());
    clock.store(10_099, Ordering::SeqCst);
    assert!(s.get(old.access_key_id()).is_some());
    clock.store(10_100, Ordering::SeqCst);
    assert!(s.get(old.access_key_id()).is_none());
    assert!(s.get(r.new.access_key_id()).is_some());
    assert_eq!(s.list(100, None).credentials.len(), 2);
    // The next write drops the expired entry from the file.
    assert!(file_json(&dir).to_string().contains(old.access_key_id()));
    s.create(role("arn:aws:iam::111122223333:user/x", false), &mut ok)
        .unwrap();
    assert!(!file_json(&dir).to_string().contains(old.access_key_id()));

    // Grace 0: the old key stops at once.
    let r2 = s
        .rotate(r.new.access_key_id(), 0, &mut |_: &Rotated| {
            Ok::<(), Error>(())
        })
        .unwrap();
    assert_eq!(r2.previous_expires_at, None);
    assert!(s.get(r.new.access_key_id()).is_none());
    assert!(s.get(r2.new.access_key_id()).is_some());
    // Out of range, unknown, bootstrap.
    let e = s
        .rotate(
            r2.new.access_key_id(),
            MAX_GRACE_SECS + 1,
            &mut |_: &Rotated| Ok::<(), Error>(()),
        )
        .unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    let e = s
        .rotate(r.new.access_key_id(), 0, &mut |_: &Rotated| {
            Ok::<(), Error>(())
        })
        .unwrap_err();
    assert_eq!(e.code(), "NotFoundException");
    let boot = s.bootstrap_access_key_id().unwrap();
    let e = s
        .rotate(&boot, 0, &mut |_: &Rotated| Ok::<(), Error>(()))
        .unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");

    // A restart at the same time keeps it all; an expiry survives a restart.
    let r3 = s
        .rotate(r2.new.access_key_id(), 50, &mut |_: &Rotated| {
            Ok::<(), Error>(())
        })
        .unwrap();
    drop(s);
    let s = open_at(&dir, &clock).unwrap();
    assert!(s.get(r2.new.access_key_id()).is_some());
    assert!(s.get(r3.new.access_key_id()).is_some());
    clock.store(10_150, Ordering::SeqCst);
    assert!(s.get(r2.new.access_key_id()).is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lockout_is_refused_and_retirement_needs_another_admin() {
    let dir = temp_dir("lockout");
    let clock = Arc::new(AtomicI64::new(5));
    let s = open_at(&dir, &clock).unwrap();
    let boot = s.bootstrap_access_key_id().unwrap();
    let mut none = |_: Option<&Credential>| Ok::<(), Error>(());
    let e = s.retire_bootstrap(&mut none).unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    let e = s.revoke(&boot, &mut ok).unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    let admin = s
        .create(role("arn:aws:iam::111122223333:user/ops", true), &mut ok)
        .unwrap();
    // An audit failure changes nothing.
    let e = s
        .retire_bootstrap(&mut |_| Err(Error::Internal("audit".into())))
        .unwrap_err();
    assert_eq!(e.code(), "KMSInternalException");
    assert!(s.get(&boot).is_some());
    assert!(dir.join(ADMIN_CREDENTIALS_FILE).exists());

    let retired = s.retire_bootstrap(&mut none).unwrap().unwrap();
    assert_eq!(retired.access_key_id(), boot);
    assert!(s.get(&boot).is_none());
    assert!(!s.bootstrap_active());
    assert!(!dir.join(ADMIN_CREDENTIALS_FILE).exists());
    let e = s.retire_bootstrap(&mut none).unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    // The last administrator stays; an expiring one does not count.
    let e = s.revoke(admin.access_key_id(), &mut ok).unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    let r = s
        .rotate(admin.access_key_id(), 60, &mut |_: &Rotated| {
            Ok::<(), Error>(())
        })
        .unwrap();
    let e = s.revoke(r.new.access_key_id(), &mut ok).unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    s.revoke(admin.access_key_id(), &mut ok).unwrap();
    drop(s);
    let s = open_at(&dir, &clock).unwrap();
    assert!(s.get(&boot).is_none());
    assert!(s.get(admin.access_key_id()).is_none());
    assert!(s.get(r.new.access_key_id()).unwrap().is_administrator());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn create_validates_and_list_pages() {
    let dir = temp_dir("create");
    let clock = Arc::new(AtomicI64::new(5));
    let s = open_at(&dir, &clock).unwrap();
    for bad in [
        "arn:aws:iam::111122223333:group/g",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::1111:user/u",
        "arn:aws:iam::111122223333:user/",
        "arn:aws:iam:us-east-1:111122223333:user/u",
        "user/u",
    ] {
        let e = s.create(role(bad, false), &mut ok).unwrap_err();
        assert_eq!(e.code(), "ValidationException", "{bad}");
    }
    let mut req = role("arn:aws:iam::111122223333:user/u", false);
    req.identity_policies = vec!["{not a policy".into()];
    let e = s.create(req, &mut ok).unwrap_err();
    assert_eq!(e.code(), "MalformedPolicyDocumentException");
    let mut req = role("arn:aws:iam::111122223333:user/u", false);
    req.tags.insert("aws:x".into(), "y".into());
    assert_eq!(
        s.create(req, &mut ok).unwrap_err().code(),
        "ValidationException"
    );
    // An audit failure changes nothing.
    let e = s
        .create(role("arn:aws:iam::111122223333:user/u", false), &mut |_| {
            Err(Error::Internal("audit".into()))
        })
        .unwrap_err();
    assert_eq!(e.code(), "KMSInternalException");
    assert_eq!(s.len(), 1);
    for i in 0..4 {
        s.create(
            role(&format!("arn:aws:iam::111122223333:user/u{i}"), false),
            &mut ok,
        )
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = s.list(2, marker.as_deref());
        assert!(page.credentials.len() <= 2);
        seen.extend(
            page.credentials
                .iter()
                .map(|c| c.access_key_id().to_owned()),
        );
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn configured_principals_add_policies_and_tags() {
    let dir = temp_dir("configured");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;
    let mut opts = init();
    opts.principals = vec![ConfiguredPrincipal {
        arn: "arn:aws:iam::111122223333:role/app".into(),
        policies: vec![policy.into()],
        tags: [("env".to_owned(), "prod".to_owned())].into(),
    }];
    let s = CredentialStore::open(&dir, &opts, &SystemRandom::new(), key()).unwrap();
    let c = s
        .create(role("arn:aws:iam::111122223333:role/app", false), &mut ok)
        .unwrap();
    assert_eq!(c.caller().identity_policies.len(), 1);
    assert_eq!(c.caller().tags.get("env").map(String::as_str), Some("prod"));
    // Not written into the entry: the configuration is read at every start.
    assert!(!file_json(&dir).to_string().contains("kms:Decrypt"));
    opts.principals[0].policies = vec!["{".into()];
    assert!(matches!(
        CredentialStore::open(&dir, &opts, &SystemRandom::new(), key()),
        Err(Error::Config(_))
    ));
    // The configuration's principals and tags follow the credentials' rules.
    opts.principals[0].policies = vec![policy.into()];
    assert!(CredentialStore::open(&dir, &opts, &SystemRandom::new(), key()).is_ok());
    for (arn, tag) in [
        ("arn:aws:iam::111122223333:group/app", "env"),
        ("arn:aws:iam::111122223333:role/app", "aws:env"),
        ("arn:aws:iam::111122223333:role/app", ""),
    ] {
        let mut bad = opts.clone();
        bad.principals[0].arn = arn.into();
        bad.principals[0].tags = [(tag.to_owned(), "prod".to_owned())].into();
        assert!(
            matches!(
                CredentialStore::open(&dir, &bad, &SystemRandom::new(), key()),
                Err(Error::Config(_))
            ),
            "{arn} {tag}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn duplicate_member_names_are_refused_by_position() {
    for good in [
        "{}",
        "[]",
        r#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#,
        r#" {"a": [true, null, 1.5, -2, "x"]} "#,
    ] {
        reject_duplicate_keys(good.as_bytes()).unwrap();
    }
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    for (bad, line) in [
        (format!(r#"{{"Effect":"Deny","Effect":"{secret}"}}"#), 1),
        (format!("{{\"a\":{{\"k\":1,\n\"k\":\"{secret}\"}}}}"), 2),
        (format!(r#"[{{"x":"{secret}"}},{{"x":1,"x":2}}]"#), 1),
        // Escapes are resolved before names are compared.
        (r#"{"ab":1,"\u0061b":2}"#.to_owned(), 1),
    ] {
        let e = reject_duplicate_keys(bad.as_bytes()).unwrap_err();
        assert_eq!(e.line(), line, "{bad}");
        assert!(e.column() > 0);
        let text = e.to_string();
        assert!(text.contains("duplicate member"), "{text}");
        assert!(!text.contains(secret), "{text}");
    }
    assert!(reject_duplicate_keys(b"{\"a\":1} {}").is_err());
    assert!(reject_duplicate_keys(b"{\"a\":").is_err());
}

#[test]
fn credential_files_with_duplicate_members_refuse_start_by_position() {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let dir = temp_dir("dupe-admin");
    let admin = format!(
        "{{\"access_key_id\": \"AKIAAAAAAAAAAAAAAAAA\",\n \"secret_access_key\": \"x\",\n \
         \"secret_access_key\": \"{secret}\", \"account_id\": \"111122223333\", \
         \"principal_arn\": \"arn:aws:iam::111122223333:root\", \"region\": \"eu-west-1\"}}"
    );
    write_private(&dir.join(ADMIN_CREDENTIALS_FILE), admin.as_bytes()).unwrap();
    let e = CredentialStore::open(&dir, &init(), &SystemRandom::new(), key()).unwrap_err();
    assert!(matches!(e, Error::CredentialFile { line: 3, .. }), "{e}");
    assert!(!chain(&e).contains(secret));
    assert!(!dir.join(CREDENTIALS_FILE).exists());
    std::fs::remove_dir_all(&dir).unwrap();

    // A second "administrator" in an entry: serde would take the last one.
    let dir = temp_dir("dupe-store");
    let clock = Arc::new(AtomicI64::new(5));
    let s = open_at(&dir, &clock).unwrap();
    s.create(role("arn:aws:iam::111122223333:user/u", false), &mut ok)
        .unwrap();
    drop(s);
    let text = std::fs::read_to_string(dir.join(CREDENTIALS_FILE)).unwrap();
    let tampered = text.replacen(
        "\"administrator\": false,",
        "\"administrator\": false, \"administrator\": true,",
        1,
    );
    assert_ne!(tampered, text);
    write_private(&dir.join(CREDENTIALS_FILE), tampered.as_bytes()).unwrap();
    assert!(matches!(
        open_at(&dir, &clock),
        Err(Error::CredentialFile { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rewrites a format-3 file as the previous release wrote it: format 2, every secret
/// sealed under the format-2 associated data.
fn downgrade_to_v2(dir: &Path, secrets: &HashMap<String, Vec<u8>>) {
    let mut v = file_json(dir);
    v["format"] = serde_json::json!(2);
    for e in v["credentials"].as_array_mut().unwrap() {
        let mut m = e.clone();
        m.as_object_mut().unwrap().remove("sealed_secret");
        let meta: Meta = serde_json::from_value(m).unwrap();
        let aad = meta.aad(AAD_PREFIX_V2).unwrap();
        let nonce = aead::Nonce::random(&SystemRandom::new()).unwrap();
        let secret = &secrets[&meta.access_key_id];
        let ct = aead::seal(&key(), &nonce, &aad, secret).unwrap();
        let mut blob = nonce.as_bytes().to_vec();
        blob.extend_from_slice(&ct);
        e["sealed_secret"] =
            serde_json::json!(base64::engine::general_purpose::STANDARD.encode(blob));
    }
    write_json(dir, &v);
}

#[test]
fn format_2_is_migrated_and_its_administrators_keep_full_management() {
    let dir = temp_dir("migrate-v2");
    let clock = Arc::new(AtomicI64::new(5));
    let s = open_at(&dir, &clock).unwrap();
    let boot = s.get(&s.bootstrap_access_key_id().unwrap()).unwrap();
    let ops = s
        .create(role("arn:aws:iam::111122223333:user/ops", true), &mut ok)
        .unwrap();
    let app = s
        .create(role("arn:aws:iam::111122223333:role/app", false), &mut ok)
        .unwrap();
    drop(s);
    let secrets: HashMap<String, Vec<u8>> = [&boot, &ops, &app]
        .iter()
        .map(|c| (c.access_key_id().to_owned(), c.secret().expose().to_vec()))
        .collect();
    downgrade_to_v2(&dir, &secrets);
    let v2 = file_json(&dir);

    // A format-3 reader does not take format-2 seals for its own.
    let mut as_v3 = v2.clone();
    as_v3["format"] = serde_json::json!(3);
    write_json(&dir, &as_v3);
    assert!(matches!(
        open_at(&dir, &clock),
        Err(Error::InvalidCredential { .. })
    ));

    write_json(&dir, &v2);
    let s = open_at(&dir, &clock).unwrap();
    assert_eq!(file_json(&dir)["format"], 3);
    let ops2 = s.get(ops.access_key_id()).unwrap();
    assert_eq!(ops2.secret().expose(), ops.secret().expose());
    assert_eq!(
        ops2.stored_identity_policies(),
        [MIGRATED_ADMINISTRATOR_POLICY.to_owned()]
    );
    assert_eq!(ops2.caller().identity_policies.len(), 1);
    let boot2 = s.get(boot.access_key_id()).unwrap();
    assert!(boot2.is_bootstrap() && boot2.stored_identity_policies().is_empty());
    assert!(s
        .get(app.access_key_id())
        .unwrap()
        .stored_identity_policies()
        .is_empty());
    drop(s);
    let s = open_at(&dir, &clock).unwrap();
    assert_eq!(s.len(), 3);
    drop(s);

    // The other way round: a format-3 file labelled format 2, to have its administrators
    // migrated to full management, does not open.
    let mut v = file_json(&dir);
    v["format"] = serde_json::json!(2);
    write_json(&dir, &v);
    assert!(matches!(
        open_at(&dir, &clock),
        Err(Error::InvalidCredential { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn list_visible_filters_before_the_limit() {
    let dir = temp_dir("visible");
    let clock = Arc::new(AtomicI64::new(5));
    let s = open_at(&dir, &clock).unwrap();
    for i in 0..6 {
        let kind = if i % 2 == 0 { "user/app-" } else { "user/db-" };
        s.create(
            role(&format!("arn:aws:iam::111122223333:{kind}{i}"), false),
            &mut ok,
        )
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = s.list_visible(2, marker.as_deref(), &mut |c| {
            c.principal_arn().contains(":user/app-")
        });
        assert!(page.credentials.len() == 2 || page.next_marker.is_none());
        seen.extend(
            page.credentials
                .iter()
                .map(|c| c.principal_arn().to_owned()),
        );
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["app-0", "app-2", "app-4"].map(|n| format!("arn:aws:iam::111122223333:user/{n}"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A set kept in memory; `fail` makes commits fail.
#[derive(Debug, Default, Clone)]
struct MemoryBackend {
    set: Arc<Mutex<Option<Vec<u8>>>>,
    fail: Arc<std::sync::atomic::AtomicBool>,
}

impl CredentialBackend for MemoryBackend {
    fn location(&self) -> &Path {
        Path::new("memory")
    }

    fn load(&self) -> Result<Option<SecretBytes>, Error> {
        Ok(self.set.lock().clone().map(SecretBytes::new))
    }

    fn commit(&self, set: &[u8]) -> Result<(), Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Io {
                path: "memory".into(),
                source: std::io::Error::other("down"),
            });
        }
        *self.set.lock() = Some(set.to_vec());
        Ok(())
    }
}

#[test]
fn another_backend_keeps_the_sealed_set() {
    let dir = temp_dir("backend");
    let backend = MemoryBackend::default();
    let admin = dir.join(ADMIN_CREDENTIALS_FILE);
    let open = |b: &MemoryBackend| {
        CredentialStore::open_with_backend(
            Box::new(b.clone()),
            &admin,
            &init(),
            &SystemRandom::new(),
            key(),
        )
    };
    let s = open(&backend).unwrap();
    assert!(s.created());
    let user = s
        .create(role("arn:aws:iam::111122223333:user/u", false), &mut ok)
        .unwrap();
    let secret = std::str::from_utf8(user.secret().expose())
        .unwrap()
        .to_owned();
    // The backend holds the format-3 set, the secret sealed; no file was written for it.
    let set: serde_json::Value =
        serde_json::from_slice(backend.set.lock().as_deref().unwrap()).unwrap();
    assert_eq!(set["format"], 3);
    assert_eq!(set["credentials"].as_array().unwrap().len(), 2);
    assert!(!set.to_string().contains(&secret));
    assert!(!dir.join(CREDENTIALS_FILE).exists());
    drop(s);
    let s = open(&backend).unwrap();
    assert!(!s.created());
    assert_eq!(
        s.get(user.access_key_id()).unwrap().secret().expose(),
        secret.as_bytes()
    );
    // A commit that fails changes nothing, and says so as an internal error.
    backend.fail.store(true, Ordering::SeqCst);
    let e = s
        .create(role("arn:aws:iam::111122223333:user/v", false), &mut ok)
        .unwrap_err();
    assert_eq!(e.code(), "KMSInternalException");
    assert_eq!(s.len(), 2);
    let e = s.revoke(user.access_key_id(), &mut ok).unwrap_err();
    assert_eq!(e.code(), "KMSInternalException");
    assert!(s.get(user.access_key_id()).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The principal rules are coffer-core's `PrincipalArn` (AWS's), where the store's own
/// check once disagreed with `Caller::new`.
#[test]
fn principals_follow_the_one_principal_arn_rule() {
    let dir = temp_dir("principal-rule");
    let clock = Arc::new(AtomicI64::new(5));
    let s = open_at(&dir, &clock).unwrap();
    // Partitions AWS documents beyond the three the store took; a path with printable
    // ASCII and an empty segment inside.
    for good in [
        "arn:aws-iso:iam::111122223333:user/u",
        "arn:aws-iso-b:iam::111122223333:role/app",
        "arn:aws:iam::111122223333:user/a//b/u",
        "arn:aws:iam::111122223333:role/team~1/app",
    ] {
        let c = s.create(role(good, false), &mut ok).unwrap();
        assert_eq!(c.principal_arn(), good);
        assert_eq!(c.account_id(), "111122223333");
    }
    // Names longer than IAM's 64 characters, names with other characters, a session,
    // an unknown partition: the store took the first two.
    let long = format!("arn:aws:iam::111122223333:user/{}", "n".repeat(65));
    for bad in [
        long.as_str(),
        "arn:aws:iam::111122223333:user/a:b",
        "arn:aws:sts::111122223333:assumed-role/app/session",
        "arn:example:iam::111122223333:user/u",
        "arn:aws:iam::111122223333:user//u",
    ] {
        let e = s.create(role(bad, false), &mut ok).unwrap_err();
        assert_eq!(e.code(), "ValidationException", "{bad}");
        assert!(e.to_string().starts_with("PrincipalArn must be"), "{e}");
    }
    // A session is a principal, just not one a lasting access key belongs to.
    assert!(
        coffer_core::PrincipalArn::parse("arn:aws:sts::111122223333:assumed-role/app/session")
            .is_ok()
    );
    // Restarted, the created ones load under the same rule.
    drop(s);
    assert_eq!(open_at(&dir, &clock).unwrap().len(), 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_their_exception() {
    for (e, code) in [
        (Error::Validation("v".into()), "ValidationException"),
        (
            Error::MalformedPolicyDocument("m".into()),
            "MalformedPolicyDocumentException",
        ),
        (Error::LimitExceeded("l".into()), "LimitExceededException"),
        (not_found("AKIAX"), "NotFoundException"),
        (Error::InvalidState("s".into()), "KMSInvalidStateException"),
        (Error::Internal("i".into()), "KMSInternalException"),
        (Error::Config("c"), "KMSInternalException"),
    ] {
        assert_eq!(e.code(), code, "{e:?}");
    }
    assert_eq!(
        not_found("AKIAX").to_string(),
        "Access key AKIAX does not exist (or was revoked, or has expired)."
    );
}

#[test]
fn a_credential_bound_to_a_service_calls_through_it_across_restarts_and_rotation() {
    let dir = temp_dir("via-service");
    let clock = Arc::new(AtomicI64::new(10_000));
    let s = open_at(&dir, &clock).unwrap();
    let mut req = role("arn:aws:iam::111122223333:role/s3-integration", false);
    req.via_service = Some("s3.us-east-1.amazonaws.com".into());
    let c = s.create(req, &mut ok).unwrap();
    assert_eq!(c.via_service(), Some("s3.us-east-1.amazonaws.com"));
    assert_eq!(
        c.caller().via_service.as_deref(),
        Some("s3.us-east-1.amazonaws.com")
    );
    // A plain credential acts through no service.
    let plain = s
        .create(role("arn:aws:iam::111122223333:role/app", false), &mut ok)
        .unwrap();
    assert_eq!(plain.caller().via_service, None);
    // It survives a restart (the binding is part of the sealed entry's associated data) and
    // a rotation.
    drop(s);
    let s = open_at(&dir, &clock).unwrap();
    let again = s.get(c.access_key_id()).unwrap();
    assert_eq!(
        again.caller().via_service.as_deref(),
        Some("s3.us-east-1.amazonaws.com")
    );
    let r = s
        .rotate(c.access_key_id(), 0, &mut |_: &Rotated| Ok::<(), Error>(()))
        .unwrap();
    assert_eq!(r.new.via_service(), Some("s3.us-east-1.amazonaws.com"));
    // Editing the binding in the file breaks the entry's seal.
    drop(s);
    let mut v = file_json(&dir);
    let text = v
        .to_string()
        .replace("s3.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com");
    v = serde_json::from_str(&text).unwrap();
    write_json(&dir, &v);
    assert!(open_at(&dir, &clock).is_err());
    // Not a service endpoint name: refused.
    let dir = temp_dir("via-service-bad");
    let s = open_at(&dir, &clock).unwrap();
    for bad in [
        "",
        "s3",
        "S3.us-east-1.amazonaws.com",
        "s3.us-east-1.amazonaws.com.",
        "a b.c",
    ] {
        let mut req = role("arn:aws:iam::111122223333:role/x", false);
        req.via_service = Some(bad.into());
        let e = s.create(req, &mut ok).unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad:?}: {e:?}");
    }
}
