//! [`Interval`]: ticks at a fixed period.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep_until, Sleep};

/// A tick this much later than scheduled counts as missed, as in tokio: a
/// core that comes round a little late should not change the schedule.
const MISSED_TICK_SLACK: Duration = Duration::from_millis(5);

/// Ticks every `period`, the first tick completing at once.
///
/// Ticks that cannot be delivered on time are made up for in a burst by
/// default; see [`MissedTickBehavior`].
///
/// # Panics
///
/// Panics if `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time::interval;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let mut ticks = interval(Duration::from_millis(2));
///     let first = ticks.tick().await; // at once
///     let second = ticks.tick().await;
///     assert_eq!(second - first, Duration::from_millis(2));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(super::now(), period)
}

/// Ticks every `period`, the first tick completing at `start`.
///
/// # Panics
///
/// Panics if `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time::{interval_at, Instant};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let start = Instant::now() + Duration::from_millis(3);
///     let mut ticks = interval_at(start, Duration::from_millis(2));
///     assert_eq!(ticks.tick().await, start);
///     assert_eq!(ticks.tick().await, start + Duration::from_millis(2));
/// });
/// ```
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    Interval {
        delay: sleep_until(start),
        period,
        missed_tick_behavior: MissedTickBehavior::default(),
    }
}

/// What an [`Interval`] does about ticks it could not deliver on time, when
/// it is polled more than a few milliseconds late. The same as tokio's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time::{interval, MissedTickBehavior};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let mut ticks = interval(Duration::from_millis(50));
///     ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
///     assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Delay);
/// });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissedTickBehavior {
    /// Deliver the missed ticks at once, one per call, until caught up; the
    /// schedule stays `start + n * period`. The default.
    #[default]
    Burst,
    /// Deliver one tick at once, then tick every `period` from then on: the
    /// schedule shifts by the delay.
    Delay,
    /// Deliver one tick at once, then skip to the next instant on the
    /// original schedule `start + n * period` that is after now.
    Skip,
}

impl MissedTickBehavior {
    /// The next deadline after a tick due at `missed` was delivered at `now`.
    fn next_deadline(self, missed: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => super::deadline_after(missed, period),
            MissedTickBehavior::Delay => super::deadline_after(now, period),
            MissedTickBehavior::Skip => {
                let behind = (now - missed).as_nanos() % period.as_nanos();
                // `behind < period`, which is a `Duration`, so it fits.
                let behind = Duration::from_nanos(behind as u64);
                super::deadline_after(now, period - behind)
            }
        }
    }
}

