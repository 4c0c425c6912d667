//! Each command: its request to the service, and what it prints.

use std::io::{IsTerminal, Read, Write};

use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    EncryptionAlgorithmSpec, GrantConstraints, GrantOperation, KeySpec, KeyUsageType, OriginType,
    Tag,
};
use aws_sdk_kms::Client;
use base64::Engine as _;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::cli::{AliasCmd, DecryptArgs, EncryptArgs, GrantCmd, KeyCmd, Output, PolicyCmd, TagCmd};
use crate::failure::Failure;
use crate::output::{self, emit, emit_json, fields, table, Obj};

/// The most plaintext KMS Encrypt takes.
pub(crate) const MAX_PLAINTEXT: usize = 4096;
/// The most ciphertext `decrypt` reads (KMS ciphertexts are at most 6144 bytes).
pub(crate) const MAX_CIPHERTEXT: usize = 64 * 1024;

/// The largest key policy KMS takes.
pub(crate) const MAX_POLICY: usize = 32 * 1024;

/// The order of a key's fields in its table.
const KEY_FIELDS: &[&str] = &[
    "KeyId",
    "Arn",
    "Description",
    "KeyState",
    "Enabled",
    "KeySpec",
    "KeyUsage",
    "Origin",
    "KeyManager",
    "CreationDate",
    "DeletionDate",
    "PendingDeletionWindowInDays",
];

/// A client for the endpoint, region and credentials of the flags, the AWS environment
/// variables and the shared config files, as the aws CLI reads them.
pub(crate) async fn client(g: &crate::cli::Global) -> Result<Client, Failure> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &g.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &g.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &g.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        return Err(Failure::Usage(
            "no region: give --region, or set AWS_REGION or a profile's region".into(),
        ));
    }
    Ok(Client::new(&conf))
}

/// Prints a value as JSON, or as a table made by `tab`.
fn show(out: Output, v: &Value, tab: impl FnOnce(&Value) -> String) -> Result<(), Failure> {
    match out {
        Output::Json => emit_json(v),
        Output::Table => emit(&tab(v)),
    }
}

fn show_key(out: Output, meta: Option<&aws_sdk_kms::types::KeyMetadata>) -> Result<(), Failure> {
    let m = meta.map(output::key_metadata).unwrap_or(Value::Null);
    show(out, &Obj::new().v("KeyMetadata", m).done(), |v| {
        fields(&v["KeyMetadata"], KEY_FIELDS)
    })
}

pub(crate) async fn key(c: &Client, out: Output, cmd: KeyCmd) -> Result<(), Failure> {
    match cmd {
        KeyCmd::Create {
            spec,
            usage,
            description,
            tags,
            origin,
        } => {
            let r = c
                .create_key()
                .set_key_spec(spec.map(|s| KeySpec::from(s.as_str())))
                .set_key_usage(usage.map(|s| KeyUsageType::from(s.as_str())))
                .set_description(description)
                .set_origin(origin.map(|s| OriginType::from(s.as_str())))
                .set_tags(tags_of(tags)?)
                .send()
                .await?;
            show_key(out, r.key_metadata())
        }
        KeyCmd::Describe { key } => {
            let r = c.describe_key().key_id(key).send().await?;
            show_key(out, r.key_metadata())
        }
        KeyCmd::List => {
            let keys: Vec<Value> = c
                .list_keys()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await?
                .iter()
                .map(output::key_list_entry)
                .collect();
            show(out, &Obj::new().v("Keys", keys.into()).done(), |v| {
                table(
                    as_items(&v["Keys"]),
                    &[("KEY ID", "KeyId"), ("ARN", "KeyArn")],
                )
            })
        }
        KeyCmd::Enable { key } => {
            c.enable_key().key_id(key).send().await?;
            Ok(())
        }
        KeyCmd::Disable { key } => {
            c.disable_key().key_id(key).send().await?;
            Ok(())
        }
        KeyCmd::ScheduleDeletion { key, days } => {
            let r = c
                .schedule_key_deletion()
                .key_id(key)
                .set_pending_window_in_days(days)
                .send()
                .await?;
            let v = Obj::new()
                .s("KeyId", r.key_id())
                .t("DeletionDate", r.deletion_date())
                .s("KeyState", r.key_state().map(|x| x.as_str()))
                .i("PendingWindowInDays", r.pending_window_in_days())
                .done();
            show(out, &v, |v| {
                fields(v, &["KeyId", "KeyState", "DeletionDate"])
            })
        }
        KeyCmd::CancelDeletion { key } => {
            let r = c.cancel_key_deletion().key_id(key).send().await?;
            let v = Obj::new().s("KeyId", r.key_id()).done();
            show(out, &v, |v| fields(v, &[]))
        }
        KeyCmd::Rotate { key } => {
            let r = c.rotate_key_on_demand().key_id(key).send().await?;
            let v = Obj::new().s("KeyId", r.key_id()).done();
            show(out, &v, |v| fields(v, &[]))
        }
        KeyCmd::Rotations { key } => {
            let items: Vec<Value> = c
                .list_key_rotations()
                .key_id(key)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await?
                .iter()
                .map(output::rotation)
                .collect();
            show(out, &Obj::new().v("Rotations", items.into()).done(), |v| {
                table(
                    as_items(&v["Rotations"]),
                    &[
                        ("ROTATION DATE", "RotationDate"),
                        ("TYPE", "RotationType"),
                        ("KEY MATERIAL ID", "KeyMaterialId"),
                    ],
                )
            })
        }
    }
}

