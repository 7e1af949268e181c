//! TLS on the async face (`runtime::net::tls`), over real sockets on
//! 127.0.0.1 with certificates made in the test: handshakes and a 64 MiB
//! echo, ALPN, SNI, client certificates, resumption, `close_notify`
//! against truncation, the peer that never reads, and the bad inputs of
//! RELIABILITY.md (garbage, a truncated record, a stalled handshake, one
//! trickled a byte at a time, bytes after `close_notify`, a renegotiation
//! attempt, records split at every byte offset).

#![cfg(feature = "tls")]

mod tls_util;
mod util;

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncBufRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use runtime_executor::Runtime;
use runtime_net::tls::rustls::server::ResolvesServerCertUsingSni;
use runtime_net::tls::rustls::sign::CertifiedKey;
use runtime_net::tls::rustls::{self, ClientConnection, HandshakeKind, StreamOwned};
use runtime_net::tls::{TlsAcceptor, TlsConnector, TlsStream};
use runtime_net::unix::{UnixListener, UnixStream};
use runtime_net::{Server, TcpListener, TcpStream};
use tls_util::{localhost, name, Ca};

fn runtime() -> Runtime {
    Runtime::builder().cores(1).build().unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 4099) as u8).collect()
}

/// Echoes until the peer's `close_notify`, then sends its own.
async fn echo<IO>(stream: TlsStream<IO>) -> io::Result<()>
where
    IO: AsyncBufRead + AsyncWrite + Unpin,
{
    let (reader, mut writer) = stream.into_split();
    futures_lite::io::copy(reader, &mut writer).await?;
    writer.close().await
}

/// Connects to `addr` and runs the client side of the handshake.
async fn connect(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
    server: &str,
) -> io::Result<TlsStream> {
    let stream = TcpStream::connect(addr).await?;
    connector.connect(name(server), stream).await
}

/// Sends `data` through `stream` while reading the echo; returns the echo.
async fn echo_through<IO>(stream: TlsStream<IO>, data: Rc<Vec<u8>>) -> Vec<u8>
where
    IO: AsyncBufRead + AsyncWrite + Unpin + 'static,
{
    let (mut reader, mut writer) = stream.into_split();
    let sent = data.clone();
    let writing = runtime_executor::spawn(async move {
        for chunk in sent.chunks(64 * 1024) {
            writer.write_all(chunk).await.unwrap();
        }
        writer.close().await.unwrap();
    });
    // Not `read_to_end`: futures-lite's zeroes the Vec's spare capacity at
    // every poll, which unoptimized takes minutes for 64 MiB.
    let mut echoed = Vec::with_capacity(data.len());
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut chunk).await.unwrap() {
            0 => break,
            n => echoed.extend_from_slice(&chunk[..n]),
        }
    }
    writing.await.unwrap();
    echoed
}

#[test]
fn a_64_mib_echo_over_tcp_is_byte_exact() {
    let (server, client) = localhost();
    runtime().block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::new(server);
        let serving = runtime_executor::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            echo(acceptor.accept(stream).await.unwrap()).await
        });
        let tls = connect(&TlsConnector::new(client), addr, "localhost")
            .await
            .unwrap();
        let data = Rc::new(pattern(64 * 1024 * 1024));
        let echoed = echo_through(tls, data.clone()).await;
        assert!(echoed == *data, "the echo differs from what was sent");
        serving.await.unwrap().unwrap();
    });
}

#[test]
fn a_unix_stream_carries_tls() {
    let (server, client) = localhost();
    let path = util::temp_dir("tls-unix").join("socket");
    runtime().block_on(async move {
        let listener = UnixListener::bind(&path).unwrap();
        let acceptor = TlsAcceptor::new(server);
        let serving = runtime_executor::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            echo(acceptor.accept(stream).await.unwrap()).await
        });
        let stream = UnixStream::connect(&path).await.unwrap();
        let tls = TlsConnector::new(client)
            .connect(name("localhost"), stream)
            .await
            .unwrap();
        let data = Rc::new(pattern(1024 * 1024));
        assert!(echo_through(tls, data.clone()).await == *data);
        serving.await.unwrap().unwrap();
    });
}

