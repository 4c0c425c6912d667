//! The wire shapes of the asymmetric, key-agreement, encapsulation and key-usage operations.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{context, decode, encode, enumeration, required, unsupported_member, Blob, SecretBlob};
use super::{WireRequest, WireResponse};
use crate::model::*;
use crate::{Error, Operation};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignIn {
    key_id: Option<String>,
    message: Option<SecretBlob>,
    message_type: Option<String>,
    signature: Option<Blob>,
    signing_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

request!(SignRequest, SignIn, |_, i| Ok(SignRequest {
    key_id: required("keyId", i.key_id)?,
    message: required("message", i.message)?.0,
    message_type: enumeration("messageType", i.message_type)?,
    signing_algorithm: Some(required(
        "signingAlgorithm",
        enumeration("signingAlgorithm", i.signing_algorithm)?
    )?),
    grant_tokens: i.grant_tokens.unwrap_or_default(),
    dry_run: i.dry_run.unwrap_or(false),
}));

request!(VerifyRequest, SignIn, |_, i| Ok(VerifyRequest {
    key_id: required("keyId", i.key_id)?,
    message: required("message", i.message)?.0,
    message_type: enumeration("messageType", i.message_type)?,
    signature: required("signature", i.signature)?.0,
    signing_algorithm: Some(required(
        "signingAlgorithm",
        enumeration("signingAlgorithm", i.signing_algorithm)?
    )?),
    grant_tokens: i.grant_tokens.unwrap_or_default(),
    dry_run: i.dry_run.unwrap_or(false),
}));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyWithTokensIn {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
}

request!(GetPublicKeyRequest, KeyWithTokensIn, |_, i| Ok(
    GetPublicKeyRequest {
        key_id: required("keyId", i.key_id)?,
        grant_tokens: i.grant_tokens.unwrap_or_default(),
    }
));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeriveIn {
    key_id: Option<String>,
    key_agreement_algorithm: Option<String>,
    public_key: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    recipient: Option<serde_json::Value>,
}

request!(DeriveSharedSecretRequest, DeriveIn, |op, i| {
    unsupported_member(op, "Recipient", i.recipient.is_some())?;
    Ok(DeriveSharedSecretRequest {
        key_id: required("keyId", i.key_id)?,
        key_agreement_algorithm: Some(required(
            "keyAgreementAlgorithm",
            enumeration("keyAgreementAlgorithm", i.key_agreement_algorithm)?,
        )?),
        public_key: required("publicKey", i.public_key)?.0,
        grant_tokens: i.grant_tokens.unwrap_or_default(),
        dry_run: i.dry_run.unwrap_or(false),
    })
});

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KemIn {
    key_id: Option<String>,
    encapsulation_algorithm: Option<String>,
    shared_secret_ciphertext_blob: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

request!(EncapsulateRequest, KemIn, |_, i| Ok(EncapsulateRequest {
    key_id: required("keyId", i.key_id)?,
    encapsulation_algorithm: Some(required(
        "encapsulationAlgorithm",
        enumeration("encapsulationAlgorithm", i.encapsulation_algorithm)?
    )?),
    grant_tokens: i.grant_tokens.unwrap_or_default(),
    dry_run: i.dry_run.unwrap_or(false),
}));

request!(DecapsulateRequest, KemIn, |_, i| Ok(DecapsulateRequest {
    key_id: required("keyId", i.key_id)?,
    shared_secret_ciphertext_blob: required(
        "sharedSecretCiphertextBlob",
        i.shared_secret_ciphertext_blob
    )?
    .0,
    encapsulation_algorithm: Some(required(
        "encapsulationAlgorithm",
        enumeration("encapsulationAlgorithm", i.encapsulation_algorithm)?
    )?),
    grant_tokens: i.grant_tokens.unwrap_or_default(),
    dry_run: i.dry_run.unwrap_or(false),
}));

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyPairIn {
    key_id: Option<String>,
    key_pair_spec: Option<String>,
    encryption_context: Option<BTreeMap<String, String>>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

request!(GenerateDataKeyPairRequest, KeyPairIn, |op, i| {
    unsupported_member(op, "Recipient", i.recipient.is_some())?;
    Ok(GenerateDataKeyPairRequest {
        key_id: required("keyId", i.key_id)?,
        key_pair_spec: Some(required(
            "keyPairSpec",
            enumeration("keyPairSpec", i.key_pair_spec)?,
        )?),
        encryption_context: context(i.encryption_context),
        grant_tokens: i.grant_tokens.unwrap_or_default(),
        dry_run: i.dry_run.unwrap_or(false),
    })
});

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdOnlyIn {
    key_id: Option<String>,
}

request!(GetKeyLastUsageRequest, KeyIdOnlyIn, |_, i| Ok(
    GetKeyLastUsageRequest {
        key_id: required("keyId", i.key_id)?,
    }
));

responses! {
    SignResponse,
    VerifyResponse,
    GetPublicKeyResponse,
    DeriveSharedSecretResponse => shared_secret,
    EncapsulateResponse => shared_secret,
    DecapsulateResponse => shared_secret,
    GenerateDataKeyPairResponse => private_key_plaintext,
    GenerateDataKeyPairWithoutPlaintextResponse,
    GetKeyLastUsageResponse,
}
