//! TLS in the callback engine (`Options::tls`, `Client` dialing
//! `tls://`): the handshake and a byte-exact echo, bad input on one
//! connection (garbage, a truncated record, a stalled handshake, one
//! trickled a byte at a time, a renegotiation attempt, bytes after
//! `close_notify`), `close_notify` against truncation, the high
//! watermark over ciphertext, and the engine's client against both faces'
//! servers. Real sockets on 127.0.0.1; certificates made by each test.

#![cfg(feature = "tls")]

mod engine_util;
mod util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use engine_util::{
    assert_bytes, pattern, socket_addr, tcp, wait_until, CloseLog, Count, Hooks, IO_TIMEOUT, WAIT,
};
use runtime_net::engine::{Action, Client, Conn, Engine, Options};
use runtime_net::tls::rustls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

/// A self-signed certificate for `localhost` and 127.0.0.1, and the
/// configurations that use it.
struct Certs {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Certs {
    fn new() -> Certs {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        Certs {
            cert: cert.cert.der().clone(),
            key: cert.signing_key.serialize_der(),
        }
    }

    fn server(&self) -> Arc<ServerConfig> {
        let mut config = self.server_builder(rustls::ServerConfig::builder());
        config.alpn_protocols = vec![b"echo".to_vec()];
        Arc::new(config)
    }

    fn server_builder(
        &self,
        builder: rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>,
    ) -> ServerConfig {
        builder
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone().into()),
            )
            .unwrap()
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        roots
    }

    fn client(&self) -> Arc<ClientConfig> {
        let mut config = ClientConfig::builder()
            .with_root_certificates(self.roots())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"echo".to_vec()];
        Arc::new(config)
    }
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// A blocking rustls client over a std socket.
type TlsPeer = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `engine` and runs the handshake to its end.
fn tls_connect(engine: &Engine, config: Arc<ClientConfig>) -> TlsPeer {
    handshake(raw_connect(engine), config)
}

/// [`tls_connect`] from a socket with 64 KiB kernel buffers, so that a
/// peer that does not read fills them soon.
fn tls_connect_small(engine: &Engine, config: Arc<ClientConfig>) -> TlsPeer {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(64 * 1024).unwrap();
    sock.set_send_buffer_size(64 * 1024).unwrap();
    sock.connect(&socket_addr(&engine.addrs()[0]).into())
        .expect("connect");
    let sock = TcpStream::from(sock);
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    handshake(sock, config)
}

fn handshake(sock: TcpStream, config: Arc<ClientConfig>) -> TlsPeer {
    let conn = ClientConnection::new(config, localhost()).unwrap();
    let mut peer = StreamOwned::new(conn, sock);
    while peer.conn.is_handshaking() {
        peer.conn
            .complete_io(&mut peer.sock)
            .expect("the handshake");
    }
    peer
}

fn raw_connect(engine: &Engine) -> TcpStream {
    let sock = TcpStream::connect(socket_addr(&engine.addrs()[0])).expect("connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    sock
}

/// The records `plain` encrypts to, not yet sent.
fn records_of(peer: &mut TlsPeer, plain: &[u8]) -> Vec<u8> {
    peer.conn.writer().write_all(plain).unwrap();
    let mut wire = Vec::new();
    while peer.conn.wants_write() {
        peer.conn.write_tls(&mut wire).unwrap();
    }
    wire
}

/// Reads the socket until end of stream (or a reset); the bytes read.
fn raw_read_to_end(sock: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return out,
            Err(err) => panic!("reading to the end: {err}"),
        }
    }
}

/// An echo server over TLS, counting `on_open`s and logging `on_close`s.
fn tls_echo(options: Options) -> (Engine, Count, CloseLog) {
    let (opens, closes) = (Count::default(), CloseLog::default());
    let counted = opens.clone();
    let hooks = Hooks::new()
        .on_open(move |_| {
            counted.bump();
            (None, Action::None)
        })
        .on_close(closes.hook());
    (tcp(hooks, options), opens, closes)
}

/// Stops `engine` and waits for it, closing what is still open at once
/// (each test has checked what it needed by then).
fn stop(engine: &Engine) {
    engine.shutdown(Duration::ZERO).unwrap();
}

/// A good client still gets its echo: the engine and its other
/// connections went on.
fn still_serves(engine: &Engine, certs: &Certs) {
    let mut peer = tls_connect(engine, certs.client());
    peer.write_all(b"still there?\n").unwrap();
    let mut echo = [0; 13];
    peer.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"still there?\n");
}

