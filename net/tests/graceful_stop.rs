//! Graceful shutdown with connections mid-transfer, on both faces
//! (RELIABILITY row 24): the callback engine's `Engine::stop` and the async
//! `Server`'s shutdown. Accepting stops at once; every peer that reads gets
//! every byte of its echo; peers that never read are cut at the shutdown
//! deadline; and the stop returns then.

mod engine_util;
mod util;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use engine_util::*;
use futures_lite::AsyncReadExt;
use runtime_executor::Runtime;
use runtime_net::engine::{self, Options};
use runtime_net::{Server, TcpStream};

/// Connections that read their echo, each stopped half-way.
const READERS: usize = 1_000;
/// Bytes each reader sends and reads back, in lock-step chunks.
const PAYLOAD: usize = 64 * 1024;
const CHUNK: usize = 4 * 1024;
/// Connections that send and never read: only the deadline ends them.
const NON_READERS: usize = 10;
const DEADLINE: Duration = Duration::from_secs(5);

/// What the clients saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Readers whose echo came back whole and in order.
    full_echoes: usize,
    /// Non-readers whose connection was cut (an error or end of stream).
    cut: usize,
}

/// The clients' side of one run, on a runtime of their own.
struct Clients {
    /// Readers half-way through, waiting for the stop.
    halfway: Arc<AtomicUsize>,
    /// Non-readers blocked on a full socket.
    stuck: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
    outcome: mpsc::Receiver<Outcome>,
}

