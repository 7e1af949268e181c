//! One event loop: a core's connections, driven straight from the core's
//! reactor (the [`OnReady`] callback of each socket), with no task per
//! connection; plus the loop's command inbox, ticker and idle sweep, which
//! are ordinary tasks of that core. The connections themselves are in
//! `stream_conn.rs` (TCP and Unix) and `datagram.rs` (UDP).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use runtime_executor::channel::mpsc::UnboundedSender;
use runtime_executor::{AsyncFd, OnReady};
use slab::Slab;
use socket2::{SockAddr, Socket};

use super::conn::{Conn, Inbound, Io, Outbound, Peer};
use super::datagram::{DatagramCell, DATAGRAM_MAX};
use super::handle::{closed_error, Command, ConnHandle, LoopLink, Reply, StreamKind, Target};
use super::stream_conn::{ConnCell, Stops};
use super::{Action, Engine, EventHandler, Options};
use crate::buffer::RingBuffer;
use crate::io::kept_ring;

pub(crate) struct Loop<H: EventHandler> {
    pub(crate) link: Rc<LoopLink>,
    pub(crate) engine: Engine,
    pub(crate) options: Arc<Options>,
    pub(super) handler: RefCell<H>,
    pub(super) conns: RefCell<Slab<Rc<ConnCell<H>>>>,
    pub(super) datagrams: RefCell<Slab<Rc<DatagramCell<H>>>>,
    pub(super) generation: Cell<u64>,
    /// Advanced by the idle sweep; a connection remembers it at each use.
    pub(super) epoch: Cell<u32>,
    /// Advanced by the first-frame sweep (`Options::first_read_timeout`).
    pub(super) frame_epoch: Cell<u32>,
    /// Closed connections still sending what they had queued.
    pub(super) draining: Rc<Cell<usize>>,
}

/// What a panic payload says, for the error `on_close` gets.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

pub(super) fn panicked(callback: &str, payload: &(dyn std::any::Any + Send)) -> io::Error {
    io::Error::other(format!(
        "the {callback} callback panicked: {}",
        panic_message(payload)
    ))
}

/// Drops a connection's context (the handler's value) on loop `index`: a
/// panic in its drop is logged, as a loop-wide callback's is, and the
/// loop goes on (it unwound through the reactor and took the process
/// down).
pub(super) fn drop_context(index: usize, context: Option<Box<dyn std::any::Any>>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(context))) {
        log::error!(
            "engine loop {index}: a connection's context panicked when dropped: {}",
            panic_message(&*payload)
        );
    }
}

/// Calls an async write's `done` on loop `index`. A panic in it is
/// contained like a callback's: it is returned (the caller closes the
/// connection with it) and logged; the loop goes on.
pub(crate) fn call_done(
    index: usize,
    done: super::handle::WriteDone,
    result: io::Result<usize>,
) -> Option<io::Error> {
    let payload = catch_unwind(AssertUnwindSafe(|| done(result))).err()?;
    let err = panicked("async_write done", &*payload);
    log::error!("engine loop {index}: {err}");
    Some(err)
}

impl<H: EventHandler> Loop<H> {
    pub(crate) fn new(
        index: usize,
        sender: UnboundedSender<Command>,
        handler: H,
        engine: Engine,
        options: Arc<Options>,
    ) -> Rc<Self> {
        Rc::new(Loop {
            link: Rc::new(LoopLink { index, sender }),
            engine,
            options,
            handler: RefCell::new(handler),
            conns: RefCell::new(Slab::new()),
            datagrams: RefCell::new(Slab::new()),
            generation: Cell::new(0),
            epoch: Cell::new(0),
            frame_epoch: Cell::new(0),
            draining: Rc::new(Cell::new(0)),
        })
    }

    pub(crate) fn index(&self) -> usize {
        self.link.index
    }

    /// Runs a loop-wide callback (`on_boot`, `on_tick`, `on_shutdown`);
    /// a panic is reported and counts as no action.
    pub(crate) fn guarded<R>(&self, name: &str, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        let mut handler = self.handler.borrow_mut();
        match catch_unwind(AssertUnwindSafe(|| f(&mut handler))) {
            Ok(out) => Some(out),
            Err(payload) => {
                log::error!(
                    "engine loop {}: {}",
                    self.index(),
                    panicked(name, &*payload)
                );
                None
            }
        }
    }

    pub(crate) fn apply_loop_action(&self, action: Option<Action>) {
        if action == Some(Action::Shutdown) {
            self.engine.stop();
        }
    }

