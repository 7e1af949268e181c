//! `Options`: gnet's option set, plus the limits gnet lacks.

use std::time::Duration;

use socket2::TcpKeepalive;

/// How a stream listener's connections are spread over the loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadBalancing {
    /// Every loop binds its own listener with `SO_REUSEPORT` and the kernel
    /// spreads connections (the default). Unix sockets cannot share a path
    /// this way: they get one acceptor with [`RoundRobin`](Self::RoundRobin).
    #[default]
    ReusePort,
    /// One listener, on loop 0, hands connections to the loops in turn.
    RoundRobin,
    /// One listener hands each connection to the loop with the fewest.
    LeastConnections,
    /// One listener hands each connection to a loop chosen by a hash of the
    /// peer's IP address, so one client's connections share a loop.
    SourceAddrHash,
}

/// Engine options, built gnet-style:
/// `Options::new().loops(4).ticker(true).idle_timeout(Duration::from_secs(60))`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::net::engine::{LoadBalancing, Options};
///
/// let options = Options::new()
///     .loops(2)
///     .load_balancing(LoadBalancing::LeastConnections)
///     .ticker(true)
///     .max_connections(10_000)
///     .idle_timeout(Duration::from_secs(30));
/// assert_eq!(options.num_loops(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) loops: Option<usize>,
    pub(crate) load_balancing: LoadBalancing,
    pub(crate) reuse_addr: bool,
    pub(crate) ticker: bool,
    pub(crate) tcp_nodelay: bool,
    pub(crate) tcp_keepalive: Option<TcpKeepalive>,
    pub(crate) max_read_buffer: usize,
    pub(crate) write_buffer_cap: usize,
    pub(crate) socket_recv_buffer: Option<usize>,
    pub(crate) socket_send_buffer: Option<usize>,
    pub(crate) edge_triggered_io_chunk: usize,
    pub(crate) max_connections: Option<usize>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) first_read_timeout: Option<Duration>,
    pub(crate) write_high_watermark: usize,
    pub(crate) close_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) backlog: i32,
    pub(crate) pin_loops: bool,
    pub(crate) handle_signals: bool,
    pub(crate) half_close: bool,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    #[cfg(feature = "tls")]
    pub(crate) tls_client: Option<std::sync::Arc<rustls::ClientConfig>>,
    #[cfg(feature = "tls")]
    pub(crate) tls_server_name: Option<rustls::pki_types::ServerName<'static>>,
    #[cfg(feature = "tls")]
    pub(crate) tls_handshake_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            loops: Some(1),
            load_balancing: LoadBalancing::ReusePort,
            reuse_addr: true,
            ticker: false,
            tcp_nodelay: true,
            tcp_keepalive: None,
            max_read_buffer: 64 * 1024 * 1024,
            write_buffer_cap: 64 * 1024,
            socket_recv_buffer: None,
            socket_send_buffer: None,
            edge_triggered_io_chunk: 1024 * 1024,
            max_connections: None,
            idle_timeout: None,
            first_read_timeout: None,
            write_high_watermark: 256 * 1024,
            close_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
            backlog: 1024,
            pin_loops: false,
            handle_signals: false,
            half_close: false,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_client: None,
            #[cfg(feature = "tls")]
            tls_server_name: None,
            #[cfg(feature = "tls")]
            tls_handshake_timeout: crate::tls::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl Options {
    /// The defaults: one loop, `SO_REUSEPORT`, no ticker, `TCP_NODELAY` on,
    /// an inbound buffer that grows up to 64 MiB, a 64 KiB outbound ring, a
    /// 256 KiB outbound high watermark, a 30 s close deadline, a 5 s
    /// shutdown grace period, no connection
    /// limit, no idle timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `n` event loops, one per core thread (gnet's `NumEventLoop`).
    /// At least 1.
    pub fn loops(mut self, n: usize) -> Self {
        self.loops = Some(n.max(1));
        self
    }

    /// One loop per available CPU when `true` (gnet's `Multicore`), one loop
    /// when `false`.
    pub fn multicore(mut self, multicore: bool) -> Self {
        self.loops = if multicore { None } else { Some(1) };
        self
    }

    /// The number of loops these options run.
    pub fn num_loops(&self) -> usize {
        self.loops
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// How connections are spread over the loops; see [`LoadBalancing`].
    pub fn load_balancing(mut self, lb: LoadBalancing) -> Self {
        self.load_balancing = lb;
        self
    }

    /// `SO_REUSEADDR` on listeners (on by default).
    pub fn reuse_addr(mut self, reuse: bool) -> Self {
        self.reuse_addr = reuse;
        self
    }

    /// Calls [`EventHandler::on_tick`](super::EventHandler::on_tick) on every
    /// loop, at the interval it returns.
    pub fn ticker(mut self, ticker: bool) -> Self {
        self.ticker = ticker;
        self
    }

    /// `TCP_NODELAY` on accepted and dialed TCP connections (on by default,
    /// as in gnet).
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.tcp_nodelay = nodelay;
        self
    }

    /// TCP keepalive probes (idle time, interval, count) on TCP connections.
    pub fn tcp_keepalive(mut self, keepalive: TcpKeepalive) -> Self {
        self.tcp_keepalive = Some(keepalive);
        self
    }

    /// The most each connection's inbound buffer grows to (64 MiB by
    /// default). The buffer is elastic, as gnet's is: it holds no storage
    /// while empty, and grows while a handler leaves bytes in it to wait for
    /// the rest of a larger frame. A connection whose handler leaves a full
    /// buffer untouched is closed, and `on_close` gets an `InvalidData`
    /// error: the frame can never fit.
    ///
    /// Raising it does not weaken backpressure: a connection is not read
    /// while its outbound buffer is above the
    /// [high watermark](Self::write_high_watermark).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::engine::Options;
    ///
    /// // A protocol whose frames never exceed 1 MiB.
    /// let options = Options::new().max_read_buffer(1024 * 1024);
    /// # let _ = options;
    /// ```
    pub fn max_read_buffer(mut self, bytes: usize) -> Self {
        self.max_read_buffer = bytes.max(1);
        self
    }

    /// The former name of [`max_read_buffer`](Self::max_read_buffer), which
    /// was also the buffer's fixed bound: it is now only the maximum.
    #[deprecated(
        since = "0.1.0",
        note = "renamed `max_read_buffer`: the inbound buffer is elastic up to it"
    )]
    pub fn read_buffer_cap(self, bytes: usize) -> Self {
        self.max_read_buffer(bytes)
    }

    /// The size of each connection's outbound ring; what is written past it
    /// waits in a queue, up to the [high watermark](Self::write_high_watermark).
    pub fn write_buffer_cap(mut self, bytes: usize) -> Self {
        self.write_buffer_cap = bytes.max(1);
        self
    }

    /// `SO_RCVBUF` of every connection.
    pub fn socket_recv_buffer(mut self, bytes: usize) -> Self {
        self.socket_recv_buffer = Some(bytes);
        self
    }

    /// `SO_SNDBUF` of every connection.
    pub fn socket_send_buffer(mut self, bytes: usize) -> Self {
        self.socket_send_buffer = Some(bytes);
        self
    }

    /// Bytes read from one connection per readiness event before the loop
    /// serves the others (gnet's `EdgeTriggeredIOChunk`; 1 MiB by default).
    pub fn edge_triggered_io_chunk(mut self, bytes: usize) -> Self {
        self.edge_triggered_io_chunk = bytes.max(1);
        self
    }

    /// At most `n` open connections across all loops; more are closed as
    /// soon as they are accepted, and counted.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Closes a connection whose handler has neither consumed input nor
    /// answered it (written in `on_traffic`) within `timeout` of its
    /// opening (none by default):
    /// HAProxy's `timeout http-request`. A handler that leaves an
    /// incomplete frame in the inbound buffer (`Conn::decode` returning
    /// `Ok(None)`) consumes nothing, so a slowloris peer trickling a frame
    /// that never completes is closed at the deadline however often it
    /// sends a byte; `on_close` gets a `TimedOut` error. Checked four times
    /// per timeout on the loop's timer, so never before it and at most 25 %
    /// after.
    pub fn first_read_timeout(mut self, timeout: Duration) -> Self {
        self.first_read_timeout = Some(timeout);
        self
    }

    /// Closes a connection that has neither read nor written for `timeout`
    /// (checked four times per timeout on the loop's timer); `on_close`
    /// gets a `TimedOut` error.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Outbound bytes (ring and queue) past which [`Conn::write`](super::Conn::write)
    /// refuses with `WouldBlock` and the loop stops reading from the
    /// connection, until the peer has read enough to bring it under half;
    /// then [`EventHandler::on_writable`](super::EventHandler::on_writable)
    /// is called. 256 KiB by default.
    pub fn write_high_watermark(mut self, bytes: usize) -> Self {
        self.write_high_watermark = bytes.max(1);
        self
    }

    /// How long a closed connection keeps sending what it had queued before
    /// the socket is closed anyway (30 s by default).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// How long a stopping engine ([`Engine::stop`](super::Engine::stop),
    /// `Action::Shutdown`, a signal with [`handle_signals`](Self::handle_signals))
    /// keeps serving its open connections, once it has stopped accepting,
    /// before it closes those still open (5 s by default, as the async
    /// `Server`'s). Connections that close sooner end the stop sooner.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The listen backlog (1024 by default).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Keeps a connection open when its peer half-closes (off by default,
    /// as in gnet, where end of stream closes the connection once
    /// `on_traffic` has seen the last bytes). With it on, the connection is
    /// no longer read but can still be written, from callbacks or through a
    /// [`ConnHandle`](super::ConnHandle) (a reply computed on another thread),
    /// until the handler closes it (`Conn::close`, `Action::Close`,
    /// `ConnHandle::close`), a write fails, or the idle timeout fires.
    pub fn half_close(mut self, keep_open: bool) -> Self {
        self.half_close = keep_open;
        self
    }

    /// Stops the engine gracefully on ctrl-c or SIGTERM (off by default):
    /// what a server's `main` usually wants.
    pub fn handle_signals(mut self, handle: bool) -> Self {
        self.handle_signals = handle;
        self
    }

    /// Pins each loop's thread to its own CPU (gnet's `LockOSThread`, and
    /// more).
    pub fn pin_loops(mut self, pin: bool) -> Self {
        self.pin_loops = pin;
        self
    }
}

