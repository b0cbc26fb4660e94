//! Serialization: the writers every wire type's `to_vec`, `to_slice` and
//! `append_to` write through, and [`BuildError`], the one error they fail with.
//!
//! Each type writes itself into a [`cookie_factory::WriteContext`] held by
//! reference (`write_to`, crate-private); cookie_factory stays an
//! implementation detail: no type of it appears in a public signature.

use cookie_factory::WriteContext;
use std::io::Write;

/// Why a value could not be put on the wire.
///
/// Every `to_vec`, `to_slice`, `append_to` and [`ipv4::Packet::fragments`]
/// fails with it; parsing never does (see [`parse::Error`]).
///
/// [`ipv4::Packet::fragments`]: super::ipv4::Packet::fragments
/// [`parse::Error`]: super::parse::Error
///
/// ```
/// use ersatz::wire::BuildError;
/// use ersatz::{icmp, Blob};
///
/// let echo = icmp::Echo { identifier: 1, sequence_number: 2 }.into_echo_request(Blob::empty());
/// let mut buf = [0u8; 4];
/// assert_eq!(echo.to_slice(&mut buf), Err(BuildError::BufferTooSmall { needed: 8, got: 4 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `to_slice`: the buffer is shorter than the bytes to write. Nothing
    /// is promised about what was written into it.
    #[error("the buffer holds {got} bytes, {needed} are needed")]
    BufferTooSmall {
        /// Bytes the value takes on the wire.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// A part is longer than its length field can say: IPv4 or TCP
    /// options over 40 bytes (`what` is "IPv4 options" or "TCP options"),
    /// an IPv4 packet, TCP segment or UDP datagram over 65,535 bytes
    /// ("IPv4 packet", "TCP segment", "UDP datagram").
    #[error("{what} of {len} bytes: at most {max} fit")]
    TooLong {
        /// What is too long.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most its length field allows.
        max: usize,
    },
    /// A header field holds a value wider than the bits the wire gives it:
    /// IPv4's `version` (4 bits), `dscp` (6), `ecn` (2), `flags` (3) or
    /// `fragment_offset` (13), TCP's `reserved` (3). Fields that are
    /// computed on output (IPv4's `ihl`, TCP's `data_offset`) are never
    /// refused.
    #[error("{field} is {value}: at most {max} fits")]
    OutOfRange {
        /// The field, as its struct names it ("dscp", "fragment_offset", ...).
        field: &'static str,
        /// Its value.
        value: u16,
        /// The largest value it can hold.
        max: u16,
    },
    /// [`ipv4::Packet::fragments`](super::ipv4::Packet::fragments): the
    /// MTU leaves no room for 8 bytes of payload after the header, or the
    /// fragments would need an offset past 13 bits.
    #[error("cannot fragment to an MTU of {mtu} bytes")]
    CannotFragment {
        /// The MTU asked for.
        mtu: usize,
    },
}