/// Accepts one connection with `acceptor` and returns the handshake's
/// outcome, after running `then` on the stream.
async fn accept_one<T: 'static>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    then: impl FnOnce(&TlsStream) -> T + 'static,
) -> io::Result<T> {
    let (stream, _) = listener.accept().await?;
    let mut tls = acceptor.accept(stream).await?;
    let seen = then(&tls);
    // Read to the client's end, answering what it sends.
    let mut buf = [0u8; 64];
    loop {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => tls.write_all(&buf[..n]).await?,
        }
    }
    let _ = tls.close().await;
    Ok(seen)
}

/// One round trip on an established client stream, then a clean close.
async fn ping(tls: &mut TlsStream) -> io::Result<()> {
    tls.write_all(b"ping").await?;
    let mut reply = [0u8; 4];
    tls.read_exact(&mut reply).await?;
    assert_eq!(&reply, b"ping");
    tls.close().await
}

#[test]
fn alpn_picks_the_protocol_both_offer() {
    let ca = Ca::new();
    let leaf = ca.leaf(&["localhost"]);
    let mut server = ca.server(&leaf);
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut client = ca.client();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut client_h3 = ca.client();
    client_h3.alpn_protocols = vec![b"h3".to_vec()];
    runtime().block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::new(Arc::new(server));
        let serving = runtime_executor::spawn(accept_one(listener, acceptor.clone(), |tls| {
            tls.alpn_protocol().map(<[u8]>::to_vec)
        }));
        let mut tls = connect(&TlsConnector::new(Arc::new(client)), addr, "localhost")
            .await
            .unwrap();
        assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
        ping(&mut tls).await.unwrap();
        assert_eq!(
            serving.await.unwrap().unwrap().as_deref(),
            Some(&b"http/1.1"[..])
        );

        // No protocol in common: the handshake fails on both sides.
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = runtime_executor::spawn(accept_one(listener, acceptor, |_| ()));
        let err = connect(&TlsConnector::new(Arc::new(client_h3)), addr, "localhost")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        let err = serving.await.unwrap().unwrap_err();
        let cause = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        assert_eq!(cause, Some(&rustls::Error::NoApplicationProtocol), "{err}");
    });
}

#[test]
fn sni_chooses_the_certificate_by_name() {
    let ca = Ca::new();
    let mut resolver = ResolvesServerCertUsingSni::new();
    let mut leaves = Vec::new();
    for host in ["a.test", "b.test"] {
        let leaf = ca.leaf(&[host]);
        let signing = rustls::crypto::ring::sign::any_supported_type(&leaf.key).unwrap();
        let key = CertifiedKey::new(leaf.chain.clone(), signing);
        resolver.add(host, key).unwrap();
        leaves.push(leaf);
    }
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    let connector = TlsConnector::new(Arc::new(ca.client()));
    runtime().block_on(async move {
        let acceptor = TlsAcceptor::new(Arc::new(server));
        for (host, leaf) in ["a.test", "b.test"].into_iter().zip(&leaves) {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let serving = runtime_executor::spawn(accept_one(listener, acceptor.clone(), |tls| {
                tls.server_name().map(str::to_string)
            }));
            let mut tls = connect(&connector, addr, host).await.unwrap();
            assert_eq!(tls.peer_certificates().unwrap()[0], leaf.chain[0], "{host}");
            ping(&mut tls).await.unwrap();
            assert_eq!(serving.await.unwrap().unwrap().as_deref(), Some(host));
        }
        // A name the server has no certificate for.
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = runtime_executor::spawn(accept_one(listener, acceptor, |_| ()));
        assert!(connect(&connector, addr, "c.test").await.is_err());
        assert!(serving.await.unwrap().is_err());
    });
}

