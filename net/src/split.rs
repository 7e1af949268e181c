//! Read and write halves of a buffered stream (`TcpStream`, `UnixStream`).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::io_future::{FillBuf, WriteAll};
use crate::stream::{self as buffered, ReadBuf, Shared, WriteHandle};

/// The read half of a stream's `split` ([`TcpStream::split`](crate::TcpStream::split),
/// [`UnixStream::split`](crate::unix::UnixStream::split)).
#[derive(Debug)]
pub struct ReadHalf<'a> {
    read: &'a mut ReadBuf,
    shared: &'a Rc<Shared>,
}

/// The write half of a stream's `split`.
#[derive(Debug)]
pub struct WriteHalf<'a> {
    shared: &'a Rc<Shared>,
}

/// The read half of a stream's `into_split`.
#[derive(Debug)]
pub struct OwnedReadHalf {
    read: ReadBuf,
    shared: Rc<Shared>,
}

/// The write half of a stream's `into_split`.
/// Dropping it delivers what is still queued, without shutting the write
/// side down; call [`shutdown`](Self::shutdown) for that.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    write: WriteHandle,
}

impl<'a> ReadHalf<'a> {
    pub(crate) fn new(read: &'a mut ReadBuf, shared: &'a Rc<Shared>) -> Self {
        ReadHalf { read, shared }
    }
}

impl ReadHalf<'_> {
    /// Waits for buffered bytes and returns them, without consuming them
    /// (call `consume`); empty at end of stream: the stream's
    /// [`fill_buf`](crate::TcpStream::fill_buf).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    #[inline]
    pub fn fill_buf(&mut self) -> impl Future<Output = io::Result<&[u8]>> + '_ {
        FillBuf::new(self.read, self.shared)
    }
}

impl OwnedReadHalf {
    /// Waits for buffered bytes and returns them, without consuming them
    /// (call `consume`); empty at end of stream: the stream's
    /// [`fill_buf`](crate::TcpStream::fill_buf).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    #[inline]
    pub fn fill_buf(&mut self) -> impl Future<Output = io::Result<&[u8]>> + '_ {
        FillBuf::new(&mut self.read, &self.shared)
    }
}

impl<'a> WriteHalf<'a> {
    pub(crate) fn new(shared: &'a Rc<Shared>) -> Self {
        WriteHalf { shared }
    }
}

impl OwnedReadHalf {
    pub(crate) fn new(read: ReadBuf, shared: Rc<Shared>) -> Self {
        OwnedReadHalf { read, shared }
    }
}

impl OwnedWriteHalf {
    pub(crate) fn new(write: WriteHandle) -> Self {
        OwnedWriteHalf { write }
    }

    /// Sends what is queued, then shuts the write side down.
    ///
    /// # Errors
    ///
    /// A write error of the flush.
    pub async fn shutdown(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| buffered::poll_shutdown(&self.write.0, cx)).await
    }

    /// Bytes written and not yet sent.
    pub fn outbound_buffered(&self) -> usize {
        self.write.0.outbound_len()
    }
}

impl AsyncRead for ReadHalf<'_> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.read.poll_read(this.shared, cx, buf)
    }
}

impl AsyncBufRead for ReadHalf<'_> {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        this.read.poll_fill_buf(this.shared, cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.read.consume(this.shared, amt);
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for ReadHalf<'_> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = std::task::ready!(this
            .read
            .poll_read(this.shared, cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncBufRead for ReadHalf<'_> {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        AsyncBufRead::poll_fill_buf(self, cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        AsyncBufRead::consume(self, amt);
    }
}

impl AsyncRead for OwnedReadHalf {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.read.poll_read(&this.shared, cx, buf)
    }
}

impl AsyncBufRead for OwnedReadHalf {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        this.read.poll_fill_buf(&this.shared, cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.read.consume(&this.shared, amt);
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for OwnedReadHalf {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n =
            std::task::ready!(this
                .read
                .poll_read(&this.shared, cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncBufRead for OwnedReadHalf {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        AsyncBufRead::poll_fill_buf(self, cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        AsyncBufRead::consume(self, amt);
    }
}

impl WriteHalf<'_> {
    /// Writes all of `buf` into the outbound ring: the stream's
    /// [`write_all`](crate::TcpStream::write_all).
    ///
    /// # Errors
    ///
    /// The stream's stored write error, or `BrokenPipe` after `shutdown`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a dropped future may have queued part of `buf`.
    #[inline]
    pub fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> impl Future<Output = io::Result<()>> + 'a {
        WriteAll::new(self.shared, buf)
    }
}

impl OwnedWriteHalf {
    /// Writes all of `buf` into the outbound ring: the stream's
    /// [`write_all`](crate::TcpStream::write_all).
    ///
    /// # Errors
    ///
    /// The stream's stored write error, or `BrokenPipe` after `shutdown`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a dropped future may have queued part of `buf`.
    #[inline]
    pub fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> impl Future<Output = io::Result<()>> + 'a {
        WriteAll::new(&self.write.0, buf)
    }
}

impl AsyncWrite for WriteHalf<'_> {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write(self.shared, cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write_vectored(self.shared, cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_flush(self.shared, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_shutdown(self.shared, cx)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for WriteHalf<'_> {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write(self.shared, cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write_vectored(self.shared, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_flush(self.shared, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_shutdown(self.shared, cx)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write(&self.write.0, cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write_vectored(&self.write.0, cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_flush(&self.write.0, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_shutdown(&self.write.0, cx)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for OwnedWriteHalf {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write(&self.write.0, cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        buffered::poll_write_vectored(&self.write.0, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_flush(&self.write.0, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        buffered::poll_shutdown(&self.write.0, cx)
    }
}
