//! The few vector operations the CPU kernels need, in one place: WebAssembly `simd128` in the
//! browser, SSE2 on x86-64, plain arrays elsewhere. All do the same operations lane by lane,
//! and the float ones without fused multiply-adds, so a kernel written with them gives bitwise
//! the same result everywhere: the native tests check what the browser computes.
//!
//! - [`B16`]: 16 bytes of packed weights, unpacked with byte-wise masks and shifts.
//! - [`I4`]: four i32 lanes of an integer dot product ([`B16::dot`]).
//! - [`F4`]: four f32 lanes of a running sum, reduced once per row ([`F4::sum`]).
//! - [`W8`]: eight i16 lanes, multiplied pairwise into an [`I4`] ([`W8::dot`]): the many-row
//!   products' operands.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct B16(v128);
    #[derive(Clone, Copy)]
    pub struct I4(v128);
    #[derive(Clone, Copy)]
    pub struct F4(v128);
    #[derive(Clone, Copy)]
    pub struct W8(v128);

    impl W8 {
        #[inline(always)]
        pub fn load(x: &[i16]) -> W8 {
            assert!(x.len() >= 8);
            // SAFETY: the assert keeps the 16-byte load inside the slice.
            W8(unsafe { v128_load(x.as_ptr() as *const v128) })
        }
        /// `x[0], x[1]` repeated four times.
        #[inline(always)]
        pub fn pair(x: &[i16]) -> W8 {
            assert!(x.len() >= 2);
            // SAFETY: the assert keeps the 4-byte load inside the slice.
            W8(unsafe { v128_load32_splat(x.as_ptr() as *const u32) })
        }
        /// Lane `i` = `a[2i]·b[2i] + a[2i+1]·b[2i+1]`.
        #[inline(always)]
        pub fn dot(self, o: W8) -> I4 {
            I4(i32x4_dot_i16x8(self.0, o.0))
        }
    }

    impl B16 {
        #[inline(always)]
        pub fn load(b: &[u8]) -> B16 {
            assert!(b.len() >= 16);
            // SAFETY: the assert keeps the 16-byte load inside the slice; v128_load has no
            // alignment requirement.
            B16(unsafe { v128_load(b.as_ptr() as *const v128) })
        }
        #[inline(always)]
        pub fn and(self, m: u8) -> B16 {
            B16(v128_and(self.0, u8x16_splat(m)))
        }
        #[inline(always)]
        pub fn or(self, o: B16) -> B16 {
            B16(v128_or(self.0, o.0))
        }
        #[inline(always)]
        pub fn shr(self, n: u32) -> B16 {
            B16(u8x16_shr(self.0, n))
        }
        #[inline(always)]
        pub fn shl(self, n: u32) -> B16 {
            B16(i8x16_shl(self.0, n))
        }
        #[inline(always)]
        pub fn sub(self, v: u8) -> B16 {
            B16(i8x16_sub(self.0, u8x16_splat(v)))
        }
        /// Bit `i` of `bits` as `0x10` in byte `i` (the fifth bit of Q5_0/Q5_1 weights).
        #[inline(always)]
        pub fn bit4(bits: u16) -> B16 {
            let v = u16x8_splat(bits);
            let bytes = i8x16_swizzle(v, u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
            let mask = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
            B16(v128_and(
                u8x16_eq(v128_and(bytes, mask), mask),
                u8x16_splat(0x10),
            ))
        }
        /// The bytes as i8 times `x[..16]`: lane `i` = Σ over `j` in {2i, 2i+1, 8+2i, 9+2i}.
        #[inline(always)]
        pub fn dot(self, x: &[i16]) -> I4 {
            assert!(x.len() >= 16);
            // SAFETY: the assert keeps both 16-byte loads inside the slice.
            unsafe {
                let a = i32x4_dot_i16x8(
                    i16x8_extend_low_i8x16(self.0),
                    v128_load(x.as_ptr() as *const v128),
                );
                let b = i32x4_dot_i16x8(
                    i16x8_extend_high_i8x16(self.0),
                    v128_load(x.as_ptr().add(8) as *const v128),
                );
                I4(i32x4_add(a, b))
            }
        }
    }

    impl I4 {
        #[inline(always)]
        pub fn zero() -> I4 {
            I4(i32x4_splat(0))
        }
        #[inline(always)]
        pub fn add(self, o: I4) -> I4 {
            I4(i32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn to_f32(self) -> F4 {
            F4(f32x4_convert_i32x4(self.0))
        }
    }

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4(f32x4_splat(0.0))
        }
        #[inline(always)]
        pub fn load(x: &[f32]) -> F4 {
            assert!(x.len() >= 4);
            // SAFETY: the assert keeps the 16-byte load inside the slice.
            F4(unsafe { v128_load(x.as_ptr() as *const v128) })
        }
        #[inline(always)]
        pub fn store(self, out: &mut [f32]) {
            assert!(out.len() >= 4);
            // SAFETY: the assert keeps the 16-byte store inside the slice.
            unsafe { v128_store(out.as_mut_ptr() as *mut v128, self.0) }
        }
        /// `self + v·w` lane by lane, rounded after the product and after the sum.
        #[inline(always)]
        pub fn add_mul(self, v: F4, w: F4) -> F4 {
            F4(f32x4_add(self.0, f32x4_mul(v.0, w.0)))
        }
        /// Every lane times `s`.
        #[inline(always)]
        pub fn scale(self, s: f32) -> F4 {
            F4(f32x4_mul(self.0, f32x4_splat(s)))
        }
        /// `self + v·s`, rounded after the product and after the sum.
        #[inline(always)]
        pub fn add_scaled(self, v: F4, s: f32) -> F4 {
            F4(f32x4_add(self.0, f32x4_mul(v.0, f32x4_splat(s))))
        }
        /// `(l0 + l1) + (l2 + l3)`.
        #[inline(always)]
        pub fn sum(self) -> f32 {
            (f32x4_extract_lane::<0>(self.0) + f32x4_extract_lane::<1>(self.0))
                + (f32x4_extract_lane::<2>(self.0) + f32x4_extract_lane::<3>(self.0))
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            F4(f32x4_add(self.0, o.0))
        }
        /// `|l|` lane by lane.
        #[inline(always)]
        pub fn abs(self) -> F4 {
            F4(f32x4_abs(self.0))
        }
        /// The larger lane by lane (no NaNs).
        #[inline(always)]
        pub fn max(self, o: F4) -> F4 {
            F4(f32x4_pmax(self.0, o.0))
        }
        /// The largest lane (no NaNs).
        #[inline(always)]
        pub fn max_lane(self) -> f32 {
            f32x4_extract_lane::<0>(self.0)
                .max(f32x4_extract_lane::<1>(self.0))
                .max(f32x4_extract_lane::<2>(self.0).max(f32x4_extract_lane::<3>(self.0)))
        }
    }
}

