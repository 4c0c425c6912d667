//! Input validation shared by operations. Each failure is the exception AWS gives.

use coffer_core::EncryptionContext;
use coffer_keys::Tag;

use crate::Error;

/// Most grant tokens one request may carry.
pub(crate) const MAX_GRANT_TOKENS: usize = 10;
/// Largest description.
pub(crate) const MAX_DESCRIPTION: usize = 8192;
/// Largest Encrypt plaintext.
pub(crate) const MAX_PLAINTEXT: usize = 4096;
/// Largest ciphertext blob accepted.
pub(crate) const MAX_CIPHERTEXT: usize = 6144;
/// Most tags per key.
pub(crate) const MAX_TAGS: usize = 50;

pub(crate) fn field_error(field: &str, constraint: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"
    ))
}

pub(crate) fn grant_tokens(tokens: &[String]) -> Result<(), Error> {
    if tokens.len() > MAX_GRANT_TOKENS {
        return Err(field_error(
            "grantTokens",
            "Member must have length less than or equal to 10",
        ));
    }
    if tokens.iter().any(|t| t.is_empty() || t.len() > 8192) {
        return Err(field_error(
            "grantTokens",
            "Member must have length between 1 and 8192",
        ));
    }
    Ok(())
}

pub(crate) fn context(ctx: &EncryptionContext, field: &str) -> Result<(), Error> {
    ctx.validate().map_err(|_| {
        field_error(
            field,
            "the encryption context must not exceed 8192 bytes of keys and values",
        )
    })
}

pub(crate) fn ciphertext(blob: &[u8]) -> Result<(), Error> {
    if blob.is_empty() || blob.len() > MAX_CIPHERTEXT {
        return Err(field_error(
            "ciphertextBlob",
            "Member must have length between 1 and 6144",
        ));
    }
    Ok(())
}

pub(crate) fn description(d: &str) -> Result<(), Error> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(field_error(
            "description",
            "Member must have length less than or equal to 8192",
        ));
    }
    Ok(())
}

/// Tag rules: at most 50 on a key; keys 1–128 characters, values 0–256, and the `aws:` prefix
/// reserved. Broken rules are `TagException`, as AWS reports them.
pub(crate) fn tags(tags: &[Tag]) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::tag("A key may have at most 50 tags."));
    }
    for t in tags {
        if let Err(e) = coffer_core::check_tag(&t.tag_key, &t.tag_value) {
            // The one rule set (coffer-core), told as AWS words it: a sentence.
            let rule = e.to_string();
            let mut chars = rule.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            return Err(Error::tag(format!(
                "{}{}.",
                first.unwrap_or_default(),
                chars.as_str()
            )));
        }
    }
    Ok(())
}
