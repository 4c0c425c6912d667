//! A caching [`DataKeyProvider`]: reuses data keys within limits, as the AWS Encryption SDK's
//! caching cryptographic materials manager does.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use coffer_core::{Clock, EncryptionContext};
use coffer_crypto::SymmetricKey;
use parking_lot::Mutex;

use crate::{
    DataKeyProvider, DerivationKey, EncryptedDataKey, EncryptionMaterials, EnvelopeError,
    GeneratedDataKey, MaterialsRequest, MessageMaterials, ProviderError, SharedMessageMaterials,
};

/// The limits of a [`CachingProvider`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheLimits {
    /// The most entries held (each of the encryption and decryption caches); the least
    /// recently used entry is evicted first.
    pub capacity: usize,
    /// How long an entry may be used after it was fetched.
    pub max_age: Duration,
    /// How many messages one cached data key may encrypt.
    pub max_messages: u64,
    /// How many plaintext bytes one cached data key may encrypt.
    pub max_bytes: u64,
}

impl CacheLimits {
    /// `capacity` entries, each usable for `max_age`; messages and bytes bounded only by the
    /// AWS Encryption SDK's ceilings (2^32 messages, 2^63 - 1 bytes) until set.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            capacity,
            max_age,
            max_messages: 1 << 32,
            max_bytes: i64::MAX as u64,
        }
    }

    /// Sets how many messages one data key may encrypt.
    #[must_use]
    pub fn with_max_messages(mut self, n: u64) -> Self {
        self.max_messages = n;
        self
    }

    /// Sets how many plaintext bytes one data key may encrypt.
    #[must_use]
    pub fn with_max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }
}

/// Counters of a [`CachingProvider`]. Each hit is a call to the inner provider saved (for an
/// encryption hit, one `generate_data_key` plus one `encrypt_data_key` per further key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Encryption requests served from the cache.
    pub encrypt_hits: u64,
    /// Encryption requests that went to the inner provider.
    pub encrypt_misses: u64,
    /// Encryption requests that could not be cached (unknown length, or longer than
    /// `max_bytes`).
    pub encrypt_bypassed: u64,
    /// Decryption requests served from the cache.
    pub decrypt_hits: u64,
    /// Decryption requests that went to the inner provider.
    pub decrypt_misses: u64,
    /// Entries removed for age, use or capacity.
    pub evictions: u64,
}

/// Wraps a [`DataKeyProvider`] and reuses its data keys.
///
/// Encryption materials are cached by the list of key identifiers and the encryption context;
/// an entry serves at most `max_messages` messages and `max_bytes` plaintext bytes, for at most
/// `max_age`, and only requests whose plaintext length is known. Unwrapped data keys are cached
/// by key identifier, wrapped key and context, for at most `max_age`. Both caches hold at most
/// `capacity` entries and evict the least recently used. Evicted entries are dropped at once,
/// and their keys zeroized ([`SymmetricKey`] wipes itself on drop).
///
/// Reusing a data key across messages is safe in this format (every message derives its own
/// frame key from a fresh message id), but widens what one leaked data key exposes: keep the
/// limits tight.
pub struct CachingProvider<P> {
    inner: P,
    clock: Arc<dyn Clock>,
    limits: CacheLimits,
    state: Mutex<State>,
}

/// The cache key of encryption materials: each key identifier length-prefixed, in order, then
/// the canonical context.
type EncKey = Vec<u8>;
/// The cache key of a data key: key identifier and wrapped key, length-prefixed, then the
/// canonical context.
type DecKey = Vec<u8>;

/// Bytes of a cache key built on the stack; longer keys go to the heap.
const STACK_KEY_LEN: usize = 512;

/// A cache key under construction: fields are appended, each length-prefixed, into a stack
/// buffer while they fit (every lookup of a usual key allocates nothing), then into a `Vec`.
struct KeyBuf {
    stack: [u8; STACK_KEY_LEN],
    len: usize,
    heap: Option<Vec<u8>>,
}

