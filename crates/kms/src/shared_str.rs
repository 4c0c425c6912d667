//! Text the facade's answers share instead of copying: [`KeyArn`] and [`KeyMaterialId`].

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A string built once and shared by every answer that carries it (an `Arc<str>`): handing it
/// back costs a reference count, not an allocation and a copy. It reads as a `&str` (`Deref`,
/// `AsRef<str>`, `Display`), compares with strings, serializes as a JSON string, and becomes a
/// `String` with `String::from` or `to_string`.
macro_rules! shared_str {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The text as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            /// The empty string (a response built by hand; the facade never answers with one).
            fn default() -> Self {
                Self(Arc::from(""))
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Arc::from(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(Arc::from(s))
            }
        }

        impl From<$name> for String {
            fn from(a: $name) -> Self {
                a.0.as_ref().to_owned()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                *self.0 == **other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                *self == *other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                **self == *other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                **self == *other.0
            }
        }

        /// A JSON string.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

shared_str! {
    /// A key's ARN (`arn:aws:kms:<region>:<account>:key/<id>`) in an answer: the `KeyId` of
    /// Encrypt, Decrypt, GenerateDataKey, Sign and the other operations on a key.
    ///
    /// The facade builds one ARN per key when it loads the key, and every answer about that key
    /// shares it: handing it back costs a reference count, not an allocation and a copy (about
    /// 200 instructions of an Encrypt's ~2,300 of its own). It reads as a `&str` (`Deref`,
    /// `AsRef<str>`, `Display`), compares with strings, and becomes a `String` with
    /// `String::from` or `to_string`. An ARN names a key and is not a secret: `Debug` shows it.
    KeyArn
}

shared_str! {
    /// The id of the backing-key version that did the work (what AWS calls the
    /// `KeyMaterialId`: 32 lower-case hex digits), as Decrypt's answer carries it.
    ///
    /// The facade writes the current version's id once when it loads the key, and a Decrypt
    /// under that version shares it (the hex and its allocation were ~600 of a Decrypt's own
    /// instructions); a ciphertext of an older version gets its own. An id names a version
    /// and is not a secret: `Debug` shows it.
    KeyMaterialId
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn reads_and_compares_as_the_string_it_holds() {
        let a = KeyArn::from(ARN);
        assert_eq!(a.as_str(), ARN);
        assert_eq!(&*a, ARN);
        assert_eq!(a, ARN);
        assert_eq!(ARN, a);
        assert_eq!(a, ARN.to_owned());
        assert_eq!(ARN.to_owned(), a);
        assert_ne!(a, "arn:aws:kms:eu-west-1:111122223333:key/other");
        assert_eq!(a.to_string(), ARN);
        assert_eq!(format!("{a:?}"), format!("{ARN:?}"));
        assert_eq!(String::from(a.clone()), ARN);
        assert!(a.ends_with("890ab"));
        assert_eq!(KeyArn::default(), "");
    }

    #[test]
    fn clones_share_one_allocation() {
        let a = KeyArn::from(ARN.to_owned());
        let b = a.clone();
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
    }

    #[test]
    fn a_key_material_id_is_the_same_shared_string() {
        let hex = "0123456789abcdef0123456789abcdef";
        let a = KeyMaterialId::from(hex.to_owned());
        let b = a.clone();
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(a, hex);
        assert_eq!(Some(a.clone()).as_deref(), Some(hex));
        assert_eq!(format!("{a} {a:?}"), format!("{hex} {hex:?}"));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(hex).unwrap()
        );
        assert_eq!(String::from(a), hex);
    }

    #[test]
    fn serializes_as_a_json_string() {
        let a = KeyArn::from(ARN);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(ARN).unwrap()
        );
    }
}
