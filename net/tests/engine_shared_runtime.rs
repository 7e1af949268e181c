//! The engine on a runtime that already runs (`engine::serve_on`): its
//! loops are that runtime's cores, beside async tasks and an async
//! `Server`; callbacks spawn local tasks; a task hands bytes to a
//! connection of its own core through a `ConnHandle`.

mod engine_util;
mod util;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use engine_util::socket_addr;
use runtime_executor::{Handle, Runtime};
use runtime_net::engine::{self, Action, Conn, EventHandler, Options};
use runtime_net::Server;

const TIMEOUT: Duration = Duration::from_secs(10);

fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn round_trip(stream: &mut std::net::TcpStream, msg: &[u8], reply_len: usize) -> Vec<u8> {
    stream.write_all(msg).unwrap();
    let mut reply = vec![0; reply_len];
    stream.read_exact(&mut reply).expect("the reply");
    reply
}

/// Echoes with an `E:` prefix, and records the thread each callback ran on.
#[derive(Clone)]
struct TaggedEcho {
    threads: Arc<Mutex<Vec<(usize, String)>>>,
}

impl EventHandler for TaggedEcho {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let name = thread::current().name().unwrap_or("").to_owned();
        self.threads.lock().unwrap().push((conn.loop_index(), name));
        let data = conn.next(usize::MAX).to_vec();
        let _ = conn.writev(&[b"E:", &data]);
        Action::None
    }
}

#[test]
fn both_faces_serve_on_one_runtime() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let engine = engine::serve_on(
        &rt.handle(),
        TaggedEcho {
            threads: threads.clone(),
        },
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    assert_eq!(engine.num_loops(), 2, "one loop per core of the runtime");
    let engine_addr = socket_addr(&engine.addrs()[0]);
    // The names of the runtime's core threads, asked of each core (core 0
    // is this thread, while it drives the runtime).
    let core_names: Vec<String> = rt.block_on(async {
        let mut names = Vec::new();
        for core in 0..2 {
            let name = runtime_executor::spawn_on(core, || async {
                thread::current().name().unwrap_or("").to_owned()
            });
            names.push(name.await.unwrap());
        }
        names
    });

    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .shutdown_timeout(Duration::from_millis(200));
    let shutdown = server.shutdown_handle();
    let client_engine = engine.clone();
    let client = thread::spawn(move || {
        let async_addr = shutdown.wait_listening();
        for i in 0..20u8 {
            let mut to_engine = connect(engine_addr);
            let mut to_async = connect(async_addr);
            assert_eq!(
                round_trip(&mut to_engine, &[i; 3], 5),
                [b'E', b':', i, i, i]
            );
            assert_eq!(round_trip(&mut to_async, &[i; 3], 3), [i; 3]);
        }
        client_engine.stop();
        shutdown.shutdown();
    });
    server.run(&rt, || util::echo).unwrap();
    client.join().unwrap();
    rt.block_on(engine.finished());

    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 20);
    for (lp, name) in threads.iter() {
        assert_eq!(
            name, &core_names[*lp],
            "loop {lp}'s callback ran on thread {name:?}, not on core {lp}'s"
        );
    }
}

/// Answers each message later, from a local (`!Send`) task spawned in the
/// callback, through the connection's handle.
#[derive(Clone)]
struct Deferred;

impl EventHandler for Deferred {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let data = conn.next(usize::MAX).to_vec();
        let handle = conn.handle();
        let core = runtime_executor::current_core();
        // An `Rc` makes the task `!Send`: only a local spawn takes it.
        let local = Rc::new(data);
        drop(runtime_executor::spawn(async move {
            runtime_executor::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(
                runtime_executor::current_core(),
                core,
                "the task stayed on its loop"
            );
            let mut reply = b"later:".to_vec();
            reply.extend_from_slice(&local);
            handle.async_write(reply, |res| {
                res.expect("the handle's write");
            });
        }));
        Action::None
    }
}

#[test]
fn callbacks_spawn_local_tasks_that_write_through_a_handle() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let engine = engine::serve_on(
        &rt.handle(),
        Deferred,
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    let addr = socket_addr(&engine.addrs()[0]);
    // Loop 0 is core 0, which runs while this thread drives the runtime.
    let replies = rt.block_on(runtime_executor::spawn_blocking(move || {
        (0..8)
            .map(|_| round_trip(&mut connect(addr), b"ping", 10))
            .collect::<Vec<_>>()
    }));
    for reply in replies.unwrap() {
        assert_eq!(reply, b"later:ping");
    }
    engine.stop();
    rt.block_on(engine.finished());
}

#[test]
fn an_engine_starts_and_stops_from_inside_an_async_task() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let served = rt.block_on(async {
        let engine = engine::serve_on(
            &Handle::current(),
            TaggedEcho {
                threads: Arc::default(),
            },
            &["tcp://127.0.0.1:0"],
            Options::new(),
        )?;
        let addr = socket_addr(&engine.addrs()[0]);
        let reply = runtime_executor::spawn_blocking(move || {
            let mut peer = connect(addr);
            round_trip(&mut peer, b"hi", 4)
        })
        .await
        .unwrap();
        engine.stop();
        engine.finished().await;
        io::Result::Ok(reply)
    });
    assert_eq!(served.unwrap(), b"E:hi");
}