    /// Serves a connected socket on this loop. The slot was already counted
    /// against `max_connections` by the caller.
    pub(crate) fn open(
        self: &Rc<Self>,
        socket: Socket,
        kind: StreamKind,
        peer: SockAddr,
        reply: Option<Reply>,
        context: Option<Box<dyn std::any::Any + Send>>,
        tls: Option<super::ClientTls>,
    ) {
        let cell = match self.register(socket, kind, peer) {
            Ok(cell) => cell,
            Err(err) => {
                self.engine.inner.connection_closed(self.index());
                if let Some(reply) = reply {
                    let _ = reply.send(Err(err));
                }
                return;
            }
        };
        // A TLS connection opens once its handshake is done.
        #[cfg(feature = "tls")]
        let (reply, context) = match cell.maybe_start_tls(tls, reply, context) {
            Ok(()) => return,
            Err(plain) => plain,
        };
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        if cell.opened(reply, context) {
            // The socket may already hold data: readiness starts set.
            cell.read_pass();
        }
    }

    fn register(
        self: &Rc<Self>,
        socket: Socket,
        kind: StreamKind,
        peer: SockAddr,
    ) -> io::Result<Rc<ConnCell<H>>> {
        let options = &self.options;
        if kind == StreamKind::Tcp {
            socket.set_tcp_nodelay(options.tcp_nodelay)?;
            if let Some(keepalive) = &options.tcp_keepalive {
                socket.set_tcp_keepalive(keepalive)?;
            }
        }
        if let Some(size) = options.socket_recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        if let Some(size) = options.socket_send_buffer {
            socket.set_send_buffer_size(size)?;
        }
        let fd = Rc::new(AsyncFd::new(socket)?);

        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        let mut conns = self.conns.borrow_mut();
        let entry = conns.vacant_entry();
        let key = entry.key();
        let Ok(slot) = u32::try_from(key) else {
            // Beyond any fd limit: the cell keeps its slot in 32 bits.
            return Err(io::Error::other("over 4 billion connections on one loop"));
        };
        let cell = Rc::new(ConnCell {
            lp: self.clone(),
            key: slot,
            generation,
            stops: Stops::default(),
            last_active: Cell::new(self.epoch.get()),
            first_frame_due: Cell::new(if options.first_read_timeout.is_some() {
                // Five periods of a quarter of the timeout: never before
                // it, at most 25 % after.
                self.frame_epoch.get().wrapping_add(5).max(1)
            } else {
                0
            }),
            idle: crate::idle::Watch::default(),
            conn: RefCell::new(Conn {
                inbound: Inbound {
                    ring: kept_ring(options.max_read_buffer),
                },
                outbound: Outbound {
                    io: Io::Stream(fd.clone()),
                    core: crate::io::Outbound::new(kept_ring(options.write_buffer_cap.max(1))),
                    queue: VecDeque::new(),
                    queued: 0,
                    high_watermark: options.write_high_watermark,
                    refused: false,
                },
                peer: Peer::from(peer),
                context: None,
                link: self.link.clone(),
                target: Target::Stream { key, generation },
                closed_flag: None,
                close_requested: false,
                closed: false,
            }),
        });
        entry.insert(cell.clone());
        drop(conns);
        let weak: Weak<dyn OnReady> = Rc::downgrade(&cell) as Weak<ConnCell<H>>;
        fd.set_on_ready(Some(weak));
        Ok(cell)
    }

