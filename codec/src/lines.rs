use std::{error, fmt, io, str};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::input::{self, DecodeInput, Input};
use crate::{BufDecoder, Decoder, Encoder};

/// The maximum line length of [`LinesCodec::new`] and [`LinesBytesCodec::new`]:
/// 64 KiB, not counting the line terminator.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 64 * 1024;

/// A codec for lines of UTF-8 text ending in `\n` or `\r\n`.
///
/// Decoding yields each line as a `String` without its terminator. Lines are bounded:
/// a line longer than the maximum length (64 KiB by default, terminator not counted)
/// gives one [`LinesCodecError::LineTooLong`]; the codec then discards input up to and
/// including the next `\n` and decodes normally from there, so its memory stays under
/// about the maximum length whatever the peer sends. A line that is not valid UTF-8
/// gives [`LinesCodecError::InvalidUtf8`] and is skipped. [`LinesBytesCodec`] is the
/// same codec without the UTF-8 check.
///
/// At end of file, a last line without a terminator is returned as a line, as
/// `BufRead::lines` and tokio-util do.
///
/// Encoding writes the string and `\n`; the string is written as is, so it should not
/// contain `\n` itself.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use runtime::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};
///
/// let mut codec = LinesCodec::with_max_length(8);
/// let mut buf = BytesMut::from("hello\r\nmuch too long\nworld\n");
/// assert_eq!(codec.decode(&mut buf)?, Some("hello".to_string()));
/// assert!(matches!(codec.decode(&mut buf), Err(LinesCodecError::LineTooLong { max: 8 })));
/// assert_eq!(codec.decode(&mut buf)?, Some("world".to_string()));
///
/// codec.encode("bye", &mut buf)?;
/// assert_eq!(&buf[..], b"bye\n");
/// # Ok::<(), LinesCodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinesCodec {
    scanner: LineScanner,
    staging: BytesMut,
}

/// A codec for lines ending in `\n` or `\r\n`, yielded as [`Bytes`] without a UTF-8
/// check.
///
/// It behaves as [`LinesCodec`] in every other way, shares its error type and never
/// returns [`LinesCodecError::InvalidUtf8`].
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use runtime::codec::{Decoder, LinesBytesCodec};
///
/// let mut codec = LinesBytesCodec::new();
/// let mut buf = BytesMut::from(&b"\xff\xfe\r\n"[..]);
/// assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(&b"\xff\xfe"[..]));
/// # Ok::<(), runtime::codec::LinesCodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinesBytesCodec {
    scanner: LineScanner,
    staging: BytesMut,
}

/// An error of [`LinesCodec`] or [`LinesBytesCodec`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LinesCodecError {
    /// A line was longer than the maximum length (terminator not counted). The codec
    /// skips the rest of that line and goes on with the next.
    LineTooLong {
        /// The maximum line length the codec was configured with.
        max: usize,
    },
    /// A line was not valid UTF-8 ([`LinesCodec`] only). The line was skipped.
    InvalidUtf8(str::Utf8Error),
    /// The transport failed.
    Io(io::Error),
}

impl fmt::Display for LinesCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinesCodecError::LineTooLong { max } => {
                write!(f, "line longer than the maximum of {max} bytes")
            }
            LinesCodecError::InvalidUtf8(e) => write!(f, "line is not valid UTF-8: {e}"),
            LinesCodecError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl error::Error for LinesCodecError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            LinesCodecError::InvalidUtf8(e) => Some(e),
            LinesCodecError::Io(e) => Some(e),
            LinesCodecError::LineTooLong { .. } => None,
        }
    }
}

impl From<io::Error> for LinesCodecError {
    fn from(e: io::Error) -> Self {
        LinesCodecError::Io(e)
    }
}

/// Finds line boundaries; shared by both line codecs.
#[derive(Debug, Clone)]
struct LineScanner {
    max_length: usize,
    /// How far the buffered input was already searched for `\n`.
    next_index: usize,
    /// Skipping the rest of an over-long line.
    discarding: bool,
}

