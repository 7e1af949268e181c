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
///
/// Every idle connection holds this future, so it holds the service's
/// future and the guard (which carries the socket until the stream is
/// made), nothing more (`a_served_connection_adds_only_its_guard`): an
/// `async` block, where an `async fn` would keep its arguments twice, as
/// arguments and as the locals they are moved to.
// Not an `async fn`, on purpose: see above.
#[allow(clippy::manual_async_fn)]
pub(super) fn serve_one<S: Service + 'static>(mut guard: Finished<S>) -> impl Future<Output = ()> {
    async move {
        // Its own statement, so no temporary of it lives across the `await`
        // below (one would keep a stream-sized slot).
        let Some(stream) = open_stream(&mut guard) else {
            return;
        };
        let served = guard.conns.service.call(stream).await;
        finish(guard, served);
    }
}

/// [`serve_one`] under [`Server::first_read_timeout`], an `async` block for
/// the same reason.
#[allow(clippy::manual_async_fn)]
pub(super) fn serve_one_by<S: Service + 'static>(
    mut guard: Finished<S>,
    first: Duration,
) -> impl Future<Output = ()> {
    async move {
        let Some(stream) = open_stream(&mut guard) else {
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
}

/// The stream of the accepted socket the guard carries; a failure counts
/// as the connection's error. The server keeps a probe of it, to cut its
/// linger if the shutdown deadline cancels the connection.
fn open_stream<S: Service + 'static>(guard: &mut Finished<S>) -> Option<TcpStream> {
    let socket = guard.socket.take()?;
    match TcpStream::from_socket(socket) {
        Ok(stream) => {
            if let Some(timeout) = guard.conns.close_timeout {
                stream.set_close_timeout(timeout);
            }
            if let Some(task) = guard.conns.tasks.borrow_mut().get_mut(guard.key as usize) {
                task.probe = Some(stream.write_probe());
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
    pub(super) tasks: RefCell<Slab<Task>>,
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

    /// Cancels every connection's task at the shutdown deadline, with no
    /// linger: what a stream still holds is not sent after the deadline.
    pub(super) fn cancel_all(&self) {
        for (_, task) in self.tasks.borrow().iter() {
            if let Some(probe) = &task.probe {
                probe.cut_linger();
            }
            task.handle.abort();
        }
    }
}

/// A connection's task, as its server keeps it.
pub(super) struct Task {
    pub(super) handle: JoinHandle<()>,
    /// The connection's stream, once the task has made it.
    pub(super) probe: Option<WriteProbe>,
}

/// Ends a connection's bookkeeping when its task ends, however it ends;
/// until the task starts, it carries the accepted socket too. Two words,
/// kept in the task's future for the connection's life
/// (`a_served_connection_adds_only_its_guard`).
pub(super) struct Finished<S> {
    pub(super) conns: Rc<Connections<S>>,
    /// The task's key in `conns.tasks`.
    pub(super) key: u32,
    /// The accepted socket, until the task makes its stream.
    pub(super) socket: Option<Socket>,
}

impl<S> Drop for Finished<S> {
    fn drop(&mut self) {
        self.conns.state.open.fetch_sub(1, Ordering::AcqRel);
        let mut tasks = self.conns.tasks.borrow_mut();
        tasks.try_remove(self.key as usize);
        if tasks.is_empty() {
            drop(tasks);
            if let Some(waker) = self.conns.idle.borrow_mut().take() {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::mem::size_of;

    use futures_lite::AsyncReadExt;

    use super::*;

    /// The size of what `f` returns.
    fn returned_size<A, R>(_: fn(A) -> R) -> usize {
        size_of::<R>()
    }

    /// The sizes of a served connection's future and of `service`'s.
    fn sizes<F, Fut>(_: F) -> (usize, usize)
    where
        F: Fn(TcpStream) -> Fut + 'static,
        Fut: Future<Output = io::Result<()>>,
    {
        (returned_size(serve_one::<F>), size_of::<Fut>())
    }

    #[test]
    fn a_served_connection_adds_only_its_guard() {
        // Every idle connection holds its task's future: the service's
        // future, the guard, and a state byte (rounded to a word) in an
        // `async` block. An `async fn` kept the guard and the socket twice,
        // 16 bytes more per connection.
        assert_eq!(size_of::<Finished<()>>(), 16, "the guard is two words");
        // What the server keeps per connection: the handle and the probe
        // that cuts the linger at the shutdown deadline.
        assert_eq!(size_of::<Task>(), 16, "a task entry is two words");
        let (served, service) = sizes(|mut stream: TcpStream| async move {
            let mut buf = [0u8; 1];
            stream.read(&mut buf).await?;
            Ok(())
        });
        assert!(
            served <= service + 16 + 8,
            "a connection's future is {served} bytes for a service's of {service}"
        );
    }
}