/// Ticks at a fixed period; made by [`interval`] and [`interval_at`].
///
/// It is `Send` and `Sync`, and registers with the timer wheel of the core
/// that polls it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time::interval;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let mut ticks = interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         ticks.tick().await;
///     }
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    /// Completes at the next tick's deadline.
    delay: Sleep,
    period: Duration,
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it completes loses no tick.
    ///
    /// # Panics
    ///
    /// The returned future panics if polled before the tick is due outside of
    /// a `runtime` core.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{interval, Instant};
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let mut ticks = interval(Duration::from_millis(1));
    ///     let first = ticks.tick().await;
    ///     assert!(ticks.tick().await >= first + Duration::from_millis(1));
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: `Ready` with the instant the tick was
    /// scheduled for once it is due, `Pending` (with `cx`'s waker registered)
    /// otherwise. Only the waker of the latest call is woken.
    ///
    /// # Panics
    ///
    /// Panics if polled before the tick is due outside of a `runtime` core.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::time::Duration;
    /// use runtime::time::interval;
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let mut ticks = interval(Duration::from_millis(1));
    ///     let first = poll_fn(|cx| ticks.poll_tick(cx)).await;
    ///     let second = poll_fn(|cx| ticks.poll_tick(cx)).await;
    ///     assert_eq!(second - first, Duration::from_millis(1));
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.delay.deadline();
        let now = super::now();
        let next = if now > scheduled + MISSED_TICK_SLACK {
            self.missed_tick_behavior
                .next_deadline(scheduled, now, self.period)
        } else {
            super::deadline_after(scheduled, self.period)
        };
        // Registered with the wheel at the next poll, not now.
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is due one `period` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{interval, Instant};
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let mut ticks = interval(Duration::from_millis(2));
    ///     ticks.tick().await;
    ///     let before = Instant::now();
    ///     ticks.reset();
    ///     assert!(ticks.tick().await >= before + Duration::from_millis(2));
    /// });
    /// ```
    pub fn reset(&mut self) {
        self.reset_at(super::deadline_after(super::now(), self.period));
    }

    /// Restarts the schedule: the next tick is due at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{interval, Instant};
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let mut ticks = interval(Duration::from_secs(60));
    ///     ticks.tick().await;
    ///     ticks.reset_immediately();
    ///     assert!(ticks.tick().await <= Instant::now());
    /// });
    /// ```
    pub fn reset_immediately(&mut self) {
        self.reset_at(super::now());
    }

    /// Restarts the schedule: the next tick is due `after` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{interval, Instant};
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let mut ticks = interval(Duration::from_secs(60));
    ///     ticks.tick().await;
    ///     let before = Instant::now();
    ///     ticks.reset_after(Duration::from_millis(1));
    ///     assert!(ticks.tick().await >= before + Duration::from_millis(1));
    /// });
    /// ```
    pub fn reset_after(&mut self, after: Duration) {
        self.reset_at(super::deadline_after(super::now(), after));
    }

    /// Restarts the schedule: the next tick is due at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{interval, Instant};
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let mut ticks = interval(Duration::from_secs(60));
    ///     ticks.tick().await;
    ///     let at = Instant::now() + Duration::from_millis(1);
    ///     ticks.reset_at(at);
    ///     assert_eq!(ticks.tick().await, at);
    /// });
    /// ```
    pub fn reset_at(&mut self, deadline: Instant) {
        Pin::new(&mut self.delay).reset(deadline);
    }

    /// The period between ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::interval;
    ///
    /// assert_eq!(interval(Duration::from_secs(1)).period(), Duration::from_secs(1));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What this interval does about missed ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{interval, MissedTickBehavior};
    ///
    /// let ticks = interval(Duration::from_secs(1));
    /// assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Burst);
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets what this interval does about missed ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{interval, MissedTickBehavior};
    ///
    /// let mut ticks = interval(Duration::from_secs(1));
    /// ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    /// assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Skip);
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_unpin<T: Send + Sync + Unpin>() {}

    #[test]
    fn interval_is_send_sync_unpin() {
        assert_send_sync_unpin::<Interval>();
    }

    #[test]
    #[should_panic(expected = "`period` must be non-zero.")]
    fn zero_period_panics() {
        let _ = interval(Duration::ZERO);
    }

    #[test]
    fn missed_tick_deadlines() {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let missed = start + period;
        let now = start + Duration::from_millis(36);
        let burst = MissedTickBehavior::Burst.next_deadline(missed, now, period);
        assert_eq!(burst, start + Duration::from_millis(20));
        let delay = MissedTickBehavior::Delay.next_deadline(missed, now, period);
        assert_eq!(delay, start + Duration::from_millis(46));
        let skip = MissedTickBehavior::Skip.next_deadline(missed, now, period);
        assert_eq!(skip, start + Duration::from_millis(40));
        let on_schedule =
            MissedTickBehavior::Skip.next_deadline(missed, start + period * 4, period);
        assert_eq!(on_schedule, start + period * 5);
    }

    #[test]
    fn first_tick_completes_at_once() {
        let start = Instant::now();
        let mut ticks = interval_at(start, Duration::from_secs(60));
        let first = futures_lite::future::block_on(ticks.tick());
        assert_eq!(first, start);
        assert_eq!(ticks.period(), Duration::from_secs(60));
        assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Burst);
    }
}
