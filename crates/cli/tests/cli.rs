//! Golden tests of the command line (trycmd): help and usage errors under tests/cmd/usage,
//! tables, JSON and a service error from a real cofferd under tests/cmd/live.
//!
//! Regenerate after a deliberate change with `TRYCMD=overwrite cargo test -p coffer-cli --test
//! cli`, then put back the `[..]` wildcards over the creation dates in tests/cmd/live.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may panic

mod common;

use common::Cofferd;

#[test]
fn help_and_usage_errors() {
    trycmd::TestCases::new()
        .case("tests/cmd/usage/*.trycmd")
        .case("tests/cmd/usage/*.toml")
        .run();
}

#[test]
fn tables_json_and_errors_from_cofferd() {
    let srv = Cofferd::start("golden");
    // One key, alias/golden, on a fresh server.
    let o = srv.run(
        &[
            "key",
            "create",
            "--description",
            "the golden key",
            "--tag",
            "team=cli",
            "--output",
            "json",
        ],
        b"",
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let key_id = v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let account = v["KeyMetadata"]["AWSAccountId"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = srv.run(&["alias", "create", "alias/golden", &key_id], b"");
    assert!(o.status.success());

    let cases = trycmd::TestCases::new();
    for (k, v) in srv.env() {
        cases.env(k, v);
    }
    cases
        .insert_var("[KEYID]", key_id)
        .unwrap()
        .insert_var("[ACCOUNT]", account)
        .unwrap()
        .case("tests/cmd/live/*.trycmd")
        .run();
}

#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = common::coffer_bare(&["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.contains("schedule-deletion"), "{shell}");
    }
    let o = common::coffer_bare(&["man"]).output().unwrap();
    assert!(o.status.success());
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(page.starts_with(".ie"));
    assert!(page.contains(".SH NAME"));
    assert!(page.contains("Exit codes"));

    let dir = common::TempDir::new("man");
    let out = dir.path().join("man1");
    let o = common::coffer_bare(&["man", "--dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    for page in [
        "coffer.1",
        "coffer-key.1",
        "coffer-key-create.1",
        "coffer-encrypt.1",
    ] {
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        assert!(text.contains(".SH NAME"), "{page}");
    }
}
