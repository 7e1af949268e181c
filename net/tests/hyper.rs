//! The `hyper` feature: hyper 1.x HTTP/1 servers and clients on our streams,
//! timer and executor, over real sockets (no tokio runtime involved).
#![cfg(feature = "hyper")]

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::{Executor, Read, ReadBuf, Timer, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use runtime_executor::{spawn, time, Runtime};
use runtime_net::hyper::{HyperExecutor, HyperTimer};
use runtime_net::{TcpListener, TcpStream, UnixStream};

#[cfg(feature = "tls")]
#[path = "tls_util/mod.rs"]
mod tls_util;

/// How long any one test may wait on the network before it fails.
const LIMIT: Duration = Duration::from_secs(10);

fn runtime() -> Runtime {
    Runtime::builder().cores(1).build().unwrap()
}

/// `future`, or a panic naming `what` once [`LIMIT`] has passed.
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match time::timeout(LIMIT, future).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: still waiting after {LIMIT:?}"),
    }
}

/// A listener on 127.0.0.1 whose accept loop serves each connection with a
/// service from `make_service`; counts the connections it accepted.
async fn http_server<M, S, Fut, B>(make_service: M) -> (SocketAddr, Rc<Cell<usize>>)
where
    M: Fn() -> S + 'static,
    S: Fn(Request<Incoming>) -> Fut + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Rc::new(Cell::new(0));
    let counter = accepted.clone();
    spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.set(counter.get() + 1);
            let service = service_fn(make_service());
            spawn(async move {
                http1::Builder::new()
                    .timer(HyperTimer)
                    .serve_connection(stream, service)
                    .await
                    .unwrap();
            });
        }
    });
    (addr, accepted)
}

/// A hyper client connection on our `TcpStream`, its driver spawned.
async fn http_client(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
    spawn(async move { conn.await.unwrap() });
    sender
}

fn text(body: impl Into<Bytes>) -> Full<Bytes> {
    Full::new(body.into())
}

/// Bytes with no short period, so a dropped or repeated chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    runtime().block_on(async {
        let (addr, accepted) = http_server(|| {
            // Per connection: a new connection would start counting at 1 again.
            let served = Rc::new(Cell::new(0));
            move |req: Request<Incoming>| {
                served.set(served.get() + 1);
                let body = format!("request {} on this connection: {}", served.get(), req.uri());
                async move { Ok(Response::new(text(body))) }
            }
        })
        .await;

        let mut sender = http_client(addr).await;
        for i in 1..=20 {
            bounded("ready", sender.ready()).await.unwrap();
            let req = Request::get(format!("/{i}")).body(text("")).unwrap();
            let resp = bounded("response", sender.send_request(req)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.headers().get("connection").is_none(), "server closes");
            let body = bounded("body", resp.collect()).await.unwrap().to_bytes();
            assert_eq!(body, format!("request {i} on this connection: /{i}"));
        }
        assert_eq!(accepted.get(), 1, "every request on one connection");
    });
}

#[test]
fn posted_body_is_echoed_byte_exact() {
    runtime().block_on(async {
        // Streams the request body back as it arrives: both directions are in
        // flight at once, past both rings' bounds.
        let echo = |req: Request<Incoming>| async move { Ok(Response::new(req.into_body())) };
        let (addr, _) = http_server(move || echo).await;

        let mut sender = http_client(addr).await;
        for len in [1024 * 1024, 3, 0] {
            let sent = pattern(len);
            let req = Request::post("/echo").body(text(sent.clone())).unwrap();
            let resp = bounded("response", sender.send_request(req)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let got = bounded("body", resp.collect()).await.unwrap().to_bytes();
            assert_eq!(got.len(), len);
            assert!(got == sent, "echoed body differs from the {len} bytes sent");
            bounded("ready", sender.ready()).await.unwrap();
        }
    });
}

#[test]
fn request_split_across_writes_is_parsed() {
    runtime().block_on(async {
        let (addr, _) = http_server(|| {
            |req: Request<Incoming>| async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let piece = parts.headers["x-piece"].to_str().unwrap().to_owned();
                let reply = format!(
                    "{} {} {piece} {}",
                    parts.method,
                    parts.uri,
                    String::from_utf8_lossy(&body)
                );
                Ok(Response::new(text(reply)))
            }
        })
        .await;

        let request: &[u8] = b"POST /split/path HTTP/1.1\r\nHost: test\r\nX-Piece: by-piece\r\n\
            Content-Length: 11\r\n\r\nhello world";
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        // One byte per segment: the server's reads end at every offset,
        // inside the request line, a header, a `\r\n` and the body.
        for byte in request {
            stream.write_all(std::slice::from_ref(byte)).await.unwrap();
            stream.flush().await.unwrap();
            time::sleep(Duration::from_millis(1)).await;
        }
        // Keep-alive: the response ends where its body does, not at EOF.
        let expected_body = "POST /split/path by-piece hello world";
        let mut response = Vec::new();
        let mut chunk = [0u8; 512];
        while !response.ends_with(expected_body.as_bytes()) {
            let n = bounded("response", stream.read(&mut chunk)).await.unwrap();
            assert!(n > 0, "closed mid-response: {response:?}");
            response.extend_from_slice(&chunk[..n]);
        }
        let response = String::from_utf8(response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.contains("\r\ncontent-length: 37\r\n"),
            "{response}"
        );
    });
}