impl LineScanner {
    fn new(max_length: usize) -> Self {
        LineScanner {
            max_length,
            next_index: 0,
            discarding: false,
        }
    }

    /// Returns the length of the next whole line at the front of `src` and the length
    /// of its terminator, after dropping any input being discarded.
    #[inline]
    fn next_line<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<(usize, usize)>, LinesCodecError> {
        if self.discarding {
            let buf = src.bytes();
            match memchr::memchr(b'\n', buf) {
                Some(newline) => {
                    src.advance(newline + 1);
                    self.discarding = false;
                }
                None => {
                    let n = buf.len();
                    src.advance(n);
                    return Ok(None);
                }
            }
        }
        let buf = src.bytes();
        // A line of `max_length` bytes is whole once its `\r\n` is in: nothing past
        // `max_length + 2` bytes needs searching (and so buffering).
        let window = buf.len().min(self.max_length.saturating_add(2));
        match memchr::memchr(b'\n', &buf[self.next_index..window]) {
            Some(offset) => {
                let newline = self.next_index + offset;
                self.next_index = 0;
                let (len, terminator) = if newline > 0 && buf[newline - 1] == b'\r' {
                    (newline - 1, 2)
                } else {
                    (newline, 1)
                };
                if len > self.max_length {
                    src.advance(newline + 1);
                    return Err(self.too_long());
                }
                Ok(Some((len, terminator)))
            }
            None if window == self.max_length.saturating_add(2) => {
                self.next_index = 0;
                self.discarding = true;
                src.advance(window);
                Err(self.too_long())
            }
            None => {
                self.next_index = window;
                Ok(None)
            }
        }
    }

    /// As `next_line`, once no more input will come: a last unterminated line counts.
    fn last_line<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<(usize, usize)>, LinesCodecError> {
        if let Some(line) = self.next_line(src)? {
            return Ok(Some(line));
        }
        let buf = src.bytes();
        if buf.is_empty() {
            return Ok(None);
        }
        // `next_line` left at most `max_length + 1` bytes and no `\n`.
        self.next_index = 0;
        let (len, terminator) = match buf.last() {
            Some(b'\r') => (buf.len() - 1, 1),
            _ => (buf.len(), 0),
        };
        if len > self.max_length {
            let n = buf.len();
            src.advance(n);
            return Err(self.too_long());
        }
        Ok(Some((len, terminator)))
    }

    fn too_long(&self) -> LinesCodecError {
        LinesCodecError::LineTooLong {
            max: self.max_length,
        }
    }
}

impl LinesCodec {
    /// Creates a codec with the default maximum line length,
    /// [`DEFAULT_MAX_LINE_LENGTH`] (64 KiB).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::{LinesCodec, DEFAULT_MAX_LINE_LENGTH};
    ///
    /// assert_eq!(LinesCodec::new().max_length(), DEFAULT_MAX_LINE_LENGTH);
    /// ```
    pub fn new() -> Self {
        Self::with_max_length(DEFAULT_MAX_LINE_LENGTH)
    }

    /// Creates a codec for lines of at most `max_length` bytes, not counting the
    /// `\n` or `\r\n` terminator.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::LinesCodec;
    ///
    /// assert_eq!(LinesCodec::with_max_length(1024).max_length(), 1024);
    /// ```
    pub fn with_max_length(max_length: usize) -> Self {
        LinesCodec {
            scanner: LineScanner::new(max_length),
            staging: BytesMut::new(),
        }
    }

    /// Returns the maximum line length.
    pub fn max_length(&self) -> usize {
        self.scanner.max_length
    }
}

impl Default for LinesCodec {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes a line of `len` bytes and its terminator from `src`, as a `String`.
#[inline]
fn take_string<I: Input>(
    src: &mut I,
    len: usize,
    terminator: usize,
) -> Result<String, LinesCodecError> {
    let line = str::from_utf8(&src.bytes()[..len])
        .map(str::to_owned)
        .map_err(LinesCodecError::InvalidUtf8);
    src.advance(len + terminator);
    line
}

impl DecodeInput for LinesCodec {
    type Item = String;
    type Error = LinesCodecError;

