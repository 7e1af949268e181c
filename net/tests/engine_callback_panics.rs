//! A panic in any engine callback is contained (RELIABILITY row 22): a
//! connection's callback (`on_open`, `on_traffic`, `on_writable`,
//! `on_close`, and the `done` of `ConnHandle::async_write`) closes only
//! that connection, with the panic as its error; a loop-wide one
//! (`on_boot`, `on_tick`, `on_shutdown`) is logged and the loop goes on.
//! Every `done` is still called exactly once. A handler whose `Drop`
//! panics still lets its engine stop; on a shared runtime (`serve_on`)
//! neither leaves a core of that runtime stopped. A connection's context
//! (`Conn::set_context`) whose `Drop` panics is logged, on TCP and UDP.

mod engine_util;
mod util;

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_util::*;
use runtime_net::engine::{Action, ConnHandle, Options};

/// The error text of every `on_close` (`None`: a clean close), in order.
#[derive(Clone, Default)]
struct CloseErrors(Arc<Mutex<Vec<Option<String>>>>);

impl CloseErrors {
    fn hook(&self) -> impl Fn(&mut runtime_net::engine::Conn, Option<io::Error>) -> Action {
        let log = self.0.clone();
        move |_, err| {
            log.lock().unwrap().push(err.map(|e| e.to_string()));
            Action::None
        }
    }

    /// Waits for `n` closes and returns their errors.
    fn wait_for(&self, n: usize) -> Vec<Option<String>> {
        wait_until(WAIT, "on_close", || self.0.lock().unwrap().len() >= n);
        self.0.lock().unwrap().clone()
    }
}

/// Checks that the engine still serves: an old connection and a new one.
fn still_serves(engine: &runtime_net::engine::Engine, old: &mut Peer) {
    for _ in 0..3 {
        assert_eq!(round_trip(old, b"still here"), b"still here");
    }
    let mut fresh = connect(engine);
    assert_eq!(round_trip(&mut fresh, b"new"), b"new");
}

#[test]
fn a_panicking_async_write_done_closes_only_its_connection_and_every_done_is_called() {
    const QUEUED: usize = 20;
    let handles: Arc<Mutex<Vec<ConnHandle>>> = Arc::default();
    let closes = CloseErrors::default();
    let h = handles.clone();
    let engine = tcp(
        Hooks::new()
            .on_open(move |conn| {
                h.lock().unwrap().push(conn.handle());
                (None, Action::None)
            })
            .on_close(closes.hook()),
        Options::new().loops(1),
    );
    let mut a = connect(&engine);
    assert_eq!(round_trip(&mut a, b"a"), b"a");
    let mut b = connect(&engine);
    assert_eq!(round_trip(&mut b, b"b"), b"b");
    let handle = handles.lock().unwrap()[0].clone();

    // One `done` panics; those queued behind it are each called once.
    let called = Arc::new(AtomicUsize::new(0));
    handle.async_write(&b"x"[..], |_| panic!("boom in done"));
    for _ in 0..QUEUED {
        let called = called.clone();
        handle.async_write(&b"y"[..], move |_| {
            called.fetch_add(1, Ordering::SeqCst);
        });
    }
    assert!(peer_sees_end(&mut a), "the connection whose done panicked");
    let errors = closes.wait_for(1);
    let err = errors[0].as_deref().expect("on_close gets the panic");
    assert!(
        err.contains("done") && err.contains("boom in done"),
        "{err}"
    );
    wait_until(WAIT, "every queued done", || {
        called.load(Ordering::SeqCst) == QUEUED
    });

    // The loop goes on: the other connection, and a new one.
    still_serves(&engine, &mut b);
    stop_and_wait(&engine);
    assert_eq!(called.load(Ordering::SeqCst), QUEUED, "no done twice");
    assert_eq!(closes.wait_for(3).len(), 3, "on_close for every connection");
}

#[test]
fn a_panicking_on_open_closes_only_its_connection() {
    let closes = CloseErrors::default();
    let opened = Count::default();
    let o = opened.clone();
    let engine = tcp(
        Hooks::new()
            .on_open(move |_| {
                if o.bump() == 2 {
                    panic!("boom in on_open");
                }
                (None, Action::None)
            })
            .on_close(closes.hook()),
        Options::new().loops(1),
    );
    let mut a = connect(&engine);
    assert_eq!(round_trip(&mut a, b"a"), b"a");
    let mut b = connect(&engine);
    assert!(
        peer_sees_end(&mut b),
        "the connection whose on_open panicked"
    );
    let err = closes.wait_for(1)[0]
        .clone()
        .expect("on_close gets the panic");
    assert!(
        err.contains("on_open") && err.contains("boom in on_open"),
        "{err}"
    );
    still_serves(&engine, &mut a);
    stop_and_wait(&engine);
}

