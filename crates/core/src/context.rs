use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::CoreError;

/// The largest encryption context accepted, counted as the sum of the UTF-8 lengths of all keys
/// and values.
pub const MAX_ENCRYPTION_CONTEXT_BYTES: usize = 8192;

/// The pairs of every empty context.
static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// An encryption context: non-secret string pairs bound to a ciphertext as authenticated data.
///
/// Held sorted, so its [canonical encoding](Self::canonical_bytes) does not depend on the order in
/// which pairs were given. Keys compare case-sensitively, as AWS KMS does.
///
/// Cloning is cheap: clones share their pairs (copy on write), so a caller that builds one
/// context and passes a clone with every request allocates, and the call frees, nothing for it.
/// Shared pairs also keep their canonical encoding once it is first built
/// ([`shared_canonical`](Self::shared_canonical)), so such a caller's requests do not encode
/// the context again each time. An empty context holds no allocation at all.
#[derive(Clone, Default)]
pub struct EncryptionContext(Option<Arc<Pairs>>);

/// A non-empty context's pairs, and their canonical encoding once built while shared.
#[derive(Default)]
struct Pairs {
    map: BTreeMap<String, String>,
    /// The canonical encoding (`None`: too large to encode). Never copied: a copy of the pairs
    /// (copy on write) is about to change.
    canonical: OnceLock<Option<Box<[u8]>>>,
}

impl Clone for Pairs {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            canonical: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for EncryptionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EncryptionContext")
            .field(self.as_map())
            .finish()
    }
}

impl PartialEq for EncryptionContext {
    fn eq(&self, other: &Self) -> bool {
        // Clones of one context share their pairs: equal without comparing them.
        match (&self.0, &other.0) {
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => true,
            _ => self.as_map() == other.as_map(),
        }
    }
}

impl Eq for EncryptionContext {}

