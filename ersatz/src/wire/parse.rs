//! Parsing: plain functions from bytes to values, with an error that says
//! what was being parsed, and where.
//!
//! Every wire type has `parse(input) -> parse::Result<Self>`: on success the
//! bytes left after the value and the value, `Ok((rest, value))`, in the
//! style of nom (without its types). On failure the [`Error`] holds a stack
//! of contexts ("Ethernet frame", "IPv4 packet", ...) and the reason, each
//! with the input position it applies to; [`Error::locate`] turns that into
//! a [`Failure`] with byte offsets into the original buffer, whose `Display`
//! reads like
//! `Ethernet frame > IPv4 packet > ICMP message: needs 8 bytes, has 3 (at byte 34)`.
//! [`run`] does both steps: a whole buffer in, a value or a [`Failure`] out.
//!
//! ```
//! use ersatz::{ethernet, parse};
//!
//! // A frame cut short inside its ICMP message.
//! let bytes = [
//!     0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // Ethernet
//!     0x45, 0, 0, 23, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
//!     8, 0, 0, // 3 bytes of ICMP
//! ];
//! let failure = parse::run(&bytes, ethernet::Frame::parse).unwrap_err();
//! assert_eq!(failure.offset, 34);
//! assert_eq!(
//!     failure.to_string(),
//!     "Ethernet frame > IPv4 packet > ICMP message: needs 8 bytes, has 3 (at byte 34)"
//! );
//! ```

use std::fmt;

/// The input of every parser: the bytes not yet consumed.
pub type Input<'a> = &'a [u8];

/// What every parser returns: the rest of the input and the value, or an [`Error`].
pub type Result<'a, T> = std::result::Result<(Input<'a>, T), Error<'a>>;

/// Why parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The input needed `needed` more bytes than it had.
    Truncated {
        /// Bytes the field needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The bytes are there but say something impossible.
    Invalid(&'static str),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Truncated { needed, available } => {
                write!(f, "needs {needed} bytes, has {available}")
            }
            Reason::Invalid(what) => f.write_str(what),
        }
    }
}

/// A parse error: the reason, and the contexts it happened in (innermost first),
/// each with the input that was left at that point.
///
/// It borrows the input, so it cannot outlive the buffer (nor go into a
/// `Box<dyn Error>` with `?`): [`Error::locate`] makes an owned
/// [`Failure`] of it, and [`run`] parses straight to one.
///
/// Its [`Details`] are read through `Deref`: `error.reason`, `error.context`.
// One pointer wide (the details are boxed): every parser's result carries
// room for an error, and a small one keeps a successful parse from moving a
// large value through every layer. Errors are the rare path.
#[derive(Clone, PartialEq, Eq)]
pub struct Error<'a>(Box<Details<'a>>);

/// What an [`Error`] knows.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Details<'a> {
    /// Where and why it failed.
    pub reason: (Input<'a>, Reason),
    /// The enclosing contexts, innermost first.
    pub context: Vec<(Input<'a>, &'static str)>,
}

impl<'a> std::ops::Deref for Error<'a> {
    type Target = Details<'a>;
    fn deref(&self) -> &Details<'a> {
        &self.0
    }
}

impl<'a> Error<'a> {
    /// An error at `input` for `reason`, with no context yet.
    #[cold]
    #[must_use]
    pub fn new(input: Input<'a>, reason: Reason) -> Self {
        Error(Box::new(Details {
            reason: (input, reason),
            context: Vec::new(),
        }))
    }

    /// Resolves the positions against the buffer that was handed to the
    /// outermost parser, giving an owned, displayable [`Failure`].
    ///
    /// Positions that do not lie inside `full` (a parser run on another
    /// buffer) are reported at offset `full.len()`.
    ///
    /// ```
    /// use ersatz::icmp;
    ///
    /// let bytes = [8u8, 0, 0];
    /// let error = icmp::Packet::parse(&bytes).unwrap_err();
    /// let failure = error.locate(&bytes);
    /// assert_eq!(failure.context, ["ICMP message"]);
    /// assert_eq!(failure.to_string(), "ICMP message: needs 8 bytes, has 3 (at byte 0)");
    /// ```
    #[must_use]
    pub fn locate(&self, full: &[u8]) -> Failure {
        let offset = |rest: Input<'_>| {
            let start = full.as_ptr() as usize;
            let at = rest.as_ptr() as usize;
            if at >= start && at + rest.len() <= start + full.len() {
                at - start
            } else {
                full.len()
            }
        };
        Failure {
            context: self.context.iter().rev().map(|(_, c)| *c).collect(),
            offset: offset(self.reason.0),
            reason: self.reason.1,
        }
    }
}

impl fmt::Debug for Error<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let contexts: Vec<_> = self.context.iter().rev().map(|(_, c)| *c).collect();
        write!(
            f,
            "{}: {} ({} bytes left)",
            contexts.join(" > "),
            self.reason.1,
            self.reason.0.len()
        )
    }
}

impl fmt::Display for Error<'_> {
    /// As the [`Failure`] it locates to, without the offset (an error does
    /// not know the buffer it started in).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let contexts: Vec<_> = self.context.iter().rev().map(|(_, c)| *c).collect();
        write!(f, "{}: {}", contexts.join(" > "), self.reason.1)
    }
}

