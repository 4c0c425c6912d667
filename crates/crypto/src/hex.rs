//! Lower-case hex, the one codec of coffer: hashes, keys and signatures in the audit log,
//! SigV4's hashes and signatures, key-material ids, backup manifests.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lower-case hex of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (pair, b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// The lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = Vec::new();
    encode_into(bytes, &mut out);
    // Every byte is one of DIGITS (ASCII), so this is always valid UTF-8; the lossy path is
    // never taken and only avoids a panic path.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn byte(pair: &[u8]) -> Option<u8> {
    match pair {
        [hi, lo] => Some((nibble(*hi)? << 4) | nibble(*lo)?),
        _ => None,
    }
}

/// Decodes exactly `N` bytes of hex (either case); `None` for any other length or a character
/// that is not a hex digit (no sign, no whitespace, no `0x`).
pub fn decode_array<const N: usize>(s: impl AsRef<[u8]>) -> Option<[u8; N]> {
    let s = s.as_ref();
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = byte(pair)?;
    }
    Some(out)
}

/// Decodes hex of any even length (either case); `None` for an odd length or a character that
/// is not a hex digit.
pub fn decode(s: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    let s = s.as_ref();
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks_exact(2).map(byte).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let h = encode(&bytes);
            prop_assert_eq!(h.len(), bytes.len() * 2);
            prop_assert!(h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            let mut into = Vec::new();
            encode_into(&bytes, &mut into);
            prop_assert_eq!(into.as_slice(), h.as_bytes());
            prop_assert_eq!(decode(&h).unwrap(), bytes.clone());
            prop_assert_eq!(decode(h.to_uppercase()).unwrap(), bytes);
        }

        #[test]
        fn round_trip_array(bytes in any::<[u8; 32]>()) {
            prop_assert_eq!(decode_array::<32>(encode(&bytes)), Some(bytes));
        }

        #[test]
        fn rejects_non_hex(s in "[0-9a-fA-F]{0,15}[^0-9a-fA-F][0-9a-fA-F]{0,16}") {
            prop_assert_eq!(decode(&s), None);
            prop_assert_eq!(decode_array::<16>(&s), None);
        }

        #[test]
        fn rejects_odd_lengths(s in "([0-9a-f]{2}){0,16}[0-9a-f]") {
            prop_assert_eq!(decode(&s), None);
        }
    }

    #[test]
    fn encode_into_appends() {
        let mut out = b"x=".to_vec();
        encode_into(&[0xab, 0x01, 0xf0], &mut out);
        assert_eq!(out, b"x=ab01f0");
        assert_eq!(encode(&[0x00, 0xff]), "00ff");
    }

    #[test]
    fn rejects_bad_hex() {
        assert!(decode("abc").is_none());
        assert!(decode("zz").is_none());
        assert!(decode("+f").is_none());
        assert!(decode(" f").is_none());
        assert!(decode_array::<2>("abcdef").is_none());
        assert!(decode_array::<2>("abc").is_none());
        assert_eq!(decode_array::<2>("abcd"), Some([0xab, 0xcd]));
        assert_eq!(decode_array::<2>(b"ABCD"), Some([0xab, 0xcd]));
        assert_eq!(decode(""), Some(vec![]));
        assert_eq!(encode(&[0x00, 0x0f, 0xf0, 0xff]), "000ff0ff");
    }
}
