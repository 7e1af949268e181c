//! [`TlsStream`]: a stream (a [`TcpStream`](crate::TcpStream), a
//! [`UnixStream`](crate::unix::UnixStream)) after a TLS handshake.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};
use rustls::pki_types::CertificateDer;
use rustls::{Connection, HandshakeKind, ProtocolVersion};

use crate::io::{tls::Session, write_shut_down};

/// A TLS connection over a stream: what is written is encrypted, what is
/// read was decrypted. It has the plain streams' traits (futures-io's
/// `AsyncRead`, `AsyncBufRead`, `AsyncWrite`; tokio's with the feature
/// `tokio-io`, hyper's with `hyper`), and [`into_split`](Self::into_split).
///
/// Made by [`TlsAcceptor::accept`](super::TlsAcceptor::accept) (server) and
/// [`TlsConnector::connect`](super::TlsConnector::connect) (client), once the
/// handshake is done.
///
/// Closing (`close().await`, tokio's `shutdown`) sends TLS's `close_notify`
/// and then half-closes the stream. A peer that ends the stream without
/// `close_notify` is read as an error (`UnexpectedEof`), never as a clean end:
/// a truncation attack cannot pass for the end of a message.
///
/// Ciphertext goes through the stream's own buffers: a read takes records
/// from its inbound ring, a write puts them in its outbound ring, so the
/// stream's bounds, deferred sends and backpressure hold over ciphertext.
///
/// # Examples
///
/// See [`TlsAcceptor`](super::TlsAcceptor).
pub struct TlsStream<IO: AsyncWrite + Unpin = crate::TcpStream> {
    io: IO,
    session: Session,
    close_notify_sent: bool,
}

impl<IO: AsyncWrite + Unpin> std::fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncWrite + Unpin> TlsStream<IO> {
    pub(super) fn new(io: IO, session: Session) -> Self {
        TlsStream {
            io,
            session,
            close_notify_sent: false,
        }
    }

    /// The stream underneath. Reading or writing it directly breaks the TLS
    /// session.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The stream underneath, mutably (for socket options).
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// The rustls connection: versions, cipher suite, key material.
    pub fn connection(&self) -> &Connection {
        self.session.connection()
    }

