//! Multi-producer, single-consumer FIFO queues for tasks on one core.
//!
//! [`channel`] makes a bounded queue whose [`Sender::send`] waits while the
//! queue is full; [`unbounded_channel`] makes one whose [`UnboundedSender::send`]
//! never waits. Both receivers implement [`Stream`](futures_lite::Stream).
//!
//! Waiting senders get room strictly in the order they started waiting, and
//! every wakeup is delivered exactly once: a freed slot is reserved for the
//! oldest waiting send before it is woken, and a send future dropped while
//! holding such a slot hands it to the next in line.
//!
//! # Examples
//!
//! ```
//! use futures_lite::future;
//! use runtime::channel::local::mpsc;
//!
//! future::block_on(async {
//!     let (tx, mut rx) = mpsc::channel(4);
//!     let producer = async move {
//!         for i in 0..100 {
//!             tx.send(i).await.unwrap();
//!         }
//!     };
//!     let consumer = async move {
//!         let mut sum = 0;
//!         while let Some(i) = rx.recv().await {
//!             sum += i;
//!         }
//!         sum
//!     };
//!     let ((), sum) = future::zip(producer, consumer).await;
//!     assert_eq!(sum, 4950);
//! });
//! ```

mod bounded;
mod chan;
mod unbounded;

