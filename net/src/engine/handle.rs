//! `ConnHandle`: a `Send + Clone` reference to a connection, for writing to,
//! waking or closing it from any thread; and the commands it sends.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use runtime_executor::channel::mpsc::UnboundedSender;
use socket2::{SockAddr, Socket};

/// Which connection a command is for. A stream connection is named by its
/// slot in its loop and a generation, never by its fd: a handle that
/// outlives its connection cannot reach a new one that reuses the fd (or
/// the slot).
#[derive(Clone)]
pub(crate) enum Target {
    Stream {
        key: usize,
        generation: u64,
    },
    /// Boxed, so a stream connection's target stays small.
    Datagram {
        socket: usize,
        peer: Box<SockAddr>,
    },
}

/// The completion callback of [`ConnHandle::async_write`].
pub(crate) type WriteDone = Box<dyn FnOnce(io::Result<usize>) + Send>;

/// The kind of stream socket a loop adopts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Tcp,
    Unix,
}

/// What a `Conn` needs of its loop: where to send commands for a handle.
#[derive(Debug)]
pub(crate) struct LoopLink {
    pub(crate) index: usize,
    pub(crate) sender: UnboundedSender<Command>,
}

/// Where a loop answers a dial with the new connection's handle (or why
/// it could not serve it): awaited by an async dial, blocked on by a
/// blocking one.
pub(crate) type Reply = runtime_executor::channel::oneshot::Sender<io::Result<ConnHandle>>;

/// What other threads (and loop 0's acceptor) ask of a loop.
pub(crate) enum Command {
    Write {
        target: Target,
        data: Vec<Bytes>,
        done: WriteDone,
    },
    Wake(Target),
    Close(Target),
    /// A connected socket for this loop to serve; the connection slot was
    /// already counted against `max_connections`.
    Adopt {
        socket: Socket,
        kind: StreamKind,
        peer: SockAddr,
        reply: Option<Reply>,
        /// The connection's context, set before `on_open` (a dial's).
        context: Option<Box<dyn std::any::Any + Send>>,
        /// A dial over TLS: the client side of its session.
        tls: Option<super::ClientTls>,
    },
    /// A connected UDP socket (a client's dial) for this loop to serve.
    AdoptDatagram {
        socket: Socket,
        peer: SockAddr,
        reply: Reply,
    },
    /// Stop accepting, serve the open connections until they close or the
    /// deadline passes (`None`: `Options::shutdown_timeout` from now), then
    /// close the rest. A later `Stop` may bring the deadline forward.
    Stop(Option<runtime_executor::time::Instant>),
}

/// A handle to a connection, usable from any thread (gnet's `AsyncWrite`,
/// `Wake` and `Close`).
///
/// Every request is carried out on the connection's loop, in order. Once
/// the connection is closed, requests fail with `NotConnected` ("closed");
/// they can never reach a later connection, even one with the same fd.
///
/// # Examples
///
/// ```no_run
/// use runtime::net::engine::{Action, Conn, ConnHandle, EventHandler};
///
/// #[derive(Clone)]
/// struct Slow;
///
/// impl EventHandler for Slow {
///     fn on_traffic(&mut self, conn: &mut Conn) -> Action {
///         let request = conn.next(usize::MAX).to_vec();
///         let handle: ConnHandle = conn.handle();
///         std::thread::spawn(move || {
///             // ... work off the loop, then reply:
///             handle.async_write(request, |res| {
///                 if let Err(err) = res {
///                     log::warn!("reply lost: {err}");
///                 }
///             });
///         });
///         Action::None
///     }
/// }
/// ```
#[derive(Clone)]
pub struct ConnHandle {
    sender: UnboundedSender<Command>,
    target: Target,
    closed: Option<Arc<AtomicBool>>,
}

pub(crate) fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

impl ConnHandle {
    pub(crate) fn new(
        sender: UnboundedSender<Command>,
        target: Target,
        closed: Option<Arc<AtomicBool>>,
    ) -> Self {
        ConnHandle {
            sender,
            target,
            closed,
        }
    }

    /// Whether the connection is known to be closed (for UDP: never).
    pub fn is_closed(&self) -> bool {
        self.closed
            .as_ref()
            .is_some_and(|closed| closed.load(Ordering::Acquire))
            || self.sender.is_closed()
    }

    /// Writes `data` on the connection's loop, then calls `done` there with
    /// the number of bytes queued (sent as soon as the socket takes them),
    /// or with `NotConnected` if the connection is closed. `done` is called
    /// exactly once: on the loop, or at once on this thread when the
    /// connection is already known to be closed or the engine has stopped
    /// (so `done` must not take a lock the caller holds). A `done` that
    /// panics on the loop closes the connection with the panic as its
    /// error, like a panicking callback; the loop goes on.
    ///
    /// Async writes are never refused for the high watermark (the bytes are
    /// already in memory and are queued without a copy); the connection
    /// stops being read while it is above it. Their memory is bounded by
    /// what the callers send: to bound it, wait for `done` before sending
    /// more.
    pub fn async_write(
        &self,
        data: impl Into<Bytes>,
        done: impl FnOnce(io::Result<usize>) + Send + 'static,
    ) {
        self.async_writev(vec![data.into()], done);
    }

    /// [`async_write`](Self::async_write) of several buffers, in order (for
    /// UDP: one datagram each).
    pub fn async_writev(
        &self,
        data: Vec<Bytes>,
        done: impl FnOnce(io::Result<usize>) + Send + 'static,
    ) {
        if self
            .closed
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Acquire))
        {
            done(Err(closed_error()));
            return;
        }
        let command = Command::Write {
            target: self.target.clone(),
            data,
            done: Box::new(done),
        };
        if let Err(err) = self.sender.send(command) {
            if let Command::Write { done, .. } = err.0 {
                done(Err(closed_error()));
            }
        }
    }

    /// Calls [`on_traffic`](super::EventHandler::on_traffic) on the
    /// connection's loop, even if no bytes arrived (gnet's `Wake`).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is known to be closed. A wake that
    /// finds it closed on the loop is dropped.
    pub fn wake(&self) -> io::Result<()> {
        self.send(Command::Wake(self.target.clone()))
    }

    /// Closes the connection on its loop (what it had written is still
    /// sent, up to the close deadline).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is known to be closed.
    pub fn close(&self) -> io::Result<()> {
        self.send(Command::Close(self.target.clone()))
    }

    fn send(&self, command: Command) -> io::Result<()> {
        if self.is_closed() {
            return Err(closed_error());
        }
        self.sender.send(command).map_err(|_| closed_error())
    }
}

impl fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ConnHandle");
        match &self.target {
            Target::Stream { key, generation } => {
                s.field("slot", key).field("generation", generation)
            }
            Target::Datagram { peer, .. } => s.field("peer", peer),
        };
        s.field("closed", &self.is_closed()).finish()
    }
}