fn start_clients(addr: SocketAddr) -> Clients {
    let halfway = Arc::new(AtomicUsize::new(0));
    let stuck = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let (tx, outcome) = mpsc::channel();
    let (h, s, st) = (halfway.clone(), stuck.clone(), stopped.clone());
    thread::spawn(move || {
        let rt = Runtime::builder().cores(1).build().expect("client runtime");
        let result = rt.block_on(async move {
            let full = Rc::new(AtomicUsize::new(0));
            let cut = Rc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for c in 0..READERS {
                let (h, st, full) = (h.clone(), st.clone(), full.clone());
                tasks.push(runtime_executor::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.expect("connect");
                    let sent = pattern(c, PAYLOAD);
                    let mut echo = vec![0; PAYLOAD];
                    for (i, chunk) in sent.chunks(CHUNK).enumerate() {
                        if i * CHUNK == PAYLOAD / 2 {
                            h.fetch_add(1, Ordering::SeqCst);
                            while !st.load(Ordering::SeqCst) {
                                runtime_executor::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                        stream.write_all(chunk).await.expect("write");
                        let got = &mut echo[i * CHUNK..i * CHUNK + chunk.len()];
                        stream.read_exact(got).await.expect("read the echo");
                    }
                    if echo == sent {
                        full.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
            for _ in 0..NON_READERS {
                let (s, cut) = (s.clone(), cut.clone());
                tasks.push(runtime_executor::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.expect("connect");
                    let block = vec![1u8; 64 * 1024];
                    let mut counted = false;
                    // Writes until the connection is cut. Once the server
                    // stops reading, each write waits on a full socket.
                    loop {
                        let write = runtime_executor::time::timeout(
                            Duration::from_millis(200),
                            stream.write_all(&block),
                        );
                        match write.await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => break,
                            Err(_) if !counted => {
                                counted = true;
                                s.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(_) => {}
                        }
                    }
                    cut.fetch_add(1, Ordering::SeqCst);
                }));
            }
            for task in tasks {
                task.await.expect("a client task panicked");
            }
            Outcome {
                full_echoes: full.load(Ordering::SeqCst),
                cut: cut.load(Ordering::SeqCst),
            }
        });
        let _ = tx.send(result);
    });
    Clients {
        halfway,
        stuck,
        stopped,
        outcome,
    }
}

/// Runs the clients against `addr`, calls `stop` once every reader is
/// half-way and every non-reader is stuck, and checks the outcome;
/// `finished` says whether the server has returned.
fn stop_mid_transfer(addr: SocketAddr, stop: impl FnOnce(), finished: impl Fn() -> bool) {
    util::raise_fd_limit();
    let clients = start_clients(addr);
    wait_until(Duration::from_secs(60), "every reader half-way", || {
        clients.halfway.load(Ordering::SeqCst) == READERS
    });
    wait_until(WAIT, "every non-reader stuck", || {
        clients.stuck.load(Ordering::SeqCst) == NON_READERS
    });
    stop();
    clients.stopped.store(true, Ordering::SeqCst);
    // Accepting stops at once: connects are refused while the open
    // connections are still served (the non-readers keep the server up
    // until the deadline).
    wait_until(WAIT, "connects refused", || {
        std::net::TcpStream::connect(addr).is_err()
    });
    assert!(!finished(), "the server returned before its deadline");
    let outcome = clients
        .outcome
        .recv_timeout(DEADLINE + WAIT)
        .expect("the clients finish by the deadline");
    assert_eq!(outcome.full_echoes, READERS, "readers with every byte");
    assert_eq!(outcome.cut, NON_READERS, "non-readers cut at the deadline");
    wait_until(WAIT, "the server returned", &finished);
}

/// A flag set once the engine's loops have all returned.
fn finished_flag(engine: &engine::Engine) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let (waiter, set) = (engine.clone(), flag.clone());
    thread::spawn(move || {
        waiter.wait();
        set.store(true, Ordering::SeqCst);
    });
    flag
}

#[test]
fn engine_stop_serves_readers_to_the_end_and_cuts_the_rest_at_the_deadline() {
    let engine = engine::start(
        Hooks::new(),
        &["tcp://127.0.0.1:0"],
        Options::new().loops(2).shutdown_timeout(DEADLINE),
    )
    .expect("engine::start");
    let addr = socket_addr(&engine.addrs()[0]);
    let finished = finished_flag(&engine);
    stop_mid_transfer(
        addr,
        || engine.stop(),
        move || finished.load(Ordering::SeqCst),
    );
    assert_eq!(engine.count_connections(), 0);
}

#[test]
fn engine_shutdown_waits_with_its_own_deadline() {
    let engine = engine::start(
        Hooks::new(),
        &["tcp://127.0.0.1:0"],
        Options::new()
            .loops(2)
            .shutdown_timeout(Duration::from_secs(3600)),
    )
    .expect("engine::start");
    let addr = socket_addr(&engine.addrs()[0]);
    let (done_tx, done) = mpsc::channel();
    let stopping = engine.clone();
    stop_mid_transfer(
        addr,
        move || {
            thread::spawn(move || {
                let result = stopping.shutdown(DEADLINE);
                let _ = done_tx.send(result.is_ok());
            });
        },
        move || done.try_recv().is_ok_and(|ok| ok),
    );
    assert_eq!(engine.count_connections(), 0);
}

#[test]
fn server_shutdown_serves_readers_to_the_end_and_cuts_the_rest_at_the_deadline() {
    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .shutdown_timeout(DEADLINE)
        .handle_signals(false);
    let handle = server.shutdown_handle();
    let (done_tx, done) = mpsc::channel();
    let running = server.clone();
    thread::spawn(move || {
        let rt = Runtime::builder().cores(2).build().expect("server runtime");
        let result = running.run(&rt, || {
            |stream: TcpStream| async move {
                let (reader, mut writer) = futures_lite::io::split(stream);
                futures_lite::io::copy(reader, &mut writer).await.map(drop)
            }
        });
        let _ = done_tx.send(result.is_ok());
    });
    let addr = handle.wait_listening();
    let finished = std::cell::Cell::new(false);
    stop_mid_transfer(
        addr,
        || handle.shutdown(),
        || {
            if !finished.get() {
                finished.set(done.try_recv().is_ok_and(|ok| ok));
            }
            finished.get()
        },
    );
    assert_eq!(server.stats().open, 0);
}