#[test]
fn handshake_then_a_64_mib_echo_is_byte_exact() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let certs = Certs::new();
    let seen = Arc::new(Mutex::new(None));
    let opened = seen.clone();
    let (opens, closes) = (Count::default(), CloseLog::default());
    let counted = opens.clone();
    let hooks = Hooks::new()
        .on_open(move |conn: &mut Conn| {
            counted.bump();
            *opened.lock().unwrap() = Some((
                conn.alpn_protocol().map(<[u8]>::to_vec),
                conn.server_name().map(str::to_owned),
                conn.tls().is_some_and(|tls| !tls.is_handshaking()),
            ));
            (None, Action::None)
        })
        .on_close(closes.hook());
    let engine = tcp(hooks, Options::new().tls(certs.server()));

    let rt = runtime_executor::Runtime::builder()
        .cores(1)
        .build()
        .unwrap();
    let addr = socket_addr(&engine.addrs()[0]);
    let connector = runtime_net::tls::TlsConnector::new(certs.client());
    let echoed = rt.block_on(async move {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let stream = runtime_net::TcpStream::connect(addr).await.unwrap();
        let tls = connector.connect(localhost(), stream).await.unwrap();
        let (mut reader, mut writer) = tls.into_split();
        let writing = runtime_executor::spawn(async move {
            let data = pattern(0, TOTAL);
            for chunk in data.chunks(100_000) {
                writer.write_all(chunk).await.unwrap();
            }
            writer.close().await.unwrap(); // close_notify
        });
        let mut echoed = Vec::with_capacity(TOTAL);
        let mut buf = vec![0; 64 * 1024];
        while echoed.len() < TOTAL {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "the echo ended after {} bytes", echoed.len());
            echoed.extend_from_slice(&buf[..n]);
        }
        writing.await.unwrap();
        echoed
    });
    assert_bytes("the echo", &pattern(0, TOTAL), &echoed);
    let (alpn, sni, done) = seen.lock().unwrap().clone().expect("on_open ran");
    assert!(done, "on_open came after the handshake");
    assert_eq!(alpn.as_deref(), Some(&b"echo"[..]), "ALPN negotiated");
    assert_eq!(sni.as_deref(), Some("localhost"), "the client's SNI");
    // The client's close_notify is a clean end.
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![None]);
    assert_eq!(opens.get(), 1);
    stop(&engine);
}

#[test]
fn plaintext_with_the_clients_last_flight_reaches_on_traffic_at_once() {
    let certs = Certs::new();
    let (engine, opens, _closes) = tls_echo(Options::new().tls(certs.server()));
    // TLS 1.3: the client's Finished and its first record leave together.
    let sock = raw_connect(&engine);
    let conn = ClientConnection::new(certs.client(), localhost()).unwrap();
    let mut peer = StreamOwned::new(conn, sock);
    peer.conn.writer().write_all(b"early words\n").unwrap();
    let mut echo = [0; 12];
    peer.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"early words\n");
    assert_eq!(opens.get(), 1);
    stop(&engine);
}

#[test]
fn async_write_from_another_thread_is_encrypted() {
    let certs = Certs::new();
    let hooks = Hooks::new().on_open(|conn: &mut Conn| {
        let handle = conn.handle();
        thread::spawn(move || {
            for i in 0..100 {
                handle.async_write(format!("line {i}\n").into_bytes(), |r| {
                    r.expect("async write");
                });
            }
        });
        (Some(b"greeting\n"[..].into()), Action::None)
    });
    let engine = tcp(hooks, Options::new().tls(certs.server()));
    let mut peer = tls_connect(&engine, certs.client());
    let mut expected = b"greeting\n".to_vec();
    for i in 0..100 {
        expected.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    let mut got = vec![0; expected.len()];
    peer.read_exact(&mut got).unwrap();
    assert_bytes("greeting and async writes", &expected, &got);
    stop(&engine);
}

#[test]
fn garbage_instead_of_a_client_hello_closes_that_connection_with_invalid_data() {
    let certs = Certs::new();
    let (engine, opens, closes) = tls_echo(Options::new().tls(certs.server()));
    let mut good = tls_connect(&engine, certs.client());
    opens.wait_for(1, "the good connection's on_open");

    let mut bad = raw_connect(&engine);
    bad.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = raw_read_to_end(&mut bad);
    // An alert record (content type 21), then the end.
    assert_eq!(answer.first(), Some(&21), "an alert: {answer:?}");
    assert!(answer.len() < 64, "only the alert: {answer:?}");
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::InvalidData)]);
    assert_eq!(opens.get(), 1, "no on_open for a failed handshake");

    good.write_all(b"ping\n").unwrap();
    let mut echo = [0; 5];
    good.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping\n");
    still_serves(&engine, &certs);
    stop(&engine);
}

#[test]
fn a_truncated_record_is_unexpected_eof() {
    let certs = Certs::new();
    let traffic = Count::default();
    let seen = traffic.clone();
    let closes = CloseLog::default();
    let hooks = Hooks::new()
        .on_traffic(move |conn: &mut Conn| {
            seen.bump();
            engine_util::echo(conn)
        })
        .on_close(closes.hook());
    let engine = tcp(hooks, Options::new().tls(certs.server()));
    let mut peer = tls_connect(&engine, certs.client());
    let record = records_of(&mut peer, b"this record is cut short");
    peer.sock.write_all(&record[..record.len() - 5]).unwrap();
    peer.sock.shutdown(Shutdown::Write).unwrap();
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::UnexpectedEof)]);
    assert_eq!(traffic.get(), 0, "nothing of the cut record was delivered");
    still_serves(&engine, &certs);
    assert_eq!(traffic.get(), 1);
    stop(&engine);
}

