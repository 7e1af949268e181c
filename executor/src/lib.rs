//! The thread-per-core executor under `runtime`.
//!
//! One OS thread per core. Each core owns a local run queue, a
//! [`polling::Poller`] reactor, a timer wheel and the tasks spawned on it; tasks
//! are never stolen, so they may be `!Send`. The only cross-core traffic is
//! explicit: [`spawn_on`], the cross-core [`channel`]s, and wakers fired on
//! another thread, which route the task back to its owner through a lock-free
//! remote queue and at most one [`Poller::notify`](polling::Poller::notify).
//!
//! # Examples
//!
//! ```
//! use runtime::Runtime;
//!
//! let rt = Runtime::builder().cores(2).build().unwrap();
//! let per_core = rt.run_on_all_cores(|| async {
//!     let task = runtime::spawn(async { 20 + 1 });
//!     task.await.unwrap() * 2
//! });
//! assert_eq!(per_core, vec![42, 42]);
//!
//! let on_core_one = rt.block_on(async {
//!     runtime::spawn_on(1, || async { runtime::current_core() })
//!         .await
//!         .unwrap()
//! });
//! assert_eq!(on_core_one, 1);
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod async_fd;
mod blocking;
pub mod channel;
mod context;
mod core;
mod defer;
mod reactor;
mod runtime;
pub mod signal;
mod stats;
mod sys;
mod task;
pub mod time;
mod wait;

pub use crate::async_fd::AsyncFd;
pub use crate::blocking::spawn_blocking;
pub use crate::context::{current_core, try_current_core};
pub use crate::defer::{defer, Deferred};
pub use crate::reactor::OnReady;
pub use crate::runtime::{Builder, Handle, Runtime};
pub use crate::stats::{stats, CoreStats};
pub use crate::task::{
    spawn, spawn_on, spawn_with, yield_now, AbortHandle, JoinError, JoinHandle, YieldNow,
};
