//! Bytes for tests that stream through a proxy: deterministic, so a run can be repeated, and
//! incompressible, so no layer (SSH compression included) can make a large stream cheap.

/// xorshift64* (Vigna): fast enough to feed a gigabyte without being what a test measures.
pub struct PseudoRandom(u64);

impl PseudoRandom {
    /// A generator started at `seed` (0 is replaced: it would only ever give zeros).
    pub fn new(seed: u64) -> PseudoRandom {
        PseudoRandom(seed.max(1))
    }

    /// Overwrite `buffer` with the next bytes.
    pub fn fill(&mut self, buffer: &mut [u8]) {
        for word in buffer.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            word.copy_from_slice(&value[..word.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_the_bytes_vary() {
        let (mut one, mut two) = ([0; 37], [0; 37]);
        PseudoRandom::new(7).fill(&mut one);
        PseudoRandom::new(7).fill(&mut two);
        assert_eq!(one, two);
        let distinct: std::collections::HashSet<u8> = one.iter().copied().collect();
        assert!(distinct.len() > 20, "{one:?}");
    }
}
