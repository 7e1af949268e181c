//! A burst of connects while established connections stream (RELIABILITY
//! row 5): the accept loop takes at most 64 connections per turn of the
//! core, then lets the other tasks and the sockets' I/O run, so the
//! streaming connections are never starved. Asserted as a count: a probe
//! task that runs once per turn of the core records the most connections
//! accepted between two of its turns.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_lite::{AsyncReadExt, StreamExt};
use runtime_executor::Runtime;
use runtime_net::{Server, TcpListener, TcpStream};

const BURST: usize = 5_000;
const BURST_THREADS: usize = 4;
const STREAMERS: usize = 100;
/// The accept loops' batch.
const PER_TURN: u64 = 64;

/// Counts, once per turn of its core, how far `count` moved since its last
/// turn; keeps the largest step. Runs until `stop`.
fn spawn_probe(count: impl Fn() -> u64 + 'static, max_step: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    drop(runtime_executor::spawn(async move {
        let mut last = count();
        while !stop.load(Ordering::Relaxed) {
            runtime_executor::yield_now().await;
            let now = count();
            max_step.fetch_max(now - last, Ordering::SeqCst);
            last = now;
        }
    }));
}

/// 100 clients echoing 1 KiB messages in lock-step until `stop`; returns
/// each one's round trips.
fn start_streamers(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<usize>> {
    thread::spawn(move || {
        let rt = Runtime::builder().cores(1).build().unwrap();
        rt.block_on(async move {
            let tasks: Vec<_> = (0..STREAMERS)
                .map(|i| {
                    let stop = stop.clone();
                    runtime_executor::spawn(async move {
                        let mut stream = TcpStream::connect(addr).await.expect("connect");
                        stream.write_all(b"S").await.unwrap();
                        let msg = vec![i as u8; 1024];
                        let mut echo = vec![0; 1024];
                        let mut trips = 0;
                        while !stop.load(Ordering::Relaxed) {
                            stream.write_all(&msg).await.unwrap();
                            stream.read_exact(&mut echo).await.unwrap();
                            assert_eq!(echo, msg);
                            trips += 1;
                        }
                        trips
                    })
                })
                .collect();
            let mut trips = Vec::new();
            for task in tasks {
                trips.push(task.await.unwrap());
            }
            trips
        })
    })
}

/// `BURST` connects from a few threads, each closed at once.
fn burst(addr: std::net::SocketAddr) {
    let threads: Vec<_> = (0..BURST_THREADS)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..BURST / BURST_THREADS {
                    drop(std::net::TcpStream::connect(addr).expect("burst connect"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn server_accepts_a_burst_in_bounded_batches_while_connections_stream() {
    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .backlog(4096);
    let handle = server.shutdown_handle();
    let max_step = Arc::new(AtomicU64::new(0));
    let probe_stop = Arc::new(AtomicBool::new(false));
    let (running, ms, ps) = (server.clone(), max_step.clone(), probe_stop.clone());
    let thread = thread::spawn(move || {
        let rt = Runtime::builder().cores(1).build().unwrap();
        let counted = running.clone();
        running.run(&rt, move || {
            let counted = counted.clone();
            spawn_probe(move || counted.stats().accepted, ms.clone(), ps.clone());
            |mut stream: TcpStream| async move {
                let mut first = [0; 1];
                if stream.read(&mut first).await? == 0 || first[0] != b'S' {
                    return Ok(()); // a burst connection
                }
                let mut buf = vec![0; 1024];
                loop {
                    stream.read_exact(&mut buf).await?;
                    stream.write_all(&buf).await?;
                }
            }
        })
    });
    let addr = handle.wait_listening();
    let stop = Arc::new(AtomicBool::new(false));
    let streamers = start_streamers(addr, stop.clone());
    util::wait_until(Duration::from_secs(10), "the streamers connected", || {
        server.stats().open >= STREAMERS
    });
    burst(addr);
    util::wait_until(Duration::from_secs(30), "the burst accepted", || {
        server.stats().accepted as usize == BURST + STREAMERS
    });
    stop.store(true, Ordering::Relaxed);
    let trips = streamers.join().unwrap();
    probe_stop.store(true, Ordering::Relaxed);
    handle.shutdown();
    thread.join().unwrap().unwrap();
    assert!(
        trips.iter().all(|&t| t > 0),
        "a streamer was starved: {trips:?}"
    );
    let max = max_step.load(Ordering::SeqCst);
    assert!(max >= 1, "the probe saw no accept");
    assert!(
        max <= PER_TURN,
        "{max} connections accepted in one turn of the core"
    );
}

#[test]
fn incoming_yields_after_a_batch() {
    const PENDING: usize = 500;
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Every connection waits in the backlog before the first accept.
        let clients: Vec<_> = (0..PENDING)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let accepted = Rc::new(Cell::new(0u64));
        let max_step = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let a = accepted.clone();
        spawn_probe(move || a.get(), max_step.clone(), stop.clone());
        let mut incoming = listener.incoming();
        while accepted.get() < PENDING as u64 {
            incoming.next().await.unwrap().unwrap();
            accepted.set(accepted.get() + 1);
        }
        stop.store(true, Ordering::Relaxed);
        runtime_executor::time::sleep(Duration::from_millis(1)).await;
        drop(clients);
        let max = max_step.load(Ordering::SeqCst);
        assert!((1..=PER_TURN).contains(&max), "{max} accepted in one turn");
    });
}

mod util;
