//! `UnixStream`: a buffered Unix domain stream on the current core.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::stream::BufStream;

/// A Unix domain stream socket owned by the core that made it, buffered like
/// [`TcpStream`](crate::TcpStream): an inbound ring for read-ahead, an
/// outbound ring flushed by the core, bounded, with halves and the
/// futures-io traits.
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use runtime::net::UnixStream;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     a.write_all(b"ping").await.unwrap();
///     let mut buf = [0u8; 4];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
pub struct UnixStream {
    inner: BufStream,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// As `connect(2)`: `NotFound` for a missing path, `ConnectionRefused`
    /// for a socket nobody listens on, `WouldBlock` when the listener's
    /// backlog is full.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        crate::on_a_core("UnixStream::connect")?;
        Self::connect_addr(&SockAddr::unix(path)?).await
    }

    /// Connects to a socket in Linux's abstract namespace.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub async fn connect_abstract(name: &[u8]) -> io::Result<UnixStream> {
        crate::on_a_core("UnixStream::connect_abstract")?;
        use std::os::linux::net::SocketAddrExt;
        let addr = SocketAddr::from_abstract_name(name)?;
        let std = std::os::unix::net::UnixStream::connect_addr(&addr)?;
        UnixStream::from_std(std)
    }

    async fn connect_addr(addr: &SockAddr) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        Ok(UnixStream {
            inner: BufStream::connect(socket, addr).await?,
        })
    }

    /// A connected pair of streams on the current core.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core, or as `socketpair(2)`.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        crate::on_a_core("UnixStream::pair")?;
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        Ok((UnixStream::from_socket(a)?, UnixStream::from_socket(b)?))
    }

    pub(crate) fn from_socket(socket: Socket) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: BufStream::new(socket)?,
        })
    }

    /// Takes over a connected std stream, on the current core.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        crate::on_a_core("UnixStream::from_std")?;
        stream.set_nonblocking(true)?;
        UnixStream::from_socket(Socket::from(stream))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        unix_addr(self.inner.socket().local_addr()?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        unix_addr(self.inner.socket().peer_addr()?)
    }

    /// Sets the kernel's send buffer size (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.socket().set_send_buffer_size(size)
    }

    /// Sets the kernel's receive buffer size (`SO_RCVBUF`).
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.socket().set_recv_buffer_size(size)
    }
}

impl UnixStream {
    /// Waits for buffered bytes and returns them, without consuming them
    /// (call `consume`); empty at end of stream. The same as
    /// `AsyncBufReadExt::fill_buf`, which this inherent method shadows, with
    /// one poll of the stream where that one makes two.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    #[inline]
    pub fn fill_buf(&mut self) -> impl Future<Output = io::Result<&[u8]>> + '_ {
        self.inner.fill_buf()
    }

    /// Writes all of `buf` into the outbound ring; the core sends it when
    /// the task yields. The same as `AsyncWriteExt::write_all`, which this
    /// inherent method shadows, in a future the caller's own inlines. Past
    /// the write buffer limit it waits for the peer to take bytes.
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
        self.inner.write_all(buf)
    }

    /// How long this stream, once dropped (or closed) with bytes still
    /// queued, keeps delivering them to a peer that reads slowly: `timeout`
    /// after the drop it gives up and closes, however little the peer
    /// reads meanwhile. Kept to the millisecond up to 32 s, to the second beyond (at
    /// most about 9 hours). 30 s unless set, as the engine's `Options::close_timeout`.
    pub fn set_close_timeout(&self, timeout: Duration) {
        self.inner.set_close_timeout(timeout);
    }

    /// See [`set_close_timeout`](Self::set_close_timeout).
    pub fn close_timeout(&self) -> Duration {
        self.inner.close_timeout()
    }

    /// The bound of the outbound ring: past it, writes wait for the peer.
    pub fn set_write_buffer_limit(&self, limit: usize) {
        self.inner.set_write_buffer_limit(limit);
    }

    /// The bound of the inbound ring (read-ahead).
    pub fn set_read_buffer_limit(&mut self, limit: usize) {
        self.inner.set_read_buffer_limit(limit);
    }

    /// Bytes read from the socket and not yet consumed.
    pub fn inbound_buffered(&self) -> usize {
        self.inner.inbound_buffered()
    }

    /// Bytes written and not yet sent.
    pub fn outbound_buffered(&self) -> usize {
        self.inner.outbound_buffered()
    }

    /// Reads into `buf` without consuming: the next read returns the same
    /// bytes. Returns 0 at end of stream.
    ///
    /// # Errors
    ///
    /// The read error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf).await
    }

    /// Sends everything written so far, then shuts down the write side: the
    /// peer reads end of stream, and this side can still read. Calling it
    /// twice is fine.
    ///
    /// # Errors
    ///
    /// A write error of the flush.
    pub async fn shutdown(&self) -> io::Result<()> {
        self.inner.shutdown().await
    }

    /// Shuts down one or both directions at once, without flushing first.
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`.
    pub fn shutdown_now(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.inner.shutdown_now(how)
    }

    /// Borrowed read and write halves, for reading and writing from two
    /// futures of one task (tokio's `split`).
    ///
    /// With `AsyncBufReadExt` in scope (`runtime::io`'s or futures-lite's),
    /// `stream.split()` fails with "this method takes 1 argument": method
    /// lookup tries `self` by value before `&mut self`, and the stream,
    /// being buffered, is `AsyncBufRead`, so the trait's by-value
    /// `split(self, byte)` is found first. Call this one with the receiver
    /// already borrowed, `(&mut stream).split()`, or by its path,
    /// `UnixStream::split(&mut stream)`. [`into_split`](Self::into_split) has no
    /// such clash.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        self.inner.split()
    }

    /// Owned read and write halves, for reading and writing from two tasks
    /// of this core.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        self.inner.into_split()
    }
}

impl AsyncRead for UnixStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncBufRead for UnixStream {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.get_mut().inner).consume(amt);
    }
}

impl AsyncWrite for UnixStream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for UnixStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        tokio::io::AsyncRead::poll_read(Pin::new(&mut self.get_mut().inner), cx, buf)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncBufRead for UnixStream {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        tokio::io::AsyncBufRead::poll_fill_buf(Pin::new(&mut self.get_mut().inner), cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        tokio::io::AsyncBufRead::consume(Pin::new(&mut self.get_mut().inner), amt);
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for UnixStream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().inner), cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().inner), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().inner), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().inner), cx)
    }
}

pub(crate) fn unix_addr(addr: SockAddr) -> io::Result<SocketAddr> {
    // Also the abstract and unnamed addresses, which `SockAddr::as_unix`
    // leaves out.
    crate::sys::unix_socket_addr(&addr)
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.socket().as_raw_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}