#[test]
fn client_certificates_are_checked() {
    let ca = Ca::new();
    let server = Arc::new(ca.server_mutual(&ca.leaf(&["localhost"])));
    let with_cert = Arc::new(ca.client_with_cert(&ca.leaf(&["client.test"])));
    let other_ca = Ca::new();
    let foreign_cert = Arc::new(ca.client_with_cert(&other_ca.leaf(&["client.test"])));
    let without_cert = Arc::new(ca.client());
    runtime().block_on(async move {
        let acceptor = TlsAcceptor::new(server);
        // Accepted: the server sees the client's chain.
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = runtime_executor::spawn(accept_one(listener, acceptor.clone(), |tls| {
            tls.peer_certificates().map(<[_]>::len)
        }));
        let mut tls = connect(&TlsConnector::new(with_cert), addr, "localhost")
            .await
            .unwrap();
        ping(&mut tls).await.unwrap();
        assert_eq!(serving.await.unwrap().unwrap(), Some(1));

        // Refused: no certificate, or one from another CA. In TLS 1.3 the
        // client's handshake ends before the server checks, so the client
        // learns it at its first read: an error, never a clean end.
        for config in [without_cert, foreign_cert] {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let serving = runtime_executor::spawn(accept_one(listener, acceptor.clone(), |_| ()));
            let client = async {
                let mut tls = connect(&TlsConnector::new(config), addr, "localhost").await?;
                tls.write_all(b"ping").await?;
                let mut reply = Vec::new();
                tls.read_to_end(&mut reply).await.map(drop)
            };
            assert!(client.await.is_err(), "a refused client saw a clean end");
            let err = serving.await.unwrap().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        }
    });
}

#[test]
fn a_second_handshake_resumes_the_session() {
    let (server, client) = localhost();
    runtime().block_on(async move {
        let acceptor = TlsAcceptor::new(server);
        let connector = TlsConnector::new(client);
        let mut kinds = Vec::new();
        for _ in 0..3 {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let serving = runtime_executor::spawn(accept_one(listener, acceptor.clone(), |tls| {
                tls.handshake_kind()
            }));
            let mut tls = connect(&connector, addr, "localhost").await.unwrap();
            // The round trip reads the server's session tickets.
            ping(&mut tls).await.unwrap();
            let server_kind = serving.await.unwrap().unwrap();
            assert_eq!(tls.handshake_kind(), server_kind);
            kinds.push(server_kind.unwrap());
        }
        assert_eq!(
            kinds,
            [
                HandshakeKind::Full,
                HandshakeKind::Resumed,
                HandshakeKind::Resumed
            ]
        );
    });
}

/// A TLS echo server on core 0 of `rt` (a `Server` with
/// `TlsAcceptor::service`), the listening address, and what each
/// connection's service ended with.
struct EchoServer {
    server: Server,
    errors: Arc<Mutex<Vec<io::ErrorKind>>>,
    thread: std::thread::JoinHandle<()>,
}

impl EchoServer {
    fn start(acceptor: TlsAcceptor) -> (EchoServer, std::net::SocketAddr) {
        EchoServer::start_with(acceptor, |server| server)
    }

    fn start_with(
        acceptor: TlsAcceptor,
        configure: impl FnOnce(Server) -> Server,
    ) -> (EchoServer, std::net::SocketAddr) {
        let server = configure(Server::new("127.0.0.1:0".parse().unwrap()).handle_signals(false));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (run, seen) = (server.clone(), errors.clone());
        let thread = std::thread::spawn(move || {
            let rt = runtime();
            run.run(&rt, move || {
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                acceptor.clone().service(move |stream: TlsStream| {
                    let seen = seen.clone();
                    async move {
                        let result = echo(stream).await;
                        if let Err(err) = &result {
                            seen.lock().unwrap().push(err.kind());
                        }
                        result
                    }
                })
            })
            .unwrap();
        });
        let addr = server.shutdown_handle().wait_listening();
        (
            EchoServer {
                server,
                errors,
                thread,
            },
            addr,
        )
    }

    /// Waits for `n` connections to have ended, then stops the server.
    fn stop_after(self, n: u64) -> (Vec<io::ErrorKind>, u64) {
        util::wait_until(Duration::from_secs(10), "the connections to end", || {
            let stats = self.server.stats();
            stats.accepted >= n && stats.open == 0
        });
        self.server.shutdown_handle().shutdown();
        self.thread.join().unwrap();
        let errors = self.errors.lock().unwrap().clone();
        (errors, self.server.stats().errors)
    }
}