/// x86-64's baseline SSE2 has the same operations lane for lane: `pmaddwd` is
/// `i32x4.dot_i16x8_s`, the f32 ones are IEEE per lane.
#[cfg(target_arch = "x86_64")]
mod imp {
    use core::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub struct B16(__m128i);
    #[derive(Clone, Copy)]
    pub struct I4(__m128i);
    #[derive(Clone, Copy)]
    pub struct F4(__m128);
    #[derive(Clone, Copy)]
    pub struct W8(__m128i);

    // SAFETY (every block below): SSE2 is part of x86-64, so the intrinsics are always
    // available; loads are unaligned ones, inside slices whose length is asserted.
    impl W8 {
        #[inline(always)]
        pub fn load(x: &[i16]) -> W8 {
            assert!(x.len() >= 8);
            W8(unsafe { _mm_loadu_si128(x.as_ptr() as *const __m128i) })
        }
        /// `x[0], x[1]` repeated four times.
        #[inline(always)]
        pub fn pair(x: &[i16]) -> W8 {
            assert!(x.len() >= 2);
            let v = (x[0] as u16 as u32) | ((x[1] as u16 as u32) << 16);
            W8(unsafe { _mm_set1_epi32(v as i32) })
        }
        /// Lane `i` = `a[2i]·b[2i] + a[2i+1]·b[2i+1]`.
        #[inline(always)]
        pub fn dot(self, o: W8) -> I4 {
            I4(unsafe { _mm_madd_epi16(self.0, o.0) })
        }
    }