#[test]
fn a_panicking_on_close_leaves_the_loop_running() {
    let engine = tcp(
        Hooks::new().on_close(|_, _| panic!("boom in on_close")),
        Options::new().loops(1),
    );
    let mut a = connect(&engine);
    let mut b = connect(&engine);
    assert_eq!(round_trip(&mut b, b"b"), b"b");
    a.write_all(b"bye").unwrap();
    drop(a);
    wait_until(WAIT, "the closed connection gone", || {
        engine.count_connections() == 1
    });
    still_serves(&engine, &mut b);
    stop_and_wait(&engine);
    assert_eq!(engine.count_connections(), 0);
}

#[test]
fn a_panicking_on_writable_closes_only_its_connection() {
    const HIGH: usize = 64 * 1024;
    let closes = CloseErrors::default();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                if conn.next(usize::MAX) == b"flood" {
                    // Past the high watermark: the next `on_writable` panics.
                    let chunk = [7u8; 4096];
                    while conn.write(&chunk).is_ok() {}
                } else {
                    conn.write(b"ok").unwrap();
                }
                Action::None
            })
            .on_writable(|_| panic!("boom in on_writable"))
            .on_close(closes.hook()),
        Options::new()
            .loops(1)
            .write_high_watermark(HIGH)
            .socket_send_buffer(4096),
    );
    let mut a = connect(&engine);
    let mut b = connect(&engine);
    assert_eq!(round_trip(&mut b, b"hi"), b"ok");
    a.write_all(b"flood").unwrap();
    // Reading lets the queue fall under half the watermark: on_writable.
    assert!(
        peer_sees_end(&mut a),
        "the connection whose on_writable panicked"
    );
    let err = closes.wait_for(1)[0]
        .clone()
        .expect("on_close gets the panic");
    assert!(err.contains("on_writable"), "{err}");
    for _ in 0..3 {
        assert_eq!(round_trip(&mut b, b"hi"), b"ok");
    }
    stop_and_wait(&engine);
}

#[test]
fn a_panicking_on_tick_is_called_again() {
    let ticks = Count::default();
    let t = ticks.clone();
    let engine = tcp(
        Hooks::new().on_tick(move || {
            if t.bump() == 1 {
                panic!("boom in on_tick");
            }
            (Duration::from_millis(10), Action::None)
        }),
        Options::new().loops(1).ticker(true),
    );
    // After the panic the ticker waits its default second, then ticks on.
    wait_until(WAIT, "ticks after the panic", || ticks.get() >= 3);
    let mut a = connect(&engine);
    assert_eq!(round_trip(&mut a, b"a"), b"a");
    stop_and_wait(&engine);
}

#[test]
fn a_panicking_on_boot_leaves_the_loops_serving() {
    let engine = tcp(
        Hooks::new().on_boot(|_| panic!("boom in on_boot")),
        Options::new().loops(2),
    );
    for _ in 0..4 {
        let mut peer = connect(&engine);
        assert_eq!(round_trip(&mut peer, b"boot"), b"boot");
    }
    stop_and_wait(&engine);
}

#[test]
fn a_panicking_on_shutdown_still_stops_every_loop() {
    let closes = CloseErrors::default();
    let engine = tcp(
        Hooks::new()
            .on_shutdown(|| panic!("boom in on_shutdown"))
            .on_close(closes.hook()),
        Options::new().loops(2),
    );
    let mut peers: Vec<Peer> = (0..4).map(|_| connect(&engine)).collect();
    for peer in &mut peers {
        assert_eq!(round_trip(peer, b"x"), b"x");
    }
    stop_and_wait(&engine);
    assert_eq!(closes.wait_for(4).len(), 4, "on_close for every connection");
    for peer in &mut peers {
        assert!(peer_sees_end(peer));
    }
}

/// Echoes; its clones on the engine's loops panic when dropped (the one
/// the test holds does not: it is dropped on the test's thread).
#[derive(Clone)]
struct PanicsWhenDropped {
    drops: Count,
}

impl runtime_net::engine::EventHandler for PanicsWhenDropped {
    fn on_traffic(&mut self, conn: &mut runtime_net::engine::Conn) -> Action {
        echo(conn)
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        if runtime_executor::try_current_core().is_some() {
            self.drops.bump();
            panic!("boom in the handler's drop");
        }
    }
}

#[test]
fn a_handler_whose_drop_panics_still_lets_its_engine_stop() {
    let drops = Count::default();
    let engine = runtime_net::engine::start(
        PanicsWhenDropped {
            drops: drops.clone(),
        },
        &["tcp://127.0.0.1:0"],
        Options::new().loops(2),
    )
    .unwrap();
    let mut peer = connect(&engine);
    assert_eq!(round_trip(&mut peer, b"x"), b"x");
    stop_and_wait(&engine);
    assert!(peer_sees_end(&mut peer));
    assert!(
        drops.get() >= 2,
        "each loop's handler was dropped on its core"
    );
}

