//! The protocol attacks of the security issue, each reproduced against the real binary with
//! hand-signed requests: what AWS answers, and that nothing changed and no plaintext came back.
//!
//! - a signature that does not cover `X-Amz-Target` replayed as another operation;
//! - signed headers absent, `x-amz-*` headers unsigned, `SignedHeaders` out of order;
//! - correctly signed traffic beyond the per-address budget (served: it costs nothing);
//! - bad signatures under the owner's access key id from another address (the owner is served;
//!   the flooding address is throttled once its failure budget is spent);
//! - a flood of refused requests (a bounded number of audit records, the summary counting all).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;

use base64::Engine as _;
use common::{Admin, Answer, TempDir};

const OWNER: &str = "127.0.0.1";
const ATTACKER: &str = "127.0.0.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn start(dir: &Path, extra: &[&str]) -> common::Server {
    let mut cmd = common::Server::command(&["--listen", "127.0.0.1:0", "--data-dir"]);
    cmd.arg(dir).args(extra).stderr(Stdio::null());
    common::Server::spawn(cmd)
}

/// A `POST /` calling `target` with `body`, its headers `extra` beside host, content type,
/// date and target, signed by `a` (or with `secret`) over exactly `signed`.
struct Req<'a> {
    target: &'a str,
    body: String,
    signed: &'a [&'a str],
    extra: &'a [(&'a str, &'a str)],
    secret: Option<&'a str>,
}

const SIGNED: &[&str] = &["content-type", "host", "x-amz-date", "x-amz-target"];

impl<'a> Req<'a> {
    fn new(target: &'a str, body: serde_json::Value) -> Self {
        Self {
            target,
            body: body.to_string(),
            signed: SIGNED,
            extra: &[],
            secret: None,
        }
    }

