//! `TcpListener`: one per core, all bound to the same address through
//! `SO_REUSEPORT`, so the kernel spreads connections and none moves between
//! cores; `group` keeps a second bind of that address from joining them.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_lite::Stream;
use runtime_executor::AsyncFd;
use socket2::{Domain, Protocol, Socket, Type};

use crate::accept::{self, AcceptFn, Backoff};
use crate::addr::{resolve, ToSocketAddrs};
use crate::tcp::group::Membership;
use crate::tcp::stream::socket_addr;
use crate::TcpStream;

/// Options for binding a [`TcpListener`].
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let listener = runtime::net::TcpListener::builder()
///         .backlog(4096)
///         .reuse_port(true)
///         .bind("127.0.0.1:0".parse().unwrap())
///         .unwrap();
///     assert!(listener.local_addr().unwrap().port() > 0);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct TcpListenerBuilder {
    backlog: i32,
    reuse_port: bool,
    reuse_address: bool,
    only_v6: Option<bool>,
}

impl Default for TcpListenerBuilder {
    fn default() -> Self {
        TcpListenerBuilder {
            backlog: 1024,
            reuse_port: true,
            reuse_address: true,
            only_v6: None,
        }
    }
}

impl TcpListenerBuilder {
    /// The listen backlog (default 1024; the kernel caps it at `somaxconn`).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// `SO_REUSEPORT` (default on): every core of this runtime binds the
    /// same address, each bind after the first joining it. The first bind
    /// is exclusive all the same: it fails with `AddrInUse` if anything
    /// holds the address, so two copies of a server never share traffic
    /// silently.
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }

    /// `SO_REUSEADDR` (default on): rebinding right after a restart works.
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.reuse_address = reuse;
        self
    }

    /// `IPV6_V6ONLY` for an IPv6 address (default: the system's).
    pub fn only_v6(mut self, only_v6: bool) -> Self {
        self.only_v6 = Some(only_v6);
        self
    }

    /// Binds and listens on `addr`, registered with the current core.
    ///
    /// With `reuse_port` (the default), a bind of an address that another
    /// core of this runtime listens on joins that core's listener, and with
    /// port 0 the later cores' binds reuse the port the first one got: one
    /// listener per core, one address. Any other bind of an address in use
    /// fails, also a second bind on a core that already listens there.
    ///
    /// This is sync, where [`TcpListener::bind`] is async: it takes a
    /// `SocketAddr`, so there is no name to look up.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the address is bound (see above); an error naming
    /// this call outside a `runtime` core; otherwise as `bind(2)` and
    /// `listen(2)`.
    pub fn bind(self, addr: SocketAddr) -> io::Result<TcpListener> {
        self.bind_for(addr, "TcpListenerBuilder::bind")
    }

    pub(crate) fn bind_for(self, addr: SocketAddr, call: &str) -> io::Result<TcpListener> {
        let (socket, group) = super::group::bind(&self, addr, call)?;
        let mut listener = TcpListener::from_socket(socket)?;
        listener.group = group;
        Ok(listener)
    }

    pub(crate) fn reuses_port(&self) -> bool {
        cfg!(unix) && self.reuse_port
    }

    /// Binds and listens, without registering: the socket can be handed to
    /// a core later (the callback engine binds before its loops start).
    ///
    /// The bind is exclusive, so it fails if the address is in use, also by
    /// sockets with `SO_REUSEPORT`; `SO_REUSEPORT` (if asked for) is turned
    /// on after the bind, so that [`join_socket`](Self::join_socket) can
    /// bind the same address for the other cores.
    pub(crate) fn bind_socket(&self, addr: SocketAddr) -> io::Result<Socket> {
        let socket = self.new_socket(addr)?;
        socket.bind(&addr.into())?;
        #[cfg(unix)]
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.listen(self.backlog)?;
        Ok(socket)
    }

    /// Binds and listens beside a socket from [`bind_socket`](Self::bind_socket)
    /// with `SO_REUSEPORT`, sharing its address.
    pub(crate) fn join_socket(&self, addr: SocketAddr) -> io::Result<Socket> {
        let socket = self.new_socket(addr)?;
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        socket.listen(self.backlog)?;
        Ok(socket)
    }

    fn new_socket(&self, addr: SocketAddr) -> io::Result<Socket> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        if self.reuse_address {
            socket.set_reuse_address(true)?;
        }
        if let (Some(only_v6), SocketAddr::V6(_)) = (self.only_v6, addr) {
            socket.set_only_v6(only_v6)?;
        }
        Ok(socket)
    }
}

