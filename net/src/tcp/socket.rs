//! `TcpSocket`: a TCP socket configured before it connects or listens.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use crate::tcp::stream::socket_addr;
use crate::{TcpListener, TcpStream};

/// A TCP socket not yet connected or listening, for the options that must
/// be set before: a local address to connect from, `SO_REUSEADDR`,
/// `SO_REUSEPORT`, the kernel's buffer sizes. As tokio's `TcpSocket`.
///
/// Unlike [`TcpListener::bind`], [`listen`](Self::listen) does exactly what
/// the options say: a socket with `set_reuseport(true)` shares its address
/// with any other socket of the same user that sets it too.
///
/// # Examples
///
/// Connecting from a chosen local address:
///
/// ```
/// use runtime::net::{TcpListener, TcpSocket};
///
/// #[runtime::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let socket = TcpSocket::new_v4()?;
///     socket.set_reuseaddr(true)?;
///     socket.set_recv_buffer_size(64 * 1024)?;
///     socket.bind("127.0.0.1:0".parse().unwrap())?;
///     let from = socket.local_addr()?;
///     let stream = socket.connect(listener.local_addr()?).await?;
///     assert_eq!(stream.local_addr()?, from);
///     let (_conn, peer) = listener.accept().await?;
///     assert_eq!(peer, from);
///     Ok(())
/// }
/// ```
pub struct TcpSocket {
    socket: Socket,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    ///
    /// # Errors
    ///
    /// As `socket(2)`.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 TCP socket.
    ///
    /// # Errors
    ///
    /// As `socket(2)`.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        let socket = Socket::new(
            domain,
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        Ok(TcpSocket { socket })
    }

    /// Sets `SO_REUSEADDR`.
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        self.socket.set_reuse_address(reuse)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.socket.reuse_address()
    }

    /// Sets `SO_REUSEPORT`.
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        self.socket.set_reuse_port(reuse)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        self.socket.reuse_port()
    }

    /// Sets the kernel's send buffer size (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.socket.set_send_buffer_size(size as usize)
    }

    /// The kernel's send buffer size.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.socket
            .send_buffer_size()
            .map(|size| u32::try_from(size).unwrap_or(u32::MAX))
    }

    /// Sets the kernel's receive buffer size (`SO_RCVBUF`).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.socket.set_recv_buffer_size(size as usize)
    }

    /// The kernel's receive buffer size.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.socket
            .recv_buffer_size()
            .map(|size| u32::try_from(size).unwrap_or(u32::MAX))
    }

    /// Sets `TCP_NODELAY` (a connected stream has it on by default).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket.set_tcp_nodelay(nodelay)
    }

    /// Sets `SO_LINGER`.
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        self.socket.set_linger(linger)
    }

    /// Binds to a local address, before connecting or listening.
    ///
    /// # Errors
    ///
    /// As `bind(2)`, e.g. `AddrInUse`.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.socket.bind(&addr.into())
    }

    /// The local address, once bound (or connected).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(self.socket.local_addr()?)
    }

    /// Connects to `addr`, as a stream of the current core.
    ///
    /// # Errors
    ///
    /// As `connect(2)`; an error naming this call outside a `runtime` core.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        crate::on_a_core("TcpSocket::connect")?;
        TcpStream::connect_socket(self.socket, addr).await
    }

    /// Listens, as a listener of the current core, with a backlog of
    /// `backlog` connections.
    ///
    /// # Errors
    ///
    /// As `listen(2)`; an error naming this call outside a `runtime` core.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        crate::on_a_core("TcpSocket::listen")?;
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self.socket.listen(backlog)?;
        TcpListener::from_socket(self.socket)
    }

    /// Takes over a std stream's socket (connected or not), as tokio's
    /// `TcpSocket::from_std_stream`.
    pub fn from_std_stream(stream: std::net::TcpStream) -> TcpSocket {
        TcpSocket {
            socket: Socket::from(stream),
        }
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