#[test]
fn close_delimited_response_body_ends_at_end_of_stream() {
    runtime().block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut chunk = [0u8; 512];
            while !head.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "client closed mid-request");
                head.extend_from_slice(&chunk[..n]);
            }
            // No length: the body ends where the stream does. Data and FIN
            // leave in one poll, so the client finds both queued.
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
                .await
                .unwrap();
            stream.shutdown().await.unwrap();
        });

        let mut sender = http_client(addr).await;
        let req = Request::get("/").body(text("")).unwrap();
        let resp = bounded("response", sender.send_request(req)).await.unwrap();
        let body = bounded("the body's end", resp.collect())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body, "until the end");
    });
}

/// Connects, sends `prefix` (less than a request head), and checks that a
/// server with a 200 ms header read timeout closes the connection after
/// that long, with a timeout error.
fn assert_header_read_timeout_closes(prefix: &'static [u8]) {
    const TIMEOUT: Duration = Duration::from_millis(200);
    runtime().block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(text("never sent")))
            });
            http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(TIMEOUT)
                .serve_connection(stream, service)
                .await
        });

        let mut stream = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        stream.write_all(prefix).await.unwrap();
        stream.flush().await.unwrap();
        let mut got = Vec::new();
        bounded("the server to close", stream.read_to_end(&mut got))
            .await
            .unwrap();
        let waited = start.elapsed();
        assert!(waited >= TIMEOUT, "closed after {waited:?}");
        assert!(
            waited < TIMEOUT + Duration::from_secs(2),
            "closed after {waited:?}"
        );
        assert!(
            !String::from_utf8_lossy(&got).contains("never sent"),
            "{got:?}"
        );

        let err = bounded("the server task", server)
            .await
            .unwrap()
            .expect_err("the connection ended without an error");
        assert!(err.is_timeout(), "not a timeout: {err}");
    });
}

#[test]
fn header_read_timeout_closes_silent_connection() {
    assert_header_read_timeout_closes(b"");
}

#[test]
fn header_read_timeout_closes_connection_with_partial_head() {
    assert_header_read_timeout_closes(b"GET / HTTP/1.1\r\nHost: test\r\n");
}

#[test]
fn unix_stream_serves_http1() {
    runtime().block_on(async {
        let (server_side, client_side) = UnixStream::pair().unwrap();
        spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                Ok::<_, Infallible>(Response::new(text(format!("unix {}", req.uri()))))
            });
            http1::Builder::new()
                .timer(HyperTimer)
                .serve_connection(server_side, service)
                .await
                .unwrap();
        });

        let (mut sender, conn) = hyper::client::conn::http1::handshake(client_side)
            .await
            .unwrap();
        spawn(async move { conn.await.unwrap() });
        for i in 0..3 {
            bounded("ready", sender.ready()).await.unwrap();
            let req = Request::get(format!("/{i}")).body(text("")).unwrap();
            let resp = bounded("response", sender.send_request(req)).await.unwrap();
            let body = bounded("body", resp.collect()).await.unwrap().to_bytes();
            assert_eq!(body, format!("unix /{i}"));
        }
    });
}

#[test]
fn owned_halves_read_and_write_through_hyper_traits() {
    runtime().block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (_a_read, mut a_write) = a.into_split();
        let (mut b_read, _b_write) = b.into_split();

        assert!(a_write.is_write_vectored());
        let bufs = [IoSlice::new(b"through "), IoSlice::new(b"hyper's traits")];
        let n = poll_fn(|cx| Pin::new(&mut a_write).poll_write_vectored(cx, &bufs))
            .await
            .unwrap();
        assert_eq!(n, 22, "both slices fit in the outbound ring");
        poll_fn(|cx| Pin::new(&mut a_write).poll_shutdown(cx))
            .await
            .unwrap();

        // A full cursor reads nothing and consumes nothing.
        let mut empty = ReadBuf::new(&mut []);
        poll_fn(|cx| Pin::new(&mut b_read).poll_read(cx, empty.unfilled()))
            .await
            .unwrap();

        let mut got = Vec::new();
        let mut storage = [0u8; 5];
        loop {
            let mut buf = ReadBuf::new(&mut storage);
            bounded(
                "read",
                poll_fn(|cx| Pin::new(&mut b_read).poll_read(cx, buf.unfilled())),
            )
            .await
            .unwrap();
            if buf.filled().is_empty() {
                break; // end of stream
            }
            assert!(buf.filled().len() <= 5);
            got.extend_from_slice(buf.filled());
        }
        assert_eq!(got, b"through hyper's traits");
    });
}

