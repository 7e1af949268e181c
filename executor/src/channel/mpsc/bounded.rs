use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::map_try_recv;
use crate::channel::error::{SendError, TryRecvError, TrySendError};

/// Creates a bounded channel that buffers at most `capacity` values and can
/// be used from any core or thread.
///
/// When the buffer is full, [`Sender::send`] waits for the receiver to make
/// room.
///
/// # Panics
///
/// Panics if `capacity` is 0.
///
/// # Examples
///
/// ```
/// use runtime::channel::mpsc;
///
/// let (tx, mut rx) = mpsc::channel(16);
/// let producer = std::thread::spawn(move || {
///     futures_lite::future::block_on(async {
///         for i in 0..100 {
///             tx.send(i).await.unwrap();
///         }
///     })
/// });
/// let sum: u32 = futures_lite::future::block_on(async {
///     let mut sum = 0;
///     while let Some(i) = rx.recv().await {
///         sum += i;
///     }
///     sum
/// });
/// producer.join().unwrap();
/// assert_eq!(sum, 4950);
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc bounded channel requires capacity > 0");
    let (tx, rx) = async_channel::bounded(capacity);
    (
        Sender { inner: tx },
        Receiver {
            inner: Box::pin(rx),
        },
    )
}

/// Sends values to the [`Receiver`] of a bounded cross-core channel.
///
/// Clone it to get more senders; the receiver sees the end of the stream
/// once every sender is dropped.
pub struct Sender<T> {
    inner: async_channel::Sender<T>,
}

impl<T> Sender<T> {
    /// Sends a value, waiting for room if the buffer is full.
    ///
    /// # Errors
    ///
    /// Fails, handing the value back, if the receiver was dropped or closed
    /// before the value could be queued.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops the value; it was not
    /// queued.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.inner.send(value).await.map_err(|err| SendError(err.0))
    }

    /// Sends a value, blocking the calling thread while the buffer is full.
    ///
    /// For threads outside the runtime. On a runtime core it would stall
    /// every task of that core; use [`send`](Self::send) there.
    ///
    /// # Errors
    ///
    /// Fails, handing the value back, if the receiver was dropped or closed.
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        self.inner
            .send_blocking(value)
            .map_err(|err| SendError(err.0))
    }

    /// Sends a value if the buffer has room right now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the buffer is full, or
    /// [`TrySendError::Closed`] if the receiver was dropped or closed.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.inner.try_send(value).map_err(|err| match err {
            async_channel::TrySendError::Full(value) => TrySendError::Full(value),
            async_channel::TrySendError::Closed(value) => TrySendError::Closed(value),
        })
    }

    /// Returns `true` if the receiver was dropped or closed, so every send
    /// will fail.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Waits until the receiver is dropped or closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&self) {
        self.inner.closed().await;
    }

    /// Returns how many values could be sent right now without waiting. Other
    /// threads may change this at any moment.
    pub fn capacity(&self) -> usize {
        self.max_capacity().saturating_sub(self.inner.len())
    }

    /// Returns the capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        // Always `Some` for a bounded async-channel.
        self.inner.capacity().unwrap_or(usize::MAX)
    }

    /// Returns `true` if both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.inner.len())
            .field("max_capacity", &self.max_capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Receives the values sent on a bounded cross-core channel.
///
/// Dropping it closes the channel: pending and later sends fail and hand
/// their value back, and values still buffered are dropped.
pub struct Receiver<T> {
    // async-channel's receiver is `!Unpin`; boxing it once lets `recv` take
    // `&mut self` like tokio's.
    inner: Pin<Box<async_channel::Receiver<T>>>,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting until one is sent.
    ///
    /// Returns `None` once the buffer is empty and every sender is dropped
    /// or the channel was [closed](Self::close).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a value is taken from the channel only when the future
    /// completes.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives the next value, blocking the calling thread until one is
    /// sent.
    ///
    /// For threads outside the runtime. On a runtime core it would stall
    /// every task of that core; use [`recv`](Self::recv) there.
    pub fn blocking_recv(&mut self) -> Option<T> {
        self.inner.recv_blocking().ok()
    }

    /// Polls for the next value, registering `cx`'s waker if there is none
    /// yet.
    ///
    /// Returns `Ready(None)` once the buffer is empty and every sender is
    /// dropped or the channel was [closed](Self::close).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.as_mut().poll_next(cx)
    }

    /// Takes the next value if one is buffered.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is buffered but a sender may still
    /// send, [`TryRecvError::Disconnected`] if nothing ever will be.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.inner.try_recv().map_err(map_try_recv)
    }

    /// Closes the channel for sending without dropping the receiver.
    ///
    /// Sends waiting for room fail and hand their value back; values already
    /// buffered can still be received.
    pub fn close(&mut self) {
        self.inner.close();
    }

    /// Returns `true` if the channel was [closed](Self::close) or every
    /// sender is dropped. Buffered values may still be waiting.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Returns how many values are buffered.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Returns `true` if no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // async-channel keeps buffered values until the senders go too; drop
        // them now, as the local channels do.
        self.inner.close();
        while self.inner.try_recv().is_ok() {}
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}