#[test]
fn a_peer_that_stops_mid_handshake_is_closed_at_the_handshake_timeout() {
    let certs = Certs::new();
    let options = Options::new()
        .tls(certs.server())
        .tls_handshake_timeout(Duration::from_millis(300));
    let (engine, opens, closes) = tls_echo(options);
    // One sends half a ClientHello, one sends nothing at all.
    let mut half = raw_connect(&engine);
    let mut client = ClientConnection::new(certs.client(), localhost()).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    let mut silent = raw_connect(&engine);
    let started = Instant::now();
    assert!(raw_read_to_end(&mut half).is_empty());
    assert!(raw_read_to_end(&mut silent).is_empty());
    assert!(
        started.elapsed() < WAIT,
        "closed at the handshake timeout, not at the read timeout"
    );
    wait_until(WAIT, "both on_close", || closes.kinds().len() == 2);
    assert_eq!(
        closes.kinds(),
        vec![Some(io::ErrorKind::TimedOut), Some(io::ErrorKind::TimedOut)]
    );
    assert_eq!(opens.get(), 0);
    still_serves(&engine, &certs);
    stop(&engine);
}

#[test]
fn a_peer_closing_mid_handshake_is_unexpected_eof() {
    let certs = Certs::new();
    let (engine, opens, closes) = tls_echo(Options::new().tls(certs.server()));
    let sock = raw_connect(&engine);
    let mut client = ClientConnection::new(certs.client(), localhost()).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    (&sock).write_all(&hello[..hello.len() - 1]).unwrap();
    sock.shutdown(Shutdown::Write).unwrap();
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::UnexpectedEof)]);
    assert_eq!(opens.get(), 0);
    stop(&engine);
}

/// A TLS 1.2 renegotiation attempt: a ClientHello inside the session,
/// encrypted with the client's keys (which rustls lets a test extract).
/// rustls refuses the first with a `no_renegotiation` warning, and ends the
/// session at the second.
#[test]
fn a_renegotiation_attempt_is_refused_and_a_second_closes_the_connection() {
    use rustls::crypto::cipher::{OutboundChunks, OutboundPlainMessage};
    #[allow(deprecated)]
    use rustls::crypto::ring::{cipher_suite, default_provider};
    use rustls::{ConnectionTrafficSecrets, ContentType, ProtocolVersion, SupportedCipherSuite};

    let certs = Certs::new();
    let suite = cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
    // `default_provider` is deprecated for its key exchanges only (no
    // post-quantum ones), which do not matter here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![suite],
        ..default_provider()
    });
    let server = certs.server_builder(
        ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap(),
    );
    let (engine, opens, closes) = tls_echo(Options::new().tls(Arc::new(server)));
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(certs.roots())
        .with_no_client_auth();
    client.enable_secret_extraction = true;
    let mut peer = tls_connect(&engine, Arc::new(client));
    peer.write_all(b"before\n").unwrap();
    let mut echo = [0; 7];
    peer.read_exact(&mut echo).unwrap();
    opens.wait_for(1, "on_open");

    let StreamOwned { conn, mut sock } = peer;
    let secrets = conn.dangerous_extract_secrets().unwrap();
    let (mut seq, ConnectionTrafficSecrets::Aes128Gcm { key, iv }) = secrets.tx else {
        panic!("not the suite asked for");
    };
    let SupportedCipherSuite::Tls12(tls12) = suite else {
        panic!("not a TLS 1.2 suite");
    };
    let mut encrypter = tls12
        .aead_alg
        .encrypter(key, &iv.as_ref()[..4], &iv.as_ref()[4..]);
    // A minimal ClientHello: version, random, no session, one suite, no
    // compression.
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0xc0, 0x2b, 1, 0]);
    let mut hello = vec![1, 0, 0, body.len() as u8];
    hello.extend_from_slice(&body);
    for _ in 0..2 {
        let record = encrypter
            .encrypt(
                OutboundPlainMessage {
                    typ: ContentType::Handshake,
                    version: ProtocolVersion::TLSv1_2,
                    payload: OutboundChunks::Single(&hello),
                },
                seq,
            )
            .unwrap();
        seq += 1;
        sock.write_all(&record.encode()).unwrap();
    }
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::InvalidData)]);
    raw_read_to_end(&mut sock);
    still_serves(&engine, &certs);
    stop(&engine);
}