    #[inline]
    fn decode_input<I: Input>(&mut self, src: &mut I) -> Result<Option<String>, LinesCodecError> {
        match self.scanner.next_line(src)? {
            Some((len, terminator)) => take_string(src, len, terminator).map(Some),
            None => Ok(None),
        }
    }

    fn decode_input_eof<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<String>, LinesCodecError> {
        match self.scanner.last_line(src)? {
            Some((len, terminator)) => take_string(src, len, terminator).map(Some),
            None => Ok(None),
        }
    }

    fn staging(&mut self) -> &mut BytesMut {
        &mut self.staging
    }
}

impl Decoder for LinesCodec {
    type Item = String;
    type Error = LinesCodecError;

    /// Decodes the next line.
    ///
    /// # Errors
    ///
    /// [`LinesCodecError::LineTooLong`] once per over-long line and
    /// [`LinesCodecError::InvalidUtf8`] for a line that is not UTF-8; decoding may go
    /// on after either.
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<String>, LinesCodecError> {
        self.decode_input(src)
    }

    /// Decodes the next line; a last line without terminator counts.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<String>, LinesCodecError> {
        self.decode_input_eof(src)
    }
}

impl BufDecoder for LinesCodec {
    #[inline]
    fn decode_buf<B: Buf>(&mut self, src: &mut B) -> Result<Option<String>, LinesCodecError> {
        input::decode_buf(self, src, false)
    }

    fn decode_buf_eof<B: Buf>(&mut self, src: &mut B) -> Result<Option<String>, LinesCodecError> {
        input::decode_buf(self, src, true)
    }
}

impl<T: AsRef<str>> Encoder<T> for LinesCodec {
    type Error = LinesCodecError;

    /// Writes `line` and `\n`.
    ///
    /// # Errors
    ///
    /// None: encoding a line always succeeds.
    fn encode(&mut self, line: T, dst: &mut BytesMut) -> Result<(), LinesCodecError> {
        let line = line.as_ref();
        dst.reserve(line.len() + 1);
        dst.put_slice(line.as_bytes());
        dst.put_u8(b'\n');
        Ok(())
    }
}

impl LinesBytesCodec {
    /// Creates a codec with the default maximum line length,
    /// [`DEFAULT_MAX_LINE_LENGTH`] (64 KiB).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::{LinesBytesCodec, DEFAULT_MAX_LINE_LENGTH};
    ///
    /// assert_eq!(LinesBytesCodec::new().max_length(), DEFAULT_MAX_LINE_LENGTH);
    /// ```
    pub fn new() -> Self {
        Self::with_max_length(DEFAULT_MAX_LINE_LENGTH)
    }

    /// Creates a codec for lines of at most `max_length` bytes, not counting the
    /// `\n` or `\r\n` terminator.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::LinesBytesCodec;
    ///
    /// assert_eq!(LinesBytesCodec::with_max_length(80).max_length(), 80);
    /// ```
    pub fn with_max_length(max_length: usize) -> Self {
        LinesBytesCodec {
            scanner: LineScanner::new(max_length),
            staging: BytesMut::new(),
        }
    }

    /// Returns the maximum line length.
    pub fn max_length(&self) -> usize {
        self.scanner.max_length
    }
}

impl Default for LinesBytesCodec {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes a line of `len` bytes and its terminator from `src`.
fn take_bytes<I: Input>(src: &mut I, len: usize, terminator: usize) -> Bytes {
    let line = src.take_frame(len);
    src.advance(terminator);
    line
}

impl DecodeInput for LinesBytesCodec {
    type Item = Bytes;
    type Error = LinesCodecError;

    #[inline]
    fn decode_input<I: Input>(&mut self, src: &mut I) -> Result<Option<Bytes>, LinesCodecError> {
        Ok(self
            .scanner
            .next_line(src)?
            .map(|(len, terminator)| take_bytes(src, len, terminator)))
    }

    fn decode_input_eof<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, LinesCodecError> {
        Ok(self
            .scanner
            .last_line(src)?
            .map(|(len, terminator)| take_bytes(src, len, terminator)))
    }

