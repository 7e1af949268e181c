//! `Client`: outbound connections served by the same kind of loops and
//! handler as a server's (gnet's `Client`).

use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::future::block_on;
use runtime_executor::channel::oneshot;
use runtime_executor::AsyncFd;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::addr::{parse, EngineAddr};
use super::handle::{closed_error, Command, ConnHandle, StreamKind};
use super::launch::{on_loop_of, prepare, run_loops, spawn_loops};
use super::{Engine, EventHandler, Options};
use crate::unix::path::UnixName;

const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Loops for outbound connections: [`dial`](Self::dial) an address or
/// [`enroll`](Self::enroll) a connected std stream, and the handler's
/// callbacks serve it exactly as they would an accepted one.
///
/// The loops run on their own threads from [`Client::new`] until
/// [`stop`](Self::stop) (or drop).
///
/// # Examples
///
/// ```no_run
/// use runtime::net::engine::{Action, Client, Conn, EventHandler, Options};
///
/// #[derive(Clone)]
/// struct Print;
///
/// impl EventHandler for Print {
///     fn on_traffic(&mut self, conn: &mut Conn) -> Action {
///         println!("{:?}", conn.next(usize::MAX));
///         Action::None
///     }
/// }
///
/// let client = Client::new(Print, Options::new()).unwrap();
/// let conn = client.dial("tcp://127.0.0.1:9000").unwrap();
/// conn.async_write(&b"hello"[..], |_| {});
/// ```
pub struct Client {
    engine: Engine,
    thread: Mutex<Option<JoinHandle<io::Result<()>>>>,
    next: AtomicUsize,
    /// For `tls://` dials: the TLS options the client was made with.
    #[cfg(feature = "tls")]
    tls: Options,
}

/// The TLS options of `options`, kept for `tls://` dials.
#[cfg(feature = "tls")]
fn tls_options(options: &Options) -> Options {
    let mut kept = Options::new();
    kept.tls_client = options.tls_client.clone();
    kept.tls_server_name = options.tls_server_name.clone();
    kept
}

