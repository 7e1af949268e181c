//! Timers: [`sleep`], [`timeout`] and [`interval`] on each core's timer wheel.
//!
//! Every core owns a hierarchical timing wheel with a resolution of one
//! millisecond. A timer registers with the wheel of the core that first polls
//! it, and fires once its deadline has passed: deadlines are rounded up to the
//! next millisecond, so a timer is never early, and is usually late by less
//! than a millisecond plus the time the core takes to come round.
//!
//! # Paused time
//!
//! For tests, [`pause`] freezes the current core's clock: timers then fire
//! only as [`advance`] moves it, in deadline order, with no real sleep; and
//! when every task of the core is idle, the clock jumps to the next timer by
//! itself (as tokio's paused clock does), so a test of a one-hour
//! [`interval`] finishes in milliseconds. [`resume`] lets it run again.
//! `#[runtime::test(start_paused = true)]` pauses before the body starts.
//!
//! The clock is per core, like the timer wheel: pausing core 0 leaves the
//! other cores' clocks running. Read it with [`now`]; [`Instant::now`] is
//! `std`'s and always reads the system clock (where tokio's `Instant::now`
//! reads the paused one). An auto-advance does not wait for I/O that is
//! still in flight: a paused test that waits on a socket under a
//! [`timeout`] sees the timeout fire unless the I/O is ready first.
//!
//! ```
//! use std::time::Duration;
//! use runtime::time;
//!
//! let rt = runtime::Runtime::builder().cores(1).build().unwrap();
//! rt.block_on(async {
//!     time::pause();
//!     let start = time::now();
//!     let mut hourly = time::interval(Duration::from_secs(3600));
//!     for _ in 0..24 {
//!         hourly.tick().await; // the clock jumps to each tick
//!     }
//!     assert_eq!(time::now() - start, Duration::from_secs(23 * 3600));
//! });
//! ```
//!
//! [`Sleep`], [`Timeout`] and [`Interval`] hold no reference to their core, so
//! they are `Send` and `Sync` (a [`Timeout`] as far as its future is) and may
//! be moved to another core, where the next poll registers them anew.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use runtime::time::{self, Instant};
//!
//! let rt = runtime::Runtime::builder().cores(1).build().unwrap();
//! rt.block_on(async {
//!     let start = Instant::now();
//!     time::sleep(Duration::from_millis(10)).await;
//!     assert!(start.elapsed() >= Duration::from_millis(10));
//!
//!     let slow = time::sleep(Duration::from_secs(60));
//!     assert!(time::timeout(Duration::from_millis(1), slow).await.is_err());
//! });
//! ```

mod clock;
pub(crate) mod driver;
mod interval;
mod sleep;
mod timeout;
mod wheel;

use std::time::Duration;

pub use std::time::Instant;

use crate::context;

pub use self::interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use self::sleep::{sleep, sleep_until, Sleep};
pub use self::timeout::{timeout, timeout_at, Elapsed, Timeout};

/// The current core's time: the system clock, unless [`pause`] froze it
/// (then it moves only by [`advance`] or by auto-advance). Outside a core,
/// the system clock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     time::pause();
///     let before = time::now();
///     time::advance(Duration::from_secs(5)).await;
///     assert_eq!(time::now() - before, Duration::from_secs(5));
/// });
/// ```
pub fn now() -> Instant {
    context::with_timers(|timers| timers.clock().now()).unwrap_or_else(Instant::now)
}

/// Pauses the current core's clock, for tests: from now on it moves only by
/// [`advance`], or by itself to the next timer when every task of the core
/// is idle. See the [module docs](self#paused-time).
///
/// # Panics
///
/// Outside a `runtime` core, or if the clock is paused already.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     time::pause();
///     // Done at once: the core has nothing else to do, so its clock jumps.
///     time::sleep(Duration::from_secs(24 * 3600)).await;
/// });
/// ```
pub fn pause() {
    context::with_timers(|timers| timers.pause_clock())
        .expect("`time::pause` called outside of a `runtime` core");
}

