use std::{error, fmt, io};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::input::{self, DecodeInput, Input};
use crate::{BufDecoder, Decoder, Encoder};

/// The maximum frame length of [`LengthFieldCodec::new`] and of a new builder: 8 MiB.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

/// A codec for frames that carry their length in a header field, with netty's
/// `LengthFieldBasedFrameDecoder` configuration (as gnet v1 had it).
///
/// A frame on the wire is `length_field_offset` bytes, the length field of
/// `length_field_size` bytes (1, 2, 3, 4 or 8, big or little endian), then the rest.
/// Its whole length, header included, is
///
/// ```text
/// field value + length_adjustment + length_field_offset + length_field_size
/// ```
///
/// so the adjustment says what the field counts: 0 when it counts the bytes after
/// it, `-(offset + size)` when it counts the whole frame. The decoder drops the first
/// `initial_bytes_to_strip` bytes of each frame (by default the whole header, offset
/// and field) and yields the rest as [`Bytes`].
///
/// # Hardening
///
/// The frame length is checked against the maximum frame length (8 MiB by default,
/// counting the whole frame as on the wire) as soon as the header is in, before any
/// of the payload is buffered, so a header claiming 4 GiB costs nothing. A frame that
/// is too long gives one [`LengthFieldCodecError::FrameTooLong`]; the codec then
/// discards the frame's bytes as they arrive, without buffering them, and decodes the
/// next frame after it (netty's behaviour). The arithmetic is done without overflow:
/// a length below the header ([`FrameTooShort`](LengthFieldCodecError::FrameTooShort))
/// or shorter than the bytes to strip
/// ([`StripExceedsFrame`](LengthFieldCodecError::StripExceedsFrame)) is an error;
/// such input cannot be resynchronised, so the codec returns the same error again if
/// called again. End of file in the middle of a frame is an error,
/// [`LengthFieldCodecError::IncompleteFrame`].
///
/// # Encoding
///
/// The encoder is netty's `LengthFieldPrepender` for the same configuration: it
/// writes the first `length_field_offset` bytes of the item, the length field, then
/// the rest of the item, with the field value the decoder expects. Decoding what it
/// wrote yields the item minus its first `initial_bytes_to_strip` bytes, counted on
/// the wire (with the default configuration: the item itself).
///
/// # Examples
///
/// The default configuration, tokio-util's `LengthDelimitedCodec` default: a 4-byte
/// big-endian length of the payload, stripped.
///
/// ```
/// use bytes::BytesMut;
/// use runtime::codec::{Decoder, Encoder, LengthFieldCodec};
///
/// let mut codec = LengthFieldCodec::new();
/// let mut buf = BytesMut::new();
/// codec.encode("hello", &mut buf)?;
/// assert_eq!(&buf[..], b"\0\0\0\x05hello");
/// assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(&b"hello"[..]));
/// # Ok::<(), runtime::codec::LengthFieldCodecError>(())
/// ```
///
/// A header of a 1-byte type and a 2-byte little-endian length that counts the whole
/// frame; the decoder strips the header and yields the payload:
///
/// ```
/// use bytes::BytesMut;
/// use runtime::codec::{Decoder, LengthFieldCodec};
///
/// let mut codec = LengthFieldCodec::builder()
///     .length_field_offset(1)
///     .length_field_size(2)
///     .little_endian()
///     .length_adjustment(-3)
///     .initial_bytes_to_strip(3)
///     .max_frame_length(1024)
///     .build()?;
/// let mut buf = BytesMut::from(&b"\x07\x05\x00hi\x07\x03\x00"[..]);
/// assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(&b"hi"[..]));
/// assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(&b""[..]));
/// # Ok::<(), runtime::codec::LengthFieldCodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LengthFieldCodec {
    config: Config,
    state: State,
    staging: BytesMut,
}

