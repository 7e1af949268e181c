//! Sockets for `runtime`: TCP, UDP and Unix sockets over per-core ring
//! buffers, with one `SO_REUSEPORT` listener per core.
//!
//! Work in progress: this crate holds the ring buffers so far.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod buffer;
