//! A fast hasher for maps keyed by [`KeyId`](crate::KeyId): the facade looks a key up in its
//! cache, and records its last use, on every call, and SipHash over a 16-byte id costs ~280
//! instructions a lookup.
//!
//! Key ids are drawn from the service's CSPRNG (or arrive from a peer region, or a backup, of
//! the same service): no caller chooses the ids a map holds, so a flood of colliding entries
//! cannot be built and the keyed SipHash's protection is not needed. The mix is still seeded
//! per map from the standard library's random keys, so its order is not predictable either.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Builds [`KeyIdHasher`]s with a random seed (one per builder).
#[derive(Clone, Copy, Debug)]
pub struct KeyIdHash {
    seed: u64,
}

impl Default for KeyIdHash {
    fn default() -> Self {
        Self {
            seed: RandomState::new().hash_one(0x6b65_795f_6964_u64),
        }
    }
}

impl BuildHasher for KeyIdHash {
    type Hasher = KeyIdHasher;

    fn build_hasher(&self) -> KeyIdHasher {
        KeyIdHasher(self.seed)
    }
}

/// A multiply-rotate mix over 8-byte words with a final avalanche: fine for ids that are
/// already uniformly random, not for keys a caller chooses.
#[derive(Clone, Copy, Debug)]
pub struct KeyIdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl KeyIdHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(K).rotate_left(31);
    }
}

impl Hasher for KeyIdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche, so the table's low bits see every byte.
        avalanche(self.0)
    }
}

/// The 64-bit finalizer of MurmurHash3: every input bit affects every output bit. Not keyed:
/// for values no caller chooses (or whose table is bounded by other means).
#[inline]
pub fn avalanche(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyId;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn distinct_ids_spread_and_equal_ids_agree() {
        let b = KeyIdHash::default();
        let ids: Vec<KeyId> = (0..1000u32)
            .map(|i| {
                let s = format!("{:08x}-0000-4000-8000-000000000000", i);
                KeyId::parse(&s).unwrap()
            })
            .collect();
        let hashes: HashSet<u64> = ids.iter().map(|id| b.hash_one(id)).collect();
        assert_eq!(hashes.len(), ids.len());
        // The low bits (what a table indexes by) spread too.
        let low: HashSet<u64> = ids.iter().map(|id| b.hash_one(id) & 0xfff).collect();
        assert!(low.len() > 700, "{}", low.len());
        assert_eq!(b.hash_one(ids[3]), b.hash_one(ids[3]));
        let mut m: HashMap<KeyId, usize, KeyIdHash> = HashMap::default();
        for (i, id) in ids.iter().enumerate() {
            m.insert(*id, i);
        }
        assert!(ids.iter().enumerate().all(|(i, id)| m.get(id) == Some(&i)));
    }
}
