//! `Conn`: one connection as a callback sees it, with its inbound buffer
//! ([`Inbound`]) and its outbound buffer ([`Outbound`]).

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use runtime_codec::BufDecoder;
use runtime_executor::AsyncFd;
use socket2::{SockAddr, Socket, TcpKeepalive};

use super::handle::{ConnHandle, LoopLink, Target};
use crate::buffer::RingBuffer;
use crate::io::READ_CHUNK;

/// A connection, lent to the callbacks of [`EventHandler`](super::EventHandler).
///
/// Reading: [`peek`](Self::peek), [`next`](Self::next), [`read`](Self::read),
/// [`discard`](Self::discard), or a codec through [`decode`](Self::decode).
/// The slices `peek` and `next` return borrow the connection, so the
/// compiler rejects any use of them after a `discard` or a write (gnet can
/// only document that rule). To read and write at once, as an echo does,
/// [`split`](Self::split) the connection.
///
/// Writing: [`write`](Self::write) and [`writev`](Self::writev) queue the
/// bytes; the loop sends them all in one `writev` when the callback
/// returns (or at once with [`flush`](Self::flush)). Nothing written is lost
/// if the socket is busy: it waits for the peer, and the connection stops
/// being read past the high watermark.
///
/// For UDP, a `Conn` is one datagram and its sender, and each write is a
/// datagram sent back to that sender.
pub struct Conn {
    pub(super) inbound: Inbound,
    pub(super) outbound: Outbound,
    pub(super) peer: Peer,
    pub(super) context: Option<Box<dyn Any>>,
    pub(super) link: Rc<LoopLink>,
    pub(super) target: Target,
    /// Set once a handle exists; tells handles the connection is gone.
    pub(super) closed_flag: Option<Arc<AtomicBool>>,
    pub(super) close_requested: bool,
    /// The loop has closed it (`on_close` may still be running).
    pub(super) closed: bool,
}

/// A peer's address as a connection keeps it: an IP address in place (32
/// bytes, where a `SockAddr` takes 136, which is most of an idle
/// connection's state), anything else (a Unix path) boxed.
#[derive(Debug, Clone)]
pub(super) enum Peer {
    Ip(std::net::SocketAddr),
    Other(Box<SockAddr>),
}

impl From<SockAddr> for Peer {
    fn from(addr: SockAddr) -> Peer {
        match addr.as_socket() {
            Some(ip) => Peer::Ip(ip),
            None => Peer::Other(Box::new(addr)),
        }
    }
}

/// A connection's inbound buffer: the bytes read and not yet consumed.
///
/// It implements [`bytes::Buf`], so the codec crate's
/// [`BufDecoder`](runtime_codec::BufDecoder)s decode straight from it.
pub struct Inbound {
    pub(super) ring: RingBuffer,
}

/// A connection's outbound buffer: a ring of
/// [`write_buffer_cap`](super::Options::write_buffer_cap) bytes, then a
/// queue (no copy for [`Bytes`]), bounded by the high watermark.
pub struct Outbound {
    pub(super) io: Io,
    /// The ring, the stored error and the half-close: the I/O core's, as
    /// the async streams keep them.
    pub(super) core: crate::io::Outbound,
    pub(super) queue: VecDeque<Bytes>,
    pub(super) queued: usize,
    pub(super) high_watermark: usize,
    /// A write was refused for the watermark: `on_writable` is due.
    pub(super) refused: bool,
}

pub(super) enum Io {
    Stream(Rc<AsyncFd<Socket>>),
    /// Boxed: the address is large, and stream connections (the many)
    /// should not pay for it.
    Datagram {
        socket: Rc<AsyncFd<Socket>>,
        peer: Box<SockAddr>,
    },
    /// Taken by the close: the drain owns the socket now.
    Closed,
}

#[cold]
fn above_watermark() -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        "the outbound buffer is above its high watermark: wait for on_writable",
    )
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

