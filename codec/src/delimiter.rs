use std::{error, fmt, io};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use memchr::memmem::Finder;

use crate::input::{self, DecodeInput, Input};
use crate::{BufDecoder, Decoder, Encoder};

/// The maximum chunk length of [`DelimiterCodec::new`]: 64 KiB, not counting the
/// delimiter.
pub const DEFAULT_MAX_CHUNK_LENGTH: usize = 64 * 1024;

/// A codec for chunks separated by one or several delimiters of any length, as
/// netty's `DelimiterBasedFrameDecoder`.
///
/// Decoding yields each chunk as [`Bytes`] without its delimiter. With several
/// delimiters, the one that ends the shortest chunk wins (on a tie at the same
/// position, the one given first). Chunks are bounded: a chunk longer than the
/// maximum length (64 KiB by default, delimiter not counted) gives one
/// [`DelimiterCodecError::ChunkTooLong`]; the codec then discards input up to and
/// including the next delimiter and decodes normally from there, so its memory stays
/// under about the maximum length whatever the peer sends. A delimiter split across
/// reads is found once its last byte arrives.
///
/// At end of file, a last chunk without delimiter is returned as a chunk, as
/// tokio-util's `AnyDelimiterCodec` does.
///
/// Encoding writes the item and the first delimiter; the item is written as is, so
/// it should not contain a delimiter itself.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use runtime::codec::{Decoder, DelimiterCodec, Encoder};
///
/// let mut codec = DelimiterCodec::new("\r\n\r\n")?;
/// let mut buf = BytesMut::from("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b");
/// assert_eq!(
///     codec.decode(&mut buf)?.as_deref(),
///     Some(&b"GET / HTTP/1.1\r\nHost: a"[..])
/// );
/// assert_eq!(codec.decode(&mut buf)?, None);
///
/// let mut out = BytesMut::new();
/// codec.encode("reply", &mut out)?;
/// assert_eq!(&out[..], b"reply\r\n\r\n");
/// # Ok::<(), runtime::codec::DelimiterCodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DelimiterCodec {
    search: Search,
    /// Length of the longest delimiter.
    longest: usize,
    max_length: usize,
    /// How far the buffered input was already searched: a delimiter found later
    /// starts at or after this offset.
    next_index: usize,
    /// Skipping the rest of an over-long chunk.
    discarding: bool,
    staging: BytesMut,
}

