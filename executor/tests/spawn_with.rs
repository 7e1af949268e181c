//! `spawn_with(make)`: a panic in `make` (which runs inside the spawn, where
//! `async_task` aborts on a panic) reaches the caller as a panic of the
//! spawn, frees the task, and leaves the core running; a panic in the
//! future's destructor is caught as for `spawn`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::pending;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use runtime_executor::Runtime;

/// Counts the bytes this thread holds, so a test running on core 0 (the
/// thread of `block_on`) sees its own allocations only.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: forwards to `System`, and only adds a thread-local counter
// (a `const` thread-local, which never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| live.set(live.get() + layout.size() as isize));
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get() - layout.size() as isize));
        // SAFETY: the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Counts its drop.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn rt() -> Runtime {
    Runtime::builder().cores(1).build().unwrap()
}

#[test]
fn a_panic_in_make_reaches_the_caller_and_frees_the_task() {
    // The default hook's message, kept by the test harness, would be
    // counted as held.
    std::panic::set_hook(Box::new(|_| {}));
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    rt().block_on(async move {
        // Warm up whatever the core allocates once (queues, slabs).
        for _ in 0..4 {
            runtime_executor::spawn_with(|| async {}).await.unwrap();
        }
        let before = live();
        let spawned_before = runtime_executor::stats().tasks_spawned;
        for _ in 0..100 {
            let captured = Counted(d.clone());
            let spawned = catch_unwind(AssertUnwindSafe(|| {
                runtime_executor::spawn_with(move || -> std::future::Ready<()> {
                    let _captured = captured;
                    panic!("boom in make");
                })
            }));
            let panic = spawned.expect_err("the panic in make reaches the caller");
            assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom in make"));
        }
        assert_eq!(
            runtime_executor::stats().tasks_spawned,
            spawned_before,
            "a spawn whose make panicked spawned no task"
        );
        // The core goes on running tasks, spawned either way.
        assert_eq!(runtime_executor::spawn(async { 7 }).await.unwrap(), 7);
        assert_eq!(
            runtime_executor::spawn_with(|| async { 8 }).await.unwrap(),
            8
        );
        let leaked = live() - before;
        // 100 tasks kept would hold 100 allocations of over 100 bytes each.
        assert!(
            leaked < 1024,
            "{leaked} bytes still held after 100 spawns whose make panicked"
        );
    });
    assert_eq!(drops.load(Ordering::SeqCst), 100);
}

/// Counts its drop, then panics.
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom in a destructor");
    }
}

#[test]
fn a_future_made_in_place_whose_destructor_panics() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let runtime = rt();
    runtime.block_on(async move {
        // Completed (its locals drop inside its last poll: a panic of
        // that poll), aborted while waiting, and never polled.
        let dd = d.clone();
        let done = runtime_executor::spawn_with(move || async move {
            let _p = PanicOnDrop(dd);
            3
        });
        assert!(done.await.unwrap_err().is_panic());
        let dd = d.clone();
        let waiting = runtime_executor::spawn_with(move || async move {
            let _p = PanicOnDrop(dd);
            pending::<()>().await
        });
        runtime_executor::yield_now().await;
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        let dd = d.clone();
        let unpolled = runtime_executor::spawn_with(move || {
            let p = PanicOnDrop(dd);
            async move {
                let _p = p;
            }
        });
        unpolled.abort();
        assert!(unpolled.await.unwrap_err().is_cancelled());
        // Left for the shutdown to drop.
        let dd = d.clone();
        drop(runtime_executor::spawn_with(move || async move {
            let _p = PanicOnDrop(dd);
            pending::<()>().await
        }));
        runtime_executor::yield_now().await;
        assert_eq!(runtime_executor::spawn(async { 9 }).await.unwrap(), 9);
    });
    drop(runtime);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}
