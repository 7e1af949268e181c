//! The buffered byte stream under `TcpStream` and `UnixStream`: a
//! non-blocking socket with an inbound ring (read-ahead, [`read`]) and an
//! outbound ring that the core flushes by itself as soon as the writing
//! task's poll returns ([`write`]).
//!
//! Storage: a ring takes storage from the per-core pool at its first byte
//! and keeps it, empty, between messages; the idle sweep
//! ([`crate::idle`]) gives it back once the stream goes unused. The
//! inbound ring belongs to the reader, so the sweep asks for it: it wakes
//! the waiting reader, which gives the storage back before it waits again.
//!
//! [`BufStream`] implements the I/O traits and the buffering API once;
//! `TcpStream` and `UnixStream` delegate to it in a few lines each.

mod read;
mod write;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};
use runtime_executor::AsyncFd;
use socket2::{SockAddr, Socket};

pub(crate) use read::ReadBuf;
pub(crate) use write::{
    poll_flush, poll_shutdown, poll_write, poll_write_vectored, Shared, WriteHandle,
};

use crate::buffer::RingBuffer;
use crate::io::kept_ring;
use crate::io_future::{FillBuf, WriteAll};
use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};

/// A connected, buffered stream socket.
#[derive(Debug)]
pub(crate) struct BufStream {
    pub(crate) read: ReadBuf,
    pub(crate) write: WriteHandle,
}

impl BufStream {
    /// Wraps a connected non-blocking socket registered on the current core.
    pub(crate) fn new(sock: Socket) -> io::Result<Self> {
        let fd = AsyncFd::new(sock)?;
        Ok(BufStream {
            read: ReadBuf::new(),
            write: WriteHandle(Rc::new(Shared::new(fd))),
        })
    }

    pub(crate) fn socket(&self) -> &Socket {
        self.write.0.fd.get_ref()
    }

    /// Sets how long a dropped stream keeps delivering what it queued.
    pub(crate) fn set_close_timeout(&self, timeout: Duration) {
        self.write.set_close_timeout(timeout);
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        self.write.close_timeout()
    }

    /// Sets the bound of the outbound ring (the backpressure watermark).
    pub(crate) fn set_write_buffer_limit(&self, limit: usize) {
        let mut out = self.write.0.outbound.borrow_mut();
        out.ring = with_limit(&out.ring, limit);
    }

    /// Sets the bound of the inbound ring.
    pub(crate) fn set_read_buffer_limit(&mut self, limit: usize) {
        let holds = self.read.set_limit(limit);
        self.write.0.inbound_held.set(holds);
    }

    /// Starts a non-blocking connect of `socket` to `addr`, registers it, and
    /// completes once the connection is established (or has failed).
    pub(crate) async fn connect(socket: Socket, addr: &SockAddr) -> io::Result<BufStream> {
        let in_progress = match socket.connect(addr) {
            Ok(()) => false,
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => true,
            Err(err) => return Err(err),
        };
        let stream = BufStream::new(socket)?;
        if in_progress {
            // Writable once the handshake completes or fails.
            let fd = &stream.write.0.fd;
            fd.clear_write_ready();
            fd.writable().await?;
            if let Some(err) = stream.socket().take_error()? {
                return Err(err);
            }
        }
        Ok(stream)
    }

    /// See `TcpStream::fill_buf`.
    #[inline]
    pub(crate) fn fill_buf(&mut self) -> FillBuf<'_> {
        FillBuf::new(&mut self.read, &self.write.0)
    }

    /// See `TcpStream::write_all`.
    #[inline]
    pub(crate) fn write_all<'a>(&'a self, buf: &'a [u8]) -> WriteAll<'a> {
        WriteAll::new(&self.write.0, buf)
    }

    /// Tells, without keeping the stream alive, whether it has written.
    pub(crate) fn write_probe(&self) -> WriteProbe {
        WriteProbe(Rc::downgrade(&self.write.0))
    }

    pub(crate) fn inbound_buffered(&self) -> usize {
        self.read.buffered()
    }

    pub(crate) fn outbound_buffered(&self) -> usize {
        self.write.0.outbound_len()
    }

    /// See `TcpStream::peek`.
    pub(crate) async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let BufStream { read, write } = self;
        std::future::poll_fn(|cx| read.poll_peek(&write.0, cx, buf)).await
    }

    /// See `TcpStream::shutdown`.
    pub(crate) async fn shutdown(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| poll_shutdown(&self.write.0, cx)).await
    }

    pub(crate) fn shutdown_now(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.socket().shutdown(how)
    }

    pub(crate) fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        let BufStream { read, write } = self;
        (ReadHalf::new(read, &write.0), WriteHalf::new(&write.0))
    }

    pub(crate) fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let BufStream { read, write } = self;
        let shared = write.0.clone();
        (OwnedReadHalf::new(read, shared), OwnedWriteHalf::new(write))
    }
}

/// Whether a stream has written yet (true once the stream is gone: there
/// is nothing left to wait for).
#[derive(Debug)]
pub(crate) struct WriteProbe(std::rc::Weak<Shared>);

impl WriteProbe {
    pub(crate) fn wrote(&self) -> bool {
        self.0.upgrade().is_none_or(|shared| shared.wrote.get())
    }

    /// Sets the stream's close timeout to zero: once it is dropped, what
    /// it still holds is not sent (a server's shutdown deadline).
    pub(crate) fn cut_linger(&self) {
        if let Some(shared) = self.0.upgrade() {
            shared.set_close_timeout(Duration::ZERO);
        }
    }

    /// Forgets what was written so far: it was no reply (a TLS handshake's
    /// flights).
    #[cfg(feature = "tls")]
    pub(crate) fn forget(&self) {
        if let Some(shared) = self.0.upgrade() {
            shared.wrote.set(false);
        }
    }
}

/// A copy of `ring` bounded by `limit`, but never below what it already
/// holds, so changing a limit loses no byte.
fn with_limit(ring: &RingBuffer, limit: usize) -> RingBuffer {
    let mut resized = kept_ring(limit.max(ring.len()).max(1));
    let (front, back) = ring.as_slices();
    resized.write(front);
    resized.write(back);
    resized
}

impl AsyncRead for BufStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let BufStream { read, write } = self.get_mut();
        read.poll_read(&write.0, cx, buf)
    }
}

impl AsyncBufRead for BufStream {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let BufStream { read, write } = self.get_mut();
        read.poll_fill_buf(&write.0, cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        let BufStream { read, write } = self.get_mut();
        read.consume(&write.0, amt);
    }
}

impl AsyncWrite for BufStream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self.write.0, cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored(&self.write.0, cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_flush(&self.write.0, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_shutdown(&self.write.0, cx)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for BufStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let BufStream { read, write } = self.get_mut();
        let n = std::task::ready!(read.poll_read(&write.0, cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncBufRead for BufStream {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        AsyncBufRead::poll_fill_buf(self, cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        AsyncBufRead::consume(self, amt);
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for BufStream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self.write.0, cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored(&self.write.0, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_flush(&self.write.0, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_shutdown(&self.write.0, cx)
    }
}