impl KeyBuf {
    /// An empty key that will hold `capacity` bytes.
    fn new(capacity: usize) -> Self {
        Self {
            stack: [0; STACK_KEY_LEN],
            len: 0,
            heap: (capacity > STACK_KEY_LEN).then(|| Vec::with_capacity(capacity)),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if let Some(v) = &mut self.heap {
            v.extend_from_slice(bytes);
            return;
        }
        let end = self.len.saturating_add(bytes.len());
        match self.stack.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            None => {
                let mut v = Vec::with_capacity(end.saturating_mul(2));
                v.extend_from_slice(self.as_slice());
                v.extend_from_slice(bytes);
                self.heap = Some(v);
            }
        }
    }

    fn push_field(&mut self, field: &[u8]) {
        self.push(&(field.len() as u64).to_be_bytes());
        self.push(field);
    }

    /// The context's canonical encoding (`EncryptionContext::write_canonical`).
    fn push_context(&mut self, context: &EncryptionContext) {
        let n = context.canonical_len();
        let written = match &mut self.heap {
            None => self
                .stack
                .get_mut(self.len..)
                .and_then(|rest| context.write_canonical_into(rest).ok()),
            Some(_) => None,
        };
        match written {
            Some(w) => self.len = self.len.saturating_add(w),
            None => {
                let mut enc = Vec::with_capacity(n);
                if context.write_canonical(&mut enc).is_err() {
                    // Too large to encode: a marker no valid encoding starts with.
                    enc.clear();
                    enc.extend_from_slice(&[0xff; 3]);
                }
                self.push(&enc);
            }
        }
    }

    fn as_slice(&self) -> &[u8] {
        match &self.heap {
            Some(v) => v,
            None => self.stack.get(..self.len).unwrap_or_default(),
        }
    }

    fn into_vec(self) -> Vec<u8> {
        match self.heap {
            Some(v) => v,
            None => self.as_slice().to_vec(),
        }
    }
}

/// The cache key of a data key: key identifier and wrapped key, length-prefixed, then the
/// canonical context.
fn dec_key(key_id: &str, ciphertext: &[u8], context: &EncryptionContext) -> KeyBuf {
    let mut key = KeyBuf::new(
        key_id
            .len()
            .saturating_add(ciphertext.len())
            .saturating_add(context.canonical_len())
            .saturating_add(16),
    );
    key.push_field(key_id.as_bytes());
    key.push_field(ciphertext);
    key.push_context(context);
    key
}

/// The cache key of encryption materials: the number of key identifiers, each
/// length-prefixed, in order, then the canonical context.
fn enc_key(key_ids: &[&str], context: &EncryptionContext) -> KeyBuf {
    let ids: usize = key_ids.iter().map(|id| id.len().saturating_add(8)).sum();
    let mut key = KeyBuf::new(
        ids.saturating_add(context.canonical_len())
            .saturating_add(16),
    );
    key.push_field(&(key_ids.len() as u64).to_be_bytes());
    for id in key_ids {
        key.push_field(id.as_bytes());
    }
    key.push_context(context);
    key
}

struct EncEntry {
    /// The request the entry was made for (what its cache key encodes), so that the latest
    /// entry is recognized without building the key ([`Lru::get_last`]).
    key_ids: Box<[Box<str>]>,
    context: EncryptionContext,
    data_key: SymmetricKey,
    /// Shared with every message that uses the entry (no copy per message).
    encrypted_data_keys: Arc<[EncryptedDataKey]>,
    /// The data key's extract, made once when the entry is filled.
    derivation_key: DerivationKey,
    created: SystemTime,
    messages: u64,
    bytes: u64,
}

struct DecEntry {
    /// What the entry was unwrapped from (what its cache key encodes), so that the latest
    /// entry is recognized without building the key ([`Lru::get_last`]).
    key_id: Box<str>,
    ciphertext: Box<[u8]>,
    context: EncryptionContext,
    data_key: SymmetricKey,
    /// Made on the first request for it, then kept.
    derivation_key: Option<DerivationKey>,
    created: SystemTime,
}

#[derive(Default)]
struct State {
    enc: Lru<EncKey, EncEntry>,
    dec: Lru<DecKey, DecEntry>,
    stats: CacheStats,
}

impl EncEntry {
    /// Whether the entry was made for `key_ids` and `context`: exactly when their cache key is
    /// the entry's (the key encodes both without loss).
    fn is_for(&self, key_ids: &[&str], context: &EncryptionContext) -> bool {
        self.key_ids.len() == key_ids.len()
            && self.key_ids.iter().zip(key_ids).all(|(a, b)| **a == **b)
            && self.context == *context
    }
}

