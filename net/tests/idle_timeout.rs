//! 5 000 idle connections on both faces (RELIABILITY row 10): no buffer is
//! allocated for a connection before its first byte, and the idle timeout
//! closes every one of them (`Server::idle_timeout`,
//! `engine::Options::idle_timeout`), while a connection in use stays open.
//! Its own test binary: a counting allocator sees the whole process, and
//! the two faces take turns.

mod engine_util;
mod util;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use engine_util::{Hooks, WAIT};
use runtime_executor::Runtime;
use runtime_net::engine::{self, Action, Options};
use runtime_net::Server;
use util::LIVE_BYTES;

#[global_allocator]
static ALLOCATOR: util::CountingAllocator = util::CountingAllocator;

const IDLE: usize = 5_000;
/// Long enough that the last of the idle connections is accepted before
/// the first is closed, on a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Heap per idle connection, server side: its socket's state, never a ring
/// buffer (64 KiB).
const MAX_HEAP_PER_CONNECTION: usize = 1_536;

fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens `IDLE` connections that never send, as blocking-free std sockets
/// (no heap of their own).
fn connect_idle(addr: SocketAddr) -> Vec<std::net::TcpStream> {
    (0..IDLE)
        .map(|_| {
            let peer = std::net::TcpStream::connect(addr).expect("connect");
            peer.set_nonblocking(true).unwrap();
            peer
        })
        .collect()
}

/// Waits until the server has closed every one of `peers` (end of stream).
fn wait_all_closed(peers: &mut [std::net::TcpStream]) {
    let mut open: Vec<usize> = (0..peers.len()).collect();
    util::wait_until(WAIT * 2, "every idle connection closed", || {
        open.retain(|&i| match peers[i].read(&mut [0u8; 1]) {
            Ok(0) => false,
            Ok(_) => panic!("an idle connection received a byte"),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => true,
            Err(_) => false, // reset: closed too
        });
        open.is_empty()
    });
}

/// A connection in use (a round trip every tenth of the timeout, for two
/// timeouts) is not closed.
fn busy_connection_stays_open(addr: SocketAddr) {
    let mut busy = std::net::TcpStream::connect(addr).unwrap();
    busy.set_read_timeout(Some(WAIT)).unwrap();
    for _ in 0..20 {
        busy.write_all(b"ping").unwrap();
        let mut pong = [0u8; 4];
        busy.read_exact(&mut pong)
            .expect("the busy connection was closed");
        assert_eq!(&pong, b"ping");
        thread::sleep(TIMEOUT / 10);
    }
}

fn heap_per_connection(before: usize) -> usize {
    LIVE_BYTES.load(Ordering::Relaxed).saturating_sub(before) / IDLE
}

#[test]
fn server_idle_timeout_closes_five_thousand_idle_connections() {
    let _turn = serial();
    util::raise_fd_limit();
    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .idle_timeout(TIMEOUT)
        .shutdown_timeout(Duration::ZERO);
    let handle = server.shutdown_handle();
    let running = server.clone();
    let serving = thread::spawn(move || {
        let rt = Runtime::builder().cores(1).build().unwrap();
        running.run(&rt, || util::echo)
    });
    let addr = handle.wait_listening();
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut peers = connect_idle(addr);
    util::wait_until(WAIT, "every connection accepted", || {
        server.stats().open == IDLE
    });
    let per_connection = heap_per_connection(before);
    busy_connection_stays_open(addr);
    wait_all_closed(&mut peers);
    util::wait_until(WAIT, "the server's count", || server.stats().open == 0);
    handle.shutdown();
    serving.join().unwrap().unwrap();
    eprintln!("server: {per_connection} B of heap per idle connection");
    assert!(
        per_connection <= MAX_HEAP_PER_CONNECTION,
        "{per_connection} B per idle connection"
    );
    assert_eq!(server.stats().accepted as usize, IDLE + 1);
    assert_eq!(server.stats().errors, 0);
}

#[test]
fn engine_idle_timeout_closes_five_thousand_idle_connections() {
    let _turn = serial();
    util::raise_fd_limit();
    let timed_out = Arc::new(AtomicUsize::new(0));
    let t = timed_out.clone();
    let engine = engine::start(
        Hooks::new().on_close(move |_, err| {
            if err.is_some_and(|e| e.kind() == io::ErrorKind::TimedOut) {
                t.fetch_add(1, Ordering::SeqCst);
            }
            Action::None
        }),
        &["tcp://127.0.0.1:0"],
        Options::new().loops(1).idle_timeout(TIMEOUT),
    )
    .expect("engine::start");
    let addr = engine_util::socket_addr(&engine.addrs()[0]);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut peers = connect_idle(addr);
    util::wait_until(WAIT, "every connection accepted", || {
        engine.count_connections() == IDLE
    });
    let per_connection = heap_per_connection(before);
    busy_connection_stays_open(addr);
    wait_all_closed(&mut peers);
    util::wait_until(WAIT, "on_close for every idle connection", || {
        timed_out.load(Ordering::SeqCst) == IDLE
    });
    engine_util::stop_and_wait(&engine);
    eprintln!("engine: {per_connection} B of heap per idle connection");
    assert!(
        per_connection <= MAX_HEAP_PER_CONNECTION,
        "{per_connection} B per idle connection"
    );
}
