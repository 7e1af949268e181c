use std::num::NonZeroUsize;
use std::{error, fmt, io};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::input::{self, DecodeInput, Input};
use crate::{BufDecoder, Decoder, Encoder};

/// A codec for frames of one fixed length, as netty's `FixedLengthFrameDecoder`.
///
/// Decoding yields each frame as [`Bytes`] once all its bytes are in; it never
/// buffers more than one frame. End of file in the middle of a frame is an error,
/// [`FixedLengthCodecError::IncompleteFrame`]. Encoding writes the item, which must
/// be exactly one frame long.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use runtime::codec::{Decoder, Encoder, FixedLengthCodec, FixedLengthCodecError};
///
/// let mut codec = FixedLengthCodec::new(3)?;
/// let mut buf = BytesMut::from("abcdefgh");
/// assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(&b"abc"[..]));
/// assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(&b"def"[..]));
/// assert_eq!(codec.decode(&mut buf)?, None);
/// assert!(matches!(
///     codec.decode_eof(&mut buf),
///     Err(FixedLengthCodecError::IncompleteFrame { buffered: 2, frame_length: 3 })
/// ));
///
/// codec.encode("xyz", &mut buf)?;
/// assert!(codec.encode("too long", &mut buf).is_err());
/// # Ok::<(), FixedLengthCodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FixedLengthCodec {
    frame_length: NonZeroUsize,
    staging: BytesMut,
}

/// An error of [`FixedLengthCodec`].
#[derive(Debug)]
#[non_exhaustive]
pub enum FixedLengthCodecError {
    /// At construction: a frame length of 0 was given.
    ZeroFrameLength,
    /// End of file came in the middle of a frame.
    IncompleteFrame {
        /// The bytes of the frame that did arrive.
        buffered: usize,
        /// The frame length.
        frame_length: usize,
    },
    /// The encoder was given an item that is not one frame long.
    WrongLength {
        /// The item's length.
        len: usize,
        /// The frame length.
        frame_length: usize,
    },
    /// The transport failed.
    Io(io::Error),
}

impl fmt::Display for FixedLengthCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixedLengthCodecError::ZeroFrameLength => f.write_str("frame length of 0"),
            FixedLengthCodecError::IncompleteFrame {
                buffered,
                frame_length,
            } => write!(
                f,
                "end of file after {buffered} of the {frame_length} bytes of a frame"
            ),
            FixedLengthCodecError::WrongLength { len, frame_length } => write!(
                f,
                "item of {len} bytes does not match the frame length of {frame_length}"
            ),
            FixedLengthCodecError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl error::Error for FixedLengthCodecError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            FixedLengthCodecError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FixedLengthCodecError {
    fn from(e: io::Error) -> Self {
        FixedLengthCodecError::Io(e)
    }
}

impl FixedLengthCodec {
    /// Creates a codec for frames of `frame_length` bytes.
    ///
    /// # Errors
    ///
    /// [`FixedLengthCodecError::ZeroFrameLength`] if `frame_length` is 0: such a codec
    /// would yield empty frames forever without consuming input.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::{FixedLengthCodec, FixedLengthCodecError};
    ///
    /// assert_eq!(FixedLengthCodec::new(16)?.frame_length(), 16);
    /// assert!(matches!(FixedLengthCodec::new(0), Err(FixedLengthCodecError::ZeroFrameLength)));
    /// # Ok::<(), FixedLengthCodecError>(())
    /// ```
    pub fn new(frame_length: usize) -> Result<Self, FixedLengthCodecError> {
        NonZeroUsize::new(frame_length)
            .map(Self::from)
            .ok_or(FixedLengthCodecError::ZeroFrameLength)
    }

    /// Returns the frame length.
    pub fn frame_length(&self) -> usize {
        self.frame_length.get()
    }
}

impl From<NonZeroUsize> for FixedLengthCodec {
    /// Creates a codec for frames of `frame_length` bytes; infallible, since the
    /// length is not 0.
    fn from(frame_length: NonZeroUsize) -> Self {
        FixedLengthCodec {
            frame_length,
            staging: BytesMut::new(),
        }
    }
}

impl DecodeInput for FixedLengthCodec {
    type Item = Bytes;
    type Error = FixedLengthCodecError;

    #[inline]
    fn decode_input<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, FixedLengthCodecError> {
        let n = self.frame_length.get();
        if src.bytes().len() < n {
            return Ok(None);
        }
        Ok(Some(src.take_frame(n)))
    }

    fn decode_input_eof<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, FixedLengthCodecError> {
        match self.decode_input(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.bytes().is_empty() => Ok(None),
            None => Err(FixedLengthCodecError::IncompleteFrame {
                buffered: src.bytes().len(),
                frame_length: self.frame_length.get(),
            }),
        }
    }

    fn staging(&mut self) -> &mut BytesMut {
        &mut self.staging
    }
}

impl Decoder for FixedLengthCodec {
    type Item = Bytes;
    type Error = FixedLengthCodecError;

    /// Decodes the next frame.
    ///
    /// # Errors
    ///
    /// None but I/O errors: any input is a sequence of frames.
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FixedLengthCodecError> {
        self.decode_input(src)
    }

    /// Decodes the next frame at end of file.
    ///
    /// # Errors
    ///
    /// [`FixedLengthCodecError::IncompleteFrame`] if bytes are left that do not make
    /// a whole frame. They stay in `src`.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FixedLengthCodecError> {
        self.decode_input_eof(src)
    }
}

impl BufDecoder for FixedLengthCodec {
    #[inline]
    fn decode_buf<B: Buf>(&mut self, src: &mut B) -> Result<Option<Bytes>, FixedLengthCodecError> {
        input::decode_buf(self, src, false)
    }

    fn decode_buf_eof<B: Buf>(
        &mut self,
        src: &mut B,
    ) -> Result<Option<Bytes>, FixedLengthCodecError> {
        input::decode_buf(self, src, true)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for FixedLengthCodec {
    type Error = FixedLengthCodecError;

    /// Writes `frame`.
    ///
    /// # Errors
    ///
    /// [`FixedLengthCodecError::WrongLength`] if `frame` is not exactly one frame
    /// long.
    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), FixedLengthCodecError> {
        let frame = frame.as_ref();
        if frame.len() != self.frame_length.get() {
            return Err(FixedLengthCodecError::WrongLength {
                len: frame.len(),
                frame_length: self.frame_length.get(),
            });
        }
        dst.put_slice(frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_buffers_more_than_it_needs() {
        let mut codec = FixedLengthCodec::new(4).unwrap();
        let mut buf = BytesMut::from("abc");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 3, "a partial frame is left in place");
    }

    #[test]
    fn from_non_zero() {
        let codec = FixedLengthCodec::from(NonZeroUsize::new(7).unwrap());
        assert_eq!(codec.frame_length(), 7);
    }

    #[test]
    fn incomplete_frame_message() {
        let e = FixedLengthCodecError::IncompleteFrame {
            buffered: 2,
            frame_length: 5,
        };
        assert_eq!(
            e.to_string(),
            "end of file after 2 of the 5 bytes of a frame"
        );
    }
}