pub use bounded::{channel, Receiver, Sender};
pub use unbounded::{unbounded, unbounded_channel, UnboundedReceiver, UnboundedSender};

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    use futures_lite::{future, Stream, StreamExt};

    use super::*;
    use crate::channel::counting_waker::CountingWaker;
    use crate::channel::{SendError, TryRecvError, TrySendError};

    fn poll_recv<T>(
        rx: &mut Receiver<T>,
        waker: &std::sync::Arc<CountingWaker>,
    ) -> Poll<Option<T>> {
        rx.poll_recv(&mut Context::from_waker(&waker.waker()))
    }

    #[test]
    fn values_arrive_in_send_order() {
        let (tx, mut rx) = channel(8);
        for i in 0..5 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.len(), 5);
        let got: Vec<_> = (0..5).map(|_| rx.try_recv().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn waiting_receiver_is_woken_exactly_once() {
        let (tx, mut rx) = channel(4);
        let waker = CountingWaker::new();
        assert!(poll_recv(&mut rx, &waker).is_pending());
        assert!(poll_recv(&mut rx, &waker).is_pending());
        assert_eq!(waker.count(), 0);

        tx.try_send(1).unwrap();
        assert_eq!(waker.count(), 1);
        // The waker was consumed; a second send has nobody to wake.
        tx.try_send(2).unwrap();
        assert_eq!(waker.count(), 1);

        assert_eq!(poll_recv(&mut rx, &waker), Poll::Ready(Some(1)));
        assert_eq!(poll_recv(&mut rx, &waker), Poll::Ready(Some(2)));
        assert_eq!(waker.count(), 1);
    }

    #[test]
    fn latest_receiver_waker_is_the_one_woken() {
        let (tx, mut rx) = unbounded();
        let old = CountingWaker::new();
        let new = CountingWaker::new();
        assert!(rx
            .poll_recv(&mut Context::from_waker(&old.waker()))
            .is_pending());
        assert!(rx
            .poll_recv(&mut Context::from_waker(&new.waker()))
            .is_pending());
        tx.send(()).unwrap();
        assert_eq!((old.count(), new.count()), (0, 1));
    }

    #[test]
    fn dropping_the_last_sender_ends_the_stream() {
        let (tx, mut rx) = channel::<u8>(1);
        let tx2 = tx.clone();
        let waker = CountingWaker::new();
        assert!(poll_recv(&mut rx, &waker).is_pending());

        drop(tx);
        assert_eq!(waker.count(), 0);
        assert!(!rx.is_closed());
        drop(tx2);
        assert_eq!(waker.count(), 1);
        assert!(rx.is_closed());
        assert_eq!(poll_recv(&mut rx, &waker), Poll::Ready(None));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn buffered_values_outlive_the_senders() {
        let (tx, mut rx) = channel(2);
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn full_channel_makes_send_wait_for_room() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        assert_eq!(tx.capacity(), 0);
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));

        let waker = CountingWaker::new();
        let mut send = pin!(tx.send(2));
        assert!(waker.poll(send.as_mut()).is_pending());
        assert_eq!(waker.count(), 0);

        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(waker.count(), 1);
        // The freed slot is reserved for the woken send, not up for grabs.
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        assert_eq!(tx.capacity(), 0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

        assert_eq!(waker.poll(send.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(tx.capacity(), 1);
        assert_eq!(tx.max_capacity(), 1);
    }

    #[test]
    fn waiting_senders_get_room_in_fifo_order() {
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let wakers = [
            CountingWaker::new(),
            CountingWaker::new(),
            CountingWaker::new(),
        ];
        let mut a = pin!(tx.send(1));
        let mut b = pin!(tx.send(2));
        let mut c = pin!(tx.send(3));
        assert!(wakers[0].poll(a.as_mut()).is_pending());
        assert!(wakers[1].poll(b.as_mut()).is_pending());
        assert!(wakers[2].poll(c.as_mut()).is_pending());
        let counts = || wakers.iter().map(|w| w.count()).collect::<Vec<_>>();

        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(counts(), [1, 0, 0]);
        // A later waiter polled out of turn keeps waiting.
        assert!(wakers[1].poll(b.as_mut()).is_pending());
        assert!(wakers[0].poll(a.as_mut()).is_ready());

        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(counts(), [1, 1, 0]);
        assert!(wakers[1].poll(b.as_mut()).is_ready());

        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(counts(), [1, 1, 1]);
        assert!(wakers[2].poll(c.as_mut()).is_ready());
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(counts(), [1, 1, 1]);
    }

    #[test]
    fn dropped_send_holding_room_passes_it_on() {
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let (wa, wb) = (CountingWaker::new(), CountingWaker::new());
        let mut a = Box::pin(tx.send(1));
        let mut b = pin!(tx.send(2));
        assert!(wa.poll(a.as_mut()).is_pending());
        assert!(wb.poll(b.as_mut()).is_pending());

        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!((wa.count(), wb.count()), (1, 0));
        drop(a);
        assert_eq!(wb.count(), 1);
        assert!(wb.poll(b.as_mut()).is_ready());
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn dropped_send_still_waiting_is_skipped() {
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let wakers = [
            CountingWaker::new(),
            CountingWaker::new(),
            CountingWaker::new(),
        ];
        let mut a = pin!(tx.send(1));
        let mut b = Box::pin(tx.send(2));
        let mut c = pin!(tx.send(3));
        assert!(wakers[0].poll(a.as_mut()).is_pending());
        assert!(wakers[1].poll(b.as_mut()).is_pending());
        assert!(wakers[2].poll(c.as_mut()).is_pending());
        drop(b);
        assert_eq!(wakers[1].count(), 0);

        assert_eq!(rx.try_recv(), Ok(0));
        assert!(wakers[0].poll(a.as_mut()).is_ready());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(wakers[2].count(), 1);
        assert!(wakers[2].poll(c.as_mut()).is_ready());
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(wakers[1].count(), 0);
    }

    #[test]
    fn send_future_rewakes_through_its_latest_waker() {
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let (old, new) = (CountingWaker::new(), CountingWaker::new());
        let mut send = pin!(tx.send(1));
        assert!(old.poll(send.as_mut()).is_pending());
        assert!(new.poll(send.as_mut()).is_pending());
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!((old.count(), new.count()), (0, 1));
    }

    #[test]
    fn close_fails_waiting_sends_but_keeps_buffered_values() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let waker = CountingWaker::new();
        let mut send = pin!(tx.send(2));
        assert!(waker.poll(send.as_mut()).is_pending());

        rx.close();
        assert_eq!(waker.count(), 1);
        assert_eq!(waker.poll(send.as_mut()), Poll::Ready(Err(SendError(2))));
        assert!(tx.is_closed());
        assert!(rx.is_closed());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));

        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn close_fails_a_send_already_granted_room() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let waker = CountingWaker::new();
        let mut send = pin!(tx.send(2));
        assert!(waker.poll(send.as_mut()).is_pending());
        assert_eq!(rx.try_recv(), Ok(1));
        rx.close();
        assert_eq!(waker.poll(send.as_mut()), Poll::Ready(Err(SendError(2))));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn dropping_the_receiver_fails_sends_and_drops_buffered_values() {
        let token = Rc::new(());
        let (tx, rx) = unbounded();
        for _ in 0..3 {
            tx.send(token.clone()).unwrap();
        }
        assert_eq!(Rc::strong_count(&token), 4);
        drop(rx);
        assert_eq!(Rc::strong_count(&token), 1);
        assert!(tx.is_closed());
        let err = tx.send(token.clone()).unwrap_err();
        assert!(Rc::ptr_eq(&err.0, &token));
    }

    #[test]
    fn buffered_value_owning_a_sender_drops_cleanly() {
        struct Msg(#[allow(dead_code)] UnboundedSender<Msg>);
        let (tx, rx) = unbounded();
        tx.send(Msg(tx.clone())).unwrap();
        drop(tx);
        // Dropping the buffered Msg drops the last sender while the receiver
        // is being torn down; it must not find the state borrowed.
        drop(rx);
    }

    #[test]
    fn unbounded_never_reports_full() {
        let (tx, mut rx) = unbounded();
        for i in 0..10_000 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), 10_000);
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.size_hint(), (9_999, None));
        drop(tx);
        assert_eq!(rx.size_hint(), (9_999, Some(9_999)));
    }

    #[test]
    fn receivers_are_streams() {
        let (tx, rx) = channel(2);
        let (utx, urx) = unbounded();
        let all = future::block_on(future::zip(
            async move {
                for i in 0..10 {
                    tx.send(i).await.unwrap();
                    utx.send(i * 10).unwrap();
                }
            },
            future::zip(rx.collect::<Vec<_>>(), urx.collect::<Vec<_>>()),
        ));
        assert_eq!(all.1 .0, (0..10).collect::<Vec<_>>());
        assert_eq!(all.1 .1, (0..10).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn backpressure_under_a_real_executor() {
        async fn produce(p: usize, tx: Sender<(usize, u32)>) {
            for i in 0..500 {
                tx.send((p, i)).await.unwrap();
                assert!(tx.max_capacity() - tx.capacity() <= 3);
            }
        }
        let (tx, mut rx) = channel(3);
        let producers = future::zip(
            future::zip(produce(0, tx.clone()), produce(1, tx.clone())),
            future::zip(produce(2, tx.clone()), produce(3, tx)),
        );
        let consumer = async move {
            let mut next = [0; 4];
            while let Some((p, i)) = rx.recv().await {
                assert_eq!(i, next[p]);
                next[p] += 1;
                assert!(rx.len() <= 3);
            }
            next
        };
        let (_, next) = future::block_on(future::zip(producers, consumer));
        assert_eq!(next, [500; 4]);
    }

    #[test]
    fn senders_know_their_channel() {
        let (tx, _rx) = channel::<()>(1);
        let (other, _other_rx) = channel::<()>(1);
        assert!(tx.same_channel(&tx.clone()));
        assert!(!tx.same_channel(&other));
    }

    #[test]
    #[should_panic(expected = "capacity > 0")]
    fn zero_capacity_panics() {
        let _ = channel::<()>(0);
    }
}
