//! The floor of the async echo figures, labelled as such: an echo server
//! built from nothing but the two crates the runtime's async face stands on,
//! `async-task` (the tasks) and `polling` (the reactor), on one thread. It
//! has what any such server needs (edge-triggered readiness, a waker per
//! connection, a run queue, a task per connection, the short-read skip the
//! runtime makes, `recv` and `send` called directly) and none of the rest:
//! no read-ahead or outbound ring (it reads into the task's own buffer and
//! writes from it at once, so pipelined replies do not coalesce), no panic
//! isolation, no shutdown bookkeeping, no timers, no idle release, no
//! backpressure beyond waiting for writability, and the whole echo loop is
//! one hand-written poll.
//! What `benches/instructions.sh` measures for it is what those two crates
//! and a loop cost per message, below which no server on them goes.
//! Never a comparison entry.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin async_task_floor -- --port 7000
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use async_task::Runnable;
use polling::{Event, Events, PollMode, Poller};
use runtime_benches::Args;
use slab::Slab;

const USAGE: &str = "async_task_floor [--port 7000] [--cores 1]";

/// The listener's key (`polling` reserves `usize::MAX`); connections take
/// slab keys, far below it.
const LISTENER: usize = usize::MAX - 1;

/// Each task's buffer: as large as the runtime's read chunk.
const CHUNK: usize = 16 * 1024;

thread_local! {
    /// The run queue: every wake happens on this one thread.
    static QUEUE: RefCell<VecDeque<Runnable>> = RefCell::new(VecDeque::with_capacity(256));
    /// Each connection's readiness, by its key in the poller.
    static CONNS: RefCell<Slab<Rc<Readiness>>> = const { RefCell::new(Slab::new()) };
}

/// One connection's readiness and waiting task, per direction.
#[derive(Default)]
struct Readiness {
    readable: Cell<bool>,
    writable: Cell<bool>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
}

impl Readiness {
    /// Ready in the direction of `ready`, or `Pending` with the task's waker
    /// kept in `slot` (not cloned again while it would wake the same task).
    fn poll(ready: &Cell<bool>, slot: &Cell<Option<Waker>>, cx: &Context<'_>) -> Poll<()> {
        if ready.get() {
            return Poll::Ready(());
        }
        match slot.take() {
            Some(waker) if waker.will_wake(cx.waker()) => slot.set(Some(waker)),
            _ => slot.set(Some(cx.waker().clone())),
        }
        Poll::Pending
    }

    fn wake(ready: &Cell<bool>, slot: &Cell<Option<Waker>>) {
        ready.set(true);
        if let Some(waker) = slot.take() {
            waker.wake_by_ref();
            slot.set(Some(waker));
        }
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse(USAGE).only(&["port", "cores"], &[]);
    let port: u16 = args.get("port", 7000);
    if args.get("cores", 1usize) != 1 {
        eprintln!("async_task_floor: one thread only");
    }
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let listener = runtime_benches::reuseport_listener(addr)?;
    listener.set_nonblocking(true)?;
    let poller = Rc::new(Poller::new()?);
    // SAFETY: the poller, declared after the listener, is dropped before
    // it: the listener is never closed while registered.
    unsafe { poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Edge)? };
    eprintln!("async_task_floor: listening on {addr}");
    let mut events = Events::new();
    loop {
        QUEUE.with(|queue| {
            // Not borrowed while a task runs: its wakes push to the queue.
            while let Some(runnable) = queue.borrow_mut().pop_front() {
                runnable.run();
            }
        });
        events.clear();
        poller.wait(&mut events, None)?;
        for event in events.iter() {
            if event.key == LISTENER {
                accept(&listener, &poller)?;
                continue;
            }
            // A wake only queues the task, so the borrow may stay held.
            CONNS.with(|c| {
                if let Some(ready) = c.borrow().get(event.key) {
                    if event.readable {
                        Readiness::wake(&ready.readable, &ready.reader);
                    }
                    if event.writable {
                        Readiness::wake(&ready.writable, &ready.writer);
                    }
                }
            });
        }
    }
}

