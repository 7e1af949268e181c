//! The TLS session both faces share (feature `tls`): the async
//! [`TlsStream`](crate::tls::TlsStream) and the engine's TLS connections
//! drive their rustls connection through this, so the handshake, the
//! backpressure on decrypted bytes, the errors and the `close_notify` rules
//! are written once.
//!
//! Ciphertext comes in from the connection's inbound ring (a slice of it)
//! and goes out into its outbound ring, so the rings' bounds, the sends,
//! the stored errors and the half-close are the plain connection's
//! ([`super::Outbound`]). Plaintext stays in rustls until the reader takes
//! it: rustls decrypts in place and keeps what was decrypted, up to its
//! own bound ([`PLAINTEXT_LIMIT`]); past it, no more ciphertext is taken.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::buffer::RingBuffer;

/// Decrypted bytes rustls keeps for the reader before it stops taking
/// ciphertext: rustls's own default bound on received plaintext.
pub(crate) const PLAINTEXT_LIMIT: usize = 16 * 1024;

/// One TLS connection's state: a rustls connection, client or server side.
pub(crate) struct Session {
    conn: Connection,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handshaking", &self.conn.is_handshaking())
            .field("protocol", &self.conn.protocol_version())
            .finish_non_exhaustive()
    }
}

/// A TLS error (a bad record, a failed handshake, a certificate refused)
/// as the `io::Error` the connection reports: `InvalidData`, with rustls's
/// error inside.
#[cold]
pub(crate) fn tls_error(err: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

impl Session {
    /// The server side of a new connection.
    pub(crate) fn server(config: Arc<ServerConfig>) -> io::Result<Session> {
        let conn = ServerConnection::new(config).map_err(tls_error)?;
        Ok(Session { conn: conn.into() })
    }

    /// The client side of a new connection to `name`.
    pub(crate) fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Session> {
        let conn = ClientConnection::new(config, name).map_err(tls_error)?;
        Ok(Session { conn: conn.into() })
    }

    /// The rustls connection, for what it knows (ALPN, certificates,
    /// versions).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn is_server(&self) -> bool {
        matches!(self.conn, Connection::Server(_))
    }

    #[inline]
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Ciphertext is waiting to be moved to the transport.
    #[inline]
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Takes ciphertext from `input` and processes it, until `input` is
    /// used up, the decrypted bytes waiting for the reader reach
    /// [`PLAINTEXT_LIMIT`], or the peer's `close_notify` came. Returns how
    /// many bytes of `input` were taken: the caller discards them.
    ///
    /// # Errors
    ///
    /// A TLS error (`InvalidData`): the session is over, and the alert that
    /// tells the peer why waits in [`write_ciphertext`](Self::write_ciphertext).
    /// rustls reports the same error again at every later call.
    pub(crate) fn read_ciphertext(&mut self, input: &[u8]) -> io::Result<usize> {
        let mut rest = input;
        while !rest.is_empty() {
            match self.conn.read_tls(&mut rest) {
                // The peer's close_notify came: nothing after it is read.
                Ok(0) => break,
                Ok(_) => {}
                // Reading a slice fails only for rustls's own reasons: its
                // plaintext bound (backpressure, `Other`), or a record
                // larger than TLS allows (`InvalidData`).
                Err(err) if err.kind() == io::ErrorKind::Other => break,
                Err(err) => return Err(err),
            }
            let state = self.conn.process_new_packets().map_err(tls_error)?;
            if state.plaintext_bytes_to_read() >= PLAINTEXT_LIMIT {
                break;
            }
        }
        Ok(input.len() - rest.len())
    }

    /// The transport reached end of stream. Without the peer's
    /// `close_notify` first, the reader gets `UnexpectedEof` once it has
    /// read what was decrypted: a truncation is never taken for a clean end.
    pub(crate) fn read_eof(&mut self) {
        // An empty reader is the end of stream rustls watches for.
        let _ = self.conn.read_tls(&mut io::empty());
    }

    /// The decrypted bytes waiting for the reader (the first run of them).
    /// Empty once the peer closed cleanly (`close_notify`) and all was
    /// read.
    ///
    /// # Errors
    ///
    /// `WouldBlock` while nothing is decrypted and the session is open;
    /// `UnexpectedEof` after an end of stream without `close_notify`.
    #[inline]
    pub(crate) fn plaintext(&mut self) -> io::Result<&[u8]> {
        self.conn.reader().into_first_chunk()
    }

    /// The reader took `n` bytes of [`plaintext`](Self::plaintext).
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        io::BufRead::consume(&mut self.conn.reader(), n);
    }

    /// Moves as many decrypted bytes as fit into `dst`.
    pub(crate) fn read_plaintext(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        self.conn.reader().read(dst)
    }

    /// Encrypts `plain` (held until the handshake ends, if it has not).
    /// Returns how much was taken: less than all only when rustls's own
    /// bound on what waits to be sent is reached, which the callers keep
    /// from happening by moving ciphertext out after each call.
    #[inline]
    pub(crate) fn encrypt(&mut self, plain: &[u8]) -> usize {
        // rustls's writer fails only on a closed connection's state, which
        // it reports at the next read as well.
        self.conn.writer().write(plain).unwrap_or(0)
    }

    /// Encrypts every slice of `plain` in turn; returns the bytes taken.
    pub(crate) fn encrypt_vectored(&mut self, plain: &[IoSlice<'_>]) -> usize {
        self.conn.writer().write_vectored(plain).unwrap_or(0)
    }

    /// Lifts rustls's bound on what waits to be sent, for a caller that
    /// bounds it itself (the engine, over its outbound ring).
    pub(crate) fn unbound_sends(&mut self) {
        self.conn.set_buffer_limit(None);
    }

    /// Moves the ciphertext waiting to be sent into `to` (the transport's
    /// outbound side), until all is moved or `to` takes no more. Returns
    /// whether all was moved.
    ///
    /// # Errors
    ///
    /// `to`'s own (`WouldBlock` is not one: it returns `Ok(false)`).
    pub(crate) fn write_ciphertext(&mut self, to: &mut dyn Write) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(to) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) => return Err(err),
            }
        }
        Ok(true)
    }

    /// Moves the ciphertext waiting to be sent into `ring`, as much as its
    /// room allows. Returns whether all was moved.
    pub(crate) fn ciphertext_into(&mut self, ring: &mut RingBuffer) -> bool {
        // Writing into a ring never fails: a full ring takes 0 bytes.
        self.write_ciphertext(&mut RingWriter(ring))
            .unwrap_or(false)
    }

    /// Queues the `close_notify` alert: the peer reads a clean end of
    /// stream once it is sent. Later writes are refused by rustls.
    pub(crate) fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }
}

/// An outbound ring as an `io::Write` for rustls's `write_tls`: it takes
/// what fits.
struct RingWriter<'a>(&'a mut RingBuffer);

impl Write for RingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.0.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for buf in bufs {
            let n = self.0.write(buf);
            total += n;
            if n < buf.len() {
                break;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