/// Refuses `value` for `field` if it is over `max`: the check of a bit field
/// before it is written.
#[inline(always)]
pub(crate) fn check_field(field: &'static str, value: u16, max: u16) -> Result<(), BuildError> {
    if value > max {
        return Err(out_of_range(field, value, max));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn out_of_range(field: &'static str, value: u16, max: u16) -> BuildError {
    BuildError::OutOfRange { field, value, max }
}

/// A [`BuildError::TooLong`], out of line.
#[cold]
#[inline(never)]
pub(crate) fn too_long(what: &'static str, len: usize, max: usize) -> BuildError {
    BuildError::TooLong { what, len, max }
}

/// Writes with `write` into a new vector made with room for `len` bytes.
// Sized up front: written in several pieces, a vector that starts empty
// grows (and is copied) once for each of the first few.
#[inline(always)]
pub(crate) fn to_vec(
    len: usize,
    write: impl FnOnce(&mut WriteContext<Vec<u8>>) -> Result<(), BuildError>,
) -> Result<Vec<u8>, BuildError> {
    let mut out = WriteContext::from(Vec::with_capacity(len));
    write(&mut out)?;
    Ok(out.write)
}

/// Writes with `write` at the end of `vec`, made with room for `len` more
/// bytes; on failure `vec` is left as it was.
#[inline(always)]
pub(crate) fn append(
    vec: &mut Vec<u8>,
    len: usize,
    write: impl FnOnce(&mut WriteContext<&mut Vec<u8>>) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let start = vec.len();
    vec.reserve(len);
    let mut out = WriteContext::from(&mut *vec);
    let result = write(&mut out);
    if result.is_err() {
        vec.truncate(start);
    }
    result
}

/// Writes with `write` into the front of `buf`, returning how many bytes
/// were written; a value of `len()` bytes that does not fit is a
/// [`BuildError::BufferTooSmall`].
#[inline(always)]
pub(crate) fn to_slice(
    buf: &mut [u8],
    len: impl FnOnce() -> usize,
    write: impl FnOnce(&mut WriteContext<SliceWriter<'_>>) -> Result<(), BuildError>,
) -> Result<usize, BuildError> {
    let room = buf.len();
    let mut out = WriteContext::from(SliceWriter(buf));
    match write(&mut out) {
        Ok(()) => Ok(room - out.write.0.len()),
        Err(BuildError::BufferTooSmall { .. }) => Err(too_small(len(), room)),
        Err(e) => Err(e),
    }
}

#[cold]
#[inline(never)]
fn too_small(needed: usize, got: usize) -> BuildError {
    BuildError::BufferTooSmall { needed, got }
}

/// The rest of a buffer being written, front first: what [`to_slice`]
/// serializes into.
// `&mut [u8]` writes too, but copies `min(data, room)` bytes, a length
// only known at run time: every write is a call to `memmove`, and a head
// just assembled on the stack is read back by it at other widths, which
// stalls the CPU's store forwarding. This one copies exactly the data's
// length when it fits, which the compiler knows for a fixed-size head:
// the head's bytes are then stored straight into the buffer.
#[derive(Debug)]
pub(crate) struct SliceWriter<'a>(pub(crate) &'a mut [u8]);

/// Writes what fits of `data` into `room`, which it does not fit into.
// Takes the room by value, not the writer by reference: a writer whose
// address is taken has to live in memory, and then every write waits for
// the previous one's position to come back from it.
#[cold]
#[inline(never)]
fn fill(room: &mut [u8], data: &[u8]) -> usize {
    let n = room.len();
    room.copy_from_slice(&data[..n]);
    n
}

impl Write for SliceWriter<'_> {
    #[inline(always)]
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() > self.0.len() {
            return Ok(fill(std::mem::take(&mut self.0), data));
        }
        let (head, rest) = std::mem::take(&mut self.0).split_at_mut(data.len());
        head.copy_from_slice(data);
        self.0 = rest;
        Ok(data.len())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `bytes` to `out` in place, counting the position as
/// cookie_factory's own writers do; fails with
/// [`BuildError::BufferTooSmall`] (whose numbers the caller replaces with
/// the whole value's: see [`to_slice`]) when they do not all fit.
// Heads go out as a few big-endian words; a context passed through a
// result per word was kept in memory between the writes, and its length
// read back wider than it had been stored (perf: a store-forwarding stall
// on every write).
#[inline(always)]
pub(crate) fn put<W: Write>(out: &mut WriteContext<W>, bytes: &[u8]) -> Result<(), BuildError> {
    // Straight to the writer (`WriteContext`'s own `write` is not always
    // inlined), counting the position as it would.
    match out.write.write(bytes) {
        Ok(n) => {
            out.position += n as u64;
            if n == bytes.len() {
                Ok(())
            } else {
                Err(short_write(bytes.len(), n))
            }
        }
        // The writers here (vectors and `SliceWriter`) never fail.
        Err(_) => Err(short_write(bytes.len(), 0)),
    }
}

#[cold]
#[inline(never)]
fn short_write(needed: usize, got: usize) -> BuildError {
    BuildError::BufferTooSmall { needed, got }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three<W: Write>(out: &mut WriteContext<W>) -> Result<(), BuildError> {
        put(out, &[1, 2])?;
        put(out, &[3, 4, 5])?;
        put(out, &[6, 7])
    }

    // A closure, not `three` itself: the function item is not general over
    // the writer's lifetime.
    #[allow(clippy::redundant_closure)]
    fn three_to_slice(buf: &mut [u8]) -> Result<usize, BuildError> {
        to_slice(buf, || 7, |out| three(out))
    }

    #[test]
    fn to_slice_writes_the_front_and_counts() {
        let mut buf = [0xaau8; 9];
        assert_eq!(three_to_slice(&mut buf), Ok(7));
        assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 0xaa, 0xaa]);
        let mut exact = [0u8; 7];
        assert_eq!(three_to_slice(&mut exact), Ok(7));
        assert_eq!(exact, [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn to_slice_into_too_little_room_is_an_error() {
        for room in 0..7 {
            let mut buf = vec![0u8; room];
            assert_eq!(
                three_to_slice(&mut buf),
                Err(BuildError::BufferTooSmall {
                    needed: 7,
                    got: room
                }),
                "room {room}"
            );
        }
    }

    #[test]
    fn put_counts_and_refuses() {
        let mut buf = [0u8; 5];
        let mut out = WriteContext::from(SliceWriter(&mut buf));
        put(&mut out, &[1, 2, 3]).expect("fits");
        put(&mut out, &[]).expect("nothing fits");
        assert_eq!(out.position, 3);
        assert_eq!(
            put(&mut out, &[4, 5, 6]),
            Err(BuildError::BufferTooSmall { needed: 3, got: 2 })
        );
        assert_eq!(out.position, 5);
        assert_eq!(buf, [1, 2, 3, 4, 5]);
    }

    #[test]
    #[allow(clippy::redundant_closure)] // as in `three_to_slice`
    fn append_adds_or_leaves_the_vector_as_it_was() {
        let mut vec = vec![9u8];
        append(&mut vec, 7, |out| three(out)).expect("a vector has room");
        assert_eq!(vec, [9, 1, 2, 3, 4, 5, 6, 7]);
        let failing = |out: &mut WriteContext<&mut Vec<u8>>| {
            three(out)?;
            Err(too_long("thing", 70_000, 65_535))
        };
        assert_eq!(
            append(&mut vec, 7, failing),
            Err(BuildError::TooLong {
                what: "thing",
                len: 70_000,
                max: 65_535
            })
        );
        assert_eq!(vec, [9, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(to_vec(7, three), Ok(vec[1..].to_vec()));
    }

    #[test]
    fn fields_over_their_width_are_refused() {
        assert_eq!(check_field("dscp", 63, 63), Ok(()));
        assert_eq!(
            check_field("dscp", 64, 63),
            Err(BuildError::OutOfRange {
                field: "dscp",
                value: 64,
                max: 63
            })
        );
        assert_eq!(
            BuildError::OutOfRange {
                field: "dscp",
                value: 184,
                max: 63
            }
            .to_string(),
            "dscp is 184: at most 63 fits"
        );
    }
}
