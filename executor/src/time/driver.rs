//! A core's timers: the wheel, its clock in milliseconds, and the wakers.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::clock::Clock;
pub(crate) use super::wheel::TimerKey;
use super::wheel::Wheel;

/// Wakers woken per borrow of the wheel in [`TimerDriver::fire_expired`]:
/// enough to amortize the borrow, few enough to stay in cache.
const WAKE_BATCH: usize = 64;

const NANOS_PER_TICK: u32 = 1_000_000;

/// Whole milliseconds in `secs` seconds and `nanos` nanoseconds, in `u64`
/// arithmetic (cheaper than `Duration::as_millis`'s `u128`), saturating.
fn millis(secs: u64, nanos: u32) -> u64 {
    secs.saturating_mul(1000)
        .saturating_add(u64::from(nanos / NANOS_PER_TICK))
}

/// The timers of one core, touched only by that core's thread.
///
/// Deadlines are rounded up to the next millisecond past the driver's creation
/// (a tick), and a timer fires only once the clock passed to
/// [`fire_expired`](Self::fire_expired) has reached its tick, so never before
/// its deadline.
///
/// No waker is woken or dropped while the wheel is borrowed: a waker may run
/// arbitrary code, such as inserting or cancelling timers.
pub(crate) struct TimerDriver {
    /// The instant of tick 0.
    origin: Instant,
    /// The same moment on the raw clock (see [`now_tick`](Self::now_tick)),
    /// read just after `origin`: no earlier, so a reading against it is
    /// never ahead of one against `origin`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    origin_nanos: u64,
    /// What "now" is for these timers: the system clock unless paused.
    clock: Clock,
    wheel: RefCell<Wheel<Waker>>,
    /// Reused by `fire_expired`, so that firing allocates nothing.
    wake_batch: Cell<Vec<Waker>>,
    /// Counts inserts, so that `fire_expired` knows whether the wakers it
    /// called added timers that may be due already.
    inserts: Cell<u64>,
    /// The tick of [`next_deadline`](Self::next_deadline), once computed;
    /// `None` after any change to the wheel. The core asks at every turn
    /// of its loop, and scanning the wheel each time was a large part of a
    /// busy core's turn.
    next: Cell<Option<Option<u64>>>,
    /// The timers belong to the thread of their core.
    _not_send: PhantomData<*const ()>,
}

impl TimerDriver {
    pub(crate) fn new() -> Self {
        let origin = Instant::now();
        TimerDriver {
            origin,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            origin_nanos: crate::sys::monotonic_nanos(),
            clock: Clock::new(),
            wheel: RefCell::new(Wheel::new()),
            wake_batch: Cell::new(Vec::new()),
            inserts: Cell::new(0),
            next: Cell::new(None),
            _not_send: PhantomData,
        }
    }

    /// The core's clock.
    #[inline]
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Pauses the clock on the next tick boundary, so that a timer set a
    /// whole number of milliseconds ahead fires exactly when the clock is
    /// advanced that far.
    pub(crate) fn pause_clock(&self) {
        let now = self.clock.now();
        self.clock
            .pause_at(self.instant_of(self.tick_at_or_after(now)));
    }

    /// Registers `waker` to be woken once `deadline` has passed.
    pub(crate) fn insert(&self, deadline: Instant, waker: &Waker) -> TimerKey {
        let tick = self.tick_at_or_after(deadline);
        self.inserts.set(self.inserts.get().wrapping_add(1));
        self.next.set(None);
        self.wheel.borrow_mut().insert(tick, waker.clone())
    }