    impl B16 {
        #[inline(always)]
        pub fn load(b: &[u8]) -> B16 {
            assert!(b.len() >= 16);
            B16(unsafe { _mm_loadu_si128(b.as_ptr() as *const __m128i) })
        }
        #[inline(always)]
        pub fn and(self, m: u8) -> B16 {
            B16(unsafe { _mm_and_si128(self.0, _mm_set1_epi8(m as i8)) })
        }
        #[inline(always)]
        pub fn or(self, o: B16) -> B16 {
            B16(unsafe { _mm_or_si128(self.0, o.0) })
        }
        #[inline(always)]
        pub fn shr(self, n: u32) -> B16 {
            // 16-bit shifts, then the bits that crossed from the neighbouring byte cleared.
            B16(unsafe {
                _mm_and_si128(
                    _mm_srl_epi16(self.0, _mm_cvtsi32_si128(n as i32)),
                    _mm_set1_epi8((0xFFu8 >> n) as i8),
                )
            })
        }
        #[inline(always)]
        pub fn shl(self, n: u32) -> B16 {
            B16(unsafe {
                _mm_and_si128(
                    _mm_sll_epi16(self.0, _mm_cvtsi32_si128(n as i32)),
                    _mm_set1_epi8((0xFFu8 << n) as i8),
                )
            })
        }
        #[inline(always)]
        pub fn sub(self, v: u8) -> B16 {
            B16(unsafe { _mm_sub_epi8(self.0, _mm_set1_epi8(v as i8)) })
        }
        /// Bit `i` of `bits` as `0x10` in byte `i` (the fifth bit of Q5_0/Q5_1 weights).
        #[inline(always)]
        pub fn bit4(bits: u16) -> B16 {
            unsafe {
                let bytes = _mm_unpacklo_epi64(
                    _mm_set1_epi8(bits as u8 as i8),
                    _mm_set1_epi8((bits >> 8) as u8 as i8),
                );
                let mask = _mm_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
                B16(_mm_and_si128(
                    _mm_cmpeq_epi8(_mm_and_si128(bytes, mask), mask),
                    _mm_set1_epi8(0x10),
                ))
            }
        }
        /// The bytes as i8 times `x[..16]`: lane `i` = Σ over `j` in {2i, 2i+1, 8+2i, 9+2i}.
        #[inline(always)]
        pub fn dot(self, x: &[i16]) -> I4 {
            assert!(x.len() >= 16);
            unsafe {
                // i8 → i16: each byte doubled into a 16-bit lane, then shifted down with sign.
                let lo = _mm_srai_epi16(_mm_unpacklo_epi8(self.0, self.0), 8);
                let hi = _mm_srai_epi16(_mm_unpackhi_epi8(self.0, self.0), 8);
                let a = _mm_madd_epi16(lo, _mm_loadu_si128(x.as_ptr() as *const __m128i));
                let b = _mm_madd_epi16(hi, _mm_loadu_si128(x.as_ptr().add(8) as *const __m128i));
                I4(_mm_add_epi32(a, b))
            }
        }
    }

