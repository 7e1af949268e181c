//! `EventHandler` and `Action`: what the loops call, and what a callback
//! asks of them.

use std::io;
use std::time::Duration;

use bytes::Bytes;

use super::{Conn, Engine};

/// What a callback asks the loop to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Carry on.
    #[default]
    None,
    /// Close this connection (what was written is still sent, up to the
    /// close deadline).
    Close,
    /// Stop the whole engine: every loop closes its connections, calls
    /// [`EventHandler::on_shutdown`] and returns.
    Shutdown,
}

/// The callbacks of an engine, gnet v2's `EventHandler`. Every method has a
/// no-op default.
///
/// **One handler per loop.** The engine clones the handler once per loop,
/// and each loop calls its own clone with `&mut self`, on its own thread:
/// per-loop state needs no lock, and nothing is shared that you did not
/// share yourself (put cross-loop state in an `Arc` field). gnet shares one
/// handler between all loops, so every gnet handler with state needs a
/// mutex; this design keeps the thread-per-core promise instead.
///
/// **Panics.** A callback that panics closes only its connection:
/// [`on_close`](Self::on_close) gets an error saying so, and the loop goes
/// on. A panic in `on_tick`, `on_boot` or `on_shutdown` is reported on
/// stderr and treated as [`Action::None`].
///
/// # Examples
///
/// An echo server:
///
/// ```no_run
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
/// engine::run(Echo, "tcp://127.0.0.1:9000", Options::new().loops(2)).unwrap();
/// ```
pub trait EventHandler: Send + 'static {
    /// Called on each loop once its listeners are ready, before any
    /// connection. [`Action::Shutdown`] stops the engine.
    fn on_boot(&mut self, engine: &Engine) -> Action {
        let _ = engine;
        Action::None
    }

    /// A connection was opened (accepted, dialed or enrolled). The bytes
    /// returned are sent first. Not called for UDP, whose "connections" are
    /// single datagrams.
    fn on_open(&mut self, conn: &mut Conn) -> (Option<Bytes>, Action) {
        let _ = conn;
        (None, Action::None)
    }

    /// Bytes arrived (or [`ConnHandle::wake`](super::ConnHandle::wake) was
    /// called). Read them from [`Conn`]; what is not consumed stays for the
    /// next call. For UDP, `conn` is the datagram and its sender.
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::None
    }

    /// The outbound queue went past the high watermark and has now drained
    /// under half of it: writes are accepted again and reading resumes.
    fn on_writable(&mut self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::None
    }

    /// The connection is closed: by the peer (`None`, or the error that
    /// broke it), by an [`Action::Close`], a [`ConnHandle::close`](super::ConnHandle::close),
    /// the idle timeout (`TimedOut`), a panicking callback, or the engine
    /// stopping. Bytes still in the inbound buffer can be read here.
    ///
    /// With TLS (`Options::tls`, or a `tls://` dial), a connection whose
    /// handshake fails or times out is closed before it opens: `on_close`
    /// is called with the error, and `on_open` never was. The peer's
    /// `close_notify` is a clean end (`None`); an end of stream without it
    /// is `UnexpectedEof`.
    fn on_close(&mut self, conn: &mut Conn, err: Option<io::Error>) -> Action {
        let _ = (conn, err);
        Action::None
    }

    /// With [`Options::ticker`](super::Options::ticker): called on every
    /// loop at start, then again after the delay it returns.
    fn on_tick(&mut self) -> (Duration, Action) {
        (Duration::from_secs(1), Action::None)
    }

    /// The engine is stopping: called on each loop after its connections
    /// are closed.
    fn on_shutdown(&mut self, engine: &Engine) {
        let _ = engine;
    }
}