/// A blocking rustls client over a std socket.
fn std_client(
    config: &Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
) -> StreamOwned<ClientConnection, std::net::TcpStream> {
    let sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let conn = ClientConnection::new(config.clone(), name("localhost")).unwrap();
    StreamOwned::new(conn, sock)
}

fn std_ping(client: &mut StreamOwned<ClientConnection, std::net::TcpStream>) {
    client.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ping");
}

#[test]
fn garbage_instead_of_a_client_hello_fails_that_connection_only() {
    let (server, client) = localhost();
    let (echo_server, addr) = EchoServer::start(TlsAcceptor::new(server));
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    // The server answers with an alert and closes.
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).unwrap();
    assert_eq!(answer.first(), Some(&21), "an alert record: {answer:?}");
    // The next client is served.
    let mut good = std_client(&client, addr);
    std_ping(&mut good);
    good.conn.send_close_notify();
    good.flush().unwrap();
    drop(good);
    let (_, errors) = echo_server.stop_after(2);
    assert_eq!(errors, 1, "the garbage connection counted as an error");
}

#[test]
fn a_truncated_record_then_end_of_stream_is_unexpected_eof() {
    let (server, client) = localhost();
    let (echo_server, addr) = EchoServer::start(TlsAcceptor::new(server));
    let mut tls = std_client(&client, addr);
    std_ping(&mut tls);
    // Half an application-data record, then the end of the stream.
    tls.sock.write_all(&[23, 3, 3, 0, 100, 1, 2, 3, 4]).unwrap();
    tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
    let (errors, counted) = echo_server.stop_after(1);
    assert_eq!(errors, [io::ErrorKind::UnexpectedEof]);
    assert_eq!(counted, 1);
}

#[test]
fn end_of_stream_without_close_notify_is_an_error_and_with_it_a_clean_end() {
    let (server, client) = localhost();
    let (echo_server, addr) = EchoServer::start(TlsAcceptor::new(server));
    // Clean: close_notify, then the end of the stream. The server answers
    // with its own close_notify: this side reads a clean end too.
    let mut tls = std_client(&client, addr);
    std_ping(&mut tls);
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // Truncated: the end of the stream alone.
    let mut tls = std_client(&client, addr);
    std_ping(&mut tls);
    tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
    let (errors, _) = echo_server.stop_after(2);
    assert_eq!(errors, [io::ErrorKind::UnexpectedEof]);
}

#[test]
fn a_handshake_that_stalls_is_closed_at_the_timeout() {
    let (server, _) = localhost();
    let (_, client) = localhost();
    let acceptor = TlsAcceptor::new(server).handshake_timeout(Duration::from_millis(300));
    let (echo_server, addr) = EchoServer::start(acceptor);
    // The first 20 bytes of a real ClientHello, then nothing.
    let mut hello = Vec::new();
    let mut conn = ClientConnection::new(client, name("localhost")).unwrap();
    conn.write_tls(&mut hello).unwrap();
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(&hello[..20]).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    // The server closes: end of stream (or a reset), well before our own
    // 10 s read timeout.
    let _ = raw.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the stalled handshake was not given up"
    );
    let (_, errors) = echo_server.stop_after(1);
    assert_eq!(errors, 1);
}

