use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::chan::{self, Rx, Tx};
use crate::channel::error::{SendError, TryRecvError};

/// Creates an unbounded core-local channel.
///
/// **Warning:** nothing slows a sender down, so a receiver that falls behind
/// lets the buffer grow without limit. Prefer [`channel`](super::channel)
/// unless the number of values in flight is bounded by other means.
///
/// # Examples
///
/// ```
/// use runtime::channel::local::mpsc;
///
/// futures_lite::future::block_on(async {
///     let (tx, mut rx) = mpsc::unbounded_channel();
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
///     drop(tx);
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (tx, rx) = chan::chan(usize::MAX);
    (UnboundedSender { chan: tx }, UnboundedReceiver { chan: rx })
}

/// The first name of [`unbounded_channel`], kept so that code using it still
/// builds.
pub fn unbounded<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    unbounded_channel()
}

/// Sends values to the [`UnboundedReceiver`] of an unbounded core-local
/// channel.
///
/// Clone it to get more senders; the receiver sees the end of the stream
/// once every sender is dropped.
pub struct UnboundedSender<T> {
    chan: Tx<T>,
}

impl<T> UnboundedSender<T> {
    /// Queues a value without waiting.
    ///
    /// # Errors
    ///
    /// Fails, handing the value back, if the receiver was dropped or closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        // An unbounded channel is never full, so only `Closed` can come back.
        self.chan
            .try_send(value)
            .map_err(|err| SendError(err.into_inner()))
    }

    /// Returns `true` if the receiver was dropped or closed, so every send
    /// will fail.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Returns `true` if both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.chan.same_channel(&other.chan)
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        UnboundedSender {
            chan: self.chan.clone(),
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

/// Receives the values sent on an unbounded core-local channel.
///
/// Dropping it closes the channel: later sends fail and hand their value
/// back, and values still buffered are dropped.
pub struct UnboundedReceiver<T> {
    chan: Rx<T>,
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

    /// Closes the channel for sending without dropping the receiver; values
    /// already buffered can still be received.
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

impl<T> Stream for UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chan.size_hint()
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
