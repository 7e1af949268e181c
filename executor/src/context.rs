//! Which core, if any, the current thread is running.

use crate::core::Core;
use crate::time::driver::TimerDriver;

scoped_tls::scoped_thread_local!(static CORE: Core);

/// Runs `f` with `core` as the current thread's core.
pub(crate) fn enter<R>(core: &Core, f: impl FnOnce() -> R) -> R {
    CORE.set(core, f)
}

/// Runs `f` on the current thread's core, or returns `None` outside any core.
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    if CORE.is_set() {
        Some(CORE.with(f))
    } else {
        None
    }
}

/// Runs `f` on the current core's timers, or returns `None` outside any core.
#[inline]
pub(crate) fn with_timers<R>(f: impl FnOnce(&TimerDriver) -> R) -> Option<R> {
    with_core(|core| f(core.timers()))
}

/// A process-unique id of the core running on this thread.
#[inline]
pub(crate) fn core_uid() -> Option<u64> {
    with_core(|core| core.uid())
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
/// let rt = runtime_executor::Runtime::builder().cores(1).build().unwrap();
/// assert_eq!(rt.block_on(async { runtime_executor::current_core() }), 0);
/// ```
pub fn current_core() -> usize {
    try_current_core().expect("`current_core` called outside of a `runtime` core")
}

/// The index of the core running the current task, or `None` outside any core.
pub fn try_current_core() -> Option<usize> {
    with_core(|core| core.index())
}
