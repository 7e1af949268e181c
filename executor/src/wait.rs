//! The reactor's wait, and how other threads interrupt it.
//!
//! On Linux the core calls `epoll_wait` on the poller's own epoll fd: one
//! syscall per wait. (`polling`'s `Poller::wait` costs five: it re-arms a
//! timerfd and its notifier around every call, even a non-blocking one.)
//! `polling` still does the registration (`add`, `modify`, `delete`), and
//! wakes from other threads go through an eventfd of the core's own,
//! registered edge-triggered, so each write brings an event with no
//! re-arming. Elsewhere, `Poller::wait` and `Poller::notify` as they are.
//!
//! Sources are added here too on Linux ([`add_source`]), with
//! `EPOLLRDHUP`, which `polling`'s interest flags cannot express: the
//! event that brings a peer's FIN says so. Readers can then stop after a
//! short read (the socket is drained, and a FIN brings its own event), as
//! tokio does, instead of making the read that only returns `WouldBlock`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use polling::Poller;

/// One readiness event, as the reactor needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEvent {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// A hang-up or an error.
    pub(crate) hung_up: bool,
    /// The peer shut down its writing side (`EPOLLRDHUP`): reads never
    /// block again.
    pub(crate) read_closed: bool,
}

/// Adds `fd` to the poller for both directions, edge-triggered, with
/// `key`; on Linux with `EPOLLRDHUP` (see the module docs).
///
/// # Safety
///
/// As [`Poller::add`]: `fd` must be deleted from the poller before it is
/// closed.
pub(crate) unsafe fn add_source(poller: &Poller, fd: i32, key: usize) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN
                | libc::EPOLLPRI
                | libc::EPOLLOUT
                | libc::EPOLLRDHUP
                | libc::EPOLLET) as u32,
            u64: key as u64,
        };
        // SAFETY: `event` is a live local the kernel only reads; the
        // caller keeps `fd` registered no longer than it is open.
        let rc =
            unsafe { libc::epoll_ctl(poller.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: the caller's contract is `Poller::add_with_mode`'s.
    unsafe {
        poller.add_with_mode(fd, polling::Event::all(key), polling::PollMode::Edge)
    }
}

/// Interrupts a core's wait from any thread.
#[derive(Debug)]
pub(crate) struct Notifier {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fd: std::os::fd::OwnedFd,
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    poller: Arc<Poller>,
}

/// The key of the notifier's events. Sources never use it: their keys
/// carry a generation of at least 1 in their high bits.
pub(crate) const NOTIFY_KEY: usize = 0;

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Notifier {
    pub(crate) fn new(poller: &Arc<Poller>) -> io::Result<Self> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: `eventfd` takes no pointers; a valid fd is owned at once.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the notifier outlives its registration: the poller and
        // the notifier are dropped together with the core (the fd is
        // closed after, or with, the epoll instance that holds it).
        unsafe {
            poller.add_with_mode(
                fd.as_raw_fd(),
                polling::Event::readable(NOTIFY_KEY),
                polling::PollMode::Edge,
            )?;
        }
        Ok(Notifier { fd })
    }

    /// Wakes the core from its wait (or makes its next wait return at once).
    pub(crate) fn notify(&self) {
        use std::os::fd::AsRawFd;
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an eventfd we own. A
        // full counter (`EAGAIN`) still leaves the fd readable: fine.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Resets the counter, so it can never fill up. Out of line: the
    /// wait's loop over events keeps its registers for the sources'.
    #[cold]
    #[inline(never)]
    fn drain(&self) {
        use std::os::fd::AsRawFd;
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live local from an eventfd we own.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8);
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl Notifier {
    pub(crate) fn new(poller: &Arc<Poller>) -> io::Result<Self> {
        Ok(Notifier {
            poller: poller.clone(),
        })
    }

    pub(crate) fn notify(&self) {
        let _ = self.poller.notify();
    }
}

/// `epoll_wait`'s timeout: -1 for none, else milliseconds rounded up (a
/// timer may fire up to 1 ms late, never early), at most `i32::MAX`.
/// In `u64`: `Duration::as_nanos` is `u128`, whose division is a call.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(t) => t
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(t.subsec_nanos().div_ceil(1_000_000)))
            .min(i32::MAX as u64) as i32,
    }
}

/// A core's wait: the poller, the notifier, and the event buffer.
pub(crate) struct Waiter {
    poller: Arc<Poller>,
    notifier: Arc<Notifier>,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    buf: Vec<libc::epoll_event>,
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    events: polling::Events,
}

const CAPACITY: usize = 1024;

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter").finish_non_exhaustive()
    }
}

impl Waiter {
    pub(crate) fn new(poller: Arc<Poller>, notifier: Arc<Notifier>) -> Self {
        Waiter {
            poller,
            notifier,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            buf: Vec::with_capacity(CAPACITY),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            events: polling::Events::with_capacity(
                std::num::NonZeroUsize::new(CAPACITY).expect("non-zero"),
            ),
        }
    }

    /// Waits up to `timeout_ms` milliseconds (-1: until an event; 0: not at
    /// all; see [`timeout_ms`]) and hands each source event to `each`.
    /// Returns the number of events, or the wait's error (`Interrupted` on
    /// a signal). Inlined into the reactor's poll, which a parking core
    /// inlines in turn: the wait's own frame was a part of each turn.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[inline]
    pub(crate) fn wait(
        &mut self,
        timeout_ms: i32,
        mut each: impl FnMut(RawEvent),
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        self.buf.clear();
        // SAFETY: the buffer has room for `capacity()` events, and the
        // kernel writes at most that many; `set_len` then covers only what
        // it wrote.
        let n = unsafe {
            libc::epoll_wait(
                self.poller.as_raw_fd(),
                self.buf.as_mut_ptr(),
                self.buf.capacity() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `epoll_wait` initialized the first `n` events.
        unsafe { self.buf.set_len(n as usize) };
        const READ: u32 =
            (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI)
                as u32;
        const WRITE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const HUP: u32 = (libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const RDHUP: u32 = libc::EPOLLRDHUP as u32;
        let mut count = 0;
        for event in &self.buf {
            // Copies out of the (packed) struct: no reference to its fields.
            let (flags, key) = (event.events, event.u64 as usize);
            if key == NOTIFY_KEY {
                self.notifier.drain();
                continue;
            }
            // `polling`'s own notifier and timer (key `usize::MAX`) are never
            // armed here; were one to fire, `each` finds no source for its
            // key, as for any stale key: no check of its own per event.
            count += 1;
            each(RawEvent {
                key,
                readable: flags & READ != 0,
                writable: flags & WRITE != 0,
                hung_up: flags & HUP != 0,
                read_closed: flags & RDHUP != 0,
            });
        }
        Ok(count)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn wait(
        &mut self,
        timeout_ms: i32,
        mut each: impl FnMut(RawEvent),
    ) -> io::Result<usize> {
        let _ = &self.notifier;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        self.events.clear();
        self.poller.wait(&mut self.events, timeout)?;
        let mut count = 0;
        for event in self.events.iter() {
            count += 1;
            each(RawEvent {
                key: event.key,
                readable: event.readable,
                writable: event.writable,
                hung_up: event.is_interrupt() || event.is_err() == Some(true),
                read_closed: false,
            });
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1_000_001))), 2);
        assert_eq!(timeout_ms(Some(Duration::new(2, 999_999_999))), 3000);
        assert_eq!(timeout_ms(Some(Duration::from_secs(3_000_000))), i32::MAX);
        assert_eq!(timeout_ms(Some(Duration::MAX)), i32::MAX);
    }
}
