//! `AsyncFd`: any non-blocking file descriptor, driven by the core's reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::context;
use crate::reactor::{shut_down_error, Direction, OnReady, Reactor, Source};

/// A non-blocking file descriptor registered with the current core's reactor.
///
/// The building block of every socket type: register the fd once, then call
/// non-blocking syscalls through [`read_with`](Self::read_with) /
/// [`write_with`](Self::write_with) (or their `poll_` forms), which wait for
/// readiness and retry after `WouldBlock`. The fd must already be in
/// non-blocking mode.
///
/// An `AsyncFd` belongs to the core it was created on (it is `!Send`). When
/// that core shuts down, pending and later operations fail with an error
/// rather than hang.
///
/// Each direction remembers one waker: as with tokio's `poll_read`, only the
/// last task to wait for readability (or writability) is woken. Use one reader
/// task and one writer task per fd.
///
/// There is no `get_mut`: with a `&mut T`, safe code could swap the I/O
/// object for another, or close the registered fd, while it is still in the
/// poller. Use [`get_ref`](Self::get_ref) (socket calls take `&self`), or
/// [`into_inner`](Self::into_inner) and register again:
///
/// ```compile_fail
/// # use std::os::unix::net::UnixStream;
/// # let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// # rt.block_on(async {
/// let (a, b) = UnixStream::pair().unwrap();
/// let mut fd = runtime::AsyncFd::new(a).unwrap();
/// drop(std::mem::replace(fd.get_mut(), b)); // closes the registered fd
/// # });
/// ```
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use runtime::AsyncFd;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let (a, mut b) = UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     let a = AsyncFd::new(a).unwrap();
///     b.write_all(b"ping").unwrap();
///     let mut buf = [0; 4];
///     let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
/// });
/// ```
pub struct AsyncFd<T: AsFd> {
    source: Rc<Source>,
    reactor: Rc<Reactor>,
    /// The source's slab index in the reactor, for `deregister`: kept here,
    /// beside a fd-sized `inner`, in room the `Source` lacks (see
    /// `an_async_fd_keeps_three_words`).
    index: u32,
    inner: Option<T>,
}

impl<T: AsFd> AsyncFd<T> {
    /// Registers `inner` with the current core's reactor.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core, after the core has shut down, or when
    /// the poller refuses the fd.
    pub fn new(inner: T) -> io::Result<Self> {
        let reactor = context::with_core(|core| core.reactor().clone())
            .ok_or_else(|| io::Error::other("`AsyncFd::new` called outside of a `runtime` core"))?;
        let (source, index) = reactor.register(inner.as_fd())?;
        Ok(AsyncFd {
            source,
            reactor,
            index,
            inner: Some(inner),
        })
    }

