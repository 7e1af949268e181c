use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::{fmt, io};

use bytes::BytesMut;
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use futures_sink::Sink;
use pin_project_lite::pin_project;

use crate::framed_impl::{ReadFrame, WriteFrame, INITIAL_CAPACITY};
use crate::{Decoder, Encoder};

pin_project! {
    /// A [`Stream`] of decoded frames and a [`Sink`] of frames to encode, over one
    /// futures-io transport that is both [`AsyncRead`] and [`AsyncWrite`].
    ///
    /// One codec value decodes and encodes. The read side behaves as
    /// [`FramedRead`](crate::FramedRead): the first decode or I/O error ends the
    /// stream, and end of file in the middle of a frame is the codec's error, never a
    /// silent drop. The write side behaves as [`FramedWrite`](crate::FramedWrite):
    /// writes are held up past the backpressure boundary (8 KiB by default), and
    /// [`send`](Framed::send), [`flush`](Framed::flush) and [`close`](Framed::close)
    /// do the same without the `Sink` trait.
    ///
    /// [`into_parts`](Framed::into_parts) and [`from_parts`](Framed::from_parts) take
    /// it apart and put it back together with its buffers, say to change codec in the
    /// middle of a connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::{future, io::Cursor, StreamExt};
    /// use runtime::codec::{Framed, LengthFieldCodec};
    ///
    /// future::block_on(async {
    ///     let mut framed = Framed::new(Cursor::new(Vec::new()), LengthFieldCodec::new());
    ///     framed.send("ping").await?;
    ///     framed.send("pong").await?;
    ///
    ///     // Read back what was written.
    ///     framed.get_mut().set_position(0);
    ///     let frames: Vec<_> = framed.map(|frame| frame.unwrap()).collect().await;
    ///     assert_eq!(frames, ["ping", "pong"]);
    ///     Ok::<(), runtime::codec::LengthFieldCodecError>(())
    /// })?;
    /// # Ok::<(), runtime::codec::LengthFieldCodecError>(())
    /// ```
    pub struct Framed<T, U> {
        #[pin]
        io: T,
        codec: U,
        read: ReadFrame,
        write: WriteFrame,
    }
}

/// The pieces of a [`Framed`]: transport, codec and buffers.
///
/// # Examples
///
/// Switching codec after a line-based handshake, keeping bytes already read:
///
/// ```
/// use futures_lite::{future, StreamExt};
/// use runtime::codec::{Framed, FramedParts, LengthFieldCodec, LinesCodec};
///
/// future::block_on(async {
///     let io = futures_lite::io::Cursor::new(b"HELLO\n\0\0\0\x03abc".to_vec());
///     let mut lines = Framed::new(io, LinesCodec::new());
///     assert_eq!(lines.next().await.unwrap().unwrap(), "HELLO");
///
///     let parts = lines.into_parts();
///     let mut parts2 = FramedParts::new(parts.io, LengthFieldCodec::new());
///     parts2.read_buf = parts.read_buf;
///     parts2.write_buf = parts.write_buf;
///     let mut frames = Framed::from_parts(parts2);
///     assert_eq!(frames.next().await.unwrap().unwrap(), "abc");
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct FramedParts<T, U> {
    /// The transport.
    pub io: T,
    /// The codec.
    pub codec: U,
    /// Bytes read but not decoded yet.
    pub read_buf: BytesMut,
    /// Bytes encoded but not written yet.
    pub write_buf: BytesMut,
}

impl<T, U> FramedParts<T, U> {
    /// Creates parts with empty buffers.
    pub fn new(io: T, codec: U) -> Self {
        FramedParts {
            io,
            codec,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
        }
    }
}

impl<T, U> Framed<T, U> {
    /// Creates a stream and sink of frames over `io`, coded with `codec`.
    pub fn new(io: T, codec: U) -> Self {
        Framed {
            io,
            codec,
            read: ReadFrame::new(BytesMut::with_capacity(INITIAL_CAPACITY)),
            write: WriteFrame::new(BytesMut::with_capacity(INITIAL_CAPACITY)),
        }
    }

    /// Rebuilds a `Framed` from its parts; buffered bytes are decoded and written
    /// first.
    pub fn from_parts(parts: FramedParts<T, U>) -> Self {
        Framed {
            io: parts.io,
            codec: parts.codec,
            read: ReadFrame::new(parts.read_buf),
            write: WriteFrame::new(parts.write_buf),
        }
    }

