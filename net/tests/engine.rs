//! The engine's behaviour, one callback or option at a time: ticks, wakes,
//! closes and shutdowns from callbacks, stop with open connections,
//! connection counts, panicking callbacks, async writes to closed and
//! reused connections, the idle timeout, `max_connections`, bad addresses,
//! greetings, half-closes, draining on close, the outbound high watermark,
//! `Client`, `Conn::decode`, and `EMFILE` in accept.

mod engine_util;
mod util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use engine_util::*;
use runtime_codec::{BufDecoder, Encoder, LengthFieldCodec, LengthFieldCodecError};
use runtime_net::engine::{self, Action, Client, Conn, ConnHandle, Engine, LoadBalancing, Options};

// ---------------------------------------------------------------------------
// on_tick

#[test]
fn on_tick_runs_on_every_loop_at_its_interval() {
    const LOOPS: usize = 2;
    const DELAY: Duration = Duration::from_millis(50);
    let ticks = Count::default();
    let t = ticks.clone();
    let started = Instant::now();
    let engine = tcp(
        Hooks::new().on_tick(move || {
            t.bump();
            (DELAY, Action::None)
        }),
        Options::new().loops(LOOPS).ticker(true),
    );
    thread::sleep(Duration::from_millis(600));
    let n = ticks.get();
    let elapsed = started.elapsed();
    // Ticks are never early: at most one at start and one per DELAY after.
    let most = LOOPS * (elapsed.as_millis() / DELAY.as_millis() + 1) as usize;
    assert!(n <= most, "{n} ticks in {elapsed:?}: more than {most}");
    // Every loop ticks at start and keeps ticking.
    assert!(n >= LOOPS * 3, "{n} ticks in {elapsed:?}");
    stop_and_wait(&engine);
    let after = ticks.get();
    thread::sleep(DELAY * 3);
    assert_eq!(ticks.get(), after, "ticks after the engine stopped");
}

#[test]
fn on_tick_is_not_called_without_the_ticker_option() {
    let ticks = Count::default();
    let t = ticks.clone();
    let engine = tcp(
        Hooks::new().on_tick(move || {
            t.bump();
            (Duration::from_millis(1), Action::None)
        }),
        Options::new().loops(2),
    );
    thread::sleep(Duration::from_millis(100));
    stop_and_wait(&engine);
    assert_eq!(ticks.get(), 0);
}

#[test]
fn shutdown_from_on_tick_stops_the_engine() {
    const LOOPS: usize = 2;
    let ticks = Count::default();
    let shutdowns = Count::default();
    let (t, s) = (ticks.clone(), shutdowns.clone());
    let engine = tcp(
        Hooks::new()
            .on_tick(move || {
                let action = if t.bump() == 5 {
                    Action::Shutdown
                } else {
                    Action::None
                };
                (Duration::from_millis(20), action)
            })
            .on_shutdown(move || {
                s.bump();
            }),
        // The peer stays open: a short grace period ends the stop.
        Options::new()
            .loops(LOOPS)
            .ticker(true)
            .shutdown_timeout(Duration::from_millis(50)),
    );
    let mut peer = connect(&engine);
    assert!(
        finishes_within(&engine, WAIT),
        "Action::Shutdown from on_tick did not stop the engine"
    );
    assert!(engine.is_stopped());
    assert_eq!(shutdowns.get(), LOOPS, "on_shutdown once per loop");
    assert!(ticks.get() >= 5);
    assert!(peer_sees_end(&mut peer), "the client sees the end");
    assert_eq!(engine.count_connections(), 0);
}

// ---------------------------------------------------------------------------
// ConnHandle::wake

#[test]
fn wake_calls_on_traffic_with_no_new_data() {
    let (handles, handle_rx) = mpsc::channel::<ConnHandle>();
    let handles = Mutex::new(handles);
    let engine = tcp(
        Hooks::new()
            .on_open(move |conn| {
                handles.lock().unwrap().send(conn.handle()).unwrap();
                (None, Action::None)
            })
            .on_traffic(|conn| {
                // Say how many bytes this call found, and consume them.
                let n = conn.next(usize::MAX).len();
                conn.write(format!("[{n}]").as_bytes()).unwrap();
                Action::None
            }),
        Options::new(),
    );
    let mut peer = connect(&engine);
    let handle = recv(&handle_rx, "on_open");
    assert_eq!(round_trip_n(&mut peer, b"abcd", 3), b"[4]");
    handle.wake().unwrap();
    assert_eq!(peer.read_n(3).unwrap(), b"[0]", "a wake finds no data");
    handle.wake().unwrap();
    handle.wake().unwrap();
    assert_eq!(peer.read_n(6).unwrap(), b"[0][0]");
    assert_eq!(round_trip_n(&mut peer, b"xy", 3), b"[2]");

    // A wake of a connection that just closed is harmless.
    drop(peer);
    wait_until(WAIT, "the close", || engine.count_connections() == 0);
    wait_until(WAIT, "the handle sees the close", || handle.is_closed());
    assert_eq!(
        handle.wake().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    stop_and_wait(&engine);
}

fn round_trip_n(peer: &mut Peer, msg: &[u8], reply: usize) -> Vec<u8> {
    peer.write_all(msg).unwrap();
    peer.read_n(reply).unwrap()
}

// ---------------------------------------------------------------------------
// Action::Close and Action::Shutdown from callbacks

#[test]
fn close_from_on_traffic_sends_the_reply_then_eof() {
    let closes = CloseLog::default();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                let msg = conn.next(usize::MAX).to_vec();
                if msg.ends_with(b"close") {
                    conn.write(b"bye").unwrap();
                    return Action::Close;
                }
                conn.write(&msg).unwrap();
                Action::None
            })
            .on_close(closes.hook()),
        Options::new(),
    );
    let mut peer = connect(&engine);
    assert_eq!(round_trip(&mut peer, b"hello"), b"hello");
    peer.write_all(b"close").unwrap();
    assert_eq!(peer.read_n(3).unwrap(), b"bye");
    peer.expect_eof("after Action::Close");
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![None]);
    assert_eq!(engine.count_connections(), 0);
    // The engine goes on.
    let mut other = connect(&engine);
    assert_eq!(round_trip(&mut other, b"again"), b"again");
    stop_and_wait(&engine);
}

#[test]
fn close_from_on_open_sends_the_greeting_then_eof() {
    let traffic = Count::default();
    let closes = Count::default();
    let (t, c) = (traffic.clone(), closes.clone());
    let engine = tcp(
        Hooks::new()
            .on_open(|_| (Some(Bytes::from_static(b"go away")), Action::Close))
            .on_traffic(move |_| {
                t.bump();
                Action::None
            })
            .on_close(move |_, err| {
                assert!(err.is_none(), "{err:?}");
                c.bump();
                Action::None
            }),
        Options::new(),
    );
    for _ in 0..3 {
        let mut peer = connect(&engine);
        assert_eq!(peer.read_to_eof().unwrap(), b"go away");
    }
    closes.wait_for(3, "on_close for every connection");
    assert_eq!(traffic.get(), 0, "no on_traffic after a close from on_open");
    wait_until(WAIT, "no connection left", || {
        engine.count_connections() == 0
    });
    stop_and_wait(&engine);
}

#[test]
fn a_closed_connection_gives_up_at_its_close_timeout_on_a_peer_that_reads_a_trickle() {
    const QUEUED: usize = 200 * 1024;
    let engine = tcp(
        Hooks::new().on_open(|_| (Some(Bytes::from(vec![7u8; QUEUED])), Action::Close)),
        Options::new()
            .socket_send_buffer(4096)
            .close_timeout(Duration::from_millis(300)),
    );
    // A small receive buffer, so that each small read makes room.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(&socket_addr(&engine.addrs()[0]).into())
        .unwrap();
    let mut peer: TcpStream = socket.into();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    // 1 KiB every 20 ms: everything would take about 4 s.
    let started = Instant::now();
    let mut got = 0;
    let mut buf = [0u8; 1024];
    loop {
        match peer.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a peer reading a trickle held the connection past its 300 ms close timeout"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        got < QUEUED,
        "all {got} bytes arrived: the deadline never came"
    );
    stop_and_wait(&engine);
}

