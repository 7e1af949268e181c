//! One core: its run queues, its event loop and its shutdown.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use async_task::Runnable;
use concurrent_queue::{ConcurrentQueue, PushError};
use polling::Poller;
use slab::Slab;

use crate::context;
use crate::defer::Deferred;
use crate::reactor::Reactor;
use crate::runtime::RuntimeShared;
use crate::stats::SharedStats;
use crate::time::driver::TimerDriver;
use crate::wait::Notifier;

/// Tasks polled per tick before the core looks at its remote queue, its timers
/// and (when busy) the reactor. The same figure as tokio's `event_interval`.
const TICK_BUDGET: usize = 61;

/// How long shutdown waits for a task that a wake from another thread is
/// about to push (a few instructions, unless that thread is descheduled)
/// before it gives up on it.
const SHUTDOWN_STALL: Duration = Duration::from_secs(1);

/// The part of a core that other threads may touch: its remote queue, its
/// poller (to notify it) and its counters.
#[derive(Debug)]
pub(crate) struct CoreShared {
    index: usize,
    remote: ConcurrentQueue<Runnable>,
    /// True while the core is (about to be) blocked in `Poller::wait`. Other
    /// threads notify the poller only when they flip it back to false, so a
    /// busy core costs its wakers no syscall.
    parked: AtomicBool,
    poller: Arc<Poller>,
    notifier: Arc<Notifier>,
    pub(crate) stats: SharedStats,
}

impl CoreShared {
    pub(crate) fn new(index: usize) -> std::io::Result<Self> {
        let poller = Arc::new(Poller::new()?);
        let notifier = Arc::new(Notifier::new(&poller)?);
        Ok(CoreShared {
            index,
            remote: ConcurrentQueue::unbounded(),
            parked: AtomicBool::new(false),
            poller,
            notifier,
            stats: SharedStats::default(),
        })
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Hands a runnable to this core from any thread.
    ///
    /// Returns the runnable back when the core has shut down; the caller
    /// decides whether it may be dropped on this thread.
    pub(crate) fn push_remote(&self, runnable: Runnable) -> Result<(), Runnable> {
        match self.remote.push(runnable) {
            Ok(()) => {
                self.unpark();
                Ok(())
            }
            Err(PushError::Closed(runnable) | PushError::Full(runnable)) => Err(runnable),
        }
    }

    /// Wakes the core if it is parked in (or about to enter) `Poller::wait`.
    pub(crate) fn unpark(&self) {
        // Pairs with the fence in `Core::park`: either the core sees what we
        // published before parking, or we see `parked == true` here.
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::SeqCst) {
            self.stats.add_notify();
            self.notifier.notify();
        }
    }

    /// Wakes the core whatever it is doing (used to stop it).
    pub(crate) fn notify(&self) {
        self.notifier.notify();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.remote.is_closed()
    }
}

/// A core's local run queue, first in first out: two `Vec`s, one that
/// wakes push to and one that the core runs through, swapped when the
/// second is done. A `Vec`'s push and an index are cheaper than a
/// `VecDeque`'s wrapping ones, and no `RefCell` flag is checked and set
/// around each push (every wake) and pop (every poll).
///
/// Sound without the flag because no borrow of either `Vec` outlives one
/// call of a `Vec` method that runs no other code: `len`, `capacity`,
/// indexing, `clear` (of `ManuallyDrop`s: no destructor) and `swap` never
/// do, and `push` runs none with room to spare (`capacity` is "the total
/// number of elements the vector can hold without reallocating"):
/// [`push`](Self::push) makes room first, on a `Vec` moved out of the
/// cell, so the allocator runs with no borrow live. The runnables are
/// held as `ManuallyDrop`, so nothing is dropped inside either; `Drop`
/// drops what is left, one by one. The cells are `!Sync`: only the core's
/// thread reaches them.
struct RunQueue {
    /// Pushed since `running` was filled, oldest first.
    incoming: UnsafeCell<Vec<ManuallyDrop<Runnable>>>,
    /// The runnables being run, oldest first: those from `next` on are
    /// queued, those before it were taken (moved out, never used again).
    running: UnsafeCell<Vec<ManuallyDrop<Runnable>>>,
    next: Cell<usize>,
}

impl RunQueue {
    fn with_capacity(capacity: usize) -> Self {
        RunQueue {
            incoming: UnsafeCell::new(Vec::with_capacity(capacity)),
            running: UnsafeCell::new(Vec::with_capacity(capacity)),
            next: Cell::new(0),
        }
    }