    /// Serves a bound UDP socket on this loop.
    pub(crate) fn add_datagram_socket(self: &Rc<Self>, socket: Socket) -> io::Result<usize> {
        socket.set_nonblocking(true)?;
        let socket = Rc::new(AsyncFd::new(socket)?);
        let mut datagrams = self.datagrams.borrow_mut();
        let entry = datagrams.vacant_entry();
        let key = entry.key();
        let unspecified = SockAddr::from(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let cell = Rc::new(DatagramCell {
            lp: self.clone(),
            socket: socket.clone(),
            conn: RefCell::new(Conn {
                inbound: Inbound {
                    ring: kept_ring(DATAGRAM_MAX),
                },
                outbound: Outbound {
                    io: Io::Datagram {
                        socket: socket.clone(),
                        peer: Box::new(unspecified.clone()),
                    },
                    core: crate::io::Outbound::new(RingBuffer::new(1)),
                    queue: VecDeque::new(),
                    queued: 0,
                    high_watermark: usize::MAX,
                    refused: false,
                },
                peer: Peer::from(unspecified.clone()),
                context: None,
                link: self.link.clone(),
                target: Target::Datagram {
                    socket: key,
                    peer: Box::new(unspecified),
                },
                closed_flag: None,
                close_requested: false,
                closed: false,
            }),
        });
        entry.insert(cell.clone());
        let weak: Weak<dyn OnReady> = Rc::downgrade(&cell) as Weak<DatagramCell<H>>;
        socket.set_on_ready(Some(weak));
        drop(datagrams);
        cell.read_pass();
        Ok(key)
    }

    fn find(&self, target: &Target) -> Option<Rc<ConnCell<H>>> {
        let Target::Stream { key, generation } = target else {
            return None;
        };
        let conns = self.conns.borrow();
        conns
            .get(*key)
            .filter(|cell| cell.generation == *generation && !cell.stops.closed())
            .cloned()
    }

    /// Carries out one command (but `Stop`, which the loop's main task
    /// handles).
    pub(crate) fn command(self: &Rc<Self>, command: Command) {
        match command {
            Command::Write { target, data, done } => match &target {
                Target::Stream { .. } => match self.find(&target) {
                    Some(cell) => cell.write_async(data, done),
                    None => {
                        call_done(self.index(), done, Err(closed_error()));
                    }
                },
                Target::Datagram { socket, peer } => {
                    let cell = self.datagrams.borrow().get(*socket).cloned();
                    match cell {
                        Some(cell) => {
                            let mut sent = 0;
                            let mut result = Ok(0);
                            for datagram in &data {
                                match cell.socket.get_ref().send_to(datagram, peer) {
                                    Ok(n) => sent += n,
                                    Err(err) => {
                                        result = Err(err);
                                        break;
                                    }
                                }
                            }
                            call_done(self.index(), done, result.map(|_: usize| sent));
                        }
                        None => {
                            call_done(self.index(), done, Err(closed_error()));
                        }
                    }
                }
            },
            Command::Wake(target) => match &target {
                Target::Stream { .. } => {
                    if let Some(cell) = self.find(&target) {
                        cell.traffic();
                    }
                }
                Target::Datagram { socket, peer } => {
                    let cell = self.datagrams.borrow().get(*socket).cloned();
                    if let Some(cell) = cell {
                        cell.wake((**peer).clone());
                    }
                }
            },
            Command::Close(target) => {
                if let Some(cell) = self.find(&target) {
                    cell.close(None);
                }
            }
            Command::Adopt {
                socket,
                kind,
                peer,
                reply,
                context,
                tls,
            } => self.open(socket, kind, peer, reply, context, tls),
            Command::AdoptDatagram {
                socket,
                peer,
                reply,
            } => {
                let handle = self.add_datagram_socket(socket).map(|key| {
                    ConnHandle::new(
                        self.link.sender.clone(),
                        Target::Datagram {
                            socket: key,
                            peer: Box::new(peer),
                        },
                        None,
                    )
                });
                let _ = reply.send(handle);
            }
            Command::Stop(_) => {}
        }
    }

    /// Closes every connection (on_close with no error), for the stop.
    pub(crate) fn close_all(&self) {
        let cells: Vec<_> = self.conns.borrow().iter().map(|(_, c)| c.clone()).collect();
        for cell in cells {
            cell.close(None);
        }
        self.close_datagrams();
    }

    /// Closes the UDP sockets, for the stop: like the listeners, they take
    /// nothing more.
    pub(crate) fn close_datagrams(&self) {
        let datagrams: Vec<_> = self.datagrams.borrow_mut().drain().collect();
        for cell in datagrams {
            cell.socket.set_on_ready(None);
        }
    }

    /// Whether a connection is open, or closed and still sending.
    pub(crate) fn busy(&self) -> bool {
        !self.conns.borrow().is_empty() || self.draining.get() > 0
    }

    /// One first-frame period: closes the connections whose handler has
    /// neither consumed input nor written output by their due period (a
    /// slowloris peer trickling a frame that never completes).
    pub(crate) fn sweep_first_frames(&self) {
        let epoch = self.frame_epoch.get().wrapping_add(1);
        self.frame_epoch.set(epoch);
        let late: Vec<_> = self
            .conns
            .borrow()
            .iter()
            .filter(|(_, c)| c.first_frame_due.get() == epoch)
            .map(|(_, c)| c.clone())
            .collect();
        for cell in late {
            cell.close(Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete first frame within Options::first_read_timeout",
            )));
        }
    }

    /// One idle-sweep period: closes connections unused for `periods`.
    pub(crate) fn sweep_idle(&self, periods: u32) {
        let epoch = self.epoch.get().wrapping_add(1);
        self.epoch.set(epoch);
        let idle: Vec<_> = self
            .conns
            .borrow()
            .iter()
            .filter(|(_, c)| epoch.wrapping_sub(c.last_active.get()) >= periods)
            .map(|(_, c)| c.clone())
            .collect();
        for cell in idle {
            cell.close(Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "closed after the idle timeout",
            )));
        }
    }
}
