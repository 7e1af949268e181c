//! `UnixDatagram`: a Unix domain datagram socket on the current core.

use std::cell::Cell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use runtime_executor::AsyncFd;

use crate::sys::recv_from_trunc_unix;
use crate::unix::path::SocketFile;

/// What [`UnixDatagram::recv_msg`] received; the sender is a path, an
/// abstract name, or unnamed for an unbound sender.
pub type Datagram = crate::udp::Datagram<SocketAddr>;

/// A Unix domain datagram socket owned by the core that made it.
///
/// Datagrams are sent and received whole and in order: an empty datagram is
/// received as `Ok(0)`, and [`recv_msg`](Self::recv_msg) reports a datagram
/// longer than the buffer as truncated (plain `recv`/`recv_from` truncate
/// silently). Unlike UDP, the kernel loses nothing: a sender waits while the
/// receiver's queue is full.
///
/// [`bind`](Self::bind) handles socket files as
/// [`UnixListener::bind`](crate::UnixListener::bind) does: a stale socket
/// file is replaced, a path that is not a socket is never removed, and the
/// socket file is removed when the socket is dropped.
///
/// # Examples
///
/// ```
/// use runtime::net::UnixDatagram;
///
/// let dir = std::env::temp_dir().join(format!("doc-unix-dgram-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let a = UnixDatagram::bind(&a_path).unwrap();
///     let b = UnixDatagram::bind(&b_path).unwrap();
///     a.send_to(b"ping", &b_path).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from.as_pathname(), Some(a_path.as_path()));
/// });
/// assert!(!a_path.exists() && !b_path.exists(), "removed on drop");
/// ```
pub struct UnixDatagram {
    fd: AsyncFd<std::os::unix::net::UnixDatagram>,
    /// The file `bind` created, removed on drop.
    file: Option<SocketFile>,
    /// Our own `shutdown` closed the read side; see `poll_recv_with`.
    read_shut: Cell<bool>,
}