/// Builds a [`LengthFieldCodec`]; made by [`LengthFieldCodec::builder`].
///
/// # Examples
///
/// ```
/// use runtime::codec::LengthFieldCodec;
///
/// // A 2-byte length counting the bytes after it, at offset 0, kept in the frame.
/// let codec = LengthFieldCodec::builder()
///     .length_field_size(2)
///     .initial_bytes_to_strip(0)
///     .build()?;
/// assert_eq!(codec.header_length(), 2);
/// # Ok::<(), runtime::codec::LengthFieldCodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LengthFieldCodecBuilder {
    max_frame_length: usize,
    length_field_offset: usize,
    length_field_size: usize,
    length_adjustment: i64,
    initial_bytes_to_strip: Option<usize>,
    big_endian: bool,
}

#[derive(Debug, Clone)]
struct Config {
    max_frame_length: usize,
    length_field_offset: usize,
    length_field_size: usize,
    /// `length_field_offset + length_field_size`.
    header_length: usize,
    length_adjustment: i64,
    initial_bytes_to_strip: usize,
    big_endian: bool,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for the header of the next frame.
    Head,
    /// The header was read: the frame is this many bytes on the wire.
    Frame(usize),
    /// Dropping this many more bytes of a frame that was too long.
    Discard(u64),
}

/// An error of [`LengthFieldCodec`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LengthFieldCodecError {
    /// A frame is longer than the maximum frame length. The decoder discards it and
    /// goes on with the next frame.
    FrameTooLong {
        /// The frame's length on the wire, header included (saturated at
        /// `u64::MAX`).
        len: u64,
        /// The maximum frame length.
        max: usize,
    },
    /// The length field gives a frame shorter than its own header: the adjusted
    /// length is negative or below `length_field_offset + length_field_size`.
    FrameTooShort {
        /// The frame's length on the wire as computed from the field.
        len: i64,
        /// The header length, the least a frame can be.
        min: usize,
    },
    /// A frame is shorter than `initial_bytes_to_strip`.
    StripExceedsFrame {
        /// The frame's length on the wire.
        len: usize,
        /// The bytes to strip.
        strip: usize,
    },
    /// End of file came in the middle of a frame.
    IncompleteFrame {
        /// The bytes of the frame that did arrive.
        buffered: usize,
        /// The frame's length on the wire, once its header arrived.
        expected: Option<usize>,
    },
    /// The encoder was given an item shorter than `length_field_offset`, the bytes
    /// that go before the length field.
    ItemShorterThanOffset {
        /// The item's length.
        len: usize,
        /// The length field offset.
        offset: usize,
    },
    /// The encoder was given an item whose length, as written in the field, is
    /// negative or does not fit a field of `field_size` bytes.
    LengthDoesNotFitField {
        /// The value the field would hold.
        value: i128,
        /// The length field size in bytes.
        field_size: usize,
    },
    /// At construction: the length field size is not 1, 2, 3, 4 or 8.
    InvalidLengthFieldSize {
        /// The size given.
        size: usize,
    },
    /// At construction: the header (`length_field_offset + length_field_size`) is
    /// longer than the maximum frame length.
    HeaderExceedsMaxFrameLength {
        /// The length field offset.
        offset: usize,
        /// The length field size.
        size: usize,
        /// The maximum frame length.
        max: usize,
    },
    /// The transport failed.
    Io(io::Error),
}

