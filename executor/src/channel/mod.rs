//! Channels for passing values between tasks.
//!
//! Two families share one API (tokio's names) and one set of errors:
//!
//! - [`local::mpsc`] and [`local::oneshot`] connect tasks on **the same
//!   core**. Their state is an `Rc<RefCell<..>>`, with no atomics and no
//!   locks, and their types are `!Send`, so the compiler keeps them on the
//!   core that made them. Use them by default: a connection's tasks, a
//!   per-core cache and its clients, fan-in within one core.
//! - [`mpsc`] and [`oneshot`] connect tasks on **different cores** (or a
//!   plain thread and a task). They are `Send + Sync` when `T: Send`, and
//!   cost atomic operations on every message. Use them where a value
//!   really has to move: handing work to another core, or results back.
//!
//! Either way the receiving task needs no help from the sender's core: its
//! waker, woken from any thread, puts the task on its own core's remote queue.
//!
//! Bounded channels ([`mpsc::channel`], [`local::mpsc::channel`]) make
//! `send().await` wait while the buffer is full, which slows a fast producer
//! down to its consumer's pace. The unbounded ones never wait and so let
//! memory grow without limit; prefer bounded.
//!
//! # Examples
//!
//! A task hands a job to another core and waits for the answer:
//!
//! ```
//! use runtime::channel::{mpsc, oneshot};
//!
//! let (jobs, mut queue) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(64);
//! let worker = std::thread::spawn(move || {
//!     futures_lite::future::block_on(async {
//!         while let Some((n, reply)) = queue.recv().await {
//!             let _ = reply.send(n * n);
//!         }
//!     })
//! });
//! futures_lite::future::block_on(async {
//!     let (reply, answer) = oneshot::channel();
//!     jobs.send((12, reply)).await.unwrap();
//!     assert_eq!(answer.await, Ok(144));
//! });
//! drop(jobs);
//! worker.join().unwrap();
//! ```

#[cfg(test)]
mod counting_waker;
mod error;
pub mod local;
pub mod mpsc;
pub mod oneshot;

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
