use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_core::Stream;
use futures_io::AsyncRead;
use pin_project_lite::pin_project;

use crate::framed_impl::{ReadFrame, INITIAL_CAPACITY};
use crate::Decoder;

pin_project! {
    /// A [`Stream`] of frames decoded from a futures-io [`AsyncRead`].
    ///
    /// Reads go into a buffer that the decoder takes frames from; with this crate's
    /// codecs that buffer stays bounded whatever the peer sends.
    ///
    /// The stream yields `Ok(frame)` for every frame, and ends in one of three ways:
    /// after end of file with no bytes left over (`None`); with the first decode or
    /// I/O error (`Some(Err(_))`, then `None`); or with the error of the decoder's
    /// [`decode_eof`](Decoder::decode_eof) when end of file comes in the middle of a
    /// frame. Bytes are never dropped silently.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::{future, StreamExt};
    /// use runtime::codec::{FramedRead, LinesCodec};
    ///
    /// future::block_on(async {
    ///     let mut lines = FramedRead::new(&b"one\ntwo\r\n"[..], LinesCodec::new());
    ///     assert_eq!(lines.next().await.transpose()?.as_deref(), Some("one"));
    ///     assert_eq!(lines.next().await.transpose()?.as_deref(), Some("two"));
    ///     assert!(lines.next().await.is_none());
    ///     Ok::<(), runtime::codec::LinesCodecError>(())
    /// })?;
    /// # Ok::<(), runtime::codec::LinesCodecError>(())
    /// ```
    pub struct FramedRead<T, D> {
        #[pin]
        io: T,
        decoder: D,
        read: ReadFrame,
    }
}

impl<T, D> FramedRead<T, D> {
    /// Creates a stream of frames read from `io` and decoded with `decoder`.
    pub fn new(io: T, decoder: D) -> Self {
        Self::with_capacity(io, decoder, INITIAL_CAPACITY)
    }

    /// Creates a stream whose read buffer starts with `capacity` bytes.
    pub fn with_capacity(io: T, decoder: D, capacity: usize) -> Self {
        FramedRead {
            io,
            decoder,
            read: ReadFrame::new(BytesMut::with_capacity(capacity)),
        }
    }

    /// Returns a reference to the transport.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Returns a mutable reference to the transport. Reading from it directly would
    /// take bytes from under the decoder.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Returns a pinned mutable reference to the transport.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().io
    }

    /// Returns a reference to the decoder.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// Returns a mutable reference to the decoder.
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.decoder
    }

    /// Returns the bytes read but not decoded yet.
    pub fn read_buffer(&self) -> &BytesMut {
        &self.read.buffer
    }

    /// Returns the transport; bytes read but not decoded yet are lost.
    pub fn into_inner(self) -> T {
        self.io
    }
}

impl<T: AsyncRead, D: Decoder> Stream for FramedRead<T, D> {
    type Item = Result<D::Item, D::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        this.read.poll_next(this.io, this.decoder, cx)
    }
}

impl<T: fmt::Debug, D: fmt::Debug> fmt::Debug for FramedRead<T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedRead")
            .field("io", &self.io)
            .field("decoder", &self.decoder)
            .field("read_buffered", &self.read.buffer.len())
            .finish()
    }
}