impl std::error::Error for Error<'_> {}

/// A located, owned parse error, for reporting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{}: {reason} (at byte {offset})", .context.join(" > "))]
pub struct Failure {
    /// What was being parsed, outermost first.
    pub context: Vec<&'static str>,
    /// Byte offset of the failure in the buffer.
    pub offset: usize,
    /// Why it failed.
    pub reason: Reason,
}

/// Runs `parser` on all of `input` and returns its value. Bytes the parser
/// leaves over are ignored.
///
/// # Errors
///
/// What `parser` fails with, located in `input` (see [`Error::locate`]).
///
/// ```
/// use ersatz::{ipv4, parse};
///
/// let header = [
///     0x45, 0, 0, 20, 0x12, 0x34, 0x40, 0, 64, 253, 0x13, 0xb7, 10, 0, 0, 1, 10, 0, 0, 2,
/// ];
/// let packet = parse::run(&header, ipv4::Packet::parse)?;
/// assert_eq!((packet.ttl, packet.checksum_ok), (64, true));
/// assert_eq!(packet.protocol, ipv4::Protocol::Other(253));
/// # Ok::<(), parse::Failure>(())
/// ```
pub fn run<'a, T>(
    input: &'a [u8],
    parser: impl FnOnce(Input<'a>) -> Result<'a, T>,
) -> std::result::Result<T, Failure> {
    match parser(input) {
        Ok((_, value)) => Ok(value),
        Err(e) => Err(e.locate(input)),
    }
}

/// Wraps `parser` so that its errors name `what` it was parsing.
#[inline(always)]
#[cfg(test)]
pub(crate) fn context<'a, T>(
    what: &'static str,
    parser: impl FnOnce(Input<'a>) -> Result<'a, T>,
) -> impl FnOnce(Input<'a>) -> Result<'a, T> {
    move |i| within(what, i, parser(i))
}

/// Names `what` was being parsed from `input` in `result`'s error, if it is
/// one: [`context`] for a result already in hand.
///
/// A success is returned untouched, in place: the wire types' parsers are
/// written as `within("IPv4 packet", i, fields(i))` so that a parsed packet is
/// built once, where the caller wants it, instead of being copied out of a
/// combinator's return value layer by layer.
#[inline(always)]
pub(crate) fn within<'a, T>(
    what: &'static str,
    input: Input<'a>,
    mut result: Result<'a, T>,
) -> Result<'a, T> {
    if let Err(e) = &mut result {
        push_context(e, input, what);
    }
    result
}

#[cold]
#[inline(never)]
fn push_context<'a>(error: &mut Error<'a>, input: Input<'a>, what: &'static str) {
    error.0.context.push((input, what));
}

/// Fails at `input` because the bytes say something impossible.
#[cold]
#[inline(never)]
pub(crate) fn invalid<'a, T>(input: Input<'a>, what: &'static str) -> Result<'a, T> {
    Err(Error::new(input, Reason::Invalid(what)))
}

/// Splits off exactly `n` bytes, or fails with [`Reason::Truncated`].
#[inline]
#[cfg(test)]
pub(crate) fn take(n: usize) -> impl Fn(Input<'_>) -> Result<'_, &[u8]> {
    move |i: Input<'_>| {
        if i.len() < n {
            truncated(i, n)
        } else {
            let (head, rest) = i.split_at(n);
            Ok((rest, head))
        }
    }
}

/// Splits off exactly `N` bytes as an array, or fails with [`Reason::Truncated`].
// The array is borrowed: fields are then read straight from the input, not
// from a copy of it (a copy on the stack read back at other widths stalls
// the CPU's store forwarding).
#[inline(always)]
pub(crate) fn array<const N: usize>(i: Input<'_>) -> Result<'_, &[u8; N]> {
    match i.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((rest, head)),
        None => truncated(i, N),
    }
}

/// Fails at `input`, which is shorter than the `needed` bytes.
#[cold]
#[inline(never)]
pub(crate) fn truncated<T>(input: Input<'_>, needed: usize) -> Result<'_, T> {
    Err(Error::new(
        input,
        Reason::Truncated {
            needed,
            available: input.len(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be_u16(i: Input<'_>) -> Result<'_, u16> {
        let (i, bytes) = array::<2>(i)?;
        Ok((i, u16::from_be_bytes(*bytes)))
    }

    fn outer(i: Input<'_>) -> Result<'_, u16> {
        context("outer", |i| {
            let (i, _) = take(2)(i)?;
            context("inner", be_u16)(i)
        })(i)
    }

    #[test]
    fn failure_names_contexts_and_offset() {
        let buf = [1u8, 2, 3];
        let failure = run(&buf, outer).unwrap_err();
        assert_eq!(failure.context, vec!["outer", "inner"]);
        assert_eq!(failure.offset, 2);
        assert_eq!(
            failure.to_string(),
            "outer > inner: needs 2 bytes, has 1 (at byte 2)"
        );
    }

    #[test]
    fn truncated_says_how_much() {
        let buf = [1u8, 2, 3];
        let failure = run(&buf, context("thing", array::<8>)).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "thing: needs 8 bytes, has 3 (at byte 0)"
        );
    }

    #[test]
    fn success_returns_value() {
        assert_eq!(run(&[0, 0, 1, 2], outer), Ok(0x0102));
    }
}
