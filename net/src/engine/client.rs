//! `Client`: outbound connections served by the same kind of loops and
//! handler as a server's (gnet's `Client`).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::addr::{parse, EngineAddr, UnixName};
use super::handle::{closed_error, Command, ConnHandle, StreamKind};
use super::launch::{on_loop_of, prepare, run_loops};
use super::{Engine, EventHandler, Options};

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
/// use runtime_net::engine::{Action, Client, Conn, EventHandler, Options};
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
}

impl Client {
    /// Starts `options.num_loops()` loops, each with a clone of `handler`.
    ///
    /// # Errors
    ///
    /// If the loops' threads cannot be started.
    pub fn new<H: EventHandler + Clone>(handler: H, options: Options) -> io::Result<Client> {
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
        })
    }

    /// Connects to `tcp://host:port` (also `tcp4`, `tcp6`), `unix:///path`,
    /// `unix://@abstract` or `udp://host:port` (a connected UDP socket), and
    /// serves the connection on one of the loops (in turn). Blocks until
    /// `on_open` has run; returns the connection's handle.
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
        match parse(addr)? {
            EngineAddr::Tcp(addr) => {
                let stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
                self.adopt(Socket::from(stream), StreamKind::Tcp)
            }
            EngineAddr::Unix(UnixName::Path(path)) => {
                let stream = std::os::unix::net::UnixStream::connect(path)?;
                self.adopt(Socket::from(stream), StreamKind::Unix)
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            EngineAddr::Unix(UnixName::Abstract(name)) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
                self.adopt(Socket::from(stream), StreamKind::Unix)
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            EngineAddr::Unix(UnixName::Abstract(_)) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract Unix socket names exist on Linux only",
            )),
            EngineAddr::Udp(addr) => {
                let socket = Socket::new(
                    Domain::for_address(addr),
                    Type::DGRAM.cloexec(),
                    Some(Protocol::UDP),
                )?;
                socket.connect(&addr.into())?;
                self.check_caller()?;
                let (reply, handle) = std::sync::mpsc::channel();
                let target = self.next_loop();
                let command = Command::AdoptDatagram {
                    socket,
                    peer: SockAddr::from(addr),
                    reply,
                };
                self.engine.inner.senders[target]
                    .send(command)
                    .map_err(|_| closed_error())?;
                handle.recv().unwrap_or_else(|_| Err(closed_error()))
            }
        }
    }

    /// Serves an already connected `std::net::TcpStream` or
    /// `std::os::unix::net::UnixStream` (or any connected stream socket).
    ///
    /// # Errors
    ///
    /// As [`dial`](Self::dial), without the connect.
    pub fn enroll(&self, stream: impl Into<Socket>) -> io::Result<ConnHandle> {
        let socket = stream.into();
        let kind = if socket.local_addr()?.family() == libc::AF_UNIX as libc::sa_family_t {
            StreamKind::Unix
        } else {
            StreamKind::Tcp
        };
        self.adopt(socket, kind)
    }

    fn check_caller(&self) -> io::Result<()> {
        if on_loop_of(&self.engine) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "dial and enroll wait for a loop to open the connection: call them from \
                 outside the client's own loops",
            ));
        }
        Ok(())
    }

    fn next_loop(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.engine.num_loops()
    }

    fn adopt(&self, socket: Socket, kind: StreamKind) -> io::Result<ConnHandle> {
        self.check_caller()?;
        socket.set_nonblocking(true)?;
        let peer = socket.peer_addr()?;
        let inner = &self.engine.inner;
        if !inner.reserve() {
            return Err(io::Error::other("max_connections connections are open"));
        }
        let target = self.next_loop();
        inner.assign(target);
        let (reply, handle) = std::sync::mpsc::channel();
        let command = Command::Adopt {
            socket,
            kind,
            peer,
            reply: Some(reply),
        };
        if inner.senders[target].send(command).is_err() {
            inner.connection_closed(target);
            return Err(closed_error());
        }
        handle.recv().unwrap_or_else(|_| Err(closed_error()))
    }

    /// The engine handle of the client's loops.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Closes every connection (`on_close` runs) and stops the loops;
    /// returns once they have. Calling it again is fine.
    pub fn stop(&self) {
        if self.engine.shutdown(std::time::Duration::ZERO).is_err() {
            // On one of its own loops: it cannot wait for itself.
            self.engine.stop();
            return;
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
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
