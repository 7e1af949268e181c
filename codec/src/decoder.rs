use std::io;

use bytes::{Buf, BytesMut};

/// Decodes frames from a buffer of bytes.
///
/// The shape is tokio-util's: [`decode`](Decoder::decode) is called whenever new
/// bytes arrive and returns `Ok(None)` until a whole frame is buffered. It removes
/// exactly the bytes of the frames it returns (and of input it discards), and leaves
/// the start of an incomplete frame in the buffer for the next call.
///
/// [`FramedRead`](crate::FramedRead) and [`Framed`](crate::Framed) drive a decoder
/// from any futures-io `AsyncRead`; the callback engine drives one from a
/// connection's inbound buffer through [`BufDecoder`].
///
/// # Examples
///
/// A decoder for frames of one length byte followed by that many bytes:
///
/// ```
/// use bytes::{Buf, BytesMut};
/// use runtime::codec::Decoder;
///
/// struct ShortFrames;
///
/// impl Decoder for ShortFrames {
///     type Item = Vec<u8>;
///     type Error = std::io::Error;
///
///     fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<u8>>, std::io::Error> {
///         let Some(&len) = src.first() else { return Ok(None) };
///         if src.len() < 1 + len as usize {
///             return Ok(None);
///         }
///         src.advance(1);
///         Ok(Some(src.split_to(len as usize).to_vec()))
///     }
/// }
///
/// let mut src = BytesMut::from(&b"\x02hi\x03yo"[..]);
/// assert_eq!(ShortFrames.decode(&mut src)?, Some(b"hi".to_vec()));
/// assert_eq!(ShortFrames.decode(&mut src)?, None); // two of three bytes so far
/// assert_eq!(&src[..], b"\x03yo");
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Decoder {
    /// The type of a decoded frame.
    type Item;

    /// The error a decoder reports. I/O errors of the transport are converted into
    /// it, so a stream of frames carries one error type.
    type Error: From<io::Error>;

    /// Decodes the next frame from `src`, or returns `Ok(None)` when `src` does not
    /// yet hold a whole frame.
    ///
    /// # Errors
    ///
    /// Returns the decoder's error when the input is invalid. What the decoder does
    /// with the offending bytes is documented on each codec; [`Framed`](crate::Framed)
    /// ends its stream after the first error.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// Decodes a frame after the transport reached end of file: no more bytes will
    /// come. Called repeatedly until it returns `Ok(None)`.
    ///
    /// The default calls [`decode`](Decoder::decode) and, when bytes are left that do
    /// not make a frame, fails: end of file in the middle of a frame is an error, not
    /// a silent drop.
    ///
    /// # Errors
    ///
    /// Any error of `decode`, and an [`io::ErrorKind::UnexpectedEof`] error (converted
    /// into `Self::Error`) when bytes remain that do not make a whole frame.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} bytes remaining on stream at end of file", src.len()),
            )
            .into()),
        }
    }
}

/// Decoding straight from any [`Buf`], such as a connection's inbound buffer in the
/// callback engine, so callback servers frame with the same codecs as async ones.
///
/// Every codec of this crate implements it. [`decode_buf`](BufDecoder::decode_buf)
/// follows the contract of [`Decoder::decode`]: it consumes one whole frame from
/// `src` (with [`Buf::advance`] and [`Buf::copy_to_bytes`], which for `Bytes` and
/// `BytesMut` is zero-copy), or nothing but discarded input when no whole frame is
/// buffered; the rest of a partial frame stays in `src` for the next call, after more
/// bytes were appended to it.
///
/// A codec reads `src` through [`Buf::chunk`]. When `src` is not contiguous (its
/// first chunk is shorter than [`Buf::remaining`], say a ring buffer that wraps), or
/// when bytes are already staged, the codec moves the readable bytes into a staging
/// buffer of its own and decodes from there, so the result is the same whatever the
/// layout. Use one codec value per connection, and do not mix `decode_buf` with
/// [`Decoder::decode`] on the same codec value.
///
/// # Examples
///
/// How an `on_traffic` callback frames a connection's inbound bytes:
///
/// ```
/// use bytes::{Buf, BufMut, BytesMut};
/// use runtime::codec::{BufDecoder, LengthFieldCodec};
///
/// let mut codec = LengthFieldCodec::new(); // 4-byte big-endian length, then payload
///
/// // The connection's inbound buffer: one frame and the start of another.
/// let mut inbound = BytesMut::new();
/// inbound.put_u32(5);
/// inbound.put_slice(b"hello");
/// inbound.put_u32(5);
/// inbound.put_slice(b"wo");
///
/// let mut frames = Vec::new();
/// while let Some(frame) = codec.decode_buf(&mut inbound)? {
///     frames.push(frame);
/// }
/// assert_eq!(frames, [&b"hello"[..]]);
/// assert_eq!(inbound.remaining(), 6); // the partial frame waits for more bytes
///
/// inbound.put_slice(b"rld");
/// assert_eq!(codec.decode_buf(&mut inbound)?.as_deref(), Some(&b"world"[..]));
/// # Ok::<(), runtime::codec::LengthFieldCodecError>(())
/// ```
pub trait BufDecoder: Decoder {
    /// Decodes the next frame from `src`, or returns `Ok(None)` when `src` does not
    /// yet hold a whole frame. See the [trait documentation](BufDecoder).
    ///
    /// # Errors
    ///
    /// The same errors as the codec's [`Decoder::decode`].
    fn decode_buf<B: Buf>(&mut self, src: &mut B) -> Result<Option<Self::Item>, Self::Error>;

    /// Decodes a frame from `src` once no more bytes will come (the peer closed).
    /// Called repeatedly until it returns `Ok(None)`.
    ///
    /// # Errors
    ///
    /// The same errors as the codec's [`Decoder::decode_eof`]: in particular, bytes
    /// left that do not make a whole frame are an error.
    fn decode_buf_eof<B: Buf>(&mut self, src: &mut B) -> Result<Option<Self::Item>, Self::Error>;
}
