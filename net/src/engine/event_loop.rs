//! One event loop: a core's connections, driven straight from the core's
//! reactor (the [`OnReady`] callback of each socket), with no task per
//! connection; plus the loop's command inbox, ticker and idle sweep, which
//! are ordinary tasks of that core.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use runtime_executor::channel::mpsc::UnboundedSender;
use runtime_executor::{AsyncFd, Deferred, OnReady};
use slab::Slab;
use socket2::{SockAddr, Socket};

use super::conn::{Conn, Inbound, Io, Outbound, Peer};
use super::handle::{closed_error, Command, ConnHandle, LoopLink, Reply, StreamKind, Target};
use super::{Action, Engine, EventHandler, Options};
use crate::buffer::RingBuffer;
use crate::idle;
use crate::io::kept_ring;

/// Datagrams read per readiness event before the loop serves the others.
const DATAGRAM_BUDGET: usize = 64;
/// The largest UDP payload.
const DATAGRAM_MAX: usize = 64 * 1024;

pub(crate) struct Loop<H: EventHandler> {
    pub(crate) link: Rc<LoopLink>,
    pub(crate) engine: Engine,
    pub(crate) options: Arc<Options>,
    handler: RefCell<H>,
    conns: RefCell<Slab<Rc<ConnCell<H>>>>,
    datagrams: RefCell<Slab<Rc<DatagramCell<H>>>>,
    generation: Cell<u64>,
    /// Advanced by the idle sweep; a connection remembers it at each use.
    epoch: Cell<u32>,
    /// Advanced by the first-frame sweep (`Options::first_read_timeout`).
    frame_epoch: Cell<u32>,
    /// Closed connections still sending what they had queued.
    draining: Rc<Cell<usize>>,
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

fn panicked(callback: &str, payload: &(dyn std::any::Any + Send)) -> io::Error {
    io::Error::other(format!(
        "the {callback} callback panicked: {}",
        panic_message(payload)
    ))
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
        let opened = {
            let mut handler = self.handler.borrow_mut();
            let mut conn = cell.conn.borrow_mut();
            if let Some(context) = context {
                conn.context = Some(context);
            }
            catch_unwind(AssertUnwindSafe(|| handler.on_open(&mut conn)))
        };
        if let Some(reply) = reply {
            let handle = cell.conn.borrow_mut().handle();
            let _ = reply.send(Ok(handle));
        }
        let action = opened.map(|(greeting, action)| {
            if let Some(greeting) = greeting {
                let _ = cell.conn.borrow_mut().outbound.write_bytes(greeting);
            }
            action
        });
        if cell.after_callback("on_open", action) {
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
        let cell = Rc::new(ConnCell {
            lp: self.clone(),
            key,
            generation,
            closed: Cell::new(false),
            paused: Cell::new(false),
            read_done: Cell::new(false),
            last_active: Cell::new(self.epoch.get()),
            first_frame_due: Cell::new(if options.first_read_timeout.is_some() {
                // Five periods of a quarter of the timeout: never before
                // it, at most 25 % after.
                self.frame_epoch.get().wrapping_add(5).max(1)
            } else {
                0
            }),
            used: Cell::new(false),
            watch_key: Cell::new(None),
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
            .filter(|cell| cell.generation == *generation && !cell.closed.get())
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
            } => self.open(socket, kind, peer, reply, context),
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

#[cold]
fn frame_too_large(max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "a frame larger than the inbound buffer's maximum of {max} bytes \
             (Options::max_read_buffer)"
        ),
    )
}

/// A stream connection of a loop.
struct ConnCell<H: EventHandler> {
    lp: Rc<Loop<H>>,
    key: usize,
    generation: u64,
    closed: Cell<bool>,
    /// Above the high watermark: not read until the peer catches up.
    paused: Cell<bool>,
    /// The peer half-closed, with `Options::half_close`: nothing more to read.
    read_done: Cell<bool>,
    last_active: Cell<u32>,
    /// The first-frame sweep period by which the handler must have
    /// consumed input or written output (`Options::first_read_timeout`);
    /// 0 once it has, or without the option.
    first_frame_due: Cell<u32>,
    /// Bytes came in since the last idle sweep.
    used: Cell<bool>,
    /// The key under which the idle sweep watches this connection.
    watch_key: Cell<Option<idle::WatchKey>>,
    conn: RefCell<Conn>,
}

impl<H: EventHandler> idle::Sweep for ConnCell<H> {
    fn sweep(&self) -> bool {
        if self.used.replace(false) {
            return true;
        }
        if let Ok(mut conn) = self.conn.try_borrow_mut() {
            conn.inbound.ring.give_back();
            conn.outbound.core.ring.give_back();
        }
        self.watch_key.set(None);
        false
    }
}

impl<H: EventHandler> Drop for ConnCell<H> {
    fn drop(&mut self) {
        if let Some(key) = self.watch_key.get() {
            idle::unwatch(key);
        }
    }
}

impl<H: EventHandler> OnReady for ConnCell<H> {
    fn on_ready(self: Rc<Self>, readable: bool, writable: bool) {
        if self.closed.get() {
            return;
        }
        if writable && !self.flush_on_writable() {
            return;
        }
        if readable && !self.paused.get() && !self.read_done.get() {
            self.read_pass();
        }
    }
}

impl<H: EventHandler> Deferred for ConnCell<H> {
    /// The rest of a read pass that used up its budget.
    fn run(self: Rc<Self>) {
        if !self.closed.get() && !self.paused.get() && !self.read_done.get() {
            self.read_pass();
        }
    }
}

impl<H: EventHandler> ConnCell<H> {
    /// Reads what the socket has (up to the loop's budget) and hands it to
    /// `on_traffic`, until the socket is drained.
    fn read_pass(self: &Rc<Self>) {
        let lp = &*self.lp;
        let mut budget = lp.options.edge_triggered_io_chunk;
        loop {
            let mut conn = self.conn.borrow_mut();
            // `Some(None)`: end of stream; `Some(Some(err))`: a read error.
            let (got, end, ready, full) = {
                let Conn {
                    inbound, outbound, ..
                } = &mut *conn;
                let Some(fd) = outbound.stream_fd() else {
                    return;
                };
                let mut got = 0;
                let mut end = None;
                // Until drained: `WouldBlock`, or a short read (then the
                // read that would only say `WouldBlock` is skipped).
                while got < budget && fd.is_read_ready() {
                    let ring = &inbound.ring;
                    if ring.len() >= ring.max_capacity() {
                        break;
                    }
                    match inbound.fill(fd) {
                        Ok(0) => {
                            end = Some(None);
                            break;
                        }
                        Ok(n) => got += n,
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        Err(err) => {
                            end = Some(Some(err));
                            break;
                        }
                    }
                }
                let ring = &inbound.ring;
                let full = ring.len() >= ring.max_capacity();
                (got, end, fd.is_read_ready(), full)
            };
            budget = budget.saturating_sub(got);
            if got > 0 {
                self.last_active.set(lp.epoch.get());
                self.used.set(true);
                let before = conn.inbound.len();
                let action = {
                    let mut handler = lp.handler.borrow_mut();
                    catch_unwind(AssertUnwindSafe(|| handler.on_traffic(&mut conn)))
                };
                if self.first_frame_due.get() != 0
                    && (conn.inbound.len() < before || !conn.outbound.is_empty())
                {
                    // The handler took a frame (or answered): the deadline
                    // is met.
                    self.first_frame_due.set(0);
                }
                // The usual case, with the connection still borrowed: no
                // action, nothing queued past the ring, nothing pending.
                let plain = matches!(action, Ok(Action::None))
                    && !conn.close_requested
                    && conn.outbound.is_plain()
                    && !self.paused.get()
                    && self.watch_key.get().is_some();
                if plain {
                    match conn.outbound.send() {
                        Ok(true) => {}
                        Ok(false) => {
                            if conn.outbound.len() >= conn.outbound.high_watermark {
                                self.paused.set(true);
                            }
                        }
                        Err(err) => {
                            drop(conn);
                            self.close(Some(err));
                            return;
                        }
                    }
                    drop(conn);
                } else {
                    drop(conn);
                    if !self.after_callback("on_traffic", action) {
                        return;
                    }
                }
            } else {
                drop(conn);
            }
            match end {
                Some(Some(err)) => {
                    self.close(Some(err));
                    return;
                }
                Some(None) => {
                    if lp.options.half_close {
                        // The peer is done sending; this side may still
                        // write (from callbacks or handles) until it closes.
                        self.read_done.set(true);
                        return;
                    }
                    self.close(None);
                    return;
                }
                None => {}
            }
            if self.paused.get() || !ready {
                return;
            }
            if full && self.conn.borrow().inbound.len() >= lp.options.max_read_buffer {
                // The handler leaves a full buffer untouched: the frame can
                // never fit. Closing beats growing without bound.
                self.close(Some(frame_too_large(lp.options.max_read_buffer)));
                return;
            }
            if budget == 0 {
                // Serve the other connections first; come back next tick
                // (an edge-triggered socket reports no new edge for this).
                runtime_executor::defer(self.clone());
                return;
            }
        }
    }

    /// Calls `on_traffic`; `false` if the connection is now closed.
    fn traffic(self: &Rc<Self>) -> bool {
        let action = {
            let mut handler = self.lp.handler.borrow_mut();
            let mut conn = self.conn.borrow_mut();
            catch_unwind(AssertUnwindSafe(|| handler.on_traffic(&mut conn)))
        };
        self.after_callback("on_traffic", action)
    }

    /// After a callback: applies its action, sends what it wrote, and
    /// pauses reading past the high watermark. `false` if now closed.
    fn after_callback(
        self: &Rc<Self>,
        name: &str,
        action: Result<Action, Box<dyn std::any::Any + Send>>,
    ) -> bool {
        self.apply(name, action) && self.send()
    }

    /// Applies a callback's action (and a [`Conn::close`] it made); `false`
    /// if the connection is now closed.
    fn apply(
        self: &Rc<Self>,
        name: &str,
        action: Result<Action, Box<dyn std::any::Any + Send>>,
    ) -> bool {
        let close_requested = {
            let conn = self.conn.borrow();
            // An emptied ring keeps its storage for the next message; the
            // idle sweep gives it back once the connection goes quiet.
            let (inbound, outbound) = (&conn.inbound.ring, &conn.outbound.core.ring);
            let holds = inbound.capacity() > 0 || outbound.capacity() > 0;
            if holds && self.watch_key.get().is_none() {
                let weak: Weak<dyn idle::Sweep> = Rc::downgrade(self) as Weak<ConnCell<H>>;
                self.watch_key.set(idle::watch(weak));
            }
            conn.close_requested
        };
        match action {
            Err(payload) => {
                self.close(Some(panicked(name, &*payload)));
                return false;
            }
            Ok(Action::Shutdown) => self.lp.engine.stop(),
            Ok(Action::Close) => {
                self.close(None);
                return false;
            }
            Ok(Action::None) => {}
        }
        if close_requested {
            self.close(None);
            return false;
        }
        true
    }

    /// Sends what is queued; `false` if the send failed (and closed).
    ///
    /// Past the high watermark, reading pauses. Once the queue is under
    /// half of it after a pause or a refused write, `on_writable` is called
    /// (and what it writes is sent, in this same loop).
    fn send(self: &Rc<Self>) -> bool {
        loop {
            let mut conn = self.conn.borrow_mut();
            if let Err(err) = conn.outbound.send() {
                drop(conn);
                self.close(Some(err));
                return false;
            }
            let (len, high) = (conn.outbound.len(), conn.outbound.high_watermark);
            if len >= high {
                self.paused.set(true);
                return true;
            }
            let refused = conn.outbound.refused;
            if !(refused || self.paused.get()) || len > high / 2 {
                return true;
            }
            conn.outbound.refused = false;
            drop(conn);
            let was_paused = self.paused.replace(false);
            let action = {
                let mut handler = self.lp.handler.borrow_mut();
                let mut conn = self.conn.borrow_mut();
                catch_unwind(AssertUnwindSafe(|| handler.on_writable(&mut conn)))
            };
            if !self.apply("on_writable", action) {
                return false;
            }
            if was_paused {
                // Reading resumes: bytes may be waiting in the buffer and
                // in the socket. Comes back here through the read pass.
                self.resume_reading();
                return !self.closed.get();
            }
        }
    }

    fn resume_reading(self: &Rc<Self>) {
        if !self.conn.borrow().inbound.is_empty() && !self.traffic() {
            return;
        }
        if !self.paused.get() && !self.closed.get() {
            self.read_pass();
        }
    }

    /// The socket became writable: send (see [`send`](Self::send)).
    /// `false` if the connection closed.
    fn flush_on_writable(self: &Rc<Self>) -> bool {
        {
            let conn = self.conn.borrow();
            if conn.outbound.is_empty() && !self.paused.get() && !conn.outbound.refused {
                return true;
            }
        }
        self.send()
    }

    fn write_async(self: &Rc<Self>, data: Vec<Bytes>, done: super::handle::WriteDone) {
        let result = {
            let mut conn = self.conn.borrow_mut();
            let mut total = 0;
            let mut result = Ok(());
            for chunk in data {
                match conn.outbound.write_bytes(chunk) {
                    Ok(n) => total += n,
                    Err(err) => {
                        result = Err(err);
                        break;
                    }
                }
            }
            result.map(|()| total)
        };
        self.last_active.set(self.lp.epoch.get());
        if let Some(err) = call_done(self.lp.index(), done, result) {
            self.close(Some(err));
            return;
        }
        self.send();
    }

    /// Closes the connection: it leaves the loop at once (`on_close` runs
    /// now), and what it had queued is still sent, up to the close
    /// deadline, unless the socket failed.
    fn close(self: &Rc<Self>, err: Option<io::Error>) {
        if self.closed.replace(true) {
            return;
        }
        let lp = &self.lp;
        {
            let mut conns = lp.conns.borrow_mut();
            if conns
                .get(self.key)
                .is_some_and(|c| c.generation == self.generation)
            {
                conns.remove(self.key);
            }
        }
        lp.engine.inner.connection_closed(lp.index());
        let broken = err.as_ref().is_some_and(|e| e.raw_os_error().is_some());
        let mut conn = self.conn.borrow_mut();
        conn.closed = true;
        if let Some(flag) = &conn.closed_flag {
            flag.store(true, std::sync::atomic::Ordering::Release);
        }
        if let Some(fd) = conn.outbound.stream_fd() {
            fd.set_on_ready(None);
        }
        let action = {
            let mut handler = lp.handler.borrow_mut();
            catch_unwind(AssertUnwindSafe(|| handler.on_close(&mut conn, err)))
        };
        match action {
            Ok(Action::Shutdown) => lp.engine.stop(),
            Ok(_) => {}
            Err(payload) => log::error!(
                "engine loop {}: {}",
                lp.index(),
                panicked("on_close", &*payload)
            ),
        }
        let mut outbound = Outbound {
            io: std::mem::replace(&mut conn.outbound.io, Io::Closed),
            core: std::mem::replace(
                &mut conn.outbound.core,
                crate::io::Outbound::new(RingBuffer::new(1)),
            ),
            queue: std::mem::take(&mut conn.outbound.queue),
            queued: std::mem::take(&mut conn.outbound.queued),
            high_watermark: conn.outbound.high_watermark,
            refused: false,
        };
        conn.context = None;
        drop(conn);
        if broken || matches!(outbound.send(), Ok(true) | Err(_)) {
            return; // dropping `outbound` closes the socket
        }
        linger(outbound, lp.options.close_timeout, lp.draining.clone());
    }
}

/// Finishes sending a closed connection's queue, then closes the socket;
/// gives up at the deadline.
fn linger(mut outbound: Outbound, timeout: Duration, draining: Rc<Cell<usize>>) {
    let Some(fd) = outbound.stream_fd().cloned() else {
        return;
    };
    draining.set(draining.get() + 1);
    drop(runtime_executor::spawn(async move {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match runtime_executor::time::timeout(left, fd.writable()).await {
                Ok(Ok(())) => {}
                _ => break,
            }
            match outbound.send() {
                Ok(false) => {}
                Ok(true) | Err(_) => break,
            }
        }
        drop(outbound);
        draining.set(draining.get() - 1);
    }));
}

/// A UDP socket of a loop; its `Conn` is reused for every datagram.
struct DatagramCell<H: EventHandler> {
    lp: Rc<Loop<H>>,
    socket: Rc<AsyncFd<Socket>>,
    conn: RefCell<Conn>,
}

impl<H: EventHandler> OnReady for DatagramCell<H> {
    fn on_ready(self: Rc<Self>, readable: bool, _writable: bool) {
        if readable {
            self.read_pass();
        }
    }
}

impl<H: EventHandler> Deferred for DatagramCell<H> {
    fn run(self: Rc<Self>) {
        self.read_pass();
    }
}

impl<H: EventHandler> DatagramCell<H> {
    fn read_pass(self: &Rc<Self>) {
        for _ in 0..DATAGRAM_BUDGET {
            let received = {
                let mut conn = self.conn.borrow_mut();
                let ring = &mut conn.inbound.ring;
                ring.clear();
                let (front, _) = ring.unfilled_slices(DATAGRAM_MAX);
                match self
                    .socket
                    .try_read_with(|sock| crate::sys::recv_from_trunc(sock, front, false))
                {
                    Ok((len, peer)) => {
                        let n = len.min(front.len());
                        ring.commit(n);
                        Some(SockAddr::from(peer))
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => None,
                    // An ICMP error of an earlier send, and the like: the
                    // socket goes on.
                    Err(_) => continue,
                }
            };
            let Some(peer) = received else {
                return;
            };
            self.deliver(peer);
        }
        runtime_executor::defer(self.clone());
    }

    fn deliver(&self, peer: SockAddr) {
        let action = {
            let mut conn = self.conn.borrow_mut();
            conn.peer = Peer::from(peer.clone());
            if let Io::Datagram { peer: out_peer, .. } = &mut conn.outbound.io {
                **out_peer = peer.clone();
            }
            if let Target::Datagram {
                peer: target_peer, ..
            } = &mut conn.target
            {
                **target_peer = peer;
            }
            let mut handler = self.lp.handler.borrow_mut();
            catch_unwind(AssertUnwindSafe(|| handler.on_traffic(&mut conn)))
        };
        let mut conn = self.conn.borrow_mut();
        conn.context = None;
        conn.close_requested = false;
        conn.inbound.ring.clear();
        drop(conn);
        match action {
            Ok(action) => self.lp.apply_loop_action(Some(action)),
            Err(payload) => log::error!(
                "engine loop {}: {} (the datagram is dropped)",
                self.lp.index(),
                panicked("on_traffic", &*payload)
            ),
        }
    }

    fn wake(&self, peer: SockAddr) {
        self.conn.borrow_mut().inbound.ring.clear();
        self.deliver(peer);
    }
}
