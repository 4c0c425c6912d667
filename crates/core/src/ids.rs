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
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if ok {
            Ok(Self(s.to_owned()))
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

/// A key id: a random (version 4) UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(uuid::Uuid);

impl KeyId {
    /// A fresh random key id.
    pub fn generate(rng: &dyn RandomSource) -> Result<Self, CoreError> {
        let mut b = [0u8; 16];
        rng.fill(&mut b).map_err(CoreError::Random)?;
        Ok(Self(uuid::Builder::from_random_bytes(b).into_uuid()))
    }

    /// Parses the hyphenated form (case-insensitive, as AWS accepts).
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        if s.len() != 36 {
            return Err(CoreError::InvalidKeyId);
        }
        uuid::Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| CoreError::InvalidKeyId)
    }

    /// The 16 raw bytes (as they appear in ciphertext blobs).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// A key id from its 16 raw bytes.
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
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0.hyphenated())
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
