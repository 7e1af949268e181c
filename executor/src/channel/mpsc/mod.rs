//! Multi-producer, single-consumer FIFO queues that cross cores and threads.
//!
//! [`channel`] makes a bounded queue whose [`Sender::send`] waits while the
//! queue is full; [`unbounded_channel`] makes one whose [`UnboundedSender::send`]
//! never waits. All halves are `Send + Sync` when `T: Send`; both receivers
//! implement [`Stream`](futures_lite::Stream). Threads outside the runtime
//! can use [`Sender::blocking_send`] and [`Receiver::blocking_recv`].
//!
//! The queue is [`async-channel`](https://docs.rs/async-channel), a
//! lock-free channel from smol-rs, behind tokio's names. A sender on one core
//! wakes a receiver on another through the receiving task's waker, which
//! hands the task to its own core's remote queue. Waiting senders are woken
//! in the order they started waiting, but unlike
//! [`local::mpsc`](crate::channel::local::mpsc) a newly arriving send may
//! take freed room before a woken one does.
//!
//! # Examples
//!
//! ```
//! use runtime::channel::mpsc;
//!
//! let (tx, mut rx) = mpsc::channel(8);
//! let producers: Vec<_> = (0..4)
//!     .map(|id| {
//!         let tx = tx.clone();
//!         std::thread::spawn(move || tx.blocking_send(id).unwrap())
//!     })
//!     .collect();
//! drop(tx);
//! let mut got = Vec::new();
//! while let Some(id) = rx.blocking_recv() {
//!     got.push(id);
//! }
//! for producer in producers {
//!     producer.join().unwrap();
//! }
//! got.sort();
//! assert_eq!(got, [0, 1, 2, 3]);
//! ```

mod bounded;
mod unbounded;

pub use bounded::{channel, Receiver, Sender};
pub use unbounded::{unbounded, unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::channel::error::TryRecvError;

fn map_try_recv(err: async_channel::TryRecvError) -> TryRecvError {
    match err {
        async_channel::TryRecvError::Empty => TryRecvError::Empty,
        async_channel::TryRecvError::Closed => TryRecvError::Disconnected,
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use futures_lite::{future, StreamExt};

    use super::*;
    use crate::channel::counting_waker::CountingWaker;
    use crate::channel::{SendError, TrySendError};

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn halves_are_send_and_sync() {
        assert_send_sync::<Sender<Vec<u8>>>();
        assert_send_sync::<Receiver<Vec<u8>>>();
        assert_send_sync::<UnboundedSender<Vec<u8>>>();
        assert_send_sync::<UnboundedReceiver<Vec<u8>>>();
    }

    #[test]
    fn try_send_reports_full_then_closed() {
        let (tx, mut rx) = channel(2);
        assert_eq!(tx.max_capacity(), 2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.capacity(), 0);
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        rx.close();
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(4), Err(TrySendError::Closed(4))));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn waiting_receiver_is_woken_by_a_send() {
        let (tx, mut rx) = channel(4);
        let waker = CountingWaker::new();
        assert!(rx
            .poll_recv(&mut Context::from_waker(&waker.waker()))
            .is_pending());
        tx.try_send(9).unwrap();
        assert_eq!(waker.count(), 1);
        assert_eq!(
            rx.poll_recv(&mut Context::from_waker(&waker.waker())),
            Poll::Ready(Some(9))
        );
    }

    #[test]
    fn full_channel_makes_send_wait_for_room() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let waker = CountingWaker::new();
        let mut send = pin!(tx.send(2));
        assert!(waker.poll(send.as_mut()).is_pending());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(waker.count(), 1);
        assert_eq!(waker.poll(send.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(2));
    }

    #[test]
    fn close_fails_a_waiting_send() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let waker = CountingWaker::new();
        let mut send = pin!(tx.send(2));
        assert!(waker.poll(send.as_mut()).is_pending());
        rx.close();
        assert_eq!(waker.count(), 1);
        assert_eq!(waker.poll(send.as_mut()), Poll::Ready(Err(SendError(2))));
        assert_eq!(rx.try_recv(), Ok(1));
    }

    #[test]
    fn last_sender_dropped_ends_the_stream() {
        let (tx, mut rx) = unbounded();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_closed());
        tx2.send(2).unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(future::block_on((&mut rx).collect::<Vec<_>>()), [1, 2]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn dropping_the_receiver_drops_buffered_values() {
        let token = Arc::new(());
        let (tx, rx) = channel(4);
        tx.try_send(token.clone()).unwrap();
        tx.try_send(token.clone()).unwrap();
        assert_eq!(Arc::strong_count(&token), 3);
        drop(rx);
        assert_eq!(Arc::strong_count(&token), 1);
        let err = future::block_on(tx.send(token.clone())).unwrap_err();
        assert!(Arc::ptr_eq(&err.0, &token));
    }

    #[test]
    fn closed_resolves_when_the_receiver_goes() {
        let (tx, rx) = channel::<()>(1);
        let waker = CountingWaker::new();
        let mut closed = pin!(tx.closed());
        assert!(waker.poll(closed.as_mut()).is_pending());
        drop(rx);
        assert_eq!(waker.count(), 1);
        assert!(waker.poll(closed.as_mut()).is_ready());
    }

    #[test]
    fn senders_know_their_channel() {
        let (tx, _rx) = unbounded::<()>();
        let (other, _other_rx) = unbounded::<()>();
        assert!(tx.same_channel(&tx.clone()));
        assert!(!tx.same_channel(&other));
    }

    #[test]
    #[should_panic(expected = "capacity > 0")]
    fn zero_capacity_panics() {
        let _ = channel::<()>(0);
    }
}
