//! A core's clock: the system clock, or a paused one that moves only when
//! told to (`pause`, `advance`, `resume`) or when the core has nothing else
//! to do.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The clock of one core, read by its timers and its loop.
///
/// While it is neither paused nor was ever advanced, [`now`](Self::now) is
/// `Instant::now()` after one `Cell<bool>` check: the busy loop reads the
/// clock on every turn that has timers, and pays nothing more for paused
/// time existing.
#[derive(Debug)]
pub(crate) struct Clock {
    /// Whether `now` is anything but the system clock: paused, or resumed
    /// after an advance.
    shifted: Cell<bool>,
    paused: Cell<bool>,
    /// While paused: the time, frozen.
    frozen: Cell<Instant>,
    /// Once resumed: how far this clock is ahead of the system clock.
    offset: Cell<Duration>,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            shifted: Cell::new(false),
            paused: Cell::new(false),
            frozen: Cell::new(Instant::now()),
            offset: Cell::new(Duration::ZERO),
        }
    }

    /// The core's current time.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        if !self.shifted.get() {
            return Instant::now();
        }
        self.now_shifted()
    }

    #[cold]
    fn now_shifted(&self) -> Instant {
        if self.paused.get() {
            self.frozen.get()
        } else {
            let now = Instant::now();
            now.checked_add(self.offset.get()).unwrap_or(now)
        }
    }

    /// Whether [`now`](Self::now) is anything but the system clock.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    #[inline]
    pub(crate) fn is_shifted(&self) -> bool {
        self.shifted.get()
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.get()
    }

    /// Freezes the clock at `at`, no earlier than its current time.
    ///
    /// # Panics
    ///
    /// If it is paused already.
    pub(crate) fn pause_at(&self, at: Instant) {
        assert!(!self.paused.get(), "the clock is already paused");
        self.frozen.set(at.max(self.now()));
        self.paused.set(true);
        self.shifted.set(true);
    }

    /// Lets the clock run again, from where it was frozen.
    ///
    /// # Panics
    ///
    /// If it is not paused.
    pub(crate) fn resume(&self) {
        assert!(self.paused.get(), "the clock is not paused");
        let offset = self.frozen.get().saturating_duration_since(Instant::now());
        self.offset.set(offset);
        self.paused.set(false);
        self.shifted.set(!offset.is_zero());
    }

    /// Moves a paused clock forward to `to`; an earlier `to` leaves it.
    pub(crate) fn advance_to(&self, to: Instant) {
        debug_assert!(self.paused.get());
        if to > self.frozen.get() {
            self.frozen.set(to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_moves_only_when_advanced() {
        let clock = Clock::new();
        clock.pause_at(Instant::now());
        let frozen = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), frozen);
        clock.advance_to(frozen + Duration::from_secs(3600));
        assert_eq!(clock.now(), frozen + Duration::from_secs(3600));
        clock.advance_to(frozen);
        assert_eq!(clock.now(), frozen + Duration::from_secs(3600));
    }

    #[test]
    fn resumed_clock_runs_on_from_where_it_was() {
        let clock = Clock::new();
        clock.pause_at(Instant::now());
        let hour_later = clock.now() + Duration::from_secs(3600);
        clock.advance_to(hour_later);
        clock.resume();
        assert!(!clock.is_paused());
        assert!(clock.now() >= hour_later);
        assert!(clock.now() < hour_later + Duration::from_secs(60));
    }

    #[test]
    #[should_panic(expected = "the clock is already paused")]
    fn pausing_twice_panics() {
        let clock = Clock::new();
        clock.pause_at(Instant::now());
        clock.pause_at(Instant::now());
    }

    #[test]
    #[should_panic(expected = "the clock is not paused")]
    fn resuming_a_running_clock_panics() {
        Clock::new().resume();
    }
}