    /// The `Vec` in `cell`, for one call of a `Vec` method.
    ///
    /// # Safety
    ///
    /// `cell` is one of this queue's; the borrow ends within the caller's
    /// expression, and the method it serves runs no other code (see
    /// [`RunQueue`]), so no other borrow of that `Vec` is live meanwhile.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    unsafe fn vec(
        cell: &UnsafeCell<Vec<ManuallyDrop<Runnable>>>,
    ) -> &mut Vec<ManuallyDrop<Runnable>> {
        // SAFETY: the caller's contract.
        unsafe { &mut *cell.get() }
    }

    #[inline(always)]
    fn push(&self, runnable: Runnable) {
        // SAFETY: `len` and `capacity` run no other code.
        let full =
            unsafe { Self::vec(&self.incoming).len() == Self::vec(&self.incoming).capacity() };
        if full {
            return self.grow_and_push(runnable);
        }
        // SAFETY: with room, `push` runs no other code.
        unsafe { Self::vec(&self.incoming) }.push(ManuallyDrop::new(runnable));
    }

    /// Makes room, calling the allocator with no borrow of `incoming`
    /// live, then pushes. A push the allocator made meanwhile (one that
    /// spawns, say) lands in the cell's empty `Vec`, and is queued after
    /// what was there.
    #[cold]
    #[inline(never)]
    fn grow_and_push(&self, runnable: Runnable) {
        // SAFETY: `take` moves the `Vec` out (leaving one that holds no
        // allocation), running no other code.
        let mut incoming = std::mem::take(unsafe { Self::vec(&self.incoming) });
        incoming.reserve(incoming.len().max(16));
        // SAFETY: `replace` moves, running no other code.
        let meanwhile = std::mem::replace(unsafe { Self::vec(&self.incoming) }, incoming);
        for earlier in meanwhile {
            self.push(ManuallyDrop::into_inner(earlier));
        }
        self.push(runnable);
    }

    #[inline(always)]
    fn pop(&self) -> Option<Runnable> {
        let next = self.next.get();
        // SAFETY: `len` runs no other code.
        if next < unsafe { Self::vec(&self.running) }.len() {
            self.next.set(next + 1);
            // SAFETY: indexing runs no other code. The slot at `next` was
            // never taken (`next` moves past each slot taken), and is never
            // used again.
            return Some(unsafe { ManuallyDrop::take(&mut Self::vec(&self.running)[next]) });
        }
        // SAFETY: `is_empty` runs no other code.
        if unsafe { Self::vec(&self.incoming) }.is_empty() {
            return None;
        }
        Some(self.next_batch())
    }

    /// Makes what was pushed the runnables being run (the taken slots
    /// forgotten), and takes the first of them; `incoming` is not empty.
    #[inline]
    fn next_batch(&self) -> Runnable {
        // SAFETY: `clear` drops no runnable (they are `ManuallyDrop`, all
        // taken already), and `swap` moves: neither runs other code.
        unsafe {
            Self::vec(&self.running).clear();
            std::mem::swap(Self::vec(&self.running), Self::vec(&self.incoming));
        }
        self.next.set(1);
        // SAFETY: indexing runs no other code; slot 0 of the new batch is
        // taken here, and `next` is past it.
        unsafe { ManuallyDrop::take(&mut Self::vec(&self.running)[0]) }
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        // SAFETY: `len` and `is_empty` run no other code.
        unsafe {
            self.next.get() == Self::vec(&self.running).len()
                && Self::vec(&self.incoming).is_empty()
        }
    }
}

impl Drop for RunQueue {
    fn drop(&mut self) {
        // Dropped outside any borrow: a task's destructor may wake another.
        while let Some(runnable) = self.pop() {
            drop(runnable);
        }
    }
}

