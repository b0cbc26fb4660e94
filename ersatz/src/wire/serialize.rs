//! Serialization support: [`cookie_factory`] generators and the errors they
//! can return for values that cannot be put on the wire.

use cookie_factory::{GenError, SerializeFn, WriteContext};
use std::io::Write;

/// `GenError::CustomError` code: IPv4 or TCP options longer than 40 bytes.
pub const OPTIONS_TOO_LONG: u32 = 1;
/// `GenError::CustomError` code: an IPv4 packet, TCP segment or UDP
/// datagram longer than 65,535 bytes.
pub const PACKET_TOO_LONG: u32 = 2;

/// Serializes with `f` into a new vector.
pub fn to_vec<F: SerializeFn<Vec<u8>>>(f: F) -> Result<Vec<u8>, GenError> {
    to_vec_sized(f, 0)
}

/// Serializes with `f` into a new vector made with room for `len` bytes:
/// written in several pieces, a vector that starts empty grows (and is
/// copied) once for each of the first few.
pub fn to_vec_sized<F: SerializeFn<Vec<u8>>>(f: F, len: usize) -> Result<Vec<u8>, GenError> {
    cookie_factory::gen_simple(f, Vec::with_capacity(len))
}

/// Serializes with `f` into `buf`, returning how many bytes were written.
pub fn to_slice<F>(f: F, buf: &mut [u8]) -> Result<usize, GenError>
where
    F: for<'b> SerializeFn<SliceWriter<'b>>,
{
    let len = buf.len();
    let rest = cookie_factory::gen_simple(f, SliceWriter(buf))?;
    Ok(len - rest.0.len())
}

/// The rest of a buffer being written, front first: what [`to_slice`]
/// serializes into.
///
/// `&mut [u8]` writes too, but copies `min(data, room)` bytes, a length
/// only known at run time: every write is a call to `memmove`, and a head
/// just assembled on the stack is read back by it at other widths, which
/// stalls the CPU's store forwarding. This one copies exactly the data's
/// length when it fits, which the compiler knows for a fixed-size head:
/// the head's bytes are then stored straight into the buffer.
#[derive(Debug)]
pub struct SliceWriter<'a>(pub &'a mut [u8]);

/// Writes what fits of `data` into `room`, which it does not fit into.
///
/// Takes the room by value, not the writer by reference: a writer whose
/// address is taken has to live in memory, and then every write waits for
/// the previous one's position to come back from it.
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

/// Writes `bytes` to `out` in place: what `cookie_factory::combinator::slice`
/// does, with the same errors, without moving the context in and out of a
/// result for every piece.
///
/// Heads go out as a few big-endian words; a context passed through a
/// result per word was kept in memory between the writes, and its length
/// read back wider than it had been stored (perf: a store-forwarding stall
/// on every write).
#[inline(always)]
pub fn put<W: Write>(out: &mut WriteContext<W>, bytes: &[u8]) -> Result<(), GenError> {
    // Straight to the writer (`WriteContext`'s own `write` is not always
    // inlined), counting the position as it would.
    match out.write.write(bytes) {
        Ok(n) => {
            out.position += n as u64;
            if n == bytes.len() {
                Ok(())
            } else {
                Err(GenError::BufferTooSmall(bytes.len() - n))
            }
        }
        Err(e) => Err(GenError::IoError(e)),
    }
}

/// A generator from a function that writes through a context held by
/// reference: how the wire types' `serialize` is made. Each layer writes
/// into the one context its caller holds, instead of taking it by value
/// and handing it back in a result (which kept it in memory between the
/// writes, see [`put`]).
#[inline(always)]
pub fn in_place<W: Write>(
    write: impl Fn(&mut WriteContext<W>) -> Result<(), GenError>,
) -> impl SerializeFn<W> {
    move |mut out: WriteContext<W>| {
        write(&mut out)?;
        Ok(out)
    }
}

/// A generator that writes nothing.
pub fn nothing<W: Write>(out: WriteContext<W>) -> cookie_factory::GenResult<W> {
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cookie_factory::bytes::be_u16;
    use cookie_factory::combinator::slice;
    use cookie_factory::sequence::tuple;

    fn three<W: Write>() -> impl SerializeFn<W> {
        tuple((be_u16(0x0102), slice([3u8, 4, 5]), be_u16(0x0607)))
    }

    fn three_to_slice(buf: &mut [u8]) -> Result<usize, GenError> {
        to_slice(|out: WriteContext<SliceWriter<'_>>| three()(out), buf)
    }

    #[test]
    fn to_slice_writes_the_front_and_counts() {
        let mut buf = [0xaau8; 9];
        assert_eq!(three_to_slice(&mut buf).ok(), Some(7));
        assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 0xaa, 0xaa]);
        let mut exact = [0u8; 7];
        assert_eq!(three_to_slice(&mut exact).ok(), Some(7));
        assert_eq!(exact, [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn to_slice_into_too_little_room_is_an_error() {
        for room in 0..7 {
            let mut buf = vec![0u8; room];
            assert!(
                matches!(three_to_slice(&mut buf), Err(GenError::BufferTooSmall(_))),
                "room {room}"
            );
        }
    }

    #[test]
    fn put_counts_and_refuses_like_slice() {
        let mut buf = [0u8; 5];
        let mut out = WriteContext::from(SliceWriter(&mut buf));
        put(&mut out, &[1, 2, 3]).expect("fits");
        put(&mut out, &[]).expect("nothing fits");
        assert_eq!(out.position, 3);
        assert!(matches!(
            put(&mut out, &[4, 5, 6]),
            Err(GenError::BufferTooSmall(1))
        ));
        assert_eq!(out.position, 5);
        assert_eq!(buf, [1, 2, 3, 4, 5]);
    }
}
