//! Byte buffers for sockets: a growable [`RingBuffer`] per direction and the
//! per-core [`BufferPool`] its storage comes from.
//!
//! Each socket owns an inbound and an outbound [`RingBuffer`]. Neither holds memory
//! until bytes arrive: storage is taken from this core's [`BufferPool`] on the
//! first write and handed back as soon as the buffer is empty again, so an idle
//! connection costs a few words, and a core's memory follows its busy connections,
//! not its open ones.
//!
//! # Examples
//!
//! ```
//! use runtime::net::buffer::{BufferPool, RingBuffer};
//!
//! let mut outbound = RingBuffer::new(64 * 1024);
//! assert_eq!(outbound.capacity(), 0); // idle: no storage
//!
//! outbound.write(b"HTTP/1.1 200 OK\r\n");
//! outbound.write(b"content-length: 0\r\n\r\n");
//! let (front, back) = outbound.as_slices(); // what a `writev` would send
//! assert_eq!(front.len() + back.len(), 38);
//!
//! outbound.discard(38); // `writev` sent everything
//! assert_eq!(outbound.capacity(), 0); // storage went back to the pool
//! assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 4096);
//! ```

// The buffers are plain safe Rust except `storage`, which holds a ring's bytes
// by a thin pointer: measured, 16 bytes less per connection on both faces
// (`benches/idle_memory.sh`). Keep any other `unsafe` out unless a measurement
// says otherwise, and run miri after touching `storage`.
#![deny(unsafe_code)]

mod pool;
mod ring;
mod storage;

pub use pool::BufferPool;
pub use ring::RingBuffer;
