//! The write side of a buffered stream: the outbound core
//! ([`crate::io::Outbound`]) shared by the stream, its write half, the
//! end-of-poll flush and the drain task.
//!
//! Bytes go into the outbound ring and the stream registers itself (once)
//! with [`runtime::defer`](runtime_executor::defer); when the task's poll
//! returns the core sends everything in one `writev`. If the kernel's buffer
//! is full, a small drain task finishes the job on writability, so nothing
//! written is lost even if the caller never flushes, and even if it drops
//! the stream (up to its close timeout, 30 s unless set). Past the outbound ring's capacity,
//! `poll_write` returns `Pending` until the peer reads.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use runtime_executor::{AsyncFd, Deferred};
use socket2::Socket;

use crate::buffer::RingBuffer;
use crate::idle;
use crate::io::Outbound;

/// How long a dropped stream keeps trying to deliver what was written,
/// unless told otherwise (`set_close_timeout`): the engine's
/// `Options::close_timeout` default.
pub(crate) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The write side, shared by the stream, its write half, the end-of-tick
/// flush and the drain task.
pub(crate) struct Shared {
    pub(crate) fd: AsyncFd<Socket>,
    /// The outbound ring, the stored error and the half-close: the I/O
    /// core's, as the engine's connections keep them.
    pub(crate) outbound: RefCell<Outbound>,
    flush_scheduled: Cell<bool>,
    draining: Cell<bool>,
    /// The task waiting for room in the outbound ring (or for it to empty).
    /// Only the drain task waits on the socket's writability, and it wakes
    /// this one as it makes progress: the fd's write slot has a single waker.
    waiter: Cell<Option<std::task::Waker>>,
    /// Use of either ring since the last idle sweep, and the sweep's watch.
    pub(crate) idle: idle::Watch,
    /// A write has queued bytes (ever): what `Server::first_read_timeout`
    /// watches for.
    pub(crate) wrote: Cell<bool>,
    /// The reader's inbound ring holds storage. The ring belongs to the
    /// reader (which lends its bytes), so the idle sweep cannot free it: it
    /// sets `release_inbound` and wakes the reader, which gives the storage
    /// back at its next read attempt if the ring is still empty.
    pub(super) inbound_held: Cell<bool>,
    pub(super) release_inbound: Cell<bool>,
    /// How long the drain task of a dropped stream waits for the peer to
    /// make room before it gives up and closes, in 16 bits (see
    /// [`encode_close_timeout`]) so that it fits beside the flags: every
    /// connection holds one.
    pub(super) close_timeout: Cell<u16>,
}