impl Client {
    /// Starts `options.num_loops()` loops, each with a clone of `handler`.
    ///
    /// # Errors
    ///
    /// If the loops' threads cannot be started.
    pub fn new<H: EventHandler + Clone>(handler: H, options: Options) -> io::Result<Client> {
        #[cfg(feature = "tls")]
        let tls = tls_options(&options);
        let prepared = prepare(handler, &[], options)?;
        let engine = prepared.engine.clone();
        let (started, ready) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("engine-client".into())
            .spawn(move || run_loops(prepared, Some(started)))?;
        ready
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the client's loops failed to start")))?;
        Ok(Client {
            engine,
            thread: Mutex::new(Some(thread)),
            next: AtomicUsize::new(0),
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// Runs a client's loops on the cores of a runtime that already runs,
    /// one per core, as [`serve_on`](super::serve_on) does for a server:
    /// an engine's callbacks can then dial a backend into their own loop
    /// ([`dial_async`](Self::dial_async) from a task on that core), and
    /// forward between the two connections without crossing threads.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn serve_on<H: EventHandler + Clone>(
        runtime: &runtime_executor::Handle,
        handler: H,
        options: Options,
    ) -> io::Result<Client> {
        let options = options.loops(runtime.cores());
        #[cfg(feature = "tls")]
        let tls = tls_options(&options);
        let engine = spawn_loops(runtime, prepare(handler, &[], options)?);
        Ok(Client {
            engine,
            thread: Mutex::new(None),
            next: AtomicUsize::new(0),
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// Connects to `tcp://host:port` (also `tcp4`, `tcp6`), `unix:///path`,
    /// `unix://@abstract` or `udp://host:port` (a connected UDP socket), and
    /// serves the connection on one of the loops (in turn). With the
    /// feature `tls`, `tls://host:port` dials TCP and runs a TLS handshake
    /// with `Options::tls_client`'s configuration; `on_open` runs once it
    /// is done, and a failed handshake is this call's error (and the
    /// connection's `on_close`). Blocks until
    /// `on_open` has run; returns the connection's handle. From async code,
    /// or from a callback, use [`dial_async`](Self::dial_async), which
    /// blocks nothing.
    ///
    /// # Errors
    ///
    /// A bad address, the connect error, `max_connections` reached, or a
    /// call from one of this client's own loops (it would wait on itself).
    pub fn dial(&self, addr: &str) -> io::Result<ConnHandle> {
        self.dial_timeout(addr, DIAL_TIMEOUT)
    }

    /// [`dial`](Self::dial) with a connect deadline (TCP).
    ///
    /// # Errors
    ///
    /// As [`dial`](Self::dial); `TimedOut` past the deadline.
    pub fn dial_timeout(&self, addr: &str, timeout: Duration) -> io::Result<ConnHandle> {
        self.check_caller()?;
        let (addr, tls) = self.tls_dial(addr)?;
        let addr = &*addr;
        let socket = match parse(addr)? {
            EngineAddr::Tcp(addr) => {
                let stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
                (Socket::from(stream), StreamKind::Tcp)
            }
            EngineAddr::Unix(name) => (connect_unix(&name, false)?, StreamKind::Unix),
            EngineAddr::Udp(addr) => {
                let reply = self.adopt_datagram(connect_udp(addr)?, addr, None)?;
                return block_on(reply).unwrap_or_else(|_| Err(closed_error()));
            }
        };
        let reply = self.adopt(socket, None, None, tls)?;
        block_on(reply).unwrap_or_else(|_| Err(closed_error()))
    }

    /// A `tls://` address: the `tcp://` one to connect to, and the TLS side
    /// of the dial.
    fn tls_dial<'a>(
        &self,
        addr: &'a str,
    ) -> io::Result<(std::borrow::Cow<'a, str>, Option<super::ClientTls>)> {
        #[cfg(feature = "tls")]
        if let Some((tcp, tls)) = super::tls::tls_dial(addr, &self.tls)? {
            return Ok((tcp.into(), Some(tls)));
        }
        Ok((addr.into(), None))
    }

    /// Connects without blocking its caller, and serves the connection on
    /// one of the loops: on the caller's own core if this client has a loop
    /// there (so a callback's task dials into its own loop), else on the
    /// loops in turn. Names are resolved on the blocking pool, and the
    /// connect completes through the caller's reactor; the future resolves
    /// once `on_open` has run. Must be awaited on a runtime core.
    ///
    /// # Errors
    ///
    /// As [`dial`](Self::dial), `TimedOut` after 30 s (wrap the call in
    /// [`timeout`](runtime_executor::time::timeout) for another deadline),
    /// and `NotConnected` once the client has stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before the connection reaches its loop, the
    /// socket is closed; after, the connection is served and closed by its
    /// loop as any other.
    pub async fn dial_async(&self, addr: &str) -> io::Result<ConnHandle> {
        self.dial_context_async(addr, None::<()>).await
    }

    /// [`dial_async`](Self::dial_async), and the connection's
    /// [context](super::Conn::set_context) is `context` from the start: it is
    /// there in `on_open` (gnet's `DialContext`). `None` sets no context.
    ///
    /// # Errors
    ///
    /// As [`dial_async`](Self::dial_async).
    pub async fn dial_context_async<T: Any + Send>(
        &self,
        addr: &str,
        context: Option<T>,
    ) -> io::Result<ConnHandle> {
        let context = context.map(|c| Box::new(c) as Box<dyn Any + Send>);
        let (addr, tls) = self.tls_dial(addr)?;
        let parsed = if addr.starts_with("unix://") {
            parse(&addr)?
        } else {
            // `tcp://name:port` resolves a name: never on a core.
            let owned = addr.into_owned();
            runtime_executor::spawn_blocking(move || parse(&owned))
                .await
                .map_err(|err| io::Error::other(err.to_string()))??
        };
        let dial = async {
            let reply = match parsed {
                EngineAddr::Tcp(addr) => {
                    self.adopt(connect_tcp(addr).await?, Some(addr), context, tls)?
                }
                EngineAddr::Unix(name) => {
                    let socket = (connect_unix(&name, true)?, StreamKind::Unix);
                    self.adopt(socket, None, context, tls)?
                }
                EngineAddr::Udp(addr) => self.adopt_datagram(connect_udp(addr)?, addr, context)?,
            };
            reply.await.unwrap_or_else(|_| Err(closed_error()))
        };
        // A stalled connect would outlast the client's stop by its 30 s.
        let stopped = async {
            self.engine.finished().await;
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the client stopped during the dial",
            ))
        };
        let dial = futures_lite::future::or(dial, stopped);
        match runtime_executor::time::timeout(DIAL_TIMEOUT, dial).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the dial timed out",
            )),
        }
    }

    /// Serves an already connected `std::net::TcpStream` or
    /// `std::os::unix::net::UnixStream` (or any connected stream socket).
    ///
    /// # Errors
    ///
    /// As [`dial`](Self::dial), without the connect.
    pub fn enroll(&self, stream: impl Into<Socket>) -> io::Result<ConnHandle> {
        self.check_caller()?;
        let socket = stream.into();
        let kind = stream_kind(&socket)?;
        let reply = self.adopt((socket, kind), None, None, None)?;
        block_on(reply).unwrap_or_else(|_| Err(closed_error()))
    }

    /// [`enroll`](Self::enroll) over TLS: this end is the client of the
    /// session, with [`Options::tls_client`](super::Options::tls_client)'s
    /// configuration, and the server's certificate is checked against
    /// [`Options::tls_server_name`](super::Options::tls_server_name) or
    /// else `server_name` (which is also sent as SNI). `on_open` runs
    /// once the handshake is done.
    ///
    /// # Errors
    ///
    /// As [`enroll`](Self::enroll); `InvalidInput` without a TLS client
    /// configuration or for a `server_name` that is not a DNS name or an
    /// IP address; the handshake's error if it fails.
    #[cfg(feature = "tls")]
    pub fn enroll_tls(
        &self,
        stream: impl Into<Socket>,
        server_name: &str,
    ) -> io::Result<ConnHandle> {
        self.check_caller()?;
        let tls = super::tls::client_tls(&self.tls, server_name)?;
        let socket = stream.into();
        let kind = stream_kind(&socket)?;
        let reply = self.adopt((socket, kind), None, None, Some(tls))?;
        block_on(reply).unwrap_or_else(|_| Err(closed_error()))
    }

    fn check_caller(&self) -> io::Result<()> {
        if on_loop_of(&self.engine) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "dial and enroll wait for a loop to open the connection: call them from \
                 outside the client's own loops, or use dial_async",
            ));
        }
        Ok(())
    }

    /// The loop for a new connection: the caller's core's own, if this
    /// client has a loop there, else the next in turn.
    fn next_loop(&self) -> usize {
        if on_loop_of(&self.engine) {
            if let Some(core) = runtime_executor::try_current_core() {
                if core < self.engine.num_loops() {
                    return core;
                }
            }
        }
        self.next.fetch_add(1, Ordering::Relaxed) % self.engine.num_loops()
    }

    /// Hands a connected socket to a loop; its reply says when `on_open`
    /// has run.
    fn adopt(
        &self,
        (socket, kind): (Socket, StreamKind),
        peer: Option<std::net::SocketAddr>,
        context: Option<Box<dyn Any + Send>>,
        tls: Option<super::ClientTls>,
    ) -> io::Result<oneshot::Receiver<io::Result<ConnHandle>>> {
        socket.set_nonblocking(true)?;
        let peer = match peer {
            Some(peer) => SockAddr::from(peer),
            None => socket.peer_addr()?,
        };
        let inner = &self.engine.inner;
        if !inner.reserve() {
            return Err(io::Error::other("max_connections connections are open"));
        }
        let target = self.next_loop();
        inner.assign(target);
        let (reply, handle) = oneshot::channel();
        let command = Command::Adopt {
            socket,
            kind,
            peer,
            reply: Some(reply),
            context,
            tls,
        };
        if inner.senders[target].send(command).is_err() {
            inner.connection_closed(target);
            return Err(closed_error());
        }
        Ok(handle)
    }

    fn adopt_datagram(
        &self,
        socket: Socket,
        peer: std::net::SocketAddr,
        context: Option<Box<dyn Any + Send>>,
    ) -> io::Result<oneshot::Receiver<io::Result<ConnHandle>>> {
        if context.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a UDP connection has no context: each datagram is a Conn of its own",
            ));
        }
        let (reply, handle) = oneshot::channel();
        let command = Command::AdoptDatagram {
            socket,
            peer: SockAddr::from(peer),
            reply,
        };
        self.engine.inner.senders[self.next_loop()]
            .send(command)
            .map_err(|_| closed_error())?;
        Ok(handle)
    }

    /// The engine handle of the client's loops.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Closes every connection (`on_close` runs) and stops the loops;
    /// returns once they have. Calling it again is fine. A client started
    /// with [`serve_on`](Self::serve_on) only asks its loops to stop: await
    /// [`Engine::finished`] on [`engine`](Self::engine) for the end (this
    /// thread may be the one that runs them).
    pub fn stop(&self) {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(thread) = thread else {
            // On a shared runtime: ask, don't wait (this thread may run a loop).
            self.engine.stop_within(std::time::Duration::ZERO);
            return;
        };
        if self.engine.shutdown(std::time::Duration::ZERO).is_err() {
            // On one of its own loops: it cannot wait for itself.
            self.engine.stop();
            return;
        }
        let _ = thread.join();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("engine", &self.engine)
            .finish()
    }
}