#[test]
fn close_notify_is_a_clean_end_and_eof_without_it_a_truncation() {
    let certs = Certs::new();
    let (engine, _, closes) = tls_echo(Options::new().tls(certs.server()));

    // The client's close_notify, then its end of stream: a clean end.
    let mut peer = tls_connect(&engine, certs.client());
    peer.write_all(b"bye\n").unwrap();
    let mut echo = [0; 4];
    peer.read_exact(&mut echo).unwrap();
    peer.conn.send_close_notify();
    peer.flush().unwrap();
    peer.sock.shutdown(Shutdown::Write).unwrap();
    wait_until(WAIT, "the first on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![None]);
    // And the server answered with its own.
    let mut rest = Vec::new();
    assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0, "a clean end");

    // An end of stream without it: a truncation, never a clean end.
    let mut peer = tls_connect(&engine, certs.client());
    peer.write_all(b"cut\n").unwrap();
    let mut echo = [0; 4];
    peer.read_exact(&mut echo).unwrap();
    peer.sock.shutdown(Shutdown::Write).unwrap();
    wait_until(WAIT, "the second on_close", || closes.kinds().len() == 2);
    assert_eq!(closes.kinds()[1], Some(io::ErrorKind::UnexpectedEof));
    stop(&engine);
}

#[test]
fn a_server_close_sends_close_notify_after_the_reply() {
    let certs = Certs::new();
    let hooks = Hooks::new().on_traffic(|conn: &mut Conn| {
        let request = conn.next(usize::MAX).to_vec();
        conn.write(&request).unwrap();
        Action::Close
    });
    let engine = tcp(hooks, Options::new().tls(certs.server()));
    let mut peer = tls_connect(&engine, certs.client());
    peer.write_all(b"one request\n").unwrap();
    let mut reply = Vec::new();
    // rustls's client reads a clean end only after close_notify; an end of
    // stream without it would be an `UnexpectedEof` error here.
    peer.read_to_end(&mut reply)
        .expect("a clean end after the reply");
    assert_eq!(reply, b"one request\n");
    stop(&engine);
}

/// Drives a rustls client over a non-blocking socket, writing `total`
/// bytes of pattern and reading the echo only while `reading` says so.
struct Flood {
    conn: ClientConnection,
    sock: TcpStream,
    encrypted: usize,
    echoed: usize,
    total: usize,
}

impl Flood {
    /// One turn: sends what it can, encrypts more when rustls holds no
    /// ciphertext, and reads (and checks) the echo if `reading`. Whether
    /// anything moved.
    fn turn(&mut self, reading: bool) -> bool {
        let mut moved = false;
        if !self.conn.wants_write() && self.encrypted < self.total {
            let n = (self.total - self.encrypted).min(64 * 1024);
            self.conn
                .writer()
                .write_all(&pattern(self.encrypted, n))
                .unwrap();
            self.encrypted += n;
        }
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(_) => moved = true,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("the flood's send failed: {err}"),
            }
        }
        if reading {
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(_) => {
                    moved = true;
                    self.conn.process_new_packets().unwrap();
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        match self.conn.reader().read(&mut buf) {
                            Ok(n) => {
                                assert_bytes("the echo", &pattern(self.echoed, n), &buf[..n]);
                                self.echoed += n;
                            }
                            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                            Err(err) => panic!("reading the echo: {err}"),
                        }
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => panic!("reading the echo: {err}"),
            }
        }
        moved
    }
}