#[test]
fn a_renegotiation_attempt_is_refused_without_harm() {
    // openssl's s_client asks for a TLS 1.2 renegotiation on "R".
    let (server, client) = localhost();
    let (echo_server, addr) = EchoServer::start(TlsAcceptor::new(server));
    let mut openssl = std::process::Command::new("openssl")
        .args(["s_client", "-tls1_2", "-connect", &addr.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the renegotiation test needs the openssl command (apt-get install openssl)");
    let mut stdin = openssl.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let _ = stdin.write_all(b"R\n");
    std::thread::sleep(Duration::from_millis(500));
    drop(stdin);
    let output = openssl.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stderr.contains("RENEGOTIATING") || stdout.contains("RENEGOTIATING"),
        "openssl did not try: {stdout} {stderr}"
    );
    // The server is unharmed: the next client is served.
    let mut good = std_client(&client, addr);
    std_ping(&mut good);
    good.conn.send_close_notify();
    good.flush().unwrap();
    drop(good);
    // rustls refuses (a `no_renegotiation` alert), openssl gives up with a
    // fatal alert of its own: that connection ends with the error.
    let (errors, _) = echo_server.stop_after(2);
    assert_eq!(errors, [io::ErrorKind::InvalidData]);
}

/// A scripted transport: a rustls client in memory. What the server writes
/// goes into the client; what the client sends comes out in pieces whose
/// lengths the script gives, so the server's reads see every cut.
struct Scripted {
    client: ClientConnection,
    pending: Vec<u8>,
    pos: usize,
    /// Where the current piece ends, as an offset in `pending`.
    cut: usize,
    /// After the handshake: records still to make, and the offset to cut
    /// the next one at.
    records: usize,
    made: usize,
}

/// Plaintext bytes per record: rustls's largest.
const RECORD: usize = 16 * 1024;

impl Scripted {
    /// Makes more of what the client sends, when all it sent was taken.
    fn refill(&mut self) {
        if self.pos < self.pending.len() {
            return;
        }
        self.pending.clear();
        self.pos = 0;
        if !self.client.is_handshaking() && !self.client.wants_write() {
            self.made += 1;
            if self.made <= self.records {
                let fill = vec![self.made as u8; RECORD];
                self.client.writer().write_all(&fill).unwrap();
            } else if self.made == self.records + 1 {
                self.client.send_close_notify();
            }
        }
        self.client.write_tls(&mut self.pending).unwrap();
        // The record made after the handshake is cut at offset `made`
        // (1 ..= the record's length - 1); everything else whole.
        self.cut = if self.made >= 1 && self.made <= self.records {
            (self.made % self.pending.len()).max(1)
        } else {
            self.pending.len()
        };
    }
}

impl AsyncBufRead for Scripted {
    fn poll_fill_buf(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        this.refill();
        if this.pos >= this.cut {
            this.cut = this.pending.len();
        }
        Poll::Ready(Ok(&this.pending[this.pos..this.cut]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().pos += amt;
    }
}

impl futures_lite::io::AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let available = std::task::ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut input = buf;
        while !input.is_empty() {
            this.client.read_tls(&mut input)?;
            this.client
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_16_kib_record_cut_at_every_byte_offset_is_read_whole() {
    // A full record is 16 KiB of plaintext plus 22 bytes (header, content
    // type, tag): one record per offset.
    const RECORDS: usize = RECORD + 22;
    let (server, client) = localhost();
    let transport = Scripted {
        client: ClientConnection::new(client, name("localhost")).unwrap(),
        pending: Vec::new(),
        pos: 0,
        cut: 0,
        records: RECORDS,
        made: 0,
    };
    runtime().block_on(async move {
        let mut tls = TlsAcceptor::new(server).accept(transport).await.unwrap();
        let mut buf = vec![0u8; RECORD];
        for record in 1..=RECORDS {
            tls.read_exact(&mut buf).await.unwrap();
            assert!(
                buf.iter().all(|&b| b == record as u8),
                "record {record} was read wrong"
            );
        }
        // The record length the cuts assumed is the real one.
        assert_eq!(tls.get_ref().pending.len(), RECORDS);
        let mut rest = Vec::new();
        tls.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "close_notify: a clean end");
    });
}

#[test]
fn a_peer_that_never_reads_stalls_the_writer_with_bounded_buffers() {
    let (server, client) = localhost();
    runtime().block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::new(server);
        let accepted = Rc::new(std::cell::Cell::new(0usize));
        let most_buffered = Rc::new(std::cell::Cell::new(0usize));
        let (counter, most) = (accepted.clone(), most_buffered.clone());
        let writer = runtime_executor::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(stream).await.unwrap();
            let chunk = vec![7u8; 64 * 1024];
            loop {
                tls.write_all(&chunk).await.unwrap();
                counter.set(counter.get() + chunk.len());
                most.set(most.get().max(tls.get_ref().outbound_buffered()));
            }
        });
        // The client finishes its handshake, then never reads.
        let _silent = connect(&TlsConnector::new(client), addr, "localhost")
            .await
            .unwrap();
        let mut last = usize::MAX;
        // Wait for the writer to stall: no progress over 300 ms.
        for _ in 0..100 {
            runtime_executor::time::sleep(Duration::from_millis(300)).await;
            if accepted.get() == last {
                break;
            }
            last = accepted.get();
        }
        assert_eq!(accepted.get(), last, "the writer never stalled");
        // What was accepted sits in the kernel's buffers (a few MiB on
        // loopback) and in the stream's ring, whose bound holds over
        // ciphertext.
        assert!(last < 64 * 1024 * 1024, "{last} bytes accepted");
        assert!(
            most_buffered.get() <= 256 * 1024,
            "{} bytes of ciphertext in the outbound ring",
            most_buffered.get()
        );
        writer.abort();
    });
}

