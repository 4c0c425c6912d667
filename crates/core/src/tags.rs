//! The one tag rule set: keys 1–128 characters, values at most 256, the `aws:` prefix reserved
//! (AWS's rules for KMS key tags and IAM principal tags alike).

/// Longest tag key, in characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Why a tag was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// The key is empty or longer than [`MAX_TAG_KEY_CHARS`].
    #[error("tag keys must be 1 to 128 characters long")]
    KeyLength,
    /// The value is longer than [`MAX_TAG_VALUE_CHARS`].
    #[error("tag values must be at most 256 characters long")]
    ValueLength,
    /// The key begins with `aws:` (in any case), which AWS reserves.
    #[error("tag keys beginning with 'aws:' are reserved")]
    Reserved,
}

/// Checks one tag.
///
/// ```
/// use coffer_core::{check_tag, TagError};
/// assert!(check_tag("env", "prod").is_ok());
/// assert_eq!(check_tag("AWS:x", ""), Err(TagError::Reserved));
/// ```
pub fn check_tag(key: &str, value: &str) -> Result<(), TagError> {
    let klen = key.chars().count();
    if klen == 0 || klen > MAX_TAG_KEY_CHARS {
        return Err(TagError::KeyLength);
    }
    if value.chars().count() > MAX_TAG_VALUE_CHARS {
        return Err(TagError::ValueLength);
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(TagError::Reserved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(check_tag("", "v"), Err(TagError::KeyLength));
        assert!(check_tag(&"é".repeat(128), &"é".repeat(256)).is_ok());
        assert_eq!(check_tag(&"k".repeat(129), ""), Err(TagError::KeyLength));
        assert_eq!(check_tag("k", &"v".repeat(257)), Err(TagError::ValueLength));
        assert_eq!(check_tag("aws:x", ""), Err(TagError::Reserved));
        assert_eq!(check_tag("Aws:x", ""), Err(TagError::Reserved));
        assert!(check_tag("awsx", "").is_ok());
        assert!(check_tag("éws:", "").is_ok());
    }
}