    /// The request's bytes: headers signed as asked, then `send_target` (which may differ
    /// from the target that was signed over, as in a replay) put in `X-Amz-Target`.
    fn bytes(&self, srv: &common::Server, a: &Admin, send_target: &str) -> Vec<u8> {
        let mut h = http::HeaderMap::new();
        h.insert("host", srv.addr.parse().unwrap());
        h.insert(
            "content-type",
            "application/x-amz-json-1.1".parse().unwrap(),
        );
        h.insert("x-amz-date", common::amz_date_now(0).parse().unwrap());
        h.insert("x-amz-target", self.target.parse().unwrap());
        for (k, v) in self.extra {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let auth = common::authorization_for(
            &h,
            self.signed,
            &a.access_key_id,
            self.secret.unwrap_or(&a.secret),
            &a.region,
            self.body.as_bytes(),
        );
        h.insert("x-amz-target", send_target.parse().unwrap());
        let mut out = common::head(&h, self.body.len(), true);
        out.push_str(&format!("authorization: {auth}\r\n\r\n"));
        let mut out = out.into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }

    async fn send(&self, srv: &common::Server, a: &Admin, from: &str) -> Answer {
        common::exchange(&srv.addr, ip(from), &self.bytes(srv, a, self.target)).await
    }
}

async fn call(srv: &common::Server, a: &Admin, op: &str, body: serde_json::Value) -> Answer {
    Req::new(&format!("TrentService.{op}"), body)
        .send(srv, a, OWNER)
        .await
}

async fn create_key(srv: &common::Server, a: &Admin) -> String {
    let r = call(srv, a, "CreateKey", serde_json::json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
}

async fn key_state(srv: &common::Server, a: &Admin, key: &str) -> String {
    let r = call(srv, a, "DescribeKey", serde_json::json!({ "KeyId": key })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["KeyMetadata"]["KeyState"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn encrypt_body(key: &str) -> serde_json::Value {
    let pt = base64::engine::general_purpose::STANDARD.encode(b"SECURITY-TEST-PLAINTEXT");
    serde_json::json!({ "KeyId": key, "Plaintext": pt })
}

/// An error answer that carries nothing of an operation's result.
fn assert_refused(r: &Answer, code: &str) {
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.code(), code, "{:?}", r.body);
    let text = r.body.to_string();
    for leak in [
        "CiphertextBlob",
        "Plaintext",
        "KeyMetadata",
        "AccessKeyId",
        "Credentials",
    ] {
        assert!(!text.contains(leak), "{leak} in a refusal: {text}");
    }
}

/// SIGTERM, and the exit status once the server has drained.
fn terminate(srv: common::Server) {
    let mut srv = srv;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = srv.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_signature_without_the_target_cannot_be_replayed_as_another_operation() {
    let dir = TempDir::new("sec-replay");
    let srv = start(dir.path(), &[]);
    let a = Admin::of(dir.path());
    let key = create_key(&srv, &a).await;

    // A request for DescribeKey signed without X-Amz-Target, as a captured request might be…
    let describe = Req {
        signed: &["content-type", "host", "x-amz-date"],
        ..Req::new(
            "TrentService.DescribeKey",
            serde_json::json!({ "KeyId": key }),
        )
    };
    // …replayed with the target swapped: DisableKey on the same body, the admin API.
    for target in ["TrentService.DisableKey", "CofferAdmin.ListCredentials"] {
        let r = common::exchange(&srv.addr, ip(OWNER), &describe.bytes(&srv, &a, target)).await;
        assert_refused(&r, "IncompleteSignatureException");
        assert!(r.message().contains("'x-amz-target'"), "{}", r.message());
        assert!(!r.body.to_string().contains(&a.access_key_id));
    }
    // Not even as itself.
    let r = describe.send(&srv, &a, OWNER).await;
    assert_refused(&r, "IncompleteSignatureException");
    assert_eq!(key_state(&srv, &a, &key).await, "Enabled");
}

#[tokio::test]
async fn every_amz_header_must_be_signed_and_every_signed_header_sent() {
    let dir = TempDir::new("sec-headers");
    let srv = start(dir.path(), &[]);
    let a = Admin::of(dir.path());
    let key = create_key(&srv, &a).await;
    let hash = cofferd::payload_hash(encrypt_body(&key).to_string().as_bytes());
    let hash_header = [("x-amz-content-sha256", hash.as_str())];

    let cases: [(Req<'_>, &str); 6] = [
        // An unsigned content hash.
        (
            Req {
                extra: &hash_header,
                ..Req::new("TrentService.Encrypt", encrypt_body(&key))
            },
            "'x-amz-content-sha256' must be a 'SignedHeader'",
        ),
        // An unsigned x-amz-* header of any name.
        (
            Req {
                extra: &[("x-amz-meta-note", "unsigned")],
                ..Req::new("TrentService.Encrypt", encrypt_body(&key))
            },
            "'x-amz-meta-note' must be a 'SignedHeader'",
        ),
        // The date unsigned.
        (
            Req {
                signed: &["content-type", "host", "x-amz-target"],
                ..Req::new("TrentService.Encrypt", encrypt_body(&key))
            },
            "'x-amz-date' must be a 'SignedHeader'",
        ),
        // Host unsigned.
        (
            Req {
                signed: &["content-type", "x-amz-date", "x-amz-target"],
                ..Req::new("TrentService.Encrypt", encrypt_body(&key))
            },
            "'host' must be a 'SignedHeader'",
        ),
        // A header listed as signed (here over its empty value) but not sent.
        (
            Req {
                signed: &[
                    "content-type",
                    "host",
                    "x-amz-date",
                    "x-amz-security-token",
                    "x-amz-target",
                ],
                ..Req::new("TrentService.DisableKey", serde_json::json!({ "KeyId": key }))
            },
            "'x-amz-security-token' is a 'SignedHeader' in the AWS Authorization but is not in the request",
        ),
        // SignedHeaders out of order.
        (
            Req {
                signed: &["host", "content-type", "x-amz-date", "x-amz-target"],
                ..Req::new("TrentService.DisableKey", serde_json::json!({ "KeyId": key }))
            },
            "SignedHeaders must be sorted",
        ),
    ];
    for (req, message) in &cases {
        let r = req.send(&srv, &a, OWNER).await;
        assert_refused(&r, "IncompleteSignatureException");
        assert!(r.message().contains(message), "{}", r.message());
    }
    // Signed, the same content hash is accepted: the rule is about signing, not the header.
    let signed_hash = Req {
        extra: &hash_header,
        signed: &[
            "content-type",
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-target",
        ],
        ..Req::new("TrentService.Encrypt", encrypt_body(&key))
    };
    let r = signed_hash.send(&srv, &a, OWNER).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["CiphertextBlob"].is_string());
    assert_eq!(key_state(&srv, &a, &key).await, "Enabled");
}

#[tokio::test]
async fn authenticated_requests_do_not_spend_the_address_budget() {
    let dir = TempDir::new("sec-budget");
    const BURST: usize = 5;
    // A failure budget of 5 that refills once in 1000 s (and the same per key id).
    let budget = BURST.to_string();
    let srv = start(
        dir.path(),
        &[
            "--ip-rate",
            "0.001",
            "--ip-burst",
            &budget,
            "--key-rate",
            "0.001",
            "--key-burst",
            &budget,
        ],
    );
    let a = Admin::of(dir.path());
    let key = create_key(&srv, &a).await;
    for i in 0..3 * BURST {
        let r = call(&srv, &a, "Encrypt", encrypt_body(&key)).await;
        assert_eq!(r.status, 200, "request {i}: {:?}", r.body);
    }
}

#[tokio::test]
async fn bad_signatures_under_the_owners_key_id_do_not_lock_the_owner_out() {
    let dir = TempDir::new("sec-keyflood");
    // Failure budgets: 5 per address, 3 per key id from one address; no refill to speak of.
    let srv = start(
        dir.path(),
        &[
            "--ip-rate",
            "0.001",
            "--ip-burst",
            "5",
            "--key-rate",
            "0.001",
            "--key-burst",
            "3",
        ],
    );
    let a = Admin::of(dir.path());
    let key = create_key(&srv, &a).await;
    let forged = Req {
        secret: Some("not-the-owners-secret-not-the-owners-sec"),
        ..Req::new("TrentService.Encrypt", encrypt_body(&key))
    };
    // The attacker's bad signatures under the owner's key id spend that key id's budget at
    // the attacker's address…
    for _ in 0..3 {
        assert_refused(
            &forged.send(&srv, &a, ATTACKER).await,
            "InvalidSignatureException",
        );
    }
    assert_refused(
        &forged.send(&srv, &a, ATTACKER).await,
        "ThrottlingException",
    );
    // …and the owner, elsewhere, is served.
    let r = call(&srv, &a, "Encrypt", encrypt_body(&key)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Four refusals so far from the attacker's address; the fifth spends its budget, and from
    // then on the address is refused before any signature is checked, whatever it sends.
    let unsigned =
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
    let r = common::exchange(&srv.addr, ip(ATTACKER), unsigned).await;
    assert_refused(&r, "MissingAuthenticationTokenException");
    let r = common::exchange(&srv.addr, ip(ATTACKER), unsigned).await;
    assert_refused(&r, "ThrottlingException");
    let owners_request_from_there = Req::new("TrentService.Encrypt", encrypt_body(&key));
    assert_refused(
        &owners_request_from_there.send(&srv, &a, ATTACKER).await,
        "ThrottlingException",
    );
    // The owner still is served, and its key unchanged.
    for _ in 0..10 {
        let r = call(&srv, &a, "Encrypt", encrypt_body(&key)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    assert_eq!(key_state(&srv, &a, &key).await, "Enabled");
}

#[tokio::test]
async fn a_flood_of_refused_requests_writes_a_bounded_number_of_audit_records() {
    const FLOOD: u64 = 300;
    let dir = TempDir::new("sec-auditflood");
    // Budgets out of the way; the summary interval longer than the test, so the summary is
    // written at shutdown (SIGTERM drains and flushes it).
    let srv = start(
        dir.path(),
        &[
            "--ip-rate",
            "1000000",
            "--ip-burst",
            "1000000",
            "--refusal-summary-secs",
            "3600",
        ],
    );
    let a = Admin::of(dir.path());
    let key = create_key(&srv, &a).await;
    let before = common::audit_lines(dir.path()).len();

    let forged = Req {
        secret: Some("not-the-owners-secret-not-the-owners-sec"),
        ..Req::new(
            "TrentService.Decrypt",
            serde_json::json!({ "CiphertextBlob": "AAAA" }),
        )
    };
    for _ in 0..FLOOD {
        assert_refused(
            &forged.send(&srv, &a, ATTACKER).await,
            "InvalidSignatureException",
        );
    }
    // The owner is unaffected, and audited as always.
    let r = call(&srv, &a, "Encrypt", encrypt_body(&key)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    terminate(srv);

    let lines = common::audit_lines(dir.path());
    let added = &lines[before..];
    // One refusal recorded in full, one summary, the Encrypt, the closing digest(s): not 300.
    assert!(
        added.len() <= 6,
        "{} records added: {added:#?}",
        added.len()
    );
    let events: Vec<&serde_json::Value> = added
        .iter()
        .filter(|l| l["type"] == "event")
        .map(|l| &l["event"])
        .collect();
    let from_attacker: Vec<&&serde_json::Value> = events
        .iter()
        .filter(|e| e["sourceIPAddress"] == ATTACKER)
        .collect();
    assert_eq!(from_attacker.len(), 2, "{from_attacker:#?}");
    let single = from_attacker
        .iter()
        .find(|e| e["eventName"] == "Decrypt")
        .expect("the first refusal, in full");
    assert_eq!(single["errorCode"], "InvalidSignatureException");
    let summary = from_attacker
        .iter()
        .find(|e| e["eventName"] == "RefusedRequestsSummary")
        .expect("the summary");
    assert_eq!(summary["errorCode"], "InvalidSignatureException");
    assert_eq!(summary["userIdentity"]["type"], "Unknown");
    let p = &summary["requestParameters"];
    assert_eq!(p["refusedRequests"], FLOOD);
    assert_eq!(p["recordedIndividually"], 1);
    assert_eq!(p["errorCodes"]["InvalidSignatureException"], FLOOD);
    assert_eq!(p["accessKeyIds"], serde_json::json!([a.access_key_id]));
    assert_eq!(p["intervalSeconds"], 3600);
    assert!(events.iter().any(|e| e["eventName"] == "Encrypt"));

    // No secret, no plaintext; and the log still verifies, closed by its digest.
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains(&a.secret));
    assert!(!text.contains("not-the-owners-secret"));
    assert!(!text.contains("SECURITY-TEST-PLAINTEXT"));
    let public = std::fs::read_to_string(dir.path().join(coffer::AUDIT_PUBLIC_KEY_FILE)).unwrap();
    let report = coffer::audit_log::verify(
        dir.path().join(coffer::AUDIT_DIR),
        &coffer::audit_log::public_key_from_hex(public.trim()).unwrap(),
    )
    .unwrap();
    assert!(report.closed, "{report:?}");
}
