//! `TcpStream`: a buffered TCP connection on the current core.

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

crate::stream::buffered_stream_api!(TcpStream);

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
