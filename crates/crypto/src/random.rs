use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use ring::rand::SecureRandom;

use crate::CryptoError;

/// A source of cryptographically secure random bytes.
///
/// Injected into every component that draws randomness, so tests can make outputs reproducible
/// (see the `testing` feature). Production uses [`SystemRandom`].
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError>;

    /// Fills `dest` with random bytes that are published beside what they protect: salts,
    /// nonces, message ids. Never use it for anything secret (keys, seeds): a source may serve
    /// these from a buffer drawn ahead of time, so they are unpredictable only until the buffer
    /// is read, and they must only be unique. The default draws as [`fill`](Self::fill) does.
    fn fill_public(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        self.fill(dest)
    }
}

/// The operating system's CSPRNG (getrandom, through `ring`) for secrets; public bytes from a
/// per-thread pool refilled from AWS-LC's DRBG once it is seeded, from the kernel until then
/// ([`RandomSource::fill_public`]).
#[derive(Debug, Clone)]
pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    /// The system random source.
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomSource for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fill(dest).map_err(|_| CryptoError)
    }

    /// Served from a per-thread buffer of [`PUBLIC_POOL_LEN`] bytes drawn at once, one draw per
    /// ~90 blob salts instead of one each. Every byte is handed out once. The buffer belongs to
    /// the process that drew it: a draw in a forked child (another process id) discards it and
    /// draws afresh, so parent and child never publish the same salt or nonce.
    ///
    /// The buffer is refilled from AWS-LC's DRBG (NIST SP 800-90A CTR-DRBG, seeded and reseeded
    /// from the operating system, itself safe across fork) once that DRBG is seeded, and from
    /// `getrandom` until then: on this project's reference VM the kernel took 10.3 µs to fill 4
    /// KiB and AWS-LC 0.95 µs (`benches/aead.rs`), ~110 against ~10 ns per 44-byte salt and
    /// nonce, but seeding AWS-LC's DRBG (its first draw in a process runs its jitter-entropy
    /// source) takes ~30 ms of CPU. So a process never waits for it on a draw: it is seeded by
    /// [`warm_up_public_drbg`], on a thread of its own from [`warm_up_public_drbg_in_background`]
    /// (cofferd calls it at startup), or the same way once a
    /// process has refilled [`REFILLS_BEFORE_WARMING`] pools from the kernel; a short-lived
    /// process (a CLI command) never pays for it. Secrets ([`fill`](Self::fill)) always come
    /// straight from the operating system.
    fn fill_public(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        if dest.len() > PUBLIC_POOL_LEN / 4 {
            return self.fill(dest);
        }
        PUBLIC_POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            let pid = std::process::id();
            if pool.pid != pid || pool.pos + dest.len() > PUBLIC_POOL_LEN {
                // Mark the pool spent before drawing: a failed draw leaves nothing to reuse.
                pool.pos = PUBLIC_POOL_LEN;
                if public_drbg() == PublicDrbg::Ready {
                    aws_lc_rs::rand::fill(&mut pool.buf[..]).map_err(|_| CryptoError)?;
                } else {
                    self.fill(&mut pool.buf[..])?;
                    if KERNEL_REFILLS.fetch_add(1, Ordering::Relaxed) + 1 == REFILLS_BEFORE_WARMING
                    {
                        warm_up_public_drbg_in_background();
                    }
                }
                pool.pid = pid;
                pool.pos = 0;
            }
            let start = pool.pos;
            dest.copy_from_slice(&pool.buf[start..start + dest.len()]);
            pool.pos = start + dest.len();
            Ok(())
        })
    }
}

/// Bytes a thread's public-randomness buffer holds ([`RandomSource::fill_public`]).
pub const PUBLIC_POOL_LEN: usize = 4096;

/// Pools a process refills from the kernel before it seeds AWS-LC's DRBG on a thread of its
/// own (~1,500 draws of a 44-byte salt and nonce; 16 × 10 µs of `getrandom`).
pub const REFILLS_BEFORE_WARMING: u32 = 16;

/// Where [`SystemRandom`]'s public pool is refilled from, process-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicDrbg {
    /// From `getrandom`: AWS-LC's DRBG is not seeded (yet).
    Kernel,
    /// From `getrandom`, while a thread seeds AWS-LC's DRBG.
    Warming,
    /// From AWS-LC's DRBG.
    Ready,
}

