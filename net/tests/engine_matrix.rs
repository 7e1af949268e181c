//! The engine's echo matrix, like gnet's `TestServer`: {tcp, udp, unix} x
//! {1 loop, 3 loops} x {write in the callback, `ConnHandle::async_write`
//! from another thread, `writev`} x {the four load-balancing modes}. Every
//! case echoes seeded random payloads and checks them byte for byte, the
//! async cases included. UDP binds every loop with `SO_REUSEPORT`, so load
//! balancing does not apply to it: it runs once per loop count and write
//! mode, and checks every datagram.
//!
//! Filter with the case name: `cargo test --test engine_matrix
//! matrix_tcp_3loops_async_roundrobin`.

mod engine_util;
mod util;

use std::io::Write;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use bytes::Bytes;
use engine_util::*;
use runtime_net::engine::{self, Action, Conn, ConnHandle, EventHandler, LoadBalancing, Options};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Tcp,
    Udp,
    Unix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `Conn::write` in `on_traffic`.
    Write,
    /// `ConnHandle::async_write` from a std thread that gets the bytes over
    /// a channel.
    Async,
    /// `Conn::writev` of the bytes cut in three, in `on_traffic`.
    Writev,
}

/// Stream connections per case.
const CONNS: usize = 6;
/// Stream payload per connection: a few KiB to 256 KiB.
const MIN_PAYLOAD: usize = 2 * 1024;
const MAX_PAYLOAD: usize = 256 * 1024;
/// UDP clients per case, datagrams per client, and the largest datagram.
const UDP_CLIENTS: usize = 4;
const DATAGRAMS: usize = 40;
const MAX_DATAGRAM: usize = 1024;

#[derive(Default)]
struct Stats {
    /// `on_open` per loop index.
    opens: Mutex<Vec<usize>>,
    closes: AtomicUsize,
    /// What `on_close` said, for closes that carried an error.
    close_errors: Mutex<Vec<String>>,
    traffic: AtomicUsize,
    /// Bytes the handler wrote back (callback modes) or handed to the
    /// async writer and saw acknowledged with their full length.
    echoed: AtomicUsize,
    /// Any write that failed or was short, as text.
    write_errors: Mutex<Vec<String>>,
    shutdowns: AtomicUsize,
}

#[derive(Clone)]
struct Matrix {
    mode: Mode,
    stats: Arc<Stats>,
    /// For [`Mode::Async`]: the std thread that calls `async_write`.
    to_writer: Option<mpsc::Sender<(ConnHandle, Vec<u8>)>>,
}

impl Matrix {
    fn write_error(&self, what: String) -> Action {
        self.stats.write_errors.lock().unwrap().push(what);
        Action::Close
    }
}

impl EventHandler for Matrix {
    fn on_open(&mut self, conn: &mut Conn) -> (Option<Bytes>, Action) {
        self.stats.opens.lock().unwrap()[conn.loop_index()] += 1;
        if self.mode == Mode::Async {
            let handle = conn.handle();
            conn.set_context(handle);
        }
        (None, Action::None)
    }

    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        self.stats.traffic.fetch_add(1, Ordering::Relaxed);
        match self.mode {
            Mode::Write | Mode::Writev => {
                let (inbound, outbound) = conn.split();
                if !outbound.is_writable() {
                    // Past the high watermark: leave the bytes where they
                    // are; reading resumes (and on_traffic is called again)
                    // once the peer has caught up.
                    return Action::None;
                }
                let data = inbound.next(usize::MAX);
                if data.is_empty() {
                    return Action::None;
                }
                let len = data.len();
                let result = if self.mode == Mode::Write {
                    outbound.write(data)
                } else {
                    let (a, rest) = data.split_at(len / 3);
                    let (b, c) = rest.split_at(rest.len() / 2);
                    outbound.writev(&[a, b, c])
                };
                match result {
                    Ok(n) if n == len => {
                        self.stats.echoed.fetch_add(n, Ordering::Relaxed);
                        Action::None
                    }
                    Ok(n) => self.write_error(format!("{:?} took {n} of {len} bytes", self.mode)),
                    Err(err) => self.write_error(format!("{:?} of {len} bytes: {err}", self.mode)),
                }
            }
            Mode::Async => {
                let data = conn.next(usize::MAX).to_vec();
                if data.is_empty() {
                    return Action::None;
                }
                let handle = if conn.is_datagram() {
                    conn.handle()
                } else {
                    conn.context::<ConnHandle>()
                        .expect("on_open stored the handle")
                        .clone()
                };
                self.to_writer
                    .as_ref()
                    .expect("async mode has a writer")
                    .send((handle, data))
                    .expect("the async writer thread is gone");
                Action::None
            }
        }
    }

    fn on_close(&mut self, _conn: &mut Conn, err: Option<std::io::Error>) -> Action {
        self.stats.closes.fetch_add(1, Ordering::Relaxed);
        if let Some(err) = err {
            self.stats
                .close_errors
                .lock()
                .unwrap()
                .push(format!("{:?}: {err}", err.kind()));
        }
        Action::None
    }

    fn on_shutdown(&mut self, _engine: &engine::Engine) {
        self.stats.shutdowns.fetch_add(1, Ordering::Relaxed);
    }
}