#[test]
fn shutdown_from_on_traffic_stops_the_engine() {
    const LOOPS: usize = 2;
    let shutdowns = Count::default();
    let closes = Count::default();
    let (s, c) = (shutdowns.clone(), closes.clone());
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                let msg = conn.next(usize::MAX).to_vec();
                conn.write(&msg).unwrap();
                if msg == b"stop" {
                    Action::Shutdown
                } else {
                    Action::None
                }
            })
            .on_close(move |_, _| {
                c.bump();
                Action::None
            })
            .on_shutdown(move || {
                s.bump();
            }),
        // The peers stay open: a short grace period ends the stop.
        Options::new()
            .loops(LOOPS)
            .load_balancing(LoadBalancing::RoundRobin)
            .shutdown_timeout(Duration::from_millis(50)),
    );
    let mut peers: Vec<Peer> = (0..4).map(|_| connect(&engine)).collect();
    for peer in &mut peers {
        assert_eq!(round_trip(peer, b"ping"), b"ping");
    }
    peers[0].write_all(b"stop").unwrap();
    assert!(
        finishes_within(&engine, WAIT),
        "Action::Shutdown from on_traffic did not stop the engine"
    );
    assert!(engine.is_stopped());
    assert_eq!(shutdowns.get(), LOOPS);
    assert_eq!(closes.get(), 4);
    // The reply written with the Shutdown is still delivered.
    assert_eq!(peers[0].read_n(4).unwrap(), b"stop");
    for (i, peer) in peers.iter_mut().enumerate() {
        peer.expect_eof(&format!("client {i} after the shutdown"));
    }
    // Nothing listens any more.
    assert!(TcpStream::connect(socket_addr(&engine.addrs()[0])).is_err());
}

// ---------------------------------------------------------------------------
// Engine::stop and count_connections

#[test]
fn stop_closes_open_connections_and_calls_on_shutdown_once_per_loop() {
    const LOOPS: usize = 3;
    const CLIENTS: usize = 6;
    let opens = Arc::new(Mutex::new(vec![0; LOOPS]));
    let closes = Arc::new(Mutex::new(vec![0; LOOPS]));
    let close_errors = Arc::new(Mutex::new(Vec::new()));
    let shutdowns = Count::default();
    let (o, c, ce, s) = (
        opens.clone(),
        closes.clone(),
        close_errors.clone(),
        shutdowns.clone(),
    );
    let engine = tcp(
        Hooks::new()
            .on_open(move |conn| {
                o.lock().unwrap()[conn.loop_index()] += 1;
                (None, Action::None)
            })
            .on_close(move |conn, err| {
                c.lock().unwrap()[conn.loop_index()] += 1;
                if let Some(err) = err {
                    ce.lock().unwrap().push(err.to_string());
                }
                Action::None
            })
            .on_shutdown(move || {
                s.bump();
            }),
        Options::new()
            .loops(LOOPS)
            .load_balancing(LoadBalancing::RoundRobin),
    );
    let mut peers: Vec<Peer> = (0..CLIENTS).map(|_| connect(&engine)).collect();
    for peer in &mut peers {
        assert_eq!(round_trip(peer, b"hi"), b"hi");
    }
    assert_eq!(engine.count_connections(), CLIENTS);
    stop_and_wait(&engine);
    assert_eq!(*opens.lock().unwrap(), vec![2, 2, 2]);
    assert_eq!(
        *closes.lock().unwrap(),
        *opens.lock().unwrap(),
        "on_close for every connection, on its own loop"
    );
    assert!(close_errors.lock().unwrap().is_empty());
    assert_eq!(shutdowns.get(), LOOPS, "on_shutdown once per loop");
    assert_eq!(engine.count_connections(), 0);
    for (i, peer) in peers.iter_mut().enumerate() {
        peer.expect_eof(&format!("client {i} after stop"));
    }
    // Stopping again is fine.
    engine.stop();
    engine.wait();
}

#[test]
fn count_connections_follows_the_clients() {
    const N: usize = 10;
    let engine = tcp(
        Hooks::new(),
        Options::new()
            .loops(2)
            .load_balancing(LoadBalancing::LeastConnections),
    );
    assert_eq!(engine.count_connections(), 0);
    let mut peers: Vec<Peer> = Vec::new();
    for i in 1..=N {
        peers.push(connect(&engine));
        wait_until(WAIT, &format!("{i} connections"), || {
            engine.count_connections() == i
        });
    }
    for peer in &mut peers {
        assert_eq!(round_trip(peer, b"x"), b"x");
    }
    peers.truncate(N / 2);
    wait_until(WAIT, "half the connections", || {
        engine.count_connections() == N / 2
    });
    peers.clear();
    wait_until(WAIT, "no connection", || engine.count_connections() == 0);
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// A panicking callback

#[test]
fn a_panicking_on_traffic_closes_only_its_connection() {
    let close_errors = Arc::new(Mutex::new(Vec::new()));
    let ce = close_errors.clone();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                if conn.peek(usize::MAX) == b"panic" {
                    panic!("boom from the test handler");
                }
                echo(conn)
            })
            .on_close(move |conn, err| {
                ce.lock()
                    .unwrap()
                    .push((conn.loop_index(), err.map(|e| e.to_string())));
                Action::None
            }),
        Options::new().loops(1),
    );
    let mut a = connect(&engine);
    let mut b = connect(&engine);
    assert_eq!(round_trip(&mut a, b"a1"), b"a1");
    assert_eq!(round_trip(&mut b, b"b1"), b"b1");
    a.write_all(b"panic").unwrap();
    assert!(peer_sees_end(&mut a), "the panicking connection is closed");
    wait_until(WAIT, "on_close after the panic", || {
        close_errors.lock().unwrap().len() == 1
    });
    {
        let errors = close_errors.lock().unwrap();
        let (lp, err) = &errors[0];
        assert_eq!(*lp, 0);
        let err = err.as_deref().expect("on_close gets an error for a panic");
        assert!(err.contains("panic"), "{err}");
        assert!(err.contains("boom from the test handler"), "{err}");
    }
    // The other connection of the loop keeps working, and new ones too.
    for _ in 0..3 {
        assert_eq!(round_trip(&mut b, b"still here"), b"still here");
    }
    let mut c = connect(&engine);
    assert_eq!(round_trip(&mut c, b"c1"), b"c1");
    assert_eq!(engine.count_connections(), 2);
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// async_write to closed connections, and fd reuse

#[test]
fn async_write_to_a_disconnected_connection_fails_not_connected() {
    let (handles, handle_rx) = mpsc::channel::<ConnHandle>();
    let handles = Mutex::new(handles);
    let engine = tcp(
        Hooks::new().on_open(move |conn| {
            handles.lock().unwrap().send(conn.handle()).unwrap();
            (None, Action::None)
        }),
        Options::new(),
    );
    let mut peer = connect(&engine);
    let handle = recv(&handle_rx, "on_open");
    assert!(!handle.is_closed());
    // A write while open arrives, and its callback says how much.
    let (done, done_rx) = mpsc::channel();
    let d = done.clone();
    handle.async_write(&b"first"[..], move |res| d.send(res).unwrap());
    assert_eq!(recv(&done_rx, "async_write callback").unwrap(), 5);
    assert_eq!(peer.read_n(5).unwrap(), b"first");

    drop(peer);
    wait_until(WAIT, "the close", || engine.count_connections() == 0);
    wait_until(WAIT, "is_closed", || handle.is_closed());
    let d = done.clone();
    handle.async_write(&b"late"[..], move |res| d.send(res).unwrap());
    let err = recv(&done_rx, "async_write callback").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
    assert_eq!(
        handle.close().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );

    // Once the engine is gone, the callback is called at once.
    stop_and_wait(&engine);
    let called = Arc::new(AtomicBool::new(false));
    let cl = called.clone();
    handle.async_write(&b"after stop"[..], move |res| {
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::NotConnected);
        cl.store(true, Ordering::SeqCst);
    });
    assert!(called.load(Ordering::SeqCst), "done is called at once");
}