const KERNEL: u8 = 0;
const WARMING: u8 = 1;
const READY: u8 = 2;

static PUBLIC_DRBG: AtomicU8 = AtomicU8::new(KERNEL);
static KERNEL_REFILLS: AtomicU32 = AtomicU32::new(0);

/// Where the public pool is refilled from now.
pub fn public_drbg() -> PublicDrbg {
    match PUBLIC_DRBG.load(Ordering::Acquire) {
        READY => PublicDrbg::Ready,
        WARMING => PublicDrbg::Warming,
        _ => PublicDrbg::Kernel,
    }
}

/// Seeds AWS-LC's DRBG on the calling thread (~30 ms of CPU the first time in a process, at
/// once after that; a call while another thread seeds it waits for that seeding), after which
/// [`SystemRandom`]'s public pool is refilled from it (the benches call this before their
/// clocks run). A server would rather call [`warm_up_public_drbg_in_background`].
pub fn warm_up_public_drbg() -> Result<(), CryptoError> {
    let mut probe = [0u8; 16];
    aws_lc_rs::rand::fill(&mut probe).map_err(|_| CryptoError)?;
    PUBLIC_DRBG.store(READY, Ordering::Release);
    Ok(())
}

/// Starts seeding AWS-LC's DRBG on a thread of its own, unless it is seeded or being seeded,
/// and returns at once: until the seeding is done the pool refills from the kernel. A server
/// calls this at startup (cofferd does), so that no request pays for the seeding; a process
/// that does not is seeded the same way after [`REFILLS_BEFORE_WARMING`] kernel refills. If the
/// thread cannot start or the seeding fails, the pool stays on the kernel.
pub fn warm_up_public_drbg_in_background() {
    if PUBLIC_DRBG
        .compare_exchange(KERNEL, WARMING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("coffer-drbg-seed".into())
        .spawn(|| {
            // A failure leaves the pool on the kernel; WARMING keeps it from being retried.
            let _ = warm_up_public_drbg();
        });
    // Not started: the same.
    drop(spawned);
}

struct PublicPool {
    pid: u32,
    pos: usize,
    buf: Box<[u8; PUBLIC_POOL_LEN]>,
}

thread_local! {
    static PUBLIC_POOL: std::cell::RefCell<PublicPool> = std::cell::RefCell::new(PublicPool {
        pid: 0,
        pos: PUBLIC_POOL_LEN,
        buf: Box::new([0u8; PUBLIC_POOL_LEN]),
    });
}

impl<T: RandomSource + ?Sized> RandomSource for std::sync::Arc<T> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        (**self).fill(dest)
    }

    fn fill_public(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        (**self).fill_public(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn public_draws_are_never_handed_out_twice() {
        // Across several refills of the pool and several threads, every 44-byte draw (a blob's
        // salt and nonce) is new: the pool advances and never serves a byte twice.
        let rng = SystemRandom::new();
        let draws_per_thread = 3 * PUBLIC_POOL_LEN / 44;
        let all: Vec<[u8; 44]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        (0..draws_per_thread)
                            .map(|_| {
                                let mut d = [0u8; 44];
                                rng.fill_public(&mut d).unwrap();
                                d
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        assert!(all.iter().all(|d| d.iter().any(|b| *b != 0)));
    }

    #[test]
    fn large_public_draws_bypass_the_pool() {
        let rng = SystemRandom::new();
        let mut a = vec![0u8; PUBLIC_POOL_LEN];
        let mut b = vec![0u8; PUBLIC_POOL_LEN];
        rng.fill_public(&mut a).unwrap();
        rng.fill_public(&mut b).unwrap();
        assert_ne!(a, b);
        assert!(a.iter().any(|x| *x != 0));
    }

    #[test]
    fn a_source_without_a_pool_draws_public_bytes_as_it_draws_any() {
        struct Counting(std::sync::atomic::AtomicUsize);
        impl RandomSource for Counting {
            fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                dest.fill(7);
                Ok(())
            }
        }
        let c = std::sync::Arc::new(Counting(0.into()));
        let mut d = [0u8; 12];
        c.fill_public(&mut d).unwrap();
        assert_eq!(d, [7u8; 12]);
        assert_eq!(c.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
