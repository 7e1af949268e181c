//! The buffered byte stream under `TcpStream` and `UnixStream`: a
//! non-blocking socket with an inbound ring (read-ahead) and an outbound ring
//! that the core flushes by itself as soon as the writing task's poll returns.
//!
//! Reads: one large `read`/`readv` into the inbound ring serves many small
//! reads. Writes: bytes go into the outbound ring and the stream registers
//! itself (once) with [`runtime::defer`](runtime_executor::defer); when the task's poll returns
//! the core sends everything in one `writev`. If the kernel's buffer is full, a
//! small drain task finishes the job on writability, so nothing written is lost
//! even if the caller never flushes, and even if it drops the stream (up to a
//! linger deadline). Past the outbound ring's capacity, `poll_write` returns
//! `Pending` until the peer reads: memory per connection is bounded.
//!
//! Storage: a ring takes storage from the per-core pool at its first byte
//! and keeps it, empty, between messages; the idle sweep
//! ([`crate::idle`]) gives it back once the stream goes unused. The
//! inbound ring belongs to the reader, so the sweep asks for it: it wakes
//! the waiting reader, which gives the storage back before it waits again.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use runtime_executor::{AsyncFd, Deferred};
use socket2::{SockAddr, Socket};

use crate::buffer::RingBuffer;
use crate::idle;
use crate::io::{
    kept_ring, Outbound, DEFAULT_READ_BUFFER, DEFAULT_WRITE_BUFFER, DIRECT_READ, READ_CHUNK,
};

/// How long a dropped stream keeps trying to deliver what was written.
const LINGER: Duration = Duration::from_secs(30);

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
    /// Bytes moved through either ring since the last idle sweep.
    pub(crate) used: Cell<bool>,
    /// The key under which the idle sweeper watches this stream.
    watch_key: Cell<Option<idle::WatchKey>>,
    /// The reader's inbound ring holds storage. The ring belongs to the
    /// reader (which lends its bytes), so the idle sweep cannot free it: it
    /// sets `release_inbound` and wakes the reader, which gives the storage
    /// back at its next read attempt if the ring is still empty.
    inbound_held: Cell<bool>,
    release_inbound: Cell<bool>,
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
        self.watch_key.get()?;
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
                // Once every handle is gone only this task holds the socket:
                // give the peer a deadline, then close.
                let writable = if Rc::strong_count(&shared) == 1 {
                    match runtime_executor::time::timeout(LINGER, shared.fd.writable()).await {
                        Ok(res) => res,
                        Err(_) => break,
                    }
                } else {
                    shared.fd.writable().await
                };
                if writable.is_err() {
                    break;
                }
            }
            shared.draining.set(false);
            shared.wake_waiter();
        }));
    }
}

impl Shared {
    /// Has the idle sweeper watch this stream, which holds empty storage.
    fn watch(self: &Rc<Self>) {
        if self.watch_key.get().is_none() {
            let weak: std::rc::Weak<dyn idle::Sweep> = Rc::downgrade(self) as _;
            self.watch_key.set(idle::watch(weak));
        }
    }
}

impl idle::Sweep for Shared {
    fn sweep(&self) -> bool {
        if self.used.replace(false) {
            return true;
        }
        if let Ok(mut out) = self.outbound.try_borrow_mut() {
            out.ring.give_back();
        }
        if self.inbound_held.get() {
            self.release_inbound.set(true);
            self.fd.wake_reader();
        }
        self.watch_key.set(None);
        false
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(key) = self.watch_key.get() {
            idle::unwatch(key);
        }
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

/// A connected, buffered stream socket.
#[derive(Debug)]
pub(crate) struct BufStream {
    pub(crate) read: ReadBuf,
    pub(crate) write: WriteHandle,
}

/// A handle on the write side; the stream and its write half each hold one.
/// Dropping it hands what is still queued to the drain task.
#[derive(Debug)]
pub(crate) struct WriteHandle(pub(crate) Rc<Shared>);

impl Drop for WriteHandle {
    fn drop(&mut self) {
        drop_write_side(&self.0);
    }
}

/// The read side: owned by the stream or its read half, never shared, so
/// `poll_fill_buf` can lend its bytes.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    inbound: RingBuffer,
}

impl BufStream {
    /// Wraps a connected non-blocking socket registered on the current core.
    pub(crate) fn new(sock: Socket) -> io::Result<Self> {
        let fd = AsyncFd::new(sock)?;
        Ok(BufStream {
            read: ReadBuf {
                inbound: kept_ring(DEFAULT_READ_BUFFER),
            },
            write: WriteHandle(Rc::new(Shared {
                fd,
                outbound: RefCell::new(Outbound::new(kept_ring(DEFAULT_WRITE_BUFFER))),
                flush_scheduled: Cell::new(false),
                draining: Cell::new(false),
                waiter: Cell::new(None),
                used: Cell::new(false),
                watch_key: Cell::new(None),
                inbound_held: Cell::new(false),
                release_inbound: Cell::new(false),
            })),
        })
    }