    /// The certificate chain the peer presented, leaf first: the server's,
    /// or on a server asking for client certificates the client's.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.connection().peer_certificates()
    }

    /// The protocol chosen by ALPN (`b"h2"`, `b"http/1.1"`), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.connection().alpn_protocol()
    }

    /// On the server side, the name the client asked for (SNI). `None` on
    /// the client side, and when the client sent none.
    pub fn server_name(&self) -> Option<&str> {
        match self.connection() {
            Connection::Server(conn) => conn.server_name(),
            Connection::Client(_) => None,
        }
    }

    /// Whether the handshake was a full one or resumed a session.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.connection().handshake_kind()
    }

    /// The TLS version in use.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.connection().protocol_version()
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Moves the ciphertext waiting in rustls into the stream's outbound
    /// side. `Pending` (with `cx` registered) while the stream is full.
    pub(super) fn poll_send_ciphertext(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut to = IoWriter {
            io: &mut self.io,
            cx,
        };
        match self.session.write_ciphertext(&mut to) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    /// Sends the ciphertext waiting as far as the stream takes it now; the
    /// rest waits in rustls for the next write, flush or read.
    fn try_send(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Poll::Ready(sent) = self.poll_send_ciphertext(cx) {
            sent?;
            if let Poll::Ready(Err(err)) = Pin::new(&mut self.io).poll_flush(cx) {
                return Err(err);
            }
        }
        Ok(())
    }

    /// Sends the ciphertext waiting (an alert, say) as far as the stream
    /// takes it, without waiting: the connection is failing anyway.
    fn send_alert(&mut self, cx: &mut Context<'_>) {
        if self.poll_send_ciphertext(cx).is_ready() {
            let _ = Pin::new(&mut self.io).poll_flush(cx);
        }
    }

    /// Takes ciphertext from the stream until there are decrypted bytes to
    /// read, the peer closed (cleanly or not), or a TLS error. Ciphertext
    /// rustls has to send meanwhile (alerts, key updates) goes out through
    /// `writer`'s context: the write half's, when split, so the read half
    /// never takes its place at the stream's write side.
    fn poll_decrypted(
        &mut self,
        cx: &mut Context<'_>,
        writer: Option<&Waker>,
    ) -> Poll<io::Result<()>> {
        loop {
            match self.session.plaintext() {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
            if self.session.wants_write() {
                match writer {
                    Some(waker) => self.try_send(&mut Context::from_waker(waker))?,
                    None => self.try_send(cx)?,
                }
            }
            let input = ready!(Pin::new(&mut self.io).poll_fill_buf(cx))?;
            if input.is_empty() {
                self.session.read_eof();
                continue;
            }
            match self.session.read_ciphertext(input) {
                // Nothing taken: rustls holds the peer's `close_notify` or
                // a full plaintext buffer, which the loop's first check
                // returns; with neither, looping again would spin.
                Ok(0)
                    if self
                        .session
                        .plaintext()
                        .is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock) =>
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "TLS: the peer's records could not be taken",
                    )));
                }
                Ok(n) => Pin::new(&mut self.io).consume(n),
                Err(err) => {
                    self.send_alert(cx);
                    return Poll::Ready(Err(err));
                }
            }
        }
    }

    /// Drives the handshake to its end: the ciphertext each step makes goes
    /// out, and the peer's comes in. Ready once the handshake is done and
    /// its last flight is handed to the stream.
    pub(super) fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_send_ciphertext(cx))?;
            if !self.session.is_handshaking() {
                if let Connection::Server(_) = self.session.connection() {
                    // The server's last flight is its session tickets,
                    // which no one waits for: they leave with the first
                    // reply (the stream sends what a poll wrote when the
                    // poll returns), one send fewer per connection.
                    return Poll::Ready(Ok(()));
                }
                // The client's Finished: the server waits for it.
                return Pin::new(&mut self.io).poll_flush(cx);
            }
            // Our flight goes to the peer before we wait for its answer.
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            let input = ready!(Pin::new(&mut self.io).poll_fill_buf(cx))?;
            if input.is_empty() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "TLS: the peer closed the connection during the handshake",
                )));
            }
            match self.session.read_ciphertext(input) {
                Ok(n) => Pin::new(&mut self.io).consume(n),
                Err(err) => {
                    self.send_alert(cx);
                    return Poll::Ready(Err(err));
                }
            }
        }
    }

    pub(super) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        writer: Option<&Waker>,
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(self.poll_decrypted(cx, writer))?;
        // Decrypted bytes, or the clean end (`Ok(0)`).
        Poll::Ready(self.session.read_plaintext(buf))
    }

    pub(super) fn poll_fill_buf_with(
        &mut self,
        cx: &mut Context<'_>,
        writer: Option<&Waker>,
    ) -> Poll<io::Result<&[u8]>> {
        ready!(self.poll_decrypted(cx, writer))?;
        Poll::Ready(self.session.plaintext())
    }

    pub(super) fn consume_plaintext(&mut self, n: usize) {
        self.session.consume(n);
    }

    /// Encrypts what `encrypt` gives rustls and moves it to the stream.
    /// What waits from an earlier write goes first: while the stream is
    /// full, nothing more is taken, so the stream's bound holds over
    /// ciphertext.
    pub(super) fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        encrypt: impl FnOnce(&mut Session) -> usize,
    ) -> Poll<io::Result<usize>> {
        if self.close_notify_sent {
            return Poll::Ready(Err(write_shut_down()));
        }
        ready!(self.poll_send_ciphertext(cx))?;
        let n = encrypt(&mut self.session);
        // What does not fit now goes at the next write, flush or close.
        if let Poll::Ready(Err(err)) = self.poll_send_ciphertext(cx) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(n))
    }

    pub(super) fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send_ciphertext(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Sends `close_notify`, then half-closes the stream.
    pub(super) fn poll_close_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.close_notify_sent {
            self.session.close_notify();
            self.close_notify_sent = true;
        }
        ready!(self.poll_send_ciphertext(cx))?;
        Pin::new(&mut self.io).poll_close(cx)
    }
}

/// Ciphertext rustls still holds (the last write's, when the stream was
/// full) goes to the stream if it has room: the stream then delivers it as
/// it delivers its own bytes after a drop.
impl<IO: AsyncWrite + Unpin> Drop for TlsStream<IO> {
    fn drop(&mut self) {
        if self.session.wants_write() {
            let mut cx = Context::from_waker(Waker::noop());
            let mut to = IoWriter {
                io: &mut self.io,
                cx: &mut cx,
            };
            let _ = self.session.write_ciphertext(&mut to);
        }
    }
}

/// The stream's outbound side as an `io::Write` for rustls's `write_tls`:
/// `Pending` is `WouldBlock`, with the context's waker registered.
struct IoWriter<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncWrite + Unpin> io::Write for IoWriter<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(Ok(0)) if !buf.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(Ok(0)) if bufs.iter().any(|b| !b.is_empty()) => {
                Err(io::ErrorKind::WriteZero.into())
            }
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_with(cx, buf, None)
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> AsyncBufRead for TlsStream<IO> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_buf_with(cx, None)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_plaintext(amt);
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |session| session.encrypt(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |session| session.encrypt_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_tls(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close_tls(cx)
    }
}
