use std::fmt;
use std::str::FromStr;

use coffer_crypto::RandomSource;

use crate::CoreError;

/// A 12-digit account id, the unit of ownership and quota.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId([u8; 12]);

impl AccountId {
    /// Parses a 12-digit account id.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let b = s.as_bytes();
        if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
            return Err(CoreError::InvalidAccountId);
        }
        let mut a = [0u8; 12];
        a.copy_from_slice(b);
        Ok(Self(a))
    }

    /// The id's 12 ASCII digits, without the UTF-8 check [`as_str`](Self::as_str) makes.
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("000000000000")
    }
}

impl FromStr for AccountId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Self::parse(s)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.as_str())
    }
}

/// A region name such as `us-east-1`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// Parses a region name: 1–32 characters of `a-z`, `0-9` and `-`.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    /// Checks a region name by [`parse`](Self::parse)'s rules without keeping it.
    pub fn check(s: &str) -> Result<(), CoreError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if ok {
            Ok(())
        } else {
            Err(CoreError::InvalidRegion)
        }
    }

    /// The region name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.0)
    }
}

/// A key id: a random (version 4) UUID, or a multi-Region key id, `mrk-` and 32 lowercase hex
/// digits.
///
/// Both are 16 bytes wherever they are stored or bound (ciphertext blobs, store rows, wrapping
/// bindings). An ordinary id's bytes are its UUID's, exactly as before multi-Region keys existed.
/// A multi-Region id's bytes carry a mark no UUID coffer makes has: the top three bits of byte 8
/// (the UUID variant field) are `111`, the variant RFC 9562 reserves for future definition, while
/// coffer's version 4 UUIDs have the variant `10`. So [`KeyId::from_bytes`] is total and tells
/// the two kinds apart, and an old blob or database row reads back as the same id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(uuid::Uuid);

thread_local! {
    /// This thread's last key id parsed from 36 bytes of text, and that text.
    static LAST_PARSED: std::cell::Cell<Option<(Text36, KeyId)>> =
        const { std::cell::Cell::new(None) };
}

/// 36 bytes of text in three words, compared word by word (a `[u8; 36]` compares by a call to
/// `memcmp`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Text36(u128, u128, u32);

impl Text36 {
    #[inline]
    fn of(s: &str) -> Option<Text36> {
        let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
        let mut w = [0u8; 16];
        let mut x = [0u8; 16];
        let mut y = [0u8; 4];
        w.copy_from_slice(&b[..16]);
        x.copy_from_slice(&b[16..32]);
        y.copy_from_slice(&b[32..]);
        Some(Text36(
            u128::from_le_bytes(w),
            u128::from_le_bytes(x),
            u32::from_le_bytes(y),
        ))
    }
}

/// The prefix of a multi-Region key id.
pub const MRK_PREFIX: &str = "mrk-";
/// Byte 8's top three bits marking a multi-Region key id.
const MRK_MARK: u8 = 0b1110_0000;

impl KeyId {
    /// A fresh random key id.
    pub fn generate(rng: &dyn RandomSource) -> Result<Self, CoreError> {
        let mut b = [0u8; 16];
        rng.fill(&mut b).map_err(CoreError::Random)?;
        Ok(Self(uuid::Builder::from_random_bytes(b).into_uuid()))
    }

    /// A fresh random multi-Region key id (`mrk-…`): 125 random bits and the mark.
    pub fn generate_multi_region(rng: &dyn RandomSource) -> Result<Self, CoreError> {
        let mut b = [0u8; 16];
        rng.fill(&mut b).map_err(CoreError::Random)?;
        b[8] |= MRK_MARK;
        Ok(Self(uuid::Uuid::from_bytes(b)))
    }

    /// Whether this is a multi-Region key id.
    pub fn is_multi_region(&self) -> bool {
        self.0.as_bytes()[8] & MRK_MARK == MRK_MARK
    }

    /// Parses the hyphenated UUID form (case-insensitive, as AWS accepts) or the multi-Region
    /// form `mrk-` + 32 hex digits. A string of either form whose bytes are not of its kind
    /// (a UUID with the reserved variant `111`, an `mrk-` id without it) names no key coffer
    /// can have and is refused.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        // Every facade call names its key by this text, most often the same text as the
        // thread's call before: this thread's last id parsed from 36 bytes is compared, not
        // parsed again (~15 instructions against ~140). Only a successful parse is kept, and
        // only the same bytes find it, so the answer is the parse's.
        let Some(text) = Text36::of(s) else {
            return Self::parse_text(s);
        };
        if let Ok(Some((_, id))) = LAST_PARSED.try_with(|last| last.get().filter(|l| l.0 == text)) {
            return Ok(id);
        }
        let id = Self::parse_text(s)?;
        let _ = LAST_PARSED.try_with(|last| last.set(Some((text, id))));
        Ok(id)
    }

    fn parse_text(s: &str) -> Result<Self, CoreError> {
        if let Some(hex) = s.strip_prefix(MRK_PREFIX) {
            let ok = hex.len() == 32 && hex.bytes().all(|c| c.is_ascii_hexdigit());
            let id = ok
                .then(|| uuid::Uuid::try_parse(hex).ok())
                .flatten()
                .map(Self)
                .ok_or(CoreError::InvalidKeyId)?;
            return if id.is_multi_region() {
                Ok(id)
            } else {
                Err(CoreError::InvalidKeyId)
            };
        }
        if s.len() != 36 {
            return Err(CoreError::InvalidKeyId);
        }
        let id = uuid::Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| CoreError::InvalidKeyId)?;
        if id.is_multi_region() {
            return Err(CoreError::InvalidKeyId);
        }
        Ok(id)
    }

    /// The 16 raw bytes (as they appear in ciphertext blobs).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// A key id from its 16 raw bytes (either kind; see the type's documentation).
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(b))
    }
}