#[test]
fn async_write_racing_a_close_is_refused_and_never_sent() {
    let (handles, handle_rx) = mpsc::channel::<ConnHandle>();
    let handles = Mutex::new(handles);
    let engine = tcp(
        Hooks::new().on_open(move |conn| {
            handles.lock().unwrap().send(conn.handle()).unwrap();
            (None, Action::None)
        }),
        Options::new(),
    );
    for round in 0..20 {
        let mut peer = connect(&engine);
        let handle = recv(&handle_rx, "on_open");
        // The close is queued first, the write right after it: the write
        // finds the connection gone, whether or not the flag is set yet.
        handle.close().unwrap();
        let (done, done_rx) = mpsc::channel();
        handle.async_write(&b"too late"[..], move |res| done.send(res).unwrap());
        let res = recv(&done_rx, "async_write callback");
        assert_eq!(
            res.as_ref().map_err(|e| e.kind()),
            Err(io::ErrorKind::NotConnected),
            "round {round}: {res:?}"
        );
        assert_eq!(
            peer.read_to_eof().unwrap(),
            b"",
            "round {round}: the refused write reached the peer"
        );
        assert!(handle.is_closed());
    }
    stop_and_wait(&engine);
}

const FD_REUSE_CHILD: &str = "RUNTIME_ENGINE_FD_REUSE_CHILD";

/// In a child process, so no other test takes the freed fd number first.
#[test]
fn a_stale_handle_never_writes_to_a_connection_that_reuses_its_fd() {
    run_child("fd_reuse_child", FD_REUSE_CHILD, "FD-REUSE-CHILD-OK");
}

/// Run by [`a_stale_handle_never_writes_to_a_connection_that_reuses_its_fd`]
/// in a child process; does nothing in the parent.
#[test]
fn fd_reuse_child() {
    if std::env::var_os(FD_REUSE_CHILD).is_none() {
        return;
    }
    stale_handle_and_fd_reuse();
    println!("FD-REUSE-CHILD-OK");
}

