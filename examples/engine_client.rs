//! An echo client on the callback engine's `Client`: dials `--connections`
//! connections to an echo server and, on each, sends `--messages` messages
//! of `--size` bytes one after the other, checking every echoed byte.
//!
//! ```text
//! cargo run --release --example engine_echo -- --port 7000 --cores 2
//! cargo run --release --example engine_client -- --port 7000 --connections 10 --messages 1000 --size 64
//! ```
//!
//! (`echo`, the async echo server, works as well.)
//!
//! The handler does the work: `on_open` sends a connection's first message,
//! `on_traffic` compares the echoed bytes with what was sent as they come
//! (a message may come back in any number of pieces) and, once a message is
//! back whole, sends the next; after the last one it closes the connection.
//! Every message has its own bytes (they depend on the connection, the
//! message and the offset), so a byte lost, duplicated, moved or crossed
//! between connections is a mismatch. A connection closed early counts as
//! failed.
//!
//! Each connection that ends tells `main` on a channel; once all have (or
//! `--timeout-s` is over), `main` stops the client and prints a summary. The
//! exit code is 1 on any mismatch, failed connection or timeout.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use runtime::net::engine::{Action, Bytes, Client, Conn, EventHandler, Options};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "engine_client [--port 7000] [--connections 10] [--messages 1000] \
    [--size 64] [--cores N] [--timeout-s 60]";

/// Counts shared by every loop's handler and `main`.
#[derive(Debug, Default)]
struct Stats {
    /// Messages echoed whole, right or not.
    messages: AtomicUsize,
    /// Messages echoed with at least one wrong byte.
    mismatches: AtomicUsize,
    /// Bytes received beyond the last message.
    extra_bytes: AtomicU64,
    /// Connections closed before their last message was back.
    failed: AtomicUsize,
    /// Bytes echoed.
    bytes: AtomicU64,
}

#[derive(Clone)]
struct Load {
    messages: usize,
    size: usize,
    next_id: Arc<AtomicUsize>,
    stats: Arc<Stats>,
    /// One `()` per connection that ended, whichever way.
    ended: mpsc::Sender<()>,
}

/// A connection's progress, in its context.
#[derive(Debug, Clone, Copy)]
struct Session {
    id: usize,
    /// Messages sent so far; the last one sent is the one coming back.
    sent: usize,
    /// Bytes of that message back so far.
    received: usize,
    /// Whether one of them was wrong.
    wrong: bool,
    /// All messages are back.
    done: bool,
}

/// Byte `j` of message `m` of connection `id`.
fn byte(id: usize, m: usize, j: usize) -> u8 {
    (id.wrapping_mul(131) ^ m.wrapping_mul(17) ^ j ^ (j >> 8)) as u8
}

fn message(id: usize, m: usize, size: usize) -> Vec<u8> {
    (0..size).map(|j| byte(id, m, j)).collect()
}

impl Load {
    /// A message is back: counts it, then sends the next one or ends.
    fn message_back(&self, session: &mut Session) -> Option<Vec<u8>> {
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        if session.wrong {
            self.stats.mismatches.fetch_add(1, Ordering::Relaxed);
        }
        session.received = 0;
        session.wrong = false;
        if session.sent == self.messages {
            session.done = true;
            let _ = self.ended.send(());
            return None;
        }
        session.sent += 1;
        Some(message(session.id, session.sent - 1, self.size))
    }

    /// Checks what came back against what was sent; `Action::Close` once
    /// the last message is back.
    fn check(&self, conn: &mut Conn, session: &mut Session) -> Action {
        let (inbound, outbound) = conn.split();
        let echoed = inbound.next(usize::MAX);
        self.stats
            .bytes
            .fetch_add(echoed.len() as u64, Ordering::Relaxed);
        let mut at = 0;
        while at < echoed.len() {
            if session.done {
                // More than was sent.
                self.stats
                    .extra_bytes
                    .fetch_add((echoed.len() - at) as u64, Ordering::Relaxed);
                break;
            }
            let n = (self.size - session.received).min(echoed.len() - at);
            let m = session.sent - 1;
            let expected = (session.received..session.received + n).map(|j| byte(session.id, m, j));
            session.wrong |= !echoed[at..at + n].iter().copied().eq(expected);
            session.received += n;
            at += n;
            if session.received == self.size {
                if let Some(next) = self.message_back(session) {
                    if outbound.write(&next).is_err() {
                        return Action::Close; // counted as failed in on_close
                    }
                }
            }
        }
        if session.done {
            Action::Close
        } else {
            Action::None
        }
    }
}