    impl I4 {
        #[inline(always)]
        pub fn zero() -> I4 {
            I4(unsafe { _mm_setzero_si128() })
        }
        #[inline(always)]
        pub fn add(self, o: I4) -> I4 {
            I4(unsafe { _mm_add_epi32(self.0, o.0) })
        }
        #[inline(always)]
        pub fn to_f32(self) -> F4 {
            F4(unsafe { _mm_cvtepi32_ps(self.0) })
        }
    }

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4(unsafe { _mm_setzero_ps() })
        }
        #[inline(always)]
        pub fn load(x: &[f32]) -> F4 {
            assert!(x.len() >= 4);
            F4(unsafe { _mm_loadu_ps(x.as_ptr()) })
        }
        #[inline(always)]
        pub fn store(self, out: &mut [f32]) {
            assert!(out.len() >= 4);
            unsafe { _mm_storeu_ps(out.as_mut_ptr(), self.0) }
        }
        /// `self + v·w` lane by lane, rounded after the product and after the sum.
        #[inline(always)]
        pub fn add_mul(self, v: F4, w: F4) -> F4 {
            F4(unsafe { _mm_add_ps(self.0, _mm_mul_ps(v.0, w.0)) })
        }
        /// Every lane times `s`.
        #[inline(always)]
        pub fn scale(self, s: f32) -> F4 {
            F4(unsafe { _mm_mul_ps(self.0, _mm_set1_ps(s)) })
        }
        /// `self + v·s`, rounded after the product and after the sum.
        #[inline(always)]
        pub fn add_scaled(self, v: F4, s: f32) -> F4 {
            F4(unsafe { _mm_add_ps(self.0, _mm_mul_ps(v.0, _mm_set1_ps(s))) })
        }
        /// `(l0 + l1) + (l2 + l3)`.
        #[inline(always)]
        pub fn sum(self) -> f32 {
            let mut l = [0f32; 4];
            unsafe { _mm_storeu_ps(l.as_mut_ptr(), self.0) };
            (l[0] + l[1]) + (l[2] + l[3])
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            F4(unsafe { _mm_add_ps(self.0, o.0) })
        }
        #[inline(always)]
        pub fn abs(self) -> F4 {
            F4(unsafe { _mm_andnot_ps(_mm_set1_ps(-0.0), self.0) })
        }
        #[inline(always)]
        pub fn max(self, o: F4) -> F4 {
            F4(unsafe { _mm_max_ps(self.0, o.0) })
        }
        #[inline(always)]
        pub fn max_lane(self) -> f32 {
            let mut l = [0f32; 4];
            unsafe { _mm_storeu_ps(l.as_mut_ptr(), self.0) };
            l[0].max(l[1]).max(l[2].max(l[3]))
        }
    }
}