fn stale_handle_and_fd_reuse() {
    let (opened, open_rx) = mpsc::channel::<(i32, ConnHandle)>();
    let opened = Mutex::new(opened);
    let engine = tcp(
        Hooks::new().on_open(move |conn| {
            let fd = conn.as_raw_fd();
            opened.lock().unwrap().send((fd, conn.handle())).unwrap();
            (None, Action::None)
        }),
        Options::new().loops(1),
    );
    let a = connect(&engine);
    let (fd_a, stale) = recv(&open_rx, "on_open of A");
    assert!(fd_a >= 0);
    drop(a);
    wait_until(WAIT, "A closed", || engine.count_connections() == 0);
    wait_until(WAIT, "A's handle sees the close", || stale.is_closed());

    // Open connections until one gets A's fd number (the first one does,
    // in a process that runs nothing else).
    let mut found = None;
    for _ in 0..500 {
        let b = connect(&engine);
        let (fd_b, handle_b) = recv(&open_rx, "on_open of B");
        if fd_b == fd_a {
            found = Some((b, handle_b));
            break;
        }
        drop(b);
        wait_until(WAIT, "B closed", || engine.count_connections() == 0);
    }
    let (mut b, handle_b) = found.expect("no new connection got the old fd number");
    assert!(!handle_b.is_closed());

    let (done, done_rx) = mpsc::channel();
    let d = done.clone();
    stale.async_write(&b"STALE"[..], move |res| d.send(res).unwrap());
    let err = recv(&done_rx, "stale async_write").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    let d = done.clone();
    stale.async_writev(vec![Bytes::from_static(b"STALE2")], move |res| {
        d.send(res).unwrap()
    });
    assert_eq!(
        recv(&done_rx, "stale async_writev").unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert_eq!(
        stale.wake().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert_eq!(
        stale.close().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );

    // B's own handle works, and what B receives first is its own write:
    // nothing of the stale ones.
    let d = done.clone();
    handle_b.async_write(&b"fresh"[..], move |res| d.send(res).unwrap());
    assert_eq!(recv(&done_rx, "B's async_write").unwrap(), 5);
    assert_eq!(b.read_n(5).unwrap(), b"fresh");
    assert_eq!(round_trip(&mut b, b"echo"), b"echo");
    assert!(!handle_b.is_closed(), "B is still open");
    assert_eq!(engine.count_connections(), 1);
    stop_and_wait(&engine);
}

/// An engine whose `on_close` hands out a handle made there (for the first
/// connection, A, the first handle of the connection), and whose `on_open`
/// hands out the handles of the later ones.
fn on_close_handle_engine() -> (
    Engine,
    mpsc::Receiver<ConnHandle>,
    mpsc::Receiver<ConnHandle>,
) {
    let (opened, open_rx) = mpsc::channel::<ConnHandle>();
    let (closed, close_rx) = mpsc::channel::<ConnHandle>();
    let (opened, closed) = (Mutex::new(opened), Mutex::new(closed));
    let count = Count::default();
    let engine = tcp(
        Hooks::new()
            .on_open(move |conn| {
                if count.bump() > 1 {
                    let _ = opened.lock().unwrap().send(conn.handle());
                }
                (None, Action::None)
            })
            .on_close(move |conn, _| {
                let _ = closed.lock().unwrap().send(conn.handle());
                Action::None
            }),
        Options::new().loops(1),
    );
    (engine, open_rx, close_rx)
}

#[test]
fn a_handle_made_in_on_close_never_reaches_a_later_connection() {
    let (engine, open_rx, close_rx) = on_close_handle_engine();
    let a = connect(&engine);
    wait_until(WAIT, "A counted", || engine.count_connections() == 1);
    drop(a);
    let stale = recv(&close_rx, "on_close of A");
    wait_until(WAIT, "A closed", || engine.count_connections() == 0);
    // B takes A's slot in the loop (the only connection), and likely its fd.
    let mut b = connect(&engine);
    let handle_b = recv(&open_rx, "on_open of B");
    let (done, done_rx) = mpsc::channel();
    let d = done.clone();
    stale.async_write(&b"STALE"[..], move |res| d.send(res).unwrap());
    let res = recv(&done_rx, "the stale async_write");
    assert_eq!(
        res.as_ref().map_err(|e| e.kind()),
        Err(io::ErrorKind::NotConnected),
        "{res:?}"
    );
    let _ = stale.close();
    let _ = stale.wake();
    let d = done.clone();
    handle_b.async_write(&b"fresh"[..], move |res| d.send(res).unwrap());
    assert_eq!(recv(&done_rx, "B's async_write").unwrap(), 5);
    assert_eq!(b.read_n(5).unwrap(), b"fresh", "B got a stale write");
    assert_eq!(round_trip(&mut b, b"echo"), b"echo", "B was closed");
    assert!(!handle_b.is_closed());
    stop_and_wait(&engine);
}

#[test]
fn a_handle_made_in_on_close_is_closed() {
    let (engine, _open_rx, close_rx) = on_close_handle_engine();
    let a = connect(&engine);
    wait_until(WAIT, "A counted", || engine.count_connections() == 1);
    drop(a);
    let handle = recv(&close_rx, "on_close of A");
    wait_until(WAIT, "A closed", || engine.count_connections() == 0);
    assert!(
        handle.is_closed(),
        "a handle of a closed connection says it is open"
    );
    assert_eq!(
        handle.wake().map_err(|e| e.kind()),
        Err(io::ErrorKind::NotConnected)
    );
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// Idle timeout

#[test]
fn idle_timeout_closes_idle_connections_only() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    // Per connection (by the client's first byte): when it opened, and how
    // it was closed.
    let closes = Arc::new(Mutex::new(Vec::new()));
    let c = closes.clone();
    let engine = tcp(
        Hooks::new()
            .on_open(|conn| {
                conn.set_context(Instant::now());
                (None, Action::None)
            })
            .on_close(move |conn, err| {
                let opened = *conn.context::<Instant>().unwrap();
                let port = conn.peer_addr().as_socket().unwrap().port();
                c.lock()
                    .unwrap()
                    .push((port, opened.elapsed(), err.map(|e| e.kind())));
                Action::None
            }),
        Options::new().idle_timeout(TIMEOUT),
    );
    let mut idle = connect(&engine);
    let mut busy = connect(&engine);
    let busy_port = match &busy {
        Peer::Tcp(s) => s.local_addr().unwrap().port(),
        Peer::Unix(_) => unreachable!(),
    };
    let idle_port = match &idle {
        Peer::Tcp(s) => s.local_addr().unwrap().port(),
        Peer::Unix(_) => unreachable!(),
    };
    // The busy client talks every 50 ms for three timeouts.
    let started = Instant::now();
    while started.elapsed() < TIMEOUT * 3 {
        assert_eq!(
            round_trip(&mut busy, b"."),
            b".",
            "the busy connection was closed"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(peer_sees_end(&mut idle), "the idle connection was closed");
    {
        let closes = closes.lock().unwrap();
        assert_eq!(closes.len(), 1, "only the idle one is closed: {closes:?}");
        let (port, lived, kind) = closes[0];
        assert_eq!(port, idle_port);
        assert_eq!(kind, Some(io::ErrorKind::TimedOut));
        assert!(
            lived >= TIMEOUT,
            "closed after {lived:?}, before the timeout"
        );
        assert!(lived < TIMEOUT * 10, "closed only after {lived:?}");
    }
    assert_eq!(round_trip(&mut busy, b"still"), b"still");
    // Once it stops talking, the busy one times out too.
    wait_until(WAIT, "the busy connection's idle close", || {
        closes.lock().unwrap().len() == 2
    });
    let (port, _, kind) = closes.lock().unwrap()[1];
    assert_eq!((port, kind), (busy_port, Some(io::ErrorKind::TimedOut)));
    assert!(peer_sees_end(&mut busy));
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// max_connections

/// Whether the engine serves this connection: an echo within a short time.
fn is_served(peer: &mut Peer) -> bool {
    if peer.write_all(b"hi").is_err() {
        return false;
    }
    let mut buf = [0; 2];
    let mut got = 0;
    while got < 2 {
        match peer.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    &buf == b"hi"
}

#[test]
fn max_connections_rejects_the_extras_and_frees_slots() {
    let opens = Count::default();
    let o = opens.clone();
    let engine = tcp(
        Hooks::new().on_open(move |_| {
            o.bump();
            (None, Action::None)
        }),
        Options::new().max_connections(5),
    );
    let mut peers: Vec<Peer> = (0..8).map(|_| connect(&engine)).collect();
    wait_until(WAIT, "3 rejected", || engine.rejected_connections() == 3);
    assert_eq!(engine.count_connections(), 5);
    let served: Vec<bool> = peers.iter_mut().map(is_served).collect();
    assert_eq!(
        served,
        [true, true, true, true, true, false, false, false],
        "the first five are served"
    );
    assert_eq!(opens.get(), 5, "no on_open for a rejected connection");

    // Free two slots: two new connections are served, a third is not.
    peers.drain(..2);
    wait_until(WAIT, "slots freed", || engine.count_connections() == 3);
    let mut again: Vec<Peer> = (0..2).map(|_| connect(&engine)).collect();
    for (i, peer) in again.iter_mut().enumerate() {
        assert!(is_served(peer), "new connection {i} after slots were freed");
    }
    let mut extra = connect(&engine);
    assert!(!is_served(&mut extra), "a sixth connection is rejected");
    assert_eq!(engine.rejected_connections(), 4);
    assert_eq!(engine.count_connections(), 5);
    for (i, peer) in peers.iter_mut().take(3).enumerate() {
        assert!(is_served(peer), "old connection {i} still served");
    }
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// Bad addresses

#[test]
fn bad_addresses_are_invalid_input() {
    for addr in [
        "127.0.0.1:80",
        "quic://x:1",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:99999",
        "unix://",
    ] {
        let err = engine::start(Hooks::new(), &[addr], Options::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{addr}: {err}");
        let err = engine::run(Hooks::new(), addr, Options::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "run {addr}: {err}");
    }
    // One bad address among good ones fails the whole start.
    let err = engine::start(
        Hooks::new(),
        &["tcp://127.0.0.1:0", "quic://x:1"],
        Options::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = engine::start(Hooks::new(), &[], Options::new()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = engine::rotate(Hooks::new(), &[], Options::new()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

// ---------------------------------------------------------------------------
// Greeting, half-close, draining on close

#[test]
fn on_open_greeting_is_delivered_first() {
    let engine = tcp(
        Hooks::new().on_open(|_| (Some(Bytes::from_static(b"hello\n")), Action::None)),
        Options::new().loops(2),
    );
    for _ in 0..10 {
        let mut peer = connect(&engine);
        // Sent before reading anything: the greeting still comes first.
        peer.write_all(b"abc").unwrap();
        assert_eq!(peer.read_n(9).unwrap(), b"hello\nabc");
    }
    stop_and_wait(&engine);
}

#[test]
fn shutdown_write_half_closes_and_reading_goes_on() {
    let (seen, seen_rx) = mpsc::channel::<Vec<u8>>();
    let (write_res, write_rx) = mpsc::channel::<io::ErrorKind>();
    let closes = CloseLog::default();
    let seen = Mutex::new(seen);
    let write_res = Mutex::new(write_res);
    let engine = tcp(
        Hooks::new()
            .on_traffic(move |conn| {
                let msg = conn.next(usize::MAX).to_vec();
                if msg == b"req" {
                    conn.write(b"reply").unwrap();
                    conn.shutdown_write();
                } else {
                    let err = conn.write(b"more reply").unwrap_err();
                    write_res.lock().unwrap().send(err.kind()).unwrap();
                }
                seen.lock().unwrap().send(msg).unwrap();
                Action::None
            })
            .on_close(closes.hook()),
        Options::new(),
    );
    let mut peer = connect(&engine);
    peer.write_all(b"req").unwrap();
    assert_eq!(peer.read_to_eof().unwrap(), b"reply");
    assert_eq!(recv(&seen_rx, "req"), b"req");
    // The peer can still send, and the server still reads.
    peer.write_all(b"after eof").unwrap();
    assert_eq!(
        recv(&seen_rx, "the bytes after the half-close"),
        b"after eof"
    );
    assert_eq!(
        recv(&write_rx, "the refused write"),
        io::ErrorKind::BrokenPipe,
        "a write after shutdown_write"
    );
    assert!(closes.kinds().is_empty(), "still open");
    assert_eq!(engine.count_connections(), 1);
    drop(peer);
    wait_until(WAIT, "on_close", || closes.kinds().len() == 1);
    assert_eq!(closes.kinds(), vec![None]);
    stop_and_wait(&engine);
}

#[test]
fn close_sends_everything_queued_to_a_slow_reader() {
    const TOTAL: usize = 8 * 1024 * 1024;
    let closed = Count::default();
    let c = closed.clone();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                conn.next(usize::MAX);
                // One write queues it all (the watermark is checked before).
                assert_eq!(conn.write(&pattern(0, TOTAL)).unwrap(), TOTAL);
                Action::Close
            })
            .on_close(move |_, err| {
                assert!(err.is_none(), "{err:?}");
                c.bump();
                Action::None
            }),
        Options::new(),
    );
    let mut peer = connect(&engine);
    peer.write_all(b"go").unwrap();
    // on_close runs at once; the bytes are still on their way.
    closed.wait_for(1, "on_close");
    assert_eq!(engine.count_connections(), 0);
    thread::sleep(Duration::from_millis(200));
    let mut got = Vec::with_capacity(TOTAL);
    let mut buf = vec![0; 64 * 1024];
    let mut reads = 0;
    loop {
        let n = peer.read(&mut buf).expect("read the drained bytes");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        reads += 1;
        if reads % 16 == 0 {
            thread::sleep(Duration::from_millis(2));
        }
    }
    assert_bytes(
        "the bytes queued before the close",
        &pattern(0, TOTAL),
        &got,
    );
    stop_and_wait(&engine);
}

#[test]
fn peer_half_close_after_its_request_still_gets_the_full_reply() {
    const REPLY: usize = 1024 * 1024;
    let closes = CloseLog::default();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                if took_line(conn) {
                    conn.write(&pattern(0, REPLY)).unwrap();
                }
                Action::None
            })
            .on_close(closes.hook()),
        Options::new(),
    );
    for _ in 0..3 {
        let mut peer = connect(&engine);
        peer.write_all(b"GET\n").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        // A second shutdown is fine.
        let _ = peer.shutdown(Shutdown::Write);
        thread::sleep(Duration::from_millis(20));
        let reply = peer.read_to_eof().expect("read the reply");
        assert_bytes("the reply after a half-close", &pattern(0, REPLY), &reply);
    }
    wait_until(WAIT, "on_close", || closes.kinds().len() == 3);
    assert_eq!(closes.kinds(), vec![None, None, None]);
    stop_and_wait(&engine);
}

#[test]
fn with_half_close_a_reply_from_another_thread_arrives_after_the_peers_fin() {
    const REPLY: usize = 256 * 1024;
    let closes = CloseLog::default();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                if took_line(conn) {
                    let handle = conn.handle();
                    // The reply is computed elsewhere and comes after the
                    // peer's FIN has been read.
                    thread::spawn(move || {
                        thread::sleep(Duration::from_millis(50));
                        let closer = handle.clone();
                        handle.async_write(pattern(0, REPLY), move |res| {
                            assert_eq!(res.unwrap(), REPLY);
                            closer.close().unwrap();
                        });
                    });
                }
                Action::None
            })
            .on_close(closes.hook()),
        Options::new().half_close(true),
    );
    for _ in 0..3 {
        let mut peer = connect(&engine);
        peer.write_all(b"GET\n").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        let reply = peer.read_to_eof().expect("read the reply");
        assert_bytes(
            "the late reply after a half-close",
            &pattern(0, REPLY),
            &reply,
        );
    }
    wait_until(WAIT, "on_close", || closes.kinds().len() == 3);
    assert_eq!(closes.kinds(), vec![None, None, None]);
    assert_eq!(engine.count_connections(), 0);
    stop_and_wait(&engine);
}

#[test]
fn without_half_close_a_late_reply_finds_the_connection_closed() {
    let (tx, rx) = std::sync::mpsc::channel();
    let engine = tcp(
        Hooks::new().on_traffic(move |conn| {
            if took_line(conn) {
                let handle = conn.handle();
                let tx = tx.clone();
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(100));
                    handle.async_write(&b"late"[..], move |res| {
                        let _ = tx.send(res.map_err(|e| e.kind()));
                    });
                });
            }
            Action::None
        }),
        Options::new(),
    );
    let mut peer = connect(&engine);
    peer.write_all(b"GET\n").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(peer.read_to_eof().expect("read to the end"), b"");
    let res = rx.recv_timeout(WAIT).expect("the write's callback");
    assert_eq!(res, Err(io::ErrorKind::NotConnected));
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// The outbound high watermark

#[derive(Default)]
struct Producer {
    produced: AtomicUsize,
    would_block: AtomicUsize,
    writable: AtomicUsize,
    max_outbound: AtomicUsize,
    other_errors: Mutex<Vec<String>>,
}

const HWM: usize = 64 * 1024;
const CHUNK: usize = 8 * 1024;
const PRODUCE: usize = 4 * 1024 * 1024;

/// Writes the pattern until `WouldBlock` (or the end: then closes).
fn produce(p: &Producer, conn: &mut Conn) -> Action {
    loop {
        let at = p.produced.load(Ordering::SeqCst);
        if at >= PRODUCE {
            return Action::Close;
        }
        let n = CHUNK.min(PRODUCE - at);
        match conn.write(&pattern(at, n)) {
            Ok(k) => {
                assert_eq!(k, n);
                p.produced.fetch_add(n, Ordering::SeqCst);
                p.max_outbound
                    .fetch_max(conn.outbound_buffered(), Ordering::SeqCst);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                p.would_block.fetch_add(1, Ordering::SeqCst);
                return Action::None;
            }
            Err(err) => {
                p.other_errors.lock().unwrap().push(err.to_string());
                return Action::Close;
            }
        }
    }
}

fn high_watermark_case(small_buffers: bool) {
    let p = Arc::new(Producer::default());
    let (pt, pw) = (p.clone(), p.clone());
    let mut options = Options::new().write_high_watermark(HWM);
    if small_buffers {
        options = options.socket_send_buffer(16 * 1024);
    }
    let engine = tcp(
        Hooks::new()
            .on_traffic(move |conn| {
                conn.next(usize::MAX);
                produce(&pt, conn)
            })
            .on_writable(move |conn| {
                pw.writable.fetch_add(1, Ordering::SeqCst);
                produce(&pw, conn)
            }),
        options,
    );
    let addr = socket_addr(&engine.addrs()[0]);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if small_buffers {
        // A fixed receive buffer: no autotuning, so the kernel holds little.
        socket.set_recv_buffer_size(16 * 1024).unwrap();
    }
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut peer = Peer::Tcp(stream);
    peer.write_all(b"go").unwrap();

    // The peer does not read: the producer is held at the watermark.
    wait_until(WAIT, "a write refused with WouldBlock", || {
        p.would_block.load(Ordering::SeqCst) >= 1
    });
    thread::sleep(Duration::from_millis(300));
    let produced = p.produced.load(Ordering::SeqCst);
    let max_outbound = p.max_outbound.load(Ordering::SeqCst);
    assert!(
        max_outbound < HWM + CHUNK,
        "outbound grew to {max_outbound} bytes, past the watermark {HWM} + one write"
    );
    if small_buffers {
        assert!(
            produced < PRODUCE / 2,
            "{produced} bytes produced while the peer read nothing"
        );
    }
    assert!(p.other_errors.lock().unwrap().is_empty());

    // The peer reads now: on_writable lets the producer finish, and every
    // byte arrives in order.
    let got = peer.read_to_eof().unwrap_or_else(|err| {
        panic!(
            "reading what the producer wrote: {err}; produced {} of {PRODUCE}, \
             {} WouldBlock, {} on_writable, outbound at most {}",
            p.produced.load(Ordering::SeqCst),
            p.would_block.load(Ordering::SeqCst),
            p.writable.load(Ordering::SeqCst),
            p.max_outbound.load(Ordering::SeqCst),
        )
    });
    assert_bytes("the produced stream", &pattern(0, PRODUCE), &got);
    assert!(
        p.writable.load(Ordering::SeqCst) >= 1,
        "on_writable was never called"
    );
    assert!(p.max_outbound.load(Ordering::SeqCst) < HWM + CHUNK);
    assert!(p.other_errors.lock().unwrap().is_empty());
    stop_and_wait(&engine);
}

#[test]
fn high_watermark_bounds_outbound_and_on_writable_resumes_small_buffers() {
    high_watermark_case(true);
}

#[test]
fn high_watermark_bounds_outbound_and_on_writable_resumes_default_buffers() {
    high_watermark_case(false);
}

/// The same contract with writes so large that the queue stays above the
/// watermark after the loop's send: the loop pauses, and on_writable comes
/// once the peer has read.
#[test]
fn on_writable_after_a_write_far_past_the_watermark() {
    const BIG: usize = 2 * 1024 * 1024;
    let writable = Count::default();
    let refused = Count::default();
    let (w, r) = (writable.clone(), refused.clone());
    let engine = tcp(
        Hooks::new()
            .on_traffic(move |conn| {
                conn.next(usize::MAX);
                // Under the watermark when it starts: all of it is queued.
                assert_eq!(conn.write(&pattern(0, BIG)).unwrap(), BIG);
                let err = conn.write(b"more").unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
                assert!(!conn.outbound().is_writable());
                r.bump();
                Action::None
            })
            .on_writable(move |conn| {
                w.bump();
                assert!(conn.outbound().is_writable());
                assert!(conn.outbound_buffered() <= HWM / 2);
                assert_eq!(conn.write(&pattern(BIG, BIG)).unwrap(), BIG);
                Action::Close
            }),
        Options::new()
            .write_high_watermark(HWM)
            .socket_send_buffer(16 * 1024),
    );
    let addr = socket_addr(&engine.addrs()[0]);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut peer = Peer::Tcp(stream);
    peer.write_all(b"go").unwrap();
    refused.wait_for(1, "the refused write");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        writable.get(),
        0,
        "on_writable while the peer reads nothing"
    );
    let got = peer.read_to_eof().expect("read both halves");
    assert_bytes("both halves", &pattern(0, 2 * BIG), &got);
    assert_eq!(writable.get(), 1);
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// Client

#[derive(Default)]
struct ClientLog {
    opens: AtomicUsize,
    closes: Mutex<Vec<Option<io::ErrorKind>>>,
    received: Mutex<Vec<u8>>,
    datagrams: Mutex<Vec<Vec<u8>>>,
}

fn client_hooks(log: &Arc<ClientLog>, greeting: Option<&'static [u8]>) -> Hooks {
    let (lo, lt, lc) = (log.clone(), log.clone(), log.clone());
    Hooks::new()
        .on_open(move |_| {
            lo.opens.fetch_add(1, Ordering::SeqCst);
            (greeting.map(Bytes::from_static), Action::None)
        })
        .on_traffic(move |conn| {
            let data = conn.next(usize::MAX).to_vec();
            if conn.is_datagram() {
                lt.datagrams.lock().unwrap().push(data);
            } else {
                lt.received.lock().unwrap().extend_from_slice(&data);
            }
            Action::None
        })
        .on_close(move |_, err| {
            lc.closes.lock().unwrap().push(err.map(|e| e.kind()));
            Action::None
        })
}

/// A std echo peer on `listener`, for one connection at a time, `n` of them.
fn tcp_echo_peer(listener: TcpListener, n: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let mut buf = [0; 4096];
            while let Ok(k) = s.read(&mut buf) {
                if k == 0 || s.write_all(&buf[..k]).is_err() {
                    break;
                }
            }
        }
    })
}

