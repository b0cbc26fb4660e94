//! Parsing: [`nom`] with an error that says what was being parsed, and where.
//!
//! Every wire type has `parse(input) -> parse::Result<Self>`. On failure the
//! [`Error`] holds a stack of contexts ("Ethernet frame", "IPv4 packet", ...)
//! and the reason, each with the input position it applies to; [`Error::locate`]
//! turns that into a [`Failure`] with byte offsets into the original buffer,
//! whose `Display` reads like
//! `Ethernet frame > IPv4 packet > ICMP message: needs 8 bytes, has 3 (at byte 34)`.

use std::fmt;

use nom::error::{ContextError, ErrorKind, ParseError};

/// The input of every parser: the bytes not yet consumed.
pub type Input<'a> = &'a [u8];

/// What every parser returns: the rest of the input and the value, or an [`Error`].
pub type Result<'a, T> = nom::IResult<Input<'a>, T, Error<'a>>;

/// Why parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A nom combinator failed (most often: not enough bytes).
    Nom(ErrorKind),
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
            Reason::Nom(kind) => write!(f, "{}", kind.description()),
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
/// It is one pointer wide (the details are boxed): every parser's result
/// carries room for an error, and a small one keeps a successful parse from
/// moving a large value through every layer. Errors are the rare path.
#[derive(Clone, PartialEq, Eq)]
pub struct Error<'a>(Box<Details<'a>>);

/// What an [`Error`] knows.
#[derive(Clone, PartialEq, Eq)]
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

impl<'a> ParseError<Input<'a>> for Error<'a> {
    fn from_error_kind(input: Input<'a>, kind: ErrorKind) -> Self {
        Error::new(input, Reason::Nom(kind))
    }

    fn append(_input: Input<'a>, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> ContextError<Input<'a>> for Error<'a> {
    fn add_context(input: Input<'a>, ctx: &'static str, mut other: Self) -> Self {
        push_context(&mut other, input, ctx);
        other
    }
}

/// A located, owned parse error, for reporting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason} (at byte {offset})", .context.join(" > "))]
pub struct Failure {
    /// What was being parsed, outermost first.
    pub context: Vec<&'static str>,
    /// Byte offset of the failure in the buffer.
    pub offset: usize,
    /// Why it failed.
    pub reason: Reason,
}

/// Runs `parser` on all of `input` and returns its value, or a located
/// [`Failure`]. Bytes the parser leaves over are ignored.
pub fn run<'a, T>(
    input: &'a [u8],
    parser: impl FnOnce(Input<'a>) -> Result<'a, T>,
) -> std::result::Result<T, Failure> {
    match parser(input) {
        Ok((_, value)) => Ok(value),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.locate(input)),
        Err(nom::Err::Incomplete(_)) => Err(Failure {
            context: Vec::new(),
            offset: input.len(),
            reason: Reason::Truncated {
                needed: input.len() + 1,
                available: input.len(),
            },
        }),
    }
}

/// Wraps `parser` so that its errors name `what` it was parsing.
#[inline(always)]
pub fn context<'a, T>(
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
pub fn within<'a, T>(
    what: &'static str,
    input: Input<'a>,
    mut result: Result<'a, T>,
) -> Result<'a, T> {
    if let Err(nom::Err::Error(e) | nom::Err::Failure(e)) = &mut result {
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
pub fn invalid<'a, T>(input: Input<'a>, what: &'static str) -> Result<'a, T> {
    Err(nom::Err::Error(Error::new(input, Reason::Invalid(what))))
}

/// Splits off exactly `n` bytes, or fails with [`Reason::Truncated`].
#[inline]
pub fn take(n: usize) -> impl Fn(Input<'_>) -> Result<'_, &[u8]> {
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
///
/// The array is borrowed: fields are then read straight from the input, not
/// from a copy of it (a copy on the stack read back at other widths stalls
/// the CPU's store forwarding).
#[inline(always)]
pub fn array<const N: usize>(i: Input<'_>) -> Result<'_, &[u8; N]> {
    match i.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((rest, head)),
        None => truncated(i, N),
    }
}

/// Fails at `input`, which is shorter than the `needed` bytes.
#[cold]
#[inline(never)]
pub fn truncated<T>(input: Input<'_>, needed: usize) -> Result<'_, T> {
    Err(nom::Err::Error(Error::new(
        input,
        Reason::Truncated {
            needed,
            available: input.len(),
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nom::number::complete::be_u16;

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
            "outer > inner: End of file (at byte 2)"
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
