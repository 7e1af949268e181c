//! Synchronization between tasks, with tokio's names.
//!
//! Everything at this level works **across cores** (and with plain
//! threads): the types are `Send + Sync` when their contents are, and cost
//! atomic operations. For state that stays on one core, [`local`] has
//! channels without atomics or locks; a `RefCell` or `Cell` in an `Rc`
//! replaces a mutex there, since a core's tasks never run at the same time.
//!
//! | tokio | here | from |
//! |---|---|---|
//! | `Mutex`, `RwLock`, `Barrier`, `OnceCell` | [`Mutex`], [`RwLock`], [`Barrier`], [`OnceCell`] | [`async-lock`](https://docs.rs/async-lock) |
//! | `Semaphore` | [`Semaphore`] | `async-lock`, with tokio's `Result`s and `close` |
//! | `Notify` | [`Notify`] | [`event-listener`](https://docs.rs/event-listener) |
//! | `mpsc`, `oneshot` | [`mpsc`], [`oneshot`] | the executor's channels ([`async-channel`](https://docs.rs/async-channel)) |
//! | `broadcast` | [`broadcast`] | [`async-broadcast`](https://docs.rs/async-broadcast) in overflow mode |
//! | `watch` | [`watch`] | written here, on a lock and `event-listener` |
//!
//! Where a method of the lock types differs from tokio's, the difference is
//! small and said on the type: `try_lock` gives an `Option` (tokio: a
//! `Result`), `lock_arc` is tokio's `lock_owned`, `OnceCell::set` is `async`.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use runtime::sync::{mpsc, Mutex};
//!
//! let rt = runtime::Runtime::builder().cores(2).build().unwrap();
//! rt.block_on(async {
//!     let total = Arc::new(Mutex::new(0u64));
//!     let (done, mut finished) = mpsc::channel(2);
//!     for core in 0..2 {
//!         let (total, done) = (total.clone(), done.clone());
//!         runtime::spawn_on(core, move || async move {
//!             *total.lock().await += 10;
//!             done.send(core).await.unwrap();
//!         });
//!     }
//!     finished.recv().await;
//!     finished.recv().await;
//!     assert_eq!(*total.lock().await, 20);
//! });
//! ```

pub mod broadcast;
mod notify;
mod semaphore;
pub mod watch;

pub use notify::{Notified, Notify};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};

/// An async mutex ([`async_lock::Mutex`]), fair under contention: a task that
/// has waited a while gets the lock before newcomers.
///
/// Differences from tokio's: [`try_lock`](async_lock::Mutex::try_lock)
/// returns an `Option`; [`lock_arc`](async_lock::Mutex::lock_arc) (on an
/// `Arc<Mutex>`) is `lock_owned`; `blocking_lock` is `lock_blocking`.
///
/// # Examples
///
/// ```
/// use runtime::sync::Mutex;
///
/// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// let m = Mutex::new(1);
/// *m.lock().await += 1;
/// assert_eq!(*m.try_lock().unwrap(), 2);
/// # });
/// ```
pub type Mutex<T> = async_lock::Mutex<T>;

/// The guard of a locked [`Mutex`].
pub type MutexGuard<'a, T> = async_lock::MutexGuard<'a, T>;

/// The guard of a [`Mutex`] locked through an `Arc` (tokio's
/// `OwnedMutexGuard`).
pub type OwnedMutexGuard<T> = async_lock::MutexGuardArc<T>;

/// An async reader-writer lock ([`async_lock::RwLock`]); a waiting writer
/// keeps new readers out, so writers are not starved.
///
/// Differences from tokio's: `try_read`/`try_write` return an `Option`;
/// `read_arc`/`write_arc` are `read_owned`/`write_owned`.
///
/// # Examples
///
/// ```
/// use runtime::sync::RwLock;
///
/// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// let lock = RwLock::new(vec![1]);
/// {
///     let (a, b) = (lock.read().await, lock.read().await);
///     assert_eq!(a.len() + b.len(), 2);
/// }
/// lock.write().await.push(2);
/// assert_eq!(*lock.read().await, [1, 2]);
/// # });
/// ```
pub type RwLock<T> = async_lock::RwLock<T>;