#[test]
fn dropping_the_runtime_finishes_its_engine() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let engine = engine::serve_on(
        &rt.handle(),
        TaggedEcho {
            threads: Arc::default(),
        },
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    drop(rt);
    // Blocks forever if a loop dropped with the runtime does not count.
    engine.wait();
}

/// Echoes; a message `spawn` starts a local task that outlives the
/// connection: it waits for the close, then writes through the handle and
/// reports how that went.
#[derive(Clone)]
struct SpawnsALateWriter {
    late: Arc<Mutex<Vec<io::Result<usize>>>>,
}

impl EventHandler for SpawnsALateWriter {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let data = conn.next(usize::MAX).to_vec();
        if data != b"spawn" {
            let _ = conn.write(&data);
            return Action::None;
        }
        let handle = conn.handle();
        let late = self.late.clone();
        drop(runtime_executor::spawn(async move {
            while !handle.is_closed() {
                runtime_executor::time::sleep(Duration::from_millis(5)).await;
            }
            // Long enough for the next connection to take the slot.
            runtime_executor::time::sleep(Duration::from_millis(50)).await;
            let (tx, rx) = runtime_executor::channel::oneshot::channel();
            handle.async_write(b"late".to_vec(), move |res| {
                let _ = tx.send(res);
            });
            let res = rx.await.expect("done is called");
            late.lock().unwrap().push(res);
            // And it lives on past the engine.
            runtime_executor::time::sleep(Duration::from_secs(3600)).await;
        }));
        Action::None
    }
}

#[test]
fn a_callbacks_task_outliving_its_connection_writes_to_no_other() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let late = Arc::new(Mutex::new(Vec::new()));
    let engine = engine::serve_on(
        &rt.handle(),
        SpawnsALateWriter { late: late.clone() },
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    let addr = socket_addr(&engine.addrs()[0]);
    let watch = late.clone();
    let echoed = rt.block_on(runtime_executor::spawn_blocking(move || {
        let mut first = connect(addr);
        first.write_all(b"spawn").unwrap();
        drop(first);
        // The next connection takes the closed one's slot (and likely its
        // fd) while the task waits to write.
        let mut next = connect(addr);
        let deadline = std::time::Instant::now() + TIMEOUT;
        while watch.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no late write");
            thread::sleep(Duration::from_millis(5));
        }
        round_trip(&mut next, b"ping", 4)
    }));
    assert_eq!(
        echoed.unwrap(),
        b"ping",
        "the next connection got only its echo"
    );
    let late = late.lock().unwrap();
    let err = late[0].as_ref().expect_err("a write after the close");
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    drop(late);
    engine.stop();
    rt.block_on(engine.finished());
}

/// Sends each connection's handle out; counts the closes.
#[derive(Clone)]
struct HandsOut(
    Arc<Mutex<std::sync::mpsc::Sender<engine::ConnHandle>>>,
    Arc<std::sync::atomic::AtomicUsize>,
);

impl EventHandler for HandsOut {
    fn on_open(&mut self, conn: &mut Conn) -> (Option<engine::Bytes>, Action) {
        let _ = self.0.lock().unwrap().send(conn.handle());
        (None, Action::None)
    }

    fn on_close(&mut self, _: &mut Conn, _: Option<io::Error>) -> Action {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Action::None
    }
}

