//! [`Blob`]: payload bytes, borrowed from the input when parsed, owned when built.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

/// Payload bytes.
///
/// A parsed packet borrows its payload from the captured frame (no copy, no
/// allocation); [`Blob::into_owned`] detaches it. `Debug` prints hex, shortened
/// for long payloads: `[45 00 00 3c ... + 21 bytes]`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Blob<'a>(pub Cow<'a, [u8]>);

/// Blobs longer than this are shown shortened by `Debug`.
const DEBUG_FULL: usize = 8;
/// How many leading bytes a shortened `Debug` shows.
const DEBUG_HEAD: usize = 4;

impl<'a> Blob<'a> {
    /// An empty blob.
    pub const fn empty() -> Blob<'static> {
        Blob(Cow::Borrowed(&[]))
    }

    /// Detaches the bytes from the buffer they were parsed from.
    pub fn into_owned(self) -> Blob<'static> {
        Blob(Cow::Owned(self.0.into_owned()))
    }

    /// A borrowed view of the same bytes.
    pub fn borrowed(&self) -> Blob<'_> {
        Blob(Cow::Borrowed(&self.0))
    }
}

impl Deref for Blob<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Blob<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl<'a> From<&'a [u8]> for Blob<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Blob(Cow::Borrowed(bytes))
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Blob<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Blob(Cow::Borrowed(&bytes[..]))
    }
}

impl From<Vec<u8>> for Blob<'static> {
    fn from(bytes: Vec<u8>) -> Self {
        Blob(Cow::Owned(bytes))
    }
}

impl fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.len() > DEBUG_FULL {
            DEBUG_HEAD
        } else {
            self.len()
        };
        f.write_str("[")?;
        for (i, b) in self.iter().take(shown).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        if shown < self.len() {
            write!(f, " ... + {} bytes", self.len() - shown)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_hex_and_shortened() {
        let long: Vec<u8> = [0x45, 0x00, 0x00, 0x3c]
            .into_iter()
            .chain([7; 21])
            .collect();
        assert_eq!(
            format!("{:?}", Blob::from(long)),
            "[45 00 00 3c ... + 21 bytes]"
        );
        assert_eq!(format!("{:?}", Blob::from(&[1u8, 0xab])), "[01 ab]");
        assert_eq!(format!("{:?}", Blob::empty()), "[]");
        assert_eq!(
            format!("{:?}", Blob::from(&[0u8; 8])),
            "[00 00 00 00 00 00 00 00]"
        );
        assert_eq!(
            format!("{:?}", Blob::from(&[0u8; 9])),
            "[00 00 00 00 ... + 5 bytes]"
        );
    }

    #[test]
    fn into_owned_keeps_bytes() {
        let buf = vec![1u8, 2, 3];
        let owned = Blob::from(&buf[..]).into_owned();
        drop(buf);
        assert_eq!(&*owned, &[1, 2, 3]);
        assert!(matches!(owned.0, Cow::Owned(_)));
    }
}