pub(crate) async fn alias(c: &Client, out: Output, cmd: AliasCmd) -> Result<(), Failure> {
    match cmd {
        AliasCmd::Create { alias, key } => {
            c.create_alias()
                .alias_name(alias)
                .target_key_id(key)
                .send()
                .await?;
        }
        AliasCmd::Update { alias, key } => {
            c.update_alias()
                .alias_name(alias)
                .target_key_id(key)
                .send()
                .await?;
        }
        AliasCmd::Delete { alias } => {
            c.delete_alias().alias_name(alias).send().await?;
        }
        AliasCmd::List { key } => {
            let items: Vec<Value> = c
                .list_aliases()
                .set_key_id(key)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await?
                .iter()
                .map(output::alias_list_entry)
                .collect();
            show(out, &Obj::new().v("Aliases", items.into()).done(), |v| {
                table(
                    as_items(&v["Aliases"]),
                    &[("ALIAS", "AliasName"), ("TARGET KEY ID", "TargetKeyId")],
                )
            })?;
        }
    }
    Ok(())
}

pub(crate) async fn tag(c: &Client, out: Output, cmd: TagCmd) -> Result<(), Failure> {
    match cmd {
        TagCmd::Add { key, tags } => {
            c.tag_resource()
                .key_id(key)
                .set_tags(tags_of(tags)?)
                .send()
                .await?;
        }
        TagCmd::Remove { key, tag_keys } => {
            c.untag_resource()
                .key_id(key)
                .set_tag_keys(Some(tag_keys))
                .send()
                .await?;
        }
        TagCmd::List { key } => {
            let items: Vec<Value> = c
                .list_resource_tags()
                .key_id(key)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await?
                .iter()
                .map(output::tag)
                .collect();
            show(out, &Obj::new().v("Tags", items.into()).done(), |v| {
                table(
                    as_items(&v["Tags"]),
                    &[("KEY", "TagKey"), ("VALUE", "TagValue")],
                )
            })?;
        }
    }
    Ok(())
}

/// Checks that `text` is a JSON policy document with a Statement.
pub(crate) fn check_policy(text: &str) -> Result<(), Failure> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Failure::Usage(format!("the policy is not JSON: {e}")))?;
    match v.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => Ok(()),
        Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(Failure::Usage(
            "the policy's Statement must be a statement object or a non-empty list of them".into(),
        )),
        None if v.is_object() => Err(Failure::Usage("the policy has no Statement".into())),
        None => Err(Failure::Usage("the policy is not a JSON object".into())),
    }
}

/// The policy document `put` sends, read from `file` (`-`: stdin) and checked.
pub(crate) fn read_policy(file: &str) -> Result<String, Failure> {
    let bytes = read_input(file, MAX_POLICY + 1, "the policy")?;
    if bytes.len() > MAX_POLICY {
        return Err(Failure::Usage(format!(
            "the policy is over {MAX_POLICY} bytes, the most KMS takes"
        )));
    }
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Failure::Usage("the policy is not UTF-8".into()))?;
    check_policy(&text)?;
    Ok(text)
}