#[test]
fn a_peer_that_never_reads_is_held_at_the_high_watermark_over_ciphertext() {
    const TOTAL: usize = 32 * 1024 * 1024;
    const HIGH: usize = 256 * 1024;
    let certs = Certs::new();
    let most = Arc::new(AtomicUsize::new(0));
    let writable = Count::default();
    let (seen, resumed) = (most.clone(), writable.clone());
    // Echoes what fits under the watermark; notes the most ever queued.
    let echo = move |conn: &mut Conn| {
        let (inbound, outbound) = conn.split();
        if outbound.is_writable() && !inbound.is_empty() {
            outbound.write(inbound.next(usize::MAX)).unwrap();
        }
        seen.fetch_max(conn.outbound_buffered(), Ordering::SeqCst);
        Action::None
    };
    let on_traffic = echo.clone();
    let hooks = Hooks::new()
        .on_traffic(on_traffic)
        .on_writable(move |conn: &mut Conn| {
            resumed.bump();
            echo(conn)
        });
    let options = Options::new()
        .tls(certs.server())
        .write_high_watermark(HIGH)
        .socket_recv_buffer(64 * 1024)
        .socket_send_buffer(64 * 1024);
    let engine = tcp(hooks, options);
    let peer = tls_connect_small(&engine, certs.client());
    let StreamOwned { conn, sock } = peer;
    sock.set_nonblocking(true).unwrap();
    let mut flood = Flood {
        conn,
        sock,
        encrypted: 0,
        echoed: 0,
        total: TOTAL,
    };

    // Never reading: the sends stall well before the end.
    let started = Instant::now();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_millis(500) {
        assert!(started.elapsed() < Duration::from_secs(60), "never stalled");
        if flood.turn(false) {
            last = Instant::now();
        } else {
            thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(
        flood.encrypted < TOTAL,
        "the server read all {TOTAL} bytes of a peer that never reads"
    );
    let queued = most.load(Ordering::SeqCst);
    assert!(queued >= HIGH, "the watermark was reached: {queued}");
    // One echo write may cross it: at most what one read pass decrypts
    // (the ciphertext ring's 64 KiB) and its records' overhead.
    assert!(
        queued <= HIGH + 80 * 1024,
        "ciphertext queued past the watermark: {queued} bytes"
    );

    // Reading again: on_writable, and every byte echoed.
    let started = Instant::now();
    while flood.echoed < TOTAL {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the echo stopped at {} of {TOTAL} bytes",
            flood.echoed
        );
        if !flood.turn(true) {
            thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(writable.get() > 0, "on_writable resumed the connection");
    assert!(most.load(Ordering::SeqCst) <= HIGH + 80 * 1024);
    stop(&engine);
}

/// Writes 16 KiB chunks of pattern until the engine refuses one (the
/// high watermark) or `TOTAL` are written; notes the most ever queued.
fn push(conn: &mut Conn, written: &AtomicUsize, most: &AtomicUsize, total: usize) {
    const CHUNK: usize = 16 * 1024;
    loop {
        let at = written.load(Ordering::SeqCst);
        if at >= total {
            return;
        }
        let n = CHUNK.min(total - at);
        match conn.write(&pattern(at, n)) {
            Ok(_) => {
                written.fetch_add(n, Ordering::SeqCst);
                most.fetch_max(conn.outbound_buffered(), Ordering::SeqCst);
            }
            Err(err) => {
                assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
                return;
            }
        }
    }
}

#[test]
fn writes_to_a_peer_that_never_reads_are_refused_at_the_watermark_over_ciphertext() {
    const TOTAL: usize = 8 * 1024 * 1024;
    const HIGH: usize = 128 * 1024;
    let certs = Certs::new();
    let (written, most, writable) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Count::default(),
    );
    let (w1, m1) = (written.clone(), most.clone());
    let (w2, m2, resumed) = (written.clone(), most.clone(), writable.clone());
    let hooks = Hooks::new()
        .on_open(move |conn: &mut Conn| {
            push(conn, &w1, &m1, TOTAL);
            (None, Action::None)
        })
        .on_writable(move |conn: &mut Conn| {
            resumed.bump();
            push(conn, &w2, &m2, TOTAL);
            Action::None
        });
    let options = Options::new()
        .tls(certs.server())
        .write_high_watermark(HIGH)
        .socket_send_buffer(64 * 1024);
    let engine = tcp(hooks, options);
    let mut peer = tls_connect_small(&engine, certs.client());
    // Not reading: once the kernel's buffers are full, the writes stop at
    // the watermark, counted in ciphertext (a refused write had nothing of
    // its plaintext queued).
    let mut stalled = written.load(Ordering::SeqCst);
    wait_until(WAIT, "the writes to stall", || {
        thread::sleep(Duration::from_millis(200));
        let now = written.load(Ordering::SeqCst);
        std::mem::replace(&mut stalled, now) == now
    });
    assert!(
        stalled < TOTAL,
        "all {TOTAL} bytes went to a peer that never reads"
    );
    let queued = most.load(Ordering::SeqCst);
    assert!(queued >= HIGH, "the watermark was reached: {queued}");
    assert!(
        queued < HIGH + 16 * 1024 + 1024,
        "{queued} bytes of ciphertext queued past a {HIGH} byte watermark"
    );
    // Reading: on_writable, until everything is through, byte-exact.
    let mut got = vec![0; TOTAL];
    peer.read_exact(&mut got).unwrap();
    assert_bytes("the pushed bytes", &pattern(0, TOTAL), &got);
    assert!(writable.get() > 0, "on_writable resumed the writes");
    assert!(most.load(Ordering::SeqCst) < HIGH + 16 * 1024 + 1024);
    stop(&engine);
}

/// The handler of the engine's client: collects what arrives.
fn collecting(into: Arc<Mutex<Vec<u8>>>, opens: Count, closes: CloseLog) -> Hooks {
    Hooks::new()
        .on_open(move |conn: &mut Conn| {
            assert!(conn.tls().is_some());
            opens.bump();
            (None, Action::None)
        })
        .on_traffic(move |conn: &mut Conn| {
            into.lock()
                .unwrap()
                .extend_from_slice(conn.next(usize::MAX));
            Action::None
        })
        .on_close(closes.hook())
}

#[test]
fn the_engine_client_dials_a_tls_engine() {
    let certs = Certs::new();
    let (server, _, server_closes) = tls_echo(Options::new().tls(certs.server()));
    let port = socket_addr(&server.addrs()[0]).port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (opens, closes) = (Count::default(), CloseLog::default());
    let client = Client::new(
        collecting(got.clone(), opens.clone(), closes.clone()),
        Options::new().tls_client(certs.client()),
    )
    .unwrap();
    // The certificate names 127.0.0.1 too: the address's host is the name.
    let handle = client.dial(&format!("tls://127.0.0.1:{port}")).unwrap();
    assert_eq!(opens.get(), 1, "on_open ran before dial returned");
    handle.async_write(&b"over tls\n"[..], |r| {
        r.unwrap();
    });
    wait_until(WAIT, "the echo", || got.lock().unwrap().len() == 9);
    assert_eq!(&*got.lock().unwrap(), b"over tls\n");
    handle.close().unwrap();
    wait_until(WAIT, "the client's on_close", || closes.kinds().len() == 1);
    // Its close_notify reached the server: a clean end there.
    wait_until(WAIT, "the server's on_close", || {
        server_closes.kinds().len() == 1
    });
    assert_eq!(server_closes.kinds(), vec![None]);
    assert_eq!(closes.kinds(), vec![None]);
    client.stop();
    stop(&server);
}

#[test]
fn enroll_tls_serves_a_connected_socket_as_a_tls_client() {
    let certs = Certs::new();
    let (server, _, server_closes) = tls_echo(Options::new().tls(certs.server()));
    let addr = socket_addr(&server.addrs()[0]);
    let got = Arc::new(Mutex::new(Vec::new()));
    let (opens, closes) = (Count::default(), CloseLog::default());
    let client = Client::new(
        collecting(got.clone(), opens.clone(), closes.clone()),
        Options::new().tls_client(certs.client()),
    )
    .unwrap();
    let handle = client
        .enroll_tls(TcpStream::connect(addr).unwrap(), "localhost")
        .unwrap();
    assert_eq!(
        opens.get(),
        1,
        "on_open ran after the handshake, before enroll returned"
    );
    handle.async_write(
        &b"enrolled
"[..],
        |r| {
            r.unwrap();
        },
    );
    wait_until(WAIT, "the echo", || got.lock().unwrap().len() == 9);
    assert_eq!(
        &*got.lock().unwrap(),
        b"enrolled
"
    );
    handle.close().unwrap();
    wait_until(WAIT, "the server's on_close", || {
        server_closes.kinds().len() == 1
    });
    assert_eq!(server_closes.kinds(), vec![None], "a clean close_notify");
    // A name the certificate does not hold fails the handshake.
    let err = client
        .enroll_tls(TcpStream::connect(addr).unwrap(), "example.com")
        .expect_err("a certificate for another name");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    // Without a TLS client configuration, refused up front.
    let plain = Client::new(Hooks::new(), Options::new()).unwrap();
    let err = plain
        .enroll_tls(TcpStream::connect(addr).unwrap(), "localhost")
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    plain.stop();
    client.stop();
    stop(&server);
}

#[test]
fn the_engine_client_dials_an_async_tls_acceptor_with_a_server_name() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let certs = Certs::new();
    let acceptor = runtime_net::tls::TlsAcceptor::new(certs.server());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let server = thread::spawn(move || {
        let rt = runtime_executor::Runtime::builder()
            .cores(1)
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = runtime_net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(stream).await.unwrap();
            assert_eq!(tls.server_name(), Some("localhost"));
            let mut buf = [0; 6];
            tls.read_exact(&mut buf).await.unwrap();
            tls.write_all(&buf).await.unwrap();
            tls.close().await.unwrap();
        })
    });
    let addr = addr_rx.recv().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (opens, closes) = (Count::default(), CloseLog::default());
    let options = Options::new()
        .tls_client(certs.client())
        .tls_server_name(localhost());
    let client = Client::new(collecting(got.clone(), opens, closes.clone()), options).unwrap();
    let handle = client.dial(&format!("tls://{addr}")).unwrap();
    handle.async_write(&b"hello\n"[..], |r| {
        r.unwrap();
    });
    // The acceptor echoes and sends close_notify: a clean end here.
    wait_until(WAIT, "the client's on_close", || closes.kinds().len() == 1);
    assert_eq!(&*got.lock().unwrap(), b"hello\n");
    assert_eq!(closes.kinds(), vec![None]);
    server.join().unwrap();
    client.stop();
}