    /// Replaces the waker of timer `key`; returns `false` if that timer has
    /// fired or been cancelled.
    pub(crate) fn update_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        let old = {
            let mut wheel = self.wheel.borrow_mut();
            match wheel.get_mut(key) {
                None => return false,
                Some(current) if current.will_wake(waker) => return true,
                Some(current) => std::mem::replace(current, waker.clone()),
            }
        };
        drop(old);
        true
    }

    /// Removes timer `key` without waking it; returns `false` if it has fired
    /// or been cancelled already.
    pub(crate) fn cancel(&self, key: TimerKey) -> bool {
        let waker = self.wheel.borrow_mut().remove(key);
        self.next.set(None);
        waker.is_some()
    }

    /// When [`fire_expired`](Self::fire_expired) next has work to do, or
    /// `None` without timers: usually the earliest timer's tick, never after
    /// it, and possibly in the past. It is earlier only in rare cases (see
    /// `Wheel::next_expiration_tick`), where that call merely cascades.
    #[inline]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_tick().map(|tick| self.instant_of(tick))
    }

    /// The tick of [`next_deadline`](Self::next_deadline): what the loop
    /// compares with [`now_tick`](Self::now_tick).
    #[inline]
    pub(crate) fn next_tick(&self) -> Option<u64> {
        if let Some(next) = self.next.get() {
            return next;
        }
        self.compute_next_tick()
    }

    #[cold]
    fn compute_next_tick(&self) -> Option<u64> {
        let next = self.wheel.borrow().next_expiration_tick();
        self.next.set(Some(next));
        next
    }

    /// The tick the clock has reached (whole milliseconds since tick 0):
    /// the loop's one reading per turn, compared with
    /// [`next_tick`](Self::next_tick) and turned into its wait's timeout by
    /// [`millis_until`](Self::millis_until).
    ///
    /// On Linux, from `clock_gettime(CLOCK_MONOTONIC)`, the clock `Instant`
    /// reads there: an `Instant` costs a subtraction of two `timespec`s
    /// (with their carries) to come back to a number, twice per turn, and
    /// that was a large part of a turn that serves one message. Never ahead
    /// of the `Instant` reading (see `origin_nanos`), so no timer fires
    /// early. A paused or advanced clock is read as an `Instant`.
    #[inline]
    pub(crate) fn now_tick(&self) -> u64 {
        self.now_nanos() / u64::from(NANOS_PER_TICK)
    }

    /// [`now_tick`](Self::now_tick) in nanoseconds.
    #[inline]
    fn now_nanos(&self) -> u64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if !self.clock.is_shifted() {
            return crate::sys::monotonic_nanos().saturating_sub(self.origin_nanos);
        }
        self.now_nanos_slow()
    }

    #[cold]
    fn now_nanos_slow(&self) -> u64 {
        let since = self.clock.now().saturating_duration_since(self.origin);
        since
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(since.subsec_nanos()))
    }

    /// Milliseconds from `now` (a [`now_tick`](Self::now_tick) reading)
    /// until `tick`: the time left rounded up (the reading is rounded
    /// down), never short of it; zero once it is reached.
    #[inline]
    pub(crate) fn millis_until(tick: u64, now: u64) -> u64 {
        tick.saturating_sub(now)
    }

    /// Wakes every timer whose tick `now` has reached, and returns how many.
    pub(crate) fn fire_expired(&self, now: Instant) -> usize {
        self.fire_expired_tick(self.tick_at_or_before(now))
    }

    /// [`fire_expired`](Self::fire_expired) with the clock as a tick.
    pub(crate) fn fire_expired_tick(&self, now: u64) -> usize {
        let mut batch = self.wake_batch.take();
        let mut fired = 0;
        loop {
            let mut drained = false;
            {
                let mut wheel = self.wheel.borrow_mut();
                self.next.set(None);
                while batch.len() < WAKE_BATCH {
                    match wheel.poll(now) {
                        Some(waker) => batch.push(waker),
                        None => {
                            drained = true;
                            break;
                        }
                    }
                }
            }
            fired += batch.len();
            let inserts = self.inserts.get();
            // The wheel is released: these may insert or cancel timers, and
            // inserted ones due by `now` are still fired by this call.
            for waker in batch.drain(..) {
                waker.wake();
            }
            if drained && self.inserts.get() == inserts {
                break;
            }
        }
        self.wake_batch.set(batch);
        fired
    }

    /// Drops every timer without waking it.
    pub(crate) fn clear(&self) {
        let wakers = self.wheel.borrow_mut().clear();
        self.next.set(None);
        drop(wakers);
        drop(self.wake_batch.take());
    }

    /// The number of timers registered and not yet fired or cancelled.
    pub(crate) fn len(&self) -> usize {
        self.wheel.borrow().len()
    }

    /// The first tick at or after `instant`.
    fn tick_at_or_after(&self, instant: Instant) -> u64 {
        let Some(since) = instant.checked_duration_since(self.origin) else {
            return 0;
        };
        let nanos = since.subsec_nanos();
        let partial = u64::from(nanos % NANOS_PER_TICK != 0);
        millis(since.as_secs(), nanos).saturating_add(partial)
    }

    /// The last tick at or before `instant`.
    fn tick_at_or_before(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.origin);
        millis(since.as_secs(), since.subsec_nanos())
    }

    fn instant_of(&self, tick: u64) -> Instant {
        // The wheel never reports a tick more than its range (about 2.2
        // years) past its clock, so this cannot overflow in practice.
        self.origin
            .checked_add(Duration::from_millis(tick))
            .unwrap_or_else(|| super::far_future(self.origin))
    }
}

