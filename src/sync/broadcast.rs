//! Every value to every receiver, across cores (tokio's `broadcast`).
//!
//! The queue holds `capacity` values. Sending never waits: when the queue is
//! full, the oldest value is dropped, and a receiver that had not read it
//! gets [`RecvError::Lagged`] with the number of values it missed, then goes
//! on from the oldest value still held, as tokio's. When every sender is
//! gone, receivers read what is left, then get [`RecvError::Closed`].
//!
//! It is [`async-broadcast`](https://docs.rs/async-broadcast) in overflow
//! mode behind tokio's names; the sender keeps an inactive receiver so that
//! the channel outlives its receivers, as tokio's does (a send without
//! receivers fails, and [`Sender::subscribe`] can make new ones).
//!
//! # Examples
//!
//! ```
//! use runtime::sync::broadcast::{self, error::RecvError};
//!
//! #[runtime::main]
//! async fn main() {
//!     let (tx, mut fast) = broadcast::channel(2);
//!     let mut slow = tx.subscribe();
//!     for i in 1..=3 {
//!         tx.send(i).unwrap();
//!         assert_eq!(fast.recv().await, Ok(i));
//!     }
//!     // `slow` read nothing: value 1 was pushed out of the queue.
//!     assert_eq!(slow.recv().await, Err(RecvError::Lagged(1)));
//!     assert_eq!(slow.recv().await, Ok(2));
//!     drop(tx);
//!     assert_eq!(slow.recv().await, Ok(3));
//!     assert_eq!(slow.recv().await, Err(RecvError::Closed));
//! }
//! ```

use std::fmt;

/// Makes a broadcast channel that holds `capacity` values.
///
/// # Panics
///
/// Panics if `capacity` is 0, as tokio's.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "broadcast channel capacity must be at least 1"
    );
    let (mut tx, mut rx) = async_broadcast::broadcast(capacity);
    tx.set_overflow(true);
    tx.set_await_active(false);
    rx.set_overflow(true);
    let keep_open = rx.clone().deactivate();
    (Sender { tx, keep_open }, Receiver { rx })
}

/// The sending half. Cloneable; the channel closes when the last sender is
/// dropped.
pub struct Sender<T> {
    tx: async_broadcast::Sender<T>,
    keep_open: async_broadcast::InactiveReceiver<T>,
}

impl<T: Clone> Sender<T> {
    /// Queues `value` for every receiver; never waits. Returns how many
    /// receivers will see it.
    ///
    /// # Errors
    ///
    /// Gives the value back in [`SendError`](error::SendError) when there
    /// is no receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::broadcast;
    ///
    /// let (tx, rx) = broadcast::channel(4);
    /// let _second = tx.subscribe();
    /// assert_eq!(tx.send("to both").unwrap(), 2);
    /// drop(rx);
    /// drop(_second);
    /// assert!(tx.send("to nobody").is_err());
    /// ```
    pub fn send(&self, value: T) -> Result<usize, error::SendError<T>> {
        match self.tx.try_broadcast(value) {
            // `Some` is the oldest value, pushed out to make room.
            Ok(_) => Ok(self.tx.receiver_count()),
            Err(err) => Err(error::SendError(err.into_inner())),
        }
    }

    /// A new receiver, which sees the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver {
            rx: self.tx.new_receiver(),
        }
    }

    /// The number of receivers.
    pub fn receiver_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The number of values queued, read by some receiver or none yet.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether no value is queued.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            keep_open: self.keep_open.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender")
            .field("receivers", &self.tx.receiver_count())
            .finish()
    }
}

/// The receiving half. Each receiver sees every value sent after it was
/// made; cloning makes one at the same position (tokio's `resubscribe`
/// starts at the end instead: [`Sender::subscribe`]).
pub struct Receiver<T> {
    rx: async_broadcast::Receiver<T>,
}

