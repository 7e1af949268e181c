//! A single value, watched by many receivers for changes, across cores
//! (tokio's `watch`).
//!
//! [`Sender::send`] replaces the value and marks it changed for every
//! [`Receiver`]; [`Receiver::changed`] waits for a value the receiver has
//! not seen. Receivers see the latest value, not every value: a receiver
//! that is slow skips the values in between. The typical use is
//! configuration or a shutdown flag.
//!
//! The value sits behind a `std` read-write lock, held only while a
//! [`Ref`] lives: keep those short, and never across an `.await`.
//!
//! # Examples
//!
//! A shutdown signal seen by every worker:
//!
//! ```
//! use runtime::sync::watch;
//!
//! #[runtime::main]
//! async fn main() {
//!     let (shutdown, rx) = watch::channel(false);
//!     let workers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let mut rx = rx.clone();
//!             runtime::spawn(async move {
//!                 rx.wait_for(|stop| *stop).await.unwrap();
//!             })
//!         })
//!         .collect();
//!     shutdown.send(true).unwrap();
//!     for worker in workers {
//!         worker.await.unwrap();
//!     }
//! }
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use event_listener::Event;

/// Makes a watch channel holding `init`; receivers start having seen it.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        version: AtomicU64::new(0),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        closed: AtomicBool::new(false),
        on_change: Event::new(),
        on_receivers_gone: Event::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

struct Shared<T> {
    value: RwLock<T>,
    /// Bumped, under the write lock, by every change.
    version: AtomicU64,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Every sender is gone.
    closed: AtomicBool,
    on_change: Event,
    on_receivers_gone: Event,
}

impl<T> Shared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        // A panic in `send_modify`'s closure poisons the lock; the value is
        // still whatever the closure left, as with tokio.
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half: replaces the value. Cloneable; the channel closes when
/// the last sender is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replaces the value and notifies every receiver.
    ///
    /// # Errors
    ///
    /// Gives the value back in [`SendError`] when no receiver is left (the
    /// value is then not stored), as tokio's.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.receiver_count() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value whether or not a receiver is left, notifies the
    /// receivers, and returns the old value.
    pub fn send_replace(&self, value: T) -> T {
        let mut old = value;
        self.send_modify(|current| std::mem::swap(current, &mut old));
        old
    }

    /// Changes the value in place and notifies the receivers.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::watch;
    ///
    /// let (tx, rx) = watch::channel(vec![1]);
    /// tx.send_modify(|v| v.push(2));
    /// assert!(rx.has_changed().unwrap());
    /// assert_eq!(*rx.borrow(), [1, 2]);
    /// ```
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|value| {
            modify(value);
            true
        });
    }

    /// Changes the value in place; notifies the receivers only if `modify`
    /// returns `true`. Returns what `modify` returned.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = {
            let mut value = self.shared.value.write().unwrap_or_else(|e| e.into_inner());
            let modified = modify(&mut value);
            if modified {
                self.shared.version.fetch_add(1, Ordering::SeqCst);
            }
            modified
        };
        if modified {
            self.shared.on_change.notify(usize::MAX);
        }
        modified
    }

    /// The current value. Holds a read lock while the [`Ref`] lives.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
            has_changed: false,
        }
    }

    /// A new receiver, which starts having seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version.load(Ordering::SeqCst),
        }
    }

    /// The number of receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::SeqCst)
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until every receiver is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&self) {
        loop {
            if self.is_closed() {
                return;
            }
            let listener = self.shared.on_receivers_gone.listen();
            if self.is_closed() {
                return;
            }
            listener.await;
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::SeqCst);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.closed.store(true, Ordering::SeqCst);
            self.shared.on_change.notify(usize::MAX);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("value", &*self.borrow())
            .finish()
    }
}

