//! coffer in process: create a key, give it an alias, encrypt with a context, decrypt, rotate,
//! decrypt what was made before the rotation, and generate a data key for local encryption.
//!
//! Run: `cargo run -p coffer-examples --example embed`
#![allow(clippy::print_stdout)] // an example talks to its reader

use coffer::model::*;
use coffer::{Caller, EncryptionContext, Kms};

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kms = Kms::builder().region("eu-west-1").build()?;
    let app = Caller::new("arn:aws:iam::111122223333:role/billing-app")?
        .with_identity_policy_json(KMS_ADMIN)?;

    // A key, and an alias the application refers to it by.
    let key = kms
        .create_key(
            &app,
            CreateKeyRequest {
                description: Some("billing records".into()),
                ..Default::default()
            },
        )?
        .key_metadata;
    kms.create_alias(
        &app,
        AliasRequest {
            alias_name: "alias/billing".into(),
            target_key_id: key.key_id.clone(),
        },
    )?;
    println!("created {} as alias/billing", key.arn);

    // Encrypt under the alias, binding a context.
    let mut ctx = EncryptionContext::new();
    ctx.insert("customer", "4711");
    let blob = kms
        .encrypt(
            &app,
            EncryptRequest {
                key_id: "alias/billing".into(),
                plaintext: b"IBAN DE89 3704 0044 0532 0130 00".to_vec().into(),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
        )?
        .ciphertext_blob;
    println!("ciphertext blob: {} bytes", blob.len());

    // Decrypt: the blob names its key; the context must match exactly.
    let plain = kms
        .decrypt(
            &app,
            DecryptRequest {
                ciphertext_blob: blob.clone(),
                encryption_context: ctx.clone(),
                ..Default::default()
            },
        )?
        .plaintext;
    assert_eq!(plain.expose(), b"IBAN DE89 3704 0044 0532 0130 00");
    let wrong = kms.decrypt(
        &app,
        DecryptRequest {
            ciphertext_blob: blob.clone(),
            ..Default::default()
        },
    );
    println!(
        "decrypt without the context: {}",
        wrong.err().map_or("succeeded?!", |e| e.code())
    );

    // Rotate; ciphertext made before still decrypts.
    kms.rotate_key_on_demand(
        &app,
        KeyIdRequest {
            key_id: key.key_id.clone(),
        },
    )?;
    let again = kms.decrypt(
        &app,
        DecryptRequest {
            ciphertext_blob: blob,
            encryption_context: ctx.clone(),
            ..Default::default()
        },
    )?;
    println!(
        "after rotation, the old blob decrypts with material {}",
        again.key_material_id.as_deref().unwrap_or("-")
    );
    // The version that decrypted is the one that was current when the blob was made.
    assert_eq!(
        again.key_material_id.as_deref(),
        key.current_key_material_id.as_deref()
    );

    // A data key: use the plaintext locally, store the wrapped copy beside the data.
    let dk = kms.generate_data_key(
        &app,
        GenerateDataKeyRequest {
            key_id: "alias/billing".into(),
            key_spec: Some(DataKeySpec::Aes256),
            encryption_context: ctx.clone(),
            ..Default::default()
        },
    )?;
    println!(
        "data key: {} bytes in the clear (printed as {:?}), {} bytes wrapped",
        dk.plaintext.len(),
        dk.plaintext,
        dk.ciphertext_blob.len()
    );
    let unwrapped = kms.decrypt(
        &app,
        DecryptRequest {
            ciphertext_blob: dk.ciphertext_blob,
            encryption_context: ctx,
            ..Default::default()
        },
    )?;
    assert_eq!(unwrapped.plaintext.expose(), dk.plaintext.expose());
    println!("the wrapped data key unwraps to the same key");
    Ok(())
}
