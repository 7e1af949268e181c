//! RELIABILITY row 8 on both faces: a peer that sends 256 MiB and never
//! reads the echo. The server stops reading once its outbound buffer is
//! past the high watermark, so the peer's sends stall and the server's
//! memory stays bounded, however large the inbound buffer may grow.

mod engine_util;
mod util;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use engine_util::socket_addr;
use runtime_executor::Runtime;
use runtime_net::engine::{self, Action, Conn, EventHandler, Options};
use runtime_net::Server;

/// What the peer tries to send.
const FLOOD: usize = 256 * 1024 * 1024;
/// The bound on the process's RSS growth: the server's buffers (a 256 KiB
/// watermark, a few read chunks) and this test's own, with room to spare.
/// Buffering the flood would take 256 MiB.
const RSS_BOUND: usize = 32 * 1024 * 1024;
/// How long the peer's sends must make no progress to count as stalled.
const STALLED: Duration = Duration::from_millis(500);
/// A bound on the whole flood, so a server that never stalls fails.
const LIMIT: Duration = Duration::from_secs(60);

/// Sends up to [`FLOOD`] bytes without reading; returns how many went out
/// before the sends stalled for [`STALLED`], and the RSS then.
fn flood(addr: SocketAddr) -> (usize, usize) {
    let mut peer = TcpStream::connect(addr).expect("connect");
    peer.set_nonblocking(true).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let (mut sent, started) = (0, Instant::now());
    let mut last_progress = Instant::now();
    while sent < FLOOD && last_progress.elapsed() < STALLED {
        assert!(
            started.elapsed() < LIMIT,
            "the flood neither ended nor stalled"
        );
        match peer.write(&chunk) {
            Ok(n) => {
                sent += n;
                last_progress = Instant::now();
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(err) => panic!("the server failed the connection: {err}"),
        }
    }
    (sent, util::rss_bytes())
}

fn check(face: &str, rss_before: usize, (sent, rss_after): (usize, usize)) {
    eprintln!(
        "{face}: the peer sent {} KiB before stalling; RSS grew {} KiB",
        sent / 1024,
        rss_after.saturating_sub(rss_before) / 1024
    );
    assert!(
        sent < FLOOD,
        "{face}: the server read all {FLOOD} bytes of a peer that never reads"
    );
    assert!(
        rss_after < rss_before + RSS_BOUND,
        "{face}: RSS grew from {rss_before} to {rss_after} B"
    );
}

#[test]
fn async_server_stops_reading_a_peer_that_never_reads() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .shutdown_timeout(Duration::from_millis(100));
    let shutdown = server.shutdown_handle();
    let client = thread::spawn(move || {
        let addr = shutdown.wait_listening();
        let before = util::rss_bytes();
        let result = flood(addr);
        shutdown.shutdown();
        (before, result)
    });
    server.run(&rt, || util::echo).unwrap();
    let (before, result) = client.join().unwrap();
    check("async", before, result);
}

/// Echoes what it can: a write refused past the watermark leaves the bytes
/// in the inbound buffer, to be echoed from `on_writable`.
#[derive(Clone)]
struct Echo;

impl Echo {
    fn echo(conn: &mut Conn) -> Action {
        let (inbound, outbound) = conn.split();
        let n = inbound.len();
        match outbound.write(inbound.peek(n)) {
            Ok(_) => {
                inbound.discard(n);
                Action::None
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Action::None,
            Err(_) => Action::Close,
        }
    }
}

impl EventHandler for Echo {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        Echo::echo(conn)
    }

    fn on_writable(&mut self, conn: &mut Conn) -> Action {
        Echo::echo(conn)
    }
}

#[test]
fn engine_stops_reading_a_peer_that_never_reads() {
    let engine = engine::start(
        Echo,
        &["tcp://127.0.0.1:0"],
        Options::new().close_timeout(Duration::from_millis(100)),
    )
    .expect("engine::start");
    let addr = socket_addr(&engine.addrs()[0]);
    let before = util::rss_bytes();
    let result = flood(addr);
    engine.stop();
    engine.wait();
    check("engine", before, result);
}
