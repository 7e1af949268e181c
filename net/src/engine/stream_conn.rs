//! A stream connection of a loop (`ConnCell`): its read pass, the
//! callbacks around it, its sends, its close and the linger that drains
//! what it had queued.

use std::cell::{Cell, RefCell, RefMut};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;
use runtime_executor::{Deferred, OnReady};

use super::conn::{Conn, Io, Outbound};
use super::event_loop::{call_done, drop_context, panicked, Loop};
use super::handle::Reply;
use super::{Action, EventHandler};
use crate::buffer::RingBuffer;
use crate::idle;

#[cold]
pub(super) fn frame_too_large(max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "a frame larger than the inbound buffer's maximum of {max} bytes \
             (Options::max_read_buffer)"
        ),
    )
}

/// What keeps a connection from being read, as bits in one byte: none
/// (0) while it is open and reading, so a readable event checks that with
/// one compare.
#[derive(Debug, Default)]
pub(super) struct Stops(Cell<u8>);

impl Stops {
    /// Closed: it has left the loop.
    const CLOSED: u8 = 1;
    /// Above the high watermark: not read until the peer catches up.
    const PAUSED: u8 = 2;
    /// The peer half-closed, with `Options::half_close`: nothing more to
    /// read.
    const READ_DONE: u8 = 4;

    /// Open, not paused, not done reading: read what comes.
    #[inline]
    pub(super) fn none(&self) -> bool {
        self.0.get() == 0
    }

    #[inline]
    fn has(&self, bit: u8) -> bool {
        self.0.get() & bit != 0
    }

    /// Sets or clears `bit`; returns whether it was set.
    #[inline]
    fn replace(&self, bit: u8, on: bool) -> bool {
        let old = self.0.get();
        self.0.set(if on { old | bit } else { old & !bit });
        old & bit != 0
    }

    #[inline]
    pub(super) fn closed(&self) -> bool {
        self.has(Self::CLOSED)
    }

    /// Marks it closed; returns whether it already was.
    pub(super) fn close(&self) -> bool {
        self.replace(Self::CLOSED, true)
    }

    #[inline]
    pub(super) fn paused(&self) -> bool {
        self.has(Self::PAUSED)
    }

    /// Pauses or resumes reading; returns whether it was paused.
    #[inline]
    pub(super) fn set_paused(&self, paused: bool) -> bool {
        self.replace(Self::PAUSED, paused)
    }

    pub(super) fn set_read_done(&self) {
        self.replace(Self::READ_DONE, true);
    }
}

/// A stream connection of a loop.
pub(super) struct ConnCell<H: EventHandler> {
    pub(super) lp: Rc<Loop<H>>,
    /// Its slot in `lp.conns`, in 32 bits: beside the other 32-bit fields,
    /// the cell takes a 320-byte malloc chunk, not 336 (every connection
    /// holds one: `a_connection_cell_fits_a_320_byte_chunk`).
    pub(super) key: u32,
    pub(super) generation: u64,
    /// Whether it is closed, paused or done reading: none, in the usual
    /// case, which a readable event checks at once.
    pub(super) stops: Stops,
    pub(super) last_active: Cell<u32>,
    /// The first-frame sweep period by which the handler must have
    /// consumed input or written output (`Options::first_read_timeout`);
    /// 0 once it has, or without the option.
    pub(super) first_frame_due: Cell<u32>,
    /// Use since the last idle sweep, and the sweep's watch.
    pub(super) idle: idle::Watch,
    pub(super) conn: RefCell<Conn>,
}

impl<H: EventHandler> idle::Sweep for ConnCell<H> {
    fn sweep(&self) -> bool {
        if self.idle.sweep_was_used() {
            return true;
        }
        if let Ok(mut conn) = self.conn.try_borrow_mut() {
            conn.inbound.ring.give_back();
            conn.outbound.core.ring.give_back();
            #[cfg(feature = "tls")]
            if let Some(tls) = conn.outbound.tls_mut() {
                tls.give_back();
            }
        }
        false
    }
}

impl<H: EventHandler> OnReady for ConnCell<H> {
    fn on_ready(self: Rc<Self>, readable: bool, writable: bool) {
        if readable && self.stops.none() {
            self.read_event(writable);
        } else {
            self.ready(readable, writable);
        }
    }
}

impl<H: EventHandler> Deferred for ConnCell<H> {
    /// The rest of a read pass that used up its budget.
    fn run(self: Rc<Self>) {
        if self.stops.none() {
            self.read_pass();
        }
    }
}