fn accept(listener: &TcpListener, poller: &Rc<Poller>) -> io::Result<()> {
    while let Some(stream) = runtime_benches::accept_waiting(listener)? {
        let ready = Rc::new(Readiness::default());
        // A connected socket has room to write.
        ready.writable.set(true);
        let key = CONNS.with(|c| c.borrow_mut().insert(ready.clone()));
        // SAFETY: `serve` deletes the stream from the poller before it
        // drops it.
        unsafe { poller.add_with_mode(&stream, Event::all(key), PollMode::Edge)? };
        spawn(serve(stream, key, ready, poller.clone()));
    }
    Ok(())
}

fn spawn(future: impl Future<Output = ()> + 'static) {
    let schedule = |runnable| QUEUE.with(|q| q.borrow_mut().push_back(runnable));
    // SAFETY: this process has one thread: the runnable and every waker
    // are used, and the future polled and dropped, on the thread that
    // spawned it, as `spawn_unchecked` requires of a `!Send` future. (The
    // runtime's tasks hold the same contract by routing each wake to its
    // core.) `spawn_local` would check the thread at each poll, a cost the
    // runtime does not pay, so the floor does not either.
    let (runnable, task) = unsafe { async_task::spawn_unchecked(future, schedule) };
    task.detach();
    runnable.schedule();
}

/// One connection's task: the echo loop as one `poll_fn`, so its poll is
/// one function with the reads and writes in it (an `async fn` per
/// operation would add a poll of its own to each).
fn serve(
    stream: TcpStream,
    key: usize,
    ready: Rc<Readiness>,
    poller: Rc<Poller>,
) -> impl Future<Output = ()> {
    let mut buf = vec![0u8; CHUNK].into_boxed_slice();
    // The bytes read and not yet written back: `buf[start..end]`.
    let (mut start, mut end) = (0, 0);
    let fd = stream.as_raw_fd();
    poll_fn(move |cx| loop {
        if start < end {
            ready!(Readiness::poll(&ready.writable, &ready.writer, cx));
            let out = &buf[start..end];
            // SAFETY: `out` is a live, initialized slice of `buf`, and `fd`
            // is `stream`'s, open while this future holds `stream`.
            let n = unsafe { libc::send(fd, out.as_ptr().cast(), out.len(), libc::MSG_NOSIGNAL) };
            match n {
                n if n > 0 => {
                    start += n as usize;
                    if start < end {
                        // A short send: the socket's buffer is full.
                        ready.writable.set(false);
                    }
                }
                _ => match last_error(n) {
                    Some(io::ErrorKind::WouldBlock) => ready.writable.set(false),
                    Some(io::ErrorKind::Interrupted) => {}
                    _ => return close(&stream, key, &poller),
                },
            }
        } else {
            ready!(Readiness::poll(&ready.readable, &ready.reader, cx));
            // SAFETY: as above, with `buf` writable for its whole length.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            match n {
                n if n > 0 => {
                    (start, end) = (0, n as usize);
                    if end < buf.len() {
                        // A short read drained the socket: the next edge
                        // brings more (or the end of stream).
                        ready.readable.set(false);
                    }
                }
                _ => match last_error(n) {
                    Some(io::ErrorKind::WouldBlock) => ready.readable.set(false),
                    Some(io::ErrorKind::Interrupted) => {}
                    _ => return close(&stream, key, &poller),
                },
            }
        }
    })
}

/// What a `send` or `recv` that returned `n <= 0` means: `None` for the
/// end of stream (0) or an error other than the two retried ones.
#[cold]
fn last_error(n: isize) -> Option<io::ErrorKind> {
    if n == 0 {
        return None;
    }
    match io::Error::last_os_error().kind() {
        kind @ (io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Some(kind),
        _ => None,
    }
}

/// Forgets a finished connection (the stream closes when its task drops)
/// and ends its task.
#[cold]
fn close(stream: &TcpStream, key: usize, poller: &Poller) -> Poll<()> {
    let _ = poller.delete(stream);
    CONNS.with(|c| c.borrow_mut().try_remove(key));
    Poll::Ready(())
}