impl std::hash::Hash for EncryptionContext {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_map().hash(state);
    }
}

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a pair.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let pairs = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        // Unshared now (a shared one was copied without its encoding): the encoding goes.
        pairs.canonical = OnceLock::new();
        pairs.map.insert(key.into(), value.into());
    }

    /// A context of `pairs` (none: no allocation).
    fn of(pairs: BTreeMap<String, String>) -> Self {
        Self((!pairs.is_empty()).then(|| {
            Arc::new(Pairs {
                map: pairs,
                canonical: OnceLock::new(),
            })
        }))
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.as_map().get(key).map(String::as_str)
    }

    /// Pairs in canonical (bytewise key) order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.as_map().iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.as_map().len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.as_map().is_empty()
    }

    /// The pairs as a map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        self.0.as_deref().map_or(&EMPTY, |p| &p.map)
    }

    /// Checks the size limit.
    pub fn validate(&self) -> Result<(), CoreError> {
        let total: usize = self.as_map().iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > MAX_ENCRYPTION_CONTEXT_BYTES {
            return Err(CoreError::EncryptionContextTooLarge);
        }
        Ok(())
    }

    /// Appends the canonical encoding to `out`: a big-endian `u16` pair count, then for each pair
    /// in bytewise key order a `u16` key length, the key, a `u16` value length and the value.
    ///
    /// Requires [`validate`](Self::validate) to have passed (every length then fits in a `u16`).
    pub fn write_canonical(&self, out: &mut Vec<u8>) -> Result<(), CoreError> {
        let count =
            u16::try_from(self.as_map().len()).map_err(|_| CoreError::EncryptionContextTooLarge)?;
        out.extend_from_slice(&count.to_be_bytes());
        for (k, v) in self.as_map() {
            for s in [k, v] {
                let n = u16::try_from(s.len()).map_err(|_| CoreError::EncryptionContextTooLarge)?;
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    /// Length of the canonical encoding ([`write_canonical`](Self::write_canonical)).
    pub fn canonical_len(&self) -> usize {
        2 + self
            .as_map()
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>()
    }

    /// Writes the canonical encoding to the front of `out`, which must be at least
    /// [`canonical_len`](Self::canonical_len) long; returns the length written. The same bytes
    /// as [`write_canonical`](Self::write_canonical), without a `Vec`.
    pub fn write_canonical_into(&self, out: &mut [u8]) -> Result<usize, CoreError> {
        fn put(out: &mut [u8], at: &mut usize, bytes: &[u8]) -> Result<(), CoreError> {
            let end = at
                .checked_add(bytes.len())
                .filter(|e| *e <= out.len())
                .ok_or(CoreError::EncryptionContextTooLarge)?;
            out[*at..end].copy_from_slice(bytes);
            *at = end;
            Ok(())
        }
        let len = |n: usize| u16::try_from(n).map_err(|_| CoreError::EncryptionContextTooLarge);
        let mut at = 0;
        put(out, &mut at, &len(self.as_map().len())?.to_be_bytes())?;
        for (k, v) in self.as_map() {
            for s in [k, v] {
                put(out, &mut at, &len(s.len())?.to_be_bytes())?;
                put(out, &mut at, s.as_bytes())?;
            }
        }
        Ok(at)
    }

    /// The canonical encoding kept with shared pairs: `None` when the pairs are not shared (a
    /// context built for one request: encoding it where it is needed costs less than keeping
    /// it) and have not kept an encoding; otherwise the encoding, built the first time (an
    /// error for a context too large to encode, as [`write_canonical`](Self::write_canonical)).
    pub fn shared_canonical(&self) -> Option<Result<&[u8], CoreError>> {
        let pairs = self.0.as_ref()?;
        let kept = match pairs.canonical.get() {
            Some(kept) => kept,
            None if Arc::strong_count(pairs) > 1 => pairs.canonical.get_or_init(|| {
                let mut out = Vec::with_capacity(self.canonical_len());
                self.write_canonical(&mut out)
                    .ok()
                    .map(|()| out.into_boxed_slice())
            }),
            None => return None,
        };
        Some(kept.as_deref().ok_or(CoreError::EncryptionContextTooLarge))
    }

    /// The canonical encoding (see [`write_canonical`](Self::write_canonical)); a context too
    /// large to encode yields an encoding no valid context has, so it can never match one.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.write_canonical(&mut out).is_err() {
            out.clear();
            out.extend_from_slice(&[0xff; 3]);
        }
        out
    }

    /// Parses a canonical encoding; anything but exactly one well-formed, strictly ordered
    /// encoding is refused.
    pub fn from_canonical_bytes(mut b: &[u8]) -> Result<Self, CoreError> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], CoreError> {
            if b.len() < n {
                return Err(CoreError::MalformedEncryptionContext);
            }
            let (head, tail) = b.split_at(n);
            *b = tail;
            Ok(head)
        }
        fn u16_at(b: &mut &[u8]) -> Result<usize, CoreError> {
            let h = take(b, 2)?;
            Ok(usize::from(u16::from_be_bytes([h[0], h[1]])))
        }
        fn string(b: &mut &[u8]) -> Result<String, CoreError> {
            let n = u16_at(b)?;
            let s = take(b, n)?;
            String::from_utf8(s.to_vec()).map_err(|_| CoreError::MalformedEncryptionContext)
        }
        let count = u16_at(&mut b)?;
        let mut map = BTreeMap::new();
        let mut last: Option<String> = None;
        for _ in 0..count {
            let k = string(&mut b)?;
            let v = string(&mut b)?;
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(CoreError::MalformedEncryptionContext);
            }
            last = Some(k.clone());
            map.insert(k, v);
        }
        if !b.is_empty() {
            return Err(CoreError::MalformedEncryptionContext);
        }
        let ctx = Self::of(map);
        ctx.validate()?;
        Ok(ctx)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::of(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl From<BTreeMap<String, String>> for EncryptionContext {
    fn from(m: BTreeMap<String, String>) -> Self {
        Self::of(m)
    }
}

impl From<std::collections::HashMap<String, String>> for EncryptionContext {
    fn from(m: std::collections::HashMap<String, String>) -> Self {
        Self::of(m.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clones_share_pairs_and_copy_on_write() {
        let a: EncryptionContext = [("tenant", "acme")].into_iter().collect();
        let mut b = a.clone();
        assert!(
            std::ptr::eq(a.as_map(), b.as_map()),
            "a clone shares the pairs"
        );
        b.insert("purpose", "x");
        assert_eq!(
            a.len(),
            1,
            "inserting into a clone leaves the original alone"
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b.get("tenant"), Some("acme"));
        assert_ne!(a, b);
        let mut c = a.clone();
        c.insert("tenant", "acme");
        assert_eq!(a, c, "equal pairs are equal, shared or not");
        let hash = |ctx: &EncryptionContext| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(ctx)
        };
        assert_eq!(hash(&a), hash(&c));
        assert_eq!(format!("{a:?}"), r#"EncryptionContext({"tenant": "acme"})"#);
    }

    #[test]
    fn shared_pairs_keep_their_encoding_and_a_change_drops_it() {
        let a: EncryptionContext = [("tenant", "acme"), ("app", "web")].into_iter().collect();
        // One owner: nothing kept, the encoding is built where it is needed.
        assert!(a.shared_canonical().is_none());
        let b = a.clone();
        let kept = a.shared_canonical().unwrap().unwrap();
        assert_eq!(kept, &a.canonical_bytes()[..]);
        assert!(
            std::ptr::eq(kept, b.shared_canonical().unwrap().unwrap()),
            "clones share the one encoding"
        );
        // A changed clone is copied without the encoding, and encodes its own pairs.
        let mut c = b.clone();
        c.insert("app", "batch");
        let _d = c.clone();
        assert_eq!(
            c.shared_canonical().unwrap().unwrap(),
            &c.canonical_bytes()[..]
        );
        assert_ne!(c.canonical_bytes(), a.canonical_bytes());
        assert_eq!(
            b.shared_canonical().unwrap().unwrap(),
            &a.canonical_bytes()[..]
        );
        // Once the clones are gone, an owner keeps what it had, and a change drops it.
        drop(b);
        let mut a = a;
        assert_eq!(
            a.shared_canonical().unwrap().unwrap(),
            &a.canonical_bytes()[..]
        );
        a.insert("app", "cli");
        assert!(
            a.shared_canonical().is_none(),
            "a change drops the encoding"
        );
        let _e = a.clone();
        assert_eq!(
            a.shared_canonical().unwrap().unwrap(),
            &a.canonical_bytes()[..]
        );
        // No pairs: nothing to keep.
        let empty = EncryptionContext::new();
        let _f = empty.clone();
        assert!(empty.shared_canonical().is_none());
    }

    #[test]
    fn a_shared_context_too_large_to_encode_is_an_error() {
        let mut ctx = EncryptionContext::new();
        ctx.insert("k", "v".repeat(usize::from(u16::MAX) + 1));
        let _clone = ctx.clone();
        assert_eq!(
            ctx.shared_canonical().map(|r| r.map(<[u8]>::len)),
            Some(Err(CoreError::EncryptionContextTooLarge))
        );
    }

    #[test]
    fn every_empty_context_is_the_same() {
        let built: EncryptionContext = std::iter::empty::<(String, String)>().collect();
        let from_map = EncryptionContext::from(BTreeMap::new());
        let parsed = EncryptionContext::from_canonical_bytes(&[0, 0]).unwrap();
        for ctx in [&built, &from_map, &parsed] {
            assert_eq!(ctx, &EncryptionContext::new());
            assert!(ctx.is_empty());
            assert_eq!(ctx.canonical_bytes(), [0, 0]);
        }
        let mut grown = EncryptionContext::new();
        grown.insert("k", "v");
        assert_eq!(grown.get("k"), Some("v"));
        assert_eq!(EncryptionContext::new().get("k"), None);
    }

    #[test]
    fn known_encoding() {
        let ctx: EncryptionContext = [("b", "2"), ("a", "1")].into_iter().collect();
        assert_eq!(
            ctx.canonical_bytes(),
            [0, 2, 0, 1, b'a', 0, 1, b'1', 0, 1, b'b', 0, 1, b'2']
        );
        assert_eq!(EncryptionContext::new().canonical_bytes(), [0, 0]);
    }

    #[test]
    fn size_limit() {
        let mut ctx = EncryptionContext::new();
        ctx.insert("k", "v".repeat(MAX_ENCRYPTION_CONTEXT_BYTES - 1));
        assert!(ctx.validate().is_ok());
        ctx.insert("k2", "");
        assert_eq!(ctx.validate(), Err(CoreError::EncryptionContextTooLarge));
    }

    #[test]
    fn refuses_unordered_or_trailing() {
        // Pairs out of order.
        let bad = [0, 2, 0, 1, b'b', 0, 0, 0, 1, b'a', 0, 0];
        assert!(EncryptionContext::from_canonical_bytes(&bad).is_err());
        // Duplicate key.
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(EncryptionContext::from_canonical_bytes(&dup).is_err());
        // Trailing byte.
        assert!(EncryptionContext::from_canonical_bytes(&[0, 0, 0]).is_err());
        assert!(EncryptionContext::from_canonical_bytes(&[0]).is_err());
    }

    proptest! {
        #[test]
        fn order_never_matters(pairs in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..8)) {
            let forward: EncryptionContext = pairs.iter().cloned().collect();
            let backward: EncryptionContext = pairs.iter().rev().cloned().collect();
            // Later duplicates win in each direction, so compare only when keys are unique.
            let mut keys: Vec<_> = pairs.iter().map(|p| &p.0).collect();
            keys.sort();
            keys.dedup();
            if keys.len() == pairs.len() {
                prop_assert_eq!(forward.canonical_bytes(), backward.canonical_bytes());
            }
            let parsed = EncryptionContext::from_canonical_bytes(&forward.canonical_bytes()).unwrap();
            prop_assert_eq!(parsed, forward);
        }

        #[test]
        fn encoding_into_a_slice_is_the_same(
            pairs in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..8),
            short in 1usize..4,
        ) {
            let ctx: EncryptionContext = pairs.into_iter().collect();
            let want = ctx.canonical_bytes();
            prop_assert_eq!(ctx.canonical_len(), want.len());
            let mut buf = vec![0xaa; want.len() + 3];
            let n = ctx.write_canonical_into(&mut buf).unwrap();
            prop_assert_eq!(&buf[..n], &want[..]);
            // A buffer too short is an error, never a panic or a partial encoding used.
            let mut small = vec![0u8; want.len().saturating_sub(short)];
            prop_assert!(ctx.write_canonical_into(&mut small).is_err());
        }

        #[test]
        fn a_kept_encoding_is_the_encoding(
            pairs in proptest::collection::vec((".{0,8}", ".{0,8}"), 1..8),
            extra in (".{0,8}", ".{0,8}"),
        ) {
            let ctx: EncryptionContext = pairs.into_iter().collect();
            let clone = ctx.clone();
            prop_assert_eq!(ctx.shared_canonical().unwrap().unwrap(), &ctx.canonical_bytes()[..]);
            let mut changed = clone.clone();
            changed.insert(extra.0, extra.1);
            let _keep = changed.clone();
            prop_assert_eq!(
                changed.shared_canonical().unwrap().unwrap(),
                &changed.canonical_bytes()[..]
            );
            prop_assert_eq!(clone.shared_canonical().unwrap().unwrap(), &ctx.canonical_bytes()[..]);
        }

        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(ctx) = EncryptionContext::from_canonical_bytes(&bytes) {
                prop_assert_eq!(ctx.canonical_bytes(), bytes);
            }
        }
    }
}