#[test]
fn the_first_read_deadline_is_not_met_by_the_handshake() {
    // A client that completes the handshake, then sends nothing: the
    // server's handshake flights are no reply, so the first-read deadline
    // closes it; a client that speaks is echoed.
    let (server, client) = localhost();
    let (echo_server, addr) = EchoServer::start_with(TlsAcceptor::new(server), |server| {
        server.first_read_timeout(Duration::from_millis(300))
    });
    let mut silent = std_client(&client, addr);
    while silent.conn.is_handshaking() {
        silent.conn.complete_io(&mut silent.sock).unwrap();
    }
    let mut good = std_client(&client, addr);
    std_ping(&mut good);
    let started = Instant::now();
    let mut rest = Vec::new();
    // Closed by the server (its close alert or none: either is the end).
    let _ = silent.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the silent client was not cut off"
    );
    good.conn.send_close_notify();
    good.flush().unwrap();
    drop(good);
    let (errors, _) = echo_server.stop_after(2);
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_handshake_trickled_a_byte_at_a_time_is_closed_at_the_timeout() {
    let (server, _) = localhost();
    let (_, client) = localhost();
    let acceptor = TlsAcceptor::new(server).handshake_timeout(Duration::from_millis(300));
    let (echo_server, addr) = EchoServer::start(acceptor);
    let mut hello = Vec::new();
    let mut conn = ClientConnection::new(client, name("localhost")).unwrap();
    conn.write_tls(&mut hello).unwrap();
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Some 200 bytes, 50 ms apart: ten seconds to send them all.
    let mut writer = raw.try_clone().unwrap();
    let total = hello.len();
    let sender = std::thread::spawn(move || {
        for (sent, byte) in hello.iter().enumerate() {
            if writer.write_all(&[*byte]).is_err() {
                return sent;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        hello.len()
    });
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    let waited = started.elapsed();
    drop(raw);
    let sent = sender.join().unwrap();
    assert!(
        sent < total,
        "the whole hello went out in {waited:?}: the timeout never came"
    );
    let (_, errors) = echo_server.stop_after(1);
    assert_eq!(errors, 1);
}

#[test]
fn bytes_after_close_notify_are_ignored_and_the_stream_ends_cleanly() {
    let (server, client) = localhost();
    let (echo_server, addr) = EchoServer::start(TlsAcceptor::new(server));
    let mut tls = std_client(&client, addr);
    std_ping(&mut tls);
    // close_notify, then a record of data (rustls still encrypts after
    // it), then garbage; the write side stays open.
    tls.conn.send_close_notify();
    tls.conn.writer().write_all(b"late").unwrap();
    let mut wire = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut wire).unwrap();
    }
    wire.extend(std::iter::repeat_n(0x17, 64 * 1024));
    tls.sock.write_all(&wire).unwrap();
    // The echo reads a clean end at the alert and returns; nothing of what
    // followed it is echoed.
    let mut rest = Vec::new();
    assert_eq!(tls.read_to_end(&mut rest).unwrap(), 0, "{rest:?}");
    let (errors, counted) = echo_server.stop_after(1);
    assert_eq!(errors, []);
    assert_eq!(counted, 0);
}
