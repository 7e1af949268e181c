//! Work deferred to the end of the current tick.

use std::rc::Rc;

use crate::context;

/// Work a core runs at the end of the current tick: after the batch of ready
/// tasks, before it polls I/O or parks.
///
/// This is how I/O types batch: a socket that was written to several times
/// during one tick registers itself once and sends everything in one
/// `writev` when the tick ends, even if no task ever calls `flush`.
pub trait EndOfTick {
    /// Called once per [`defer`] call, on the core that deferred it.
    fn end_of_tick(self: Rc<Self>);
}

/// Runs `work` at the end of the current tick of the current core.
///
/// Returns `false` (and drops `work`) outside a `runtime` core.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use runtime_executor::{defer, EndOfTick};
///
/// struct Flush(Cell<u32>);
///
/// impl EndOfTick for Flush {
///     fn end_of_tick(self: Rc<Self>) {
///         self.0.set(self.0.get() + 1);
///     }
/// }
///
/// let rt = runtime_executor::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let flush = Rc::new(Flush(Cell::new(0)));
///     assert!(defer(flush.clone()));
///     assert_eq!(flush.0.get(), 0); // not yet: the tick is still running
///     runtime_executor::yield_now().await;
///     assert_eq!(flush.0.get(), 1);
/// });
/// ```
pub fn defer(work: Rc<dyn EndOfTick>) -> bool {
    context::with_core(|core| core.defer(work)).is_some()
}