impl<H: EventHandler> ConnCell<H> {
    /// A readable event on a connection that is open, not paused and not
    /// done reading (`writable` as the reactor says). The usual one, a plain
    /// stream owing no flush, whose inbound ring is empty, and one read
    /// that drains the socket, is served here, in line with the reactor's
    /// call; anything else (a read that filled the room, the end of the
    /// stream, an error, bytes left from before, TLS) goes on in
    /// [`ready`](Self::ready) or [`read_pass_from`](Self::read_pass_from),
    /// with what the read brought.
    #[inline(always)]
    fn read_event(self: &Rc<Self>, writable: bool) {
        let mut conn = self.conn.borrow_mut();
        let Conn {
            inbound, outbound, ..
        } = &mut *conn;
        if writable && outbound.owes_flush() {
            drop(conn);
            self.ready(true, writable);
            return;
        }
        let first = match outbound.stream_fd() {
            // An empty ring is never full: no bound to check.
            Some(fd) if inbound.ring.is_empty() && fd.is_read_ready() => {
                let result = inbound.fill_once(fd);
                if matches!(result, Ok(n) if n > 0) && !fd.is_read_ready() {
                    // Drained, with room left: nothing more to read now.
                    self.traffic_after_read(conn);
                    return;
                }
                Some(result)
            }
            _ => None,
        };
        drop(conn);
        self.read_pass_from(first);
    }

    /// An event off the usual path: the flush a writable socket lets
    /// through, then the read pass, as far as the connection's state allows.
    #[inline(never)]
    fn ready(self: &Rc<Self>, readable: bool, writable: bool) {
        if self.stops.closed() {
            return;
        }
        if writable && !self.flush_on_writable() {
            return;
        }
        if readable && self.stops.none() {
            self.read_pass();
        }
    }

    /// Reads what the socket has (up to the loop's budget) and hands it to
    /// `on_traffic`, until the socket is drained.
    pub(super) fn read_pass(self: &Rc<Self>) {
        self.read_pass_from(None);
    }