impl fmt::Display for LengthFieldCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LengthFieldCodecError::*;
        match self {
            FrameTooLong { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            FrameTooShort { len, min } => write!(
                f,
                "length field gives a frame of {len} bytes, shorter than its {min}-byte header"
            ),
            StripExceedsFrame { len, strip } => write!(
                f,
                "frame of {len} bytes is shorter than the {strip} bytes to strip"
            ),
            IncompleteFrame {
                buffered,
                expected: Some(expected),
            } => write!(
                f,
                "end of file after {buffered} of the {expected} bytes of a frame"
            ),
            IncompleteFrame {
                buffered,
                expected: None,
            } => write!(f, "end of file after {buffered} bytes of a frame header"),
            ItemShorterThanOffset { len, offset } => write!(
                f,
                "item of {len} bytes is shorter than the length field offset of {offset}"
            ),
            LengthDoesNotFitField { value, field_size } => write!(
                f,
                "length {value} does not fit a {field_size}-byte length field"
            ),
            InvalidLengthFieldSize { size } => write!(
                f,
                "length field size of {size} bytes; expected 1, 2, 3, 4 or 8"
            ),
            HeaderExceedsMaxFrameLength { offset, size, max } => write!(
                f,
                "header of {offset} + {size} bytes exceeds the maximum frame length of {max}"
            ),
            Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl error::Error for LengthFieldCodecError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            LengthFieldCodecError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for LengthFieldCodecError {
    fn from(e: io::Error) -> Self {
        LengthFieldCodecError::Io(e)
    }
}

impl LengthFieldCodec {
    /// Creates a codec with the default configuration: a 4-byte big-endian length
    /// field at offset 0 that counts the bytes after it, the header stripped, and a
    /// maximum frame length of [`DEFAULT_MAX_FRAME_LENGTH`] (8 MiB).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::{LengthFieldCodec, DEFAULT_MAX_FRAME_LENGTH};
    ///
    /// let codec = LengthFieldCodec::new();
    /// assert_eq!(codec.max_frame_length(), DEFAULT_MAX_FRAME_LENGTH);
    /// assert_eq!(codec.header_length(), 4);
    /// ```
    pub fn new() -> Self {
        LengthFieldCodecBuilder::new()
            .build()
            .expect("the default configuration is valid")
    }

    /// Returns a builder, with the configuration of [`LengthFieldCodec::new`] to
    /// start from.
    pub fn builder() -> LengthFieldCodecBuilder {
        LengthFieldCodecBuilder::new()
    }

    /// Returns the maximum frame length, header included.
    pub fn max_frame_length(&self) -> usize {
        self.config.max_frame_length
    }

    /// Returns the header length: `length_field_offset + length_field_size`.
    pub fn header_length(&self) -> usize {
        self.config.header_length
    }
}

impl Default for LengthFieldCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl LengthFieldCodecBuilder {
    fn new() -> Self {
        LengthFieldCodecBuilder {
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            length_field_offset: 0,
            length_field_size: 4,
            length_adjustment: 0,
            initial_bytes_to_strip: None,
            big_endian: true,
        }
    }

    /// Sets the maximum frame length, counting the whole frame as on the wire,
    /// header included. Default: [`DEFAULT_MAX_FRAME_LENGTH`] (8 MiB).
    pub fn max_frame_length(&mut self, max: usize) -> &mut Self {
        self.max_frame_length = max;
        self
    }

    /// Sets how many bytes come before the length field. Default: 0.
    pub fn length_field_offset(&mut self, offset: usize) -> &mut Self {
        self.length_field_offset = offset;
        self
    }

    /// Sets the length field size in bytes: 1, 2, 3, 4 or 8 (checked by
    /// [`build`](Self::build)). Default: 4.
    pub fn length_field_size(&mut self, size: usize) -> &mut Self {
        self.length_field_size = size;
        self
    }

    /// Sets what is added to the field value to get the length of the rest of the
    /// frame after the field; may be negative. Default: 0.
    pub fn length_adjustment(&mut self, adjustment: i64) -> &mut Self {
        self.length_adjustment = adjustment;
        self
    }

    /// Sets how many bytes are dropped from the front of each decoded frame.
    /// Default: the whole header, `length_field_offset + length_field_size`.
    pub fn initial_bytes_to_strip(&mut self, strip: usize) -> &mut Self {
        self.initial_bytes_to_strip = Some(strip);
        self
    }

    /// Reads and writes the length field big endian (network order). The default.
    pub fn big_endian(&mut self) -> &mut Self {
        self.big_endian = true;
        self
    }

    /// Reads and writes the length field little endian.
    pub fn little_endian(&mut self) -> &mut Self {
        self.big_endian = false;
        self
    }

    /// Reads and writes the length field in the byte order of this machine.
    pub fn native_endian(&mut self) -> &mut Self {
        self.big_endian = cfg!(target_endian = "big");
        self
    }

    /// Builds the codec.
    ///
    /// # Errors
    ///
    /// [`LengthFieldCodecError::InvalidLengthFieldSize`] if the field size is not 1,
    /// 2, 3, 4 or 8, and [`LengthFieldCodecError::HeaderExceedsMaxFrameLength`] if
    /// the header is longer than the maximum frame length.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::{LengthFieldCodec, LengthFieldCodecError};
    ///
    /// let err = LengthFieldCodec::builder().length_field_size(5).build().unwrap_err();
    /// assert!(matches!(err, LengthFieldCodecError::InvalidLengthFieldSize { size: 5 }));
    /// ```
    pub fn build(&self) -> Result<LengthFieldCodec, LengthFieldCodecError> {
        if !matches!(self.length_field_size, 1 | 2 | 3 | 4 | 8) {
            return Err(LengthFieldCodecError::InvalidLengthFieldSize {
                size: self.length_field_size,
            });
        }
        let header_length = self
            .length_field_offset
            .checked_add(self.length_field_size)
            .filter(|&header| header <= self.max_frame_length)
            .ok_or(LengthFieldCodecError::HeaderExceedsMaxFrameLength {
                offset: self.length_field_offset,
                size: self.length_field_size,
                max: self.max_frame_length,
            })?;
        Ok(LengthFieldCodec {
            config: Config {
                max_frame_length: self.max_frame_length,
                length_field_offset: self.length_field_offset,
                length_field_size: self.length_field_size,
                header_length,
                length_adjustment: self.length_adjustment,
                initial_bytes_to_strip: self.initial_bytes_to_strip.unwrap_or(header_length),
                big_endian: self.big_endian,
            },
            state: State::Head,
            staging: BytesMut::new(),
        })
    }
}

impl Config {
    /// Reads the length field from the header at the front of `buf`.
    #[inline]
    fn read_field(&self, buf: &[u8]) -> u64 {
        let field = &buf[self.length_field_offset..self.header_length];
        // Fixed-size reads for the common sizes: a copy of a runtime length would be
        // a `memcpy` call per frame.
        match (field, self.big_endian) {
            (&[a], _) => u64::from(a),
            (&[a, b], true) => u64::from(u16::from_be_bytes([a, b])),
            (&[a, b], false) => u64::from(u16::from_le_bytes([a, b])),
            (&[a, b, c, d], true) => u64::from(u32::from_be_bytes([a, b, c, d])),
            (&[a, b, c, d], false) => u64::from(u32::from_le_bytes([a, b, c, d])),
            (&[a, b, c], true) => u64::from(u32::from_be_bytes([0, a, b, c])),
            (&[a, b, c], false) => u64::from(u32::from_le_bytes([a, b, c, 0])),
            (field, true) => field.iter().fold(0, |n, &b| n << 8 | u64::from(b)),
            (field, false) => field.iter().rev().fold(0, |n, &b| n << 8 | u64::from(b)),
        }
    }

    /// Returns the length on the wire of the frame whose header is at the front of
    /// `buf`, checked against the configuration.
    #[inline]
    fn frame_length(&self, buf: &[u8]) -> Result<usize, LengthFieldCodecError> {
        // i128 holds any u64 + i64 + usize: no step can overflow.
        let len = i128::from(self.read_field(buf))
            + i128::from(self.length_adjustment)
            + self.header_length as i128;
        if len < self.header_length as i128 {
            return Err(LengthFieldCodecError::FrameTooShort {
                // The header is buffered, so it is below isize::MAX and so is `len`.
                len: len as i64,
                min: self.header_length,
            });
        }
        if len > self.max_frame_length as i128 {
            return Err(LengthFieldCodecError::FrameTooLong {
                len: u64::try_from(len).unwrap_or(u64::MAX),
                max: self.max_frame_length,
            });
        }
        let len = len as usize;
        if len < self.initial_bytes_to_strip {
            return Err(LengthFieldCodecError::StripExceedsFrame {
                len,
                strip: self.initial_bytes_to_strip,
            });
        }
        Ok(len)
    }

    /// The largest value a length field of this size holds.
    fn max_field_value(&self) -> u64 {
        u64::MAX >> (64 - 8 * self.length_field_size)
    }
}

impl DecodeInput for LengthFieldCodec {
    type Item = Bytes;
    type Error = LengthFieldCodecError;

    #[inline]
    fn decode_input<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, LengthFieldCodecError> {
        loop {
            match self.state {
                State::Head => {
                    let buf = src.bytes();
                    if buf.len() < self.config.header_length {
                        return Ok(None);
                    }
                    match self.config.frame_length(buf) {
                        Ok(len) => self.state = State::Frame(len),
                        Err(e) => {
                            if let LengthFieldCodecError::FrameTooLong { len, .. } = e {
                                self.state = State::Discard(len);
                            }
                            return Err(e);
                        }
                    }
                }
                State::Frame(len) => {
                    if src.bytes().len() < len {
                        return Ok(None);
                    }
                    self.state = State::Head;
                    let strip = self.config.initial_bytes_to_strip;
                    src.advance(strip);
                    return Ok(Some(src.take_frame(len - strip)));
                }
                State::Discard(remaining) => {
                    let buffered = src.bytes().len();
                    let n = usize::try_from(remaining).map_or(buffered, |r| r.min(buffered));
                    src.advance(n);
                    let remaining = remaining - n as u64;
                    if remaining > 0 {
                        self.state = State::Discard(remaining);
                        return Ok(None);
                    }
                    self.state = State::Head;
                }
            }
        }
    }

    fn decode_input_eof<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, LengthFieldCodecError> {
        if let Some(frame) = self.decode_input(src)? {
            return Ok(Some(frame));
        }
        let buffered = src.bytes().len();
        match self.state {
            _ if buffered == 0 => Ok(None),
            State::Discard(_) => {
                // The rest of a frame already reported as too long.
                src.advance(buffered);
                self.state = State::Head;
                Ok(None)
            }
            State::Head => Err(LengthFieldCodecError::IncompleteFrame {
                buffered,
                expected: None,
            }),
            State::Frame(len) => Err(LengthFieldCodecError::IncompleteFrame {
                buffered,
                expected: Some(len),
            }),
        }
    }

    fn staging(&mut self) -> &mut BytesMut {
        &mut self.staging
    }
}

impl Decoder for LengthFieldCodec {
    type Item = Bytes;
    type Error = LengthFieldCodecError;

    /// Decodes the next frame.
    ///
    /// # Errors
    ///
    /// [`LengthFieldCodecError::FrameTooLong`] once per frame that is too long (the
    /// decoder then skips it), [`LengthFieldCodecError::FrameTooShort`] and
    /// [`LengthFieldCodecError::StripExceedsFrame`] for a length field that cannot
    /// be right (returned again on every later call).
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LengthFieldCodecError> {
        self.decode_input(src)
    }

    /// Decodes the next frame at end of file.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode), and [`LengthFieldCodecError::IncompleteFrame`] if
    /// bytes are left that do not make a whole frame.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LengthFieldCodecError> {
        self.decode_input_eof(src)
    }
}

impl BufDecoder for LengthFieldCodec {
    #[inline]
    fn decode_buf<B: Buf>(&mut self, src: &mut B) -> Result<Option<Bytes>, LengthFieldCodecError> {
        input::decode_buf(self, src, false)
    }

    fn decode_buf_eof<B: Buf>(
        &mut self,
        src: &mut B,
    ) -> Result<Option<Bytes>, LengthFieldCodecError> {
        input::decode_buf(self, src, true)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LengthFieldCodec {
    type Error = LengthFieldCodecError;

    /// Writes the item's first `length_field_offset` bytes, the length field, and
    /// the rest of the item.
    ///
    /// # Errors
    ///
    /// [`LengthFieldCodecError::ItemShorterThanOffset`] if the item is shorter than
    /// the length field offset, [`LengthFieldCodecError::FrameTooLong`] if the frame
    /// would exceed the maximum frame length,
    /// [`LengthFieldCodecError::StripExceedsFrame`] if it would be shorter than the
    /// bytes the decoder strips, and
    /// [`LengthFieldCodecError::LengthDoesNotFitField`] if the field value would be
    /// negative or too large for the field. Nothing is written then.
    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), LengthFieldCodecError> {
        let item = item.as_ref();
        let config = &self.config;
        let offset = config.length_field_offset;
        if item.len() < offset {
            return Err(LengthFieldCodecError::ItemShorterThanOffset {
                len: item.len(),
                offset,
            });
        }
        let frame_length = item.len() as u128 + config.length_field_size as u128;
        if frame_length > config.max_frame_length as u128 {
            return Err(LengthFieldCodecError::FrameTooLong {
                len: u64::try_from(frame_length).unwrap_or(u64::MAX),
                max: config.max_frame_length,
            });
        }
        if frame_length < config.initial_bytes_to_strip as u128 {
            return Err(LengthFieldCodecError::StripExceedsFrame {
                len: frame_length as usize,
                strip: config.initial_bytes_to_strip,
            });
        }
        // The inverse of `Config::frame_length`.
        let value = (item.len() - offset) as i128 - i128::from(config.length_adjustment);
        let field = u64::try_from(value)
            .ok()
            .filter(|&v| v <= config.max_field_value())
            .ok_or(LengthFieldCodecError::LengthDoesNotFitField {
                value,
                field_size: config.length_field_size,
            })?;
        let size = config.length_field_size;
        dst.reserve(item.len() + size);
        dst.put_slice(&item[..offset]);
        if config.big_endian {
            dst.put_slice(&field.to_be_bytes()[8 - size..]);
        } else {
            dst.put_slice(&field.to_le_bytes()[..size]);
        }
        dst.put_slice(&item[offset..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_field_size_in_both_orders() {
        let header = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let cases: [(usize, u64, u64); 5] = [
            (1, 0x01, 0x01),
            (2, 0x0102, 0x0201),
            (3, 0x01_0203, 0x03_0201),
            (4, 0x0102_0304, 0x0403_0201),
            (8, 0x0102_0304_0506_0708, 0x0807_0605_0403_0201),
        ];
        for (size, be, le) in cases {
            let big = LengthFieldCodec::builder()
                .length_field_size(size)
                .build()
                .unwrap();
            let little = LengthFieldCodec::builder()
                .length_field_size(size)
                .little_endian()
                .build()
                .unwrap();
            assert_eq!(big.config.read_field(&header), be, "size {size} big endian");
            assert_eq!(
                little.config.read_field(&header),
                le,
                "size {size} little endian"
            );
            assert_eq!(big.config.max_field_value(), u64::MAX >> (64 - 8 * size));
        }
    }

    #[test]
    fn native_endian_matches_the_target() {
        let codec = LengthFieldCodec::builder().native_endian().build().unwrap();
        assert_eq!(codec.config.big_endian, cfg!(target_endian = "big"));
    }

    #[test]
    fn header_longer_than_max_is_rejected() {
        let err = LengthFieldCodec::builder()
            .length_field_offset(usize::MAX)
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            LengthFieldCodecError::HeaderExceedsMaxFrameLength {
                offset: usize::MAX,
                size: 4,
                ..
            }
        ));
        let err = LengthFieldCodec::builder()
            .max_frame_length(3)
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            LengthFieldCodecError::HeaderExceedsMaxFrameLength { max: 3, .. }
        ));
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut codec = LengthFieldCodec::builder()
            .length_field_size(8)
            .length_adjustment(i64::MAX)
            .max_frame_length(usize::MAX)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&[0xff; 8][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(LengthFieldCodecError::FrameTooLong {
                len: u64::MAX,
                max: usize::MAX
            })
        ));

        let mut codec = LengthFieldCodec::builder()
            .length_field_size(8)
            .length_adjustment(i64::MIN)
            .build()
            .unwrap();
        let mut buf = BytesMut::from(&[0; 8][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(LengthFieldCodecError::FrameTooShort { len, min: 8 }) if len == i64::MIN + 8
        ));
    }

    #[test]
    fn frame_state_is_kept_between_calls() {
        let mut codec = LengthFieldCodec::new();
        let mut buf = BytesMut::from(&b"\0\0\0\x03a"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(matches!(codec.state, State::Frame(7)));
        buf.extend_from_slice(b"bc");
        assert_eq!(
            codec.decode(&mut buf).unwrap().as_deref(),
            Some(&b"abc"[..])
        );
        assert!(matches!(codec.state, State::Head));
    }
}
