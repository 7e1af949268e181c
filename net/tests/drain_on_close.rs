//! A closed connection's last sends (the one linger of both faces) against
//! its edges: a close timeout of 0 cuts them at once, and a stop (of the
//! engine, on its own runtime or a shared one, or of the runtime under
//! either face) cuts them at its deadline, fds closed, instead of leaving
//! them the whole close timeout (30 s by default), and so does the async
//! `Server`'s shutdown deadline for the connections it cancels.
//!
//! Each case queues bytes for a peer that does not read until the stop
//! ([`QUEUED`] on the engine; on the async face what the stream takes
//! before its writes wait); then the peer reads to the end. Had the linger
//! gone on, it would deliver everything; cut, the peer gets only what the
//! kernel's buffers (kept small) already held.

mod engine_util;
mod util;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_util::{socket_addr, Hooks, WAIT};
use runtime_executor::{time, Runtime};
use runtime_net::engine::{self, Action, Bytes, Options};

/// More than the kernel's buffers on both ends hold.
const QUEUED: usize = 4 * 1024 * 1024;

/// A peer with a small receive buffer (so the server's sends stall early)
/// that reads nothing yet.
fn slow_peer(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let peer: TcpStream = socket.into();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer
}

/// Reads until the end (or a reset); the bytes read. Panics on a read that
/// waits [`WAIT`]: the server kept the socket open with nothing to send.
fn read_to_end(peer: &mut TcpStream) -> usize {
    let mut buf = vec![0; 64 * 1024];
    let mut got = 0;
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got += n,
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(err) => panic!("after {got} bytes: {err} (the socket was never closed)"),
        }
    }
}

/// An engine handler that greets with [`QUEUED`] bytes and closes.
fn greet_and_close() -> Hooks {
    Hooks::new().on_open(|_| (Some(Bytes::from(vec![7u8; QUEUED])), Action::Close))
}

/// Checks that the peer got less than the `queued` bytes.
fn cut(what: &str, got: usize, queued: usize) {
    assert!(
        got < queued,
        "{what}: all {got} bytes arrived: the linger was never cut"
    );
}

#[test]
fn an_engine_close_timeout_of_zero_cuts_the_linger_at_once() {
    let engine = engine::start(
        greet_and_close(),
        &["tcp://127.0.0.1:0"],
        Options::new()
            .socket_send_buffer(4096)
            .close_timeout(Duration::ZERO),
    )
    .unwrap();
    let mut peer = slow_peer(socket_addr(&engine.addrs()[0]));
    std::thread::sleep(Duration::from_millis(100));
    cut("close timeout 0", read_to_end(&mut peer), QUEUED);
    engine_util::stop_and_wait(&engine);
}

#[test]
fn an_engine_stop_cuts_the_lingers_at_its_deadline() {
    let engine = engine::start(
        greet_and_close(),
        &["tcp://127.0.0.1:0"],
        Options::new()
            .socket_send_buffer(4096)
            .shutdown_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    let mut peer = slow_peer(socket_addr(&engine.addrs()[0]));
    std::thread::sleep(Duration::from_millis(100));
    engine.stop();
    assert!(
        engine_util::finishes_within(&engine, WAIT),
        "the stop waited on a linger"
    );
    cut("own runtime", read_to_end(&mut peer), QUEUED);
}

#[test]
fn an_engine_stop_on_a_shared_runtime_cuts_the_lingers_at_its_deadline() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let engine = engine::serve_on(
        &rt.handle(),
        greet_and_close(),
        &["tcp://127.0.0.1:0"],
        Options::new()
            .socket_send_buffer(4096)
            .shutdown_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    let addr = socket_addr(&engine.addrs()[0]);
    let got = rt.block_on(async move {
        let mut peer = runtime_executor::spawn_blocking(move || slow_peer(addr))
            .await
            .unwrap();
        time::sleep(Duration::from_millis(100)).await;
        engine.stop();
        let started = Instant::now();
        engine.finished().await;
        assert!(started.elapsed() < WAIT, "the stop waited on a linger");
        // Read while the runtime (not the engine's) runs on: a linger
        // going on would deliver everything.
        runtime_executor::spawn_blocking(move || read_to_end(&mut peer))
            .await
            .unwrap()
    });
    cut("shared runtime", got, QUEUED);
}

#[test]
fn dropping_a_shared_runtime_cuts_its_engine_lingers() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let engine = engine::serve_on(
        &rt.handle(),
        greet_and_close(),
        &["tcp://127.0.0.1:0"],
        Options::new().socket_send_buffer(4096),
    )
    .unwrap();
    let addr = socket_addr(&engine.addrs()[0]);
    let mut peer = rt.block_on(async move {
        let peer = runtime_executor::spawn_blocking(move || slow_peer(addr))
            .await
            .unwrap();
        time::sleep(Duration::from_millis(100)).await;
        peer
    });
    let started = Instant::now();
    drop(rt);
    assert!(started.elapsed() < WAIT, "the runtime's drop waited");
    engine.wait();
    cut("runtime dropped", read_to_end(&mut peer), QUEUED);
}

