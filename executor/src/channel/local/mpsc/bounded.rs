use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::chan::{self, Rx, Tx};
use crate::channel::error::{SendError, TryRecvError, TrySendError};

/// Creates a bounded core-local channel that buffers at most `capacity`
/// values.
///
/// When the buffer is full, [`Sender::send`] waits for the receiver to make
/// room; waiting senders get room in the order they started waiting.
///
/// # Panics
///
/// Panics if `capacity` is 0.
///
/// # Examples
///
/// ```
/// use runtime::channel::local::mpsc;
///
/// futures_lite::future::block_on(async {
///     let (tx, mut rx) = mpsc::channel(1);
///     tx.send("hello").await.unwrap();
///     // The buffer is full until the receiver takes the value.
///     assert!(tx.try_send("world").unwrap_err().is_full());
///     assert_eq!(rx.recv().await, Some("hello"));
///     drop(tx);
///     assert_eq!(rx.recv().await, None);
/// });
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc bounded channel requires capacity > 0");
    let (tx, rx) = chan::chan(capacity);
    (Sender { chan: tx }, Receiver { chan: rx })
}

/// Sends values to the [`Receiver`] of a bounded core-local channel.
///
/// Clone it to get more senders; the receiver sees the end of the stream
/// once every sender is dropped.
pub struct Sender<T> {
    chan: Tx<T>,
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
    /// Dropping the future before it completes drops the value and gives up
    /// its place in line; the room it was waiting for goes to the next
    /// waiting sender.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.send(value).await
    }

    /// Sends a value if the buffer has room right now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the buffer is full (room that was freed for
    /// a waiting [`send`](Self::send) counts as taken), or
    /// [`TrySendError::Closed`] if the receiver was dropped or closed.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// Returns `true` if the receiver was dropped or closed, so every send
    /// will fail.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Returns how many values can be sent right now without waiting.
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// Returns the capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.max_capacity()
    }

    /// Returns `true` if both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.chan.same_channel(&other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .field("max_capacity", &self.max_capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Receives the values sent on a bounded core-local channel.
///
/// Dropping it closes the channel: pending and later sends fail and hand
/// their value back, and values still buffered are dropped.
pub struct Receiver<T> {
    chan: Rx<T>,
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

    /// Polls for the next value, registering `cx`'s waker if there is none
    /// yet.
    ///
    /// Returns `Ready(None)` once the buffer is empty and every sender is
    /// dropped or the channel was [closed](Self::close).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// Takes the next value if one is buffered.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is buffered but a sender may still
    /// send, [`TryRecvError::Disconnected`] if nothing ever will be.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Closes the channel for sending without dropping the receiver.
    ///
    /// Sends waiting for room fail and hand their value back; values already
    /// buffered can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// Returns `true` if the channel was [closed](Self::close) or every
    /// sender is dropped. Buffered values may still be waiting.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Returns how many values are buffered.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Returns `true` if no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chan.size_hint()
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