impl DecEntry {
    /// Whether the entry was unwrapped from `key_id`, `ciphertext` and `context`: exactly when
    /// their cache key is the entry's.
    fn is_for(&self, key_id: &str, ciphertext: &[u8], context: &EncryptionContext) -> bool {
        *self.key_id == *key_id && *self.ciphertext == *ciphertext && self.context == *context
    }
}

impl<P: DataKeyProvider> CachingProvider<P> {
    /// A cache over `inner` with `limits`, reading time from `clock`.
    pub fn new(inner: P, limits: CacheLimits, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            clock,
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.state.lock().stats
    }

    /// Entries held now: (encryption, decryption).
    pub fn len(&self) -> (usize, usize) {
        let s = self.state.lock();
        (s.enc.len(), s.dec.len())
    }

    /// Whether both caches are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// Drops every entry (their keys are zeroized).
    pub fn clear(&self) {
        let mut s = self.state.lock();
        let n = (s.enc.len() + s.dec.len()) as u64;
        s.enc = Lru::default();
        s.dec = Lru::default();
        s.stats.evictions = s.stats.evictions.saturating_add(n);
    }

    /// The provider this cache wraps.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Whether `e` may encrypt one more message of `len` bytes at `now`.
    fn usable(&self, e: &EncEntry, now: SystemTime, len: u64) -> bool {
        e.messages < self.limits.max_messages
            && e.bytes
                .checked_add(len)
                .is_some_and(|b| b <= self.limits.max_bytes)
            && self.fresh(e.created, now)
    }

    fn fresh(&self, created: SystemTime, now: SystemTime) -> bool {
        // A clock that went backwards is not trusted: the entry counts as expired.
        now.duration_since(created)
            .is_ok_and(|age| age < self.limits.max_age)
    }
}

impl<P: DataKeyProvider> DataKeyProvider for CachingProvider<P> {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, ProviderError> {
        self.inner.generate_data_key(key_id, context)
    }

    fn encrypt_data_key(
        &self,
        key_id: &str,
        data_key: &SymmetricKey,
        context: &EncryptionContext,
    ) -> Result<EncryptedDataKey, ProviderError> {
        self.inner.encrypt_data_key(key_id, data_key, context)
    }

    fn decrypt_data_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SymmetricKey, ProviderError> {
        self.unwrap_cached(key_id, ciphertext, context, |e| e.data_key.clone())
    }