impl UnixDatagram {
    /// Binds to `path`, replacing a stale socket file.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if a live socket owns the path, `AlreadyExists` if the
    /// path is not a socket, as `bind(2)`, or outside a `runtime` core.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        crate::on_a_core("UnixDatagram::bind")?;
        let (socket, file) =
            SocketFile::bind(path.as_ref(), std::os::unix::net::UnixDatagram::bind)?;
        UnixDatagram::new(socket, Some(file))
    }

    /// Binds in Linux's abstract namespace (no file on disk).
    ///
    /// # Errors
    ///
    /// As `bind(2)`: `AddrInUse` if the name is taken. Fails outside a
    /// `runtime` core.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn bind_abstract(name: &[u8]) -> io::Result<UnixDatagram> {
        crate::on_a_core("UnixDatagram::bind_abstract")?;
        use std::os::linux::net::SocketAddrExt;
        let addr = SocketAddr::from_abstract_name(name)?;
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind_addr(&addr)?)
    }

    /// A socket bound to no address: it can send, but its datagrams arrive
    /// from an unnamed sender, so nobody can reply.
    ///
    /// # Errors
    ///
    /// As `socket(2)`, or outside a `runtime` core.
    pub fn unbound() -> io::Result<UnixDatagram> {
        crate::on_a_core("UnixDatagram::unbound")?;
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A pair of sockets connected to each other, on the current core.
    ///
    /// # Errors
    ///
    /// As `socketpair(2)`, or outside a `runtime` core.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        crate::on_a_core("UnixDatagram::pair")?;
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Takes over a std socket, on the current core. Its file, if any, is not
    /// removed on drop.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        crate::on_a_core("UnixDatagram::from_std")?;
        UnixDatagram::new(socket, None)
    }

    fn new(
        socket: std::os::unix::net::UnixDatagram,
        file: Option<SocketFile>,
    ) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            fd: AsyncFd::new(socket)?,
            file,
            read_shut: Cell::new(false),
        })
    }

    /// Gives the socket back to std, still non-blocking. A socket file made
    /// by [`bind`](Self::bind) is no longer removed on drop.
    pub fn into_std(self) -> std::os::unix::net::UnixDatagram {
        if let Some(file) = self.file {
            file.keep();
        }
        self.fd.into_inner()
    }

    fn inner(&self) -> &std::os::unix::net::UnixDatagram {
        self.fd.get_ref()
    }

    /// Sets the default destination to the socket at `path`, and receives
    /// only from it.
    ///
    /// # Errors
    ///
    /// As `connect(2)`: `NotFound` for a missing path, `ConnectionRefused`
    /// for a socket file nobody is bound to.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.inner().connect(path)
    }

    /// [`connect`](Self::connect)s to a socket in Linux's abstract namespace.
    ///
    /// # Errors
    ///
    /// As `connect(2)`: `ConnectionRefused` if nobody is bound to the name.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn connect_abstract(&self, name: &[u8]) -> io::Result<()> {
        use std::os::linux::net::SocketAddrExt;
        self.inner()
            .connect_addr(&SocketAddr::from_abstract_name(name)?)
    }

    /// The local address: unnamed unless bound.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected, or as `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner().peer_addr()
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// As `send(2)`: `NotConnected` if not connected, `ConnectionRefused`
    /// once the peer is gone, an `EMSGSIZE` error for a datagram larger
    /// than the send buffer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the datagram was sent whole or not at all.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.write_with(|s| s.send(buf)).await
    }

    /// Polls to send one datagram; see [`send`](Self::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.fd.poll_write_with(cx, |s| s.send(buf))
    }

    /// Sends one datagram to the socket at `path`.
    ///
    /// # Errors
    ///
    /// As `sendto(2)`: `NotFound` for a missing path, `ConnectionRefused`
    /// for a socket file nobody is bound to.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.fd.write_with(|s| s.send_to(buf, path)).await
    }

    /// Sends one datagram to `addr`, such as a sender from
    /// [`recv_from`](Self::recv_from) bound in the abstract namespace.
    ///
    /// # Errors
    ///
    /// As [`send_to`](Self::send_to); `InvalidInput` for an unnamed `addr`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.fd.write_with(|s| s.send_to_addr(buf, addr)).await
    }

    /// Receives one datagram from the connected peer, truncated to `buf`.
    ///
    /// # Errors
    ///
    /// As `recv(2)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls to receive one datagram; see [`recv`](Self::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_recv_with(cx, |s| s.recv(buf), || Ok(0))
    }

    /// Receives one datagram, truncated to `buf`, and its sender.
    ///
    /// # Errors
    ///
    /// As `recvfrom(2)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_with(|s| s.recv_from(buf), unnamed_eof).await
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
            .recv_with(|s| recv_from_trunc_unix(s, buf, false), unnamed_eof)
            .await?;
        Ok(Datagram::received(full, cap, addr))
    }

    /// Copies the next datagram, truncated to `buf`, and its sender without
    /// consuming it.
    ///
    /// # Errors
    ///
    /// As `recvfrom(2)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let cap = buf.len();
        let (full, addr) = self
            .recv_with(|s| recv_from_trunc_unix(s, buf, true), unnamed_eof)
            .await?;
        Ok((full.min(cap), addr))
    }

    /// Shuts down the read side, the write side or both, of this socket
    /// only (a datagram peer is not told). After `Write`, sends fail with
    /// `BrokenPipe`. After `Read`, senders' sends fail with `BrokenPipe`;
    /// datagrams already queued are still received, then receives return
    /// `Ok(0)` (from an unnamed address), as on a blocking socket.
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner().shutdown(how)?;
        if how != Shutdown::Write {
            self.read_shut.set(true);
        }
        Ok(())
    }

    /// Runs the receive `op` until it does not block. After our read side
    /// is shut down, Linux answers a non-blocking receive on the empty queue
    /// with `EAGAIN` where a blocking one returns 0, and no datagram will
    /// come to wake us: end with `eof` instead of waiting forever (tokio
    /// issue #1679).
    fn poll_recv_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&std::os::unix::net::UnixDatagram) -> io::Result<R>,
        eof: impl Fn() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.fd.poll_read_with(cx, |s| match op(s) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock && self.read_shut.get() => eof(),
            res => res,
        })
    }

    async fn recv_with<R>(
        &self,
        mut op: impl FnMut(&std::os::unix::net::UnixDatagram) -> io::Result<R>,
        eof: impl Fn() -> io::Result<R>,
    ) -> io::Result<R> {
        poll_fn(|cx| self.poll_recv_with(cx, &mut op, &eof)).await
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// As `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner().take_error()
    }
}

/// What a receive after a read shutdown returns: nothing, from nobody.
fn unnamed_eof() -> io::Result<(usize, SocketAddr)> {
    Ok((0, SocketAddr::from_pathname("")?))
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}
