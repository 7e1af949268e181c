//! Timers: [`sleep`], [`timeout`] and [`interval`] on each core's timer wheel.
//!
//! Every core owns a hierarchical timing wheel with a resolution of one
//! millisecond. A timer registers with the wheel of the core that first polls
//! it, and fires once its deadline has passed: deadlines are rounded up to the
//! next millisecond, so a timer is never early, and is usually late by less
//! than a millisecond plus the time the core takes to come round.
//!
//! [`Sleep`], [`Timeout`] and [`Interval`] hold no reference to their core, so
//! they are `Send` and `Sync` (a [`Timeout`] as far as its future is) and may
//! be moved to another core, where the next poll registers them anew.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use runtime_executor::time::{self, Instant};
//!
//! let rt = runtime_executor::Runtime::builder().cores(1).build().unwrap();
//! rt.block_on(async {
//!     let start = Instant::now();
//!     time::sleep(Duration::from_millis(10)).await;
//!     assert!(start.elapsed() >= Duration::from_millis(10));
//!
//!     let slow = time::sleep(Duration::from_secs(60));
//!     assert!(time::timeout(Duration::from_millis(1), slow).await.is_err());
//! });
//! ```

pub(crate) mod driver;
mod interval;
mod sleep;
mod timeout;
mod wheel;

use std::time::Duration;

pub use std::time::Instant;

pub use self::interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use self::sleep::{sleep, sleep_until, Sleep};
pub use self::timeout::{timeout, timeout_at, Elapsed, Timeout};

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