#[cfg(feature = "tls")]
impl Options {
    /// Serves every stream connection (TCP and Unix) over TLS with
    /// `config` (feature `tls`): certificates, ALPN protocols, client
    /// certificates, session resumption, as rustls configures them.
    ///
    /// - `on_open` runs once the handshake is done; what the client sent
    ///   with its last handshake flight reaches `on_traffic` right after.
    /// - `on_traffic` sees plaintext through the usual [`Conn`](super::Conn)
    ///   API; [`Conn::write`](super::Conn::write), `writev` and
    ///   [`ConnHandle::async_write`](super::ConnHandle::async_write)
    ///   encrypt. The outbound length, the
    ///   [high watermark](Self::write_high_watermark) and `on_writable`
    ///   count ciphertext.
    /// - A handshake that fails (not TLS, no protocol or certificate in
    ///   common), or does not finish within the
    ///   [handshake timeout](Self::tls_handshake_timeout), closes that
    ///   connection: `on_close` gets the error (`InvalidData` with rustls's
    ///   error inside, `UnexpectedEof`, `TimedOut`) **without an `on_open`
    ///   before it**.
    /// - Closing ([`Conn::close`](super::Conn::close), `Action::Close`, a
    ///   handle's close, the engine's stop) sends `close_notify` before the
    ///   socket's shutdown. The peer's `close_notify` is a clean end
    ///   (`on_close` with no error); an end of stream without it is an
    ///   `UnexpectedEof` error, never taken for a clean end.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::net::engine::{self, Action, Conn, EventHandler, Options};
    /// use runtime::net::tls::rustls::pki_types::PrivateKeyDer;
    /// use runtime::net::tls::rustls::ServerConfig;
    ///
    /// #[derive(Clone)]
    /// struct Echo;
    ///
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&mut self, conn: &mut Conn) -> Action {
    ///         let (inbound, outbound) = conn.split();
    ///         let _ = outbound.write(inbound.next(usize::MAX));
    ///         Action::None
    ///     }
    /// }
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    /// let config = ServerConfig::builder()
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![cert.cert.der().clone()], key)
    ///     .unwrap();
    /// let options = Options::new().tls(Arc::new(config));
    /// let engine = engine::start(Echo, &["tcp://127.0.0.1:0"], options).unwrap();
    /// engine.stop();
    /// engine.wait();
    /// ```
    pub fn tls(mut self, config: std::sync::Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// How long a TLS handshake may take (10 s by default): a peer that
    /// stops half way is closed then, and `on_close` gets `TimedOut`.
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// The configuration a [`Client`](super::Client) dials `tls://host:port`
    /// addresses with (roots trusted, ALPN, a client certificate). The
    /// server's certificate is checked against the host of the address,
    /// unless [`tls_server_name`](Self::tls_server_name) names another.
    pub fn tls_client(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls_client = Some(config);
        self
    }

    /// The name a [`Client`](super::Client)'s `tls://` dials ask for (SNI)
    /// and check the server's certificate against, whatever the address's
    /// host: to dial `tls://127.0.0.1:443` as `example.com`.
    pub fn tls_server_name(mut self, name: rustls::pki_types::ServerName<'static>) -> Self {
        self.tls_server_name = Some(name);
        self
    }
}