/// The async writer: one std thread per engine, so every connection's
/// replies are queued in the order they were read.
fn spawn_writer(stats: Arc<Stats>) -> mpsc::Sender<(ConnHandle, Vec<u8>)> {
    let (tx, rx) = mpsc::channel::<(ConnHandle, Vec<u8>)>();
    thread::spawn(move || {
        for (handle, data) in rx {
            let len = data.len();
            let stats = stats.clone();
            handle.async_write(data, move |result| match result {
                Ok(n) if n == len => {
                    stats.echoed.fetch_add(n, Ordering::Relaxed);
                }
                Ok(n) => stats
                    .write_errors
                    .lock()
                    .unwrap()
                    .push(format!("async_write took {n} of {len} bytes")),
                Err(err) => stats
                    .write_errors
                    .lock()
                    .unwrap()
                    .push(format!("async_write of {len} bytes: {err}")),
            });
        }
    });
    tx
}

fn run_case(name: &str, net: Net, loops: usize, mode: Mode, lb: LoadBalancing) {
    let stats = Arc::new(Stats {
        opens: Mutex::new(vec![0; loops]),
        ..Stats::default()
    });
    let handler = Matrix {
        mode,
        stats: stats.clone(),
        to_writer: (mode == Mode::Async).then(|| spawn_writer(stats.clone())),
    };
    // Only the Unix cases need a directory (for their socket file).
    let dir = (net == Net::Unix).then(|| temp_dir(name));
    let sock_path = dir.as_ref().map(|d| d.join("s.sock")).unwrap_or_default();
    let addr = match net {
        Net::Tcp => "tcp://127.0.0.1:0".to_owned(),
        Net::Udp => "udp://127.0.0.1:0".to_owned(),
        Net::Unix => format!("unix://{}", sock_path.display()),
    };
    let options = Options::new().loops(loops).load_balancing(lb);
    let engine = engine::start(handler, &[addr.as_str()], options)
        .unwrap_or_else(|e| panic!("{name}: start on {addr}: {e}"));
    assert_eq!(engine.num_loops(), loops);
    assert_eq!(engine.addrs().len(), 1);
    let bound = engine.addrs()[0].clone();
    match net {
        Net::Unix => {
            assert_eq!(bound, addr);
            assert!(sock_path.exists(), "the socket file is there while serving");
        }
        _ => assert_ne!(socket_addr(&bound).port(), 0, "{bound}: port resolved"),
    }

    match net {
        Net::Udp => udp_echo(name, &bound, &stats),
        Net::Tcp | Net::Unix => stream_echo(name, &bound, &engine, &stats, net, loops, lb),
    }

    let errors = stats.write_errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "{name}: writes failed: {errors:?}");

    stop_and_wait(&engine);
    assert_eq!(
        stats.shutdowns.load(Ordering::Relaxed),
        loops,
        "{name}: on_shutdown once per loop"
    );
    assert_eq!(engine.count_connections(), 0);
    if net == Net::Unix {
        assert!(
            !sock_path.exists(),
            "{name}: the socket file {} is left after stop",
            sock_path.display()
        );
    }
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn stream_echo(
    name: &str,
    addr: &str,
    engine: &engine::Engine,
    stats: &Arc<Stats>,
    net: Net,
    loops: usize,
    lb: LoadBalancing,
) {
    let mut rng = Rng::for_test(name, 0);
    let payloads: Vec<Arc<Vec<u8>>> = (0..CONNS)
        .map(|_| {
            let len = rng.range(MIN_PAYLOAD, MAX_PAYLOAD);
            Arc::new(rng.bytes(len))
        })
        .collect();
    let total: usize = payloads.iter().map(|p| p.len()).sum();

    let peers: Vec<Peer> = (0..CONNS)
        .map(|i| Peer::connect(addr).unwrap_or_else(|e| panic!("{name}: connect {i}: {e}")))
        .collect();
    // Every connection is accepted (and assigned a loop) before any byte
    // moves, so the balancers see all of them open at once.
    wait_until(WAIT, "every connection counted", || {
        engine.count_connections() == CONNS
    });
    wait_until(WAIT, "on_open for every connection", || {
        stats.opens.lock().unwrap().iter().sum::<usize>() == CONNS
    });

    let workers: Vec<_> = peers
        .into_iter()
        .zip(payloads)
        .enumerate()
        .map(|(i, (mut peer, payload))| {
            let mut chunks = Rng::for_test(name, 1 + i as u64);
            thread::spawn(move || -> Result<(), String> {
                let mut writer = peer.try_clone().map_err(|e| e.to_string())?;
                let sent = payload.clone();
                let write = thread::spawn(move || -> Result<(), String> {
                    let mut at = 0;
                    while at < sent.len() {
                        let n = chunks.range(1, 32 * 1024).min(sent.len() - at);
                        writer
                            .write_all(&sent[at..at + n])
                            .map_err(|e| format!("conn {i}: write at {at}: {e}"))?;
                        at += n;
                    }
                    Ok(())
                });
                let echo = peer
                    .read_n(payload.len())
                    .map_err(|e| format!("conn {i}: read echo: {e}"));
                let wrote = write
                    .join()
                    .unwrap_or_else(|_| Err(format!("conn {i}: writer panicked")));
                wrote?;
                check_bytes(&format!("conn {i}: echo"), &payload, &echo?)?;
                Ok(())
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .filter_map(|w| {
            w.join()
                .unwrap_or_else(|_| Err("worker panicked".into()))
                .err()
        })
        .collect();
    assert!(failures.is_empty(), "{name}: {failures:#?}");

    // The clients got every byte, so every write was acknowledged.
    wait_until(WAIT, "every echoed byte accounted", || {
        stats.echoed.load(Ordering::Relaxed) == total
    });
    assert_eq!(stats.echoed.load(Ordering::Relaxed), total);

    // The clients are gone (dropped by their threads): every connection
    // closes by end of stream, without an error.
    wait_until(WAIT, "every connection closed after the peers left", || {
        stats.closes.load(Ordering::Relaxed) == CONNS && engine.count_connections() == 0
    });
    let close_errors = stats.close_errors.lock().unwrap().clone();
    assert!(
        close_errors.is_empty(),
        "{name}: a clean peer close reported errors: {close_errors:?}"
    );

    let opens = stats.opens.lock().unwrap().clone();
    assert_eq!(
        opens.iter().sum::<usize>(),
        CONNS,
        "{name}: opens {opens:?}"
    );
    let even = vec![CONNS / loops; loops];
    match (net, lb) {
        _ if loops == 1 => assert_eq!(opens, vec![CONNS], "{name}"),
        // The kernel spreads SO_REUSEPORT connections by hash: any spread.
        (Net::Tcp, LoadBalancing::ReusePort) => {}
        // All from 127.0.0.1: one loop gets every connection.
        (Net::Tcp, LoadBalancing::SourceAddrHash) => assert!(
            opens.contains(&CONNS),
            "{name}: one source address, connections spread over loops: {opens:?}"
        ),
        // Round robin (and Unix sockets, which have no SO_REUSEPORT and no
        // IP to hash, fall back to it); least connections with all of them
        // open at once is round robin too.
        _ => assert_eq!(opens, even, "{name}: connections per loop"),
    }
}

fn udp_echo(name: &str, addr: &str, stats: &Arc<Stats>) {
    let server = socket_addr(addr);
    let workers: Vec<_> = (0..UDP_CLIENTS)
        .map(|i| {
            let mut rng = Rng::for_test(name, 100 + i as u64);
            thread::spawn(move || -> Result<usize, String> {
                let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
                socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                socket.connect(server).map_err(|e| e.to_string())?;
                let mut bytes = 0;
                let mut buf = vec![0; 2 * MAX_DATAGRAM];
                for seq in 0..DATAGRAMS {
                    let len = rng.range(1, MAX_DATAGRAM);
                    let datagram = rng.bytes(len);
                    socket
                        .send(&datagram)
                        .map_err(|e| format!("client {i} datagram {seq}: send: {e}"))?;
                    let n = socket
                        .recv(&mut buf)
                        .map_err(|e| format!("client {i} datagram {seq} ({len} bytes): {e}"))?;
                    check_bytes(&format!("client {i} datagram {seq}"), &datagram, &buf[..n])?;
                    bytes += len;
                }
                Ok(bytes)
            })
        })
        .collect();
    let mut total = 0;
    let mut failures = Vec::new();
    for w in workers {
        match w.join().unwrap_or_else(|_| Err("worker panicked".into())) {
            Ok(n) => total += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{name}: {failures:#?}");
    wait_until(WAIT, "every echoed byte accounted", || {
        stats.echoed.load(Ordering::Relaxed) == total
    });
    // One on_traffic per datagram, and no connection callbacks for UDP.
    assert_eq!(
        stats.traffic.load(Ordering::Relaxed),
        UDP_CLIENTS * DATAGRAMS,
        "{name}: on_traffic per datagram"
    );
    assert_eq!(stats.opens.lock().unwrap().iter().sum::<usize>(), 0);
    assert_eq!(stats.closes.load(Ordering::Relaxed), 0);
}

macro_rules! matrix {
    ($($name:ident: $net:ident, $loops:literal, $mode:ident, $lb:ident;)*) => {$(
        #[test]
        fn $name() {
            run_case(
                stringify!($name),
                Net::$net,
                $loops,
                Mode::$mode,
                LoadBalancing::$lb,
            );
        }
    )*};
}

matrix! {
    matrix_tcp_1loop_write_reuseport: Tcp, 1, Write, ReusePort;
    matrix_tcp_1loop_write_roundrobin: Tcp, 1, Write, RoundRobin;
    matrix_tcp_1loop_write_leastconnections: Tcp, 1, Write, LeastConnections;
    matrix_tcp_1loop_write_sourceaddrhash: Tcp, 1, Write, SourceAddrHash;
    matrix_tcp_1loop_async_reuseport: Tcp, 1, Async, ReusePort;
    matrix_tcp_1loop_async_roundrobin: Tcp, 1, Async, RoundRobin;
    matrix_tcp_1loop_async_leastconnections: Tcp, 1, Async, LeastConnections;
    matrix_tcp_1loop_async_sourceaddrhash: Tcp, 1, Async, SourceAddrHash;
    matrix_tcp_1loop_writev_reuseport: Tcp, 1, Writev, ReusePort;
    matrix_tcp_1loop_writev_roundrobin: Tcp, 1, Writev, RoundRobin;
    matrix_tcp_1loop_writev_leastconnections: Tcp, 1, Writev, LeastConnections;
    matrix_tcp_1loop_writev_sourceaddrhash: Tcp, 1, Writev, SourceAddrHash;
    matrix_tcp_3loops_write_reuseport: Tcp, 3, Write, ReusePort;
    matrix_tcp_3loops_write_roundrobin: Tcp, 3, Write, RoundRobin;
    matrix_tcp_3loops_write_leastconnections: Tcp, 3, Write, LeastConnections;
    matrix_tcp_3loops_write_sourceaddrhash: Tcp, 3, Write, SourceAddrHash;
    matrix_tcp_3loops_async_reuseport: Tcp, 3, Async, ReusePort;
    matrix_tcp_3loops_async_roundrobin: Tcp, 3, Async, RoundRobin;
    matrix_tcp_3loops_async_leastconnections: Tcp, 3, Async, LeastConnections;
    matrix_tcp_3loops_async_sourceaddrhash: Tcp, 3, Async, SourceAddrHash;
    matrix_tcp_3loops_writev_reuseport: Tcp, 3, Writev, ReusePort;
    matrix_tcp_3loops_writev_roundrobin: Tcp, 3, Writev, RoundRobin;
    matrix_tcp_3loops_writev_leastconnections: Tcp, 3, Writev, LeastConnections;
    matrix_tcp_3loops_writev_sourceaddrhash: Tcp, 3, Writev, SourceAddrHash;

    matrix_unix_1loop_write_reuseport: Unix, 1, Write, ReusePort;
    matrix_unix_1loop_write_roundrobin: Unix, 1, Write, RoundRobin;
    matrix_unix_1loop_write_leastconnections: Unix, 1, Write, LeastConnections;
    matrix_unix_1loop_write_sourceaddrhash: Unix, 1, Write, SourceAddrHash;
    matrix_unix_1loop_async_reuseport: Unix, 1, Async, ReusePort;
    matrix_unix_1loop_async_roundrobin: Unix, 1, Async, RoundRobin;
    matrix_unix_1loop_async_leastconnections: Unix, 1, Async, LeastConnections;
    matrix_unix_1loop_async_sourceaddrhash: Unix, 1, Async, SourceAddrHash;
    matrix_unix_1loop_writev_reuseport: Unix, 1, Writev, ReusePort;
    matrix_unix_1loop_writev_roundrobin: Unix, 1, Writev, RoundRobin;
    matrix_unix_1loop_writev_leastconnections: Unix, 1, Writev, LeastConnections;
    matrix_unix_1loop_writev_sourceaddrhash: Unix, 1, Writev, SourceAddrHash;
    matrix_unix_3loops_write_reuseport: Unix, 3, Write, ReusePort;
    matrix_unix_3loops_write_roundrobin: Unix, 3, Write, RoundRobin;
    matrix_unix_3loops_write_leastconnections: Unix, 3, Write, LeastConnections;
    matrix_unix_3loops_write_sourceaddrhash: Unix, 3, Write, SourceAddrHash;
    matrix_unix_3loops_async_reuseport: Unix, 3, Async, ReusePort;
    matrix_unix_3loops_async_roundrobin: Unix, 3, Async, RoundRobin;
    matrix_unix_3loops_async_leastconnections: Unix, 3, Async, LeastConnections;
    matrix_unix_3loops_async_sourceaddrhash: Unix, 3, Async, SourceAddrHash;
    matrix_unix_3loops_writev_reuseport: Unix, 3, Writev, ReusePort;
    matrix_unix_3loops_writev_roundrobin: Unix, 3, Writev, RoundRobin;
    matrix_unix_3loops_writev_leastconnections: Unix, 3, Writev, LeastConnections;
    matrix_unix_3loops_writev_sourceaddrhash: Unix, 3, Writev, SourceAddrHash;

    // Load balancing does not apply to UDP: the mode given is ignored.
    matrix_udp_1loop_write: Udp, 1, Write, ReusePort;
    matrix_udp_1loop_async: Udp, 1, Async, ReusePort;
    matrix_udp_1loop_writev: Udp, 1, Writev, ReusePort;
    matrix_udp_3loops_write: Udp, 3, Write, ReusePort;
    matrix_udp_3loops_async: Udp, 3, Async, ReusePort;
    matrix_udp_3loops_writev: Udp, 3, Writev, ReusePort;
}