/// Shared read access to a [`RwLock`].
pub type RwLockReadGuard<'a, T> = async_lock::RwLockReadGuard<'a, T>;

/// Exclusive write access to a [`RwLock`].
pub type RwLockWriteGuard<'a, T> = async_lock::RwLockWriteGuard<'a, T>;

/// Makes `n` tasks wait for each other ([`async_lock::Barrier`]), as
/// tokio's: the last to arrive releases all, and one of them is the leader.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use runtime::sync::Barrier;
///
/// #[runtime::main]
/// async fn main() {
///     let barrier = Arc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             runtime::spawn(async move { barrier.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for task in tasks {
///         leaders += task.await.unwrap() as u32;
///     }
///     assert_eq!(leaders, 1);
/// }
/// ```
pub type Barrier = async_lock::Barrier;

/// What [`Barrier::wait`](async_lock::Barrier::wait) returns.
pub type BarrierWaitResult = async_lock::BarrierWaitResult;

/// A cell written once, possibly by an async initializer
/// ([`async_lock::OnceCell`]). Concurrent callers of `get_or_init` wait for
/// the one that runs the initializer.
///
/// Differences from tokio's: `set` is `async` and returns `Result<&T, T>`;
/// `initialized` is `is_initialized`.
///
/// # Examples
///
/// ```
/// use runtime::sync::OnceCell;
///
/// static CONFIG: OnceCell<String> = OnceCell::new();
///
/// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// let v = CONFIG.get_or_init(|| async { "loaded".to_string() }).await;
/// assert_eq!(v, "loaded");
/// assert_eq!(CONFIG.get().map(String::as_str), Some("loaded"));
/// # });
/// ```
pub type OnceCell<T> = async_lock::OnceCell<T>;

/// One value from one task to another, across cores; tokio's names
/// (the executor's [`channel::oneshot`](crate::channel::oneshot)).
///
/// # Examples
///
/// ```
/// use runtime::sync::oneshot;
///
/// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// let (tx, rx) = oneshot::channel();
/// std::thread::spawn(move || tx.send(7).unwrap());
/// assert_eq!(rx.await, Ok(7));
/// # });
/// ```
pub mod oneshot {
    pub use runtime_executor::channel::oneshot::*;

    /// The channel's errors, where tokio keeps them.
    pub mod error {
        pub use runtime_executor::channel::{RecvError, TryRecvError};
    }
}

/// Multi-producer, single-consumer queues across cores; tokio's names (the
/// executor's [`channel::mpsc`](crate::channel::mpsc)).
///
/// # Examples
///
/// ```
/// use runtime::sync::mpsc;
///
/// #[runtime::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::unbounded_channel();
///     runtime::spawn_on(0, move || async move {
///         for i in 0..3 {
///             tx.send(i).unwrap();
///         }
///     });
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     assert_eq!(got, [0, 1, 2]);
/// }
/// ```
pub mod mpsc {
    pub use runtime_executor::channel::mpsc::*;

    /// The channel's errors, where tokio keeps them.
    pub mod error {
        pub use runtime_executor::channel::{SendError, TryRecvError, TrySendError};
    }
}

/// Channels for tasks of **one core**: no atomics, no locks, `!Send`
/// types the compiler keeps on their core. The same module as
/// [`channel::local`](crate::channel::local).
///
/// # Examples
///
/// ```
/// use runtime::sync::local::mpsc;
///
/// #[runtime::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::channel(4);
///     runtime::spawn(async move { tx.send(std::rc::Rc::new(5)).await.unwrap() });
///     assert_eq!(*rx.recv().await.unwrap(), 5);
/// }
/// ```
pub mod local {
    pub use runtime_executor::channel::local::*;
}
