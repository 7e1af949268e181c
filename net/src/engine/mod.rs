//! A gnet-style callback engine, for servers written as event handlers
//! rather than async code.
//!
//! Implement [`EventHandler`] (`on_open`, `on_traffic`, `on_close`,
//! `on_tick`, ...) and [`run`] it on an address; each loop is one core of
//! the runtime, with its own `SO_REUSEPORT` listener by default. There is
//! no second event loop: a connection's socket is registered with the
//! core's reactor like any async socket, and the reactor calls the
//! connection directly when it is ready (no task, no waker), through the
//! same ring buffers, buffer pool and timers as the async API.
//!
//! | gnet v2 | here |
//! |---|---|
//! | `gnet.Run(handler, "tcp://:9000", opts...)` | [`run`]`(handler, "tcp://:9000", Options::new()...)` |
//! | `gnet.Rotate(handler, addrs, opts...)` | [`rotate`] |
//! | `gnet.Stop(ctx, addr)`, `Engine.Stop(ctx)`, `Engine.CountConnections` | [`Engine::stop`], [`Engine::shutdown`], [`Engine::count_connections`] |
//! | `OnBoot`, `OnOpen`, `OnTraffic`, `OnClose`, `OnTick`, `OnShutdown` | the [`EventHandler`] methods of the same names |
//! | `Conn.Next`, `Peek`, `Discard`, `Read`, `InboundBuffered` | [`Conn::next`], [`Conn::peek`], [`Conn::discard`], [`Conn::read`], [`Conn::inbound_buffered`] |
//! | `Conn.Write`, `Writev`, `Flush`, `OutboundBuffered` | [`Conn::write`], [`Conn::writev`], [`Conn::flush`], [`Conn::outbound_buffered`] |
//! | `Conn.AsyncWrite`, `Wake`, `Close` from other goroutines | [`ConnHandle::async_write`], [`ConnHandle::wake`], [`ConnHandle::close`] |
//! | `Conn.Context`, `SetContext` | [`Conn::context`], [`Conn::set_context`] (typed) |
//! | `gnet.NewClient`, `Dial`, `Enroll` | [`Client::new`], [`Client::dial`], [`Client::enroll`] |
//!
//! And where gnet's users get hurt:
//!
//! - a panicking callback closes only its connection (`on_close` gets the
//!   error); the loop goes on;
//! - `EMFILE` in accept backs off and retries; it never stops the engine;
//! - closing sends what was queued (up to [`Options::close_timeout`]);
//!   [`Conn::shutdown_write`] half-closes;
//! - stopping is graceful: accepting stops at once, and open connections
//!   are served until they close or [`Options::shutdown_timeout`] passes;
//! - outbound memory is bounded by [`Options::write_high_watermark`]: past
//!   it, writes are refused and the connection is not read until the peer
//!   catches up, then [`EventHandler::on_writable`] says so;
//! - [`Options::max_connections`] and [`Options::idle_timeout`];
//! - the slices of [`Conn::peek`] and [`Conn::next`] borrow the
//!   connection: the compiler rejects a use after `discard`;
//! - a [`ConnHandle`] names its connection by slot and generation, so a
//!   stale handle can never write to a new connection that reuses the fd;
//! - TLS (feature `tls`, `Options::tls`; a [`Client`] dials `tls://`) is
//!   the engine's own: handlers see plaintext through the same `Conn`, a
//!   failed handshake closes only its connection, and the high watermark
//!   counts ciphertext.
//!
//! Frames decode straight from the inbound buffer with the codec crate:
//! [`Conn::decode`] takes any [`BufDecoder`](runtime_codec::BufDecoder).
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use runtime::net::engine::{self, Action, Conn, EventHandler, Options};
//!
//! #[derive(Clone)]
//! struct Echo;
//!
//! impl EventHandler for Echo {
//!     fn on_traffic(&mut self, conn: &mut Conn) -> Action {
//!         let (inbound, outbound) = conn.split();
//!         let _ = outbound.write(inbound.next(usize::MAX));
//!         Action::None
//!     }
//! }
//!
//! let engine = engine::start(Echo, &["tcp://127.0.0.1:0"], Options::new()).unwrap();
//! let addr = engine.addrs()[0].trim_start_matches("tcp://").to_owned();
//! let mut client = std::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut echo = [0; 5];
//! client.read_exact(&mut echo).unwrap();
//! assert_eq!(&echo, b"hello");
//! engine.stop();
//! engine.wait();
//! ```

mod addr;
mod buffers;
mod client;
mod conn;
mod control;
mod datagram;
mod event_loop;
mod handle;
mod handler;
mod launch;
mod options;
mod stream_conn;
#[cfg(feature = "tls")]
mod tls;

/// The TLS side of a dial (none without the feature `tls`).
#[cfg(feature = "tls")]
pub(crate) use tls::ClientTls;
#[cfg(not(feature = "tls"))]
pub(crate) type ClientTls = std::convert::Infallible;

use std::io;

