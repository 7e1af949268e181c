//! A channel for sending one value between tasks on one core.
//!
//! The [`Receiver`] is a future that resolves to the value, or to
//! [`RecvError`] if the [`Sender`] is dropped without sending.
//!
//! # Examples
//!
//! ```
//! use runtime::channel::local::oneshot;
//!
//! futures_lite::future::block_on(async {
//!     let (tx, rx) = oneshot::channel();
//!     tx.send(42).unwrap();
//!     assert_eq!(rx.await, Ok(42));
//!
//!     let (tx, rx) = oneshot::channel::<u32>();
//!     drop(tx);
//!     assert!(rx.await.is_err());
//! });
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::channel::error::{RecvError, TryRecvError};

/// Creates a core-local oneshot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let state = Rc::new(RefCell::new(State {
        value: None,
        rx_waker: None,
        tx_waker: None,
        tx_done: false,
        rx_closed: false,
    }));
    (
        Sender {
            state: state.clone(),
        },
        Receiver { state },
    )
}

struct State<T> {
    value: Option<T>,
    rx_waker: Option<Waker>,
    /// Registered by `Sender::poll_closed`.
    tx_waker: Option<Waker>,
    /// The sender sent or was dropped: no value will come after this.
    tx_done: bool,
    /// The receiver closed or was dropped: no send can succeed after this.
    rx_closed: bool,
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        slot => *slot = Some(cx.waker().clone()),
    }
}

/// Sends the one value to the paired [`Receiver`].
pub struct Sender<T> {
    state: Rc<RefCell<State<T>>>,
}

impl<T> Sender<T> {
    /// Sends the value, waking the receiver.
    ///
    /// # Errors
    ///
    /// Hands the value back if the receiver was dropped or closed.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut state = self.state.borrow_mut();
        if state.rx_closed {
            return Err(value);
        }
        state.value = Some(value);
        state.tx_done = true;
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Returns `true` if the receiver was dropped or closed, so
    /// [`send`](Self::send) would fail.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().rx_closed
    }

    /// Waits until the receiver is dropped or closed, for a producer that
    /// wants to stop work nobody will collect.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await;
    }

    /// Polls whether the receiver was dropped or closed, registering `cx`'s
    /// waker if not.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.rx_closed {
            return Poll::Ready(());
        }
        register(&mut state.tx_waker, cx);
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        if state.tx_done {
            return;
        }
        state.tx_done = true;
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
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
    state: Rc<RefCell<State<T>>>,
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
        let mut state = self.state.borrow_mut();
        match state.value.take() {
            Some(value) => Ok(value),
            None if state.tx_done || state.rx_closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Prevents the sender from sending, waking it if it waits in
    /// [`Sender::closed`]. A value sent before this call can still be
    /// received.
    pub fn close(&mut self) {
        let mut state = self.state.borrow_mut();
        if state.rx_closed {
            return;
        }
        state.rx_closed = true;
        let waker = state.tx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.borrow_mut();
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        if state.tx_done || state.rx_closed {
            return Poll::Ready(Err(RecvError(())));
        }
        register(&mut state.rx_waker, cx);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        let value = self.state.borrow_mut().value.take();
        drop(value);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Receiver")
            .field("sent", &state.value.is_some())
            .field("closed", &(state.tx_done || state.rx_closed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::rc::Rc;
    use std::task::Poll;

    use futures_lite::future;

    use super::*;
    use crate::channel::counting_waker::CountingWaker;

    #[test]
    fn value_arrives() {
        let (tx, rx) = channel();
        tx.send("hi").unwrap();
        assert_eq!(future::block_on(rx), Ok("hi"));
    }

    #[test]
    fn send_wakes_the_waiting_receiver_once() {
        let (tx, rx) = channel();
        let waker = CountingWaker::new();
        let mut rx = pin!(rx);
        assert!(waker.poll(rx.as_mut()).is_pending());
        assert!(waker.poll(rx.as_mut()).is_pending());
        assert_eq!(waker.count(), 0);
        tx.send(5).unwrap();
        // Dropping the spent sender inside `send` must not wake again.
        assert_eq!(waker.count(), 1);
        assert_eq!(waker.poll(rx.as_mut()), Poll::Ready(Ok(5)));
        assert_eq!(waker.count(), 1);
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
    fn send_to_a_dropped_receiver_hands_the_value_back() {
        let (tx, rx) = channel();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(7), Err(7));
    }

    #[test]
    fn closed_resolves_when_the_receiver_goes() {
        let (mut tx, rx) = channel::<u8>();
        let waker = CountingWaker::new();
        {
            let mut closed = pin!(tx.closed());
            assert!(waker.poll(closed.as_mut()).is_pending());
            drop(rx);
            assert_eq!(waker.count(), 1);
            assert!(waker.poll(closed.as_mut()).is_ready());
        }
        assert_eq!(tx.send(1), Err(1));
    }

    #[test]
    fn close_keeps_an_already_sent_value() {
        let (tx, mut rx) = channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(3).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn close_before_send_fails_both_sides() {
        let (mut tx, mut rx) = channel();
        let waker = CountingWaker::new();
        assert!(tx
            .poll_closed(&mut Context::from_waker(&waker.waker()))
            .is_pending());
        rx.close();
        assert_eq!(waker.count(), 1);
        assert!(tx.is_closed());
        assert_eq!(future::block_on(&mut rx), Err(RecvError(())));
        assert_eq!(tx.send(4), Err(4));
    }

    #[test]
    fn dropping_the_receiver_drops_an_unreceived_value() {
        let token = Rc::new(());
        let (tx, rx) = channel();
        tx.send(token.clone()).unwrap();
        assert_eq!(Rc::strong_count(&token), 2);
        drop(rx);
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn completes_inside_one_executor() {
        let (tx, rx) = channel();
        let (a, b) = future::block_on(future::zip(
            async move {
                future::yield_now().await;
                tx.send(String::from("done"))
            },
            rx,
        ));
        assert_eq!(a, Ok(()));
        assert_eq!(b.as_deref(), Ok("done"));
    }
}
