//! `coffer envelope` end to end: the built binary against a real cofferd on a loopback port.
//! Multi-frame round trips through files and through stdin/stdout, a wrong or missing context
//! and a truncated or tampered message refused (exit 1) with no --out file left behind, the
//! service's refusals and an unreachable endpoint with their exit codes, and no progress output
//! when stderr is a pipe.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests may panic

mod common;

use std::path::Path;
use std::process::Output;

use common::Cofferd;

fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A new key; its id.
fn create_key(srv: &Cofferd) -> String {
    let o = srv.run(&["key", "create", "--output", "json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
}

/// Bytes that are not all alike, several 64 KiB frames and a short final one.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 253) as u8).collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The names in `dir` (to check that no temporary file was left behind).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn files_round_trip_under_two_keys() {
    let srv = Cofferd::start("envelope-files");
    let first = create_key(&srv);
    let second = create_key(&srv);
    ok(&srv.run(&["alias", "create", "alias/env", &first], b""));
    let dir = srv.dir().join("files");
    std::fs::create_dir(&dir).unwrap();
    let plaintext = data(5 * 64 * 1024 + 1234);
    let pt = dir.join("plain.bin");
    let ct = dir.join("plain.bin.cfem");
    let back = dir.join("back.bin");
    std::fs::write(&pt, &plaintext).unwrap();

    let o = srv.run(
        &[
            "envelope",
            "encrypt",
            "--key-id",
            "alias/env",
            "--key-id",
            &second,
            "--context",
            "app=web",
            "--context",
            "tenant=7",
            "--out",
            &p(&ct),
            &p(&pt),
        ],
        b"",
    );
    ok(&o);
    // Nothing on stdout, and no progress bar on a piped stderr.
    assert!(o.stdout.is_empty());
    assert_eq!(stderr(&o), "");
    let message = std::fs::read(&ct).unwrap();
    assert_eq!(&message[..4], b"CFEM");
    // Frames of 64 KiB: at least six of them, each with its overhead.
    assert!(message.len() > plaintext.len() + 6 * 17);

    let o = srv.run(
        &[
            "envelope",
            "decrypt",
            "--context",
            "tenant=7",
            "--context",
            "app=web",
            "--out",
            &p(&back),
            &p(&ct),
        ],
        b"",
    );
    ok(&o);
    assert!(o.stdout.is_empty());
    assert_eq!(stderr(&o), "");
    assert_eq!(std::fs::read(&back).unwrap(), plaintext);
    #[cfg(unix)]
    {
        assert_eq!(mode(&back), 0o600);
        assert_eq!(mode(&ct), 0o600);
    }
    assert_eq!(names(&dir), ["back.bin", "plain.bin", "plain.bin.cfem"]);

    // --out replaces an existing file only on success.
    std::fs::write(&back, b"old").unwrap();
    ok(&srv.run(
        &[
            "envelope",
            "decrypt",
            "--context",
            "app=web",
            "--context",
            "tenant=7",
            "-o",
            &p(&back),
            &p(&ct),
        ],
        b"",
    ));
    assert_eq!(std::fs::read(&back).unwrap(), plaintext);

    // The second key alone opens it: disable the first.
    ok(&srv.run(&["key", "disable", &first], b""));
    let o = srv.run(
        &[
            "envelope",
            "decrypt",
            "--context",
            "app=web",
            "--context",
            "tenant=7",
            &p(&ct),
        ],
        b"",
    );
    assert_eq!(ok(&o).stdout, plaintext);
    // And encrypting under the disabled key is the service's refusal, exit 1.
    let o = srv.run(&["envelope", "encrypt", "--key-id", &first, "-"], b"x");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("DisabledException: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stdin_to_stdout_round_trip() {
    let srv = Cofferd::start("envelope-pipe");
    let key = create_key(&srv);
    let plaintext = data(3 * 64 * 1024 + 5);
    let o = srv.run(
        &[
            "envelope",
            "encrypt",
            "--key-id",
            &key,
            "--context",
            "k=v",
            "-",
        ],
        &plaintext,
    );
    ok(&o);
    assert_eq!(stderr(&o), "");
    let message = o.stdout.clone();
    assert_eq!(&message[..4], b"CFEM");
    let o = srv.run(&["envelope", "decrypt", "--context", "k=v", "-"], &message);
    ok(&o);
    assert_eq!(stderr(&o), "");
    assert_eq!(o.stdout, plaintext);

    // Empty input is a valid (empty) message.
    let o = srv.run(&["envelope", "encrypt", "--key-id", &key, "-"], b"");
    let empty = ok(&o).stdout.clone();
    let o = srv.run(&["envelope", "decrypt", "-"], &empty);
    assert!(ok(&o).stdout.is_empty());
}

#[test]
fn wrong_or_missing_context_and_damaged_messages_are_refused() {
    let srv = Cofferd::start("envelope-refused");
    let key = create_key(&srv);
    let dir = srv.dir().join("refused");
    std::fs::create_dir(&dir).unwrap();
    let plaintext = data(2 * 64 * 1024 + 99);
    let o = srv.run(
        &[
            "envelope",
            "encrypt",
            "--key-id",
            &key,
            "--context",
            "app=web",
            "-",
        ],
        &plaintext,
    );
    let message = ok(&o).stdout.clone();
    let out = dir.join("out.bin");
    let decrypt = |args: &[&str], input: &[u8]| {
        let mut all = vec!["envelope", "decrypt"];
        all.extend_from_slice(args);
        let out = p(&out);
        all.extend_from_slice(&["--out", &out, "-"]);
        srv.run(&all, input)
    };

    for (ctx, what) in [
        (&["--context", "app=api"][..], "wrong"),
        (&[][..], "missing"),
        (&["--context", "app=web", "--context", "x=y"][..], "extra"),
    ] {
        let o = decrypt(ctx, &message);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("ContextMismatch: "),
            "{}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty());
        assert!(!out.exists(), "{what}");
    }

    let ctx = ["--context", "app=web"];
    // Cut inside the final frame, at a frame boundary, inside the header.
    let frame = 1 + 64 * 1024 + 16;
    let header_end = message.len() - 2 * frame - (5 + 99 + 16);
    for cut in [
        message.len() - 1,
        message.len() - (5 + 99 + 16),
        header_end + frame,
        10,
    ] {
        let o = decrypt(&ctx, &message[..cut]);
        assert_eq!(o.status.code(), Some(1), "cut at {cut}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("InvalidMessage: "), "{}", stderr(&o));
        assert!(!out.exists(), "cut at {cut}");
    }
    // One bit flipped in the second frame, in the header tag; a byte appended.
    let mut damaged = vec![];
    let mut m = message.clone();
    m[header_end + frame + 100] ^= 1;
    damaged.push(m);
    let mut m = message.clone();
    m[header_end - 1] ^= 0x80;
    damaged.push(m);
    let mut m = message.clone();
    m.push(0);
    damaged.push(m);
    for m in &damaged {
        let o = decrypt(&ctx, m);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).starts_with("InvalidMessage: "), "{}", stderr(&o));
        assert!(!out.exists());
    }
    assert_eq!(names(&dir), Vec::<String>::new());

    // To stdout, a truncated message releases its authentic frames, then fails.
    let o = srv.run(
        &["envelope", "decrypt", "--context", "app=web", "-"],
        &message[..header_end + frame],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(plaintext.starts_with(&o.stdout));
    assert_eq!(o.stdout.len(), 64 * 1024);

    // The intact message still opens.
    let o = decrypt(&ctx, &message);
    ok(&o);
    assert_eq!(std::fs::read(&out).unwrap(), plaintext);
}

#[test]
fn service_refusals_and_connection_errors_keep_their_exit_codes() {
    let srv = Cofferd::start("envelope-errors");
    let dir = srv.dir().join("errors");
    std::fs::create_dir(&dir).unwrap();
    let out = p(&dir.join("never.bin"));

    let o = srv.run(
        &[
            "envelope",
            "encrypt",
            "--key-id",
            "alias/missing",
            "--out",
            &out,
            "-",
        ],
        b"data",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("NotFoundException: "),
        "{}",
        stderr(&o)
    );

    // Nobody listens there: exit 3.
    let dead = format!("http://{}", common::free_addr());
    let mut cmd = srv.coffer(&["envelope", "encrypt", "--key-id", "k", "--out", &out, "-"]);
    cmd.env("AWS_ENDPOINT_URL", &dead);
    let o = common::run_with(cmd, b"data");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));

    // A missing input file: exit 3, before any request.
    let o = srv.run(&["envelope", "decrypt", &p(&dir.join("no-such-file"))], b"");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));

    // Not an envelope message.
    let o = srv.run(&["envelope", "decrypt", "-"], b"hello, world");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("InvalidMessage: "), "{}", stderr(&o));
    assert_eq!(names(&dir), Vec::<String>::new());
}