impl Shared {
    /// The write side of a registered socket, with its outbound ring's
    /// default bound.
    pub(super) fn new(fd: AsyncFd<Socket>) -> Shared {
        Shared {
            fd,
            outbound: RefCell::new(Outbound::new(crate::io::kept_ring(
                crate::io::DEFAULT_WRITE_BUFFER,
            ))),
            flush_scheduled: Cell::new(false),
            draining: Cell::new(false),
            waiter: Cell::new(None),
            idle: idle::Watch::default(),
            wrote: Cell::new(false),
            inbound_held: Cell::new(false),
            release_inbound: Cell::new(false),
            close_timeout: Cell::new(encode_close_timeout(DEFAULT_CLOSE_TIMEOUT)),
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("fd", &self.fd)
            .field("outbound", &self.outbound)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn outbound_len(&self) -> usize {
        self.outbound.borrow().ring.len()
    }

    /// Sends what the outbound ring holds. `Ok(true)` once it is empty,
    /// `Ok(false)` when the kernel's buffer is full.
    #[inline]
    pub(crate) fn flush_now(self: &Rc<Self>) -> io::Result<bool> {
        match self.flush_short() {
            Some(empty) => Ok(empty),
            None => self.flush_all(),
        }
    }

    /// The core's short send, while the storage is watched by the idle
    /// sweep (else [`flush_all`](Self::flush_all) has it watched).
    #[inline(always)]
    fn flush_short(&self) -> Option<bool> {
        if !self.idle.is_watched() {
            return None;
        }
        self.outbound.borrow_mut().send_short(&self.fd)
    }

    fn flush_all(self: &Rc<Self>) -> io::Result<bool> {
        let mut out = self.outbound.borrow_mut();
        let sent = out.send_all(&self.fd, |_| false);
        let holds_storage = out.ring.capacity() > 0;
        drop(out);
        if matches!(sent, Ok(true)) && holds_storage {
            self.watch();
        }
        sent
    }

    #[inline]
    /// Fails once the socket's core has shut down (the runtime was
    /// dropped): the bytes would never leave.
    fn schedule_flush(self: &Rc<Self>) -> io::Result<()> {
        if !self.flush_scheduled.replace(true) && !self.fd.defer(self.clone()) {
            self.flush_scheduled.set(false);
            return self.fd.check_core();
        }
        Ok(())
    }

    /// Registers the task that waits for the outbound ring to drain, and
    /// makes sure the drain task is running to wake it.
    fn wait_for_drain(self: &Rc<Self>, cx: &mut Context<'_>) {
        let waiter = match self.waiter.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.waiter.set(Some(waiter));
        self.start_drain();
    }

    fn wake_waiter(&self) {
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }

    /// Finishes sending in the background once the kernel accepts more.
    fn start_drain(self: &Rc<Self>) {
        if self.draining.replace(true) {
            return;
        }
        if runtime_executor::try_current_core().is_none() {
            self.draining.set(false);
            return;
        }
        let shared = self.clone();
        drop(runtime_executor::spawn(async move {
            loop {
                let done = !matches!(shared.flush_now(), Ok(false));
                shared.wake_waiter();
                if done {
                    break;
                }
                if Rc::strong_count(&shared) == 1 {
                    // Every handle is gone, so only this task holds the
                    // socket: the peer has the close timeout to take the
                    // rest, as a closed engine connection does.
                    let timeout = decode_close_timeout(shared.close_timeout.get());
                    let deadline = runtime_executor::time::now() + timeout;
                    crate::io::linger(&shared.fd, deadline, || shared.flush_now()).await;
                    break;
                }
                // Until there is room, or until the last handle goes
                // (`drop_write_side` wakes this task): then the linger
                // above, under the close timeout.
                let room = std::future::poll_fn(|cx| {
                    if Rc::strong_count(&shared) == 1 {
                        return std::task::Poll::Ready(None);
                    }
                    shared.fd.poll_write_ready(cx).map(Some)
                });
                match room.await {
                    Some(Ok(())) => {}
                    Some(Err(_)) => break,
                    None => {}
                }
            }
            shared.draining.set(false);
            shared.wake_waiter();
        }));
    }
}

impl Shared {
    /// Has the idle sweeper watch this stream, which holds empty storage.
    pub(super) fn watch(self: &Rc<Self>) {
        self.idle
            .watch(|| Rc::downgrade(self) as std::rc::Weak<dyn idle::Sweep>);
    }
}

impl idle::Sweep for Shared {
    fn sweep(&self) -> bool {
        if self.idle.sweep_was_used() {
            return true;
        }
        if let Ok(mut out) = self.outbound.try_borrow_mut() {
            out.ring.give_back();
        }
        if self.inbound_held.get() {
            self.release_inbound.set(true);
            self.fd.wake_reader();
        }
        false
    }
}

impl Deferred for Shared {
    fn run(self: Rc<Self>) {
        self.flush_scheduled.set(false);
        if let Ok(false) = self.flush_now() {
            self.start_drain();
        }
    }
}

/// A handle on the write side; the stream and its write half each hold one.
/// Dropping it hands what is still queued to the drain task.
#[derive(Debug)]
pub(crate) struct WriteHandle(pub(crate) Rc<Shared>);

/// Below this, a close timeout is kept in milliseconds; from it up, in
/// whole seconds past it.
const SECONDS: u16 = 1 << 15;

/// A close timeout in 16 bits: to the millisecond below 32.768 s (the
/// 30 s default included), to the second above, up to about 9 hours.
fn encode_close_timeout(timeout: Duration) -> u16 {
    match u16::try_from(timeout.as_millis()) {
        Ok(ms) if ms < SECONDS => ms,
        _ => {
            SECONDS
                + u16::try_from(timeout.as_secs())
                    .unwrap_or(u16::MAX)
                    .min(SECONDS - 1)
        }
    }
}

fn decode_close_timeout(encoded: u16) -> Duration {
    if encoded < SECONDS {
        Duration::from_millis(encoded.into())
    } else {
        Duration::from_secs((encoded - SECONDS).into())
    }
}

impl Shared {
    /// Sets how long the drain task of a dropped stream waits for the peer
    /// to make room before it closes (milliseconds, saturated).
    pub(super) fn set_close_timeout(&self, timeout: Duration) {
        self.close_timeout.set(encode_close_timeout(timeout));
    }
}

impl WriteHandle {
    /// See [`Shared::set_close_timeout`].
    pub(crate) fn set_close_timeout(&self, timeout: Duration) {
        self.0.set_close_timeout(timeout);
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        decode_close_timeout(self.0.close_timeout.get())
    }
}

impl Drop for WriteHandle {
    fn drop(&mut self) {
        drop_write_side(&self.0);
    }
}

/// Write operations, on the shared write side.
#[inline]
pub(crate) fn poll_write(
    shared: &Rc<Shared>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    poll_write_with(shared, cx, buf.len(), |out| out.write(buf))
}

pub(crate) fn poll_write_vectored(
    shared: &Rc<Shared>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let total = bufs.iter().map(|b| b.len()).sum();
    poll_write_with(shared, cx, total, |out| {
        let mut written = 0;
        for buf in bufs {
            let n = out.write(buf);
            written += n;
            if n < buf.len() {
                break;
            }
        }
        written
    })
}

/// A write of `total` bytes that `put` copies into the outbound ring
/// (returning how many fitted), scheduling the end-of-poll flush; past the
/// high watermark it sends what it can, then waits for the peer.
#[inline]
fn poll_write_with(
    shared: &Rc<Shared>,
    cx: &mut Context<'_>,
    total: usize,
    mut put: impl FnMut(&mut RingBuffer) -> usize,
) -> Poll<io::Result<usize>> {
    loop {
        let written = {
            let mut out = shared.outbound.borrow_mut();
            if !out.is_open() {
                return Poll::Ready(Err(out.not_open()));
            }
            if total == 0 {
                return Poll::Ready(Ok(0));
            }
            put(&mut out.ring)
        };
        if written > 0 {
            shared.idle.touch();
            shared.wrote.set(true);
            shared.schedule_flush()?;
            return Poll::Ready(Ok(written));
        }
        if shared.flush_now()? {
            continue;
        }
        shared.wait_for_drain(cx);
        return Poll::Pending;
    }
}

pub(crate) fn poll_flush(shared: &Rc<Shared>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    shared.fd.check_core()?;
    if shared.flush_now()? {
        return Poll::Ready(Ok(()));
    }
    shared.wait_for_drain(cx);
    Poll::Pending
}

/// Flushes, then shuts the write side down (the peer reads end of stream).
/// Calling it again is fine.
pub(crate) fn poll_shutdown(shared: &Rc<Shared>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    shared.outbound.borrow_mut().request_shutdown();
    poll_flush(shared, cx)
}

/// What a stream or its last write handle does when dropped: anything still
/// queued is delivered by the drain task (up to the close timeout).
pub(crate) fn drop_write_side(shared: &Rc<Shared>) {
    if shared.outbound_len() > 0 {
        if shared.draining.get() {
            // The drain task waits for room with no deadline while a handle
            // lives: woken, it waits again under the close timeout (it was
            // left waiting for good on a peer that never reads).
            shared.fd.wake_writer();
        } else if let Ok(false) = shared.flush_now() {
            shared.start_drain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_side_stays_in_104_bytes() {
        // Every connection holds one: the close timeout fits beside the
        // flags.
        assert!(std::mem::size_of::<Shared>() <= 104);
    }

    #[test]
    fn close_timeouts_round_trip_to_the_millisecond_then_the_second() {
        for ms in [0, 1, 300, 30_000, 32_767] {
            let d = Duration::from_millis(ms);
            assert_eq!(decode_close_timeout(encode_close_timeout(d)), d);
        }
        let long = Duration::from_secs(3600);
        assert_eq!(decode_close_timeout(encode_close_timeout(long)), long);
        let rounded = Duration::from_millis(40_500);
        assert_eq!(
            decode_close_timeout(encode_close_timeout(rounded)),
            Duration::from_secs(40)
        );
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(
            decode_close_timeout(encode_close_timeout(huge)),
            Duration::from_secs(32_767)
        );
    }
}