impl Inbound {
    /// Bytes buffered and not yet consumed.
    #[inline]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether nothing is buffered.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` buffered bytes (all of them if fewer, `usize::MAX` for
    /// all), contiguous, without consuming them.
    #[inline]
    pub fn peek(&mut self, n: usize) -> &[u8] {
        let bytes = self.ring.make_contiguous();
        &bytes[..n.min(bytes.len())]
    }

    /// Consumes and returns the first `n` buffered bytes (all of them if
    /// fewer, `usize::MAX` for all). The slice is valid until the next use of
    /// the buffer, which the borrow checker enforces.
    #[inline]
    pub fn next(&mut self, n: usize) -> &[u8] {
        self.ring.take_front(n)
    }

    /// Consumes up to `n` bytes; returns how many.
    #[inline]
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.ring.len());
        self.ring.discard(n);
        n
    }

    /// Copies buffered bytes into `buf` and consumes them; returns how many.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        self.ring.read(buf)
    }

    /// The buffered bytes as two slices (the second is empty unless they
    /// wrap around the ring), without consuming or moving them.
    #[inline]
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        self.ring.as_slices()
    }
}

impl Inbound {
    /// Decodes the next frame in place with one of the codec crate's
    /// decoders; `Ok(None)` until a whole frame is buffered. See
    /// [`Conn::decode`].
    ///
    /// # Errors
    ///
    /// The codec's error for bad input.
    pub fn decode<D: BufDecoder>(&mut self, codec: &mut D) -> Result<Option<D::Item>, D::Error> {
        // Contiguous first, so the codec decodes in place and never stages a
        // copy: the buffer's maximum (`Options::max_read_buffer`) is then
        // the bound on a frame, wherever the ring happened to wrap.
        self.ring.make_contiguous();
        codec.decode_buf(self)
    }
}

impl Inbound {
    /// One read from the socket into the ring. `Ok(0)` is end of stream.
    /// `WouldBlock` and a short read (on Linux, see
    /// [`AsyncFd::short_read`]) forget read readiness until the next edge.
    #[inline]
    pub(super) fn fill(&mut self, fd: &AsyncFd<Socket>) -> io::Result<usize> {
        loop {
            let (front, back) = self.ring.unfilled_slices(READ_CHUNK);
            let asked = front.len() + back.len();
            let sock = fd.get_ref();
            let got = if back.is_empty() {
                crate::sys::recv(sock, front)
            } else {
                (&*sock).read_vectored(&mut [IoSliceMut::new(front), IoSliceMut::new(back)])
            };
            match got {
                Ok(n) => {
                    self.ring.commit(n);
                    if n == 0 {
                        self.ring.give_back(); // end of stream: nothing more to hold
                    } else if n < asked {
                        fd.short_read();
                    }
                    return Ok(n);
                }
                Err(err) => {
                    self.ring.commit(0);
                    // Nothing came: an idle connection holds no buffer.
                    self.ring.give_back();
                    match err.kind() {
                        io::ErrorKind::Interrupted => continue,
                        io::ErrorKind::WouldBlock => fd.clear_read_ready(),
                        _ => {}
                    }
                    return Err(err);
                }
            }
        }
    }
}

impl Buf for Inbound {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.as_slices().0
    }

    fn advance(&mut self, cnt: usize) {
        assert!(
            cnt <= self.len(),
            "Inbound::advance: {cnt} bytes asked for, {} buffered",
            self.len()
        );
        self.discard(cnt);
    }
}

impl Outbound {
    /// Bytes queued and not yet sent.
    #[inline]
    pub fn len(&self) -> usize {
        self.core.ring.len() + self.queued
    }

    /// Whether everything written has been sent.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nothing beyond the ring, no refusal and no shutdown pending: the
    /// loop's short path after a callback applies.
    pub(super) fn is_plain(&self) -> bool {
        self.queued == 0 && !self.refused && !self.core.shutdown_requested()
    }

    /// Whether the outbound buffer is under its high watermark: writes are
    /// accepted.
    #[inline]
    pub fn is_writable(&self) -> bool {
        self.len() < self.high_watermark
    }

