//! ECDSA P-384 / SHA-384 signatures of suite 0x0578: the signer's public key travels in the
//! encryption context under `aws-crypto-public-key` as a base64 compressed point (49 bytes);
//! the footer is signature length (2) ‖ DER signature over header, header tag and body.

use base64::Engine as _;
use coffer_core::EncryptionContext;
use p384::elliptic_curve::sec1::ToSec1Point as _;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};

use super::error::{EsdkError, EsdkMalformed};

/// The context key of the signing public key.
pub const PUBLIC_KEY_CONTEXT_KEY: &str = "aws-crypto-public-key";
/// The longest DER ECDSA P-384 signature.
pub(crate) const MAX_SIGNATURE_LEN: usize = 104;
const COMPRESSED_LEN: usize = 49;

/// The compressed point of the signing key named in `ctx`.
pub(crate) fn public_key_bytes(ctx: &EncryptionContext) -> Result<Vec<u8>, EsdkError> {
    let b64 = ctx
        .get(PUBLIC_KEY_CONTEXT_KEY)
        .ok_or(EsdkMalformed::PublicKey)?;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| EsdkMalformed::PublicKey)?;
    if compressed.len() != COMPRESSED_LEN || !matches!(compressed[0], 0x02 | 0x03) {
        return Err(EsdkMalformed::PublicKey.into());
    }
    Ok(compressed)
}

/// A verifier for the key named in a message's context.
pub(crate) struct Verifier {
    uncompressed: Vec<u8>,
}

impl Verifier {
    pub(crate) fn from_context(ctx: &EncryptionContext) -> Result<Self, EsdkError> {
        let compressed = public_key_bytes(ctx)?;
        let point =
            p384::PublicKey::from_sec1_bytes(&compressed).map_err(|_| EsdkMalformed::PublicKey)?;
        Ok(Self {
            uncompressed: point.to_sec1_point(false).as_bytes().to_vec(),
        })
    }

    pub(crate) fn verify(&self, signed: &[u8], sig: &[u8]) -> Result<(), EsdkError> {
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_ASN1, &self.uncompressed)
            .verify(signed, sig)
            .map_err(|_| EsdkError::Signature)
    }
}

/// A fresh signing key for one message.
pub(crate) struct Signer {
    pair: EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl Signer {
    pub(crate) fn generate() -> Result<Self, EsdkError> {
        // The signing key is secret: it comes from the operating system, never from the
        // (possibly deterministic, test) random source of the options.
        let rng = ring::rand::SystemRandom::new();
        let alg = &signature::ECDSA_P384_SHA384_ASN1_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| EsdkError::Crypto)?;
        let pair =
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|_| EsdkError::Crypto)?;
        Ok(Self { pair, rng })
    }

    /// The compressed public point in base64, for the context.
    pub(crate) fn public_key_base64(&self) -> String {
        let raw = self.pair.public_key().as_ref();
        // raw = 0x04 ‖ X (48) ‖ Y (48).
        let mut compressed = Vec::with_capacity(COMPRESSED_LEN);
        compressed.push(0x02 | (raw[raw.len() - 1] & 1));
        compressed.extend_from_slice(&raw[1..COMPRESSED_LEN]);
        base64::engine::general_purpose::STANDARD.encode(compressed)
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, EsdkError> {
        let sig = self
            .pair
            .sign(&self.rng, msg)
            .map_err(|_| EsdkError::Crypto)?;
        Ok(sig.as_ref().to_vec())
    }
}
