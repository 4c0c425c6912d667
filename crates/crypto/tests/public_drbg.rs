//! The public pool's source across a process's life: the kernel until AWS-LC's DRBG is
//! seeded, which happens on a thread of its own after `REFILLS_BEFORE_WARMING` refills, or at
//! once on `warm_up_public_drbg`. One test in its own binary: the state is process-wide.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use coffer_crypto::{
    public_drbg, warm_up_public_drbg, PublicDrbg, RandomSource, SystemRandom, PUBLIC_POOL_LEN,
    REFILLS_BEFORE_WARMING,
};

#[test]
fn the_pool_moves_from_the_kernel_to_aws_lc_without_a_draw_waiting_and_never_repeats() {
    let rng = SystemRandom::new();
    let per_pool = PUBLIC_POOL_LEN / 44;
    let mut seen = HashSet::new();
    let mut draw = |n: usize| {
        for _ in 0..n {
            let mut d = [0u8; 44];
            rng.fill_public(&mut d).unwrap();
            assert!(seen.insert(d), "a public draw was handed out twice");
        }
    };
    // A fresh process starts on the kernel and stays there for the first refills: a short
    // process never seeds AWS-LC's DRBG.
    assert_eq!(public_drbg(), PublicDrbg::Kernel);
    draw(per_pool * (REFILLS_BEFORE_WARMING as usize - 1));
    assert_eq!(public_drbg(), PublicDrbg::Kernel);
    // The refill that reaches the threshold hands the seeding to a thread of its own.
    draw(per_pool + 1);
    assert_ne!(public_drbg(), PublicDrbg::Kernel);
    // Waiting for it (this call joins the seeding under way): from now on, AWS-LC.
    warm_up_public_drbg().unwrap();
    assert_eq!(public_drbg(), PublicDrbg::Ready);
    draw(3 * per_pool);
}
