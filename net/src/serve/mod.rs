//! `serve`: an accept loop per core that runs a [`Service`] on every
//! connection, with a connection limit and graceful shutdown.

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures_lite::future;
use runtime_executor::{signal, time, Handle, Runtime};
use socket2::Socket;

use crate::accept::{AcceptFn, ACCEPT_BATCH, FIRST_BACKOFF, MAX_BACKOFF};
use crate::addr::{resolve, ToSocketAddrs};
use crate::{TcpListener, TcpStream};

mod connection;
mod shutdown;

use connection::{serve_one, serve_one_by, Connections, Finished, IdleTimeout, Task};
pub use shutdown::ShutdownHandle;
use shutdown::{lock, Notify};

/// What a server runs for each accepted connection, as a task of the core
/// that accepted it.
///
/// One service value serves every connection of its core, by `&self`; it
/// need not be `Send` (each core builds its own, see [`Server::run`]).
/// Closures `Fn(TcpStream) -> impl Future<Output = io::Result<()>>` are
/// services too.
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use runtime::net::{Service, TcpStream};
///
/// struct Greeter {
///     greeting: &'static str,
/// }
///
/// impl Service for Greeter {
///     async fn call(&self, mut stream: TcpStream) -> std::io::Result<()> {
///         stream.write_all(self.greeting.as_bytes()).await
///     }
/// }
/// ```
// Deliberately not `Send`-bounded: connections never leave their core, so
// the futures may hold `Rc`s and `RefCell` borrows.
#[allow(async_fn_in_trait)]
pub trait Service {
    /// Serves one connection. An error ends that connection only; it is
    /// counted in [`ServerStats::errors`].
    async fn call(&self, stream: TcpStream) -> io::Result<()>;
}

impl<F, Fut> Service for F
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    // The closure's own future, without an `async` layer around it.
    fn call(&self, stream: TcpStream) -> impl Future<Output = io::Result<()>> {
        self(stream)
    }
}

/// Serves `service` on `addr` from the current core until ctrl-c or
/// SIGTERM, with [`Server`]'s defaults. Run it on every core (for example in
/// the body of `#[runtime::main(each_core)]`) and each core binds its own
/// `SO_REUSEPORT` listener; [`Server::serve_on_all_cores`] does that from
/// one core.
///
/// # Errors
///
/// Resolving or binding `addr` failed, or the signal handlers could not be
/// installed. Errors of single connections are not returned: see
/// [`Server::stats`].
///
/// # Examples
///
/// ```no_run
/// use futures_lite::io::{copy, split};
/// use runtime::net::TcpStream;
///
/// let rt = runtime::Runtime::builder().cores(2).build().unwrap();
/// rt.run_on_all_cores(|| {
///     runtime::net::serve("127.0.0.1:7000", |stream: TcpStream| async move {
///         let (reader, mut writer) = split(stream);
///         copy(reader, &mut writer).await.map(drop)
///     })
/// });
/// ```
pub async fn serve<S: Service + 'static>(addr: impl ToSocketAddrs, service: S) -> io::Result<()> {
    let mut addrs = resolve(addr).await?.into_iter();
    let addr = addrs
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
    Server::new(addr).serve(service).await
}

/// A TCP server: the accept loop of every core, a connection limit shared
/// by all of them, and graceful shutdown.
///
/// Each core that calls [`serve`](Server::serve) binds its own listener on
/// the address with `SO_REUSEPORT`, so the kernel spreads connections and a
/// connection stays on the core that accepted it. `Server` is cheap to clone
/// and every clone shares the same limit, counters and shutdown.
///
/// Shutdown (ctrl-c, SIGTERM, or [`ShutdownHandle::shutdown`]): every core
/// stops accepting at once (its listener is closed), lets its open
/// connections finish for up to [`shutdown_timeout`](Server::shutdown_timeout),
/// then cancels those still open, and `serve` returns.
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use runtime::net::{Server, TcpStream};
///
/// let rt = runtime::Runtime::builder().cores(2).build().unwrap();
/// let server = Server::new("127.0.0.1:0".parse().unwrap())
///     .max_connections(1000)
///     .handle_signals(false);
/// let shutdown = server.shutdown_handle();
/// let client = std::thread::spawn(move || {
///     // Once every core is listening, the port is known.
///     let addr = shutdown.wait_listening();
///     let mut stream = std::net::TcpStream::connect(addr).unwrap();
///     std::io::Write::write_all(&mut stream, b"ping").unwrap();
///     let mut reply = [0u8; 4];
///     std::io::Read::read_exact(&mut stream, &mut reply).unwrap();
///     assert_eq!(&reply, b"ping");
///     shutdown.shutdown();
/// });
/// server
///     .run(&rt, || {
///         |mut stream: TcpStream| async move {
///             let mut buf = [0u8; 4];
///             stream.read_exact(&mut buf).await?;
///             stream.write_all(&buf).await
///         }
///     })
///     .unwrap();
/// client.join().unwrap();
/// assert_eq!(server.stats().accepted, 1);
/// ```
#[derive(Clone)]
pub struct Server {
    addr: SocketAddr,
    max_connections: Option<usize>,
    shutdown_timeout: Duration,
    handle_signals: bool,
    backlog: i32,
    idle_timeout: Option<Duration>,
    first_read_timeout: Option<Duration>,
    close_timeout: Option<Duration>,
    accept_fn: Option<AcceptFn>,
    shared: Arc<ServerState>,
}