#[test]
fn a_dial_whose_handshake_fails_is_an_error_and_on_close_alone() {
    let certs = Certs::new();
    let (server, _, server_closes) = tls_echo(Options::new().tls(certs.server()));
    let port = socket_addr(&server.addrs()[0]).port();
    // Trusts another certificate only.
    let stranger = Certs::new();
    let (opens, closes) = (Count::default(), CloseLog::default());
    let client = Client::new(
        collecting(Arc::default(), opens.clone(), closes.clone()),
        Options::new().tls_client(stranger.client()),
    )
    .unwrap();
    let err = client
        .dial(&format!("tls://127.0.0.1:{port}"))
        .expect_err("an untrusted certificate");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::InvalidData)]);
    assert_eq!(opens.get(), 0);
    // The server hears the client's alert.
    wait_until(WAIT, "the server's on_close", || {
        server_closes.kinds().len() == 1
    });
    assert_eq!(
        server_closes.kinds(),
        vec![Some(io::ErrorKind::InvalidData)]
    );
    // Without a TLS configuration, a tls:// dial is refused up front.
    let plain = Client::new(Hooks::new(), Options::new()).unwrap();
    let err = plain.dial(&format!("tls://127.0.0.1:{port}")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    plain.stop();
    client.stop();
    stop(&server);
}