/// Plain arrays: the other targets, and the tests' model of the vector versions.
#[cfg(any(
    test,
    not(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ))
))]
#[allow(dead_code)]
mod portable {
    #[derive(Clone, Copy)]
    pub struct B16([u8; 16]);
    #[derive(Clone, Copy)]
    pub struct I4([i32; 4]);
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);
    #[derive(Clone, Copy)]
    pub struct W8([i16; 8]);

    impl W8 {
        #[inline(always)]
        pub fn load(x: &[i16]) -> W8 {
            W8(x[..8].try_into().unwrap())
        }
        /// `x[0], x[1]` repeated four times.
        #[inline(always)]
        pub fn pair(x: &[i16]) -> W8 {
            W8(std::array::from_fn(|i| x[i % 2]))
        }
        /// Lane `i` = `a[2i]·b[2i] + a[2i+1]·b[2i+1]` (wrapping, as `pmaddwd` does).
        #[inline(always)]
        pub fn dot(self, o: W8) -> I4 {
            I4(std::array::from_fn(|i| {
                (self.0[2 * i] as i32 * o.0[2 * i] as i32)
                    .wrapping_add(self.0[2 * i + 1] as i32 * o.0[2 * i + 1] as i32)
            }))
        }
    }

    impl B16 {
        #[inline(always)]
        pub fn load(b: &[u8]) -> B16 {
            B16(b[..16].try_into().unwrap())
        }
        #[inline(always)]
        pub fn and(self, m: u8) -> B16 {
            B16(self.0.map(|b| b & m))
        }
        #[inline(always)]
        pub fn or(self, o: B16) -> B16 {
            B16(std::array::from_fn(|i| self.0[i] | o.0[i]))
        }
        #[inline(always)]
        pub fn shr(self, n: u32) -> B16 {
            B16(self.0.map(|b| b >> n))
        }
        #[inline(always)]
        pub fn shl(self, n: u32) -> B16 {
            B16(self.0.map(|b| b << n))
        }
        #[inline(always)]
        pub fn sub(self, v: u8) -> B16 {
            B16(self.0.map(|b| b.wrapping_sub(v)))
        }
        /// Bit `i` of `bits` as `0x10` in byte `i` (the fifth bit of Q5_0/Q5_1 weights).
        #[inline(always)]
        pub fn bit4(bits: u16) -> B16 {
            B16(std::array::from_fn(|i| (((bits >> i) & 1) as u8) << 4))
        }
        /// The bytes as i8 times `x[..16]`: lane `i` = Σ over `j` in {2i, 2i+1, 8+2i, 9+2i}.
        #[inline(always)]
        pub fn dot(self, x: &[i16]) -> I4 {
            let x = &x[..16];
            I4(std::array::from_fn(|i| {
                [2 * i, 2 * i + 1, 8 + 2 * i, 9 + 2 * i]
                    .iter()
                    .map(|&j| self.0[j] as i8 as i32 * x[j] as i32)
                    .sum()
            }))
        }
    }

    impl I4 {
        #[inline(always)]
        pub fn zero() -> I4 {
            I4([0; 4])
        }
        #[inline(always)]
        pub fn add(self, o: I4) -> I4 {
            I4(std::array::from_fn(|i| self.0[i].wrapping_add(o.0[i])))
        }
        #[inline(always)]
        pub fn to_f32(self) -> F4 {
            F4(self.0.map(|v| v as f32))
        }
    }

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4([0.0; 4])
        }
        #[inline(always)]
        pub fn load(x: &[f32]) -> F4 {
            F4(x[..4].try_into().unwrap())
        }
        #[inline(always)]
        pub fn store(self, out: &mut [f32]) {
            out[..4].copy_from_slice(&self.0);
        }
        /// `self + v·w` lane by lane, rounded after the product and after the sum.
        #[inline(always)]
        pub fn add_mul(self, v: F4, w: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + v.0[i] * w.0[i]))
        }
        /// Every lane times `s`.
        #[inline(always)]
        pub fn scale(self, s: f32) -> F4 {
            F4(self.0.map(|v| v * s))
        }
        /// `self + v·s`, rounded after the product and after the sum.
        #[inline(always)]
        pub fn add_scaled(self, v: F4, s: f32) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + v.0[i] * s))
        }
        /// `(l0 + l1) + (l2 + l3)`.
        #[inline(always)]
        pub fn sum(self) -> f32 {
            (self.0[0] + self.0[1]) + (self.0[2] + self.0[3])
        }
        #[inline(always)]
        pub fn add(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + o.0[i]))
        }
        #[inline(always)]
        pub fn abs(self) -> F4 {
            F4(self.0.map(f32::abs))
        }
        #[inline(always)]
        pub fn max(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| {
                if self.0[i] < o.0[i] {
                    o.0[i]
                } else {
                    self.0[i]
                }
            }))
        }
        #[inline(always)]
        pub fn max_lane(self) -> f32 {
            self.0[0].max(self.0[1]).max(self.0[2].max(self.0[3]))
        }
    }
}

#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
use portable as imp;