#[test]
fn esdk_messages_round_trip_through_cofferd_and_are_told_apart_from_coffers() {
    let srv = Cofferd::start("envelope-esdk");
    let first = create_key(&srv);
    let second = create_key(&srv);
    let dir = srv.dir().join("esdk");
    std::fs::create_dir(&dir).unwrap();
    let plaintext = data(3 * 4096 + 77);
    let pt = dir.join("plain.bin");
    std::fs::write(&pt, &plaintext).unwrap();
    for (format, suite) in [("esdk", [0x05u8, 0x78]), ("esdk-unsigned", [0x04, 0x78])] {
        let ct = dir.join(format!("{format}.msg"));
        let back = dir.join(format!("{format}.back"));
        ok(&srv.run(
            &[
                "envelope",
                "encrypt",
                "--format",
                format,
                "--key-id",
                &first,
                "--key-id",
                &second,
                "--context",
                "app=web",
                "--out",
                &p(&ct),
                &p(&pt),
            ],
            b"",
        ));
        let message = std::fs::read(&ct).unwrap();
        // Message format v2 and the suite asked for; the data key wrapped under both keys.
        assert_eq!(message[0], 0x02);
        assert_eq!(message[1..3], suite);
        // The same `decrypt` reads it (the format told by its first byte).
        ok(&srv.run(
            &[
                "envelope",
                "decrypt",
                "--context",
                "app=web",
                "-o",
                &p(&back),
                &p(&ct),
            ],
            b"",
        ));
        assert_eq!(std::fs::read(&back).unwrap(), plaintext);
        // A pair the message lacks: refused, and no output file.
        let o = srv.run(
            &[
                "envelope",
                "decrypt",
                "--context",
                "app=api",
                "-o",
                &p(&back),
                &p(&ct),
            ],
            b"",
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("ContextMismatch"), "{}", stderr(&o));
        // One flipped bit in the body: refused as an invalid message.
        let mut bad = message.clone();
        let at = bad.len() - 200;
        bad[at] ^= 1;
        let bad_path = dir.join(format!("{format}.bad"));
        std::fs::write(&bad_path, &bad).unwrap();
        let gone = dir.join(format!("{format}.gone"));
        let o = srv.run(
            &["envelope", "decrypt", "-o", &p(&gone), &p(&bad_path)],
            b"",
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("InvalidMessage"), "{}", stderr(&o));
        assert!(!gone.exists());
    }
    // A disabled key cannot make an ESDK message: the service's code, exit 1.
    ok(&srv.run(&["key", "disable", &first], b""));
    let o = srv.run(
        &[
            "envelope",
            "encrypt",
            "--format",
            "esdk",
            "--key-id",
            &first,
            "-o",
            &p(&dir.join("never.msg")),
            &p(&pt),
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("DisabledException"), "{}", stderr(&o));
    assert!(!dir.join("never.msg").exists());
}
