//! A UDP socket of a loop (`DatagramCell`): each datagram is a `Conn` of
//! its own, handed to `on_traffic`, and each write a datagram back.

use std::cell::RefCell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use runtime_executor::{AsyncFd, Deferred, OnReady};
use socket2::{SockAddr, Socket};

use super::conn::{Conn, Io, Peer};
use super::event_loop::{drop_context, panicked, Loop};
use super::handle::Target;
use super::EventHandler;

/// Datagrams read per readiness event before the loop serves the others.
pub(super) const DATAGRAM_BUDGET: usize = 64;
/// The largest UDP payload.
pub(super) const DATAGRAM_MAX: usize = 64 * 1024;

/// A UDP socket of a loop; its `Conn` is reused for every datagram.
pub(super) struct DatagramCell<H: EventHandler> {
    pub(super) lp: Rc<Loop<H>>,
    pub(super) socket: Rc<AsyncFd<Socket>>,
    pub(super) conn: RefCell<Conn>,
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
    pub(super) fn read_pass(self: &Rc<Self>) {
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

    pub(super) fn deliver(&self, peer: SockAddr) {
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
        let context = conn.context.take();
        conn.close_requested = false;
        conn.inbound.ring.clear();
        drop(conn);
        drop_context(self.lp.index(), context);
        match action {
            Ok(action) => self.lp.apply_loop_action(Some(action)),
            Err(payload) => log::error!(
                "engine loop {}: {} (the datagram is dropped)",
                self.lp.index(),
                panicked("on_traffic", &*payload)
            ),
        }
    }

    pub(super) fn wake(&self, peer: SockAddr) {
        self.conn.borrow_mut().inbound.ring.clear();
        self.deliver(peer);
    }
}