fn wait_received(log: &ClientLog, expected: &[u8]) {
    wait_until(WAIT, "the echo at the client", || {
        log.received.lock().unwrap().len() >= expected.len()
    });
    assert_bytes("echo", expected, &log.received.lock().unwrap());
}

#[test]
fn client_dials_tcp_and_serves_it_with_the_handler() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tcp_echo_peer(listener, 1);
    let log = Arc::new(ClientLog::default());
    let client = Client::new(client_hooks(&log, Some(b"hello ")), Options::new()).unwrap();
    let handle = client.dial(&format!("tcp://{addr}")).unwrap();
    assert_eq!(
        log.opens.load(Ordering::SeqCst),
        1,
        "on_open ran before dial returned"
    );
    let (done, done_rx) = mpsc::channel();
    handle.async_write(&b"world"[..], move |res| done.send(res).unwrap());
    assert_eq!(recv(&done_rx, "async_write").unwrap(), 5);
    wait_received(&log, b"hello world");
    assert_eq!(client.engine().count_connections(), 1);
    client.stop();
    assert_eq!(
        *log.closes.lock().unwrap(),
        vec![None],
        "stop calls on_close"
    );
    assert!(handle.is_closed());
    peer.join().unwrap();
}

#[test]
fn client_enrolls_a_std_tcp_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tcp_echo_peer(listener, 2);
    let log = Arc::new(ClientLog::default());
    let client = Client::new(client_hooks(&log, None), Options::new().loops(2)).unwrap();
    let a = client.enroll(TcpStream::connect(addr).unwrap()).unwrap();
    assert_eq!(log.opens.load(Ordering::SeqCst), 1);
    let (done, done_rx) = mpsc::channel();
    a.async_write(&b"enrolled"[..], move |res| done.send(res).unwrap());
    assert_eq!(recv(&done_rx, "async_write").unwrap(), 8);
    wait_received(&log, b"enrolled");
    // The peer closes: on_close with no error.
    a.close().unwrap();
    wait_until(WAIT, "on_close", || log.closes.lock().unwrap().len() == 1);
    let b = client.enroll(TcpStream::connect(addr).unwrap()).unwrap();
    let (done, done_rx) = mpsc::channel();
    b.async_write(&b"two"[..], move |res| done.send(res).unwrap());
    assert_eq!(recv(&done_rx, "async_write").unwrap(), 3);
    wait_received(&log, b"enrolledtwo");
    client.stop();
    assert_eq!(*log.closes.lock().unwrap(), vec![None, None]);
    peer.join().unwrap();
}