#[test]
fn stopping_the_engine_sends_close_notify_to_its_tls_peers() {
    let certs = Certs::new();
    let (engine, opens, closes) = tls_echo(Options::new().tls(certs.server()));
    let mut peers: Vec<TlsPeer> = (0..3)
        .map(|_| tls_connect(&engine, certs.client()))
        .collect();
    opens.wait_for(3, "three on_open");
    // No grace period: the open connections are closed at once.
    engine.shutdown(Duration::ZERO).unwrap();
    for peer in &mut peers {
        let mut rest = Vec::new();
        // A clean end: rustls reports a missing close_notify as an error.
        peer.read_to_end(&mut rest)
            .expect("close_notify, then the end");
        assert!(rest.is_empty());
    }
    assert_eq!(closes.kinds(), vec![None, None, None]);
}

#[test]
fn tls_over_a_unix_socket() {
    let certs = Certs::new();
    let dir = util::temp_dir("engine-tls-unix");
    let path = dir.join("tls.sock");
    let engine = runtime_net::engine::start(
        Hooks::new(),
        &[&format!("unix://{}", path.display())],
        Options::new().tls(certs.server()),
    )
    .unwrap();
    let sock = std::os::unix::net::UnixStream::connect(&path).unwrap();
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let conn = ClientConnection::new(certs.client(), localhost()).unwrap();
    let mut peer = StreamOwned::new(conn, sock);
    peer.write_all(b"over a unix socket\n").unwrap();
    let mut echo = [0; 19];
    peer.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"over a unix socket\n");
    stop(&engine);
}

#[test]
fn dial_async_dials_tls_too() {
    let certs = Certs::new();
    let (server, _, _) = tls_echo(Options::new().tls(certs.server()));
    let port = socket_addr(&server.addrs()[0]).port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let client = Client::new(
        collecting(got.clone(), Count::default(), CloseLog::default()),
        Options::new().tls_client(certs.client()),
    )
    .unwrap();
    let rt = runtime_executor::Runtime::builder()
        .cores(1)
        .build()
        .unwrap();
    let handle = rt
        .block_on(client.dial_async(&format!("tls://127.0.0.1:{port}")))
        .unwrap();
    handle.async_write(&b"async dial\n"[..], |r| {
        r.unwrap();
    });
    wait_until(WAIT, "the echo", || got.lock().unwrap().len() == 11);
    assert_eq!(&*got.lock().unwrap(), b"async dial\n");
    client.stop();
    stop(&server);
}

/// The real-socket side of the unit test that cuts a record at every
/// offset (`engine::tls` in the crate): a 16 KiB record written in two
/// parts, a pause between them so the server reads the first alone, at
/// offsets around the header, through the body and at the end.
#[test]
fn a_16k_record_split_across_reads_is_delivered_whole() {
    let certs = Certs::new();
    let (engine, _, closes) = tls_echo(Options::new().tls(certs.server()));
    let mut peer = tls_connect(&engine, certs.client());
    peer.sock.set_nodelay(true).unwrap();
    let plain = pattern(0, 16 * 1024);
    // The first record goes whole; its length says where to cut the rest.
    let first = records_of(&mut peer, &plain);
    let record_len = first.len();
    peer.sock.write_all(&first).unwrap();
    let mut sent = 1;
    let mut cuts: Vec<usize> = (1..=8).chain((16..record_len).step_by(997)).collect();
    cuts.extend(record_len - 8..record_len);
    for cut in cuts {
        let record = records_of(&mut peer, &plain);
        assert_eq!(record.len(), record_len, "one record each time");
        peer.sock.write_all(&record[..cut]).unwrap();
        thread::sleep(Duration::from_millis(2));
        peer.sock.write_all(&record[cut..]).unwrap();
        sent += 1;
    }
    let mut echo = vec![0; plain.len()];
    for i in 0..sent {
        peer.read_exact(&mut echo).unwrap();
        assert!(echo == plain, "record {i}: the echo differs");
    }
    assert!(closes.kinds().is_empty());
    drop(peer);
    stop(&engine);
}

#[test]
fn a_tampered_record_is_invalid_data_on_that_connection_only() {
    let certs = Certs::new();
    let (engine, _, closes) = tls_echo(Options::new().tls(certs.server()));
    let mut peer = tls_connect(&engine, certs.client());
    let mut record = records_of(&mut peer, b"tampered with");
    let last = record.len() - 1;
    record[last] ^= 1; // the tag no longer matches
    peer.sock.write_all(&record).unwrap();
    let answer = raw_read_to_end(&mut peer.sock);
    assert!(!answer.is_empty(), "an alert (encrypted) before the end");
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::InvalidData)]);
    still_serves(&engine, &certs);
    stop(&engine);
}