/// A core as seen from its own thread.
pub(crate) struct Core {
    /// Process-unique, never 0.
    uid: NonZeroU64,
    shared: Arc<CoreShared>,
    runtime: Arc<RuntimeShared>,
    local: RunQueue,
    /// A waker for every task that has been polled and not yet dropped, so that
    /// shutdown can reach (and drop) tasks that sit idle in no queue.
    active: RefCell<Slab<Waker>>,
    /// Tasks polled at least once whose future is not dropped yet. Shutdown
    /// waits for it to reach 0, so no task's future outlives its core.
    polled_alive: Cell<usize>,
    /// Tasks that yielded this tick: woken once the reactor has been polled,
    /// so a task that keeps yielding cannot starve I/O.
    yielded: RefCell<Vec<Waker>>,
    /// `yielded` is not empty: the per-tick check without a borrow.
    any_yielded: Cell<bool>,
    reactor: Rc<Reactor>,
    timers: TimerDriver,
    closed: Cell<bool>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("index", &self.shared.index)
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(shared: Arc<CoreShared>, runtime: Arc<RuntimeShared>) -> Self {
        static NEXT_UID: AtomicU64 = AtomicU64::new(1);
        let reactor = Rc::new(Reactor::new(shared.poller.clone(), shared.notifier.clone()));
        Core {
            uid: NonZeroU64::new(NEXT_UID.fetch_add(1, Ordering::Relaxed))
                .expect("a u64 count from 1 never wraps"),
            shared,
            runtime,
            local: RunQueue::with_capacity(256),
            active: RefCell::new(Slab::new()),
            polled_alive: Cell::new(0),
            yielded: RefCell::new(Vec::new()),
            any_yielded: Cell::new(false),
            reactor,
            timers: TimerDriver::new(),
            closed: Cell::new(false),
        }
    }

    pub(crate) fn index(&self) -> usize {
        self.shared.index
    }

    pub(crate) fn uid(&self) -> NonZeroU64 {
        self.uid
    }

    pub(crate) fn shared(&self) -> &Arc<CoreShared> {
        &self.shared
    }

    pub(crate) fn runtime(&self) -> &Arc<RuntimeShared> {
        &self.runtime
    }

    pub(crate) fn timers(&self) -> &TimerDriver {
        &self.timers
    }

    pub(crate) fn reactor(&self) -> &Rc<Reactor> {
        &self.reactor
    }

    /// Queues a runnable of this core; called on this core's thread only.
    #[inline]
    pub(crate) fn push_local(&self, runnable: Runnable) {
        self.local.push(runnable);
    }

    /// Wakes `waker` at the end of this tick, after the reactor's poll
    /// (see [`yield_now`](crate::yield_now)).
    pub(crate) fn wake_after_io(&self, waker: &Waker) {
        self.yielded.borrow_mut().push(waker.clone());
        self.any_yielded.set(true);
    }

    pub(crate) fn defer(&self, work: Rc<dyn Deferred>) {
        self.reactor.defer(work);
    }

    fn run_deferred(&self) {
        self.reactor.run_deferred();
    }

    /// Called by a task on its first poll; [`unregister_active`] once its
    /// future is dropped, on this core (a polled future never leaves it).
    pub(crate) fn register_active(&self, waker: &Waker) -> usize {
        self.polled_alive.set(self.polled_alive.get() + 1);
        self.active.borrow_mut().insert(waker.clone())
    }

    pub(crate) fn unregister_active(&self, key: usize) {
        self.polled_alive.set(self.polled_alive.get() - 1);
        self.active.borrow_mut().try_remove(key);
    }

