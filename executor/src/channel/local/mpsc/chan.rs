//! The state shared by the halves of a core-local mpsc channel.
//!
//! Capacity is handed out as permits so that waiting senders are served
//! strictly in FIFO order: when a slot frees up it is *reserved* for the
//! oldest waiting send before that send is woken, so neither `try_send` nor a
//! fresh `send` can take it in between. A send future that is dropped while
//! holding a reserved slot passes the slot on to the next waiter, so
//! cancellation never loses a wakeup.
//!
//! No borrow of the state is held while a waker runs or a value of `T` is
//! dropped: either may run user code that touches this same channel (a
//! buffered value may own one of its senders).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::channel::error::{SendError, TryRecvError, TrySendError};

/// Creates the two halves of a channel holding at most `capacity` values.
///
/// An unbounded channel passes `usize::MAX`, a length no queue can reach.
pub(super) fn chan<T>(capacity: usize) -> (Tx<T>, Rx<T>) {
    let state = Rc::new(RefCell::new(State {
        queue: VecDeque::new(),
        capacity,
        reserved: 0,
        send_waiters: BTreeMap::new(),
        next_waiter: 0,
        recv_waker: None,
        senders: 1,
        closed: false,
    }));
    (
        Tx {
            state: state.clone(),
        },
        Rx { state },
    )
}

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    /// Slots handed to woken senders that have not pushed their value yet.
    ///
    /// Invariant: `queue.len() + reserved <= capacity`, and `send_waiters` is
    /// empty unless that sum equals `capacity`.
    reserved: usize,
    /// Sends waiting for a slot, keyed by arrival so the first is the oldest.
    send_waiters: BTreeMap<u64, Waker>,
    next_waiter: u64,
    recv_waker: Option<Waker>,
    senders: usize,
    /// Set by the receiver (`close` or drop); no send succeeds afterwards.
    closed: bool,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.queue.len() + self.reserved < self.capacity
    }

    /// Pushes a value that has a slot and returns the receiver's waker.
    fn push(&mut self, value: T) -> Option<Waker> {
        debug_assert!(self.queue.len() < self.capacity);
        self.queue.push_back(value);
        self.recv_waker.take()
    }

    /// Reserves a free slot for the oldest waiting send and returns its
    /// waker. Every event frees at most one slot, so one grant restores the
    /// invariant.
    fn grant(&mut self) -> Option<Waker> {
        if !self.has_room() {
            return None;
        }
        let (_, waker) = self.send_waiters.pop_first()?;
        self.reserved += 1;
        debug_assert!(self.send_waiters.is_empty() || !self.has_room());
        Some(waker)
    }

    fn pop(&mut self) -> Option<(T, Option<Waker>)> {
        let value = self.queue.pop_front()?;
        Some((value, self.grant()))
    }

    fn is_disconnected(&self) -> bool {
        self.closed || self.senders == 0
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The sending side; each clone counts as one sender.
pub(super) struct Tx<T> {
    state: Rc<RefCell<State<T>>>,
}

impl<T> Tx<T> {
    pub(super) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(TrySendError::Closed(value));
        }
        if !state.has_room() {
            return Err(TrySendError::Full(value));
        }
        let waker = state.push(value);
        drop(state);
        wake(waker);
        Ok(())
    }

    pub(super) fn send(&self, value: T) -> Send<'_, T> {
        Send {
            state: &self.state,
            value: Some(value),
            waiter: None,
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Slots free right now, not counting those reserved for woken senders.
    pub(super) fn capacity(&self) -> usize {
        let state = self.state.borrow();
        if state.closed {
            return 0;
        }
        state.capacity - state.queue.len() - state.reserved
    }

    pub(super) fn max_capacity(&self) -> usize {
        self.state.borrow().capacity
    }

    pub(super) fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Self {
        self.state.borrow_mut().senders += 1;
        Tx {
            state: self.state.clone(),
        }
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        state.senders -= 1;
        let waker = if state.senders == 0 {
            state.recv_waker.take()
        } else {
            None
        };
        drop(state);
        wake(waker);
    }
}

/// The future behind `Sender::send`.
pub(super) struct Send<'a, T> {
    state: &'a Rc<RefCell<State<T>>>,
    value: Option<T>,
    /// Our key in `send_waiters` once we had to wait. When the key is gone
    /// from the map while the channel is open, a slot is reserved for us.
    waiter: Option<u64>,
}

// `value` is never pinned: it is only moved out whole.
impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.state.borrow_mut();
        let value = this.value.take().expect("`Send` polled after completion");
        if state.closed {
            // Close cleared every waiter and reservation.
            this.waiter = None;
            drop(state);
            return Poll::Ready(Err(SendError(value)));
        }
        match this.waiter {
            None if state.send_waiters.is_empty() && state.has_room() => {}
            None => {
                let id = state.next_waiter;
                state.next_waiter += 1;
                state.send_waiters.insert(id, cx.waker().clone());
                this.waiter = Some(id);
                this.value = Some(value);
                return Poll::Pending;
            }
            Some(id) => {
                if let Some(waker) = state.send_waiters.get_mut(&id) {
                    if !waker.will_wake(cx.waker()) {
                        waker.clone_from(cx.waker());
                    }
                    this.value = Some(value);
                    return Poll::Pending;
                }
                // Granted: the reserved slot becomes a queued value.
                state.reserved -= 1;
                this.waiter = None;
            }
        }
        let waker = state.push(value);
        drop(state);
        wake(waker);
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.waiter else { return };
        let mut state = self.state.borrow_mut();
        if state.closed {
            return;
        }
        let removed = state.send_waiters.remove(&id);
        let waker = if removed.is_none() {
            // We were granted a slot we will never use: pass it on.
            state.reserved -= 1;
            state.grant()
        } else {
            None
        };
        drop(state);
        drop(removed);
        wake(waker);
    }
}

/// The receiving side.
pub(super) struct Rx<T> {
    state: Rc<RefCell<State<T>>>,
}

impl<T> Rx<T> {
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.state.borrow_mut();
        if let Some((value, waker)) = state.pop() {
            drop(state);
            wake(waker);
            return Poll::Ready(Some(value));
        }
        if state.is_disconnected() {
            return Poll::Ready(None);
        }
        match &mut state.recv_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.state.borrow_mut();
        if let Some((value, waker)) = state.pop() {
            drop(state);
            wake(waker);
            return Ok(value);
        }
        if state.is_disconnected() {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Closes the channel for sending, failing every waiting send; values
    /// already queued can still be received.
    pub(super) fn close(&mut self) {
        let mut state = self.state.borrow_mut();
        if state.closed {
            return;
        }
        state.closed = true;
        state.reserved = 0;
        let waiters = std::mem::take(&mut state.send_waiters);
        drop(state);
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state.borrow().is_disconnected()
    }

    pub(super) fn len(&self) -> usize {
        self.state.borrow().queue.len()
    }

    pub(super) fn size_hint(&self) -> (usize, Option<usize>) {
        let state = self.state.borrow();
        let len = state.queue.len();
        if state.is_disconnected() {
            (len, Some(len))
        } else {
            (len, None)
        }
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        self.close();
        let mut state = self.state.borrow_mut();
        let queue = std::mem::take(&mut state.queue);
        let waker = state.recv_waker.take();
        drop(state);
        drop(waker);
        drop(queue);
    }
}