/// What every core's accept loop shares.
#[derive(Default)]
struct ServerState {
    open: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    shutdown: Notify,
    /// The address the first listener bound, once it has (port 0 resolved).
    listening: Mutex<Option<SocketAddr>>,
    listening_cond: std::sync::Condvar,
}

/// Counters of a [`Server`], over all cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Connections accepted and handed to the service.
    pub accepted: u64,
    /// Connections closed at once because `max_connections` were open.
    pub refused: u64,
    /// Connections whose service returned an error.
    pub errors: u64,
    /// Connections open now.
    pub open: usize,
}

impl Server {
    /// Default grace period for open connections at shutdown.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

    /// A server for `addr`: no connection limit, a 5 s shutdown grace
    /// period, and stopping on ctrl-c or SIGTERM.
    pub fn new(addr: SocketAddr) -> Server {
        Server {
            addr,
            max_connections: None,
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            handle_signals: true,
            backlog: 1024,
            idle_timeout: None,
            first_read_timeout: None,
            close_timeout: None,
            accept_fn: None,
            shared: Arc::default(),
        }
    }

    /// At most `max` connections open at once, over all cores. A connection
    /// accepted past the limit is closed at once and counted in
    /// [`ServerStats::refused`]; accepting goes on, so the server serves new
    /// connections again as soon as open ones end.
    pub fn max_connections(mut self, max: usize) -> Server {
        self.max_connections = Some(max);
        self
    }

    /// How long open connections may run on after shutdown begins before
    /// they are cancelled.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Server {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether ctrl-c and SIGTERM shut the server down (default `true`).
    pub fn handle_signals(mut self, handle: bool) -> Server {
        self.handle_signals = handle;
        self
    }

    /// Closes a connection whose service has not written its first byte
    /// within `timeout` of the accept (none by default): HAProxy's
    /// `timeout http-request`, for request/response protocols, where the
    /// first reply means the first request was complete. A slowloris peer
    /// that trickles a request which never completes is closed at the
    /// deadline however often it sends a byte; the connection counts as
    /// failed. A service that speaks first, or waits long by design, should
    /// not set it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use runtime::net::Server;
    ///
    /// let server = Server::new("127.0.0.1:8080".parse().unwrap())
    ///     .first_read_timeout(Duration::from_secs(10))
    ///     .idle_timeout(Duration::from_secs(60));
    /// # let _ = server;
    /// ```
    pub fn first_read_timeout(mut self, timeout: Duration) -> Server {
        self.first_read_timeout = Some(timeout);
        self
    }

    /// How long a connection whose service has returned keeps delivering
    /// what it wrote to a peer that reads slowly, before it is closed
    /// (30 s unless set): [`TcpStream::set_close_timeout`] on every
    /// accepted stream, the engine's `Options::close_timeout`.
    pub fn close_timeout(mut self, timeout: Duration) -> Server {
        self.close_timeout = Some(timeout);
        self
    }

    /// Closes a connection whose task has had nothing to do for `timeout`:
    /// no byte to read or room to write that it waited for, no timer of
    /// its own (none by default). The service's future is dropped, which
    /// closes the stream; the connection counts as neither served nor
    /// failed. Checked lazily: the timer of a busy connection is not moved
    /// at every poll, only once it fires.
    pub fn idle_timeout(mut self, timeout: Duration) -> Server {
        self.idle_timeout = Some(timeout);
        self
    }

    /// The listen backlog of each core's listener (default 1024).
    pub fn backlog(mut self, backlog: i32) -> Server {
        self.backlog = backlog;
        self
    }

    /// For tests of the accept path: every core's listener calls `accept`
    /// with its listening socket in place of accept(2) (`Socket::accept_raw`),
    /// so a test can inject the errors accept(2) returns and delegate the
    /// rest. Not for production use.
    #[doc(hidden)]
    pub fn accept_with(
        mut self,
        accept: impl Fn(&Socket) -> io::Result<(Socket, socket2::SockAddr)> + Send + Sync + 'static,
    ) -> Server {
        self.accept_fn = Some(Arc::new(accept));
        self
    }

