//! `runtime`: a thread-per-core async runtime for network servers.
//!
//! One OS thread per core, each with its own executor, `polling` reactor and
//! timer wheel; tasks never move between cores, so they may be `!Send`. Work
//! crosses cores only when you say so: [`spawn_on`], the cross-core
//! [`channel`]s, or a waker fired on another thread.
//!
//! What a tokio program reaches for is here under tokio's names:
//! [`io`] (the read/write traits and their extension methods,
//! `copy_bidirectional`), [`task`] (`spawn`, `JoinSet`, `AbortHandle`,
//! `task_local!`), [`sync`] (`Mutex`, `Semaphore`, `Notify`, `watch`,
//! `broadcast`, ...), [`time`], [`net`], and the macros [`select!`],
//! [`join!`], [`try_join!`] and [`pin!`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! #[runtime::main(cores = 2)]
//! async fn main() {
//!     let core = runtime::current_core();
//!     let task = runtime::spawn(async move {
//!         runtime::time::sleep(Duration::from_millis(1)).await;
//!         core * 10
//!     });
//!     assert_eq!(task.await.unwrap(), core * 10);
//! }
//! ```
//!
//! Without the macro:
//!
//! ```
//! let rt = runtime::Runtime::builder().cores(2).build().unwrap();
//! let cores = rt.run_on_all_cores(|| async { runtime::current_core() });
//! assert_eq!(cores, vec![0, 1]);
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod macros;
mod main_output;

pub mod io;
pub mod sync;
pub mod task;

pub use runtime_executor::{
    channel, current_core, signal, spawn, spawn_blocking, spawn_on, stats, time, try_current_core,
    yield_now, AsyncFd, Builder, CoreStats, Handle, JoinError, JoinHandle, Runtime, YieldNow,
};
pub use runtime_macros::{main, test};

/// Frame codecs: turn byte streams into frames and back.
pub use runtime_codec as codec;

/// Sockets over per-core ring buffers: TCP, UDP, Unix, and `serve`.
pub use runtime_net as net;

#[doc(hidden)]
pub mod __private {
    pub use crate::macros::select_start;
    pub use crate::main_output::MainOutput;
}