    fn decrypt_derivation_key(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<DerivationKey, ProviderError> {
        self.unwrap_cached(key_id, ciphertext, context, |e| {
            e.derivation_key
                .get_or_insert_with(|| DerivationKey::of(&e.data_key))
                .clone()
        })
    }

    fn encryption_materials(
        &self,
        request: &MaterialsRequest<'_>,
    ) -> Result<EncryptionMaterials, EnvelopeError> {
        let cached = self.materials_cached(request, |e| EncryptionMaterials {
            data_key: e.data_key.clone(),
            encrypted_data_keys: e.encrypted_data_keys.to_vec(),
        })?;
        match cached {
            Some(m) => Ok(m),
            None => self.inner.encryption_materials(request),
        }
    }

    fn message_materials(
        &self,
        request: &MaterialsRequest<'_>,
    ) -> Result<MessageMaterials, EnvelopeError> {
        let cached = self.materials_cached(request, |e| MessageMaterials {
            derivation_key: e.derivation_key.clone(),
            encrypted_data_keys: e.encrypted_data_keys.to_vec(),
        })?;
        match cached {
            Some(m) => Ok(m),
            None => self.inner.message_materials(request),
        }
    }

    fn shared_message_materials(
        &self,
        request: &MaterialsRequest<'_>,
    ) -> Result<SharedMessageMaterials, EnvelopeError> {
        let cached = self.materials_cached(request, |e| SharedMessageMaterials {
            derivation_key: e.derivation_key.clone(),
            encrypted_data_keys: Arc::clone(&e.encrypted_data_keys),
        })?;
        match cached {
            Some(m) => Ok(m),
            None => self.inner.shared_message_materials(request),
        }
    }
}

impl<P: DataKeyProvider> CachingProvider<P> {
    /// A data key by key identifier, wrapped key and context, from the cache or the inner
    /// provider (then cached); `take` reads what the caller wants from the entry.
    fn unwrap_cached<T>(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
        take: impl Fn(&mut DecEntry) -> T,
    ) -> Result<T, ProviderError> {
        let now = self.clock.now();
        {
            // The latest entry, recognized without building its key or hashing.
            let mut s = self.state.lock();
            let state = &mut *s;
            if let Some(e) = state
                .dec
                .get_last(|e| e.is_for(key_id, ciphertext, context))
            {
                if self.fresh(e.created, now) {
                    let k = take(e);
                    state.stats.decrypt_hits = state.stats.decrypt_hits.saturating_add(1);
                    return Ok(k);
                }
            }
        }
        let key = dec_key(key_id, ciphertext, context);
        {
            let mut s = self.state.lock();
            let state = &mut *s;
            match state.dec.get(key.as_slice()) {
                Some(e) if self.fresh(e.created, now) => {
                    let k = take(e);
                    state.stats.decrypt_hits = state.stats.decrypt_hits.saturating_add(1);
                    return Ok(k);
                }
                Some(_) => {
                    state.dec.remove(key.as_slice());
                    state.stats.evictions = state.stats.evictions.saturating_add(1);
                }
                None => {}
            }
            state.stats.decrypt_misses = state.stats.decrypt_misses.saturating_add(1);
        }
        // The inner provider is called without the lock held.
        let data_key = self.inner.decrypt_data_key(key_id, ciphertext, context)?;
        let mut entry = DecEntry {
            key_id: key_id.into(),
            ciphertext: ciphertext.into(),
            context: context.clone(),
            data_key,
            derivation_key: None,
            created: now,
        };
        let out = take(&mut entry);
        if self.limits.capacity > 0 {
            let mut s = self.state.lock();
            let evicted = s.dec.insert(key.into_vec(), entry, self.limits.capacity);
            s.stats.evictions = s.stats.evictions.saturating_add(evicted);
        }
        Ok(out)
    }

    /// The materials for `request` from the cache, or from the inner provider (then cached);
    /// `take` reads what the caller wants from the entry. `None`: the request may not be cached
    /// (unknown length, too long, caching off) and the caller asks the inner provider itself.
    fn materials_cached<T>(
        &self,
        request: &MaterialsRequest<'_>,
        take: impl Fn(&EncEntry) -> T,
    ) -> Result<Option<T>, EnvelopeError> {
        let len = match request.plaintext_len {
            Some(len)
                if len <= self.limits.max_bytes
                    && self.limits.max_messages > 0
                    && self.limits.capacity > 0 =>
            {
                len
            }
            _ => {
                let mut s = self.state.lock();
                s.stats.encrypt_bypassed = s.stats.encrypt_bypassed.saturating_add(1);
                return Ok(None);
            }
        };
        let now = self.clock.now();
        {
            // The latest entry, recognized without building its key or hashing; if it is
            // spent or stale, the lookup by key below removes it.
            let mut s = self.state.lock();
            let state = &mut *s;
            if let Some(e) = state
                .enc
                .get_last(|e| e.is_for(request.key_ids, request.context))
            {
                if self.usable(e, now, len) {
                    e.messages = e.messages.saturating_add(1);
                    e.bytes = e.bytes.saturating_add(len);
                    let m = take(e);
                    state.stats.encrypt_hits = state.stats.encrypt_hits.saturating_add(1);
                    return Ok(Some(m));
                }
            }
        }
        let key = enc_key(request.key_ids, request.context);
        {
            let mut s = self.state.lock();
            let state = &mut *s;
            let mut stale = false;
            if let Some(e) = state.enc.get(key.as_slice()) {
                if self.usable(e, now, len) {
                    e.messages = e.messages.saturating_add(1);
                    e.bytes = e.bytes.saturating_add(len);
                    let m = take(e);
                    state.stats.encrypt_hits = state.stats.encrypt_hits.saturating_add(1);
                    return Ok(Some(m));
                }
                stale = true;
            }
            if stale {
                state.enc.remove(key.as_slice());
                state.stats.evictions = state.stats.evictions.saturating_add(1);
            }
            state.stats.encrypt_misses = state.stats.encrypt_misses.saturating_add(1);
        }
        let materials = self.inner.encryption_materials(request)?;
        let entry = EncEntry {
            key_ids: request.key_ids.iter().map(|id| Box::from(*id)).collect(),
            context: request.context.clone(),
            derivation_key: DerivationKey::of(&materials.data_key),
            encrypted_data_keys: materials.encrypted_data_keys.into(),
            data_key: materials.data_key,
            created: now,
            messages: 1,
            bytes: len,
        };
        let out = take(&entry);
        let mut s = self.state.lock();
        let evicted = s.enc.insert(key.into_vec(), entry, self.limits.capacity);
        s.stats.evictions = s.stats.evictions.saturating_add(evicted);
        Ok(Some(out))
    }
}

impl<P> fmt::Debug for CachingProvider<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingProvider")
            .field("limits", &self.limits)
            .field("stats", &self.state.lock().stats)
            .finish_non_exhaustive()
    }
}

