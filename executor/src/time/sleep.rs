//! [`Sleep`]: a future that completes once a deadline has passed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::driver::TimerKey;
use crate::context;

/// Waits until `duration` has elapsed.
///
/// The sleep is never shorter than `duration`: the timer wheel has a
/// resolution of one millisecond and rounds up. `Duration::ZERO` completes on
/// the first poll; a duration too long to add to the current instant (such as
/// `Duration::MAX`) is clamped to about 30 years.
///
/// # Panics
///
/// The returned future panics if polled before its deadline outside of a
/// `runtime` core.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time::{sleep, Instant};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let start = Instant::now();
///     sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(super::deadline_after(super::now(), duration))
}

/// Waits until `deadline` has passed.
///
/// A deadline in the past completes on the first poll.
///
/// # Panics
///
/// The returned future panics if polled before its deadline outside of a
/// `runtime` core.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time::{sleep_until, Instant};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registration: None,
        elapsed: false,
    }
}

/// A future that completes once its deadline has passed; made by [`sleep`]
/// and [`sleep_until`].
///
/// `Sleep` registers with the timer wheel of the core that polls it, at its
/// first poll, and leaves it when dropped or completed. It holds no reference
/// to that core, so it is `Send` and `Sync`: moved to another core, it
/// registers there on its next poll (the timer left behind fires harmlessly).
///
/// # Examples
///
/// Waiting on a deadline that moves:
///
/// ```
/// use std::pin::pin;
/// use std::time::Duration;
/// use runtime::time::{sleep, Instant};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let mut delay = pin!(sleep(Duration::from_secs(60)));
///     let soon = Instant::now() + Duration::from_millis(2);
///     delay.as_mut().reset(soon);
///     delay.as_mut().await;
///     assert!(delay.is_elapsed());
/// });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    /// The core (by its unique id) and the timer this sleep last registered.
    registration: Option<Registration>,
    /// Set once `poll` has returned `Ready`.
    elapsed: bool,
}

#[derive(Clone, Copy, Debug)]
struct Registration {
    core: u64,
    key: TimerKey,
}

impl Sleep {
    /// The instant at which this sleep completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{sleep_until, Instant};
    ///
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(sleep_until(deadline).deadline(), deadline);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed (or the sleep has completed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::sleep;
    ///
    /// assert!(sleep(Duration::ZERO).is_elapsed());
    /// assert!(!sleep(Duration::from_secs(60)).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        self.elapsed || super::now() >= self.deadline
    }

    /// Moves the deadline to `deadline`, whether or not this sleep has
    /// completed; it completes again once the new deadline has passed.
    ///
    /// The timer is registered anew at the next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::Pin;
    /// use std::time::Duration;
    /// use runtime::time::{sleep, Instant};
    ///
    /// let mut delay = sleep(Duration::ZERO);
    /// let later = Instant::now() + Duration::from_secs(60);
    /// Pin::new(&mut delay).reset(later);
    /// assert_eq!(delay.deadline(), later);
    /// assert!(!delay.is_elapsed());
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deregister();
        this.deadline = deadline;
        this.elapsed = false;
    }

    /// Replaces the waker of this sleep's timer, if that timer is still in
    /// the current core's wheel (its tick has not come); returns whether it is.
    fn update_waker(&self, waker: &Waker) -> bool {
        let Some(registration) = self.registration else {
            return false;
        };
        context::core_uid() == Some(registration.core)
            && context::with_timers(|timers| timers.update_waker(registration.key, waker))
                == Some(true)
    }

    /// Registers `waker` with the current core's timers. A registration on
    /// another core is left there to fire harmlessly.
    fn register(&mut self, waker: &Waker) {
        let deadline = self.deadline;
        let registration = context::core_uid().and_then(|core| {
            let key = context::with_timers(|timers| timers.insert(deadline, waker))?;
            Some(Registration { core, key })
        });
        match registration {
            Some(registration) => self.registration = Some(registration),
            None => panic!("`Sleep` polled outside of a `runtime` core"),
        }
    }

    /// Cancels the timer if it is registered with the current core's wheel.
    /// One registered elsewhere is left to fire: another core's timers are
    /// not ours to touch.
    fn deregister(&mut self) {
        if let Some(registration) = self.registration.take() {
            if context::core_uid() == Some(registration.core) {
                context::with_timers(|timers| timers.cancel(registration.key));
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.elapsed {
            return Poll::Ready(());
        }
        // A timer still in the wheel is not due (the core fires timers on
        // every turn), so a spurious wake-up costs no clock read.
        if this.update_waker(cx.waker()) {
            return Poll::Pending;
        }
        if super::now() >= this.deadline {
            // Usually the timer has fired and this finds nothing to cancel.
            this.deregister();
            this.elapsed = true;
            return Poll::Ready(());
        }
        this.register(cx.waker());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_unpin<T: Send + Sync + Unpin>() {}

    #[test]
    fn sleep_is_send_sync_unpin() {
        assert_send_sync_unpin::<Sleep>();
    }

    #[test]
    fn zero_and_max_durations() {
        let before = Instant::now();
        let zero = sleep(Duration::ZERO);
        assert!(zero.deadline() >= before && zero.is_elapsed());
        // Completes without a core: the wheel is never touched.
        futures_lite::future::block_on(zero);

        let max = sleep(Duration::MAX);
        assert!(max.deadline() > before + Duration::from_secs(86_400 * 365 * 29));
        assert!(!max.is_elapsed());
    }

    #[test]
    #[should_panic(expected = "`Sleep` polled outside of a `runtime` core")]
    fn pending_sleep_outside_a_core_panics() {
        let sleep = sleep(Duration::from_secs(60));
        futures_lite::future::block_on(futures_lite::future::poll_once(sleep));
    }
}
