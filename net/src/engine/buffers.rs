//! A connection's inbound and outbound buffers (`Inbound`, `Outbound`):
//! the I/O `Conn` delegates to. The outbound side is the I/O core's
//! ([`crate::io::Outbound`]) with the engine's queue of `Bytes` and its high
//! watermark on top.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::rc::Rc;

use bytes::{Buf, Bytes};
use runtime_codec::BufDecoder;
use runtime_executor::AsyncFd;
use socket2::{SockAddr, Socket};

use crate::buffer::RingBuffer;
use crate::io::{read_into, Filled};

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
    /// A TLS connection: the socket, and the session with the ciphertext
    /// read and not yet decrypted. Boxed, so plain connections do not pay
    /// for it; a variant of its own, so the plain paths tell it apart with
    /// the check they already make for datagrams.
    #[cfg(feature = "tls")]
    Tls(Rc<AsyncFd<Socket>>, Box<super::tls::TlsConn>),
    /// Taken by the close: the drain owns the socket now.
    Closed,
}

#[cold]
pub(super) fn above_watermark() -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        "the outbound buffer is above its high watermark: wait for on_writable",
    )
}

pub(super) fn closed_error() -> io::Error {
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
    /// [`Conn::decode`](super::Conn::decode).
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
    /// [`AsyncFd::short_read`]) forget read readiness until the next edge;
    /// after `Interrupted` (a signal), the caller reads again.
    #[inline(always)]
    pub(super) fn fill_once(&mut self, fd: &AsyncFd<Socket>) -> io::Result<usize> {
        read_once(&mut self.ring, fd)
    }
}

/// See [`Inbound::fill_once`]. Inlined, and with no loop of its own: the
/// read of every readable event.
#[inline(always)]
fn read_once(ring: &mut RingBuffer, fd: &AsyncFd<Socket>) -> io::Result<usize> {
    let Filled { result, drained } = read_into(ring, fd.get_ref());
    if drained {
        fd.short_read();
    }
    if let Err(err) = &result {
        if err.kind() == io::ErrorKind::WouldBlock {
            fd.clear_read_ready();
        }
    }
    result
}

/// One read from the socket into `ring` (a TLS connection's ciphertext
/// ring), again after a signal: see [`Inbound::fill_once`].
#[cfg(feature = "tls")]
#[inline(always)]
pub(super) fn fill(ring: &mut RingBuffer, fd: &AsyncFd<Socket>) -> io::Result<usize> {
    loop {
        match read_once(ring, fd) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
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

    /// The send after a callback, in the usual case: a plain stream, open,
    /// nothing queued beyond the ring, no refused write, and a ring whose
    /// bytes do not wrap (see [`crate::io::Outbound::send_short`]).
    /// `Some(true)` once all is sent, `Some(false)` when the socket's buffer
    /// is full; `None` for anything else, which the general
    /// [`send`](Self::send) handles (and reports).
    #[inline(always)]
    pub(super) fn send_plain(&mut self) -> Option<bool> {
        let Io::Stream(fd) = &self.io else {
            return None;
        };
        if self.queued != 0 || self.refused {
            return None;
        }
        self.core.send_short(&**fd)
    }

    /// Bytes wait, or a write was refused: a writable socket has work.
    #[inline]
    pub(super) fn owes_flush(&self) -> bool {
        !self.is_empty() || self.refused
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
        match self.io {
            Io::Stream(_) => self.core.not_open(),
            #[cfg(feature = "tls")]
            Io::Tls(..) => self.core.not_open(),
            _ => closed_error(),
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

    /// [`write`](Self::write) on anything but a plain stream: a datagram,
    /// a TLS connection, a closed one. Out of line, so the plain write
    /// keeps its one check and stays small enough to inline.
    #[inline(never)]
    fn write_other(&mut self, data: &[u8]) -> io::Result<usize> {
        match &self.io {
            Io::Datagram { socket, peer } => socket.get_ref().send_to(data, peer),
            #[cfg(feature = "tls")]
            Io::Tls(..) => self.write_tls(&[data]),
            _ => Err(self.not_open()),
        }
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
            self.queue_rest(&data[n..]);
        }
    }

    /// Queues a copy of what the ring did not take. Out of line, so a
    /// callback's write is small enough to inline.
    #[cold]
    #[inline(never)]
    fn queue_rest(&mut self, rest: &[u8]) {
        self.queued += rest.len();
        self.queue.push_back(Bytes::copy_from_slice(rest));
    }

    /// Queues all of `data` and returns its length.
    ///
    /// # Errors
    ///
    /// `WouldBlock` (nothing queued) while the outbound buffer is above the
    /// [high watermark](super::Options::write_high_watermark): the loop
    /// calls [`on_writable`](super::EventHandler::on_writable) once it has
    /// drained. `BrokenPipe` after [`Conn::shutdown_write`](super::Conn::shutdown_write), and the socket's
    /// error once a send has failed. For UDP: the error of `sendto`.
    #[inline]
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !matches!(self.io, Io::Stream(_)) {
            return self.write_other(data);
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
        #[cfg(feature = "tls")]
        if let Io::Tls(..) = self.io {
            return self.write_tls(bufs);
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
        #[cfg(feature = "tls")]
        if let Io::Tls(..) = self.io {
            // Encrypted, so copied (by rustls) whatever it is; bounded by
            // the callers, as plain async writes are.
            if !self.core.is_open() {
                return Err(self.core.not_open());
            }
            return self.encrypt(&[&data]);
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
    ///
    /// Inlined: the read pass sends after every `on_traffic`.
    #[inline(always)]
    pub(super) fn send(&mut self) -> io::Result<bool> {
        let Io::Stream(fd) = &self.io else {
            return self.send_other();
        };
        // The usual case, in short: nothing queued behind the ring.
        if self.queue.is_empty() {
            if let Some(done) = self.core.send_short(&**fd) {
                return Ok(done);
            }
        }
        self.send_queued()
    }

    /// [`send`](Self::send) on anything but a plain stream: a TLS
    /// connection's records go out as a plain connection's bytes do.
    #[cold]
    fn send_other(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Io::Tls(..) = self.io {
            return self.send_queued();
        }
        Ok(true)
    }

    /// The general send: the ring, refilled from the queue.
    fn send_queued(&mut self) -> io::Result<bool> {
        let fd = match &self.io {
            Io::Stream(fd) => fd,
            #[cfg(feature = "tls")]
            Io::Tls(fd, _) => fd,
            _ => return Ok(true),
        };
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

    /// The plain (not TLS) stream socket, until the close.
    #[inline]
    pub(super) fn stream_fd(&self) -> Option<&Rc<AsyncFd<Socket>>> {
        match &self.io {
            Io::Stream(fd) => Some(fd),
            _ => None,
        }
    }

    /// The stream socket, plain or TLS, until the close.
    pub(super) fn socket_fd(&self) -> Option<&Rc<AsyncFd<Socket>>> {
        match &self.io {
            Io::Stream(fd) => Some(fd),
            #[cfg(feature = "tls")]
            Io::Tls(fd, _) => Some(fd),
            _ => None,
        }
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