    /// Takes it apart, keeping the bytes read but not decoded and the bytes encoded
    /// but not written.
    pub fn into_parts(self) -> FramedParts<T, U> {
        FramedParts {
            io: self.io,
            codec: self.codec,
            read_buf: self.read.buffer,
            write_buf: self.write.buffer,
        }
    }

    /// Returns a reference to the transport.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Returns a mutable reference to the transport. Reading or writing it directly
    /// would go around the buffers.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Returns a pinned mutable reference to the transport.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().io
    }

    /// Returns a reference to the codec.
    pub fn codec(&self) -> &U {
        &self.codec
    }

    /// Returns a mutable reference to the codec.
    pub fn codec_mut(&mut self) -> &mut U {
        &mut self.codec
    }

    /// Returns the bytes read but not decoded yet.
    pub fn read_buffer(&self) -> &BytesMut {
        &self.read.buffer
    }

    /// Returns the bytes encoded but not written yet.
    pub fn write_buffer(&self) -> &BytesMut {
        &self.write.buffer
    }

    /// Returns the backpressure boundary: the buffered bytes past which the sink
    /// writes before taking another item.
    pub fn backpressure_boundary(&self) -> usize {
        self.write.backpressure_boundary
    }

    /// Sets the backpressure boundary.
    pub fn set_backpressure_boundary(&mut self, boundary: usize) {
        self.write.backpressure_boundary = boundary;
    }

    /// Returns the transport; buffered bytes are lost.
    pub fn into_inner(self) -> T {
        self.io
    }
}

impl<T: AsyncWrite + Unpin, U> Framed<T, U> {
    /// Encodes `item`, then writes and flushes everything buffered.
    ///
    /// # Errors
    ///
    /// The encoder's error, or an I/O error of the transport converted into it.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped before it completes, `item` may be
    /// buffered, partly written or not encoded at all.
    pub async fn send<I>(&mut self, item: I) -> Result<(), U::Error>
    where
        U: Encoder<I>,
    {
        let mut this = Pin::new(self);
        poll_fn(|cx| Sink::<I>::poll_ready(this.as_mut(), cx)).await?;
        this.as_mut().start_send(item)?;
        poll_fn(|cx| Sink::<I>::poll_flush(this.as_mut(), cx)).await
    }

    /// Writes and flushes everything buffered.
    ///
    /// # Errors
    ///
    /// An I/O error of the transport, including
    /// [`WriteZero`](io::ErrorKind::WriteZero) if it writes 0 bytes.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: bytes not written yet stay buffered.
    pub async fn flush(&mut self) -> io::Result<()> {
        let this = Pin::new(self).project();
        let (mut io, write) = (this.io, this.write);
        poll_fn(|cx| write.poll_flush(io.as_mut(), cx)).await
    }

    /// Writes and flushes everything buffered, then closes the transport (for a
    /// socket, shuts down its write side).
    ///
    /// # Errors
    ///
    /// An I/O error of the transport.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: bytes not written yet stay buffered.
    pub async fn close(&mut self) -> io::Result<()> {
        let this = Pin::new(self).project();
        let (mut io, write) = (this.io, this.write);
        poll_fn(|cx| write.poll_close(io.as_mut(), cx)).await
    }
}

impl<T: AsyncRead, U: Decoder> Stream for Framed<T, U> {
    type Item = Result<U::Item, U::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        this.read.poll_next(this.io, this.codec, cx)
    }
}

impl<T: AsyncWrite, I, U: Encoder<I>> Sink<I> for Framed<T, U> {
    type Error = U::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), U::Error>> {
        let this = self.project();
        this.write.poll_ready(this.io, cx).map_err(Into::into)
    }

    fn start_send(self: Pin<&mut Self>, item: I) -> Result<(), U::Error> {
        let this = self.project();
        this.codec.encode(item, &mut this.write.buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), U::Error>> {
        let this = self.project();
        this.write.poll_flush(this.io, cx).map_err(Into::into)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), U::Error>> {
        let this = self.project();
        this.write.poll_close(this.io, cx).map_err(Into::into)
    }
}

impl<T: fmt::Debug, U: fmt::Debug> fmt::Debug for Framed<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framed")
            .field("io", &self.io)
            .field("codec", &self.codec)
            .field("read_buffered", &self.read.buffer.len())
            .field("write_buffered", &self.write.buffer.len())
            .field("backpressure_boundary", &self.write.backpressure_boundary)
            .finish()
    }
}
