//! `UnixStream`: a buffered Unix domain stream on the current core.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

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

crate::stream::buffered_stream_api!(UnixStream);

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
