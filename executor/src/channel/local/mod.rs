//! Channels between tasks on the same core.
//!
//! These channels keep their state in `Rc<RefCell<..>>`: no atomics, no
//! locks, no cross-core traffic. Their types are neither `Send` nor `Sync`,
//! so the compiler stops them from leaving the core they were made on. Use
//! [`crate::channel::mpsc`] and [`crate::channel::oneshot`] to reach another
//! core.
//!
//! ```compile_fail
//! use runtime::channel::local::mpsc;
//!
//! fn assert_send<T: Send>(_: T) {}
//! let (tx, _rx) = mpsc::channel::<u32>(1);
//! assert_send(tx); // error: `Rc<..>` cannot be sent between threads
//! ```

pub mod mpsc;
pub mod oneshot;
