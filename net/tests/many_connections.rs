//! Many connections at once through `Server` on 127.0.0.1 (RELIABILITY row
//! 1): 10 000 clients in a release build (`.ci/run` runs this file with
//! `--release`; 1 000 in a debug build), each echoing a random payload of up
//! to 1 MiB byte for byte while it is still writing it, then closed in a
//! random order. The server runs on a runtime of every CPU in the test
//! thread, the clients on a 1-core runtime in another thread. Every
//! connection is opened and closed once by the service, and the process's
//! fds and live heap (a counting allocator) are back to their baseline
//! once the runtimes are gone.

mod util;

use std::net::SocketAddr;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_lite::AsyncBufReadExt;
use runtime_executor::{time, JoinHandle, Runtime};
use runtime_net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use runtime_net::{Server, TcpStream};
use util::{XorShift, LIVE_BYTES};

#[global_allocator]
static ALLOCATOR: util::CountingAllocator = util::CountingAllocator;

/// What the harness's other threads may allocate meanwhile (it prints the
/// test's name as it starts); a leak of one byte per connection is more.
const HEAP_SLACK: usize = 8 * 1024;

const CONNECTIONS: usize = if cfg!(debug_assertions) {
    1_000
} else {
    10_000
};
const MAX_PAYLOAD: usize = 1 << 20;
const SEED: u64 = 0x00c0_ffee_5eed_0001;
/// Far above what the test needs (a few seconds in a debug build): a lost
/// wake-up fails it instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn many_connections_echo_random_payloads_and_give_back_fds_and_memory() {
    // Two fds per connection in this process (client and server side), all
    // open at once unless the hard limit forbids it.
    let fd_limit = util::raise_fd_limit();
    let fds_before = util::open_fds();
    let heap_before = LIVE_BYTES.load(Ordering::Relaxed);
    let open_at_once = CONNECTIONS.min(fd_limit.saturating_sub(100) / 2).max(1);

    let mut rng = XorShift::new(SEED);
    // Each payload is a window of one random block: different bytes per
    // connection without generating 500 MB of them. Lengths are uniform in
    // 0..=1 MiB, both ends included for sure: about 490 MiB each way, which
    // a debug build echoes in about a second on 2 CPUs.
    let block = rng.bytes(2 * MAX_PAYLOAD);
    let payloads: Vec<Range<usize>> = (0..CONNECTIONS)
        .map(|i| {
            let len = match i {
                0 => 0,
                1 => MAX_PAYLOAD,
                _ => rng.up_to(MAX_PAYLOAD),
            };
            let start = rng.up_to(MAX_PAYLOAD);
            start..start + len
        })
        .collect();
    let total: usize = payloads.iter().map(|p| p.len()).sum();
    eprintln!(
        "seed {SEED:#x}: {CONNECTIONS} connections, {open_at_once} open at once, {} MiB each way",
        total >> 20
    );

    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .shutdown_timeout(Duration::from_secs(2));
    let shutdown = server.shutdown_handle();
    let observer = server.clone();
    let clients = thread::spawn(move || {
        let addr = shutdown.wait_listening();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let verified = run_clients(addr, block, payloads, open_at_once, rng);
            // Every close reached the server: one close per connection.
            util::wait_until(DEADLINE, "server connections to close", || {
                observer.stats().open == 0
            });
            verified
        }));
        shutdown.shutdown();
        result.unwrap_or_else(|panic| resume_unwind(panic))
    });
    let (opened, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (o, c) = (opened.clone(), closed.clone());
    // The server's core 0 on a thread of its own too: what its thread-locals
    // keep (buffer pool, idle-sweep table) goes with it.
    let serving = server.clone();
    let server_thread = thread::spawn(move || {
        let rt = Runtime::builder().build().unwrap();
        serving.run(&rt, move || {
            let (o, c) = (o.clone(), c.clone());
            move |stream: TcpStream| {
                o.fetch_add(1, Ordering::Relaxed);
                let closed = Closed(c.clone());
                async move {
                    let _closed = closed;
                    util::echo(stream).await
                }
            }
        })
    });
    server_thread.join().unwrap().unwrap();
    let verified = clients.join().unwrap_or_else(|panic| resume_unwind(panic));
    assert_eq!(
        opened.load(Ordering::Relaxed),
        CONNECTIONS,
        "one open per connection"
    );
    assert_eq!(
        closed.load(Ordering::Relaxed),
        CONNECTIONS,
        "one close per connection"
    );

    assert_eq!(verified, CONNECTIONS);
    let stats = server.stats();
    assert_eq!(stats.accepted, CONNECTIONS as u64);
    assert_eq!(stats.refused, 0);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.open, 0);

    drop((server, opened, closed));
    let heap_after = LIVE_BYTES.load(Ordering::Relaxed);
    let fds_after = util::open_fds();
    eprintln!("live heap {heap_before} -> {heap_after} B, fds {fds_before} -> {fds_after}");
    assert_eq!(fds_after, fds_before, "fds left open");
    assert!(
        heap_after <= heap_before + HEAP_SLACK,
        "{} B of heap left",
        heap_after - heap_before
    );
}

/// Counts a connection's end however its service ends.
struct Closed(Arc<AtomicUsize>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs every connection on a 1-core runtime, `open_at_once` at a time,
/// closing each batch in a random order once all of it is verified.
/// Returns how many connections got their payload back intact.
fn run_clients(
    addr: SocketAddr,
    block: Vec<u8>,
    payloads: Vec<Range<usize>>,
    open_at_once: usize,
    mut rng: XorShift,
) -> usize {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let block: Rc<[u8]> = block.into();
        let all = async {
            let mut verified = 0;
            for batch in payloads.chunks(open_at_once) {
                let tasks: Vec<_> = batch
                    .iter()
                    .map(|range| {
                        runtime_executor::spawn(echo_one(addr, block.clone(), range.clone()))
                    })
                    .collect();
                let mut open = Vec::with_capacity(tasks.len());
                for task in tasks {
                    open.push(join(task).await);
                    verified += 1;
                }
                rng.shuffle(&mut open);
                for conn in open {
                    drop(conn);
                }
            }
            verified
        };
        time::timeout(DEADLINE, all)
            .await
            .expect("clients did not finish in time")
    })
}

/// Connects, writes `block[range]` from one task while this one reads the
/// echo and compares it, and returns the still open connection.
async fn echo_one(
    addr: SocketAddr,
    block: Rc<[u8]>,
    range: Range<usize>,
) -> (OwnedReadHalf, OwnedWriteHalf) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let writing = {
        let (block, range) = (block.clone(), range.clone());
        runtime_executor::spawn(async move {
            writer.write_all(&block[range]).await.expect("write");
            writer
        })
    };
    let expected = &block[range];
    let mut pos = 0;
    while pos < expected.len() {
        let chunk = reader.fill_buf().await.expect("read");
        let n = chunk.len();
        assert!(
            n > 0,
            "end of stream after {pos} of {} bytes",
            expected.len()
        );
        assert!(
            pos + n <= expected.len(),
            "{} bytes echoed, {} sent",
            pos + n,
            expected.len()
        );
        assert!(
            chunk == &expected[pos..pos + n],
            "echo differs within bytes {pos}..{}",
            pos + n
        );
        reader.consume(n);
        pos += n;
    }
    (reader, join(writing).await)
}

/// Awaits `task`, resuming its panic here.
async fn join<T>(task: JoinHandle<T>) -> T {
    match task.await {
        Ok(out) => out,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => resume_unwind(panic),
            Err(err) => panic!("client task failed: {err}"),
        },
    }
}