    /// The stream, if it may still be written: the socket has not failed
    /// and the write side is not shut down.
    #[inline]
    fn check_open(&self) -> io::Result<()> {
        if matches!(self.io, Io::Stream(_)) && self.core.is_open() {
            return Ok(());
        }
        Err(self.not_open())
    }

    /// Why [`check_open`](Self::check_open) refused.
    #[cold]
    fn not_open(&self) -> io::Error {
        if !matches!(self.io, Io::Stream(_)) {
            closed_error()
        } else {
            self.core.not_open()
        }
    }

    /// Whether a write may be queued now: the socket works, the write side
    /// is open, and the buffer is under the watermark (else the refusal is
    /// noted, for `on_writable`).
    #[inline]
    fn check_writable(&mut self) -> io::Result<()> {
        self.check_open()?;
        if !self.is_writable() {
            self.refused = true;
            return Err(above_watermark());
        }
        Ok(())
    }

    /// Copies `data` into the ring, and what does not fit into the queue.
    #[inline]
    fn queue_copy(&mut self, data: &[u8]) {
        let n = if self.queue.is_empty() {
            self.core.ring.write(data)
        } else {
            0
        };
        if n < data.len() {
            self.queued += data.len() - n;
            self.queue.push_back(Bytes::copy_from_slice(&data[n..]));
        }
    }

    /// Queues all of `data` and returns its length.
    ///
    /// # Errors
    ///
    /// `WouldBlock` (nothing queued) while the outbound buffer is above the
    /// [high watermark](super::Options::write_high_watermark): the loop
    /// calls [`on_writable`](super::EventHandler::on_writable) once it has
    /// drained. `BrokenPipe` after [`Conn::shutdown_write`], and the socket's
    /// error once a send has failed. For UDP: the error of `sendto`.
    #[inline]
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Io::Datagram { socket, peer } = &self.io {
            return socket.get_ref().send_to(data, peer);
        }
        self.check_writable()?;
        self.queue_copy(data);
        Ok(data.len())
    }

    /// Queues all of `bufs` in order (for UDP: sends them as one datagram)
    /// and returns their total length.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub fn writev(&mut self, bufs: &[&[u8]]) -> io::Result<usize> {
        if let Io::Datagram { socket, peer } = &self.io {
            let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            return socket.get_ref().send_to_vectored(&slices, peer);
        }
        self.check_writable()?;
        // Under the watermark when the call began: the whole batch goes.
        let mut total = 0;
        for buf in bufs {
            self.queue_copy(buf);
            total += buf.len();
        }
        Ok(total)
    }

    /// Queues `data` without copying it when the ring is full: what
    /// [`ConnHandle::async_write`] uses. Never refused for the watermark
    /// (the bytes are already in memory); reading pauses instead.
    pub(super) fn write_bytes(&mut self, mut data: Bytes) -> io::Result<usize> {
        if let Io::Datagram { socket, peer } = &self.io {
            return socket.get_ref().send_to(&data, peer);
        }
        self.check_open()?;
        let len = data.len();
        if self.queue.is_empty() {
            let n = self.core.ring.write(&data);
            data.advance(n);
        }
        if !data.is_empty() {
            self.queued += data.len();
            self.queue.push_back(data);
        }
        Ok(len)
    }

    /// Sends what is queued now, as far as the socket takes it.
    ///
    /// # Errors
    ///
    /// The send error (the connection is then closed by the loop).
    pub fn flush(&mut self) -> io::Result<()> {
        self.send().map(drop)
    }

    /// Sends the ring, refilling it from the queue; `Ok(true)` once all is
    /// sent (and the write side shut down if that was asked for),
    /// `Ok(false)` when the socket's buffer is full.
    #[inline]
    pub(super) fn send(&mut self) -> io::Result<bool> {
        let Io::Stream(fd) = &self.io else {
            return Ok(true);
        };
        // The usual case, in short: nothing queued behind the ring.
        if self.queue.is_empty() {
            if let Some(done) = self.core.send_short(&**fd) {
                return Ok(done);
            }
        }
        let (queue, queued) = (&mut self.queue, &mut self.queued);
        let sent = self.core.send_all(&**fd, |ring| {
            let mut moved = false;
            while let Some(front) = queue.front_mut() {
                let n = ring.write(front);
                *queued -= n;
                moved |= n > 0;
                if n == front.len() {
                    queue.pop_front();
                } else {
                    front.advance(n);
                    break;
                }
            }
            moved
        });
        if sent.is_err() {
            // Failed: what is queued can never be delivered.
            self.queue.clear();
            self.queued = 0;
        }
        sent
    }

    /// The stream socket, until the close.
    pub(super) fn stream_fd(&self) -> Option<&Rc<AsyncFd<Socket>>> {
        match &self.io {
            Io::Stream(fd) => Some(fd),
            _ => None,
        }
    }
}