/// How delimiters are searched for.
#[derive(Debug, Clone)]
enum Search {
    /// One single-byte delimiter: `memchr`.
    Byte(u8),
    /// One delimiter: a precompiled `memmem` searcher.
    One(Box<Finder<'static>>),
    /// Several delimiters, in the order given.
    Many(Vec<Finder<'static>>),
}

impl Search {
    /// Finds the delimiter that ends the shortest chunk in `haystack`: its start
    /// offset and length.
    #[inline]
    fn find(&self, haystack: &[u8]) -> Option<(usize, usize)> {
        match self {
            Search::Byte(byte) => memchr::memchr(*byte, haystack).map(|at| (at, 1)),
            Search::One(finder) => finder.find(haystack).map(|at| (at, finder.needle().len())),
            Search::Many(finders) => {
                let mut best: Option<(usize, usize)> = None;
                for finder in finders {
                    // Only an earlier match can win, so later searches look at less.
                    let end = best.map_or(haystack.len(), |(at, _)| {
                        (at + finder.needle().len()).min(haystack.len())
                    });
                    match (finder.find(&haystack[..end]), best) {
                        (Some(at), Some((best_at, _))) if at >= best_at => {}
                        (Some(at), _) => best = Some((at, finder.needle().len())),
                        (None, _) => {}
                    }
                }
                best
            }
        }
    }

    fn first(&self) -> &[u8] {
        match self {
            Search::Byte(byte) => std::slice::from_ref(byte),
            Search::One(finder) => finder.needle(),
            Search::Many(finders) => finders[0].needle(),
        }
    }
}

/// An error of [`DelimiterCodec`].
#[derive(Debug)]
#[non_exhaustive]
pub enum DelimiterCodecError {
    /// A chunk was longer than the maximum length (delimiter not counted). The codec
    /// skips the rest of that chunk and goes on with the next.
    ChunkTooLong {
        /// The maximum chunk length the codec was configured with.
        max: usize,
    },
    /// At construction: no delimiter was given.
    NoDelimiter,
    /// At construction: a delimiter was empty.
    EmptyDelimiter,
    /// The transport failed.
    Io(io::Error),
}

impl fmt::Display for DelimiterCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelimiterCodecError::ChunkTooLong { max } => {
                write!(f, "chunk longer than the maximum of {max} bytes")
            }
            DelimiterCodecError::NoDelimiter => f.write_str("no delimiter given"),
            DelimiterCodecError::EmptyDelimiter => f.write_str("a delimiter is empty"),
            DelimiterCodecError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl error::Error for DelimiterCodecError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            DelimiterCodecError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for DelimiterCodecError {
    fn from(e: io::Error) -> Self {
        DelimiterCodecError::Io(e)
    }
}

impl DelimiterCodec {
    /// Creates a codec for chunks ended by `delimiter`, with the default maximum
    /// chunk length, [`DEFAULT_MAX_CHUNK_LENGTH`] (64 KiB).
    ///
    /// # Errors
    ///
    /// [`DelimiterCodecError::EmptyDelimiter`] if `delimiter` is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::{DelimiterCodec, DelimiterCodecError};
    ///
    /// assert!(DelimiterCodec::new(",").is_ok());
    /// assert!(matches!(DelimiterCodec::new(""), Err(DelimiterCodecError::EmptyDelimiter)));
    /// ```
    pub fn new(delimiter: impl AsRef<[u8]>) -> Result<Self, DelimiterCodecError> {
        Self::with_delimiters([delimiter], DEFAULT_MAX_CHUNK_LENGTH)
    }

    /// Creates a codec for chunks of at most `max_length` bytes (delimiter not
    /// counted) ended by `delimiter`.
    ///
    /// # Errors
    ///
    /// [`DelimiterCodecError::EmptyDelimiter`] if `delimiter` is empty.
    pub fn with_max_length(
        delimiter: impl AsRef<[u8]>,
        max_length: usize,
    ) -> Result<Self, DelimiterCodecError> {
        Self::with_delimiters([delimiter], max_length)
    }

    /// Creates a codec for chunks of at most `max_length` bytes ended by any of
    /// `delimiters`. The first delimiter is the one the encoder writes.
    ///
    /// # Errors
    ///
    /// [`DelimiterCodecError::NoDelimiter`] if `delimiters` is empty, and
    /// [`DelimiterCodecError::EmptyDelimiter`] if one of them is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use runtime::codec::{Decoder, DelimiterCodec};
    ///
    /// let mut codec = DelimiterCodec::with_delimiters(["\r\n", "\n", "\0"], 1024)?;
    /// let mut buf = BytesMut::from("a\nb\r\nc\0");
    /// for chunk in ["a", "b", "c"] {
    ///     assert_eq!(codec.decode(&mut buf)?.as_deref(), Some(chunk.as_bytes()));
    /// }
    /// # Ok::<(), runtime::codec::DelimiterCodecError>(())
    /// ```
    pub fn with_delimiters<I, D>(
        delimiters: I,
        max_length: usize,
    ) -> Result<Self, DelimiterCodecError>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<[u8]>,
    {
        let mut finders = Vec::new();
        for delimiter in delimiters {
            let delimiter = delimiter.as_ref();
            if delimiter.is_empty() {
                return Err(DelimiterCodecError::EmptyDelimiter);
            }
            finders.push(Finder::new(delimiter).into_owned());
        }
        let longest = finders
            .iter()
            .map(|f| f.needle().len())
            .max()
            .ok_or(DelimiterCodecError::NoDelimiter)?;
        let search = match &finders[..] {
            [one] if one.needle().len() == 1 => Search::Byte(one.needle()[0]),
            [_] => Search::One(Box::new(finders.pop().expect("one finder"))),
            _ => Search::Many(finders),
        };
        Ok(DelimiterCodec {
            search,
            longest,
            max_length,
            next_index: 0,
            discarding: false,
            staging: BytesMut::new(),
        })
    }

    /// Returns the maximum chunk length.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::codec::{DelimiterCodec, DEFAULT_MAX_CHUNK_LENGTH};
    ///
    /// assert_eq!(DelimiterCodec::new(",")?.max_length(), DEFAULT_MAX_CHUNK_LENGTH);
    /// assert_eq!(DelimiterCodec::with_max_length(",", 16)?.max_length(), 16);
    /// # Ok::<(), runtime::codec::DelimiterCodecError>(())
    /// ```
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    fn too_long(&self) -> DelimiterCodecError {
        DelimiterCodecError::ChunkTooLong {
            max: self.max_length,
        }
    }

    /// Returns the length of the next whole chunk at the front of `src` and the
    /// length of its delimiter, after dropping any input being discarded.
    #[inline]
    fn next_chunk<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<(usize, usize)>, DelimiterCodecError> {
        if self.discarding {
            let buf = src.bytes();
            match self.search.find(buf) {
                Some((at, delimiter)) => {
                    src.advance(at + delimiter);
                    self.discarding = false;
                }
                None => {
                    // Keep what may be the start of a delimiter split across reads.
                    let n = buf.len().saturating_sub(self.longest - 1);
                    src.advance(n);
                    return Ok(None);
                }
            }
        }
        let buf = src.bytes();
        // A chunk of `max_length` bytes is whole once its delimiter is in: nothing
        // past `max_length + longest` bytes needs searching (and so buffering).
        let limit = self.max_length.saturating_add(self.longest);
        let window = buf.len().min(limit);
        match self.search.find(&buf[self.next_index..window]) {
            Some((offset, delimiter)) => {
                let at = self.next_index + offset;
                self.next_index = 0;
                if at > self.max_length {
                    src.advance(at + delimiter);
                    return Err(self.too_long());
                }
                Ok(Some((at, delimiter)))
            }
            None if window == limit => {
                // Keep what may be the start of a delimiter split across reads.
                self.next_index = 0;
                self.discarding = true;
                src.advance(window - (self.longest - 1));
                Err(self.too_long())
            }
            None => {
                // A delimiter may start in the last `longest - 1` bytes searched.
                self.next_index = window.saturating_sub(self.longest - 1);
                Ok(None)
            }
        }
    }
}

impl DecodeInput for DelimiterCodec {
    type Item = Bytes;
    type Error = DelimiterCodecError;

    #[inline]
    fn decode_input<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, DelimiterCodecError> {
        Ok(self.next_chunk(src)?.map(|(len, delimiter)| {
            let chunk = src.take_frame(len);
            src.advance(delimiter);
            chunk
        }))
    }

    fn decode_input_eof<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Bytes>, DelimiterCodecError> {
        if let Some(chunk) = self.decode_input(src)? {
            return Ok(Some(chunk));
        }
        let len = src.bytes().len();
        if len == 0 {
            return Ok(None);
        }
        self.next_index = 0;
        if self.discarding {
            self.discarding = false;
            src.advance(len);
            return Ok(None);
        }
        if len > self.max_length {
            src.advance(len);
            return Err(self.too_long());
        }
        Ok(Some(src.take_frame(len)))
    }

    fn staging(&mut self) -> &mut BytesMut {
        &mut self.staging
    }
}

impl Decoder for DelimiterCodec {
    type Item = Bytes;
    type Error = DelimiterCodecError;

    /// Decodes the next chunk.
    ///
    /// # Errors
    ///
    /// [`DelimiterCodecError::ChunkTooLong`] once per over-long chunk; decoding may
    /// go on after it.
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DelimiterCodecError> {
        self.decode_input(src)
    }

    /// Decodes the next chunk; a last chunk without delimiter counts.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DelimiterCodecError> {
        self.decode_input_eof(src)
    }
}

impl BufDecoder for DelimiterCodec {
    #[inline]
    fn decode_buf<B: Buf>(&mut self, src: &mut B) -> Result<Option<Bytes>, DelimiterCodecError> {
        input::decode_buf(self, src, false)
    }