impl Default for TimerDriver {
    fn default() -> Self {
        TimerDriver::new()
    }
}

impl fmt::Debug for TimerDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerDriver")
            .field("origin", &self.origin)
            .field("wheel", &self.wheel)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Counter {
        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        (counter.clone(), Waker::from(counter))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_only_once_the_deadline_has_passed() {
        let driver = TimerDriver::new();
        let (counter, waker) = counting_waker();
        let deadline = driver.origin + Duration::from_micros(10_500);
        driver.insert(deadline, &waker);
        assert_eq!(driver.len(), 1);
        // Rounded up to the 11th millisecond.
        let next = driver.next_deadline().unwrap();
        assert!(next >= deadline);
        assert_eq!(driver.fire_expired(deadline), 0);
        assert_eq!(driver.fire_expired(driver.origin + ms(10)), 0);
        assert_eq!(counter.count(), 0);
        assert_eq!(driver.fire_expired(next), 1);
        assert_eq!(counter.count(), 1);
        assert_eq!(driver.len(), 0);
        assert_eq!(driver.next_deadline(), None);
    }

    #[test]
    fn the_loops_reading_reaches_a_timers_tick_only_once_its_deadline_passed() {
        let driver = TimerDriver::new();
        let (counter, waker) = counting_waker();
        let deadline = Instant::now() + ms(3);
        driver.insert(deadline, &waker);
        let tick = driver.next_tick().expect("one timer");
        assert_eq!(driver.instant_of(tick), driver.next_deadline().unwrap());
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            let now = driver.now_tick();
            if tick <= now {
                assert!(Instant::now() >= deadline, "the reading ran ahead");
                assert_eq!(TimerDriver::millis_until(tick, now), 0);
                assert_eq!(driver.fire_expired_tick(now), 1);
                break;
            }
            // The wait it gives reaches the tick, never stops short of it.
            let left = TimerDriver::millis_until(tick, now);
            assert!(left > 0);
            assert!(Instant::now() + ms(left) >= deadline);
            assert!(Instant::now() < give_up, "the clock never reached the tick");
            std::thread::yield_now();
        }
        assert_eq!(counter.count(), 1);
        assert_eq!(driver.next_tick(), None);
    }

    #[test]
    fn next_deadline_follows_every_change_of_the_wheel() {
        // `next_deadline` is remembered between changes: each change must
        // make it look again.
        let driver = TimerDriver::new();
        let (_counter, waker) = counting_waker();
        assert_eq!(driver.next_deadline(), None);
        let late = driver.insert(driver.origin + ms(1_000), &waker);
        assert_eq!(driver.next_deadline(), Some(driver.origin + ms(1_000)));
        let early = driver.insert(driver.origin + ms(10), &waker);
        assert_eq!(driver.next_deadline(), Some(driver.origin + ms(10)));
        assert!(driver.cancel(early));
        assert_eq!(driver.next_deadline(), Some(driver.origin + ms(1_000)));
        driver.insert(driver.origin + ms(20), &waker);
        assert_eq!(driver.next_deadline(), Some(driver.origin + ms(20)));
        assert_eq!(driver.fire_expired(driver.origin + ms(20)), 1);
        let after_fire = driver.next_deadline().unwrap();
        assert!(after_fire <= driver.origin + ms(1_000));
        assert!(after_fire > driver.origin + ms(20));
        assert!(driver.cancel(late));
        assert_eq!(driver.next_deadline(), None);
        driver.insert(driver.origin + ms(30), &waker);
        driver.clear();
        assert_eq!(driver.next_deadline(), None);
    }

    #[test]
    fn fires_everything_due_and_nothing_else() {
        let driver = TimerDriver::new();
        let (counter, waker) = counting_waker();
        for n in 1..=100 {
            driver.insert(driver.origin + ms(n * 7), &waker);
        }
        assert_eq!(driver.fire_expired(driver.origin + ms(350)), 50);
        assert_eq!(counter.count(), 50);
        assert_eq!(driver.len(), 50);
        assert_eq!(driver.fire_expired(driver.origin + ms(10_000)), 50);
        assert_eq!(counter.count(), 100);
    }

    #[test]
    fn deadline_in_the_past_fires_on_next_call() {
        let driver = TimerDriver::new();
        let (counter, waker) = counting_waker();
        driver.fire_expired(driver.origin + ms(100));
        driver.insert(driver.origin, &waker);
        let next = driver.next_deadline().unwrap();
        assert!(next <= driver.origin + ms(100));
        assert_eq!(driver.fire_expired(driver.origin + ms(100)), 1);
        assert_eq!(counter.count(), 1);
    }

    #[test]
    fn cancel_and_stale_keys() {
        let driver = TimerDriver::new();
        let (counter, waker) = counting_waker();
        let a = driver.insert(driver.origin + ms(5), &waker);
        assert!(driver.cancel(a));
        assert!(!driver.cancel(a));
        let b = driver.insert(driver.origin + ms(5), &waker);
        assert!(!driver.cancel(a), "stale key must not cancel the new timer");
        assert!(!driver.update_waker(a, &waker));
        assert_eq!(driver.fire_expired(driver.origin + ms(5)), 1);
        assert!(!driver.cancel(b));
        assert!(!driver.update_waker(b, &waker));
        assert_eq!(counter.count(), 1);
    }

    #[test]
    fn update_waker_replaces_the_waker() {
        let driver = TimerDriver::new();
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        let key = driver.insert(driver.origin + ms(1), &first_waker);
        assert!(driver.update_waker(key, &first_waker));
        assert!(driver.update_waker(key, &second_waker));
        driver.fire_expired(driver.origin + ms(1));
        assert_eq!((first.count(), second.count()), (0, 1));
    }

    #[test]
    fn far_future_deadlines() {
        let driver = TimerDriver::new();
        let (counter, waker) = counting_waker();
        let far = super::super::far_future(driver.origin);
        driver.insert(far, &waker);
        let next = driver.next_deadline().unwrap();
        assert!(next > driver.origin && next < far);
        assert_eq!(driver.fire_expired(next), 0);
        assert_eq!(driver.fire_expired(far - ms(1)), 0);
        assert_eq!(driver.fire_expired(far), 1);
        assert_eq!(counter.count(), 1);
    }

    /// A waker that inserts and cancels timers while being woken, as a task
    /// woken inline might.
    struct Reentrant {
        driver: Rc<TimerDriver>,
        counter: Arc<Counter>,
        at: Instant,
    }

    impl Reentrant {
        fn wake(&self) {
            let (_, waker) = counting_waker();
            let key = self.driver.insert(self.at + ms(1000), &waker);
            assert!(self.driver.cancel(key));
            // Already due: fired by the same `fire_expired` call.
            self.driver
                .insert(self.at, &Waker::from(self.counter.clone()));
        }
    }

    #[test]
    fn wakers_may_reenter_the_driver() {
        let driver = Rc::new(TimerDriver::new());
        let counter = Arc::new(Counter::default());
        let at = driver.origin + ms(3);
        let reentrant = Reentrant {
            driver: driver.clone(),
            counter: counter.clone(),
            at,
        };
        // A waker that calls back into the driver: built from a thread-local
        // hook since `Wake` needs `Send + Sync`.
        thread_local!(static HOOK: std::cell::RefCell<Option<Reentrant>> = const {
            std::cell::RefCell::new(None)
        });
        struct Hook;
        impl Wake for Hook {
            fn wake(self: Arc<Self>) {
                HOOK.with(|hook| hook.borrow().as_ref().unwrap().wake());
            }
        }
        HOOK.with(|hook| *hook.borrow_mut() = Some(reentrant));
        let hook = Waker::from(Arc::new(Hook));
        for _ in 0..(WAKE_BATCH * 2 + 1) {
            driver.insert(at, &hook);
        }
        let fired = driver.fire_expired(at);
        assert_eq!(fired, (WAKE_BATCH * 2 + 1) * 2);
        assert_eq!(counter.count(), WAKE_BATCH * 2 + 1);
        assert_eq!(driver.len(), 0);
        HOOK.with(|hook| hook.borrow_mut().take());
    }

    #[test]
    fn clear_drops_without_waking() {
        let driver = TimerDriver::new();
        let (counter, waker) = counting_waker();
        let key = driver.insert(driver.origin + ms(1), &waker);
        driver.insert(driver.origin + ms(100_000), &waker);
        driver.clear();
        assert_eq!(driver.len(), 0);
        assert_eq!(driver.next_deadline(), None);
        assert_eq!(driver.fire_expired(driver.origin + ms(1_000_000)), 0);
        assert_eq!(counter.count(), 0);
        assert_eq!(Arc::strong_count(&counter), 2, "wakers dropped");
        assert!(!driver.cancel(key));
    }
}
