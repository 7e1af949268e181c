//! [`Notify`]: wake one task or all, with tokio's single stored permit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

/// Notifies waiting tasks, on any core, as tokio's `Notify`.
///
/// - [`notify_one`](Self::notify_one) wakes one waiter; with no waiter, it
///   stores **one** permit (several calls still store one), which the next
///   [`notified`](Self::notified) consumes at once.
/// - [`notify_waiters`](Self::notify_waiters) wakes every
///   [`Notified`] future that exists at the time of the call, polled yet or
///   not, and stores no permit.
///
/// Waiters are woken in the order they started waiting (an
/// [`event-listener`](https://docs.rs/event-listener) queue), though a
/// `notified()` that starts just as a permit is stored may take it first.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use runtime::sync::Notify;
///
/// #[runtime::main]
/// async fn main() {
///     let notify = Arc::new(Notify::new());
///     let waiter = {
///         let notify = notify.clone();
///         runtime::spawn(async move {
///             notify.notified().await;
///             "woken"
///         })
///     };
///     notify.notify_one(); // stored if the waiter has not started yet
///     assert_eq!(waiter.await.unwrap(), "woken");
/// }
/// ```
pub struct Notify {
    event: Event,
    /// The one permit `notify_one` stores.
    permit: AtomicBool,
    /// Bumped by every `notify_waiters`: a `Notified` made before the bump
    /// is released by it.
    generation: AtomicU64,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub const fn new() -> Self {
        Notify {
            event: Event::new(),
            permit: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }
    }

    /// Waits for a notification.
    ///
    /// The returned future is registered for
    /// [`notify_waiters`](Self::notify_waiters) as soon as it exists.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `Notified` that had received `notify_one`'s
    /// wakeup passes it on to the next waiter.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.load(Ordering::SeqCst),
            listener: Some(self.event.listen()),
        }
    }

    /// Wakes one waiting task, or stores a permit for the next
    /// [`notified`](Self::notified) if none is waiting.
    pub fn notify_one(&self) {
        // The permit is the truth; the event only wakes someone to take it.
        self.permit.store(true, Ordering::SeqCst);
        self.event.notify(1);
    }

    /// Wakes every [`Notified`] that exists now; stores no permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::Notify;
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let notify = Notify::new();
    /// let (a, b) = (notify.notified(), notify.notified());
    /// notify.notify_waiters(); // both exist now, so both are released
    /// runtime::join!(a, b);
    /// # });
    /// ```
    pub fn notify_waiters(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("permit", &self.permit.load(Ordering::Relaxed))
            .finish()
    }
}

/// The future returned by [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: u64,
    listener: Option<EventListener>,
}

impl Notified<'_> {
    fn released(&self) -> bool {
        self.notify.generation.load(Ordering::SeqCst) != self.generation
            || self.notify.permit.swap(false, Ordering::SeqCst)
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.released() {
                self.listener = None;
                return Poll::Ready(());
            }
            let notify = self.notify;
            let listener = self.listener.get_or_insert_with(|| notify.event.listen());
            // Checked again below after the listener is in place, so a
            // notification between the check and `listen` is not lost.
            match Pin::new(listener).poll(cx) {
                Poll::Ready(()) => self.listener = None,
                Poll::Pending => {
                    if self.released() {
                        self.listener = None;
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Notified")
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Waker;

    use futures_lite::future::block_on;

    use super::*;

    fn poll(fut: Pin<&mut Notified<'_>>) -> Poll<()> {
        fut.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn notify_one_before_waiting_stores_exactly_one_permit() {
        let n = Notify::new();
        n.notify_one();
        n.notify_one();
        block_on(n.notified()); // the permit
        let mut second = pin!(n.notified());
        assert!(
            poll(second.as_mut()).is_pending(),
            "only one permit is stored"
        );
    }

    #[test]
    fn notify_one_wakes_one_waiter_in_order() {
        let n = Notify::new();
        let mut a = pin!(n.notified());
        let mut b = pin!(n.notified());
        assert!(poll(a.as_mut()).is_pending());
        assert!(poll(b.as_mut()).is_pending());
        n.notify_one();
        assert!(poll(a.as_mut()).is_ready());
        assert!(poll(b.as_mut()).is_pending());
    }

    #[test]
    fn notify_waiters_wakes_existing_futures_even_unpolled_and_stores_nothing() {
        let n = Notify::new();
        let mut polled = pin!(n.notified());
        assert!(poll(polled.as_mut()).is_pending());
        let mut unpolled = pin!(n.notified());
        n.notify_waiters();
        assert!(poll(polled.as_mut()).is_ready());
        assert!(poll(unpolled.as_mut()).is_ready());
        let mut later = pin!(n.notified());
        assert!(poll(later.as_mut()).is_pending(), "no permit stored");
    }

    #[test]
    fn a_cancelled_waiter_does_not_swallow_the_notification() {
        let n = Notify::new();
        let mut a = Box::pin(n.notified());
        let mut b = pin!(n.notified());
        assert!(poll(a.as_mut()).is_pending());
        assert!(poll(b.as_mut()).is_pending());
        n.notify_one();
        drop(a);
        assert!(poll(b.as_mut()).is_ready());
    }

    #[test]
    fn no_wakeup_is_lost_between_many_producer_threads_and_a_consumer() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::{mpsc, Arc};
        use std::time::Duration;

        const PRODUCERS: usize = 4;
        const EACH: usize = 5_000;
        let notify = Arc::new(Notify::new());
        let items = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = mpsc::channel();
        let consumer = {
            let (notify, items) = (notify.clone(), items.clone());
            std::thread::spawn(move || {
                block_on(async {
                    let mut consumed = 0;
                    while consumed < PRODUCERS * EACH {
                        // tokio's pattern: make the future, then check.
                        let notified = notify.notified();
                        let ready = items.swap(0, Ordering::SeqCst);
                        if ready == 0 {
                            notified.await;
                        }
                        consumed += ready;
                    }
                    consumed
                });
                done_tx.send(()).unwrap();
            })
        };
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let (notify, items) = (notify.clone(), items.clone());
                std::thread::spawn(move || {
                    for _ in 0..EACH {
                        items.fetch_add(1, Ordering::SeqCst);
                        notify.notify_one();
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        // A lost wakeup leaves the consumer asleep with items waiting.
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the consumer saw every item");
        consumer.join().unwrap();
    }

    #[test]
    fn works_across_threads() {
        let n = std::sync::Arc::new(Notify::new());
        let waiter = {
            let n = n.clone();
            std::thread::spawn(move || block_on(n.notified()))
        };
        n.notify_one();
        waiter.join().unwrap();
    }
}
