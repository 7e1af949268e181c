//! A served connection's task: the stream made inside it, the service run
//! on it, its bookkeeping (`Finished`, `Connections`), and the timeouts a
//! task carries only when they are set (`Server::idle_timeout`,
//! `Server::first_read_timeout`).

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use runtime_executor::{time, JoinHandle};
use slab::Slab;
use socket2::Socket;

use super::{ServerState, Service};
use crate::stream::WriteProbe;
use crate::TcpStream;

/// One connection's task: makes the stream and runs the service on it.
pub(super) async fn serve_one<S: Service + 'static>(guard: Finished<S>, socket: Socket) {
    // Its own statement, so no temporary of it lives across the `await`
    // below (one would keep a stream-sized slot).
    let Some(stream) = open_stream(&guard, socket) else {
        return;
    };
    let served = guard.conns.service.call(stream).await;
    finish(guard, served);
}

/// [`serve_one`] under [`Server::first_read_timeout`].
pub(super) async fn serve_one_by<S: Service + 'static>(
    guard: Finished<S>,
    socket: Socket,
    first: Duration,
) {
    let Some(stream) = open_stream(&guard, socket) else {
        return;
    };
    let probe = stream.write_probe();
    let served = FirstWrite {
        future: guard.conns.service.call(stream),
        probe: Some(probe),
        deadline: time::sleep(first),
    }
    .await;
    finish(guard, served);
}

/// The stream of an accepted socket; a failure counts as the connection's
/// error.
fn open_stream<S: Service + 'static>(guard: &Finished<S>, socket: Socket) -> Option<TcpStream> {
    match TcpStream::from_socket(socket) {
        Ok(stream) => {
            if let Some(timeout) = guard.conns.close_timeout {
                stream.set_close_timeout(timeout);
            }
            Some(stream)
        }
        Err(_) => {
            guard.conns.state.errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Counts how a connection's service ended, and gives its slot back.
fn finish<S: Service + 'static>(guard: Finished<S>, served: io::Result<()>) {
    if served.is_err() {
        guard.conns.state.errors.fetch_add(1, Ordering::Relaxed);
    }
    drop(guard);
}

pin_project_lite::pin_project! {
    /// A connection's service under [`Server::first_read_timeout`]: dropped
    /// (which closes the stream) if the deadline passes before it writes.
    struct FirstWrite<F> {
        #[pin]
        future: F,
        // Until the first write.
        probe: Option<WriteProbe>,
        #[pin]
        deadline: time::Sleep,
    }
}

impl<F: Future<Output = io::Result<()>>> Future for FirstWrite<F> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(out);
        }
        if let Some(probe) = this.probe {
            if probe.wrote() {
                *this.probe = None;
            } else if this.deadline.poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no reply within Server::first_read_timeout",
                )));
            }
        }
        Poll::Pending
    }
}

pin_project_lite::pin_project! {
    /// A connection's task under [`Server::idle_timeout`]: ends it (dropping
    /// the service's future, which closes the stream) once it has not been
    /// polled for `timeout`. A task is polled when what it waits for (its
    /// socket, a timer of its own) is ready, so an unpolled task is one
    /// with nothing to do. The timer is not moved at each poll: when it
    /// fires early, it is set again from the last poll.
    pub(super) struct IdleTimeout<F> {
        #[pin]
        future: F,
        timeout: Duration,
        last_active: time::Instant,
        #[pin]
        timer: time::Sleep,
    }
}

impl<F> IdleTimeout<F> {
    pub(super) fn new(future: F, timeout: Duration) -> Self {
        IdleTimeout {
            future,
            timeout,
            last_active: time::Instant::now(),
            timer: time::sleep(timeout),
        }
    }
}

impl<F: Future<Output = ()>> Future for IdleTimeout<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let now = time::Instant::now();
        if this.timer.as_mut().poll(cx).is_ready() {
            let idle_until = *this.last_active + *this.timeout;
            if now >= idle_until {
                return Poll::Ready(());
            }
            this.timer.as_mut().reset(idle_until);
            let _ = this.timer.as_mut().poll(cx);
        } else {
            *this.last_active = now;
        }
        this.future.poll(cx)
    }
}

/// This core's service and connection tasks, so shutdown can wait for
/// the tasks or cancel them.
pub(super) struct Connections<S> {
    pub(super) service: S,
    pub(super) state: Arc<ServerState>,
    /// `Server::close_timeout`, set on every stream accepted.
    pub(super) close_timeout: Option<Duration>,
    pub(super) tasks: RefCell<Slab<JoinHandle<()>>>,
    /// Woken when the last task ends.
    pub(super) idle: RefCell<Option<Waker>>,
}

impl<S> Connections<S> {
    pub(super) fn all_finished(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            if self.tasks.borrow().is_empty() {
                return Poll::Ready(());
            }
            *self.idle.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    pub(super) fn cancel_all(&self) {
        for (_, task) in self.tasks.borrow().iter() {
            task.abort();
        }
    }
}

/// Ends a connection's bookkeeping when its task ends, however it ends.
pub(super) struct Finished<S> {
    pub(super) key: usize,
    pub(super) conns: Rc<Connections<S>>,
}

impl<S> Drop for Finished<S> {
    fn drop(&mut self) {
        self.conns.state.open.fetch_sub(1, Ordering::AcqRel);
        let mut tasks = self.conns.tasks.borrow_mut();
        tasks.try_remove(self.key);
        if tasks.is_empty() {
            drop(tasks);
            if let Some(waker) = self.conns.idle.borrow_mut().take() {
                waker.wake();
            }
        }
    }
}