    fn staging(&mut self) -> &mut BytesMut {
        &mut self.staging
    }
}

impl Decoder for LinesBytesCodec {
    type Item = Bytes;
    type Error = LinesCodecError;

    /// Decodes the next line.
    ///
    /// # Errors
    ///
    /// [`LinesCodecError::LineTooLong`] once per over-long line; decoding may go on
    /// after it.
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LinesCodecError> {
        self.decode_input(src)
    }

    /// Decodes the next line; a last line without terminator counts.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LinesCodecError> {
        self.decode_input_eof(src)
    }
}

impl BufDecoder for LinesBytesCodec {
    #[inline]
    fn decode_buf<B: Buf>(&mut self, src: &mut B) -> Result<Option<Bytes>, LinesCodecError> {
        input::decode_buf(self, src, false)
    }

    fn decode_buf_eof<B: Buf>(&mut self, src: &mut B) -> Result<Option<Bytes>, LinesCodecError> {
        input::decode_buf(self, src, true)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LinesBytesCodec {
    type Error = LinesCodecError;

    /// Writes `line` and `\n`.
    ///
    /// # Errors
    ///
    /// None: encoding a line always succeeds.
    fn encode(&mut self, line: T, dst: &mut BytesMut) -> Result<(), LinesCodecError> {
        let line = line.as_ref();
        dst.reserve(line.len() + 1);
        dst.put_slice(line);
        dst.put_u8(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LinesCodec, input: &[u8]) -> Vec<Result<String, String>> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(line)) => out.push(Ok(line)),
                Ok(None) => break,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
        out
    }

    #[test]
    fn line_of_exactly_max_length_with_crlf_is_accepted() {
        let mut codec = LinesCodec::with_max_length(3);
        let mut buf = BytesMut::from("abc\r");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut buf).unwrap().as_deref(), Some("abc"));
        assert!(buf.is_empty());
    }

    #[test]
    fn line_one_byte_over_max_is_rejected_and_consumed() {
        let mut codec = LinesCodec::with_max_length(3);
        let out = decode_all(&mut codec, b"abcd\nok\n");
        assert_eq!(
            out,
            [
                Err("line longer than the maximum of 3 bytes".to_string()),
                Ok("ok".to_string())
            ]
        );
    }

    #[test]
    fn scan_resumes_where_it_stopped() {
        let mut codec = LinesCodec::with_max_length(100);
        let mut buf = BytesMut::from("abc");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(codec.scanner.next_index, 3);
        buf.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut buf).unwrap().as_deref(), Some("abc"));
        assert_eq!(codec.scanner.next_index, 0);
    }

    #[test]
    fn over_long_line_frees_its_bytes_at_once() {
        let mut codec = LinesCodec::with_max_length(4);
        let mut buf = BytesMut::from(&[b'x'; 100][..]);
        assert!(codec.decode(&mut buf).is_err());
        assert_eq!(
            buf.len(),
            94,
            "only the searched window is dropped on error"
        );
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty(), "the rest is discarded on the next call");
        assert!(codec.scanner.discarding);
    }

    #[test]
    fn max_length_near_usize_max_does_not_overflow() {
        let mut codec = LinesCodec::with_max_length(usize::MAX);
        let out = decode_all(&mut codec, b"a\nb");
        assert_eq!(out, [Ok("a".to_string()), Ok("b".to_string())]);
    }

    #[test]
    fn invalid_utf8_skips_the_line() {
        let mut codec = LinesCodec::new();
        let out = decode_all(&mut codec, b"\xff\nok\n");
        assert_eq!(out.len(), 2);
        assert!(out[0].as_ref().unwrap_err().contains("not valid UTF-8"));
        assert_eq!(out[1], Ok("ok".to_string()));
    }

    #[test]
    fn last_line_keeps_its_bytes_and_strips_cr() {
        let mut codec = LinesCodec::new();
        assert_eq!(
            decode_all(&mut codec, b"one\ntwo\r"),
            [Ok("one".to_string()), Ok("two".to_string())]
        );
    }
}
