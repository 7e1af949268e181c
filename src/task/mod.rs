//! Tasks: spawning, awaiting, cancelling, and values scoped to a task.
//!
//! The names are tokio's. What differs follows from thread-per-core:
//!
//! - [`spawn`] runs the task on the current core, and its future need not be
//!   `Send` (tokio's `spawn_local`). It never moves to another core.
//! - [`spawn_on`] sends a `Send` closure to another core, where it builds
//!   the future (again `!Send` allowed). There is no work stealing: choosing
//!   the core is the caller's job.
//! - [`JoinHandle::abort_handle`] needs a `Send` output, since the handle may
//!   cancel from any thread; [`JoinHandle::abort`] works for every task.
//! - [`task_local!`](crate::task_local) values live in per-core thread-local
//!   storage, swapped in around each poll of the scoped future, as tokio's.
//!
//! # Examples
//!
//! ```
//! use runtime::task::{self, JoinSet};
//!
//! #[runtime::main]
//! async fn main() {
//!     let mut set = JoinSet::new();
//!     for i in 0..4u64 {
//!         set.spawn(async move {
//!             task::yield_now().await;
//!             i * i
//!         });
//!     }
//!     let blocking = task::spawn_blocking(|| 100u64);
//!     let mut sum = blocking.await.unwrap();
//!     while let Some(square) = set.join_next().await {
//!         sum += square.unwrap();
//!     }
//!     assert_eq!(sum, 100 + 14);
//! }
//! ```

mod join_set;
mod task_local;

pub use join_set::JoinSet;
/// tokio's name for [`spawn`]: every task here is local to its core, so
/// both names do the same. There is no `LocalSet`: none is needed.
pub use runtime_executor::spawn as spawn_local;
pub use runtime_executor::{
    spawn, spawn_blocking, spawn_on, yield_now, AbortHandle, JoinError, JoinHandle, YieldNow,
};
pub use task_local::{AccessError, LocalKey, TaskLocalFuture};

#[doc(inline)]
pub use crate::task_local;
