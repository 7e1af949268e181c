use std::{error, fmt, io};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::input::{self, DecodeInput, Input};
use crate::{BufDecoder, Decoder, Encoder};

/// A codec that passes bytes through: decoding yields whatever is buffered, encoding
/// writes the item as is.
///
/// Its memory is bounded by what one read brings in: every call with buffered bytes
/// takes them all.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use runtime::codec::{BytesCodec, Decoder, Encoder};
///
/// let mut codec = BytesCodec::new();
/// let mut buf = BytesMut::new();
/// codec.encode(&b"any bytes"[..], &mut buf)?;
/// assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(&b"any bytes"[..]));
/// assert_eq!(codec.decode(&mut buf)?, None);
/// # Ok::<(), runtime::codec::BytesCodecError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct BytesCodec {
    staging: BytesMut,
}

/// An error of [`BytesCodec`]: only the transport can fail.
#[derive(Debug)]
#[non_exhaustive]
pub enum BytesCodecError {
    /// The transport failed.
    Io(io::Error),
}

impl fmt::Display for BytesCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BytesCodecError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl error::Error for BytesCodecError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            BytesCodecError::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for BytesCodecError {
    fn from(e: io::Error) -> Self {
        BytesCodecError::Io(e)
    }
}

impl BytesCodec {
    /// Creates a codec.
    pub fn new() -> Self {
        Self::default()
    }
}

impl DecodeInput for BytesCodec {
    type Item = Bytes;
    type Error = BytesCodecError;

    #[inline]
    fn decode_input<I: Input>(&mut self, src: &mut I) -> Result<Option<Bytes>, BytesCodecError> {
        let len = src.bytes().len();
        Ok((len > 0).then(|| src.take_frame(len)))
    }

    fn decode_input_eof<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, BytesCodecError> {
        self.decode_input(src)
    }

    fn staging(&mut self) -> &mut BytesMut {
        &mut self.staging
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = BytesCodecError;

    /// Takes every buffered byte, or returns `Ok(None)` when there is none.
    ///
    /// # Errors
    ///
    /// None: any input is valid.
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, BytesCodecError> {
        self.decode_input(src)
    }
}

impl BufDecoder for BytesCodec {
    #[inline]
    fn decode_buf<B: Buf>(&mut self, src: &mut B) -> Result<Option<Bytes>, BytesCodecError> {
        input::decode_buf(self, src, false)
    }

    fn decode_buf_eof<B: Buf>(&mut self, src: &mut B) -> Result<Option<Bytes>, BytesCodecError> {
        input::decode_buf(self, src, true)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for BytesCodec {
    type Error = BytesCodecError;

    /// Writes `data` as is.
    ///
    /// # Errors
    ///
    /// None: encoding always succeeds.
    fn encode(&mut self, data: T, dst: &mut BytesMut) -> Result<(), BytesCodecError> {
        dst.put_slice(data.as_ref());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_contiguous_buf_is_taken_whole() {
        let mut codec = BytesCodec::new();
        let mut src = (&b"ab"[..]).chain(&b"cd"[..]);
        assert_eq!(
            codec.decode_buf(&mut src).unwrap().as_deref(),
            Some(&b"abcd"[..])
        );
        assert!(!src.has_remaining());
        assert!(codec.staging.is_empty(), "staging is dropped once empty");
    }
}
