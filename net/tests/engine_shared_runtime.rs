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
