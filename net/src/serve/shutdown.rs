//! Shutting a `Server` down from any thread: the handle, and the
//! notification every core's accept loop waits on.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::ServerState;

/// Shuts a [`Server`](super::Server) down from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(super) shared: Arc<ServerState>,
}

impl ShutdownHandle {
    /// Begins shutdown on every core: each stops accepting, waits for its
    /// open connections up to the shutdown timeout, and returns.
    pub fn shutdown(&self) {
        self.shared.shutdown.notify();
    }

    /// Whether shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        self.shared.shutdown.is_notified()
    }

    /// Blocks the calling thread until a core has bound its listener, and
    /// returns its address (with the port the kernel chose for port 0).
    /// For tests and tools that start a server and then connect to it.
    pub fn wait_listening(&self) -> SocketAddr {
        let mut listening = lock(&self.shared.listening);
        loop {
            if let Some(addr) = *listening {
                return addr;
            }
            listening = self
                .shared
                .listening_cond
                .wait(listening)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}

/// A one-shot flag that wakes waiters on any core.
#[derive(Default)]
pub(super) struct Notify {
    notified: AtomicBool,
    waiters: Mutex<Slab<Waker>>,
}

impl Notify {
    pub(super) fn notify(&self) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiters = std::mem::take(&mut *lock(&self.waiters));
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    pub(super) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    pub(super) fn wait(&self) -> Notified<'_> {
        Notified {
            notify: self,
            slot: None,
        }
    }
}

/// Completes once [`Notify::notify`] has been called.
pub(super) struct Notified<'a> {
    notify: &'a Notify,
    slot: Option<usize>,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let notify = self.notify;
        if notify.is_notified() {
            return Poll::Ready(());
        }
        let mut waiters = lock(&notify.waiters);
        // Checked again under the lock: `notify` sets the flag, then takes
        // the waiters under it.
        if notify.is_notified() {
            return Poll::Ready(());
        }
        match self.slot {
            Some(key) if waiters.contains(key) => waiters[key] = cx.waker().clone(),
            _ => self.slot = Some(waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.slot {
            if !self.notify.is_notified() {
                lock(&self.notify.waiters).try_remove(key);
            }
        }
    }
}

/// Locks `mutex`, ignoring poisoning: every critical section here leaves
/// its data consistent.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