/// Lets the current core's clock run again, from the time it was paused at
/// plus every advance since.
///
/// # Panics
///
/// Outside a `runtime` core, or if the clock is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     time::pause();
///     time::advance(Duration::from_secs(60)).await;
///     time::resume();
///     time::sleep(Duration::from_millis(1)).await; // a real millisecond
/// });
/// ```
pub fn resume() {
    context::with_timers(|timers| timers.clock().resume())
        .expect("`time::resume` called outside of a `runtime` core");
}

/// Moves the current core's paused clock forward by `duration`, firing the
/// timers due on the way in deadline order, then yields so that the tasks
/// they woke run before the caller goes on.
///
/// # Panics
///
/// Outside a `runtime` core, or if the clock is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     time::pause();
///     let sleeper = runtime::spawn(time::sleep(Duration::from_secs(10)));
///     runtime::yield_now().await; // the sleeper registers its timer
///     time::advance(Duration::from_secs(10)).await;
///     assert!(sleeper.is_finished());
/// });
/// ```
pub async fn advance(duration: Duration) {
    context::with_timers(|timers| {
        let clock = timers.clock();
        assert!(
            clock.is_paused(),
            "`time::advance` needs a paused clock: call `time::pause` first"
        );
        let target = deadline_after(clock.now(), duration);
        // One deadline at a time, so the wakers run in deadline order.
        while let Some(next) = timers.next_deadline().filter(|&next| next <= target) {
            clock.advance_to(next);
            timers.fire_expired(next);
        }
        clock.advance_to(target);
        timers.fire_expired(target);
    })
    .expect("`time::advance` called outside of a `runtime` core");
    crate::yield_now().await;
}

/// About 30 years: what a deadline too far to represent is clamped to, as in
/// tokio. Nothing waits that long, and every platform's `Instant` holds it.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `from + FAR_FUTURE`, or as close to it as `Instant` can go.
pub(crate) fn far_future(from: Instant) -> Instant {
    from.checked_add(FAR_FUTURE)
        .or_else(|| from.checked_add(FAR_FUTURE / 30))
        .unwrap_or(from)
}

/// `from + duration`, clamped to [`far_future`] when that overflows.
pub(crate) fn deadline_after(from: Instant, duration: Duration) -> Instant {
    from.checked_add(duration)
        .unwrap_or_else(|| far_future(from))
}

/// The timer wheel, exposed for the micro-benchmarks in `benches/`. Not part
/// of the API: it may change or go away in any release.
#[doc(hidden)]
pub mod __bench {
    use std::task::Waker;
    use std::time::Instant;

    use super::driver::{TimerDriver, TimerKey};

    /// A core's timer driver, usable outside a runtime.
    #[derive(Debug, Default)]
    pub struct Timers(TimerDriver);

    /// A timer registered with [`Timers`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Key(TimerKey);

    impl Timers {
        /// An empty set of timers.
        pub fn new() -> Self {
            Timers(TimerDriver::new())
        }

        /// Registers `waker` for `deadline`.
        pub fn insert(&self, deadline: Instant, waker: &Waker) -> Key {
            Key(self.0.insert(deadline, waker))
        }

        /// Removes a timer; `false` if it fired or was removed already.
        pub fn cancel(&self, key: Key) -> bool {
            self.0.cancel(key.0)
        }

        /// When [`fire_expired`](Self::fire_expired) next has work to do.
        pub fn next_deadline(&self) -> Option<Instant> {
            self.0.next_deadline()
        }

        /// Wakes every timer due by `now`; returns how many.
        pub fn fire_expired(&self, now: Instant) -> usize {
            self.0.fire_expired(now)
        }

        /// The number of timers registered.
        pub fn len(&self) -> usize {
            self.0.len()
        }

        /// Whether no timer is registered.
        pub fn is_empty(&self) -> bool {
            self.0.len() == 0
        }
    }
}