    pub(crate) fn socket(&self) -> &Socket {
        self.write.0.fd.get_ref()
    }

    /// Sets the bound of the outbound ring (the backpressure watermark).
    pub(crate) fn set_write_buffer_limit(&self, limit: usize) {
        let mut out = self.write.0.outbound.borrow_mut();
        out.ring = with_limit(&out.ring, limit);
    }

    /// Sets the bound of the inbound ring.
    pub(crate) fn set_read_buffer_limit(&mut self, limit: usize) {
        self.read.inbound = with_limit(&self.read.inbound, limit);
        self.write
            .0
            .inbound_held
            .set(self.read.inbound.capacity() > 0);
    }

    /// Starts a non-blocking connect of `socket` to `addr`, registers it, and
    /// completes once the connection is established (or has failed).
    pub(crate) async fn connect(socket: Socket, addr: &SockAddr) -> io::Result<BufStream> {
        let in_progress = match socket.connect(addr) {
            Ok(()) => false,
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => true,
            Err(err) => return Err(err),
        };
        let stream = BufStream::new(socket)?;
        if in_progress {
            // Writable once the handshake completes or fails.
            let fd = &stream.write.0.fd;
            fd.clear_write_ready();
            fd.writable().await?;
            if let Some(err) = stream.socket().take_error()? {
                return Err(err);
            }
        }
        Ok(stream)
    }
}

/// A copy of `ring` bounded by `limit`, but never below what it already
/// holds, so changing a limit loses no byte.
fn with_limit(ring: &RingBuffer, limit: usize) -> RingBuffer {
    let mut resized = kept_ring(limit.max(ring.len()).max(1));
    let (front, back) = ring.as_slices();
    resized.write(front);
    resized.write(back);
    resized
}

impl ReadBuf {
    pub(crate) fn buffered(&self) -> usize {
        self.inbound.len()
    }

    /// Reads from the socket into the inbound ring. `Ok(0)` is end of stream.
    #[inline]
    fn poll_fill(&mut self, shared: &Rc<Shared>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !shared.fd.is_read_ready() && !shared.release_inbound.get() {
            // The usual case right after a reply: nothing to read yet, so
            // wait for the next edge (this registers the task), without
            // the read path's set-up.
            ready!(shared.fd.poll_read_ready(cx))?;
        }
        if let Some(poll) = self.fill_short(shared, cx) {
            return poll;
        }
        self.poll_fill_read(shared, cx)
    }

    /// The usual read, in short: read-ready, and the kept storage of an
    /// empty ring to read into. `None` when that does not hold, for
    /// [`poll_fill_read`](Self::poll_fill_read).
    #[inline]
    fn fill_short(
        &mut self,
        shared: &Rc<Shared>,
        cx: &mut Context<'_>,
    ) -> Option<Poll<io::Result<usize>>> {
        if !shared.fd.is_read_ready()
            || shared.release_inbound.get()
            || !shared.inbound_held.get()
            || !self.inbound.is_empty()
            || self.inbound.capacity() < READ_CHUNK
        {
            return None;
        }
        let (front, _) = self.inbound.unfilled_slices(READ_CHUNK);
        let asked = front.len();
        Some(match crate::sys::recv(shared.fd.get_ref(), front) {
            Ok(n) if n > 0 => {
                // `record`'s arm for data, for a ring whose storage is
                // already watched; calling it costs the path its gain.
                self.inbound.commit(n);
                shared.used.set(true);
                self.after_fill(shared, n < asked);
                Poll::Ready(Ok(n))
            }
            nothing => self.settle(shared, cx, nothing),
        })
    }

    /// A read that brought no byte: end of stream, `WouldBlock` (then
    /// waits for the next edge) or an error.
    #[cold]
    fn settle(
        &mut self,
        shared: &Rc<Shared>,
        cx: &mut Context<'_>,
        nothing: io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        match self.record(shared, nothing) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                shared.fd.clear_read_ready();
                self.poll_fill_read(shared, cx)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => self.poll_fill_read(shared, cx),
            res => Poll::Ready(res),
        }
    }

