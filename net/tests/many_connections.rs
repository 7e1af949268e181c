//! Many connections at once through `Server` on 127.0.0.1 (RELIABILITY row
//! 1): 1 000 clients, each echoing a random payload of up to 1 MiB byte for
//! byte while it is still writing it, then closed in a random order. The
//! server runs on a 2-core runtime in the test thread, the clients on a
//! 1-core runtime in another thread.

mod util;

use std::net::SocketAddr;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use futures_lite::AsyncBufReadExt;
use runtime_executor::{time, JoinHandle, Runtime};
use runtime_net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use runtime_net::{Server, TcpStream};
use util::XorShift;

const CONNECTIONS: usize = 1000;
const MAX_PAYLOAD: usize = 1 << 20;
const SEED: u64 = 0x00c0_ffee_5eed_0001;
/// Far above what the test needs (a few seconds in a debug build): a lost
/// wake-up fails it instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn thousand_connections_echo_random_payloads() {
    // Two fds per connection in this process (client and server side), all
    // open at once unless the hard limit forbids it.
    let fd_limit = util::raise_fd_limit();
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
    let rt = Runtime::builder().cores(2).build().unwrap();
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
    server.run(&rt, || util::echo).unwrap();
    let verified = clients.join().unwrap_or_else(|panic| resume_unwind(panic));

    assert_eq!(verified, CONNECTIONS);
    let stats = server.stats();
    assert_eq!(stats.accepted, CONNECTIONS as u64);
    assert_eq!(stats.refused, 0);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.open, 0);
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