#[test]
fn a_handler_whose_drop_panics_on_a_shared_runtime_leaves_the_runtime_running() {
    let rt = runtime_executor::Runtime::builder()
        .cores(2)
        .build()
        .unwrap();
    let drops = Count::default();
    let engine = runtime_net::engine::serve_on(
        &rt.handle(),
        PanicsWhenDropped {
            drops: drops.clone(),
        },
        &["tcp://127.0.0.1:0"],
        // The peers stay open: a short grace ends the stop.
        Options::new().shutdown_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    let addr = engine.addrs()[0].clone();
    let mut peers = rt
        .block_on(runtime_executor::spawn_blocking(move || {
            (0..4)
                .map(|_| {
                    let mut peer = Peer::connect(&addr).unwrap();
                    assert_eq!(round_trip(&mut peer, b"x"), b"x");
                    peer
                })
                .collect::<Vec<_>>()
        }))
        .unwrap();
    engine.stop();
    rt.block_on(engine.finished());
    for peer in &mut peers {
        assert!(peer_sees_end(peer));
    }
    assert!(
        drops.get() >= 2,
        "each loop's handler was dropped on its core"
    );
    // Both cores still run tasks.
    let cores = rt.block_on(async {
        let mut cores = Vec::new();
        for core in 0..2 {
            cores.push(
                runtime_executor::spawn_on(core, || async { runtime_executor::current_core() })
                    .await
                    .unwrap(),
            );
        }
        cores
    });
    assert_eq!(cores, [0, 1]);
}

#[test]
fn panicking_callbacks_on_a_shared_runtime_leave_its_tasks_running() {
    let rt = runtime_executor::Runtime::builder()
        .cores(2)
        .build()
        .unwrap();
    let closes = CloseErrors::default();
    let engine = runtime_net::engine::serve_on(
        &rt.handle(),
        Hooks::new()
            .on_open(|_| panic!("boom in on_open"))
            .on_close(closes.hook())
            .on_tick(|| panic!("boom in on_tick"))
            .on_shutdown(|| panic!("boom in on_shutdown")),
        &["tcp://127.0.0.1:0"],
        Options::new().ticker(true),
    )
    .unwrap();
    // Core 0 (loop 0) runs while this thread drives the runtime.
    let addr = engine.addrs()[0].clone();
    let ends = rt.block_on(runtime_executor::spawn_blocking(move || {
        (0..4)
            .map(|_| peer_sees_end(&mut Peer::connect(&addr).unwrap()))
            .collect::<Vec<_>>()
    }));
    assert_eq!(
        ends.unwrap(),
        [true; 4],
        "the connections whose on_open panicked"
    );
    let errors = closes.wait_for(4);
    assert!(errors
        .iter()
        .all(|e| e.as_deref().is_some_and(|e| e.contains("on_open"))));
    engine.stop();
    rt.block_on(engine.finished());
    assert_eq!(
        rt.block_on(async { runtime_executor::spawn_on(1, || async { 5 }).await })
            .unwrap(),
        5
    );
}

/// Panics when dropped.
struct ContextPanicsWhenDropped;

impl Drop for ContextPanicsWhenDropped {
    fn drop(&mut self) {
        panic!("boom in a connection context's drop");
    }
}

#[test]
fn a_connection_context_whose_drop_panics_closes_only_its_connection() {
    let closes = CloseErrors::default();
    let engine = tcp(
        Hooks::new()
            .on_open(|conn| {
                conn.set_context(ContextPanicsWhenDropped);
                (None, Action::None)
            })
            .on_close(closes.hook()),
        Options::new().loops(1),
    );
    let mut old = connect(&engine);
    assert_eq!(round_trip(&mut old, b"x"), b"x");
    for _ in 0..3 {
        let mut peer = connect(&engine);
        assert_eq!(round_trip(&mut peer, b"y"), b"y");
        drop(peer);
    }
    assert_eq!(closes.wait_for(3).len(), 3, "on_close for every connection");
    // The loop goes on: the old connection, and a new one.
    assert_eq!(round_trip(&mut old, b"still here"), b"still here");
    let mut fresh = connect(&engine);
    assert_eq!(round_trip(&mut fresh, b"new"), b"new");
    stop_and_wait(&engine);
}

#[test]
fn a_datagram_context_whose_drop_panics_leaves_the_loop_serving() {
    let engine = runtime_net::engine::start(
        Hooks::new().on_traffic(|conn| {
            conn.set_context(ContextPanicsWhenDropped);
            echo(conn)
        }),
        &["udp://127.0.0.1:0"],
        Options::new().loops(1),
    )
    .unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    socket.connect(socket_addr(&engine.addrs()[0])).unwrap();
    for i in 0..3u8 {
        socket.send(&[i; 8]).unwrap();
        let mut back = [0; 8];
        assert_eq!(socket.recv(&mut back).unwrap(), 8);
        assert_eq!(back, [i; 8]);
    }
    stop_and_wait(&engine);
}
