//! Grants end to end: use under constraints, tokens, passing grants on, retire and revoke rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may panic

use std::collections::BTreeMap;

use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:role/bob";
const CAROL: &str = "arn:aws:iam::111122223333:role/carol";
const PARTNER: &str = "arn:aws:iam::444455556666:role/partner";
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

struct World {
    kms: Kms,
    alice: Caller,
    key: KeyMetadata,
}

fn world() -> World {
    let kms = Kms::builder()
        .quotas(coffer::QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .build()
        .unwrap();
    let alice = Caller::new(ALICE)
        .unwrap()
        .with_identity_policy_json(KMS_ADMIN)
        .unwrap();
    let key = kms
        .create_key(&alice, CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    World { kms, alice, key }
}

/// A principal with no identity policy: only grants can let it in.
fn bare(arn: &str) -> Caller {
    Caller::new(arn).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl World {
    fn grant(
        &self,
        by: &Caller,
        grantee: &str,
        ops: &[GrantOperation],
        constraints: Option<GrantConstraints>,
    ) -> Result<CreateGrantResponse, coffer::Error> {
        self.kms.create_grant(
            by,
            CreateGrantRequest {
                key_id: self.key.key_id.clone(),
                grantee_principal: grantee.into(),
                operations: ops.to_vec(),
                constraints,
                ..Default::default()
            },
        )
    }

    fn encrypt(&self, who: &Caller, ctx: &[(&str, &str)], tokens: &[String]) -> &'static str {
        let ctx: EncryptionContext = ctx.iter().copied().collect();
        match self.kms.encrypt(
            who,
            EncryptRequest {
                key_id: self.key.arn.clone(),
                plaintext: b"x".to_vec().into(),
                encryption_context: ctx,
                grant_tokens: tokens.to_vec(),
                ..Default::default()
            },
        ) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }
}

#[test]
fn a_grant_lets_its_grantee_do_its_operations_only() {
    let w = world();
    let bob = bare(BOB);
    assert_eq!(w.encrypt(&bob, &[], &[]), "AccessDeniedException");
    let g = w
        .grant(&w.alice, BOB, &[GrantOperation::Encrypt], None)
        .unwrap();
    assert_eq!(g.grant_id.len(), 64);
    // The token works at once (and so does the grant itself).
    assert_eq!(
        w.encrypt(&bob, &[], std::slice::from_ref(&g.grant_token)),
        "ok"
    );
    assert_eq!(w.encrypt(&bob, &[], &[]), "ok");
    // Not for other operations, not for other principals.
    assert_eq!(
        w.kms
            .describe_key(
                &bob,
                DescribeKeyRequest {
                    key_id: w.key.key_id.clone(),
                    ..Default::default()
                }
            )
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    assert_eq!(w.encrypt(&bare(CAROL), &[], &[]), "AccessDeniedException");
    // Cross-account grantees work by key ARN.
    w.grant(&w.alice, PARTNER, &[GrantOperation::Encrypt], None)
        .unwrap();
    assert_eq!(w.encrypt(&bare(PARTNER), &[], &[]), "ok");
}

#[test]
fn constraints_equals_and_subset() {
    let w = world();
    w.grant(
        &w.alice,
        BOB,
        &[GrantOperation::Encrypt],
        Some(GrantConstraints {
            encryption_context_equals: Some(map(&[("tenant", "acme")])),
            ..Default::default()
        }),
    )
    .unwrap();
    let bob = bare(BOB);
    assert_eq!(w.encrypt(&bob, &[("tenant", "acme")], &[]), "ok");
    assert_eq!(
        w.encrypt(&bob, &[("tenant", "acme"), ("x", "y")], &[]),
        "AccessDeniedException"
    );
    assert_eq!(w.encrypt(&bob, &[], &[]), "AccessDeniedException");

    w.grant(
        &w.alice,
        CAROL,
        &[GrantOperation::Encrypt],
        Some(GrantConstraints {
            encryption_context_subset: Some(map(&[("tenant", "acme")])),
            ..Default::default()
        }),
    )
    .unwrap();
    let carol = bare(CAROL);
    assert_eq!(w.encrypt(&carol, &[("tenant", "acme")], &[]), "ok");
    assert_eq!(
        w.encrypt(&carol, &[("tenant", "acme"), ("x", "y")], &[]),
        "ok"
    );
    assert_eq!(
        w.encrypt(&carol, &[("tenant", "globex")], &[]),
        "AccessDeniedException"
    );
    // Constraints on an operation that takes no context, or both kinds: refused.
    for (ops, c) in [
        (
            vec![GrantOperation::Sign],
            GrantConstraints {
                encryption_context_subset: Some(map(&[("a", "b")])),
                ..Default::default()
            },
        ),
        (
            vec![GrantOperation::Decrypt],
            GrantConstraints {
                encryption_context_subset: Some(map(&[("a", "b")])),
                encryption_context_equals: Some(map(&[("a", "b")])),
            },
        ),
    ] {
        assert_eq!(
            w.grant(&w.alice, BOB, &ops, Some(c)).unwrap_err().code(),
            "ValidationException"
        );
    }
}

#[test]
fn forged_tokens_are_refused() {
    let w = world();
    let g = w
        .grant(&w.alice, BOB, &[GrantOperation::Encrypt], None)
        .unwrap();
    let mut forged = g.grant_token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        w.encrypt(&w.alice, &[], &[forged]),
        "InvalidGrantTokenException"
    );
    assert_eq!(
        w.encrypt(&w.alice, &[], &["garbage".into()]),
        "InvalidGrantTokenException"
    );
    assert_eq!(
        w.encrypt(&w.alice, &[], &vec![g.grant_token.clone(); 11]),
        "ValidationException"
    );
}

#[test]
fn a_grantee_cannot_pass_on_more_than_it_has() {
    let w = world();
    w.grant(
        &w.alice,
        BOB,
        &[GrantOperation::Encrypt, GrantOperation::CreateGrant],
        None,
    )
    .unwrap();
    let bob = bare(BOB);
    // Bob may pass on Encrypt…
    w.grant(&bob, CAROL, &[GrantOperation::Encrypt], None)
        .unwrap();
    assert_eq!(w.encrypt(&bare(CAROL), &[], &[]), "ok");
    // …but not Decrypt, which he does not have.
    assert_eq!(
        w.grant(&bob, CAROL, &[GrantOperation::Decrypt], None)
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    // A constrained grant can only be passed on at least as constrained.
    let w2 = world();
    let acme = GrantConstraints {
        encryption_context_subset: Some(map(&[("tenant", "acme")])),
        ..Default::default()
    };
    w2.grant(
        &w2.alice,
        BOB,
        &[GrantOperation::Encrypt, GrantOperation::CreateGrant],
        Some(acme.clone()),
    )
    .unwrap();
    assert_eq!(
        w2.grant(&bob, CAROL, &[GrantOperation::Encrypt], None)
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    w2.grant(&bob, CAROL, &[GrantOperation::Encrypt], Some(acme))
        .unwrap();
}

#[test]
fn explicit_deny_beats_a_grant() {
    let w = world();
    w.grant(&w.alice, BOB, &[GrantOperation::Encrypt], None)
        .unwrap();
    let bob = bare(BOB)
        .with_identity_policy_json(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}"#,
        )
        .unwrap();
    assert_eq!(w.encrypt(&bob, &[], &[]), "AccessDeniedException");
}

#[test]
fn name_makes_create_grant_idempotent_and_listing_shows_grants() {
    let w = world();
    let req = || CreateGrantRequest {
        key_id: w.key.key_id.clone(),
        grantee_principal: BOB.into(),
        retiring_principal: Some(CAROL.into()),
        operations: vec![GrantOperation::Decrypt, GrantOperation::Encrypt],
        name: Some("app-grant".into()),
        ..Default::default()
    };
    let a = w.kms.create_grant(&w.alice, req()).unwrap();
    let b = w.kms.create_grant(&w.alice, req()).unwrap();
    assert_eq!(a.grant_id, b.grant_id);
    let c = w
        .kms
        .create_grant(
            &w.alice,
            CreateGrantRequest {
                operations: vec![GrantOperation::Decrypt],
                ..req()
            },
        )
        .unwrap();
    assert_ne!(a.grant_id, c.grant_id);
    let listed = w
        .kms
        .list_grants(
            &w.alice,
            ListGrantsRequest {
                key_id: w.key.key_id.clone(),
                limit: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(listed.grants.len(), 1);
    assert!(listed.truncated);
    let rest = w
        .kms
        .list_grants(
            &w.alice,
            ListGrantsRequest {
                key_id: w.key.key_id.clone(),
                marker: listed.next_marker.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rest.grants.len(), 1);
    let all: Vec<_> = listed.grants.iter().chain(&rest.grants).collect();
    let first = all.iter().find(|g| g.grant_id == a.grant_id).unwrap();
    assert_eq!(first.key_id, w.key.arn);
    assert_eq!(first.grantee_principal, BOB);
    assert_eq!(first.retiring_principal.as_deref(), Some(CAROL));
    assert_eq!(first.issuing_account, "arn:aws:iam::111122223333:root");
    assert_eq!(first.name.as_deref(), Some("app-grant"));
    assert_eq!(
        first.operations,
        [GrantOperation::Decrypt, GrantOperation::Encrypt]
    );
    let retirable = w
        .kms
        .list_retirable_grants(
            &w.alice,
            ListRetirableGrantsRequest {
                retiring_principal: CAROL.into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(retirable.grants.len(), 2);
}

#[test]
fn retire_and_revoke_rules() {
    let w = world();
    let bob = bare(BOB);
    let carol = bare(CAROL);
    let with_retiree = w
        .kms
        .create_grant(
            &w.alice,
            CreateGrantRequest {
                key_id: w.key.key_id.clone(),
                grantee_principal: BOB.into(),
                retiring_principal: Some(CAROL.into()),
                operations: vec![GrantOperation::Encrypt],
                ..Default::default()
            },
        )
        .unwrap();
    // The grantee may not retire a grant that does not allow RetireGrant.
    let by_id = |who: &Caller, id: &str| {
        w.kms.retire_grant(
            who,
            RetireGrantRequest {
                key_id: Some(w.key.arn.clone()),
                grant_id: Some(id.into()),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        by_id(&bob, &with_retiree.grant_id).unwrap_err().code(),
        "AccessDeniedException"
    );
    assert_eq!(w.encrypt(&bob, &[], &[]), "ok");
    // The retiring principal may, by token; the grant stops working at once.
    w.kms
        .retire_grant(
            &carol,
            RetireGrantRequest {
                grant_token: Some(with_retiree.grant_token.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(w.encrypt(&bob, &[], &[]), "AccessDeniedException");
    assert_eq!(
        by_id(&carol, &with_retiree.grant_id).unwrap_err().code(),
        "NotFoundException"
    );

    // A grant that allows RetireGrant may be retired by its grantee.
    let self_retire = w
        .grant(
            &w.alice,
            BOB,
            &[GrantOperation::Encrypt, GrantOperation::RetireGrant],
            None,
        )
        .unwrap();
    by_id(&bob, &self_retire.grant_id).unwrap();

    // The account root that created a grant may retire it.
    let g = w
        .grant(&w.alice, BOB, &[GrantOperation::Encrypt], None)
        .unwrap();
    let root = Caller::account_root("111122223333".parse().unwrap());
    by_id(&root, &g.grant_id).unwrap();

    // Revoke needs kms:RevokeGrant on the key: Alice has it, Bob does not.
    let g = w
        .grant(&w.alice, BOB, &[GrantOperation::Encrypt], None)
        .unwrap();
    let revoke = |who: &Caller, id: &str| {
        w.kms.revoke_grant(
            who,
            RevokeGrantRequest {
                key_id: w.key.key_id.clone(),
                grant_id: id.into(),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        revoke(&bob, &g.grant_id).unwrap_err().code(),
        "AccessDeniedException"
    );
    assert_eq!(w.encrypt(&bob, &[], &[]), "ok");
    revoke(&w.alice, &g.grant_id).unwrap();
    assert_eq!(w.encrypt(&bob, &[], &[]), "AccessDeniedException");
    assert_eq!(
        revoke(&w.alice, &g.grant_id).unwrap_err().code(),
        "NotFoundException"
    );
    assert_eq!(
        revoke(&w.alice, "").unwrap_err().code(),
        "InvalidGrantIdException"
    );
}

#[test]
fn grants_need_a_usable_key() {
    let w = world();
    w.kms
        .disable_key(
            &w.alice,
            KeyIdRequest {
                key_id: w.key.key_id.clone(),
            },
        )
        .unwrap();
    assert_eq!(
        w.grant(&w.alice, BOB, &[GrantOperation::Encrypt], None)
            .unwrap_err()
            .code(),
        "DisabledException"
    );
}
