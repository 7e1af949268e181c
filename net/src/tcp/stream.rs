//! `TcpStream`: a buffered TCP connection on the current core.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};

use crate::addr::{resolve, ToSocketAddrs};
use crate::stream::BufStream;

/// A TCP connection owned by the core that made it.
///
/// Reads are served from an inbound ring buffer (one large `read` serves many
/// small ones); writes go into an outbound ring buffer that the core sends by
/// itself as soon as the writing task's poll returns, in one `writev` for
/// everything that poll wrote. So a write is never lost for want of a `flush`, and
/// pipelined replies leave together. When the outbound ring is full (256 KiB
/// by default; see [`set_write_buffer_limit`](Self::set_write_buffer_limit)),
/// writes wait for the peer to read: memory stays bounded.
///
/// Nagle's algorithm is off (`TCP_NODELAY`) by default, as in gnet: the
/// outbound ring already batches. Writes use `MSG_NOSIGNAL`, so a dead peer is
/// a `BrokenPipe` error, never a `SIGPIPE`.
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use runtime::net::{TcpListener, TcpStream};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     runtime::spawn(async move {
///         let (mut conn, _) = listener.accept().await.unwrap();
///         let mut buf = [0u8; 5];
///         conn.read_exact(&mut buf).await.unwrap();
///         conn.write_all(&buf).await.unwrap(); // sent when this task yields
///     });
///     let mut client = TcpStream::connect(addr).await.unwrap();
///     client.write_all(b"hello").await.unwrap();
///     let mut echo = [0u8; 5];
///     client.read_exact(&mut echo).await.unwrap();
///     assert_eq!(&echo, b"hello");
/// });
/// ```
pub struct TcpStream {
    inner: BufStream,
}

impl TcpStream {
    pub(crate) fn write_probe(&self) -> crate::stream::WriteProbe {
        self.inner.write_probe()
    }

    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// The last connection error, or a lookup error.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        crate::on_a_core("TcpStream::connect")?;
        let mut last_err = None;
        for addr in resolve(addr).await? {
            match Self::connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no address to connect to")))
    }

    /// Like [`connect`](Self::connect), giving up after `timeout` in all.
    ///
    /// # Errors
    ///
    /// `TimedOut` when the deadline passes first.
    pub async fn connect_timeout(
        addr: impl ToSocketAddrs,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        runtime_executor::time::timeout(timeout, Self::connect(addr))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            })
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        socket.set_tcp_nodelay(true)?;
        TcpStream::connect_socket(socket, addr).await
    }

    /// Connects a non-blocking socket (see `TcpSocket::connect`).
    pub(crate) async fn connect_socket(socket: Socket, addr: SocketAddr) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: BufStream::connect(socket, &addr.into()).await?,
        })
    }

    /// Gives the connection back as a std stream (non-blocking, as tokio's
    /// `into_std` leaves it), for handing it to another core: send it there
    /// (it is `Send`) and take it over with [`from_std`](Self::from_std).
    ///
    /// # Errors
    ///
    /// [`IntoStdError`], holding the stream, while bytes are buffered: read
    /// what [`inbound_buffered`](Self::inbound_buffered) counts and flush
    /// the writes first, or they would be lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::{TcpListener, TcpStream};
    ///
    /// #[runtime::main(cores = 2)]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let _client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (conn, peer) = listener.accept().await?;
    ///     let std = conn.into_std()?;
    ///     // Served on core 1 from now on.
    ///     let served = runtime::spawn_on(1, move || async move {
    ///         let conn = TcpStream::from_std(std)?;
    ///         conn.peer_addr()
    ///     });
    ///     assert_eq!(served.await??, peer);
    ///     Ok(())
    /// }
    /// ```
    pub fn into_std(self) -> Result<std::net::TcpStream, IntoStdError> {
        if self.inbound_buffered() > 0 || self.outbound_buffered() > 0 {
            return Err(IntoStdError { stream: self });
        }
        // The rings are empty, so dropping the stream sends and loses
        // nothing: it only closes its descriptor, after this copy.
        match self.inner.socket().try_clone() {
            Ok(socket) => Ok(socket.into()),
            Err(_) => Err(IntoStdError { stream: self }),
        }
    }

    /// Wraps a connected socket; sets it non-blocking and `TCP_NODELAY`.
    pub(crate) fn from_socket(socket: Socket) -> io::Result<TcpStream> {
        socket.set_tcp_nodelay(true)?;
        Ok(TcpStream {
            inner: BufStream::new(socket)?,
        })
    }

    /// Takes over a connected std stream, on the current core (for
    /// example one that [`into_std`](Self::into_std) gave another core).
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        crate::on_a_core("TcpStream::from_std")?;
        stream.set_nonblocking(true)?;
        TcpStream::from_socket(Socket::from(stream))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(self.inner.socket().local_addr()?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(self.inner.socket().peer_addr()?)
    }

    /// Sets `TCP_NODELAY` (on by default).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.socket().set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.socket().tcp_nodelay()
    }

    /// Turns TCP keepalive on with these probes, or off with `None`.
    pub fn set_keepalive(&self, keepalive: Option<&TcpKeepalive>) -> io::Result<()> {
        match keepalive {
            Some(params) => self.inner.socket().set_tcp_keepalive(params),
            None => self.inner.socket().set_keepalive(false),
        }
    }

    /// Whether TCP keepalive is on.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.socket().keepalive()
    }

    /// Sets `SO_LINGER`: `Some(ZERO)` makes close send a reset.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.socket().set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.socket().linger()
    }

    /// Sets the kernel's send buffer size (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.socket().set_send_buffer_size(size)
    }

    /// The kernel's send buffer size.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.inner.socket().send_buffer_size()
    }

    /// Sets the kernel's receive buffer size (`SO_RCVBUF`).
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.inner.socket().set_recv_buffer_size(size)
    }

    /// The kernel's receive buffer size.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.inner.socket().recv_buffer_size()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.socket().set_ttl_v4(ttl)
    }
}