/// `policy get`, and `policy put` of the checked document `text` (from [`read_policy`]).
pub(crate) async fn policy(
    c: &Client,
    out: Output,
    cmd: PolicyCmd,
    text: String,
) -> Result<(), Failure> {
    match cmd {
        PolicyCmd::Get { key, name } => {
            let r = c
                .get_key_policy()
                .key_id(key)
                .policy_name(name)
                .send()
                .await?;
            let v = Obj::new()
                .s("Policy", r.policy())
                .s("PolicyName", r.policy_name())
                .done();
            show(out, &v, |v| {
                let text = v["Policy"].as_str().unwrap_or_default();
                match serde_json::from_str::<Value>(text) {
                    Ok(doc) => format!(
                        "{}\n",
                        serde_json::to_string_pretty(&doc).unwrap_or_default()
                    ),
                    Err(_) => format!("{text}\n"),
                }
            })
        }
        PolicyCmd::Put {
            key,
            name,
            bypass_policy_lockout_safety_check,
            ..
        } => {
            c.put_key_policy()
                .key_id(key)
                .policy_name(name)
                .policy(text)
                .bypass_policy_lockout_safety_check(bypass_policy_lockout_safety_check)
                .send()
                .await?;
            Ok(())
        }
    }
}

pub(crate) async fn grant(c: &Client, out: Output, cmd: GrantCmd) -> Result<(), Failure> {
    match cmd {
        GrantCmd::Create {
            key,
            grantee,
            operations,
            retiring_principal,
            name,
            context_subset,
            context_equals,
        } => {
            let constraints = if context_subset.is_empty() && context_equals.is_empty() {
                None
            } else {
                Some(
                    GrantConstraints::builder()
                        .set_encryption_context_subset(map_of(context_subset))
                        .set_encryption_context_equals(map_of(context_equals))
                        .build(),
                )
            };
            let r = c
                .create_grant()
                .key_id(key)
                .grantee_principal(grantee)
                .set_operations(Some(
                    operations
                        .iter()
                        .map(|o| GrantOperation::from(o.as_str()))
                        .collect(),
                ))
                .set_retiring_principal(retiring_principal)
                .set_name(name)
                .set_constraints(constraints)
                .send()
                .await?;
            let v = Obj::new()
                .s("GrantToken", r.grant_token())
                .s("GrantId", r.grant_id())
                .done();
            show(out, &v, |v| fields(v, &["GrantId", "GrantToken"]))
        }
        GrantCmd::List { key } => {
            let items: Vec<Value> = c
                .list_grants()
                .key_id(key)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await?
                .iter()
                .map(output::grant_list_entry)
                .collect();
            show(out, &Obj::new().v("Grants", items.into()).done(), |v| {
                table(
                    as_items(&v["Grants"]),
                    &[
                        ("GRANT ID", "GrantId"),
                        ("NAME", "Name"),
                        ("GRANTEE", "GranteePrincipal"),
                        ("OPERATIONS", "Operations"),
                    ],
                )
            })
        }
        GrantCmd::Retire {
            key,
            grant_id,
            grant_token,
        } => {
            c.retire_grant()
                .set_key_id(key)
                .set_grant_id(grant_id)
                .set_grant_token(grant_token)
                .send()
                .await?;
            Ok(())
        }
        GrantCmd::Revoke { key, grant_id } => {
            c.revoke_grant()
                .key_id(key)
                .grant_id(grant_id)
                .send()
                .await?;
            Ok(())
        }
    }
}

/// Checks done before anything is read or sent: binary ciphertext is not written to a
/// terminal.
pub(crate) fn check_encrypt(a: &EncryptArgs, out: Output) -> Result<(), Failure> {
    if a.out == "-" && out == Output::Table && std::io::stdout().is_terminal() {
        return Err(Failure::Usage(
            "refusing to write binary ciphertext to a terminal: give -o FILE, redirect stdout, \
             or use --output json (base64)"
                .into(),
        ));
    }
    Ok(())
}

/// The plaintext `encrypt` sends: at most [`MAX_PLAINTEXT`] bytes.
pub(crate) fn read_plaintext(a: &EncryptArgs) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let plaintext = read_input(&a.input, MAX_PLAINTEXT + 1, "the plaintext")?;
    if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
        return Err(Failure::Usage(format!(
            "the plaintext is {}: KMS Encrypt takes 1 to {MAX_PLAINTEXT} bytes",
            if plaintext.is_empty() {
                "empty"
            } else {
                "longer"
            }
        )));
    }
    Ok(plaintext)
}

/// `encrypt` of `plaintext` (from [`read_plaintext`]).
pub(crate) async fn encrypt(
    c: &Client,
    out: Output,
    a: EncryptArgs,
    plaintext: &[u8],
) -> Result<(), Failure> {
    let r = c
        .encrypt()
        .key_id(a.key)
        .plaintext(Blob::new(plaintext.to_vec()))
        .set_encryption_context(map_of(a.context))
        .set_encryption_algorithm(
            a.algorithm
                .map(|s| EncryptionAlgorithmSpec::from(s.as_str())),
        )
        .send()
        .await?;
    let blob = r.ciphertext_blob().map(Blob::as_ref).unwrap_or_default();
    match out {
        Output::Table => write_output(&a.out, blob, false),
        Output::Json => {
            if a.out != "-" {
                write_output(&a.out, blob, false)?;
            }
            let v = Obj::new()
                .s(
                    "CiphertextBlob",
                    Some(&base64::engine::general_purpose::STANDARD.encode(blob)),
                )
                .s("KeyId", r.key_id())
                .s(
                    "EncryptionAlgorithm",
                    r.encryption_algorithm().map(|x| x.as_str()),
                )
                .done();
            emit_json(&v)
        }
    }
}

