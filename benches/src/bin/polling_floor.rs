//! The floor of the engine's echo figures, labelled as such: an echo server
//! built from nothing but `polling`, the crate the engine's loop stands on,
//! on one thread, with a callback per read as the engine has. It has what
//! any such loop needs (edge-triggered readiness, a slab of connections,
//! the short-read skip the engine makes, `recv` and `send` called directly)
//! and none of the rest: it reads into one buffer shared by all
//! connections and sends the callback's reply from it at once (a
//! connection keeps only what the kernel refused), with no read-ahead, no
//! panic isolation, no idle release, no timers, no watermarks, no closing
//! handshake. What `benches/instructions.sh` measures for it is what a
//! loop on `polling` costs per message, below which no callback server on
//! it goes. Never a comparison entry.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin polling_floor -- --port 7000
//! ```

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use polling::{Event, Events, PollMode, Poller};
use runtime_benches::Args;
use slab::Slab;

const USAGE: &str = "polling_floor [--port 7000] [--cores 1]";

/// The listener's key (`polling` reserves `usize::MAX`); connections take
/// slab keys, far below it.
const LISTENER: usize = usize::MAX - 1;

/// The loop's one read buffer: as large as the engine's read chunk.
const CHUNK: usize = 16 * 1024;

/// One connection: its socket and what the kernel has not taken yet.
struct Conn {
    stream: TcpStream,
    unsent: Vec<u8>,
}

/// What the server does with the bytes a read brought: the reply to send.
trait Handler {
    fn on_traffic<'a>(&mut self, input: &'a [u8]) -> &'a [u8];
}

struct Echo;

impl Handler for Echo {
    #[inline]
    fn on_traffic<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        input
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse(USAGE).only(&["port", "cores"], &[]);
    let port: u16 = args.get("port", 7000);
    if args.get("cores", 1usize) != 1 {
        eprintln!("polling_floor: one thread only");
    }
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let listener = runtime_benches::reuseport_listener(addr)?;
    listener.set_nonblocking(true)?;
    let mut conns: Slab<Conn> = Slab::new();
    let poller = Poller::new()?;
    // SAFETY: the poller, declared after the listener and the connections,
    // is dropped before them: no socket is closed while registered.
    unsafe { poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Edge)? };
    eprintln!("polling_floor: listening on {addr}");
    let mut events = Events::new();
    let mut buf = vec![0u8; CHUNK].into_boxed_slice();
    let mut handler = Echo;
    loop {
        events.clear();
        poller.wait(&mut events, None)?;
        for event in events.iter() {
            if event.key == LISTENER {
                accept(&listener, &poller, &mut conns)?;
                continue;
            }
            let Some(conn) = conns.get_mut(event.key) else {
                continue;
            };
            let mut open = true;
            if event.writable && !conn.unsent.is_empty() {
                open = flush(conn);
            }
            if open && event.readable {
                open = read(conn, &mut buf, &mut handler);
            }
            if !open {
                let conn = conns.remove(event.key);
                let _ = poller.delete(&conn.stream);
            }
        }
    }
}

/// Accepts by hand rather than through `runtime_benches::accept_waiting`
/// (the async floor's): with that inlined, LLVM laid the event loop out
/// differently, 31 instructions more per message.
fn accept(listener: &TcpListener, poller: &Poller, conns: &mut Slab<Conn>) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                eprintln!("polling_floor: accept: {err}");
                return Ok(());
            }
        };
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let entry = conns.vacant_entry();
        // SAFETY: a connection is deleted from the poller when it leaves
        // the slab (`main`), before its stream closes.
        unsafe { poller.add_with_mode(&stream, Event::all(entry.key()), PollMode::Edge)? };
        entry.insert(Conn {
            stream,
            unsent: Vec::new(),
        });
    }
}

/// Reads until the socket is drained, giving each read to the handler and
/// sending its reply. Returns false when the connection is done.
fn read(conn: &mut Conn, buf: &mut [u8], handler: &mut impl Handler) -> bool {
    let fd = conn.stream.as_raw_fd();
    loop {
        // SAFETY: `buf` is writable for its whole length, and `fd` is the
        // connection's, open while it is in the slab.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n == 0 {
            return false;
        }
        if n < 0 {
            match last_error() {
                io::ErrorKind::WouldBlock => return true,
                io::ErrorKind::Interrupted => continue,
                _ => return false,
            }
        }
        let n = n as usize;
        let reply = handler.on_traffic(&buf[..n]);
        if !send(conn, reply) {
            return false;
        }
        if n < buf.len() {
            // A short read drained the socket: the next edge brings more
            // (or the end of stream).
            return true;
        }
    }
}

/// Sends `reply` after what is queued; queues what the kernel refuses.
fn send(conn: &mut Conn, reply: &[u8]) -> bool {
    if !conn.unsent.is_empty() {
        conn.unsent.extend_from_slice(reply);
        return true;
    }
    let mut sent = 0;
    while sent < reply.len() {
        let rest = &reply[sent..];
        // SAFETY: `rest` is a live slice; the fd is the connection's.
        let n = unsafe {
            libc::send(
                conn.stream.as_raw_fd(),
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n > 0 {
            sent += n as usize;
            continue;
        }
        match last_error() {
            io::ErrorKind::WouldBlock => break,
            io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
    conn.unsent.extend_from_slice(&reply[sent..]);
    true
}

/// Sends what was queued, on writability (what is refused again is queued
/// again).
#[cold]
fn flush(conn: &mut Conn) -> bool {
    let unsent = std::mem::take(&mut conn.unsent);
    send(conn, &unsent)
}

/// The kind of the error a `recv` or `send` just returned.
#[cold]
fn last_error() -> io::ErrorKind {
    io::Error::last_os_error().kind()
}
