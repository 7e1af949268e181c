//! `UdpSocket`: datagrams on the current core.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use runtime_executor::AsyncFd;
use socket2::{Domain, Protocol, Socket, Type};

use crate::addr::{resolve, resolve_first, ToSocketAddrs};
use crate::sys::recv_from_trunc;

/// What [`UdpSocket::recv_msg`] (or, with a Unix address,
/// [`UnixDatagram::recv_msg`](crate::UnixDatagram::recv_msg)) received: how
/// many bytes were copied, from whom, and whether the datagram was longer
/// than the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<A = SocketAddr> {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The sender.
    pub addr: A,
    /// The datagram did not fit: its tail was discarded.
    pub truncated: bool,
}

impl<A> Datagram<A> {
    /// A datagram of `full` bytes received into a buffer of `cap` bytes.
    pub(crate) fn received(full: usize, cap: usize, addr: A) -> Self {
        Datagram {
            len: full.min(cap),
            addr,
            truncated: full > cap,
        }
    }
}

/// A UDP socket owned by the core that made it.
///
/// Datagrams are sent and received whole: an empty datagram is received as
/// `Ok(0)`, and [`recv_msg`](Self::recv_msg) reports a datagram longer than
/// the buffer as truncated (plain `recv_from` truncates silently, as
/// everywhere).
///
/// # Examples
///
/// ```
/// use runtime::net::UdpSocket;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
pub struct UdpSocket {
    fd: AsyncFd<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`, trying each address it resolves to.
    ///
    /// # Errors
    ///
    /// The last bind error, or a lookup error.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        crate::on_a_core("UdpSocket::bind")?;
        let mut last_err = None;
        for addr in resolve(addr).await? {
            match UdpSocket::bind_addr(addr, false) {
                Ok(socket) => return Ok(socket),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no address to bind")))
    }

    /// Binds to `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`), so one
    /// socket per core can share the port and the kernel spreads datagrams
    /// by source.
    ///
    /// # Errors
    ///
    /// As `bind(2)`.
    pub fn bind_reuse_port(addr: SocketAddr) -> io::Result<UdpSocket> {
        crate::on_a_core("UdpSocket::bind_reuse_port")?;
        UdpSocket::bind_addr(addr, true)
    }

    fn bind_addr(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )?;
        if reuse_port {
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
        }
        socket.bind(&addr.into())?;
        Ok(UdpSocket {
            fd: AsyncFd::new(std::net::UdpSocket::from(socket))?,
        })
    }

    /// Takes over a std socket, on the current core.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        crate::on_a_core("UdpSocket::from_std")?;
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            fd: AsyncFd::new(socket)?,
        })
    }

    fn inner(&self) -> &std::net::UdpSocket {
        self.fd.get_ref()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner().peer_addr()
    }

    /// Sets the default destination, and receives only from it.
    ///
    /// # Errors
    ///
    /// A lookup error, or as `connect(2)`.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve(addr).await?;
        let mut last_err = None;
        for addr in addrs {
            match self.inner().connect(addr) {
                Ok(()) => return Ok(()),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no address to connect to")))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// As `send(2)`, e.g. `ConnectionRefused` after an ICMP error.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.write_with(|s| s.send(buf)).await
    }

    /// Sends one datagram to `target`: an address, or a name resolved off
    /// the core (to its first address), as tokio's `send_to` takes.
    ///
    /// # Errors
    ///
    /// A lookup error, or as `sendto(2)`.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = resolve_first(target).await?;
        self.fd.write_with(|s| s.send_to(buf, target)).await
    }

    /// Sends one datagram to the connected peer if the socket can take it
    /// now, without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the kernel's buffer is full; otherwise as `send(2)`.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.try_write_with(|s| s.send(buf))
    }

    /// Sends one datagram to `target` if the socket can take it now.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the kernel's buffer is full; otherwise as `sendto(2)`.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.fd.try_write_with(|s| s.send_to(buf, target))
    }

    /// Receives one datagram from the connected peer if one is queued,
    /// without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if none is queued; otherwise as `recv(2)`.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.try_read_with(|s| s.recv(buf))
    }

    /// Receives one datagram and its sender if one is queued.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if none is queued; otherwise as `recvfrom(2)`.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.try_read_with(|s| s.recv_from(buf))
    }

    /// Waits until the socket may be readable; a `try_recv` may still say
    /// `WouldBlock` (then wait again).
    ///
    /// # Errors
    ///
    /// Once the socket's runtime has shut down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn readable(&self) -> io::Result<()> {
        self.fd.readable().await
    }

    /// Waits until the socket may be writable; see [`readable`](Self::readable).
    ///
    /// # Errors
    ///
    /// Once the socket's runtime has shut down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn writable(&self) -> io::Result<()> {
        self.fd.writable().await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// As `recv(2)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.read_with(|s| s.recv(buf)).await
    }

    /// Receives one datagram and its sender.
    ///
    /// # Errors
    ///
    /// As `recvfrom(2)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.read_with(|s| s.recv_from(buf)).await
    }

    /// Receives one datagram, telling whether it was truncated.
    ///
    /// # Errors
    ///
    /// As `recvfrom(2)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn recv_msg(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        let cap = buf.len();
        let (full, addr) = self
            .fd
            .read_with(|s| recv_from_trunc(s, buf, false))
            .await?;
        Ok(Datagram::received(full, cap, addr))
    }

    /// Copies the next datagram and its sender without consuming it.
    ///
    /// # Errors
    ///
    /// As `recvfrom(2)`.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.read_with(|s| s.peek_from(buf)).await
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner().broadcast()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner().set_ttl(ttl)
    }

    /// The `IP_TTL` setting.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner().ttl()
    }

    /// Joins an IPv4 multicast group on `interface` (`0.0.0.0`: any).
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner().join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner().leave_multicast_v4(&group, &interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface` (0: any).
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner().join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner().leave_multicast_v6(group, interface)
    }

    /// Whether multicast sent from here loops back to this host (IPv4).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner().set_multicast_loop_v4(on)
    }

    /// The TTL of multicast datagrams (IPv4).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.inner().set_multicast_ttl_v4(ttl)
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