/// Writes to `stream` until a write waits 200 ms for room (the kernel's
/// buffers and the outbound ring are full), adding each write's bytes to
/// `accepted`.
async fn fill(stream: &mut runtime_net::TcpStream, accepted: &std::sync::atomic::AtomicUsize) {
    let chunk = vec![7u8; 64 * 1024];
    while let Ok(written) = time::timeout(
        Duration::from_millis(200),
        futures_lite::AsyncWriteExt::write(stream, &chunk),
    )
    .await
    {
        accepted.fetch_add(written.unwrap(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Accepts `peer` (a [`slow_peer`]) as an async stream, fills it with
/// `close_timeout`, and drops it; the peer and the bytes the stream took.
async fn queue_and_drop(listener: &TcpListener, close_timeout: Duration) -> (TcpStream, usize) {
    let addr = listener.local_addr().unwrap();
    let peer = runtime_executor::spawn_blocking(move || slow_peer(addr));
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                time::sleep(Duration::from_millis(1)).await
            }
            Err(err) => panic!("accept: {err}"),
        }
    };
    let peer = peer.await.unwrap();
    let mut stream = runtime_net::TcpStream::from_std(stream).unwrap();
    stream.set_send_buffer_size(4096).unwrap();
    stream.set_close_timeout(close_timeout);
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    fill(&mut stream, &accepted).await;
    assert!(stream.outbound_buffered() > 0);
    drop(stream);
    (peer, accepted.into_inner())
}

fn nonblocking_listener() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

#[test]
fn a_stream_close_timeout_of_zero_cuts_the_linger_at_once() {
    let listener = nonblocking_listener();
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (got, accepted) = rt.block_on(async {
        let (mut peer, accepted) = queue_and_drop(&listener, Duration::ZERO).await;
        // Read while the runtime runs: a linger going on would deliver.
        let got = runtime_executor::spawn_blocking(move || read_to_end(&mut peer))
            .await
            .unwrap();
        (got, accepted)
    });
    cut("a stream's close timeout 0", got, accepted);
}

#[test]
fn dropping_the_runtime_cuts_a_dropped_streams_linger() {
    let listener = nonblocking_listener();
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (mut peer, accepted) = rt.block_on(queue_and_drop(&listener, Duration::from_secs(30)));
    let started = Instant::now();
    drop(rt);
    assert!(started.elapsed() < WAIT, "the runtime's drop waited");
    cut(
        "a stream's runtime dropped",
        read_to_end(&mut peer),
        accepted,
    );
}

/// Fills each connection as [`fill`] does, counting what it took, and
/// waits there until the shutdown cancels it.
struct Fills(Arc<std::sync::atomic::AtomicUsize>);

impl runtime_net::Service for Fills {
    async fn call(&self, mut stream: runtime_net::TcpStream) -> std::io::Result<()> {
        stream.set_send_buffer_size(4096)?;
        fill(&mut stream, &self.0).await;
        std::future::pending().await
    }
}

/// The async face's twin of the shared-runtime engine stop: a connection
/// cancelled at the shutdown deadline drops its stream, whose linger must
/// not go on on the caller's runtime after `run` returns (it had the whole
/// close timeout before the server cut it; `graceful_stop.rs`, which drops
/// the runtime, could not see it).
#[test]
fn a_server_shutdown_cuts_its_connections_lingers_at_its_deadline() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let server = runtime_net::Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .shutdown_timeout(Duration::from_millis(100));
    let shutdown = server.shutdown_handle();
    let client = std::thread::spawn(move || {
        let peer = slow_peer(shutdown.wait_listening());
        std::thread::sleep(Duration::from_millis(500));
        shutdown.shutdown();
        peer
    });
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let taken = accepted.clone();
    server.run(&rt, move || Fills(taken.clone())).unwrap();
    assert!(started.elapsed() < WAIT, "the shutdown waited on a linger");
    let mut peer = client.join().unwrap();
    // Read while the runtime (the caller's, not the server's) runs on: a
    // linger going on would deliver everything.
    let got = rt.block_on(async move {
        runtime_executor::spawn_blocking(move || read_to_end(&mut peer))
            .await
            .unwrap()
    });
    cut(
        "a server's shutdown",
        got,
        accepted.load(std::sync::atomic::Ordering::Relaxed),
    );
}