    fn poll_fill_read(
        &mut self,
        shared: &Rc<Shared>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if shared.release_inbound.get() {
            // The idle sweep asks for the storage back (the ring is empty
            // here: this is called only then).
            shared.release_inbound.set(false);
            self.inbound.give_back();
            shared.inbound_held.set(false);
        }
        loop {
            if !shared.fd.is_read_ready() {
                // Registers the task for the next edge (or reports that the
                // core has shut down).
                ready!(shared.fd.poll_read_ready(cx))?;
            }
            let mut drained = false;
            match self.fill_once(shared, shared.fd.get_ref(), &mut drained) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => shared.fd.clear_read_ready(),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                res => {
                    self.after_fill(shared, drained);
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// What [`poll_fill_buf`](Self::poll_fill_buf) returned, once it is
    /// ready: for [`FillBuf`](crate::io_future::FillBuf), which polls once
    /// where `AsyncBufReadExt::fill_buf` polls twice.
    #[inline]
    pub(crate) fn filled(&self) -> &[u8] {
        self.inbound.as_slices().0
    }

    /// One read from `sock` into the inbound ring.
    fn fill_once(
        &mut self,
        shared: &Rc<Shared>,
        sock: &Socket,
        drained: &mut bool,
    ) -> io::Result<usize> {
        let inbound = &mut self.inbound;
        let (front, back) = inbound.unfilled_slices(READ_CHUNK);
        let asked = front.len() + back.len();
        let n = if back.is_empty() {
            crate::sys::recv(sock, front)
        } else {
            (&*sock).read_vectored(&mut [IoSliceMut::new(front), IoSliceMut::new(back)])
        };
        *drained = matches!(n, Ok(n) if n > 0 && n < asked);
        self.record(shared, n)
    }

    /// Records what a read into the unfilled room of the inbound ring
    /// brought.
    fn record(&mut self, shared: &Rc<Shared>, n: io::Result<usize>) -> io::Result<usize> {
        let inbound = &mut self.inbound;
        match n {
            Ok(0) => {
                inbound.commit(0);
                inbound.give_back(); // end of stream: nothing more to hold
                shared.inbound_held.set(inbound.capacity() > 0);
                Ok(0)
            }
            Ok(n) => {
                inbound.commit(n);
                shared.used.set(true);
                if !shared.inbound_held.get() {
                    // Storage taken: the idle sweep will ask for it back.
                    shared.inbound_held.set(true);
                    shared.watch();
                }
                Ok(n)
            }
            Err(err) => {
                // Nothing came (`WouldBlock` included): an idle
                // connection holds no buffer.
                inbound.give_back();
                shared.inbound_held.set(inbound.capacity() > 0);
                Err(err)
            }
        }
    }

    fn after_fill(&self, shared: &Shared, drained: bool) {
        if drained {
            // A short read: nothing is left, so skip the read that would
            // only say `WouldBlock`. New data brings a new edge, and so does
            // a FIN, even one that came with this data (`EPOLLRDHUP` makes
            // read readiness stick): see `AsyncFd::short_read`.
            shared.fd.short_read();
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        shared: &Rc<Shared>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.inbound.is_empty() {
            if dst.len() >= DIRECT_READ {
                return shared.fd.poll_read_with(cx, |sock| (&*sock).read(dst));
            }
            if ready!(self.poll_fill(shared, cx))? == 0 {
                return Poll::Ready(Ok(0));
            }
        }
        Poll::Ready(Ok(self.inbound.read(dst)))
    }

    #[inline]
    pub(crate) fn poll_fill_buf(
        &mut self,
        shared: &Rc<Shared>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&[u8]>> {
        if self.inbound.is_empty() {
            ready!(self.poll_fill(shared, cx))?;
        }
        Poll::Ready(Ok(self.inbound.as_slices().0))
    }

    #[inline]
    pub(crate) fn consume(&mut self, shared: &Rc<Shared>, amt: usize) {
        let _ = shared;
        self.inbound.discard(amt.min(self.inbound.len()));
    }

    /// Copies without consuming; fills the ring first if it is empty.
    pub(crate) fn poll_peek(
        &mut self,
        shared: &Rc<Shared>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.inbound.is_empty() && ready!(self.poll_fill(shared, cx))? == 0 {
            return Poll::Ready(Ok(0));
        }
        Poll::Ready(Ok(self.inbound.peek(dst)))
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
            shared.used.set(true);
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
/// queued is delivered by the drain task (up to the linger deadline).
pub(crate) fn drop_write_side(shared: &Rc<Shared>) {
    if shared.outbound_len() > 0 {
        if let Ok(false) = shared.flush_now() {
            shared.start_drain();
        }
    }
}

/// The buffering API every stream type shares: ring limits and counters,
/// `peek`, `shutdown`, halves, and the futures-io traits. The type must have
/// a field `inner: BufStream`.
macro_rules! buffered_stream_api {
    ($name:ident) => {
        $crate::io_future::impl_fill_buf!($name, |this| &mut this.inner.read, &this.inner.write.0);
        $crate::io_future::impl_write_all!($name, |this| &this.inner.write.0);

        impl $name {
            /// The bound of the outbound ring: past it, writes wait for the peer.
            pub fn set_write_buffer_limit(&self, limit: usize) {
                self.inner.set_write_buffer_limit(limit);
            }

            /// The bound of the inbound ring (read-ahead).
            pub fn set_read_buffer_limit(&mut self, limit: usize) {
                self.inner.set_read_buffer_limit(limit);
            }

            /// Bytes read from the socket and not yet consumed.
            pub fn inbound_buffered(&self) -> usize {
                self.inner.read.buffered()
            }

            /// Bytes written and not yet sent.
            pub fn outbound_buffered(&self) -> usize {
                self.inner.write.0.outbound_len()
            }

            /// Reads into `buf` without consuming: the next read returns the same
            /// bytes. Returns 0 at end of stream.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe.
            pub async fn peek(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let inner = &mut self.inner;
                std::future::poll_fn(|cx| inner.read.poll_peek(&inner.write.0, cx, buf)).await
            }

            /// Sends everything written so far, then shuts down the write side: the
            /// peer reads end of stream, and this side can still read. Calling it
            /// twice is fine.
            ///
            /// # Errors
            ///
            /// A write error of the flush.
            pub async fn shutdown(&self) -> std::io::Result<()> {
                let shared = &self.inner.write.0;
                std::future::poll_fn(|cx| $crate::stream::poll_shutdown(shared, cx)).await
            }

            /// Shuts down one or both directions at once, without flushing first.
            pub fn shutdown_now(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.inner.socket().shutdown(how)
            }

            /// Borrowed read and write halves, for reading and writing from two
            /// futures of one task (tokio's `split`).
            ///
            /// With `AsyncBufReadExt` in scope (`runtime::io`'s or futures-lite's),
            /// `stream.split()` fails with "this method takes 1 argument": method
            /// lookup tries `self` by value before `&mut self`, and the stream,
            /// being buffered, is `AsyncBufRead`, so the trait's by-value
            /// `split(self, byte)` is found first. Call this one with the receiver
            /// already borrowed, `(&mut stream).split()`, or by its path:
            #[doc = concat!("`", stringify!($name), "::split(&mut stream)`.")]
            /// [`into_split`](Self::into_split) has no such clash.
            pub fn split(&mut self) -> ($crate::split::ReadHalf<'_>, $crate::split::WriteHalf<'_>) {
                let $crate::stream::BufStream { read, write } = &mut self.inner;
                (
                    $crate::split::ReadHalf::new(read, &write.0),
                    $crate::split::WriteHalf::new(&write.0),
                )
            }

            /// Owned read and write halves, for reading and writing from two tasks of
            /// this core.
            pub fn into_split(
                self,
            ) -> ($crate::split::OwnedReadHalf, $crate::split::OwnedWriteHalf) {
                let $crate::stream::BufStream { read, write } = self.inner;
                let shared = write.0.clone();
                (
                    $crate::split::OwnedReadHalf::new(read, shared),
                    $crate::split::OwnedWriteHalf::new(write),
                )
            }
        }

        impl futures_lite::io::AsyncRead for $name {
            #[inline]
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let inner = &mut self.get_mut().inner;
                inner.read.poll_read(&inner.write.0, cx, buf)
            }
        }

        impl futures_lite::io::AsyncBufRead for $name {
            #[inline]
            fn poll_fill_buf(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<&[u8]>> {
                let inner = &mut self.get_mut().inner;
                inner.read.poll_fill_buf(&inner.write.0, cx)
            }

            #[inline]

            fn consume(self: std::pin::Pin<&mut Self>, amt: usize) {
                let inner = &mut self.get_mut().inner;
                inner.read.consume(&inner.write.0, amt);
            }
        }

        impl futures_lite::io::AsyncWrite for $name {
            #[inline]
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_write(&self.inner.write.0, cx, buf)
            }

            #[inline]

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_write_vectored(&self.inner.write.0, cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::stream::poll_flush(&self.inner.write.0, cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::stream::poll_shutdown(&self.inner.write.0, cx)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $name {
            #[inline]
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let inner = &mut self.get_mut().inner;
                let n = std::task::ready!(inner.read.poll_read(
                    &inner.write.0,
                    cx,
                    buf.initialize_unfilled()
                ))?;
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncBufRead for $name {
            #[inline]
            fn poll_fill_buf(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<&[u8]>> {
                let inner = &mut self.get_mut().inner;
                inner.read.poll_fill_buf(&inner.write.0, cx)
            }

            #[inline]

            fn consume(self: std::pin::Pin<&mut Self>, amt: usize) {
                let inner = &mut self.get_mut().inner;
                inner.read.consume(&inner.write.0, amt);
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $name {
            #[inline]
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_write(&self.inner.write.0, cx, buf)
            }

            #[inline]

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_write_vectored(&self.inner.write.0, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::stream::poll_flush(&self.inner.write.0, cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::stream::poll_shutdown(&self.inner.write.0, cx)
            }
        }
    };
}

pub(crate) use buffered_stream_api;
