//! TLS on the engine's stream connections (feature `tls`), over the I/O
//! core's TLS session ([`crate::io::tls::Session`]), the one the async
//! streams use.
//!
//! The socket is read into a ciphertext ring (`TlsConn::records`), as a
//! plain connection's is read into its inbound ring; the session takes
//! records from it, and what it decrypts is moved into the `Conn`'s
//! inbound ring, where `on_traffic` finds it. What is written is encrypted
//! at once and its records go into the outbound ring (and queue), so the
//! outbound length, the high watermark and `on_writable` count ciphertext.
//! The plain paths tell a TLS connection apart by the check they already
//! make (`Io::Stream` or not), so they are not slowed by it.

use std::any::Any;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use runtime_executor::AsyncFd;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use socket2::Socket;

use super::buffers::{above_watermark, closed_error, fill};
use super::conn::{Conn, Io, Outbound};
use super::handle::Reply;
use super::stream_conn::{frame_too_large, ConnCell};
use super::{EventHandler, Options};
use crate::buffer::RingBuffer;
use crate::io::tls::Session;
use crate::io::{kept_ring, write_shut_down, DEFAULT_READ_BUFFER};

/// The most ciphertext read from the socket and not yet taken by the
/// session: four full records.
const RECORDS_MAX: usize = DEFAULT_READ_BUFFER;

/// The client side of a dial over TLS: the configuration and the name the
/// server is checked against (and asked for, as SNI).
pub(crate) struct ClientTls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

/// A `tls://host:port` address: the `tcp://` address to connect to, and
/// the TLS side of the dial (with [`Options::tls_client`]'s configuration,
/// and [`Options::tls_server_name`] or the host as the name). `None` for
/// any other address.
pub(crate) fn tls_dial(addr: &str, options: &Options) -> io::Result<Option<(String, ClientTls)>> {
    let Some(rest) = addr
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("tls://"))
        .map(|_| &addr[6..])
    else {
        return Ok(None);
    };
    let host = rest.rsplit_once(':').map_or(rest, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tls = client_tls(options, host)
        .map_err(|err| io::Error::new(err.kind(), format!("cannot dial `{addr}`: {err}")))?;
    Ok(Some((format!("tcp://{rest}"), tls)))
}

