//! `Conn`: one connection as a callback sees it. Its inbound and outbound
//! buffers, and the I/O they do, are in `buffers.rs`.

use std::any::Any;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use runtime_codec::BufDecoder;
use socket2::{SockAddr, Socket, TcpKeepalive};

use super::buffers::closed_error;
pub(super) use super::buffers::Io;
pub use super::buffers::{Inbound, Outbound};
use super::handle::{ConnHandle, LoopLink, Target};

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
            #[cfg(feature = "tls")]
            Io::Tls(fd, _) => Ok(fd.get_ref()),
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
    /// write side (the peer reads end of stream); reading goes on. On a
    /// TLS connection, `close_notify` is sent first.
    pub fn shutdown_write(&mut self) {
        #[cfg(feature = "tls")]
        if self.outbound.core.is_open() {
            self.outbound.close_notify();
        }
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