/// Checks done before anything is read or sent: JSON never carries the plaintext.
pub(crate) fn check_decrypt(a: &DecryptArgs, out: Output) -> Result<(), Failure> {
    if out == Output::Json && a.out == "-" {
        return Err(Failure::Usage(
            "decrypt --output json needs -o FILE: the plaintext is never written into JSON".into(),
        ));
    }
    Ok(())
}

/// The ciphertext `decrypt` sends: at most [`MAX_CIPHERTEXT`] bytes.
pub(crate) fn read_ciphertext(a: &DecryptArgs) -> Result<Vec<u8>, Failure> {
    let ciphertext = read_input(&a.input, MAX_CIPHERTEXT + 1, "the ciphertext")?;
    if ciphertext.len() > MAX_CIPHERTEXT {
        return Err(Failure::Usage(format!(
            "the input is over {MAX_CIPHERTEXT} bytes: not a KMS ciphertext"
        )));
    }
    Ok(ciphertext.to_vec())
}

/// `decrypt` of `ciphertext` (from [`read_ciphertext`]).
pub(crate) async fn decrypt(
    c: &Client,
    out: Output,
    a: DecryptArgs,
    ciphertext: Vec<u8>,
) -> Result<(), Failure> {
    let r = c
        .decrypt()
        .set_key_id(a.key)
        .ciphertext_blob(Blob::new(ciphertext))
        .set_encryption_context(map_of(a.context))
        .set_encryption_algorithm(
            a.algorithm
                .map(|s| EncryptionAlgorithmSpec::from(s.as_str())),
        )
        .send()
        .await?;
    let key_id = r.key_id().map(str::to_owned);
    let alg = r.encryption_algorithm().map(|x| x.as_str().to_owned());
    let material = r.key_material_id().map(str::to_owned);
    let plaintext = Zeroizing::new(r.plaintext.map(Blob::into_inner).unwrap_or_default());
    write_output(&a.out, &plaintext, true)?;
    if out == Output::Json {
        let v = Obj::new()
            .s("KeyId", key_id.as_deref())
            .s("EncryptionAlgorithm", alg.as_deref())
            .s("KeyMaterialId", material.as_deref())
            .done();
        emit_json(&v)?;
    }
    Ok(())
}

/// At most `limit` bytes of `path` (`-`: stdin).
fn read_input(path: &str, limit: usize, what: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut buf = Zeroizing::new(Vec::new());
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let r = if path == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    let name = if path == "-" { "stdin" } else { path };
    r.map_err(|e| Failure::io(&format!("reading {what} from {name}"), &e))?;
    Ok(buf)
}

/// Writes `bytes` to `path` (`-`: stdout); a file is created or truncated, mode 0600 when
/// `secret`.
fn write_output(path: &str, bytes: &[u8], secret: bool) -> Result<(), Failure> {
    let r = if path == "-" {
        let mut o = std::io::stdout().lock();
        o.write_all(bytes).and_then(|()| o.flush())
    } else {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        opts.open(path).and_then(|mut f| f.write_all(bytes))
    };
    let name = if path == "-" { "stdout" } else { path };
    r.map_err(|e| Failure::io(&format!("writing {name}"), &e))
}

fn tags_of(tags: Vec<(String, String)>) -> Result<Option<Vec<Tag>>, Failure> {
    if tags.is_empty() {
        return Ok(None);
    }
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| Failure::Usage(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn map_of(pairs: Vec<(String, String)>) -> Option<std::collections::HashMap<String, String>> {
    if pairs.is_empty() {
        None
    } else {
        Some(pairs.into_iter().collect())
    }
}

fn as_items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_checked() {
        assert!(
            check_policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}"#).is_ok()
        );
        assert!(check_policy(r#"{"Statement":{"Effect":"Allow"}}"#).is_ok());
        for bad in [
            "",
            "nope",
            "[]",
            "{}",
            r#"{"Statement":[]}"#,
            r#"{"Statement":"x"}"#,
        ] {
            let e = check_policy(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }
}