/// A map that evicts its least recently used entry beyond a capacity. A hit only updates a
/// counter; finding the least recently used entry is a scan, done only when an insertion
/// overflows the capacity (after a provider call, which costs far more).
///
/// Values live in slots and the map gives a key's slot. The slot of the latest hit or insertion
/// is remembered: [`get_last`](Self::get_last) hands it out, with no cache key built and no
/// hashing, to a caller that recognizes it as the entry for its request (one data key used
/// message after message, the common case); any other request takes the map.
struct Lru<K, V> {
    map: HashMap<K, usize>,
    /// Each value with the tick of its last use; `None` for a free slot.
    slots: Vec<Option<(V, u64)>>,
    free: Vec<usize>,
    /// The slot of the latest hit or insertion; never a free slot.
    last: Option<usize>,
    tick: u64,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            last: None,
            tick: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    // Lookups take any borrowed form of the key (a cache key built on the stack).
    fn len(&self) -> usize {
        self.map.len()
    }

    /// The entry of the latest hit or insertion, marked most recently used, if `matches` says
    /// it is the one the caller looks for (`matches` must agree with a lookup by key).
    fn get_last(&mut self, matches: impl FnOnce(&V) -> bool) -> Option<&mut V> {
        let i = self.last?;
        let (v, t) = self.slots.get_mut(i)?.as_mut()?;
        if !matches(v) {
            return None;
        }
        self.tick = self.tick.wrapping_add(1);
        *t = self.tick;
        Some(v)
    }