#[test]
fn a_handler_that_answers_meets_the_first_read_deadline_over_tls_too() {
    let certs = Certs::new();
    // Answers every read with a prompt and consumes nothing, as a handler
    // waiting for the rest of a frame may.
    let (engine, _, closes) = {
        let closes = CloseLog::default();
        let hooks = Hooks::new()
            .on_traffic(|conn: &mut Conn| {
                conn.write(b"?").unwrap();
                Action::None
            })
            .on_close(closes.hook());
        let options = Options::new()
            .tls(certs.server())
            .first_read_timeout(Duration::from_millis(300));
        (tcp(hooks, options), (), closes)
    };
    let mut peer = tls_connect(&engine, certs.client());
    let mut prompt = [0; 1];
    peer.write_all(b"x").unwrap();
    peer.read_exact(&mut prompt).unwrap();
    assert_eq!(&prompt, b"?");
    thread::sleep(Duration::from_millis(700));
    // Answered before the deadline: still served past it.
    peer.write_all(b"y").unwrap();
    peer.read_exact(&mut prompt).unwrap();
    assert_eq!(&prompt, b"?");
    assert!(closes.kinds().is_empty(), "{:?}", closes.kinds());
    stop(&engine);
}

/// Sends `bytes` one at a time, `pace` apart, until a send fails or all
/// are sent; how many went.
fn trickle(mut sock: TcpStream, bytes: Vec<u8>, pace: Duration) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        for (sent, byte) in bytes.iter().enumerate() {
            if sock.write_all(&[*byte]).is_err() {
                return sent;
            }
            thread::sleep(pace);
        }
        bytes.len()
    })
}

#[test]
fn a_handshake_trickled_a_byte_at_a_time_is_closed_at_the_handshake_timeout() {
    let certs = Certs::new();
    let options = Options::new()
        .tls(certs.server())
        .tls_handshake_timeout(Duration::from_millis(300));
    let (engine, opens, closes) = tls_echo(options);
    let mut client = ClientConnection::new(certs.client(), localhost()).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    // Some 200 bytes, 50 ms apart: ten seconds to send them all.
    let mut sock = raw_connect(&engine);
    let sender = trickle(
        sock.try_clone().unwrap(),
        hello.clone(),
        Duration::from_millis(50),
    );
    let started = Instant::now();
    assert!(raw_read_to_end(&mut sock).is_empty());
    let waited = started.elapsed();
    drop(sock);
    let sent = sender.join().unwrap();
    assert!(
        sent < hello.len(),
        "the whole hello went out in {waited:?}: the timeout never came"
    );
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::TimedOut)]);
    assert_eq!(opens.get(), 0);
    stop(&engine);
}

#[test]
fn bytes_after_close_notify_are_ignored_and_the_connection_ends_cleanly() {
    let certs = Certs::new();
    let (engine, _, closes) = tls_echo(Options::new().tls(certs.server()));
    let mut peer = tls_connect(&engine, certs.client());
    peer.write_all(b"ping\n").unwrap();
    let mut echo = [0; 5];
    peer.read_exact(&mut echo).unwrap();
    // close_notify, then a record of data (rustls still encrypts after
    // it), then garbage; the write side stays open.
    peer.conn.send_close_notify();
    let mut wire = Vec::new();
    while peer.conn.wants_write() {
        peer.conn.write_tls(&mut wire).unwrap();
    }
    wire.extend(records_of(&mut peer, b"late\n"));
    wire.extend(std::iter::repeat_n(0x17, 64 * 1024));
    peer.sock.write_all(&wire).unwrap();
    // The server answers with its own close_notify and ends: nothing of
    // what followed the alert is echoed.
    let mut rest = Vec::new();
    assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0, "{rest:?}");
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![None]);
    still_serves(&engine, &certs);
    stop(&engine);
}

#[test]
fn a_tls_dial_to_a_server_that_never_answers_fails_at_the_handshake_timeout() {
    let certs = Certs::new();
    // Accepts, reads the ClientHello, answers nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let mut hello = [0; 5];
        sock.read_exact(&mut hello).unwrap();
        // Held open until the dialer gives up.
        let mut rest = Vec::new();
        let _ = sock.read_to_end(&mut rest);
    });
    let (opens, closes) = (Count::default(), CloseLog::default());
    let client = Client::new(
        collecting(Arc::default(), opens.clone(), closes.clone()),
        Options::new()
            .tls_client(certs.client())
            .tls_handshake_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let rt = runtime_executor::Runtime::builder()
        .cores(1)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = rt
        .block_on(client.dial_async(&format!("tls://127.0.0.1:{port}")))
        .expect_err("no handshake");
    assert!(
        started.elapsed() < WAIT,
        "the dial waited {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::TimedOut)]);
    assert_eq!(opens.get(), 0);
    silent.join().unwrap();
    client.stop();
}

#[test]
fn a_handler_that_never_consumes_is_held_to_max_read_buffer_over_tls() {
    const MAX: usize = 64 * 1024;
    let certs = Certs::new();
    let closes = CloseLog::default();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|_| Action::None)
            .on_close(closes.hook()),
        Options::new().tls(certs.server()).max_read_buffer(MAX),
    );
    let mut peer = tls_connect(&engine, certs.client());
    // Sixteen times the maximum, in records; the server closes on the way.
    let chunk = vec![5u8; 16 * 1024];
    for _ in 0..(16 * MAX / chunk.len()) {
        if peer.write_all(&chunk).is_err() {
            break;
        }
    }
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![Some(io::ErrorKind::InvalidData)]);
    stop(&engine);
}