    /// [`read_pass`](Self::read_pass), whose first read, if `first` is
    /// `Some`, was already made and brought that.
    #[inline(never)]
    fn read_pass_from(self: &Rc<Self>, mut first: Option<io::Result<usize>>) {
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
                    // Not a plain stream: a TLS connection has its own pass.
                    #[cfg(feature = "tls")]
                    if outbound.tls().is_some() {
                        drop(conn);
                        self.tls_read_pass();
                    }
                    return;
                };
                let mut got = 0;
                let mut end = None;
                // Until drained: `WouldBlock`, or a short read (then the
                // read that would only say `WouldBlock` is skipped).
                while got < budget && (first.is_some() || fd.is_read_ready()) {
                    let result = match first.take() {
                        Some(result) => result,
                        None => {
                            let ring = &inbound.ring;
                            if ring.len() >= ring.max_capacity() {
                                break;
                            }
                            inbound.fill_once(fd)
                        }
                    };
                    match result {
                        Ok(0) => {
                            end = Some(None);
                            break;
                        }
                        Ok(n) => {
                            got += n;
                            if !fd.is_read_ready() {
                                // A short read drained the socket.
                                break;
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        // A signal: read again.
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
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
                if !self.traffic_after_read(conn) {
                    return;
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
                        self.stops.set_read_done();
                        return;
                    }
                    self.close(None);
                    return;
                }
                None => {}
            }
            if self.stops.paused() || !ready {
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

    /// After a read brought bytes: `on_traffic`, then the send of what it
    /// wrote. `false` if the connection is now closed.
    #[inline(always)]
    fn traffic_after_read(self: &Rc<Self>, mut conn: RefMut<'_, Conn>) -> bool {
        let lp = &*self.lp;
        self.last_active.set(lp.epoch.get());
        self.idle.touch();
        let before = conn.inbound.len();
        let called = {
            let mut handler = lp.handler.borrow_mut();
            catch_unwind(AssertUnwindSafe(|| handler.on_traffic(&mut conn)))
        };
        let action = match called {
            Ok(action) => action,
            Err(payload) => {
                drop(conn);
                return self.after_callback("on_traffic", Err(payload));
            }
        };
        if self.first_frame_due.get() != 0
            && (conn.inbound.len() < before || !conn.outbound.is_empty())
        {
            // The handler took a frame (or answered): the deadline is met.
            self.first_frame_due.set(0);
        }
        // The usual case, with the connection still borrowed: no action,
        // the idle sweep already watching, and the short send.
        if action == Action::None
            && !conn.close_requested
            && self.stops.none()
            && self.idle.is_watched()
        {
            if let Some(sent) = conn.outbound.send_plain() {
                if !sent && conn.outbound.len() >= conn.outbound.high_watermark {
                    self.stops.set_paused(true);
                }
                return true;
            }
        }
        drop(conn);
        self.after_callback("on_traffic", Ok(action))
    }

    /// Runs `on_open` (with a dial's `context` set first), answers a
    /// dial's `reply` with the handle, and sends the greeting; `false` if
    /// the connection is now closed.
    pub(super) fn opened(
        self: &Rc<Self>,
        reply: Option<Reply>,
        context: Option<Box<dyn std::any::Any + Send>>,
    ) -> bool {
        let action = self.open(reply, context);
        self.after_callback("on_open", action)
    }

    /// [`opened`](Self::opened) without the send: what `on_open` wrote
    /// leaves with what the caller sends next. `false` if now closed.
    #[cfg(feature = "tls")]
    pub(super) fn opened_unsent(self: &Rc<Self>, reply: Option<Reply>) -> bool {
        let action = self.open(reply, None);
        self.apply("on_open", action)
    }

    /// `on_open`, the dial's reply, and the greeting queued.
    fn open(
        self: &Rc<Self>,
        reply: Option<Reply>,
        context: Option<Box<dyn std::any::Any + Send>>,
    ) -> Result<Action, Box<dyn std::any::Any + Send>> {
        let opened = {
            let mut handler = self.lp.handler.borrow_mut();
            let mut conn = self.conn.borrow_mut();
            if let Some(context) = context {
                conn.context = Some(context);
            }
            catch_unwind(AssertUnwindSafe(|| handler.on_open(&mut conn)))
        };
        if let Some(reply) = reply {
            let handle = self.conn.borrow_mut().handle();
            let _ = reply.send(Ok(handle));
        }
        opened.map(|(greeting, action)| {
            if let Some(greeting) = greeting {
                let _ = self.conn.borrow_mut().outbound.write_bytes(greeting);
            }
            action
        })
    }

    /// Calls `on_traffic`; `false` if the connection is now closed.
    pub(super) fn traffic(self: &Rc<Self>) -> bool {
        let action = {
            let mut handler = self.lp.handler.borrow_mut();
            let mut conn = self.conn.borrow_mut();
            catch_unwind(AssertUnwindSafe(|| handler.on_traffic(&mut conn)))
        };
        self.after_callback("on_traffic", action)
    }

    /// After a callback: applies its action, sends what it wrote, and
    /// pauses reading past the high watermark. `false` if now closed.
    pub(super) fn after_callback(
        self: &Rc<Self>,
        name: &str,
        action: Result<Action, Box<dyn std::any::Any + Send>>,
    ) -> bool {
        self.apply(name, action) && self.send()
    }

    /// Applies a callback's action (and a [`Conn::close`] it made); `false`
    /// if the connection is now closed.
    pub(super) fn apply(
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
            #[cfg(feature = "tls")]
            let holds = holds || conn.outbound.tls().is_some_and(|tls| tls.holds_storage());
            if holds {
                self.idle
                    .watch(|| Rc::downgrade(self) as Weak<ConnCell<H>> as Weak<dyn idle::Sweep>);
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
    pub(super) fn send(self: &Rc<Self>) -> bool {
        // Reading was paused and `on_writable` lifted it: resume once what
        // the callbacks wrote is sent.
        let mut resume = false;
        loop {
            let mut conn = self.conn.borrow_mut();
            if let Err(err) = conn.outbound.send() {
                drop(conn);
                self.close(Some(err));
                return false;
            }
            let (len, high) = (conn.outbound.len(), conn.outbound.high_watermark);
            if len >= high {
                self.stops.set_paused(true);
                return true;
            }
            let refused = conn.outbound.refused;
            if !(refused || self.stops.paused()) || len > high / 2 {
                break;
            }
            conn.outbound.refused = false;
            drop(conn);
            resume |= self.stops.set_paused(false);
            let action = {
                let mut handler = self.lp.handler.borrow_mut();
                let mut conn = self.conn.borrow_mut();
                catch_unwind(AssertUnwindSafe(|| handler.on_writable(&mut conn)))
            };
            if !self.apply("on_writable", action) {
                return false;
            }
            // Round again: what `on_writable` wrote is sent before anything
            // else, or it would wait for a writability edge that an unfilled
            // socket never brings.
        }
        if resume {
            // Bytes may be waiting in the inbound buffer and in the socket,
            // whose edge came while reading was paused.
            self.resume_reading();
            return !self.stops.closed();
        }
        true
    }

    pub(super) fn resume_reading(self: &Rc<Self>) {
        if !self.conn.borrow().inbound.is_empty() && !self.traffic() {
            return;
        }
        if !self.stops.paused() && !self.stops.closed() {
            self.read_pass();
        }
    }

    /// The socket became writable: send (see [`send`](Self::send)).
    /// `false` if the connection closed.
    pub(super) fn flush_on_writable(self: &Rc<Self>) -> bool {
        {
            let conn = self.conn.borrow();
            if !conn.outbound.owes_flush() && !self.stops.paused() {
                return true;
            }
        }
        self.send()
    }

    pub(super) fn write_async(self: &Rc<Self>, data: Vec<Bytes>, done: super::handle::WriteDone) {
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
    pub(super) fn close(self: &Rc<Self>, err: Option<io::Error>) {
        if self.stops.close() {
            return;
        }
        let lp = &self.lp;
        {
            let mut conns = lp.conns.borrow_mut();
            if conns
                .get(self.key as usize)
                .is_some_and(|c| c.generation == self.generation)
            {
                conns.remove(self.key as usize);
            }
        }
        lp.engine.inner.connection_closed(lp.index());
        let broken = err.as_ref().is_some_and(|e| e.raw_os_error().is_some());
        let mut conn = self.conn.borrow_mut();
        conn.closed = true;
        if let Some(flag) = &conn.closed_flag {
            flag.store(true, std::sync::atomic::Ordering::Release);
        }
        if let Some(fd) = conn.outbound.socket_fd() {
            fd.set_on_ready(None);
        }
        #[cfg(feature = "tls")]
        let reply = Self::tls_closing(&mut conn, err.as_ref());
        #[cfg(feature = "tls")]
        let clean = err.is_none();
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
        // A TLS dial whose handshake failed: its caller hears why.
        #[cfg(feature = "tls")]
        if let Some((reply, err)) = reply {
            let _ = reply.send(Err(err));
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
        let context = conn.context.take();
        drop(conn);
        drop_context(lp.index(), context);
        // TLS: the close_notify goes before the socket's shutdown, so the
        // peer tells this end from a truncation.
        #[cfg(feature = "tls")]
        if clean {
            outbound.close_notify();
        }
        if broken || matches!(outbound.send(), Ok(true) | Err(_)) {
            return; // dropping `outbound` closes the socket
        }
        linger(
            outbound,
            lp.options.close_timeout,
            lp.draining.clone(),
            lp.engine.clone(),
        );
    }
}

/// Finishes sending a closed connection's queue, then closes the socket;
/// gives up at the deadline, or once the engine has stopped (its stop
/// waits for lingers until its own deadline: on a runtime of its own, the
/// loops' end stops the runtime and so cuts them, but on a shared one,
/// `serve_on`'s, they would outlive the stop by their close timeout).
fn linger(
    mut outbound: Outbound,
    timeout: Duration,
    draining: Rc<Cell<usize>>,
    engine: super::Engine,
) {
    let Some(fd) = outbound.socket_fd().cloned() else {
        return;
    };
    draining.set(draining.get() + 1);
    let deadline = runtime_executor::time::now() + timeout;
    drop(runtime_executor::spawn(async move {
        futures_lite::future::or(
            crate::io::linger(&fd, deadline, || outbound.send()),
            engine.finished(),
        )
        .await;
        drop(outbound);
        draining.set(draining.get() - 1);
    }));
}

#[cfg(test)]
mod tests {
    use super::ConnCell;

    struct Handler;

    impl crate::engine::EventHandler for Handler {}

    #[test]
    fn a_connection_cell_fits_a_320_byte_chunk() {
        // Every connection holds one, in an `Rc`: 296 bytes plus the two
        // counts take a 320-byte malloc chunk; one byte more takes 336, 16
        // bytes more per idle connection (`benches/idle_memory.sh`).
        let size = std::mem::size_of::<ConnCell<Handler>>();
        assert!(
            size <= 296,
            "ConnCell grew to {size} bytes: 16 more bytes of memory per connection"
        );
    }
}
