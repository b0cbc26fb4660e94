//! Bit fields: the narrow fields of the headers (IPv4's 4-bit version, 6-bit
//! DSCP, 13-bit fragment offset, TCP's 4-bit data offset and 9 flag bits,
//! ...) written through `bitvec`. Crate-private: the packets hold these
//! fields as plain integers.
//!
//! [`Bits`] is a fixed-size, stack-allocated bit buffer: packing a header's
//! bit fields never allocates. Fields are written through `bitvec`, bit by
//! bit, and read with a shift (see [`Bits`] for why each is the fast way).
//! The tests check both against `bitvec`'s `load_be`/`store_be`, through the
//! `ux` integers of [`BitField`] (one `paste` macro per width).

use bitvec::prelude::*;

/// An unsigned integer narrower than its storage, as found in packet headers.
#[cfg(test)]
pub trait BitField: Copy {
    /// Width in bits.
    const BITS: usize;
    /// The value, widened.
    fn to_u16(self) -> u16;
    /// The low `BITS` bits of `value` (higher bits are dropped, never a panic).
    fn from_u16_masked(value: u16) -> Self;
}

#[cfg(test)]
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
                        // `ux`'s `new` checks the range and is not inlined
                        // across crates: a call per field on every frame.
                        // Every value of the low 8 bits (and of the bits
                        // above, for wider fields) is made once, at compile
                        // time, by `new`; a field is then a table lookup,
                        // its index masked to the table's size.
                        const LOW_BITS: u32 = if $width < 8 { $width } else { 8 };
                        const HIGH_BITS: u32 = $width - LOW_BITS;
                        const LOW: [ux::[<u $width>]; 1 << LOW_BITS] = {
                            let mut table = [ux::[<u $width>]::new(0); 1 << LOW_BITS];
                            let mut v = 0;
                            while v < table.len() {
                                table[v] = ux::[<u $width>]::new(v as $inner);
                                v += 1;
                            }
                            table
                        };
                        const HIGH: [ux::[<u $width>]; 1 << HIGH_BITS] = {
                            let mut table = [ux::[<u $width>]::new(0); 1 << HIGH_BITS];
                            let mut v = 0;
                            while v < table.len() {
                                table[v] = ux::[<u $width>]::new(((v as u16) << LOW_BITS) as $inner);
                                v += 1;
                            }
                            table
                        };
                        let low = LOW[usize::from(value) & (LOW.len() - 1)];
                        let high = HIGH[(usize::from(value) >> LOW_BITS) & (HIGH.len() - 1)];
                        low | high
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
bit_fields!(2 => u8, 3 => u8, 4 => u8, 6 => u8, 9 => u16, 13 => u16);

/// `N` bytes (at most 8) viewed as bits, most significant bit first
/// (network order).
///
/// The bits live in one `u64` (the `N` bytes at its top). A field is
/// written bit by bit with `bitvec`'s `set` and index: with the field's width
/// a constant ([`BitField::BITS`]) and its offset known where the header is
/// laid out, the compiler folds that loop into a few shifts and masks.
/// `bitvec`'s `load_be`/`store_be` on `[u8; N]`, the obvious spelling, split
/// every access into per-element domains at run time: ~50 ns for the six
/// IPv4 header fields against ~2 ns this way (`cargo bench -p ersatz`,
/// `ersatz_parts`).
///
/// A field is read with one shift of the word. Reading it through `bitvec`
/// (index bit by bit, into a `u16` set bit by bit or shifted up) did not
/// fold: 50-100 instructions for the six fields of every parsed IPv4
/// header, against two each this way; `load_be` on the `u64` was slower
/// still. The tests check every read and write against `load_be` and
/// `store_be`, for every field of every 2-byte value.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Bits<const N: usize>(BitArray<u64, Msb0>);

impl<const N: usize> Bits<N> {
    const FITS: () = assert!(N <= 8, "Bits holds at most 8 bytes");

    /// Views existing bytes.
    #[inline]
    pub fn from_bytes(bytes: [u8; N]) -> Self {
        let () = Self::FITS;
        // Shifted in, not copied into an 8-byte array read back whole: the
        // bytes come from a header just loaded, and a wide read of narrow
        // stores stalls the CPU's store forwarding (perf showed it).
        let mut word = 0u64;
        for byte in bytes {
            word = (word << 8) | u64::from(byte);
        }
        if N > 0 {
            word <<= 64 - 8 * N;
        }
        Bits(BitArray::new(word))
    }

    /// Writes `value` at bit offset `at`.
    ///
    /// # Panics
    /// If the field does not fit in `N` bytes: a programming error in the
    /// header layout, never a property of the data.
    ///
    /// Always inlined: out of line (as LLVM left TCP's 9-bit flags), the
    /// loop is not folded into a shift, and the word goes through memory.
    #[inline(always)]
    #[cfg(test)]
    pub fn put<T: BitField>(&mut self, at: usize, value: T) -> &mut Self {
        self.put_bits(at, T::BITS, value.to_u16())
    }