    /// The entry for `k`, marked most recently used.
    fn get<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        let i = *self.map.get(k)?;
        let (v, t) = self.slots.get_mut(i)?.as_mut()?;
        *t = tick;
        self.last = Some(i);
        Some(v)
    }

    fn remove<Q: Hash + Eq + ?Sized>(&mut self, k: &Q)
    where
        K: Borrow<Q>,
    {
        if let Some(i) = self.map.remove(k) {
            self.release(i);
        }
    }

    /// Drops the value in slot `i` (its keys are zeroized) and frees the slot.
    fn release(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = None;
            self.free.push(i);
        }
        if self.last == Some(i) {
            self.last = None;
        }
    }

    /// Inserts (or replaces) `k`; returns how many entries were evicted to stay within
    /// `capacity`.
    fn insert(&mut self, k: K, v: V, capacity: usize) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        let value = Some((v, self.tick));
        let i = match self.map.get(&k) {
            Some(&i) => i,
            None => {
                let i = match self.free.pop() {
                    Some(i) => i,
                    None => {
                        self.slots.push(None);
                        self.slots.len().saturating_sub(1)
                    }
                };
                self.map.insert(k, i);
                i
            }
        };
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = value;
        }
        self.last = Some(i);
        let mut evicted = 0u64;
        while self.map.len() > capacity {
            let slots = &self.slots;
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, i)| {
                    slots
                        .get(**i)
                        .and_then(Option::as_ref)
                        .map_or(0, |(_, t)| *t)
                })
                .map(|(k, _)| k.clone());
            match oldest {
                Some(old) => {
                    self.remove(&old);
                    evicted = evicted.saturating_add(1);
                }
                None => break,
            }
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key layout written out the plain way, with `Vec`s.
    fn reference_key(fields: &[&[u8]], context: &EncryptionContext) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            out.extend_from_slice(&(f.len() as u64).to_be_bytes());
            out.extend_from_slice(f);
        }
        context.write_canonical(&mut out).unwrap();
        out
    }

    #[test]
    fn cache_keys_on_the_stack_or_the_heap_are_the_same_bytes() {
        let mut context = EncryptionContext::new();
        context.insert("purpose", "test");
        let mut big_context = EncryptionContext::new();
        big_context.insert("k", "v".repeat(600));
        for ctx in [&EncryptionContext::new(), &context, &big_context] {
            // Short, around the stack buffer's size, and well beyond it.
            for n in [0usize, 1, 100, 400, 470, 480, 490, 500, 511, 512, 513, 2000] {
                let id = "i".repeat(n / 3);
                let ct = vec![7u8; n];
                let k = dec_key(&id, &ct, ctx);
                assert_eq!(
                    k.as_slice(),
                    &reference_key(&[id.as_bytes(), &ct], ctx)[..],
                    "dec {n}"
                );
                assert_eq!(k.into_vec(), reference_key(&[id.as_bytes(), &ct], ctx));
                let ids = [id.as_str(), "second"];
                let k = enc_key(&ids, ctx);
                let count = 2u64.to_be_bytes();
                assert_eq!(
                    k.as_slice(),
                    &reference_key(&[&count, id.as_bytes(), b"second"], ctx)[..],
                    "enc {n}"
                );
            }
        }
        // A key longer than the stack buffer although its declared capacity was short: moves
        // to the heap intact.
        let mut k = KeyBuf::new(4);
        k.push(&[1; 300]);
        k.push(&[2; 300]);
        let mut expected = vec![1u8; 300];
        expected.extend_from_slice(&[2; 300]);
        assert_eq!(k.as_slice(), &expected[..]);
        k.push_context(&context);
        context.write_canonical(&mut expected).unwrap();
        assert_eq!(k.into_vec(), expected);
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut l: Lru<u32, u32> = Lru::default();
        assert_eq!(l.insert(1, 10, 2), 0);
        assert_eq!(l.insert(2, 20, 2), 0);
        assert!(l.get(&1).is_some()); // 2 is now least recently used
        assert_eq!(l.insert(3, 30, 2), 1);
        assert!(l.get(&2).is_none());
        assert_eq!(l.get(&1).copied(), Some(10));
        assert_eq!(l.get(&3).copied(), Some(30));
        assert_eq!(l.len(), 2);
        l.remove(&1);
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn lru_last_is_the_latest_entry_and_never_a_removed_one() {
        let mut l: Lru<u32, u32> = Lru::default();
        assert!(l.get_last(|_| true).is_none());
        l.insert(1, 10, 2);
        assert_eq!(l.get_last(|v| *v == 10).copied(), Some(10));
        assert!(l.get_last(|v| *v == 20).is_none());
        l.insert(2, 20, 2);
        assert_eq!(l.get_last(|_| true).copied(), Some(20));
        assert!(l.get(&1).is_some());
        assert_eq!(l.get_last(|_| true).copied(), Some(10));
        // 2 is the least recently used: evicted.
        assert_eq!(l.insert(3, 30, 2), 1);
        assert!(l.get(&2).is_none());
        assert_eq!(l.get_last(|_| true).copied(), Some(30));
        l.remove(&1);
        assert_eq!(l.get_last(|_| true).copied(), Some(30));
        l.remove(&3);
        assert!(l.get_last(|_| true).is_none());
        assert_eq!(l.len(), 0);
        // A freed slot is reused, and replacing a key keeps one entry.
        l.insert(5, 50, 2);
        l.insert(4, 40, 2);
        l.insert(4, 41, 2);
        assert_eq!(l.len(), 2);
        assert_eq!(l.slots.len(), 3); // at most capacity + 1: freed slots are reused
        assert_eq!(l.get_last(|_| true).copied(), Some(41));
        // With no capacity an insertion evicts itself and leaves no latest entry.
        let mut z: Lru<u32, u32> = Lru::default();
        assert_eq!(z.insert(1, 10, 0), 1);
        assert!(z.get_last(|_| true).is_none());
        assert_eq!(z.len(), 0);
    }
}