pub use imp::{B16, F4, I4, W8};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation on many random bytes and activations: the target's vector version
    /// against the plain arrays, bit for bit.
    #[test]
    fn vector_lanes_equal_the_plain_arrays() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let w: [u8; 16] = std::array::from_fn(|_| next() as u8);
            let x: [i16; 16] = std::array::from_fn(|_| next() as i16);
            let (bits, n, m, v) = (
                next() as u16,
                (next() % 8) as u32,
                next() as u8,
                next() as u8,
            );
            let s = f32::from_bits((next() as u32 & 0x3FFF_FFFF) | 0x3000_0000);
            let ours = |b: B16| {
                let b = b.shr(n).or(B16::bit4(bits)).shl(n % 5).and(m).sub(v);
                let d = b.dot(&x).add(B16::load(&w).dot(&x));
                F4::zero()
                    .add_scaled(d.to_f32(), s)
                    .add_scaled(d.to_f32(), -s * 0.75)
                    .sum()
            };
            let plain = |b: portable::B16| {
                let b = b
                    .shr(n)
                    .or(portable::B16::bit4(bits))
                    .shl(n % 5)
                    .and(m)
                    .sub(v);
                let d = b.dot(&x).add(portable::B16::load(&w).dot(&x));
                portable::F4::zero()
                    .add_scaled(d.to_f32(), s)
                    .add_scaled(d.to_f32(), -s * 0.75)
                    .sum()
            };
            assert_eq!(
                ours(B16::load(&w)).to_bits(),
                plain(portable::B16::load(&w)).to_bits()
            );
        }
    }

    /// The activation statistics' float operations, vector against plain arrays, bit for bit.
    #[test]
    fn float_lane_operations_equal_the_plain_arrays() {
        let mut seed = 0x1234_5678_9ABC_DEF1u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / 8_388_608.0 - 1.0
        };
        for _ in 0..2000 {
            let a: [f32; 4] = std::array::from_fn(|_| next() * 1e3);
            let b: [f32; 4] = std::array::from_fn(|_| next());
            let ours = F4::load(&a).abs().max(F4::load(&b)).add(F4::load(&b));
            let plain = portable::F4::load(&a)
                .abs()
                .max(portable::F4::load(&b))
                .add(portable::F4::load(&b));
            assert_eq!(ours.sum().to_bits(), plain.sum().to_bits());
            assert_eq!(ours.max_lane().to_bits(), plain.max_lane().to_bits());
        }
    }

    /// The many-row products' operations, vector against plain arrays, bit for bit.
    #[test]
    fn pair_products_equal_the_plain_arrays() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let a: [i16; 8] = std::array::from_fn(|_| next() as i16);
            let b: [i16; 8] = std::array::from_fn(|_| (next() % 255) as i16 - 127);
            let f: [f32; 4] = std::array::from_fn(|_| {
                f32::from_bits((next() as u32 & 0x3FFF_FFFF) | 0x3000_0000)
            });
            let s = f32::from_bits((next() as u32 & 0x3FFF_FFFF) | 0x3000_0000);
            let mut ours = [0f32; 4];
            W8::pair(&a[3..])
                .dot(W8::load(&b))
                .add(W8::load(&a).dot(W8::load(&b)))
                .add(I4::zero())
                .to_f32()
                .add_mul(F4::load(&f).scale(s), F4::load(&f))
                .store(&mut ours);
            let mut plain = [0f32; 4];
            portable::W8::pair(&a[3..])
                .dot(portable::W8::load(&b))
                .add(portable::W8::load(&a).dot(portable::W8::load(&b)))
                .add(portable::I4::zero())
                .to_f32()
                .add_mul(portable::F4::load(&f).scale(s), portable::F4::load(&f))
                .store(&mut plain);
            assert_eq!(ours.map(f32::to_bits), plain.map(f32::to_bits));
        }
    }

    #[test]
    fn byte_operations_and_the_dot_product_match_scalar_arithmetic() {
        let w: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        let x: [i16; 16] = std::array::from_fn(|i| (i as i16 - 7) * 4093);
        let b = B16::load(&w);
        // Unpack: low nibble minus 8, the fifth bit of 0b1010_0000_1100_0101, as i8.
        let u = b.and(0x0F).or(B16::bit4(0b1010_0000_1100_0101)).sub(8);
        let expect: Vec<i32> = (0..16)
            .map(|i| {
                ((w[i] & 0x0F) | ((((0b1010_0000_1100_0101u16 >> i) & 1) as u8) << 4))
                    .wrapping_sub(8) as i8 as i32
            })
            .collect();
        let dot = u
            .dot(&x)
            .add(u.dot(&x))
            .add(u.dot(&x))
            .add(b.shr(4).shl(1).dot(&x));
        let total: f32 = dot.to_f32().sum();
        let scalar: i32 = (0..16)
            .map(|i| 3 * expect[i] * x[i] as i32 + ((w[i] >> 4) << 1) as i8 as i32 * x[i] as i32)
            .sum();
        assert_eq!(total, scalar as f32);
        let f = F4::zero().add_scaled(dot.to_f32(), 0.5);
        assert_eq!(f.sum(), scalar as f32 * 0.5);
    }
}
