//! `spawn_blocking`: run blocking code off the cores.
//!
//! The pool is smol's `blocking` crate: shared by every core, grown lazily up
//! to a bound (`BLOCKING_MAX_THREADS`, default 500), idle threads retiring on
//! their own. It plays the role of gnet's goroutine pool.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::task::{Caught, JoinHandle};

/// Runs `f` on the shared blocking thread pool and returns a handle to await
/// its result from any core.
///
/// A panic in `f` is caught and reported through the handle. Dropping the
/// handle detaches the work; [`JoinHandle::abort`] only prevents it from
/// starting.
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// let len = rt.block_on(async {
///     runtime::spawn_blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()))
///         .await
///         .unwrap()
/// });
/// assert!(len.unwrap() > 0);
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let task = ::blocking::unblock(move || catch_unwind(AssertUnwindSafe(f)).map(Caught::new));
    JoinHandle::new(task.fallible())
}