impl<T: Clone> Receiver<T> {
    /// Waits for the next value.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged(n)`](RecvError::Lagged) when `n` values were
    /// pushed out before this receiver read them (the next call returns the
    /// oldest value still held); [`RecvError::Closed`] once every sender is
    /// gone and every value read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a value is taken only when the future completes.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        self.rx.recv_direct().await.map_err(|err| match err {
            async_broadcast::RecvError::Overflowed(n) => RecvError::Lagged(n),
            async_broadcast::RecvError::Closed => RecvError::Closed,
        })
    }

    /// The next value if one is queued; never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when nothing is queued, and as
    /// [`recv`](Self::recv) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::broadcast::{self, error::TryRecvError};
    ///
    /// let (tx, mut rx) = broadcast::channel(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap(); // pushes 1 out
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
    /// assert_eq!(rx.try_recv(), Ok(2));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map_err(|err| match err {
            async_broadcast::TryRecvError::Overflowed(n) => TryRecvError::Lagged(n),
            async_broadcast::TryRecvError::Empty => TryRecvError::Empty,
            async_broadcast::TryRecvError::Closed => TryRecvError::Closed,
        })
    }

    /// A new receiver of the same channel that sees only values sent from
    /// now on, as tokio's.
    pub fn resubscribe(&self) -> Self {
        Receiver {
            rx: self.rx.new_receiver(),
        }
    }

    /// The number of values this receiver has not read yet.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether this receiver has read every queued value.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver {
            rx: self.rx.clone(),
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("broadcast::Receiver")
    }
}

pub use error::{RecvError, TryRecvError};

/// The channel's errors, where tokio keeps them.
pub mod error {
    use std::fmt;

    /// The error from [`Sender::send`](super::Sender::send): no receiver;
    /// holds the value.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.pad("SendError(..)")
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("broadcast channel has no receivers")
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// The error from [`Receiver::recv`](super::Receiver::recv).
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum RecvError {
        /// Every sender is gone and every value was read.
        Closed,
        /// This many values were pushed out before this receiver read them.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("broadcast channel closed"),
                RecvError::Lagged(n) => write!(f, "receiver lagged: {n} values skipped"),
            }
        }
    }

    impl std::error::Error for RecvError {}

    /// The error from [`Receiver::try_recv`](super::Receiver::try_recv).
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum TryRecvError {
        /// No value is queued for this receiver.
        Empty,
        /// Every sender is gone and every value was read.
        Closed,
        /// This many values were pushed out before this receiver read them.
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("broadcast channel empty"),
                TryRecvError::Closed => f.write_str("broadcast channel closed"),
                TryRecvError::Lagged(n) => write!(f, "receiver lagged: {n} values skipped"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use futures_lite::future::block_on;

    use super::*;

    #[test]
    fn every_receiver_gets_every_value_in_order() {
        let (tx, mut a) = channel(8);
        let mut b = tx.subscribe();
        for i in 0..5 {
            assert_eq!(tx.send(i), Ok(2));
        }
        for i in 0..5 {
            assert_eq!(a.try_recv(), Ok(i));
            assert_eq!(block_on(b.recv()), Ok(i));
        }
        assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn a_lagging_receiver_gets_lagged_n_then_the_oldest_kept() {
        let (tx, mut rx) = channel(3);
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        assert_eq!(block_on(rx.recv()), Err(RecvError::Lagged(7)));
        assert_eq!(block_on(rx.recv()), Ok(7));
        assert_eq!(rx.try_recv(), Ok(8));
        assert_eq!(rx.try_recv(), Ok(9));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn closing_drains_then_reports_closed() {
        let (tx, mut rx) = channel(4);
        tx.send("last").unwrap();
        drop(tx);
        assert_eq!(block_on(rx.recv()), Ok("last"));
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn the_channel_outlives_its_receivers() {
        let (tx, rx) = channel(2);
        drop(rx);
        assert_eq!(tx.send(1), Err(error::SendError(1)));
        let mut late = tx.subscribe();
        assert_eq!(tx.send(2), Ok(1));
        assert_eq!(late.try_recv(), Ok(2), "only values sent after subscribe");
    }

    #[test]
    fn a_cancelled_recv_loses_nothing() {
        let (tx, mut rx) = channel(2);
        {
            let mut pending = pin!(rx.recv());
            let cx = &mut Context::from_waker(Waker::noop());
            assert!(pending.as_mut().poll(cx).is_pending());
        }
        tx.send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
    }

    #[test]
    fn wakes_a_receiver_on_another_thread() {
        let (tx, mut rx) = channel(16);
        let reader = std::thread::spawn(move || {
            block_on(async {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv().await {
                    got.push(v);
                }
                got
            })
        });
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let got = reader.join().unwrap();
        // With a capacity above the count, nothing lags.
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}