/// The byte buffers of the engine's signatures (`on_open`'s greeting,
/// async writes) and of the codec crate's encoders, re-exported so that a
/// crate depending only on `runtime` can name them.
pub use bytes::{self, Bytes, BytesMut};
pub use client::Client;
pub use conn::{Conn, Inbound, Outbound};
pub use control::Engine;
pub use handle::ConnHandle;
pub use handler::{Action, EventHandler};
pub use launch::current_loop;
pub use options::{LoadBalancing, Options};
pub use socket2::{SockAddr, TcpKeepalive};

/// Runs `handler` on `addr` (`tcp://`, `tcp4://`, `tcp6://`, `udp://`,
/// `udp4://`, `udp6://`, `unix://`) until the engine is stopped: by an
/// [`Action::Shutdown`] or [`Engine::stop`] (the [`Engine`] is given to
/// [`EventHandler::on_boot`]). Blocks the calling thread, which runs loop 0.
///
/// # Errors
///
/// A bad address (`InvalidInput`, saying what is wrong), a bind error, or a
/// failure to start the loops' threads.
pub fn run<H: EventHandler + Clone>(handler: H, addr: &str, options: Options) -> io::Result<()> {
    rotate(handler, &[addr], options)
}

/// [`run`] on several addresses at once: every loop serves all of them.
///
/// # Errors
///
/// As [`run`].
pub fn rotate<H: EventHandler + Clone>(
    handler: H,
    addrs: &[&str],
    options: Options,
) -> io::Result<()> {
    no_address(addrs)?;
    launch::run_loops(launch::prepare(handler, addrs, options)?, None)
}

/// Like [`rotate`], but returns at once, once every address is bound, with
/// the running [`Engine`]; the loops run on threads of their own. For tests
/// and for programs that do other things meanwhile.
///
/// # Errors
///
/// As [`run`].
pub fn start<H: EventHandler + Clone>(
    handler: H,
    addrs: &[&str],
    options: Options,
) -> io::Result<Engine> {
    no_address(addrs)?;
    let prepared = launch::prepare(handler, addrs, options)?;
    let engine = prepared.engine.clone();
    let (started, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            if let Err(err) = launch::run_loops(prepared, Some(started)) {
                log::error!("engine: {err}");
            }
        })?;
    ready
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the engine's loops failed to start")))?;
    Ok(engine)
}

/// Runs `handler` on `addrs` on the cores of a runtime that already runs:
/// one loop on each of its cores, beside that runtime's async tasks, on the
/// same reactor, timers and buffers. Returns at once, once every address is
/// bound; the loops serve until the engine is stopped (or the runtime is:
/// dropped under the engine, each loop ends as after a stop's deadline,
/// with `on_close` for every open connection, `on_shutdown`, and every
/// pending [`ConnHandle::async_write`]'s `done` called with an error).
///
/// This is how one program serves callbacks and async code on the same
/// cores: callbacks may [`spawn`](runtime_executor::spawn) local tasks on
/// their loop, and a task on a loop's core hands bytes to a connection of
/// that loop through a [`ConnHandle`] without crossing threads.
///
/// Loop `i` runs on core `i`. Core 0 is the thread that drives the runtime
/// (in [`Runtime::block_on`](runtime_executor::Runtime::block_on),
/// `run_on_all_cores` or a [`Server`](crate::Server)'s `run`), so loop 0
/// serves while that thread does, as the runtime's other tasks on core 0 do.
///
/// [`Options::loops`], [`Options::pin_loops`] and
/// [`Options::handle_signals`] are the runtime's business here: the engine
/// has as many loops as the runtime has cores, and stops on
/// [`Engine::stop`] (from a signal handler of the application's own, say).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use runtime::net::engine::{self, Action, Conn, EventHandler, Options};
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
/// let rt = runtime::Runtime::builder().cores(2).build().unwrap();
/// let engine = engine::serve_on(&rt.handle(), Echo, &["tcp://127.0.0.1:0"], Options::new())
///     .unwrap();
/// let addr = engine.addrs()[0].trim_start_matches("tcp://").to_owned();
/// // Async code on the same cores, meanwhile.
/// let reply = rt.block_on(async move {
///     runtime::spawn_blocking(move || {
///         let mut client = std::net::TcpStream::connect(addr).unwrap();
///         client.write_all(b"hello").unwrap();
///         let mut echo = [0; 5];
///         client.read_exact(&mut echo).unwrap();
///         echo
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(&reply, b"hello");
/// engine.stop();
/// rt.block_on(engine.finished());
/// ```
///
/// # Errors
///
/// As [`run`].
pub fn serve_on<H: EventHandler + Clone>(
    runtime: &runtime_executor::Handle,
    handler: H,
    addrs: &[&str],
    options: Options,
) -> io::Result<Engine> {
    no_address(addrs)?;
    let options = options.loops(runtime.cores());
    Ok(launch::spawn_loops(
        runtime,
        launch::prepare(handler, addrs, options)?,
    ))
}

fn no_address(addrs: &[&str]) -> io::Result<()> {
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an engine needs at least one address to listen on",
        ));
    }
    Ok(())
}