#[test]
fn client_dials_a_unix_path() {
    let dir = temp_dir("client_dials_a_unix_path");
    let path = dir.join("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut buf = [0; 4096];
        while let Ok(k) = s.read(&mut buf) {
            if k == 0 || s.write_all(&buf[..k]).is_err() {
                break;
            }
        }
    });
    let log = Arc::new(ClientLog::default());
    let client = Client::new(client_hooks(&log, Some(b"unix:")), Options::new()).unwrap();
    let handle = client.dial(&format!("unix://{}", path.display())).unwrap();
    assert_eq!(log.opens.load(Ordering::SeqCst), 1);
    let (done, done_rx) = mpsc::channel();
    handle.async_write(&b"hi"[..], move |res| done.send(res).unwrap());
    assert_eq!(recv(&done_rx, "async_write").unwrap(), 2);
    wait_received(&log, b"unix:hi");
    client.stop();
    assert_eq!(*log.closes.lock().unwrap(), vec![None]);
    peer.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_dials_udp() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = server.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let mut buf = [0; 2048];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let log = Arc::new(ClientLog::default());
    let client = Client::new(client_hooks(&log, None), Options::new()).unwrap();
    let handle = client.dial(&format!("udp://{addr}")).unwrap();
    for (i, msg) in [&b"one"[..], b"two", b"three"].into_iter().enumerate() {
        let (done, done_rx) = mpsc::channel();
        handle.async_write(msg, move |res| done.send(res).unwrap());
        assert_eq!(recv(&done_rx, "async_write").unwrap(), msg.len());
        wait_until(WAIT, "the echoed datagram", || {
            log.datagrams.lock().unwrap().len() > i
        });
    }
    assert_eq!(
        *log.datagrams.lock().unwrap(),
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert_eq!(log.opens.load(Ordering::SeqCst), 0, "no on_open for UDP");
    client.stop();
    peer.join().unwrap();
}

// ---------------------------------------------------------------------------
// Conn::decode with a length-field codec