    /// Runs the event loop until `fut` completes, returning its output, or
    /// until the runtime is stopped, returning `None`.
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> Option<F::Output> {
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            core: self.shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        context::enter(self, || loop {
            if main.woken.load(Ordering::Relaxed) && main.woken.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return Some(out);
                }
            }
            if self.runtime.is_stopping() || self.closed.get() {
                return None;
            }
            self.tick(&main.woken);
        })
    }

    /// One turn of the loop: run ready tasks up to the budget, take what other
    /// threads sent, fire timers, then park or poll I/O.
    fn tick(&self, main_woken: &AtomicBool) {
        let mut polled = 0;
        while polled < TICK_BUDGET {
            let Some(runnable) = self.local.pop() else {
                break;
            };
            runnable.run();
            polled += 1;
            if self.reactor.has_deferred() {
                self.run_deferred();
            }
        }
        let stats = &self.shared.stats;
        stats.add_polled(polled as u64);
        self.run_deferred();

        let mut now = None;
        if let Some(next) = self.timers.next_tick() {
            let at = self.timers.now_tick();
            if next <= at {
                stats.add_timers_fired(self.timers.fire_expired_tick(at) as u64);
            }
            now = Some(at);
        }

        let idle = self.local.is_empty()
            && !self.reactor.has_deferred()
            && !main_woken.load(Ordering::Relaxed)
            && !self.any_yielded.get();
        // What other threads sent: an idle core looks once, in `park`,
        // after announcing that it parks (a look before would be a second
        // one each turn, and the usual answer is that nothing came).
        if idle {
            if self.park(main_woken, now) {
                stats.add_foreign_wakes(self.drain_remote() as u64);
            }
        } else {
            stats.add_foreign_wakes(self.drain_remote() as u64);
            if self.reactor.has_sources() {
                stats.add_io_events(self.reactor.poll(Some(Duration::ZERO)) as u64);
            }
        }
        if self.any_yielded.get() {
            self.wake_yielded();
        }
    }

    #[cold]
    fn wake_yielded(&self) {
        self.any_yielded.set(false);
        let yielded = std::mem::take(&mut *self.yielded.borrow_mut());
        for waker in yielded {
            waker.wake();
        }
    }

    fn drain_remote(&self) -> usize {
        // `is_empty` first: the usual answer, and cheaper than the unbounded
        // queue's `len`.
        if self.shared.remote.is_empty() {
            return 0;
        }
        // Take only what is there now, so a producer that never stops cannot
        // keep the core in this loop.
        let n = self.shared.remote.len();
        let mut moved = 0;
        while moved < n {
            match self.shared.remote.pop() {
                Ok(runnable) => self.local.push(runnable),
                Err(_) => break,
            }
            moved += 1;
        }
        moved
    }

    /// Blocks in the reactor until I/O, a timer, a notification or a wake of
    /// the main future. `now` is the clock as the tick read it, if it did
    /// ([`TimerDriver::now_tick`]): a moment ago, so the timeout it gives
    /// is a little longer than needed, never shorter (a timer is late by as
    /// much, never early).
    ///
    /// Returns whether the remote queue may hold work (it is then drained):
    /// `false` only after a wait that found it empty before it began (work
    /// pushed during the wait is found by the next turn's park).
    ///
    /// In line: a core that parks does so once per turn, with its wait
    /// and the sources' dispatch in line in it.
    #[inline(always)]
    fn park(&self, main_woken: &AtomicBool, now: Option<u64>) -> bool {
        if self.timers.clock().is_paused() && self.auto_advance(main_woken) {
            return true;
        }
        // In milliseconds, as the wait takes it (the timers tick in them).
        let timeout = self.timers.next_tick().map(|tick| {
            TimerDriver::millis_until(tick, now.unwrap_or_else(|| self.timers.now_tick()))
        });
        if timeout == Some(0) {
            if self.reactor.has_sources() {
                let events = self.reactor.poll(Some(Duration::ZERO));
                self.shared.stats.add_io_events(events as u64);
            }
            return true;
        }
        if !self.reactor.has_sources() && self.spin(main_woken, timeout.map(Duration::from_millis))
        {
            return true;
        }
        self.shared.parked.store(true, Ordering::SeqCst);
        // Pairs with the fence in `CoreShared::unpark`.
        fence(Ordering::SeqCst);
        let remote = !self.shared.remote.is_empty();
        let pending = remote || main_woken.load(Ordering::SeqCst) || self.runtime.is_stopping();
        if !pending {
            self.shared.stats.add_park();
            let timeout_ms = timeout.map_or(-1, |ms| ms.min(i32::MAX as u64) as i32);
            let events = self.reactor.poll_ms(timeout_ms);
            self.shared.stats.add_io_events(events as u64);
        }
        self.shared.parked.store(false, Ordering::SeqCst);
        remote
    }

    /// With the clock paused, an idle core moves it to the next timer
    /// instead of sleeping until then, as tokio's paused clock does: first
    /// it looks for I/O without waiting, and advances only if that and the
    /// other threads brought no work. Returns false without timers: the core
    /// then parks until I/O or a wake.
    #[cold]
    #[inline(never)]
    fn auto_advance(&self, main_woken: &AtomicBool) -> bool {
        let Some(deadline) = self.timers.next_deadline() else {
            return false;
        };
        if self.reactor.has_sources() {
            let events = self.reactor.poll(Some(Duration::ZERO));
            self.shared.stats.add_io_events(events as u64);
            if events > 0 {
                return true;
            }
        }
        let work = !self.local.is_empty()
            || self.reactor.has_deferred()
            || !self.shared.remote.is_empty()
            || main_woken.load(Ordering::SeqCst)
            || self.runtime.is_stopping();
        if !work {
            self.timers.clock().advance_to(deadline);
        }
        true
    }

    /// Watches for work from other threads for a short while before parking;
    /// returns true if some arrived.
    fn spin(&self, main_woken: &AtomicBool, timeout: Option<Duration>) -> bool {
        let mut spin = self.runtime.spin_before_park();
        if let Some(timeout) = timeout {
            spin = spin.min(timeout);
        }
        if spin.is_zero() {
            return false;
        }
        let start = Instant::now();
        loop {
            for _ in 0..64 {
                if !self.shared.remote.is_empty()
                    || main_woken.load(Ordering::Relaxed)
                    || self.runtime.is_stopping()
                {
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= spin {
                return false;
            }
        }
    }

    /// Drops every task of this core (running their destructors on this
    /// thread), closes the remote queue, and fails the I/O objects.
    ///
    /// The queue closes only once every polled task's future is dropped: a
    /// wake from another thread may have marked a task scheduled (so waking
    /// it here does nothing) and not pushed it yet. A closed queue would
    /// refuse that push, and the task, holding this core's poller and
    /// whatever its future owns, would leak. Tasks never polled may still
    /// be refused: their future holds only `Send` data and is dropped by
    /// the caller.
    pub(crate) fn shutdown(&self) {
        let first = !self.closed.replace(true);
        context::enter(self, || {
            if first {
                self.reactor.shutdown();
            }
            let mut stalled_since = None;
            loop {
                let idle = std::mem::take(&mut *self.active.borrow_mut());
                // Waking schedules each idle task on the local queue, where it
                // is dropped below.
                for (_, waker) in idle {
                    waker.wake();
                }
                let dropped = self.drop_queued();
                if self.polled_alive.get() == 0 {
                    break;
                }
                if dropped {
                    stalled_since = None;
                    continue;
                }
                // A wake is between marking its task scheduled and pushing
                // it: the push is a few instructions away.
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > SHUTDOWN_STALL {
                    log::error!(
                        "core {}: {} task(s) never came back to be dropped at shutdown; leaking them",
                        self.index(),
                        self.polled_alive.get()
                    );
                    break;
                }
                std::thread::yield_now();
            }
            if first {
                self.yielded.borrow_mut().clear();
                self.any_yielded.set(false);
                self.shared.remote.close();
                // Tasks spawned here from other threads before the close.
                self.drop_queued();
                self.timers.clear();
            }
            self.reactor.clear_deferred();
        });
    }

    /// Drops every runnable in the local and remote queues; whether there
    /// was one.
    fn drop_queued(&self) -> bool {
        let mut dropped = false;
        loop {
            let next = self.local.pop();
            match next {
                Some(runnable) => {
                    dropped = true;
                    drop(runnable);
                }
                None => break,
            }
        }
        while let Ok(runnable) = self.shared.remote.pop() {
            dropped = true;
            drop(runnable);
        }
        dropped
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Wakes the future passed to `block_on`, which is polled inline rather than
/// spawned (so it may borrow from the caller's stack).
struct MainWaker {
    woken: AtomicBool,
    core: Arc<CoreShared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.core.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runnable whose task records `n` in `log` when it runs.
    fn runnable(n: usize, log: &Rc<RefCell<Vec<usize>>>) -> Runnable {
        let log = log.clone();
        // SAFETY: the runnable is run and dropped on this thread, and its
        // schedule function (which drops a rescheduled runnable) is never
        // called from another.
        let (runnable, task) =
            unsafe { async_task::spawn_unchecked(async move { log.borrow_mut().push(n) }, drop) };
        task.detach();
        runnable
    }

    #[test]
    fn the_run_queue_keeps_order_across_a_grow_and_drops_what_is_left() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let queue = RunQueue::with_capacity(4);
        for n in 0..10 {
            queue.push(runnable(n, &log));
        }
        for _ in 0..3 {
            queue.pop().unwrap().run();
        }
        for n in 10..40 {
            queue.push(runnable(n, &log));
        }
        while let Some(runnable) = queue.pop() {
            runnable.run();
        }
        assert!(queue.is_empty());
        assert_eq!(*log.borrow(), (0..40).collect::<Vec<_>>());

        // Dropped with runnables in both halves (a batch partly run, and
        // pushes since): each task left is dropped, unrun.
        log.borrow_mut().clear();
        for n in 0..20 {
            queue.push(runnable(n, &log));
        }
        for _ in 0..5 {
            queue.pop().unwrap().run();
        }
        for n in 20..30 {
            queue.push(runnable(n, &log));
        }
        drop(queue);
        assert_eq!(*log.borrow(), (0..5).collect::<Vec<_>>());
        assert_eq!(Rc::strong_count(&log), 1, "a queued task was leaked");
    }
}
