//! The one small random generator of the test kit and the benchmarks:
//! xorshift64, deterministic from its seed (printed on failure where it
//! matters), no dependency.

/// xorshift64. The state must not be 0 (it would stay 0): use
/// [`Rng::seeded`] or a nonzero seed.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included), mixed so that
    /// neighbouring seeds give unrelated streams.
    pub fn seeded(seed: u64) -> Rng {
        Rng((0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_add(1).wrapping_mul(0x2545_F491_4F6C_DD1D)) | 1)
    }

    /// A seed from the clock and the process id, or `CHATDESK_SEED` if set.
    pub fn from_env_or_time() -> Rng {
        if let Some(s) = std::env::var("CHATDESK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            return Rng(s);
        }
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng((t ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n.max(1) as u64).unwrap_or(0)
    }

    /// A value in `0..n` as an `i32` (0 when `n` ≤ 0).
    pub fn int(&mut self, n: i32) -> i32 {
        i32::try_from(self.next_u64() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }

    /// True `percent` times in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// True or false, evenly.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn stays_in_range_and_is_repeatable() {
        let (mut a, mut b) = (Rng::seeded(0), Rng::seeded(0));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        for _ in 0..1000 {
            assert!(a.below(7) < 7 && a.int(5) < 5 && (3..9).contains(&a.range(3, 9)));
        }
        assert_eq!(a.below(0), 0);
        assert_ne!(Rng::seeded(1).next_u64(), Rng::seeded(2).next_u64());
    }
}