/// The client side of a TLS session with [`Options::tls_client`]'s
/// configuration, checking the server against [`Options::tls_server_name`]
/// or else `host`.
pub(crate) fn client_tls(options: &Options, host: &str) -> io::Result<ClientTls> {
    let Some(config) = options.tls_client.clone() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no TLS client configuration (Options::tls_client)",
        ));
    };
    let name = match &options.tls_server_name {
        Some(name) => name.clone(),
        None => ServerName::try_from(host.to_owned()).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{host}` is not a server name: {err}"),
            )
        })?,
    };
    Ok(ClientTls { config, name })
}

/// A TLS connection's state beside its socket: the session, the
/// ciphertext read and not yet taken, and what waits for the handshake's
/// end.
pub(crate) struct TlsConn {
    pub(super) session: Session,
    /// Ciphertext read from the socket, not yet taken by the session.
    records: RingBuffer,
    /// The socket reached end of stream (what `records` holds still counts).
    eof: bool,
    /// The session was told of the end of stream.
    eof_told: bool,
    /// The handshake is done and `on_open` ran.
    opened: bool,
    /// Closes the connection at the handshake timeout; aborted once the
    /// handshake is done.
    timer: Option<runtime_executor::JoinHandle<()>>,
    /// A dial's answer, once `on_open` has run (or the handshake failed).
    pub(super) reply: Option<Reply>,
}

/// What one [`TlsConn::decrypt`] did.
#[derive(Debug, Default)]
pub(super) struct Decrypted {
    /// Plaintext moved into the inbound ring.
    pub(super) moved: usize,
    /// The inbound ring is at its maximum with plaintext left.
    pub(super) full: bool,
    /// The peer's end: `Ok` for its `close_notify` (every byte before it
    /// delivered), `UnexpectedEof` for an end of stream without it.
    pub(super) end: Option<io::Result<()>>,
}

impl TlsConn {
    pub(super) fn new(session: Session) -> TlsConn {
        TlsConn {
            session,
            records: kept_ring(RECORDS_MAX),
            eof: false,
            eof_told: false,
            opened: false,
            timer: None,
            reply: None,
        }
    }

    /// Gives the session the ciphertext read and moves what it decrypts
    /// into `inbound`, until the ciphertext is used up, `inbound` is full,
    /// or the peer's end. What the session has to send meanwhile (its
    /// handshake flights, alerts) waits in it: see [`Outbound::move_records`].
    ///
    /// # Errors
    ///
    /// A TLS error (`InvalidData`): the alert telling the peer waits in the
    /// session.
    pub(super) fn decrypt(&mut self, inbound: &mut RingBuffer) -> io::Result<Decrypted> {
        let mut out = Decrypted::default();
        loop {
            if !self.session.is_handshaking() {
                loop {
                    match self.session.plaintext() {
                        Ok([]) => {
                            out.end = Some(Ok(()));
                            return Ok(out);
                        }
                        Ok(plain) => {
                            let len = plain.len();
                            let n = inbound.write(plain);
                            self.session.consume(n);
                            out.moved += n;
                            if n < len {
                                out.full = true;
                                return Ok(out);
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        Err(err) => {
                            out.end = Some(Err(err));
                            return Ok(out);
                        }
                    }
                }
            }
            if self.records.is_empty() {
                if self.eof && !self.eof_told {
                    // Only once every record read is in: the session then
                    // tells a truncation from a clean end.
                    self.eof_told = true;
                    self.session.read_eof();
                    continue;
                }
                return Ok(out);
            }
            let taken = self.session.read_ciphertext(self.records.as_slices().0)?;
            self.records.discard(taken);
            if taken == 0 {
                // The peer's close_notify came: nothing after it counts.
                return Ok(out);
            }
        }
    }

    /// One read from the socket into the ciphertext ring. Not generic and
    /// out of line, so it is compiled once in this crate: the plain read
    /// pass, generic over the handler and compiled in the caller's crate,
    /// stays the only user of the read there, and inlines it as before.
    #[inline(never)]
    fn read_records(&mut self, fd: &AsyncFd<Socket>) -> io::Result<usize> {
        fill(&mut self.records, fd)
    }

    /// Storage the idle sweep may give back.
    pub(super) fn give_back(&mut self) {
        self.records.give_back();
    }

    pub(super) fn holds_storage(&self) -> bool {
        self.records.capacity() > 0
    }
}

/// A connection's outbound ring and queue as an `io::Write` for rustls's
/// records: what the ring does not take is queued. Never refuses: the
/// high watermark is checked before rustls is given plaintext.
struct Records<'a> {
    ring: &'a mut RingBuffer,
    queue: &'a mut VecDeque<Bytes>,
    queued: &'a mut usize,
}

impl Write for Records<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = if self.queue.is_empty() {
            self.ring.write(buf)
        } else {
            0
        };
        if n < buf.len() {
            *self.queued += buf.len() - n;
            self.queue.push_back(Bytes::copy_from_slice(&buf[n..]));
        }
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for buf in bufs {
            total += self.write(buf)?;
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Outbound {
    pub(super) fn tls(&self) -> Option<&TlsConn> {
        match &self.io {
            Io::Tls(_, tls) => Some(tls),
            _ => None,
        }
    }

    pub(super) fn tls_mut(&mut self) -> Option<&mut TlsConn> {
        match &mut self.io {
            Io::Tls(_, tls) => Some(tls),
            _ => None,
        }
    }

    /// Moves the records the session has made (what was encrypted, a
    /// handshake flight, an alert) into the ring and queue, to be sent as a
    /// plain connection's bytes are.
    pub(super) fn move_records(&mut self) {
        let Outbound {
            io,
            core,
            queue,
            queued,
            ..
        } = self;
        let Io::Tls(_, tls) = io else {
            return;
        };
        // Into the ring while the queue is empty (the usual case: no copy
        // to a `Bytes`), the rest behind it.
        if queue.is_empty() && tls.session.ciphertext_into(&mut core.ring) {
            return;
        }
        if tls.session.wants_write() {
            let mut records = Records {
                ring: &mut core.ring,
                queue,
                queued,
            };
            // Writing into `Records` never fails.
            let _ = tls.session.write_ciphertext(&mut records);
        }
    }

    /// A write on a TLS connection: refused as a plain one is (closed,
    /// shut down, above the high watermark), else encrypted whole.
    pub(super) fn write_tls(&mut self, bufs: &[&[u8]]) -> io::Result<usize> {
        if !self.core.is_open() {
            return Err(self.core.not_open());
        }
        if !self.is_writable() {
            self.refused = true;
            return Err(above_watermark());
        }
        self.encrypt(bufs)
    }

    /// Encrypts `bufs` and moves the records out; returns the bytes taken.
    pub(super) fn encrypt(&mut self, bufs: &[&[u8]]) -> io::Result<usize> {
        let Io::Tls(_, tls) = &mut self.io else {
            return Err(closed_error());
        };
        let mut total = 0;
        let mut refused = false;
        for buf in bufs {
            let n = tls.session.encrypt(buf);
            total += n;
            if n < buf.len() {
                // Only after this side's close_notify.
                refused = true;
                break;
            }
        }
        self.move_records();
        if refused {
            return Err(write_shut_down());
        }
        Ok(total)
    }

    /// Queues the `close_notify` alert (once), for a clean close or a
    /// half-close: the peer reads a clean end once it is sent.
    pub(super) fn close_notify(&mut self) {
        if let Some(tls) = self.tls_mut() {
            tls.session.close_notify();
        }
        self.move_records();
    }
}

/// An error for a second party (a dial's reply) with the same kind and
/// message.
fn copy_error(err: &io::Error) -> io::Error {
    io::Error::new(err.kind(), err.to_string())
}

impl Conn {
    /// The TLS connection (`None` on a plain one): the protocol version,
    /// cipher suite, ALPN protocol, the peer's certificates, as rustls
    /// knows them.
    pub fn tls(&self) -> Option<&rustls::Connection> {
        self.outbound.tls().map(|tls| tls.session.connection())
    }

    /// The protocol chosen by ALPN (`b"h2"`, `b"http/1.1"`), if TLS
    /// negotiated one.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.tls()?.alpn_protocol()
    }

    /// On a TLS server's connection, the name the client asked for (SNI).
    pub fn server_name(&self) -> Option<&str> {
        match self.tls()? {
            rustls::Connection::Server(conn) => conn.server_name(),
            rustls::Connection::Client(_) => None,
        }
    }

    /// The certificate chain the TLS peer presented, leaf first: a client's
    /// (when the server asks for one), or the server's on a dialed
    /// connection.
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.tls()?.peer_certificates()
    }
}

impl<H: EventHandler> ConnCell<H> {
    /// Starts TLS on a connection just registered: `on_open` waits for the
    /// handshake's end (a dial's `reply` too); a failed or timed-out
    /// handshake goes to `on_close` alone, with its error.
    pub(super) fn start_tls(
        self: &Rc<Self>,
        session: io::Result<Session>,
        reply: Option<Reply>,
        context: Option<Box<dyn Any + Send>>,
    ) {
        let server = session.as_ref().is_ok_and(Session::is_server);
        let started = {
            let mut conn = self.conn.borrow_mut();
            if let Some(context) = context {
                conn.context = Some(context);
            }
            session.map(|mut session| {
                session.unbound_sends();
                let mut tls = Box::new(TlsConn::new(session));
                tls.reply = reply;
                let outbound = &mut conn.outbound;
                if let Io::Stream(fd) = std::mem::replace(&mut outbound.io, Io::Closed) {
                    outbound.io = Io::Tls(fd, tls);
                }
                // A client's hello.
                outbound.move_records();
            })
        };
        if let Err(err) = started {
            self.close(Some(err));
            return;
        }
        let weak = Rc::downgrade(self);
        let timeout = self.lp.options.tls_handshake_timeout;
        let timer = runtime_executor::spawn(async move {
            runtime_executor::time::sleep(timeout).await;
            if let Some(cell) = weak.upgrade() {
                cell.handshake_timed_out();
            }
        });
        if let Some(tls) = self.conn.borrow_mut().outbound.tls_mut() {
            tls.timer = Some(timer);
        }
        // A client sends its hello now. A server waits for the socket's
        // readiness rather than answering the hello inline: the answer
        // is the handshake's costly step, and made in the accept loop it
        // would hold every connection accepted after it.
        if self.send() && !server {
            self.tls_read_pass();
        }
    }

    fn handshake_timed_out(self: &Rc<Self>) {
        let handshaking = {
            let conn = self.conn.borrow();
            conn.outbound.tls().is_some_and(|tls| !tls.opened)
        };
        if handshaking && !self.stops.closed() {
            self.close(Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS: the handshake did not finish within Options::tls_handshake_timeout",
            )));
        }
    }

    /// What a closing TLS connection owes: its handshake timer stopped,
    /// and its dial's reply (the error), which the caller sends once
    /// `on_close` has run.
    pub(super) fn tls_closing(
        conn: &mut Conn,
        err: Option<&io::Error>,
    ) -> Option<(Reply, io::Error)> {
        let tls = conn.outbound.tls_mut()?;
        if let Some(timer) = tls.timer.take() {
            timer.abort();
        }
        if !tls.opened {
            match err {
                Some(err) => log::debug!("TLS handshake failed: {err}"),
                None => log::debug!("TLS: closed during the handshake"),
            }
        }
        let reply = tls.reply.take()?;
        Some((reply, err.map_or_else(closed_error, copy_error)))
    }

    /// The read pass of a TLS connection: reads ciphertext (up to the
    /// loop's budget), drives the handshake, and hands what was decrypted
    /// to `on_traffic`.
    pub(super) fn tls_read_pass(self: &Rc<Self>) {
        let lp = &*self.lp;
        let mut budget = lp.options.edge_triggered_io_chunk;
        loop {
            if !self.stops.none() {
                return;
            }
            let mut conn = self.conn.borrow_mut();
            let Conn {
                inbound, outbound, ..
            } = &mut *conn;
            let Io::Tls(fd, tls) = &mut outbound.io else {
                return;
            };
            let mut got = 0;
            let mut failed = None;
            while got < budget && !tls.eof && fd.is_read_ready() {
                if tls.records.len() >= tls.records.max_capacity() {
                    break;
                }
                match tls.read_records(fd) {
                    Ok(0) => tls.eof = true,
                    Ok(n) => got += n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
            let ready = fd.is_read_ready() && !tls.eof;
            budget = budget.saturating_sub(got);
            let was_open = tls.opened;
            let decrypted = tls.decrypt(&mut inbound.ring);
            let handshaking = tls.session.is_handshaking();
            let eof = tls.eof;
            let opening = !was_open && !handshaking;
            let reply = if opening {
                tls.opened = true;
                if let Some(timer) = tls.timer.take() {
                    timer.abort();
                }
                tls.reply.take()
            } else {
                None
            };
            // Handshake flights, alerts, session tickets: out first.
            outbound.move_records();
            drop(conn);
            if got > 0 {
                self.last_active.set(lp.epoch.get());
                self.idle.touch();
            }
            let step = match decrypted {
                Err(err) => {
                    self.close(Some(err));
                    return;
                }
                Ok(step) => step,
            };
            if handshaking {
                if let Some(err) = failed {
                    self.close(Some(err));
                    return;
                }
                if eof {
                    self.close(Some(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "TLS: the peer closed the connection during the handshake",
                    )));
                    return;
                }
                if !self.send() || !ready {
                    return;
                }
                if budget == 0 {
                    runtime_executor::defer(self.clone());
                    return;
                }
                continue;
            }
            if opening {
                // The plaintext that came with the handshake's last flight
                // is handed over at once; then the session tickets and the
                // greeting leave with the first reply, in one send.
                let stored = !self.conn.borrow().inbound.is_empty();
                if stored {
                    if !self.opened_unsent(reply) || !self.tls_traffic() {
                        return;
                    }
                } else if !self.opened(reply, None) {
                    return;
                }
            } else if step.moved > 0 {
                if !self.tls_traffic() {
                    return;
                }
            } else if !self.send() {
                return;
            }
            // A read error after what was decrypted before it is delivered,
            // as on a plain connection.
            if let Some(err) = failed {
                self.close(Some(err));
                return;
            }
            match step.end {
                Some(Ok(())) if lp.options.half_close => {
                    // The peer's close_notify: nothing more to read, and
                    // this side may still write until it closes.
                    self.stops.set_read_done();
                    return;
                }
                Some(Ok(())) => {
                    self.close(None);
                    return;
                }
                Some(Err(err)) => {
                    self.close(Some(err));
                    return;
                }
                None => {}
            }
            if self.stops.paused() || self.stops.closed() {
                return;
            }
            if step.full && self.conn.borrow().inbound.len() >= lp.options.max_read_buffer {
                // As on a plain connection: the frame can never fit.
                self.close(Some(frame_too_large(lp.options.max_read_buffer)));
                return;
            }
            if !ready && !step.full {
                return;
            }
            if budget == 0 {
                runtime_executor::defer(self.clone());
                return;
            }
        }
    }

    /// `on_traffic` for decrypted bytes, with the first-frame deadline's
    /// bookkeeping of a plain read pass; `false` if now closed.
    fn tls_traffic(self: &Rc<Self>) -> bool {
        let (before, sent_before) = {
            let conn = self.conn.borrow();
            (conn.inbound.len(), conn.outbound.len())
        };
        let action = {
            let mut handler = self.lp.handler.borrow_mut();
            let mut conn = self.conn.borrow_mut();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handler.on_traffic(&mut conn)
            }))
        };
        if self.first_frame_due.get() != 0 {
            // The handler took a frame or answered (what the handshake
            // queued, such as the tickets, was there before).
            let conn = self.conn.borrow();
            if conn.inbound.len() < before || conn.outbound.len() > sent_before {
                self.first_frame_due.set(0);
            }
        }
        self.after_callback("on_traffic", action)
    }
}

impl<H: EventHandler> ConnCell<H> {
    /// Starts a TLS session on a just registered connection if it is one:
    /// a dial's `client` side, or the server side with [`Options::tls`].
    /// `Err` gives the arguments back for a plain connection.
    #[allow(clippy::type_complexity)]
    pub(super) fn maybe_start_tls(
        self: &Rc<Self>,
        client: Option<ClientTls>,
        reply: Option<Reply>,
        context: Option<Box<dyn Any + Send>>,
    ) -> Result<(), (Option<Reply>, Option<Box<dyn Any + Send>>)> {
        let session = match client {
            Some(ClientTls { config, name }) => Session::client(config, name),
            None => match &self.lp.options.tls {
                Some(config) => Session::server(config.clone()),
                None => return Err((reply, context)),
            },
        };
        self.start_tls(session, reply, context);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The engine's decrypt step against a rustls client in memory: the
    //! ciphertext ring, the session and the inbound ring as a connection
    //! drives them, with the input cut where a socket could cut it.

    use super::*;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::{ClientConnection, RootCertStore, ServerConfig};

    fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let server = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let client = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// The server's outgoing records, as the peer reads them.
    fn server_output(server: &mut TlsConn) -> Vec<u8> {
        let mut out = Vec::new();
        server.session.write_ciphertext(&mut out).unwrap();
        out
    }

    /// A server `TlsConn` and a rustls client with the handshake done.
    fn connected() -> (TlsConn, ClientConnection, RingBuffer) {
        let (server_config, client_config) = configs();
        let mut server = TlsConn::new(Session::server(server_config).unwrap());
        server.session.unbound_sends();
        let name = ServerName::try_from("localhost").unwrap();
        let mut client = ClientConnection::new(client_config, name).unwrap();
        let mut inbound = kept_ring(1 << 20);
        for _ in 0..10 {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.records.write(&wire);
            server.decrypt(&mut inbound).unwrap();
            let back = server_output(&mut server);
            client.read_tls(&mut &back[..]).unwrap();
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.session.is_handshaking() {
                return (server, client, inbound);
            }
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn tls_costs_a_plain_connection_no_memory() {
        // The TLS variant is no larger than the datagram one: a plain
        // connection's `Io` is three words, with the feature or without.
        assert_eq!(std::mem::size_of::<Io>(), 3 * std::mem::size_of::<usize>());
    }

    #[test]
    fn the_handshake_timeout_is_10_s_unless_told() {
        assert_eq!(
            Options::new().tls_handshake_timeout,
            std::time::Duration::from_secs(10)
        );
        let options = Options::new().tls_handshake_timeout(std::time::Duration::from_secs(3));
        assert_eq!(
            options.tls_handshake_timeout,
            std::time::Duration::from_secs(3)
        );
    }

    #[test]
    fn tls_addresses_name_the_server_by_their_host_or_the_option() {
        let (_, client) = configs();
        let options = Options::new().tls_client(client);
        let (tcp, tls) = tls_dial("TLS://localhost:8443", &options).unwrap().unwrap();
        assert_eq!(tcp, "tcp://localhost:8443");
        assert_eq!(tls.name, ServerName::try_from("localhost").unwrap());
        let (_, tls) = tls_dial("tls://[::1]:443", &options).unwrap().unwrap();
        assert_eq!(tls.name, ServerName::try_from("::1").unwrap());
        let named = options.tls_server_name(ServerName::try_from("example.com").unwrap());
        let (_, tls) = tls_dial("tls://127.0.0.1:443", &named).unwrap().unwrap();
        assert_eq!(tls.name, ServerName::try_from("example.com").unwrap());
        assert!(tls_dial("tcp://127.0.0.1:443", &named).unwrap().is_none());
        let err = tls_dial("tls://127.0.0.1:443", &Options::new())
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_16k_record_split_at_every_offset_decrypts_whole() {
        let (mut server, mut client, mut inbound) = connected();
        let plain: Vec<u8> = (0..16 * 1024).map(|i| (i * 7 + i / 256) as u8).collect();
        client.writer().write_all(&plain).unwrap();
        let mut record = Vec::new();
        client.write_tls(&mut record).unwrap();
        assert!(record.len() > plain.len(), "one full record");
        // Each offset: the same plaintext in a fresh record (a new
        // sequence number), cut in two there.
        for cut in 0..=record.len() {
            if cut > 0 {
                client.writer().write_all(&plain).unwrap();
                record.clear();
                client.write_tls(&mut record).unwrap();
            }
            server.records.write(&record[..cut]);
            let first = server.decrypt(&mut inbound).unwrap();
            assert_eq!(
                first.moved,
                if cut == record.len() { plain.len() } else { 0 }
            );
            server.records.write(&record[cut..]);
            server.decrypt(&mut inbound).unwrap();
            assert_eq!(inbound.len(), plain.len(), "cut at {cut}");
            let mut got = vec![0; plain.len()];
            inbound.read(&mut got);
            assert!(got == plain, "cut at {cut}: the bytes differ");
            assert!(server.records.is_empty());
        }
    }

    #[test]
    fn garbage_instead_of_a_client_hello_is_invalid_data_with_an_alert() {
        let (server_config, _) = configs();
        let mut server = TlsConn::new(Session::server(server_config).unwrap());
        let mut inbound = kept_ring(1 << 16);
        server
            .records
            .write(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
        let err = server.decrypt(&mut inbound).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(inbound.is_empty());
        assert!(!server_output(&mut server).is_empty(), "an alert to send");
    }

    #[test]
    fn a_truncated_record_then_eof_is_unexpected_eof() {
        let (mut server, mut client, mut inbound) = connected();
        client.writer().write_all(b"hello").unwrap();
        let mut record = Vec::new();
        client.write_tls(&mut record).unwrap();
        server.records.write(&record[..record.len() - 3]);
        assert!(server.decrypt(&mut inbound).unwrap().end.is_none());
        server.eof = true;
        let step = server.decrypt(&mut inbound).unwrap();
        let err = step.end.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(inbound.is_empty(), "nothing of the cut record");
    }

    #[test]
    fn close_notify_is_a_clean_end_and_eof_without_it_is_not() {
        let (mut server, mut client, mut inbound) = connected();
        client.writer().write_all(b"last words").unwrap();
        client.send_close_notify();
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        server.records.write(&wire);
        let step = server.decrypt(&mut inbound).unwrap();
        assert_eq!(step.moved, 10);
        assert!(matches!(step.end, Some(Ok(()))));

        let (mut server, mut client, mut inbound) = connected();
        client.writer().write_all(b"last words").unwrap();
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        server.records.write(&wire);
        server.eof = true;
        let step = server.decrypt(&mut inbound).unwrap();
        assert_eq!(step.moved, 10, "what came is delivered first");
        let err = step.end.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_full_inbound_ring_stops_decrypting_and_keeps_the_rest() {
        let (mut server, mut client, _) = connected();
        let mut inbound = kept_ring(4096);
        let plain = vec![7u8; 40_000];
        client.writer().write_all(&plain).unwrap();
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        server.records.write(&wire);
        let mut total = 0;
        loop {
            let step = server.decrypt(&mut inbound).unwrap();
            assert!(inbound.len() <= 4096, "bounded by the inbound ring");
            total += inbound.len();
            inbound.clear();
            if !step.full {
                break;
            }
        }
        assert_eq!(total, plain.len());
    }
}
