//! A stream connection of a loop (`ConnCell`): its read pass, the
//! callbacks around it, its sends, its close and the linger that drains
//! what it had queued.

use std::cell::{Cell, RefCell};
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

/// A stream connection of a loop.
pub(super) struct ConnCell<H: EventHandler> {
    pub(super) lp: Rc<Loop<H>>,
    /// Its slot in `lp.conns`, in 32 bits: beside the other 32-bit fields,
    /// the cell takes a 320-byte malloc chunk, not 336 (every connection
    /// holds one: `a_connection_cell_fits_a_320_byte_chunk`).
    pub(super) key: u32,
    pub(super) generation: u64,
    pub(super) closed: Cell<bool>,
    /// Above the high watermark: not read until the peer catches up.
    pub(super) paused: Cell<bool>,
    /// The peer half-closed, with `Options::half_close`: nothing more to read.
    pub(super) read_done: Cell<bool>,
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
    pub(super) fn read_pass(self: &Rc<Self>) {
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
                    // Not a plain stream (this branch costs the plain
                    // path nothing): a TLS connection has its own pass.
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
                        Ok(n) => {
                            got += n;
                            if !fd.is_read_ready() {
                                // A short read drained the socket.
                                break;
                            }
                        }
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
                self.idle.touch();
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
                    && self.idle.is_watched();
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
                self.paused.set(true);
                return true;
            }
            let refused = conn.outbound.refused;
            if !(refused || self.paused.get()) || len > high / 2 {
                break;
            }
            conn.outbound.refused = false;
            drop(conn);
            resume |= self.paused.replace(false);
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
            return !self.closed.get();
        }
        true
    }

    pub(super) fn resume_reading(self: &Rc<Self>) {
        if !self.conn.borrow().inbound.is_empty() && !self.traffic() {
            return;
        }
        if !self.paused.get() && !self.closed.get() {
            self.read_pass();
        }
    }

    /// The socket became writable: send (see [`send`](Self::send)).
    /// `false` if the connection closed.
    pub(super) fn flush_on_writable(self: &Rc<Self>) -> bool {
        {
            let conn = self.conn.borrow();
            if conn.outbound.is_empty() && !self.paused.get() && !conn.outbound.refused {
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
        if self.closed.replace(true) {
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