impl EventHandler for Load {
    fn on_open(&mut self, conn: &mut Conn) -> (Option<Bytes>, Action) {
        let mut session = Session {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            sent: 0,
            received: 0,
            wrong: false,
            done: false,
        };
        if self.messages == 0 || self.size == 0 {
            session.done = true;
            let _ = self.ended.send(());
            conn.set_context(session);
            return (None, Action::Close);
        }
        session.sent = 1;
        let first = message(session.id, 0, self.size);
        conn.set_context(session);
        (Some(first.into()), Action::None)
    }

    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        // `Session` is `Copy`: copied out and back, as the context cannot
        // be borrowed while the buffers are.
        let Some(mut session) = conn.context::<Session>().copied() else {
            return Action::Close;
        };
        let action = self.check(conn, &mut session);
        if let Some(slot) = conn.context_mut::<Session>() {
            *slot = session;
        }
        action
    }

    fn on_close(&mut self, conn: &mut Conn, err: Option<io::Error>) -> Action {
        let Some(session) = conn.context::<Session>() else {
            return Action::None;
        };
        if !session.done {
            let why = err.map_or_else(|| "closed by the server".to_owned(), |e| e.to_string());
            eprintln!(
                "engine_client: connection {} failed after {} of {} message(s): {why}",
                session.id,
                session.sent.saturating_sub(1),
                self.messages
            );
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            let _ = self.ended.send(());
        }
        Action::None
    }
}

fn main() -> io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7000);
    let connections: usize = args.get("connections", 10);
    let messages: usize = args.get("messages", 1000);
    let size: usize = args.get("size", 64);
    let cores = args.get("cores", 1usize);
    let timeout = Duration::from_secs(args.get("timeout-s", 60));

    let stats = Arc::new(Stats::default());
    let (ended, ends) = mpsc::channel();
    let load = Load {
        messages,
        size,
        next_id: Arc::default(),
        stats: stats.clone(),
        ended,
    };
    let client = Client::new(load, Options::new().loops(cores))?;
    let addr = format!("tcp://127.0.0.1:{port}");
    let started = Instant::now();
    let mut dialed = 0;
    for _ in 0..connections {
        match client.dial(&addr) {
            Ok(_) => dialed += 1,
            Err(err) => {
                eprintln!("engine_client: cannot connect to {addr}: {err}");
                break;
            }
        }
    }
    let deadline = started + timeout;
    let mut ended = 0;
    while ended < dialed {
        let left = deadline.saturating_duration_since(Instant::now());
        match ends.recv_timeout(left) {
            Ok(()) => ended += 1,
            Err(_) => break,
        }
    }
    let elapsed = started.elapsed();
    client.stop();

    let echoed = stats.messages.load(Ordering::Relaxed);
    let mismatches = stats.mismatches.load(Ordering::Relaxed);
    let extra = stats.extra_bytes.load(Ordering::Relaxed);
    let failed = stats.failed.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    println!(
        "engine_client: {dialed} of {connections} connection(s) x {messages} message(s) of \
         {size} bytes: {echoed} echoed, {mismatches} mismatched, {extra} extra byte(s), \
         {failed} connection(s) failed, {} unfinished; {bytes} bytes back in {elapsed:.2?} \
         ({:.0} messages/s)",
        dialed - ended,
        echoed as f64 / elapsed.as_secs_f64()
    );
    let ok = dialed == connections
        && ended == dialed
        && mismatches == 0
        && extra == 0
        && failed == 0
        && echoed == if size == 0 { 0 } else { connections * messages };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
