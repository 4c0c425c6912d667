//! The binary's life cycle as an operator sees it: start, signals, failed starts, and the
//! messages it leaves behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::path::Path;
use std::process::Stdio;

mod common;

use common::{audit_lines, Server, TempDir};

/// A shell waiting to send SIGTERM to the process id written to it: started beforehand, so the
/// signal follows the write by a shell builtin's latency, not a fork and exec (unsafe code, and
/// with it `kill(2)` itself, is forbidden here).
struct Killer(std::process::Child);

impl Killer {
    fn ready() -> Self {
        let child = std::process::Command::new("sh")
            .args(["-c", "read pid && kill -TERM \"$pid\""])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        Self(child)
    }

    fn sigterm(mut self, pid: u32) {
        use std::io::Write;
        let mut stdin = self.0.stdin.take().unwrap();
        writeln!(stdin, "{pid}").unwrap();
        drop(stdin);
        let sent = self.0.wait().unwrap();
        assert!(sent.success(), "kill -TERM {pid}: {sent:?}");
    }
}

/// `cofferd` serving `data` on an ephemeral loopback port, its root key beside `data`.
fn serve_args(data: &Path) -> Vec<String> {
    let root = data.with_file_name("root.key");
    vec![
        "--data-dir".into(),
        data.display().to_string(),
        "--root-key".into(),
        root.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ]
}

#[test]
fn sigterm_right_after_the_listening_line_drains_and_writes_the_close_digest() {
    let tmp = TempDir::new("sigterm-at-start");
    let data = tmp.path().join("data");
    let args = serve_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for round in 0..10 {
        let mut cmd = Server::command(&args);
        cmd.stderr(Stdio::null());
        let killer = Killer::ready();
        let mut server = Server::spawn(cmd);
        // At once: no request, no pause between the readiness line and the signal.
        killer.sigterm(server.child.id());
        let status = server.child.wait().unwrap();
        assert!(
            status.success(),
            "round {round}: cofferd did not exit cleanly on SIGTERM: {status:?}"
        );
        let lines = audit_lines(&data);
        let last = lines.last().unwrap();
        assert_eq!(last["type"], "digest", "round {round}: last line {last}");
        assert_eq!(
            last["digest"]["reason"], "close",
            "round {round}: last line {last}"
        );
    }
}