#[test]
fn decode_length_field_frames_split_at_every_byte_offset() {
    let frames: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        Vec::new(),
        b"x".to_vec(),
        pattern(7, 300),
        b"last frame".to_vec(),
    ];
    let mut message = BytesMut::new();
    let mut encoder = LengthFieldCodec::new();
    for frame in &frames {
        encoder.encode(frame, &mut message).unwrap();
    }
    let message = message.to_vec();

    // Per connection: the codec, and the bytes seen (so the test knows when
    // the first part of a split has been read).
    struct State {
        codec: LengthFieldCodec,
        left: usize,
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let decoded = Arc::new(Mutex::new(Vec::new()));
    let eof_result = Arc::new(Mutex::new(None));
    let (s, d, e) = (seen.clone(), decoded.clone(), eof_result.clone());
    let engine = tcp(
        Hooks::new()
            .on_open(|conn| {
                conn.set_context(State {
                    codec: LengthFieldCodec::new(),
                    left: 0,
                });
                (None, Action::None)
            })
            .on_traffic(move |conn| {
                let mut state = conn.take_context::<State>().unwrap();
                s.fetch_add(conn.inbound_buffered() - state.left, Ordering::SeqCst);
                let mut out = BytesMut::new();
                loop {
                    match conn.decode(&mut state.codec) {
                        Ok(Some(frame)) => {
                            d.lock().unwrap().push(frame.to_vec());
                            LengthFieldCodec::new().encode(&frame, &mut out).unwrap();
                        }
                        Ok(None) => break,
                        Err(err) => panic!("decode: {err}"),
                    }
                }
                state.left = conn.inbound_buffered();
                conn.set_context(state);
                if !out.is_empty() {
                    conn.write(&out).unwrap();
                }
                Action::None
            })
            .on_close(move |conn, _| {
                let mut state = conn.take_context::<State>().unwrap();
                let res = state.codec.decode_buf_eof(conn.inbound());
                *e.lock().unwrap() = Some(res.map(|f| f.map(|f| f.to_vec())));
                Action::None
            }),
        Options::new(),
    );
    let mut peer = connect(&engine);
    let mut total = 0;
    for split in 0..=message.len() {
        let (first, second) = message.split_at(split);
        peer.write_all(first).unwrap();
        total += first.len();
        wait_until(WAIT, "the first part read", || {
            seen.load(Ordering::SeqCst) == total
        });
        peer.write_all(second).unwrap();
        total += second.len();
        let echo = peer.read_n(message.len()).unwrap();
        assert_bytes(&format!("frames split at {split}"), &message, &echo);
    }
    {
        let decoded = decoded.lock().unwrap();
        assert_eq!(decoded.len(), frames.len() * (message.len() + 1));
        for (i, frame) in decoded.iter().enumerate() {
            assert_eq!(frame, &frames[i % frames.len()], "frame {i}");
        }
    }
    // End of stream in the middle of a frame is an error, not a silent drop.
    peer.write_all(&message[..7]).unwrap();
    total += 7;
    wait_until(WAIT, "the partial frame read", || {
        seen.load(Ordering::SeqCst) == total
    });
    peer.shutdown(Shutdown::Write).unwrap();
    wait_until(WAIT, "on_close", || eof_result.lock().unwrap().is_some());
    let res = eof_result.lock().unwrap().take().unwrap();
    assert!(
        matches!(res, Err(LengthFieldCodecError::IncompleteFrame { .. })),
        "{res:?}"
    );
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// EMFILE in accept, in a child process (it lowers the fd limit)

const EMFILE_CHILD: &str = "RUNTIME_ENGINE_EMFILE_CHILD";

/// Runs the test `name` of this binary in a child process with `env` set
/// (for tests that change process-wide state: the fd limit, signals), and
/// checks that it passed and printed `marker`.
fn run_child(name: &str, env: &str, marker: &str) {
    let exe = std::env::current_exe().unwrap();
    let child = std::process::Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on the child this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child running {name} did not finish within 30 s");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child running {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(marker),
        "the child did not run {name}:\n{stdout}\n{stderr}"
    );
}

#[test]
fn emfile_in_accept_backs_off_and_serves_again() {
    run_child("emfile_child", EMFILE_CHILD, "EMFILE-CHILD-OK");
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Run by [`emfile_in_accept_backs_off_and_serves_again`] in a child
/// process; does nothing in the parent.
#[test]
fn emfile_child() {
    if std::env::var_os(EMFILE_CHILD).is_none() {
        return;
    }
    let engine = tcp(Hooks::new(), Options::new());
    let addr = socket_addr(&engine.addrs()[0]);
    let mut a = connect(&engine);
    assert_eq!(round_trip(&mut a, b"before"), b"before");
    // B's socket is made now; it connects once no fd is left.
    let b_socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();

    let (saved, hogs) = util::exhaust_fds();

    b_socket.connect(&addr.into()).unwrap();
    let b_stream: TcpStream = b_socket.into();
    b_stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut b = Peer::Tcp(b_stream);
    b.write_all(b"waiting").unwrap();

    // Out of fds: accept fails; the engine backs off (no spin) and the
    // established connection is unaffected.
    let cpu_before = cpu_time();
    let wall = Instant::now();
    for _ in 0..5 {
        assert_eq!(round_trip(&mut a, b"during"), b"during");
        thread::sleep(Duration::from_millis(100));
    }
    let cpu = cpu_time() - cpu_before;
    let elapsed = wall.elapsed();
    b.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0; 16];
    assert!(b.read(&mut buf).is_err(), "B was served with no fd free");
    assert!(
        cpu < elapsed / 2,
        "the engine spun while out of fds: {cpu:?} of CPU in {elapsed:?}"
    );
    assert!(!engine.is_stopped(), "EMFILE stopped the engine");

    // Free the fds: B is accepted and served.
    drop(hogs);
    b.set_read_timeout(Some(IO_TIMEOUT));
    assert_eq!(
        b.read_n(7).unwrap(),
        b"waiting",
        "B served once fds were free"
    );
    assert_eq!(round_trip(&mut b, b"more"), b"more");
    assert_eq!(round_trip(&mut a, b"after"), b"after");
    let mut c = connect(&engine);
    assert_eq!(round_trip(&mut c, b"new"), b"new");
    assert_eq!(engine.count_connections(), 3);
    util::restore_fd_limit(&saved);
    stop_and_wait(&engine);
    println!("EMFILE-CHILD-OK");
}

// ---------------------------------------------------------------------------
// SIGPIPE at its default: a write to a dead peer is an error, not a signal
// (its own child process: it changes the signal disposition).

const SIGPIPE_CHILD: &str = "RUNTIME_ENGINE_SIGPIPE_CHILD";

#[test]
fn writes_to_dead_peers_never_raise_sigpipe() {
    run_child("sigpipe_child", SIGPIPE_CHILD, "SIGPIPE-CHILD-OK");
}