impl FromStr for KeyId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Self::parse(s)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_multi_region() {
            write!(f, "{MRK_PREFIX}{}", self.0.simple())
        } else {
            fmt::Display::fmt(&self.0.hyphenated(), f)
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::SystemRandom;

    #[test]
    fn account_ids() {
        assert!(AccountId::parse("111122223333").is_ok());
        for bad in [
            "",
            "11112222333",
            "1111222233334",
            "11112222333a",
            "١١١١٢٢٢٢٣٣٣٣",
        ] {
            assert_eq!(
                AccountId::parse(bad),
                Err(CoreError::InvalidAccountId),
                "{bad}"
            );
        }
        assert_eq!(
            AccountId::parse("012345678901").unwrap().to_string(),
            "012345678901"
        );
    }

    #[test]
    fn key_ids_round_trip() {
        let id = KeyId::generate(&SystemRandom::new()).unwrap();
        let s = id.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(KeyId::parse(&s).unwrap(), id);
        assert_eq!(KeyId::parse(&s.to_uppercase()).unwrap(), id);
        assert_eq!(KeyId::from_bytes(*id.as_bytes()), id);
        assert!(KeyId::parse("1234abcd12ab34cd56ef1234567890ab").is_err());
        assert!(KeyId::parse("not-a-key").is_err());
    }

    #[test]
    fn multi_region_ids_round_trip_and_keep_ordinary_ids_as_they_were() {
        let rng = SystemRandom::new();
        for _ in 0..64 {
            let id = KeyId::generate_multi_region(&rng).unwrap();
            let s = id.to_string();
            assert!(s.starts_with("mrk-") && s.len() == 36, "{s}");
            assert_eq!(s, s.to_lowercase());
            assert!(id.is_multi_region());
            assert_eq!(KeyId::parse(&s).unwrap(), id);
            assert_eq!(
                KeyId::parse(&s.to_uppercase().replace("MRK-", "mrk-")).unwrap(),
                id
            );
            assert_eq!(KeyId::from_bytes(*id.as_bytes()), id);
            assert_eq!(KeyId::from_bytes(*id.as_bytes()).to_string(), s);
            let ordinary = KeyId::generate(&rng).unwrap();
            assert!(!ordinary.is_multi_region());
        }
        // An id written before multi-Region keys existed: the same 16 bytes, the same text.
        let old = "5a95d187-41c0-4649-b8d3-a39612416e08";
        let id = KeyId::parse(old).unwrap();
        assert!(!id.is_multi_region());
        assert_eq!(
            id.as_bytes(),
            &[
                0x5a, 0x95, 0xd1, 0x87, 0x41, 0xc0, 0x46, 0x49, 0xb8, 0xd3, 0xa3, 0x96, 0x12, 0x41,
                0x6e, 0x08
            ]
        );
        assert_eq!(KeyId::from_bytes(*id.as_bytes()).to_string(), old);
        // Forms that name no key coffer can have.
        for bad in [
            "mrk-1234abcd12ab34cd56ef1234567890ab", // no mark: not an id coffer makes
            "mrk-1234abcd12ab34cde6ef1234567890a",  // 31 digits
            "mrk-1234abcd12ab34cde6ef1234567890ag",
            "mrk-1234abcd-12ab-34cd-e6ef-1234567890",
            "1234abcd-12ab-34cd-e6ef-1234567890ab", // a UUID with the reserved variant
            "mrk-",
        ] {
            assert_eq!(KeyId::parse(bad), Err(CoreError::InvalidKeyId), "{bad}");
        }
        let marked = KeyId::parse("mrk-1234abcd12ab34cde6ef1234567890ab").unwrap();
        assert_eq!(marked.to_string(), "mrk-1234abcd12ab34cde6ef1234567890ab");
        assert_eq!(
            format!("{marked:?}"),
            "KeyId(mrk-1234abcd12ab34cde6ef1234567890ab)"
        );
    }

    proptest::proptest! {
        /// Whatever this thread parsed before, `parse` answers as the parser does: the same
        /// text again, the same id in other text (upper case), other ids, text that is no id
        /// (36 zero bytes among them), in any order.
        #[test]
        fn the_last_parsed_id_changes_no_answer(picks in proptest::collection::vec(0usize..8, 1..40)) {
            let rng = SystemRandom::new();
            let a = KeyId::generate(&rng).unwrap().to_string();
            let b = KeyId::generate(&rng).unwrap().to_string();
            let m = KeyId::generate_multi_region(&rng).unwrap().to_string();
            let texts = [
                a.clone(),
                a.to_uppercase(),
                b.clone(),
                m,
                "\0".repeat(36),
                format!("{}g", &a[..35]),
                "1234abcd-12ab-34cd-e6ef-1234567890ab".to_owned(),
                b[..32].to_owned(),
            ];
            for i in picks {
                let t = &texts[i];
                proptest::prop_assert_eq!(KeyId::parse(t), KeyId::parse_text(t), "{:?}", t);
            }
        }
    }

    #[test]
    fn regions() {
        assert!(Region::parse("eu-west-3").is_ok());
        assert!(Region::parse("").is_err());
        assert!(Region::parse("US-EAST-1").is_err());
        assert!(Region::parse("us:east").is_err());
    }
}

macro_rules! serde_as_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_str!(AccountId);
serde_as_str!(Region);
serde_as_str!(KeyId);
