use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::{fmt, io};

use bytes::BytesMut;
use futures_io::AsyncWrite;
use futures_sink::Sink;
use pin_project_lite::pin_project;

use crate::framed_impl::{WriteFrame, INITIAL_CAPACITY};
use crate::Encoder;

pin_project! {
    /// A [`Sink`] of frames encoded into a futures-io [`AsyncWrite`].
    ///
    /// Items are encoded into a write buffer. Once the buffer holds the backpressure
    /// boundary or more (8 KiB by default), [`poll_ready`](Sink::poll_ready) writes it
    /// out before taking another item, so a peer that does not read holds up the
    /// sender instead of growing the buffer. A transport that writes 0 bytes gives an
    /// [`io::ErrorKind::WriteZero`](std::io::ErrorKind::WriteZero) error.
    ///
    /// [`send`](FramedWrite::send), [`flush`](FramedWrite::flush) and
    /// [`close`](FramedWrite::close) do the same without the `Sink` trait.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future;
    /// use runtime::codec::{FramedWrite, LinesCodec};
    ///
    /// future::block_on(async {
    ///     let mut lines = FramedWrite::new(Vec::new(), LinesCodec::new());
    ///     lines.send("one").await?;
    ///     lines.send("two").await?;
    ///     assert_eq!(lines.get_ref(), b"one\ntwo\n");
    ///     Ok::<(), runtime::codec::LinesCodecError>(())
    /// })?;
    /// # Ok::<(), runtime::codec::LinesCodecError>(())
    /// ```
    pub struct FramedWrite<T, E> {
        #[pin]
        io: T,
        encoder: E,
        write: WriteFrame,
    }
}

impl<T, E> FramedWrite<T, E> {
    /// Creates a sink of frames encoded with `encoder` and written to `io`.
    pub fn new(io: T, encoder: E) -> Self {
        FramedWrite {
            io,
            encoder,
            write: WriteFrame::new(BytesMut::with_capacity(INITIAL_CAPACITY)),
        }
    }

    /// Returns a reference to the transport.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Returns a mutable reference to the transport. Writing to it directly would
    /// put bytes ahead of frames still buffered.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Returns a pinned mutable reference to the transport.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().io
    }

    /// Returns a reference to the encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// Returns a mutable reference to the encoder.
    pub fn encoder_mut(&mut self) -> &mut E {
        &mut self.encoder
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

    /// Returns the transport; bytes encoded but not written yet are lost.
    pub fn into_inner(self) -> T {
        self.io
    }
}

impl<T: AsyncWrite + Unpin, E> FramedWrite<T, E> {
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
    pub async fn send<I>(&mut self, item: I) -> Result<(), E::Error>
    where
        E: Encoder<I>,
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

impl<T: AsyncWrite, I, E: Encoder<I>> Sink<I> for FramedWrite<T, E> {
    type Error = E::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E::Error>> {
        let this = self.project();
        this.write.poll_ready(this.io, cx).map_err(Into::into)
    }

    fn start_send(self: Pin<&mut Self>, item: I) -> Result<(), E::Error> {
        let this = self.project();
        this.encoder.encode(item, &mut this.write.buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E::Error>> {
        let this = self.project();
        this.write.poll_flush(this.io, cx).map_err(Into::into)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E::Error>> {
        let this = self.project();
        this.write.poll_close(this.io, cx).map_err(Into::into)
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for FramedWrite<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedWrite")
            .field("io", &self.io)
            .field("encoder", &self.encoder)
            .field("write_buffered", &self.write.buffer.len())
            .field("backpressure_boundary", &self.write.backpressure_boundary)
            .finish()
    }
}