    /// Writes the low `bits` bits of `value` at bit offset `at` (the
    /// higher bits of `value` are not written): [`Bits::put`] for a field
    /// held in a plain integer.
    ///
    /// # Panics
    /// As [`Bits::put`]: only for a field outside the `N` bytes, or wider
    /// than 16 bits.
    #[inline(always)]
    pub fn put_bits(&mut self, at: usize, bits: usize, value: u16) -> &mut Self {
        assert!(
            bits <= 16 && at + bits <= N * 8,
            "bit field outside {N} bytes"
        );
        let source = value.view_bits::<Msb0>();
        for k in 0..bits {
            self.0.set(at + k, source[16 - bits + k]);
        }
        self
    }

    /// Reads the field of type `T` at bit offset `at`.
    ///
    /// # Panics
    /// As [`Bits::put`]: only for a field outside the `N` bytes.
    #[inline]
    #[cfg(test)]
    pub fn get<T: BitField>(&self, at: usize) -> T {
        assert!(at + T::BITS <= N * 8, "bit field outside {N} bytes");
        // Msb0: bit `at` is the word's bit 63 - at, so the field ends
        // 64 - at - BITS bits above the word's least significant bit.
        let word = self.0.into_inner();
        T::from_u16_masked((word >> (64 - at - T::BITS)) as u16)
    }

    /// Reads the `bits` bits at bit offset `at` into a plain integer:
    /// [`Bits::get`] without the `ux` type.
    ///
    /// # Panics
    /// As [`Bits::put_bits`].
    #[inline(always)]
    pub fn get_bits(&self, at: usize, bits: usize) -> u16 {
        assert!(
            bits <= 16 && at + bits <= N * 8,
            "bit field outside {N} bytes"
        );
        let word = self.0.into_inner();
        ((word >> (64 - at - bits)) & ((1 << bits) - 1)) as u16
    }

    /// The bytes.
    #[inline]
    pub fn into_bytes(self) -> [u8; N] {
        let word = self.0.into_inner().to_be_bytes();
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(&word[..N]);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ux::{u13, u2, u3, u4, u6, u9};

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

    /// Every field of the IPv4 header's words 0 and 3 (and a few other
    /// layouts), read and written bit by bit, equals what `bitvec`'s
    /// `load_be` reads and `store_be` writes, for all 65,536 values of the
    /// word (written over every one of them, so that neighbouring bits are
    /// seen to be kept).
    #[test]
    fn bit_by_bit_agrees_with_load_and_store() {
        fn check<T: BitField + PartialEq + std::fmt::Debug>(bytes: [u8; 2], at: usize) {
            let reference = BitArray::<[u8; 2], Msb0>::new(bytes);
            let expected = T::from_u16_masked(reference[at..at + T::BITS].load_be::<u16>());
            let ours = Bits::from_bytes(bytes);
            assert_eq!(ours.get::<T>(at), expected, "{bytes:02x?} get @{at}");
            // Write the bit-reversed field value over the same bytes.
            let new = T::from_u16_masked(!u16::from_be_bytes(bytes).reverse_bits());
            let mut reference = reference;
            reference[at..at + T::BITS].store_be(new.to_u16());
            let mut ours = ours;
            ours.put(at, new);
            assert_eq!(
                ours.into_bytes(),
                reference.into_inner(),
                "{bytes:02x?} put @{at}"
            );
        }
        for value in 0..=u16::MAX {
            let bytes = value.to_be_bytes();
            for at in [0, 4, 8, 12] {
                check::<u4>(bytes, at);
            }
            for at in [0, 3, 8, 10, 13] {
                check::<u3>(bytes, at);
            }
            for at in [0, 6, 8, 14] {
                check::<u2>(bytes, at);
            }
            for at in [0, 2, 8, 10] {
                check::<u6>(bytes, at);
            }
            for at in [0, 3] {
                check::<u13>(bytes, at);
            }
            // TCP's flags: the 9 bits after data offset and reserved.
            for at in [0, 7] {
                check::<u9>(bytes, at);
            }
            // Plain integers: the same bits as the `ux` fields.
            let ours = Bits::from_bytes(bytes);
            for (at, width) in [(0, 4), (4, 4), (8, 6), (14, 2), (0, 3), (3, 13), (7, 9)] {
                let field = ours.get_bits(at, width);
                let reference = BitArray::<[u8; 2], Msb0>::new(bytes);
                assert_eq!(field, reference[at..at + width].load_be::<u16>());
                let mut written = Bits::<2>::default();
                written.put_bits(at, width, value);
                let mut expected = BitArray::<[u8; 2], Msb0>::new([0; 2]);
                expected[at..at + width].store_be(value & ((1 << width) - 1));
                assert_eq!(written.into_bytes(), expected.into_inner());
            }
            // And a value written by `put` reads back.
            let mut w = Bits::<2>::default();
            w.put(0, u3::from_u16_masked(value >> 13))
                .put(3, u13::from_u16_masked(value));
            assert_eq!(w.into_bytes(), bytes);
            assert_eq!(
                Bits::<1>::from_bytes([bytes[0]]).get::<u6>(0),
                u6::from_u16_masked(value >> 10)
            );
        }
    }

    #[test]
    fn masked_never_panics() {
        assert_eq!(u4::from_u16_masked(0xffff), u4::new(15));
        assert_eq!(u13::from_u16_masked(0xffff), u13::new(0x1fff));
        assert_eq!(u2::from_u16_masked(6), u2::new(2));
        assert_eq!(u9::from_u16_masked(0xffff), u9::new(0x1ff));
    }
}
