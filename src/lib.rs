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
//! #[runtime::main(cores = 2)] // the body runs once, on core 0
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let task = runtime::spawn(async {
//!         // A local task: it may hold `Rc`s and `RefCell` borrows.
//!         runtime::time::sleep(Duration::from_millis(1)).await;
//!         runtime::current_core()
//!     });
//!     assert_eq!(task.await?, 0);
//!     // Core 1 serves what is sent to it.
//!     assert_eq!(runtime::spawn_on(1, || async { runtime::current_core() }).await?, 1);
//!     Ok(())
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
    channel, current_core, defer, signal, spawn, spawn_blocking, spawn_on, stats, time,
    try_current_core, yield_now, AsyncFd, Builder, CoreStats, Deferred, Handle, JoinError,
    JoinHandle, OnReady, Runtime, YieldNow,
};
pub use runtime_macros::{main, test};

/// Frame codecs: turn byte streams into frames and back.
///
/// `runtime-codec`'s items, re-exported by a glob in a module of this crate
/// (not `pub use runtime_codec as codec`), so that the compiler names them
/// `runtime::codec::LinesCodec` in its messages, as the user writes them.
pub mod codec {
    #[doc(inline)]
    pub use runtime_codec::*;
}

/// Sockets over per-core ring buffers: TCP, UDP, Unix, and `serve`.
///
/// `runtime-net`'s items, re-exported by a glob in a module of this crate,
/// so that compiler messages name `runtime::net::TcpStream` rather than
/// `runtime::runtime_net::TcpStream`.
pub mod net {
    #[doc(inline)]
    pub use runtime_net::*;
}

#[doc(hidden)]
pub mod __private {
    pub use crate::macros::select_start;
    pub use crate::main_output::MainOutput;
}