impl Conn {
    /// The inbound and outbound buffers at once, for a callback that writes
    /// what it reads without copying it first.
    ///
    /// ```no_run
    /// # use runtime::net::engine::{Action, Conn};
    /// fn on_traffic(conn: &mut Conn) -> Action {
    ///     let (inbound, outbound) = conn.split();
    ///     let _ = outbound.write(inbound.next(usize::MAX));
    ///     Action::None
    /// }
    /// ```
    #[inline]
    pub fn split(&mut self) -> (&mut Inbound, &mut Outbound) {
        (&mut self.inbound, &mut self.outbound)
    }

    /// [`split`](Self::split), plus the [context](Self::set_context) if it
    /// is a `T`: for a callback that decodes with a codec kept in the
    /// context and writes replies at once.
    pub fn split_with_context<T: Any>(&mut self) -> (&mut Inbound, &mut Outbound, Option<&mut T>) {
        let context = self.context.as_mut().and_then(|c| c.downcast_mut());
        (&mut self.inbound, &mut self.outbound, context)
    }

    /// The inbound buffer.
    pub fn inbound(&mut self) -> &mut Inbound {
        &mut self.inbound
    }

    /// The outbound buffer.
    pub fn outbound(&mut self) -> &mut Outbound {
        &mut self.outbound
    }