/// The receiving half: reads the value, waits for changes. Cloning keeps
/// what this receiver has seen.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen. Holds a read lock while
    /// the [`Ref`] lives.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let has_changed = self.shared.version.load(Ordering::SeqCst) != self.seen;
        Ref { guard, has_changed }
    }

    /// The current value, marked seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        // Read under the lock: the version matches the value.
        let version = self.shared.version.load(Ordering::SeqCst);
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { guard, has_changed }
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version.load(Ordering::SeqCst);
    }

    /// Makes the current value count as not seen.
    pub fn mark_changed(&mut self) {
        self.seen = self.seen.wrapping_sub(1);
    }

    /// Whether a value this receiver has not seen is there.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(RecvError(()));
        }
        Ok(self.shared.version.load(Ordering::SeqCst) != self.seen)
    }

    /// Waits for a value this receiver has not seen, and marks it seen.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone and no unseen value is left.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a change that arrives while the future is dropped is
    /// reported by the next call.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::watch;
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let (tx, mut rx) = watch::channel("v1");
    /// tx.send("v2").unwrap();
    /// rx.changed().await.unwrap();
    /// assert_eq!(*rx.borrow(), "v2");
    /// drop(tx);
    /// assert!(rx.changed().await.is_err()); // no sender left
    /// # });
    /// ```
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        loop {
            let listener = self.shared.on_change.listen();
            let version = self.shared.version.load(Ordering::SeqCst);
            if version != self.seen {
                self.seen = version;
                return Ok(());
            }
            if self.shared.closed.load(Ordering::SeqCst) {
                return Err(RecvError(()));
            }
            listener.await;
        }
    }

    /// Waits until the value satisfies `condition` (checking the current
    /// value first), marks it seen and returns it.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when every sender is gone before that.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait_for(
        &mut self,
        mut condition: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        loop {
            let listener = self.shared.on_change.listen();
            {
                let guard = self.shared.read();
                let version = self.shared.version.load(Ordering::SeqCst);
                let has_changed = version != self.seen;
                self.seen = version;
                if condition(&guard) {
                    return Ok(Ref { guard, has_changed });
                }
            }
            if self.shared.closed.load(Ordering::SeqCst) {
                return Err(RecvError(()));
            }
            listener.await;
        }
    }

    /// Whether both receivers watch the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.on_receivers_gone.notify(usize::MAX);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("value", &*self.borrow())
            .finish()
    }
}

/// A read-locked view of the value, from [`Receiver::borrow`] and friends.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was unseen by the receiver when borrowed.
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

/// The errors of a watch channel, where tokio keeps them.
pub mod error {
    pub use super::{RecvError, SendError};
}

/// The error from [`Sender::send`] when no receiver is left; holds the value.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel has no receivers")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// The error from [`Receiver::changed`] once every sender is gone.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch channel closed: every sender is gone")
    }
}

impl std::error::Error for RecvError {}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use futures_lite::future::block_on;

    use super::*;

    #[test]
    fn receivers_see_the_latest_value_once() {
        let (tx, mut rx) = channel(0);
        assert!(!rx.has_changed().unwrap());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(rx.has_changed().unwrap());
        block_on(rx.changed()).unwrap();
        assert_eq!(*rx.borrow(), 2, "intermediate values are skipped");
        assert!(!rx.has_changed().unwrap());
        let mut again = pin!(rx.changed());
        assert!(again
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
    }

    #[test]
    fn a_subscriber_starts_having_seen_the_current_value() {
        let (tx, _rx) = channel("a");
        tx.send("b").unwrap();
        let fresh = tx.subscribe();
        assert!(!fresh.has_changed().unwrap());
        assert_eq!(*fresh.borrow(), "b");
    }

    #[test]
    fn closing_reports_the_last_change_first_then_the_error() {
        let (tx, mut rx) = channel(0);
        tx.send(5).unwrap();
        drop(tx);
        assert!(rx.has_changed().is_err());
        assert_eq!(block_on(rx.changed()), Ok(()));
        assert_eq!(block_on(rx.changed()), Err(RecvError(())));
        assert_eq!(*rx.borrow(), 5);
    }

    #[test]
    fn send_fails_without_receivers_but_send_replace_stores() {
        let (tx, rx) = channel(1);
        drop(rx);
        assert_eq!(tx.send(2), Err(SendError(2)));
        assert_eq!(tx.send_replace(3), 1);
        assert_eq!(*tx.borrow(), 3);
        block_on(tx.closed());
    }

    #[test]
    fn send_if_modified_notifies_only_on_true() {
        let (tx, rx) = channel(0);
        assert!(!tx.send_if_modified(|_| false));
        assert!(!rx.has_changed().unwrap());
        assert!(tx.send_if_modified(|v| {
            *v += 1;
            true
        }));
        assert!(rx.has_changed().unwrap());
    }

    #[test]
    fn wakes_a_receiver_on_another_thread() {
        let (tx, mut rx) = channel(0u32);
        let waiter = std::thread::spawn(move || {
            block_on(async {
                let v = rx.wait_for(|v| *v == 3).await.unwrap();
                *v
            })
        });
        for i in 1..=3 {
            tx.send(i).unwrap();
        }
        assert_eq!(waiter.join().unwrap(), 3);
    }
}
