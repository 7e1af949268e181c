use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::map_try_recv;
use crate::channel::error::{SendError, TryRecvError};

/// Creates an unbounded channel that can be used from any core or thread.
///
/// **Warning:** nothing slows a sender down, so a receiver that falls behind
/// lets the buffer grow without limit. Prefer [`channel`](super::channel)
/// unless the number of values in flight is bounded by other means.
///
/// # Examples
///
/// ```
/// use runtime::channel::mpsc;
///
/// let (tx, mut rx) = mpsc::unbounded_channel();
/// let producer = std::thread::spawn(move || {
///     for i in 0..100 {
///         tx.send(i).unwrap();
///     }
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
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (tx, rx) = async_channel::unbounded();
    (
        UnboundedSender { inner: tx },
        UnboundedReceiver {
            inner: Box::pin(rx),
        },
    )
}

/// The first name of [`unbounded_channel`], kept so that code using it still
/// builds.
pub fn unbounded<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    unbounded_channel()
}

/// Sends values to the [`UnboundedReceiver`] of an unbounded cross-core
/// channel.
///
/// Clone it to get more senders; the receiver sees the end of the stream
/// once every sender is dropped.
pub struct UnboundedSender<T> {
    inner: async_channel::Sender<T>,
}

impl<T> UnboundedSender<T> {
    /// Queues a value without waiting.
    ///
    /// # Errors
    ///
    /// Fails, handing the value back, if the receiver was dropped or closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        // An unbounded channel is never full, so only `Closed` can come back.
        self.inner
            .try_send(value)
            .map_err(|err| SendError(err.into_inner()))
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

    /// Returns `true` if both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        UnboundedSender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Receives the values sent on an unbounded cross-core channel.
///
/// Dropping it closes the channel: later sends fail and hand their value
/// back, and values still buffered are dropped.
pub struct UnboundedReceiver<T> {
    // async-channel's receiver is `!Unpin`; boxing it once lets `recv` take
    // `&mut self` like tokio's.
    inner: Pin<Box<async_channel::Receiver<T>>>,
}

impl<T> UnboundedReceiver<T> {
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

    /// Closes the channel for sending without dropping the receiver; values
    /// already buffered can still be received.
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

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        // async-channel keeps buffered values until the senders go too; drop
        // them now, as the local channels do.
        self.inner.close();
        while self.inner.try_recv().is_ok() {}
    }
}

impl<T> Stream for UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedReceiver")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}