    /// See [`Inbound::read`].
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        self.inbound.read(buf)
    }

    /// See [`Inbound::peek`].
    #[inline]
    pub fn peek(&mut self, n: usize) -> &[u8] {
        self.inbound.peek(n)
    }

    /// See [`Inbound::next`].
    #[inline]
    pub fn next(&mut self, n: usize) -> &[u8] {
        self.inbound.next(n)
    }

    /// See [`Inbound::discard`].
    #[inline]
    pub fn discard(&mut self, n: usize) -> usize {
        self.inbound.discard(n)
    }

    /// Bytes read from the socket and not yet consumed.
    #[inline]
    pub fn inbound_buffered(&self) -> usize {
        self.inbound.len()
    }

    /// Decodes the next frame straight from the inbound buffer with one of
    /// the codec crate's decoders; `Ok(None)` until a whole frame is there.
    ///
    /// # Errors
    ///
    /// The codec's error for bad input (close the connection then).
    pub fn decode<D: BufDecoder>(&mut self, codec: &mut D) -> Result<Option<D::Item>, D::Error> {
        self.inbound.decode(codec)
    }

    /// See [`Outbound::write`].
    ///
    /// # Errors
    ///
    /// As [`Outbound::write`].
    #[inline]
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.outbound.write(data)
    }

    /// See [`Outbound::writev`].
    ///
    /// # Errors
    ///
    /// As [`Outbound::write`].
    pub fn writev(&mut self, bufs: &[&[u8]]) -> io::Result<usize> {
        self.outbound.writev(bufs)
    }

    /// See [`Outbound::flush`].
    ///
    /// # Errors
    ///
    /// The send error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.outbound.flush()
    }

    /// Bytes written and not yet sent.
    #[inline]
    pub fn outbound_buffered(&self) -> usize {
        self.outbound.len()
    }

    /// Stores a value of any type with this connection, replacing the
    /// previous one.
    pub fn set_context<T: Any>(&mut self, value: T) {
        self.context = Some(Box::new(value));
    }

    /// The stored value, if there is one of type `T`.
    pub fn context<T: Any>(&self) -> Option<&T> {
        self.context.as_ref()?.downcast_ref()
    }

    /// The stored value, mutably, if there is one of type `T`.
    pub fn context_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.context.as_mut()?.downcast_mut()
    }

    /// Takes the stored value out, if it is of type `T`.
    pub fn take_context<T: Any>(&mut self) -> Option<T> {
        match self.context.take()?.downcast() {
            Ok(value) => Some(*value),
            Err(other) => {
                self.context = Some(other);
                None
            }
        }
    }

    /// The peer's address (for UDP: the datagram's sender). Use
    /// `as_socket()` for an IP address, `as_pathname()` for a Unix path.
    pub fn peer_addr(&self) -> SockAddr {
        match &self.peer {
            Peer::Ip(ip) => SockAddr::from(*ip),
            Peer::Other(addr) => (**addr).clone(),
        }
    }

    /// The local address of the socket.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`, or `NotConnected` after the close.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        self.socket()?.local_addr()
    }

    /// The socket, for any option not offered here.
    ///
    /// # Errors
    ///
    /// `NotConnected` after the close.
    pub fn socket(&self) -> io::Result<&Socket> {
        match &self.outbound.io {
            Io::Stream(fd) => Ok(fd.get_ref()),
            Io::Datagram { socket, .. } => Ok(socket.get_ref()),
            Io::Closed => Err(closed_error()),
        }
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket()?.set_tcp_nodelay(nodelay)
    }

    /// TCP keepalive probes; `None` turns them off.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_keepalive(&self, keepalive: Option<&TcpKeepalive>) -> io::Result<()> {
        let socket = self.socket()?;
        match keepalive {
            Some(params) => socket.set_tcp_keepalive(params),
            None => socket.set_keepalive(false),
        }
    }

    /// `SO_LINGER`.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.socket()?.set_linger(linger)
    }

    /// `SO_SNDBUF`.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.socket()?.set_send_buffer_size(size)
    }

    /// `SO_RCVBUF`.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.socket()?.set_recv_buffer_size(size)
    }

    /// Closes the connection once this callback returns: `on_close` runs,
    /// and what was written is still sent (up to the close deadline). For
    /// UDP, does nothing.
    pub fn close(&mut self) {
        self.close_requested = true;
    }

    /// Half-close: once everything written has been sent, shuts down the
    /// write side (the peer reads end of stream); reading goes on.
    pub fn shutdown_write(&mut self) {
        self.outbound.core.request_shutdown();
    }

    /// A handle for writing to, waking or closing this connection from any
    /// thread.
    pub fn handle(&mut self) -> ConnHandle {
        let closed = match &self.target {
            Target::Stream { .. } => {
                let closed = self.closed;
                Some(
                    self.closed_flag
                        .get_or_insert_with(|| Arc::new(AtomicBool::new(closed)))
                        .clone(),
                )
            }
            Target::Datagram { .. } => None,
        };
        ConnHandle::new(self.link.sender.clone(), self.target.clone(), closed)
    }

    /// Whether this is a UDP datagram rather than a stream connection.
    pub fn is_datagram(&self) -> bool {
        matches!(self.target, Target::Datagram { .. })
    }

    /// The index of the loop serving this connection.
    pub fn loop_index(&self) -> usize {
        self.link.index
    }
}

impl AsRawFd for Conn {
    /// The socket's fd (-1 after the close).
    fn as_raw_fd(&self) -> RawFd {
        self.socket().map_or(-1, |s| s.as_raw_fd())
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("inbound", &self.inbound.len())
            .field("outbound", &self.outbound.len())
            .field("loop", &self.link.index)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound").field("len", &self.len()).finish()
    }
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("len", &self.len())
            .finish()
    }
}
