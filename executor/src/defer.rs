//! Work deferred until the current task poll returns.

use std::rc::Rc;

use crate::context;

/// Work a core runs as soon as the task being polled returns `Pending` or
/// completes (and, for work deferred outside a task, at the end of the tick),
/// before it polls the next task.
///
/// This is how I/O types batch: a socket written to several times during one
/// poll of a task registers itself once and sends everything in one `writev`
/// right after, even if the task never calls `flush`. Running it after each
/// poll rather than after the whole batch of ready tasks sends each reply
/// without waiting for the other connections' tasks: more messages per
/// second on the echo benchmark, at the same syscalls per message
/// (`benches/RESULTS.md`).
pub trait Deferred {
    /// Called once per [`defer`] call, on the core that deferred it.
    fn run(self: Rc<Self>);
}

/// Runs `work` once the current task poll returns, on the current core.
///
/// Returns `false` (and drops `work`) outside a `runtime` core.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use runtime::{defer, Deferred};
///
/// struct Flush(Cell<u32>);
///
/// impl Deferred for Flush {
///     fn run(self: Rc<Self>) {
///         self.0.set(self.0.get() + 1);
///     }
/// }
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let flush = Rc::new(Flush(Cell::new(0)));
///     assert!(defer(flush.clone()));
///     assert_eq!(flush.0.get(), 0); // not yet: this poll is still running
///     runtime::yield_now().await;
///     assert_eq!(flush.0.get(), 1);
/// });
/// ```
pub fn defer(work: Rc<dyn Deferred>) -> bool {
    context::with_core(|core| core.defer(work)).is_some()
}