    /// The wrapped I/O object.
    #[inline]
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("inner taken only on drop")
    }

    /// Deregisters the fd and gives the I/O object back.
    pub fn into_inner(mut self) -> T {
        let inner = self.inner.take().expect("inner taken only once");
        self.reactor
            .deregister(self.index, &self.source, inner.as_fd());
        inner
    }

    /// `Ok` while this fd's core runs; once the core has shut down (its
    /// runtime was dropped or stopped), the error every operation on the fd
    /// returns from then on: "the runtime core owning this I/O object has
    /// shut down", of kind `Other`.
    ///
    /// # Errors
    ///
    /// As above.
    pub fn check_core(&self) -> io::Result<()> {
        self.check()
    }

    fn check(&self) -> io::Result<()> {
        if self.reactor.is_shut_down() {
            Err(shut_down_error())
        } else {
            Ok(())
        }
    }

    fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        self.source.poll_ready(dir, cx).map(Ok)
    }

    /// Ready when the fd may be readable. Readiness stays set until
    /// [`clear_read_ready`](Self::clear_read_ready) is called (after a read
    /// returned `WouldBlock`).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_ready(Direction::Read, cx)
    }

    /// Ready when the fd may be writable; see [`poll_read_ready`](Self::poll_read_ready).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_ready(Direction::Write, cx)
    }

    /// Forgets read readiness until the reactor reports the next edge.
    #[inline]
    pub fn clear_read_ready(&self) {
        self.source.clear_ready(Direction::Read);
    }

    /// Tells the reactor that a read from this stream socket returned fewer
    /// bytes than asked for. On Linux that proves the socket drained (a
    /// peer's FIN brings an event of its own), so read readiness is
    /// forgotten and the read that would only return `WouldBlock` is
    /// skipped, as tokio does; elsewhere this does nothing. Never call it
    /// for a datagram socket, where a short read says nothing.
    #[inline]
    pub fn short_read(&self) {
        self.source.short_read();
    }

    /// Runs `work` once the current task poll returns, on this fd's core:
    /// [`defer`](crate::defer) without looking the core up. Returns `false`
    /// (and drops `work`) once the core has shut down.
    #[inline]
    pub fn defer(&self, work: Rc<dyn crate::Deferred>) -> bool {
        if self.reactor.is_shut_down() {
            return false;
        }
        self.reactor.defer(work);
        true
    }

    /// Wakes the task waiting for readability, if any, with readiness left
    /// as it is: for a part of the program that wants the reader to look at
    /// something (such as a request to give back idle buffers). The task
    /// sees a spurious wake-up, which futures must tolerate.
    pub fn wake_reader(&self) {
        self.source.wake_waiter(Direction::Read);
    }

    /// Wakes the task waiting for writability, if any, with readiness left
    /// as it is (see [`wake_reader`](Self::wake_reader)).
    pub fn wake_writer(&self) {
        self.source.wake_waiter(Direction::Write);
    }

    /// Forgets write readiness until the reactor reports the next edge.
    #[inline]
    pub fn clear_write_ready(&self) {
        self.source.clear_ready(Direction::Write);
    }

    /// Waits until the fd may be readable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the fd may be writable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    fn poll_with<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            std::task::ready!(self.poll_ready(dir, cx))?;
            match op(self.get_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.source.clear_ready(dir);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                res => return Poll::Ready(res),
            }
        }
    }

    /// Runs a non-blocking read operation until it stops returning
    /// `WouldBlock` (and `Interrupted`), waiting for readability in between.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(Direction::Read, cx, op)
    }

    /// Runs a non-blocking write operation until it stops returning
    /// `WouldBlock` (and `Interrupted`), waiting for writability in between.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(Direction::Write, cx, op)
    }

    /// Has the reactor tell `callback` of every readiness edge of this fd,
    /// directly from its wait, besides waking the tasks waiting on it: the
    /// way to drive an fd from callbacks rather than a task (the callback
    /// engine does). `None` stops it. The reactor holds only a weak
    /// reference: dropping the callback object stops it too.
    ///
    /// The callback runs on this core's thread after the wait, outside any
    /// task; with edge-triggered registration it must do the I/O until
    /// `WouldBlock` (see [`try_read_with`](Self::try_read_with)) or arrange
    /// to come back, since the edge is not reported again.
    pub fn set_on_ready(&self, callback: Option<std::rc::Weak<dyn OnReady>>) {
        self.source.set_callback(callback);
    }

    /// Whether the fd may be readable now (no waker is registered).
    #[inline]
    pub fn is_read_ready(&self) -> bool {
        self.source.is_ready(Direction::Read)
    }

    /// Whether the fd may be writable now (no waker is registered).
    #[inline]
    pub fn is_write_ready(&self) -> bool {
        self.source.is_ready(Direction::Write)
    }

    fn try_with<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.check()?;
        loop {
            if !self.source.is_ready(dir) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match op(self.get_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.source.clear_ready(dir);
                    return Err(err);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                res => return res,
            }
        }
    }

    /// Runs a non-blocking read operation now if the fd may be readable,
    /// forgetting readiness when it returns `WouldBlock` (retrying
    /// `Interrupted`); without waiting and without a waker. `WouldBlock`
    /// when the fd is known not to be readable.
    ///
    /// # Errors
    ///
    /// What `op` returns, `WouldBlock`, or an error once the core has shut
    /// down.
    pub fn try_read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.try_with(Direction::Read, op)
    }

    /// The write form of [`try_read_with`](Self::try_read_with).
    ///
    /// # Errors
    ///
    /// As [`try_read_with`](Self::try_read_with).
    pub fn try_write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.try_with(Direction::Write, op)
    }

    /// Async form of [`poll_read_with`](Self::poll_read_with).
    ///
    /// # Errors
    ///
    /// Whatever `op` returns other than `WouldBlock`/`Interrupted`, or an
    /// error once the owning core has shut down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if `op` is: a dropped future never runs `op` again.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_read_with(cx, &mut op)).await
    }

    /// Async form of [`poll_write_with`](Self::poll_write_with).
    ///
    /// # Errors
    ///
    /// As [`read_with`](Self::read_with).
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_write_with(cx, &mut op)).await
    }
}

impl<T: AsFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }
}

impl<T: AsFd> Drop for AsyncFd<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Deregister before `inner` (and so the fd) is dropped.
            self.reactor
                .deregister(self.index, &self.source, inner.as_fd());
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::AsyncFd;

    #[test]
    fn an_async_fd_keeps_three_words() {
        // Every connection holds one (the async streams' write side, the
        // engine's connections): the source's slab index fits beside a
        // fd-sized object, in room the layout has anyway. A fourth word
        // would grow the streams' shared write side past its 128-byte
        // malloc chunk.
        assert_eq!(
            std::mem::size_of::<AsyncFd<std::os::unix::net::UnixStream>>(),
            3 * std::mem::size_of::<usize>()
        );
    }
}