/// Run by [`writes_to_dead_peers_never_raise_sigpipe`] in a child process;
/// does nothing in the parent.
#[test]
fn sigpipe_child() {
    const REPLY: usize = 1024 * 1024;
    if std::env::var_os(SIGPIPE_CHILD).is_none() {
        return;
    }
    // SAFETY: restores the default disposition (the Rust runtime ignores
    // SIGPIPE); this process runs only this test.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let dir = temp_dir("sigpipe_child");
    let unix = format!("unix://{}", dir.join("s.sock").display());
    let closes = CloseLog::default();
    let engine = engine::start(
        Hooks::new()
            .on_traffic(|conn| {
                if conn.next(usize::MAX).is_empty() {
                    return Action::None;
                }
                let _ = conn.write(&pattern(0, REPLY));
                Action::None
            })
            .on_close(closes.hook()),
        &["tcp://127.0.0.1:0", unix.as_str()],
        Options::new(),
    )
    .unwrap();
    assert_eq!(engine.addrs().len(), 2);
    let mut dialed = 0;
    for addr in engine.addrs().to_vec() {
        for _ in 0..10 {
            // The request, then gone at once: the reply is written to a
            // closed peer.
            let mut peer = Peer::connect(&addr).unwrap();
            peer.write_all(b"go").unwrap();
            drop(peer);
            dialed += 1;
        }
    }
    wait_until(WAIT, "every dead connection closed", || {
        closes.kinds().len() == dialed
    });
    for kind in closes.kinds().iter().flatten() {
        assert!(
            matches!(
                kind,
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{kind:?}"
        );
    }
    assert_eq!(engine.count_connections(), 0);
    // Still alive, and still serving.
    for addr in engine.addrs().to_vec() {
        let mut peer = Peer::connect(&addr).unwrap();
        peer.write_all(b"go").unwrap();
        assert_bytes("reply", &pattern(0, REPLY), &peer.read_n(REPLY).unwrap());
    }
    stop_and_wait(&engine);
    let _ = std::fs::remove_dir_all(&dir);
    println!("SIGPIPE-CHILD-OK");
}

// ---------------------------------------------------------------------------
// A peer that resets mid-write

#[test]
fn peer_reset_mid_write_is_reported_once() {
    const REPLY: usize = 4 * 1024 * 1024;
    let closes = CloseLog::default();
    let engine = tcp(
        Hooks::new()
            .on_traffic(|conn| {
                let msg = conn.next(usize::MAX).to_vec();
                if msg == b"go" {
                    conn.write(&pattern(0, REPLY)).unwrap();
                } else if !msg.is_empty() {
                    conn.write(&msg).unwrap();
                }
                Action::None
            })
            .on_close(closes.hook()),
        Options::new(),
    );
    for round in 0..3 {
        let addr = socket_addr(&engine.addrs()[0]);
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        socket.connect(&addr.into()).unwrap();
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut peer = Peer::Tcp(stream);
        peer.write_all(b"go").unwrap();
        let start = peer.read_n(64 * 1024).unwrap();
        assert_bytes("the start of the reply", &pattern(0, 64 * 1024), &start);
        // Reset, with most of the reply still queued on the server.
        if let Peer::Tcp(s) = &peer {
            socket2::SockRef::from(s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        drop(peer);
        wait_until(WAIT, "on_close after the reset", || {
            closes.kinds().len() == round + 1
        });
        wait_until(WAIT, "the slot freed", || engine.count_connections() == 0);
    }
    thread::sleep(Duration::from_millis(100));
    let closes = closes.kinds();
    assert_eq!(closes.len(), 3, "one on_close per connection: {closes:?}");
    for kind in &closes {
        assert!(
            matches!(
                kind,
                Some(io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
            ),
            "a reset reported as {kind:?}"
        );
    }
    let mut peer = connect(&engine);
    assert_eq!(round_trip(&mut peer, b"alive"), b"alive");
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// Tiny socket buffers: nothing lost, order kept

#[test]
fn tiny_socket_buffers_lose_nothing() {
    // One direction at a time, and no tiny SO_RCVBUF: with a 64 KiB loopback
    // MSS, Linux stalls a sender for seconds on a receive window of a few
    // KiB (sender-side silly-window avoidance and the persist timer),
    // whatever the server does. The engine's own rings are made tiny
    // instead.
    const DOWN: usize = 2 * 1024 * 1024;
    const UP: usize = 1024 * 1024;
    let (handles, handle_rx) = mpsc::channel::<ConnHandle>();
    let handles = Mutex::new(handles);
    let uploaded = Arc::new(Mutex::new(Vec::with_capacity(UP)));
    let up = uploaded.clone();
    let engine = tcp(
        Hooks::new()
            .on_open(move |conn| {
                handles.lock().unwrap().send(conn.handle()).unwrap();
                (None, Action::None)
            })
            .on_traffic(move |conn| {
                let data = conn.next(usize::MAX);
                up.lock().unwrap().extend_from_slice(data);
                Action::None
            }),
        Options::new()
            .socket_send_buffer(4096)
            .max_read_buffer(4096)
            .write_buffer_cap(4096),
    );
    let mut peer = connect(&engine);
    let handle = recv(&handle_rx, "on_open");

    // Down: async writes of random sizes, faster than the socket takes them.
    let acked = Count::default();
    let mut rng = Rng::for_test("tiny_socket_buffers_lose_nothing", 0);
    let mut at = 0;
    while at < DOWN {
        let n = rng.range(1, 40_000).min(DOWN - at);
        let acked = acked.clone();
        handle.async_write(pattern(at, n), move |res| {
            res.unwrap();
            acked.bump();
        });
        at += n;
    }
    let mut got = Vec::with_capacity(DOWN);
    let mut buf = vec![0; 4096];
    while got.len() < DOWN {
        let want = rng.range(1, 4096).min(DOWN - got.len());
        let n = peer.read(&mut buf[..want]).expect("read the download");
        assert!(n > 0, "end of stream after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    assert_bytes(
        "the download through a 4 KiB SO_SNDBUF",
        &pattern(0, DOWN),
        &got,
    );

    // Up: random write sizes through a 4 KiB inbound ring.
    let mut at = 0;
    while at < UP {
        let n = rng.range(1, 7000).min(UP - at);
        peer.write_all(&pattern(at, n)).unwrap();
        at += n;
    }
    let upload_done = Instant::now() + WAIT;
    while uploaded.lock().unwrap().len() < UP {
        assert!(
            Instant::now() < upload_done,
            "the upload stalled: {} of {UP} bytes arrived",
            uploaded.lock().unwrap().len()
        );
        thread::sleep(Duration::from_millis(2));
    }
    assert_bytes(
        "the upload through a 4 KiB inbound ring",
        &pattern(0, UP),
        &uploaded.lock().unwrap(),
    );
    assert!(!handle.is_closed());
    stop_and_wait(&engine);
}

// ---------------------------------------------------------------------------
// Many cross-thread writes and wakes at once

#[test]
fn cross_thread_async_writes_and_wakes_lose_nothing() {
    const LOOPS: usize = 3;
    const THREADS: usize = 4;
    const MESSAGES: u32 = 2000;
    const WAKE_EVERY: u32 = 16;
    let (handles, handle_rx) = mpsc::channel::<ConnHandle>();
    let handles = Mutex::new(handles);
    let wakes = Count::default();
    let w = wakes.clone();
    let engine = tcp(
        Hooks::new()
            .on_open(move |conn| {
                handles.lock().unwrap().send(conn.handle()).unwrap();
                (None, Action::None)
            })
            .on_traffic(move |conn| {
                assert_eq!(conn.inbound_buffered(), 0, "the clients send nothing");
                w.bump();
                Action::None
            }),
        Options::new()
            .loops(LOOPS)
            .load_balancing(LoadBalancing::RoundRobin),
    );
    let mut peers: Vec<Peer> = (0..LOOPS).map(|_| connect(&engine)).collect();
    let conns: Vec<ConnHandle> = (0..LOOPS).map(|_| recv(&handle_rx, "on_open")).collect();
    let acked = Count::default();
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let conns = conns.clone();
            let acked = acked.clone();
            thread::spawn(move || {
                for seq in 0..MESSAGES {
                    for conn in &conns {
                        let mut msg = vec![t as u8, 0xee, 0xee, 0xee];
                        msg.extend_from_slice(&seq.to_le_bytes());
                        let acked = acked.clone();
                        conn.async_write(msg, move |res| {
                            assert_eq!(res.unwrap(), 8);
                            acked.bump();
                        });
                        if seq % WAKE_EVERY == 0 {
                            conn.wake().unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for (c, peer) in peers.iter_mut().enumerate() {
        let got = peer
            .read_n(THREADS * MESSAGES as usize * 8)
            .unwrap_or_else(|e| panic!("connection {c}: {e}"));
        let mut next = [0u32; THREADS];
        for (i, record) in got.chunks(8).enumerate() {
            let t = record[0] as usize;
            assert!(
                t < THREADS && record[1..4] == [0xee; 3],
                "conn {c} record {i}: {record:?}"
            );
            let seq = u32::from_le_bytes(record[4..8].try_into().unwrap());
            assert_eq!(seq, next[t], "conn {c}: thread {t}'s writes out of order");
            next[t] += 1;
        }
        assert_eq!(next, [MESSAGES; THREADS]);
    }
    for w in writers {
        w.join().unwrap();
    }
    let total = THREADS * MESSAGES as usize * LOOPS;
    acked.wait_for(total, "every async_write acknowledged");
    let wakes_sent = THREADS * MESSAGES.div_ceil(WAKE_EVERY) as usize * LOOPS;
    wait_until(WAIT, "the wakes", || wakes.get() >= 1);
    assert!(
        wakes.get() <= wakes_sent,
        "{} on_traffic calls for {wakes_sent} wakes",
        wakes.get()
    );
    stop_and_wait(&engine);
}

#[test]
fn a_second_engine_on_a_served_address_fails_with_addr_in_use() {
    let first = engine::start(
        Hooks::new(),
        &["tcp://127.0.0.1:0"],
        Options::new().loops(2),
    )
    .expect("engine::start");
    let addr = first.addrs()[0].clone();
    // Its loops share the address; a second engine may not join them.
    let err = engine::start(Hooks::new(), &[&addr], Options::new().loops(2)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    let mut peer = connect(&first);
    assert_eq!(round_trip(&mut peer, b"still served"), b"still served");
    // The stop is graceful: it waits for open connections (up to 5 s).
    drop(peer);
    first.stop();
    assert!(finishes_within(&first, Duration::from_secs(5)));
}
