//! The read side of a buffered stream: an inbound ring that one large
//! `read` fills for many small reads. It belongs to the stream or its read
//! half, never shared, so `poll_fill_buf` can lend its bytes.

use std::io::{self, Read};
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use socket2::Socket;

use super::write::Shared;
use crate::buffer::RingBuffer;
use crate::io::{read_into, DIRECT_READ, READ_CHUNK};

/// The read side: owned by the stream or its read half, never shared, so
/// `poll_fill_buf` can lend its bytes.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    inbound: RingBuffer,
}

impl ReadBuf {
    /// An empty read side with the inbound ring's default bound.
    pub(super) fn new() -> ReadBuf {
        ReadBuf {
            inbound: crate::io::kept_ring(crate::io::DEFAULT_READ_BUFFER),
        }
    }

    /// Bounds the inbound ring by `limit` (never below what it holds);
    /// returns whether it holds storage.
    pub(super) fn set_limit(&mut self, limit: usize) -> bool {
        self.inbound = super::with_limit(&self.inbound, limit);
        self.inbound.capacity() > 0
    }

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
                shared.idle.touch();
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
        // As `read_into` does for a read that brought nothing.
        self.inbound.commit(0);
        self.inbound.give_back();
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
        let filled = read_into(&mut self.inbound, sock);
        *drained = filled.drained;
        self.record(shared, filled.result)
    }

    /// Records what a read into the unfilled room of the inbound ring
    /// brought.
    fn record(&mut self, shared: &Rc<Shared>, n: io::Result<usize>) -> io::Result<usize> {
        let inbound = &mut self.inbound;
        match n {
            Ok(0) => {
                // End of stream: `read_into` gave the storage back.
                shared.inbound_held.set(inbound.capacity() > 0);
                Ok(0)
            }
            Ok(n) => {
                shared.idle.touch();
                if !shared.inbound_held.get() {
                    // Storage taken: the idle sweep will ask for it back.
                    shared.inbound_held.set(true);
                    shared.watch();
                }
                Ok(n)
            }
            Err(err) => {
                // Nothing came (`WouldBlock` included): `read_into` gave
                // the storage back, so an idle connection holds no buffer.
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