/// A TCP listening socket on the current core.
///
/// Bind the same address on every core (it sets `SO_REUSEPORT` by default)
/// and each core accepts its own share of connections: the first bind
/// picks the port (for port 0) and the other cores' listeners join it.
/// Binds are honest all the same: a second bind of an address this core
/// already listens on, or one that another runtime or program holds, fails
/// with `AddrInUse` rather than silently sharing its traffic. (The first
/// listener binds without `SO_REUSEPORT`, so the kernel refuses it if the
/// address is taken, and turns the option on before `listen`, so that only
/// binds made by this runtime for its other cores can join; no probe, so no
/// race.)
///
/// Accepting never spins and never gives up: when the process or system runs
/// out of file descriptors (`EMFILE`, `ENFILE`) or memory (`ENOBUFS`,
/// `ENOMEM`), it logs once, waits (100 ms, doubling up to 1 s) and tries
/// again, leaving established connections untouched; `ECONNABORTED` (a
/// connection reset before it was accepted), `EINTR` and the network errors
/// accept(2) says to retry are skipped at once.
///
/// # Examples
///
/// ```
/// use runtime::net::{TcpListener, TcpStream};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = runtime::spawn(async move { TcpStream::connect(addr).await });
///     let (conn, peer) = listener.accept().await.unwrap();
///     let client = client.await.unwrap().unwrap();
///     assert_eq!(peer, client.local_addr().unwrap());
///     assert_eq!(conn.peer_addr().unwrap(), peer);
/// });
/// ```
pub struct TcpListener {
    fd: AsyncFd<Socket>,
    backoff: RefCell<Backoff>,
    /// This listener's place among the per-core listeners of its bind.
    group: Option<Membership>,
    /// In place of accept(2), for tests that inject its errors.
    accept_fn: Option<AcceptFn>,
}

impl TcpListener {
    /// Binds `addr` with the [default options](TcpListenerBuilder), trying
    /// each address it resolves to until one binds.
    ///
    /// One listener per core: called on several cores of this runtime for
    /// the same address (port 0 included), the later binds join the first
    /// through `SO_REUSEPORT` and share its port, and the kernel spreads
    /// connections among them. Any other bind of an address in use fails
    /// with `AddrInUse`, also a second bind on the same core and a bind of
    /// an address that another program listens on with `SO_REUSEPORT`; see
    /// [`TcpListenerBuilder::bind`].
    ///
    /// # Errors
    ///
    /// The last bind error (`AddrInUse` as above), or a lookup error.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let mut last_err = None;
        for addr in resolve(addr).await? {
            match TcpListener::builder().bind_for(addr, "TcpListener::bind") {
                Ok(listener) => return Ok(listener),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no address to bind")))
    }

    /// Options for binding.
    pub fn builder() -> TcpListenerBuilder {
        TcpListenerBuilder::default()
    }

    pub(crate) fn from_socket(socket: Socket) -> io::Result<TcpListener> {
        Ok(TcpListener {
            fd: AsyncFd::new(socket)?,
            backoff: Backoff::new(),
            group: None,
            accept_fn: None,
        })
    }

    /// Takes over a listening std socket, on the current core.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        crate::on_a_core("TcpListener::from_std")?;
        listener.set_nonblocking(true)?;
        TcpListener::from_socket(Socket::from(listener))
    }

    /// Gives the socket back as a (non-blocking) std listener.
    pub fn into_std(self) -> std::net::TcpListener {
        self.fd.into_inner().into()
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(self.fd.get_ref().local_addr()?)
    }

    /// Sets `IP_TTL` for accepted connections.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.fd.get_ref().set_ttl_v4(ttl)
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// Errors other than the transient ones described on [`TcpListener`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is taken from the kernel only in the poll
    /// that returns it.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection; see [`accept`](Self::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (socket, peer) = ready!(self.poll_accept_socket(cx))?;
        let peer = socket_addr(peer)?;
        Poll::Ready(TcpStream::from_socket(socket).map(|s| (s, peer)))
    }

    /// Accepts a non-blocking socket without registering it anywhere (the
    /// callback engine may hand it to another core), with the same retries
    /// and back-off as [`accept`](Self::accept).
    pub(crate) fn poll_accept_socket(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Socket, socket2::SockAddr)>> {
        let (socket, addr) = ready!(accept::poll_accept(
            &self.fd,
            &self.backoff,
            cx,
            |sock| match &self.accept_fn {
                None => crate::sys::accept(sock),
                Some(accept) => {
                    let (socket, addr) = accept(sock)?;
                    socket.set_nonblocking(true)?;
                    Ok((socket, addr))
                }
            },
            || format!("{:?}", self.local_addr().ok()),
        ))?;
        Poll::Ready(Ok((socket, addr)))
    }

    /// Accepts through `accept` in place of accept(2).
    pub(crate) fn set_accept_fn(&mut self, accept: AcceptFn) {
        self.accept_fn = Some(accept);
    }

    /// The stream of accepted connections. It yields to the core's other
    /// tasks and I/O after every 64 connections in a row, so a burst of
    /// connects cannot starve established connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            in_a_row: 0,
        }
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

/// The stream returned by [`TcpListener::incoming`]; it never ends.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    /// Connections given in a row since the last yield.
    in_a_row: usize,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.in_a_row >= accept::ACCEPT_BATCH {
            self.in_a_row = 0;
            let mut yielded = runtime_executor::yield_now();
            if Pin::new(&mut yielded).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let Poll::Ready(accepted) = self.listener.poll_accept(cx) else {
            // The backlog is empty: the next connection starts a new row.
            self.in_a_row = 0;
            return Poll::Pending;
        };
        self.in_a_row += 1;
        Poll::Ready(Some(accepted.map(|(stream, _)| stream)))
    }
}
