//! A push server on the callback engine: every client gets a line
//! `tick N <unix time>` every `--interval-ms`, written from outside its
//! callbacks with `ConnHandle::async_write`.
//!
//! ```text
//! cargo run --release --example engine_push -- --port 7200 --cores 2 --interval-ms 1000
//! # any line-oriented client, e.g.:
//! python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 7200)); [print(s.recv(100).decode(), end="") for _ in range(5)]'
//! ```
//!
//! Each loop's `on_open` puts the connection's `ConnHandle` in a registry
//! shared by all loops (an `Arc<Mutex<..>>` field of the handler, which the
//! engine clones once per loop), and `on_close` takes it out.
//!
//! **Who pushes: loop 0's handler, from its ticker.** Every loop's `on_tick`
//! runs, but only the one on loop 0 pushes; the others return a delay of a
//! day and do nothing. `on_tick` is not told its loop, so the handler asks
//! the runtime: the loops are the cores of the engine's runtime, and loop `i`
//! runs on core `i`. A separate std thread would work as well
//! (`ConnHandle` is `Send`), but the ticker needs no thread and no shutdown
//! of its own: it stops with the engine.
//!
//! Pushing takes a snapshot of the registry and writes outside the lock:
//! `async_write` may call its callback at once, on this thread (connection
//! already known to be closed, engine stopped), and the callback takes the
//! lock to drop the client. Each write is queued on the client's own loop;
//! one whose connection is gone gets `NotConnected`, and the client is
//! dropped from the registry (if `on_close` has not already done it). The
//! line is one reference-counted buffer shared by every write.
//!
//! Not handled: a client that stops reading. Async writes are never refused,
//! so its queue grows by a line per tick; `ConnHandle` cannot tell how much
//! is queued.
//!
//! What clients send is read and dropped. Ctrl-c or SIGTERM stops it
//! gracefully.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runtime::net::engine::{self, Action, Bytes, Conn, ConnHandle, EventHandler, Options};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "engine_push [--port 7200] [--cores N] [--interval-ms 1000]";

/// The open connections of every loop, by id.
type Registry = Arc<Mutex<HashMap<u64, ConnHandle>>>;

#[derive(Clone)]
struct Push {
    registry: Registry,
    next_id: Arc<AtomicU64>,
    /// Clients dropped because a push found them gone.
    dropped: Arc<AtomicU64>,
    interval: Duration,
    /// Ticks pushed (by loop 0's handler; the others' stays 0).
    ticks: u64,
    /// The number of clients at the last tick, to report changes.
    last_clients: usize,
}

fn lock(registry: &Registry) -> MutexGuard<'_, HashMap<u64, ConnHandle>> {
    registry.lock().unwrap_or_else(|e| e.into_inner())
}

impl Push {
    fn new(interval: Duration) -> Self {
        Push {
            registry: Arc::default(),
            next_id: Arc::default(),
            dropped: Arc::default(),
            interval,
            ticks: 0,
            last_clients: 0,
        }
    }

    /// Writes one tick line to every registered client.
    fn push(&mut self) {
        self.ticks += 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let line = Bytes::from(format!("tick {} {now}\n", self.ticks));
        // A snapshot: no lock is held while writing (see the header).
        let clients: Vec<(u64, ConnHandle)> = lock(&self.registry)
            .iter()
            .map(|(id, handle)| (*id, handle.clone()))
            .collect();
        if clients.len() != self.last_clients {
            eprintln!(
                "engine_push: tick {}: {} client(s), {} dropped by a failed push so far",
                self.ticks,
                clients.len(),
                self.dropped.load(Ordering::Relaxed)
            );
            self.last_clients = clients.len();
        }
        for (id, handle) in clients {
            let registry = self.registry.clone();
            let dropped = self.dropped.clone();
            handle.async_write(line.clone(), move |result| {
                if let Err(err) = result {
                    if err.kind() == io::ErrorKind::NotConnected
                        && lock(&registry).remove(&id).is_some()
                    {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    }
}

impl EventHandler for Push {
    fn on_open(&mut self, conn: &mut Conn) -> (Option<Bytes>, Action) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        conn.set_context(id);
        lock(&self.registry).insert(id, conn.handle());
        let hello = format!("hello {id}, a tick every {:?}\n", self.interval);
        (Some(hello.into()), Action::None)
    }

    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        conn.discard(usize::MAX);
        Action::None
    }

    fn on_close(&mut self, conn: &mut Conn, _err: Option<io::Error>) -> Action {
        if let Some(id) = conn.context::<u64>() {
            lock(&self.registry).remove(id);
        }
        Action::None
    }

    fn on_tick(&mut self) -> (Duration, Action) {
        if engine::current_loop() != Some(0) {
            return (Duration::from_secs(24 * 3600), Action::None);
        }
        self.push();
        (self.interval, Action::None)
    }
}

fn main() -> io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7200);
    let cores = args.cores();
    let interval = Duration::from_millis(args.get("interval-ms", 1000u64).max(1));
    eprintln!("engine_push: listening on 127.0.0.1:{port} with {cores} loop(s), a tick every {interval:?}");
    engine::run(
        Push::new(interval),
        &format!("tcp://127.0.0.1:{port}"),
        Options::new()
            .loops(cores)
            .ticker(true)
            .handle_signals(true),
    )?;
    eprintln!("engine_push: stopped");
    Ok(())
}
