//! A channel for sending one value across cores or threads.
//!
//! The same API as [`local::oneshot`](crate::channel::local::oneshot), but
//! both halves are `Send + Sync` when `T: Send`. It wraps the oneshot of
//! [`futures-channel`](https://docs.rs/futures-channel), the rust-lang
//! futures project's lock-based oneshot.
//!
//! # Examples
//!
//! ```
//! use runtime::channel::oneshot;
//!
//! let (tx, rx) = oneshot::channel();
//! let worker = std::thread::spawn(move || tx.send(6 * 7).unwrap());
//! assert_eq!(futures_lite::future::block_on(rx), Ok(42));
//! worker.join().unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::oneshot as inner;

use crate::channel::error::{RecvError, TryRecvError};

/// Creates a cross-core oneshot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = inner::channel();
    (Sender { inner: tx }, Receiver { inner: rx })
}

/// Sends the one value to the paired [`Receiver`], from any core or thread.
pub struct Sender<T> {
    inner: inner::Sender<T>,
}

impl<T> Sender<T> {
    /// Sends the value, waking the receiver.
    ///
    /// # Errors
    ///
    /// Hands the value back if the receiver was dropped or closed.
    pub fn send(self, value: T) -> Result<(), T> {
        self.inner.send(value)
    }

    /// Returns `true` if the receiver was dropped or closed, so
    /// [`send`](Self::send) would fail.
    pub fn is_closed(&self) -> bool {
        self.inner.is_canceled()
    }

    /// Waits until the receiver is dropped or closed, for a producer that
    /// wants to stop work nobody will collect.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&mut self) {
        self.inner.cancellation().await;
    }

    /// Polls whether the receiver was dropped or closed, registering `cx`'s
    /// waker if not.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_canceled(cx)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Receives the one value from the paired [`Sender`]; `.await` it.
///
/// Resolves to [`RecvError`] if the sender is dropped without sending, or if
/// the receiver was [closed](Self::close) before a value arrived.
pub struct Receiver<T> {
    inner: inner::Receiver<T>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if the sender may still send,
    /// [`TryRecvError::Disconnected`] if no value will ever come (the sender
    /// is gone, the value was already taken, or the receiver was closed).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.inner.try_recv() {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(TryRecvError::Empty),
            Err(inner::Canceled) => Err(TryRecvError::Disconnected),
        }
    }

    /// Prevents the sender from sending, waking it if it waits in
    /// [`Sender::closed`]. A value sent before this call can still be
    /// received.
    pub fn close(&mut self) {
        self.inner.close();
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner)
            .poll(cx)
            .map_err(|inner::Canceled| RecvError(()))
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;

    use futures_lite::future;

    use super::*;
    use crate::channel::counting_waker::CountingWaker;

    #[test]
    fn halves_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Sender<String>>();
        assert_send_sync::<Receiver<String>>();
    }

    #[test]
    fn send_wakes_the_waiting_receiver_once() {
        let (tx, rx) = channel();
        let waker = CountingWaker::new();
        let mut rx = pin!(rx);
        assert!(waker.poll(rx.as_mut()).is_pending());
        tx.send(5).unwrap();
        assert_eq!(waker.count(), 1);
        assert_eq!(waker.poll(rx.as_mut()), Poll::Ready(Ok(5)));
    }

    #[test]
    fn dropped_sender_wakes_receiver_with_an_error() {
        let (tx, rx) = channel::<u8>();
        let waker = CountingWaker::new();
        let mut rx = pin!(rx);
        assert!(waker.poll(rx.as_mut()).is_pending());
        drop(tx);
        assert_eq!(waker.count(), 1);
        assert_eq!(waker.poll(rx.as_mut()), Poll::Ready(Err(RecvError(()))));
    }

    #[test]
    fn close_fails_the_sender_and_wakes_closed() {
        let (mut tx, mut rx) = channel();
        let waker = CountingWaker::new();
        assert!(tx
            .poll_closed(&mut Context::from_waker(&waker.waker()))
            .is_pending());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        rx.close();
        assert_eq!(waker.count(), 1);
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(future::block_on(rx), Err(RecvError(())));
    }

    #[test]
    fn close_keeps_an_already_sent_value() {
        let (tx, mut rx) = channel();
        tx.send(3).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(3));
    }

    #[test]
    fn dropping_the_receiver_drops_an_unreceived_value() {
        let token = Arc::new(());
        let (tx, rx) = channel();
        tx.send(token.clone()).unwrap();
        assert_eq!(Arc::strong_count(&token), 2);
        drop(rx);
        assert_eq!(Arc::strong_count(&token), 1);
    }
}