    fn decode_buf_eof<B: Buf>(
        &mut self,
        src: &mut B,
    ) -> Result<Option<Bytes>, DelimiterCodecError> {
        input::decode_buf(self, src, true)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for DelimiterCodec {
    type Error = DelimiterCodecError;

    /// Writes `chunk` and the first delimiter.
    ///
    /// # Errors
    ///
    /// None: encoding a chunk always succeeds.
    fn encode(&mut self, chunk: T, dst: &mut BytesMut) -> Result<(), DelimiterCodecError> {
        let chunk = chunk.as_ref();
        let delimiter = self.search.first();
        dst.reserve(chunk.len() + delimiter.len());
        dst.put_slice(chunk);
        dst.put_slice(delimiter);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_chunk_wins_among_several_delimiters() {
        let mut codec = DelimiterCodec::with_delimiters(["\n", "\r\n", "ab"], 100).unwrap();
        let mut buf = BytesMut::from("x\r\nyab\nz\n");
        let mut chunks = Vec::new();
        while let Some(chunk) = codec.decode(&mut buf).unwrap() {
            chunks.push(chunk);
        }
        assert_eq!(chunks, ["x", "y", "", "z"]);
    }

    #[test]
    fn tie_goes_to_the_first_delimiter() {
        let mut codec = DelimiterCodec::with_delimiters(["\r", "\r\n"], 100).unwrap();
        let mut buf = BytesMut::from("a\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap().as_deref(), Some(&b"a"[..]));
        assert_eq!(&buf[..], b"\n");
    }

    #[test]
    fn search_resumes_before_a_split_delimiter() {
        let mut codec = DelimiterCodec::new("--end--").unwrap();
        let mut buf = BytesMut::from("data--en");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(
            codec.next_index, 2,
            "the last 6 bytes may start the delimiter"
        );
        buf.extend_from_slice(b"d--");
        assert_eq!(
            codec.decode(&mut buf).unwrap().as_deref(),
            Some(&b"data"[..])
        );
    }

    #[test]
    fn over_long_chunk_keeps_a_possible_delimiter_prefix() {
        let mut codec = DelimiterCodec::with_max_length("||", 3).unwrap();
        let mut buf = BytesMut::from("abcde|");
        assert!(matches!(
            codec.decode(&mut buf),
            Err(DelimiterCodecError::ChunkTooLong { max: 3 })
        ));
        assert_eq!(&buf[..], b"e|");
        buf.extend_from_slice(b"|nxt||");
        assert_eq!(
            codec.decode(&mut buf).unwrap().as_deref(),
            Some(&b"nxt"[..])
        );
    }

    #[test]
    fn no_delimiters_is_rejected() {
        let none: [&[u8]; 0] = [];
        assert!(matches!(
            DelimiterCodec::with_delimiters(none, 10),
            Err(DelimiterCodecError::NoDelimiter)
        ));
        assert!(matches!(
            DelimiterCodec::with_delimiters(["a", ""], 10),
            Err(DelimiterCodecError::EmptyDelimiter)
        ));
    }
}
