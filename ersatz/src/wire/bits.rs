//! Bit fields: the `ux` integers of the headers (IPv4's 4-bit version, 6-bit
//! DSCP, 13-bit fragment offset, ...) read and written through `bitvec`.
//!
//! One `paste` macro implements [`BitField`] for every width the headers use,
//! and [`Bits`] is a fixed-size, stack-allocated bit buffer: packing a header's
//! bit fields never allocates.

use bitvec::prelude::*;

/// An unsigned integer narrower than its storage, as found in packet headers.
pub trait BitField: Copy {
    /// Width in bits.
    const BITS: usize;
    /// The value, widened.
    fn to_u16(self) -> u16;
    /// The low `BITS` bits of `value` (higher bits are dropped, never a panic).
    fn from_u16_masked(value: u16) -> Self;
}

macro_rules! bit_fields {
    ($($width:literal => $inner:ty),* $(,)?) => {
        paste::paste! {
            $(
                impl BitField for ux::[<u $width>] {
                    const BITS: usize = $width;
                    #[inline]
                    fn to_u16(self) -> u16 {
                        u16::from($inner::from(self))
                    }
                    #[inline]
                    fn from_u16_masked(value: u16) -> Self {
                        // Masked to the width first, so `new` cannot fail.
                        ux::[<u $width>]::new((value & ((1u16 << $width) - 1)) as $inner)
                    }
                }
            )*
        }
    };
}

bit_fields!(2 => u8, 3 => u8, 4 => u8, 6 => u8, 13 => u16);

/// `N` bytes viewed as bits, most significant bit first (network order).
#[derive(Clone, Copy, Default)]
pub struct Bits<const N: usize>(BitArray<[u8; N], Msb0>);

impl<const N: usize> Bits<N> {
    /// Views existing bytes.
    #[inline]
    pub fn from_bytes(bytes: [u8; N]) -> Self {
        Bits(BitArray::new(bytes))
    }

    /// Writes `value` at bit offset `at`.
    ///
    /// # Panics
    /// If the field does not fit in `N` bytes: a programming error in the
    /// header layout, never a property of the data.
    #[inline]
    pub fn put<T: BitField>(&mut self, at: usize, value: T) -> &mut Self {
        self.0[at..at + T::BITS].store_be(value.to_u16());
        self
    }

    /// Reads the field of type `T` at bit offset `at`.
    ///
    /// # Panics
    /// As [`Bits::put`]: only for a field outside the `N` bytes.
    #[inline]
    pub fn get<T: BitField>(&self, at: usize) -> T {
        T::from_u16_masked(self.0[at..at + T::BITS].load_be::<u16>())
    }

    /// The bytes.
    #[inline]
    pub fn into_bytes(self) -> [u8; N] {
        self.0.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ux::{u13, u2, u3, u4, u6};

    #[test]
    fn ipv4_first_word_layout() {
        let mut bits = Bits::<2>::default();
        bits.put(0, u4::new(4)).put(4, u4::new(5));
        assert_eq!(bits.into_bytes(), [0x45, 0x00]);
        let mut bits = Bits::<1>::default();
        bits.put(0, u6::new(46)).put(6, u2::new(1));
        assert_eq!(bits.into_bytes(), [0xb9]);
    }

    #[test]
    fn flags_and_fragment_offset() {
        let mut bits = Bits::<2>::default();
        bits.put(0, u3::new(0b010)).put(3, u13::new(0x1abc));
        assert_eq!(bits.into_bytes(), [0x5a, 0xbc]);
        let back = Bits::from_bytes([0x5a, 0xbc]);
        assert_eq!(back.get::<u3>(0), u3::new(2));
        assert_eq!(back.get::<u13>(3), u13::new(0x1abc));
    }

    #[test]
    fn masked_never_panics() {
        assert_eq!(u4::from_u16_masked(0xffff), u4::new(15));
        assert_eq!(u13::from_u16_masked(0xffff), u13::new(0x1fff));
        assert_eq!(u2::from_u16_masked(6), u2::new(2));
    }
}