#[test]
fn stream_reads_into_uninitialized_buffers_of_every_size() {
    runtime().block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let sent = pattern(1024 * 1024);
        let data = sent.clone();
        let writer = spawn(async move {
            a.write_all(&data).await.unwrap();
            a.shutdown().await.unwrap();
        });

        // Small cursors read through the ring, large ones over an empty ring
        // straight from the socket; sizes alternate so both paths meet.
        let mut storage = vec![MaybeUninit::<u8>::uninit(); 200 * 1024];
        let sizes = [10, 200 * 1024, 16 * 1024 - 1, 16 * 1024, 100 * 1024, 1];
        let mut got = Vec::new();
        for size in sizes.iter().cycle() {
            let mut buf = ReadBuf::uninit(&mut storage[..*size]);
            bounded(
                "read",
                poll_fn(|cx| Pin::new(&mut b).poll_read(cx, buf.unfilled())),
            )
            .await
            .unwrap();
            if buf.filled().is_empty() {
                break; // end of stream
            }
            got.extend_from_slice(buf.filled());
        }
        bounded("the writer", writer).await.unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "bytes read differ from those written");
    });
}

#[test]
fn timer_sleeps_until_the_deadline() {
    runtime().block_on(async {
        let start = Instant::now();
        bounded("sleep", HyperTimer.sleep(Duration::from_millis(20))).await;
        assert!(start.elapsed() >= Duration::from_millis(20));

        let deadline = Instant::now() + Duration::from_millis(10);
        bounded("sleep_until", HyperTimer.sleep_until(deadline)).await;
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn timer_reset_moves_the_deadline_in_place() {
    runtime().block_on(async {
        let start = Instant::now();
        let mut sleep = HyperTimer.sleep(Duration::from_secs(60));
        let before: *const dyn hyper::rt::Sleep = &*sleep;
        HyperTimer.reset(&mut sleep, start + Duration::from_millis(10));
        let after: *const dyn hyper::rt::Sleep = &*sleep;
        assert!(std::ptr::addr_eq(before, after), "reset reallocated");
        bounded("the reset sleep", sleep).await;
        assert!(start.elapsed() >= Duration::from_millis(10));

        // A sleep from elsewhere is replaced by one of ours.
        let mut foreign: Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Never);
        HyperTimer.reset(&mut foreign, Instant::now() + Duration::from_millis(1));
        bounded("the replaced sleep", foreign).await;
    });
}

/// A `hyper::rt::Sleep` that is not ours and never completes.
struct Never;

impl Future for Never {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl hyper::rt::Sleep for Never {}

#[test]
fn executor_runs_local_futures() {
    runtime().block_on(async {
        let ran = Rc::new(Cell::new(false)); // `!Send` is fine
        let flag = ran.clone();
        HyperExecutor.execute(async move { flag.set(true) });
        for _ in 0..100 {
            if ran.get() {
                break;
            }
            runtime_executor::yield_now().await;
        }
        assert!(ran.get(), "the executed future never ran");
    });
}

/// hyper over TLS on both ends, with ALPN `http/1.1`: the server reads the
/// request through a `TlsStream`, the client sends it through one.
#[cfg(feature = "tls")]
#[test]
fn hyper_over_tls_with_alpn() {
    use std::sync::Arc;

    use runtime_net::tls::{TlsAcceptor, TlsConnector};

    let ca = tls_util::Ca::new();
    let mut server = ca.server(&ca.leaf(&["localhost"]));
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut client = ca.client();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    runtime().block_on(bounded("hyper over TLS", async move {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::new(Arc::new(server));
        spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(stream).await.unwrap();
            assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
            let hello = service_fn(|req: Request<Incoming>| async move {
                let body = format!("hello {}", req.uri().path());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
            });
            http1::Builder::new()
                .timer(HyperTimer)
                .serve_connection(tls, hello)
                .await
                .unwrap();
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let tls = TlsConnector::new(Arc::new(client))
            .connect(tls_util::name("localhost"), stream)
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(tls).await.unwrap();
        spawn(conn);
        for path in ["/a", "/b"] {
            let req = Request::get(path).body(Full::new(Bytes::new())).unwrap();
            let response = sender.send_request(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, format!("hello {path}"));
        }
    }));
}
