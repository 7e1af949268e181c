//! Giving the ring storage of idle streams back to the pool.
//!
//! A busy stream keeps its empty ring storage from one message to the next.
//! Giving it back to the pool each time the ring empties and taking it again
//! for the next message was a large share of an echoed message's cost
//! (`benches/instructions.sh`). Instead, a stream whose rings
//! are empty but still hold storage registers here. Every [`PERIOD`], a
//! sweeper task on the core asks each registered stream whether it was used
//! since the last sweep, and one that was not gives its storage back. So an
//! idle stream holds ring memory for at most two periods, and a stream that
//! never received or sent a byte holds none at all.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use slab::Slab;

use crate::buffer::BufferPool;

/// How often each core sweeps.
pub(crate) const PERIOD: Duration = Duration::from_millis(500);

/// Bytes of ring storage a core hands back to the allocator before it asks
/// the allocator to return its free pages to the OS.
const TRIM_AFTER: usize = 1024 * 1024;

/// Free ring storage a quiet core's pool keeps per size class.
const IDLE_POOL_KEEP: usize = 64 * 1024;

/// A trim is running on the blocking pool (one at a time, process-wide:
/// it walks every core's heap).
static TRIMMING: AtomicBool = AtomicBool::new(false);

/// A stream the sweeper watches.
pub(crate) trait Sweep {
    /// Called once per period. Returns `true` to stay watched. Returning
    /// `false` means the stream has given back what it could, and has
    /// forgotten its key: the sweeper removes the entry.
    fn sweep(&self) -> bool;
}

/// A stream's standing with the sweeper, kept the same way by both faces
/// (the async stream's write side and the engine's connection): whether
/// it moved bytes since the last sweep, and where it is watched. Eight
/// bytes; dropping it stops the watch.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// The stream's slab key plus one; 0 while not watched.
    key: Cell<u32>,
    /// Bytes moved through the stream's rings since the last sweep.
    used: Cell<bool>,
}

impl Watch {
    /// Bytes moved: the next sweep leaves the stream's storage alone.
    #[inline]
    pub(crate) fn touch(&self) {
        self.used.set(true);
    }

    /// The sweeper watches the stream: its storage goes back once idle.
    #[inline]
    pub(crate) fn is_watched(&self) -> bool {
        self.key.get() != 0
    }

    /// Has the sweeper watch `stream` (whose `Watch` this is), if it does
    /// not already; outside a core nothing is watched.
    #[inline]
    pub(crate) fn watch(&self, stream: impl FnOnce() -> Weak<dyn Sweep>) {
        if !self.is_watched() {
            self.register(stream());
        }
    }

    #[cold]
    fn register(&self, stream: Weak<dyn Sweep>) {
        if let Some(key) = watch(stream) {
            self.key.set(key);
        }
    }

    /// For [`Sweep::sweep`]: `true` if the stream moved bytes since the
    /// last sweep (and so stays watched, its storage kept); else the
    /// stream is to give its storage back, and is forgotten here, since
    /// the sweeper drops the entry when `sweep` returns `false`.
    pub(crate) fn sweep_was_used(&self) -> bool {
        if self.used.replace(false) {
            return true;
        }
        self.key.set(0);
        false
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(key) = self.key.get().checked_sub(1) {
            remove(key as usize);
        }
    }
}

#[derive(Default)]
struct Watched {
    streams: RefCell<Slab<Weak<dyn Sweep>>>,
    sweeping: Cell<bool>,
}

thread_local! {
    static WATCHED: Watched = Watched::default();
}

/// Watches `stream` from now on, and starts this core's sweeper if needed.
/// Returns its key plus one, or `None` outside a core (or during thread
/// teardown, or past 4 billion watched streams), where nothing is watched.
fn watch(stream: Weak<dyn Sweep>) -> Option<u32> {
    runtime_executor::try_current_core()?;
    WATCHED
        .try_with(|watched| {
            let mut streams = watched.streams.borrow_mut();
            let key = u32::try_from(streams.vacant_key()).ok()?.checked_add(1)?;
            streams.insert(stream);
            drop(streams);
            if !watched.sweeping.replace(true) {
                drop(runtime_executor::spawn(sweeper(Sweeping)));
            }
            Some(key)
        })
        .ok()
        .flatten()
}

fn remove(key: usize) {
    let _ = WATCHED.try_with(|watched| {
        if let Ok(mut streams) = watched.streams.try_borrow_mut() {
            streams.try_remove(key);
        }
    });
}

/// Clears the core's "sweeper running" flag when the sweeper ends, also
/// when its core stops and drops it, polled or not (an argument of an
/// `async fn` lives in the future from the call on).
struct Sweeping;

impl Drop for Sweeping {
    fn drop(&mut self) {
        let _ = WATCHED.try_with(|watched| watched.sweeping.set(false));
    }
}

/// Sweeps every period while some stream is watched.
async fn sweeper(_running: Sweeping) {
    loop {
        runtime_executor::time::sleep(PERIOD).await;
        // Upgraded first, so no stream runs (or drops) while the slab is
        // borrowed.
        let streams: Vec<(usize, Option<Rc<dyn Sweep>>)> = WATCHED.with(|watched| {
            let streams = watched.streams.borrow();
            streams.iter().map(|(key, s)| (key, s.upgrade())).collect()
        });
        for (key, stream) in streams {
            // A stream unwatches itself when dropped; `None` is a safety net.
            if !stream.is_some_and(|stream| stream.sweep()) {
                remove(key);
            }
        }
        // The readers the sweep woke give their storage back when they run:
        // they were scheduled first.
        runtime_executor::yield_now().await;
        let busy = release_to_os();
        if !busy && WATCHED.with(|watched| watched.streams.borrow().is_empty()) {
            return;
        }
    }
}

thread_local! {
    /// Bytes this core's pool has freed since its last trim.
    static UNTRIMMED: Cell<usize> = const { Cell::new(0) };
}

/// Once this core's pool has freed enough storage, has the allocator give
/// its free pages back to the OS, off the core. Without it, storage an idle
/// connection gave back stays resident (see [`crate::sys::release_free_memory`]).
///
/// Returns whether the sweeper has more to do here: storage was freed this
/// period (readers the sweep woke give theirs back over the next turns), or
/// a trim is due and waits for the one running.
fn release_to_os() -> bool {
    let fresh = BufferPool::with_local(|pool| {
        pool.shrink_if_unused(IDLE_POOL_KEEP);
        pool.take_freed_bytes()
    });
    let untrimmed = UNTRIMMED.with(Cell::get) + fresh;
    if untrimmed < TRIM_AFTER || TRIMMING.swap(true, Ordering::AcqRel) {
        // Not yet, or another core's trim runs: keep the count.
        UNTRIMMED.with(|u| u.set(untrimmed));
        return fresh > 0 || untrimmed >= TRIM_AFTER;
    }
    UNTRIMMED.with(|u| u.set(0));
    log::trace!("idle sweeps freed {untrimmed} bytes of ring storage; trimming the heap");
    drop(runtime_executor::spawn_blocking(|| {
        crate::sys::release_free_memory();
        TRIMMING.store(false, Ordering::Release);
    }));
    true
}