    /// A handle that shuts the server down from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// The counters so far, over all cores.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            accepted: self.shared.accepted.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
            errors: self.shared.errors.load(Ordering::Relaxed),
            open: self.shared.open.load(Ordering::Relaxed),
        }
    }

    /// Runs the server on every core of `rt`, each with the service that
    /// `make_service` builds on that core, until shutdown.
    ///
    /// # Errors
    ///
    /// The first core's error, if any core failed to bind or to install
    /// the signal handlers.
    pub fn run<S, F>(&self, rt: &Runtime, make_service: F) -> io::Result<()>
    where
        S: Service + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let server = self.clone();
        let results = rt.run_on_all_cores(move || {
            let server = server.clone();
            let service = make_service();
            async move { server.serve(service).await }
        });
        results.into_iter().collect()
    }

    /// Serves on every core of the current runtime, each with the service
    /// that `make_service` builds on that core, until shutdown: the async
    /// counterpart of [`run`](Self::run), for the body of
    /// `#[runtime::main(cores = N)]`, which runs on core 0 only.
    ///
    /// The other cores serve through `spawn_on`; this core serves in place.
    /// If a core fails to bind, the server shuts down on every core.
    ///
    /// # Errors
    ///
    /// The error of the lowest core that failed to bind or to install the
    /// signal handlers; an error naming this call outside a `runtime` core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures_lite::io::{copy, split};
    /// use runtime::net::{Server, TcpStream};
    ///
    /// #[runtime::main(cores = 4)]
    /// async fn main() -> std::io::Result<()> {
    ///     Server::new("127.0.0.1:7000".parse().unwrap())
    ///         .serve_on_all_cores(|| |stream: TcpStream| async move {
    ///             let (reader, mut writer) = split(stream);
    ///             copy(reader, &mut writer).await.map(drop)
    ///         })
    ///         .await
    /// }
    /// ```
    pub async fn serve_on_all_cores<S, F>(&self, make_service: F) -> io::Result<()>
    where
        S: Service + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let (Some(handle), Some(here)) =
            (Handle::try_current(), runtime_executor::try_current_core())
        else {
            return Err(crate::outside_runtime("Server::serve_on_all_cores"));
        };
        let make_service = Arc::new(make_service);
        let others: Vec<_> = (0..handle.cores())
            .filter(|&core| core != here)
            .map(|core| {
                let server = self.clone();
                let make_service = make_service.clone();
                let task = handle.spawn_on(core, move || {
                    let service = make_service();
                    async move { server.serve_or_stop_all(service).await }
                });
                (core, task)
            })
            .collect();
        let mut results = vec![(here, self.serve_or_stop_all(make_service()).await)];
        for (core, task) in others {
            let result = match task.await {
                Ok(result) => result,
                Err(err) => match err.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // The runtime stopped under it.
                    Err(err) => Err(io::Error::other(err.to_string())),
                },
            };
            results.push((core, result));
        }
        results.sort_by_key(|(core, _)| *core);
        results.into_iter().try_for_each(|(_, result)| result)
    }

    /// [`serve`](Self::serve), shutting every core down if this one fails.
    async fn serve_or_stop_all<S: Service + 'static>(&self, service: S) -> io::Result<()> {
        let result = self.serve(service).await;
        if result.is_err() {
            self.shared.shutdown.notify();
        }
        result
    }

    /// Serves on the current core until shutdown: binds this core's
    /// listener, accepts, and runs `service.call` per connection as a local
    /// task. Returns once this core's connections have finished or been
    /// cancelled at the shutdown deadline.
    ///
    /// # Errors
    ///
    /// Binding failed, or the signal handlers could not be installed.
    ///
    /// # Panics
    ///
    /// Outside a `runtime` core.
    pub async fn serve<S: Service + 'static>(&self, service: S) -> io::Result<()> {
        let listener = self.bind()?;
        let signals = async {
            if self.handle_signals {
                signal::shutdown().await
            } else {
                future::pending().await
            }
        };
        let stop = future::or(
            async {
                self.shared.shutdown.wait().await;
                Ok(())
            },
            signals,
        );
        let conns = Rc::new(Connections {
            service,
            state: self.shared.clone(),
            close_timeout: self.close_timeout,
            tasks: RefCell::default(),
            idle: RefCell::default(),
        });
        // The accept loop is a task of its own, queued with the connections'
        // tasks: between two of its turns (64 connections at most) every
        // task already ready runs once.
        let listener = Rc::new(RefCell::new(Some(listener)));
        let accepting =
            runtime_executor::spawn(self.clone().accept_loop(listener.clone(), conns.clone()));
        let result = stop.await;
        // Stop accepting at once, on every core.
        drop(listener.borrow_mut().take());
        accepting.abort();
        self.shared.shutdown.notify();
        let finished = conns.all_finished();
        if time::timeout(self.shutdown_timeout, finished)
            .await
            .is_err()
        {
            conns.cancel_all();
            // A cancelled task's future is dropped (closing its socket) when
            // its core next runs it: wait for that, so no connection
            // outlives `serve`.
            conns.all_finished().await;
        }
        result
    }

    /// Accepts until `listener` is taken, admitting each connection.
    /// `poll_accept_socket` retries what accept(2) says to retry and backs
    /// off on fd or memory exhaustion; anything else is logged once and
    /// backed off too: the server never stops accepting on its own.
    async fn accept_loop<S: Service + 'static>(
        self,
        listener: Rc<RefCell<Option<TcpListener>>>,
        conns: Rc<Connections<S>>,
    ) {
        let mut in_a_row = 0;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let accepted = poll_fn(|cx| match &*listener.borrow() {
                Some(listener) => listener.poll_accept_socket(cx).map(Some),
                None => Poll::Ready(None),
            });
            match accepted.await {
                None => return,
                Some(Ok((socket, _))) => {
                    backoff = FIRST_BACKOFF;
                    self.admit(socket, &conns);
                    in_a_row += 1;
                    if in_a_row >= ACCEPT_BATCH {
                        in_a_row = 0;
                        runtime_executor::yield_now().await;
                    }
                }
                Some(Err(err)) => {
                    if backoff == FIRST_BACKOFF {
                        log::error!(
                            "server on {}: accept failed ({err}); backing off and retrying",
                            self.addr
                        );
                    }
                    time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Binds this core's listener. With port 0, the first core to bind
    /// picks the port and the others bind the same one.
    fn bind(&self) -> io::Result<TcpListener> {
        let mut listening = lock(&self.shared.listening);
        let addr = match *listening {
            Some(bound) if self.addr.port() == 0 => bound,
            _ => self.addr,
        };
        let mut listener = TcpListener::builder().backlog(self.backlog).bind(addr)?;
        if let Some(accept) = &self.accept_fn {
            listener.set_accept_fn(accept.clone());
        }
        if listening.is_none() {
            *listening = Some(listener.local_addr()?);
            self.shared.listening_cond.notify_all();
        }
        Ok(listener)
    }

    /// Starts the task serving an accepted socket, or closes it past the
    /// connection limit.
    fn admit<S: Service + 'static>(&self, socket: Socket, conns: &Rc<Connections<S>>) {
        let shared = &self.shared;
        let open = shared.open.fetch_add(1, Ordering::AcqRel);
        // The guard keeps the task's key in 32 bits: past 4 billion
        // connections open on one core (beyond any fd limit), refused too.
        let over_limit = self.max_connections.is_some_and(|max| open >= max);
        let key = u32::try_from(conns.tasks.borrow().vacant_key()).ok();
        let Some(key) = key.filter(|_| !over_limit) else {
            shared.open.fetch_sub(1, Ordering::AcqRel);
            shared.refused.fetch_add(1, Ordering::Relaxed);
            // Closed at once; a reset tells the peer without a TIME_WAIT here.
            let _ = socket.set_linger(Some(Duration::ZERO));
            return;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        // A spawned task first runs in a later tick, so its guard always
        // finds its handle stored under `key`. The guard runs on
        // completion, error, panic or cancellation alike (dropped with the
        // task's future, polled or not).
        let guard = Finished {
            conns: conns.clone(),
            key,
            socket: Some(socket),
        };
        // What the task captures is stored in its future for its whole
        // life, beside `call`'s future: so it captures only the guard
        // (which reaches the service and the counters too, and carries the
        // bare socket), and makes the stream inside, where only `call`'s
        // future holds it. An idle connection costs that much less memory.
        // Only a task under a timeout carries its timer: the others stay
        // as small as a connection's task can be.
        // Each future is built in its task's memory (`spawn_with`): a
        // service's future can be kilobytes, and moving one into a task
        // copies all of it.
        let task = match (self.idle_timeout, self.first_read_timeout) {
            (None, None) => runtime_executor::spawn_with(move || serve_one(guard)),
            (None, Some(first)) => runtime_executor::spawn_with(move || serve_one_by(guard, first)),
            (Some(idle), None) => {
                runtime_executor::spawn_with(move || IdleTimeout::new(serve_one(guard), idle))
            }
            (Some(idle), Some(first)) => runtime_executor::spawn_with(move || {
                IdleTimeout::new(serve_one_by(guard, first), idle)
            }),
        };
        conns.tasks.borrow_mut().insert(Task {
            handle: task,
            probe: None,
        });
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("max_connections", &self.max_connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("handle_signals", &self.handle_signals)
            .field("idle_timeout", &self.idle_timeout)
            .field("first_read_timeout", &self.first_read_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("stats", &self.stats())
            .finish()
    }
}
