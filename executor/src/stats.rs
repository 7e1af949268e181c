//! Per-core counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of one core's counters since the runtime started.
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// let stats = rt.block_on(async {
///     runtime::spawn(async {}).await.unwrap();
///     runtime::stats()
/// });
/// assert_eq!(stats.core, 0);
/// assert!(stats.tasks_spawned >= 1);
/// assert!(stats.tasks_polled >= 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoreStats {
    /// The core these figures belong to.
    pub core: usize,
    /// Tasks spawned onto this core (locally or from other cores).
    pub tasks_spawned: u64,
    /// Task polls run by this core.
    pub tasks_polled: u64,
    /// Runnables received through the remote queue: wakes and spawns from
    /// other threads.
    pub foreign_wakes: u64,
    /// Times the core blocked in the reactor because nothing was runnable.
    pub parks: u64,
    /// I/O readiness events delivered by the reactor.
    pub io_events: u64,
    /// Timers that expired and woke their task.
    pub timers_fired: u64,
    /// Times another thread interrupted this core's wait (an eventfd write
    /// each, on Linux). A wake finds the core parked, or about to park, at
    /// most once per park: wakes while it runs, or after one already
    /// interrupted it, cost no syscall.
    pub notifies: u64,
}

/// The counters of one core, written by that core and readable from any
/// thread.
#[derive(Debug, Default)]
pub(crate) struct SharedStats {
    tasks_spawned: AtomicU64,
    tasks_polled: AtomicU64,
    foreign_wakes: AtomicU64,
    parks: AtomicU64,
    io_events: AtomicU64,
    timers_fired: AtomicU64,
    notifies: AtomicU64,
}

/// Adds to a counter that only its core writes: a plain load and store, no
/// locked instruction on the hot path.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    if n != 0 {
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }
}

impl SharedStats {
    pub(crate) fn add_spawned(&self) {
        // Spawns may come from other threads (`spawn_on`): a real RMW.
        self.tasks_spawned.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_polled(&self, n: u64) {
        bump(&self.tasks_polled, n);
    }

    pub(crate) fn add_foreign_wakes(&self, n: u64) {
        bump(&self.foreign_wakes, n);
    }

    pub(crate) fn add_park(&self) {
        bump(&self.parks, 1);
    }

    pub(crate) fn add_io_events(&self, n: u64) {
        bump(&self.io_events, n);
    }

    pub(crate) fn add_timers_fired(&self, n: u64) {
        bump(&self.timers_fired, n);
    }

    pub(crate) fn add_notify(&self) {
        // From other threads: a real RMW.
        self.notifies.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, core: usize) -> CoreStats {
        CoreStats {
            core,
            tasks_spawned: self.tasks_spawned.load(Relaxed),
            tasks_polled: self.tasks_polled.load(Relaxed),
            foreign_wakes: self.foreign_wakes.load(Relaxed),
            parks: self.parks.load(Relaxed),
            io_events: self.io_events.load(Relaxed),
            timers_fired: self.timers_fired.load(Relaxed),
            notifies: self.notifies.load(Relaxed),
        }
    }
}

/// The counters of the core running the current task.
///
/// Other cores' counters are read through [`Handle::stats`](crate::Handle::stats).
///
/// # Panics
///
/// Panics when called outside a `runtime` core.
pub fn stats() -> CoreStats {
    crate::context::with_core(|core| core.shared().stats.snapshot(core.index()))
        .expect("`stats` called outside of a `runtime` core")
}