impl TcpStream {
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
    /// most about 9 hours). 30 s unless set; [`Server::close_timeout`](crate::Server::close_timeout)
    /// sets it for every accepted connection, as the engine's
    /// `Options::close_timeout` does for its own.
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
    /// `TcpStream::split(&mut stream)`. [`into_split`](Self::into_split) has no
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

impl AsyncRead for TcpStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncBufRead for TcpStream {
    #[inline]
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }

    #[inline]
    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.get_mut().inner).consume(amt);
    }
}

impl AsyncWrite for TcpStream {
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
impl tokio::io::AsyncRead for TcpStream {
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
impl tokio::io::AsyncBufRead for TcpStream {
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
impl tokio::io::AsyncWrite for TcpStream {
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

pub(crate) fn socket_addr(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket address"))
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.socket().as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// The error of [`TcpStream::into_std`]: bytes were still buffered, or the
/// descriptor could not be duplicated. The stream is given back.
pub struct IntoStdError {
    stream: TcpStream,
}

impl IntoStdError {
    /// The stream, unchanged.
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }
}

impl fmt::Debug for IntoStdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoStdError")
            .field("inbound_buffered", &self.stream.inbound_buffered())
            .field("outbound_buffered", &self.stream.outbound_buffered())
            .finish()
    }
}

impl fmt::Display for IntoStdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`TcpStream::into_std`: {} bytes read and {} written are still buffered \
             (read them and flush first)",
            self.stream.inbound_buffered(),
            self.stream.outbound_buffered()
        )
    }
}

impl std::error::Error for IntoStdError {}

impl From<IntoStdError> for io::Error {
    fn from(err: IntoStdError) -> io::Error {
        io::Error::other(err.to_string())
    }
}