#[test]
fn a_handle_used_after_its_runtime_is_gone_fails_at_once() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let closes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let engine = engine::serve_on(
        &rt.handle(),
        HandsOut(Arc::new(Mutex::new(tx)), closes.clone()),
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    let addr = socket_addr(&engine.addrs()[0]);
    let (handle, mut peer) = rt.block_on(async move {
        let peer = runtime_executor::spawn_blocking(move || connect(addr))
            .await
            .unwrap();
        loop {
            if let Ok(handle) = rx.try_recv() {
                return (handle, peer);
            }
            runtime_executor::time::sleep(Duration::from_millis(1)).await;
        }
    });
    drop(rt);
    engine.wait();
    assert_eq!(
        closes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the runtime's end closed the connection, once"
    );
    assert!(handle.is_closed());
    let (tx, rx) = std::sync::mpsc::channel();
    handle.async_write(b"after".to_vec(), move |res| {
        let _ = tx.send(res);
    });
    let res = rx
        .recv_timeout(TIMEOUT)
        .expect("done is called, on this thread");
    assert_eq!(res.unwrap_err().kind(), io::ErrorKind::NotConnected);
    assert_eq!(
        handle.wake().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert_eq!(
        handle.close().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    // Its socket too: it had kept it open for good, in a cycle with its
    // loop.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).expect("end of stream");
    assert!(rest.is_empty());
}

/// Counts its drop.
struct Counted(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Sends each connection's handle out; `on_close` spawns a task that
/// would wait for ever, holding a [`Counted`].
#[derive(Clone)]
struct SpawnsOnClose(
    Arc<Mutex<std::sync::mpsc::Sender<engine::ConnHandle>>>,
    Arc<std::sync::atomic::AtomicUsize>,
);

impl EventHandler for SpawnsOnClose {
    fn on_open(&mut self, conn: &mut Conn) -> (Option<engine::Bytes>, Action) {
        let _ = self.0.lock().unwrap().send(conn.handle());
        (None, Action::None)
    }

    fn on_close(&mut self, _: &mut Conn, _: Option<io::Error>) -> Action {
        let held = Counted(self.1.clone());
        drop(runtime_executor::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await
        }));
        Action::None
    }
}

#[test]
fn a_task_spawned_by_on_close_as_the_runtime_drops_is_dropped_too() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let engine = engine::serve_on(
        &rt.handle(),
        SpawnsOnClose(Arc::new(Mutex::new(tx)), dropped.clone()),
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    let addr = socket_addr(&engine.addrs()[0]);
    let _peer = rt.block_on(async move {
        let peer = runtime_executor::spawn_blocking(move || connect(addr))
            .await
            .unwrap();
        while rx.try_recv().is_err() {
            runtime_executor::time::sleep(Duration::from_millis(1)).await;
        }
        peer
    });
    drop(rt);
    engine.wait();
    assert_eq!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the task on_close spawned during the runtime's drop was dropped"
    );
}

#[derive(Clone)]
struct Quiet;

impl EventHandler for Quiet {}

#[test]
fn a_runtime_dropped_under_its_engine_leaves_no_loop_marked_on_its_threads() {
    // Several rounds: a later engine may be allocated where the dead one
    // was, and this thread (core 0 of each runtime) must not count as one
    // of its loops.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for _ in 0..5 {
        let rt = Runtime::builder().cores(1).build().unwrap();
        let engine = engine::serve_on(&rt.handle(), Quiet, &["tcp://127.0.0.1:0"], Options::new())
            .expect("serve_on");
        // Until loop 0 runs here.
        rt.block_on(async {
            while engine::current_loop().is_none() {
                runtime_executor::time::sleep(Duration::from_millis(1)).await;
            }
        });
        drop(rt);
        engine.wait();
        drop(engine);
        let plain = Runtime::builder().cores(1).build().unwrap();
        assert_eq!(
            plain.block_on(async { engine::current_loop() }),
            None,
            "no engine loop runs on this thread"
        );
        drop(plain);
        let client = engine::Client::new(Quiet, Options::new().loops(1)).unwrap();
        let dialed = client.dial(&format!("tcp://{addr}"));
        assert!(
            dialed.is_ok(),
            "a blocking dial from this thread: {dialed:?}"
        );
        let _ = listener.accept().unwrap();
        client.stop();
    }
}

#[test]
fn writes_waiting_in_a_loops_inbox_when_its_runtime_drops_are_answered() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let closes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let engine = engine::serve_on(
        &rt.handle(),
        HandsOut(Arc::new(Mutex::new(tx)), closes),
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    let addr = socket_addr(&engine.addrs()[0]);
    let (handle, _peer) = rt.block_on(async move {
        let peer = runtime_executor::spawn_blocking(move || connect(addr))
            .await
            .unwrap();
        loop {
            if let Ok(handle) = rx.try_recv() {
                return (handle, peer);
            }
            runtime_executor::time::sleep(Duration::from_millis(1)).await;
        }
    });
    // Nothing drives core 0 now: the writes wait in loop 0's inbox.
    let (done_tx, done) = std::sync::mpsc::channel();
    for _ in 0..3 {
        let done_tx = done_tx.clone();
        handle.async_write(b"queued".to_vec(), move |res| {
            let _ = done_tx.send(res.map_err(|e| e.kind()));
        });
    }
    drop(done_tx);
    drop(rt);
    engine.wait();
    let answers: Vec<_> = done.iter().collect();
    assert_eq!(
        answers,
        vec![Err(io::ErrorKind::NotConnected); 3],
        "every done is called once"
    );
}

#[test]
fn on_shutdown_runs_on_each_loop_when_its_runtime_drops() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let (boots, shutdowns) = (engine_util::Count::default(), engine_util::Count::default());
    let (booted, counted) = (boots.clone(), shutdowns.clone());
    let engine = engine::serve_on(
        &rt.handle(),
        engine_util::Hooks::new()
            .on_boot(move |_| {
                booted.bump();
                Action::None
            })
            .on_shutdown(move || {
                counted.bump();
            }),
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .expect("serve_on");
    // Until both loops run.
    rt.block_on(async {
        while boots.get() < 2 {
            runtime_executor::time::sleep(Duration::from_millis(1)).await;
        }
    });
    drop(rt);
    engine.wait();
    assert_eq!(shutdowns.get(), 2, "on_shutdown once per loop");
}