/// A non-blocking TCP connect through the current core's reactor; the
/// socket comes back deregistered, for a loop to adopt.
async fn connect_tcp(addr: std::net::SocketAddr) -> io::Result<(Socket, StreamKind)> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    match socket.connect(&addr.into()) {
        Ok(()) => return Ok((socket, StreamKind::Tcp)),
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    let fd = AsyncFd::new(socket)?;
    // Writable once the handshake completes or fails.
    fd.clear_write_ready();
    fd.writable().await?;
    let socket = fd.into_inner();
    match socket.take_error()? {
        Some(err) => Err(err),
        None => Ok((socket, StreamKind::Tcp)),
    }
}

/// A Unix stream connect. Local: it completes at once, or (non-blocking,
/// with the listener's backlog full) fails with `WouldBlock`.
fn connect_unix(name: &UnixName, nonblocking: bool) -> io::Result<Socket> {
    let addr = match name {
        UnixName::Path(path) => SockAddr::unix(path)?,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        UnixName::Abstract(name) => {
            // A path that starts with a NUL byte names an abstract socket.
            use std::os::unix::ffi::OsStrExt;
            let path = [&[0][..], name].concat();
            SockAddr::unix(std::ffi::OsStr::from_bytes(&path))?
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        UnixName::Abstract(_) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract Unix socket names exist on Linux only",
            ))
        }
    };
    let ty = if nonblocking {
        Type::STREAM.nonblocking()
    } else {
        Type::STREAM
    };
    let socket = Socket::new(Domain::UNIX, ty.cloexec(), None)?;
    socket.connect(&addr)?;
    Ok(socket)
}

fn connect_udp(addr: std::net::SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.cloexec(),
        Some(Protocol::UDP),
    )?;
    socket.connect(&addr.into())?;
    Ok(socket)
}

/// Whether a connected stream socket is a Unix one or a TCP one.
fn stream_kind(socket: &Socket) -> io::Result<StreamKind> {
    Ok(
        if socket.local_addr()?.family() == libc::AF_UNIX as libc::sa_family_t {
            StreamKind::Unix
        } else {
            StreamKind::Tcp
        },
    )
}
