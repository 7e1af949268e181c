//! Which core, if any, the current thread is running.

use std::cell::Cell;
use std::ptr;

use crate::core::Core;
use crate::time::driver::TimerDriver;

thread_local! {
    /// The core this thread runs, while it runs one (see [`enter`]).
    /// Const-initialized and without a destructor, so an access is one
    /// thread-local load: every wake of a task reads it.
    static CORE: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with `core` as the current thread's core, then restores the
/// previous one (also when `f` panics).
pub(crate) fn enter<R>(core: &Core, f: impl FnOnce() -> R) -> R {
    struct Restore(*const Core);
    impl Drop for Restore {
        fn drop(&mut self) {
            CORE.with(|current| current.set(self.0));
        }
    }
    let _restore = Restore(CORE.with(|current| current.replace(core)));
    f()
}

/// Runs `f` on the current thread's core, or returns `None` outside any core.
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let core = CORE.with(Cell::get);
    if core.is_null() {
        return None;
    }
    // SAFETY: a non-null pointer was set by `enter` from a `&Core` that
    // outlives the call of `enter`'s closure, and `enter` puts the previous
    // value back before that borrow ends, so `core` is live for this call.
    Some(f(unsafe { &*core }))
}

/// Runs `f` with `value` on the current thread's core, or gives `value`
/// back outside any core.
#[inline(always)]
pub(crate) fn with_core_or<T, R>(value: T, f: impl FnOnce(&Core, T) -> R) -> Result<R, T> {
    let core = CORE.with(Cell::get);
    if core.is_null() {
        return Err(value);
    }
    // SAFETY: as in `with_core`.
    Ok(f(unsafe { &*core }, value))
}

/// Runs `f` on the current core's timers, or returns `None` outside any core.
#[inline]
pub(crate) fn with_timers<R>(f: impl FnOnce(&TimerDriver) -> R) -> Option<R> {
    with_core(|core| f(core.timers()))
}

/// A process-unique id of the core running on this thread.
#[inline]
pub(crate) fn core_uid() -> Option<u64> {
    with_core(|core| core.uid().get())
}

/// The index of the core running the current task.
///
/// # Panics
///
/// Panics when called outside a `runtime` core; see [`try_current_core`].
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// assert_eq!(rt.block_on(async { runtime::current_core() }), 0);
/// ```
pub fn current_core() -> usize {
    try_current_core().expect("`current_core` called outside of a `runtime` core")
}

/// The index of the core running the current task, or `None` outside any core.
pub fn try_current_core() -> Option<usize> {
    with_core(|core| core.index())
}
