//! Serialization support: [`cookie_factory`] generators and the errors they
//! can return for values that cannot be put on the wire.

use cookie_factory::{GenError, SerializeFn, WriteContext};
use std::io::Write;

/// `GenError::CustomError` code: IPv4 options longer than 40 bytes.
pub const OPTIONS_TOO_LONG: u32 = 1;
/// `GenError::CustomError` code: an IPv4 packet longer than 65,535 bytes.
pub const PACKET_TOO_LONG: u32 = 2;

/// Serializes with `f` into a new vector.
pub fn to_vec<F: SerializeFn<Vec<u8>>>(f: F) -> Result<Vec<u8>, GenError> {
    cookie_factory::gen_simple(f, Vec::new())
}

/// Serializes with `f` into `buf`, returning how many bytes were written.
pub fn to_slice<F>(f: F, buf: &mut [u8]) -> Result<usize, GenError>
where
    F: for<'b> SerializeFn<&'b mut [u8]>,
{
    let len = buf.len();
    let rest = cookie_factory::gen_simple(f, buf)?;
    Ok(len - rest.len())
}

/// A generator that writes nothing.
pub fn nothing<W: Write>(out: WriteContext<W>) -> cookie_factory::GenResult<W> {
    Ok(out)
}
