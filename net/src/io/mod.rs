//! The socket-I/O core both faces share: the async streams
//! ([`crate::stream`]) and the engine's connections ([`crate::engine`]) read
//! and send through these, so a fix or a fast path here serves both.
//!
//! - buffer sizes and the rings' storage policy (this file);
//! - [`inbound`]: one read into a connection's inbound ring;
//! - [`outbound`]: a connection's outbound ring, stored error and
//!   half-close, and the sends (a short path and the general one);
//! - [`send`]: one send of an outbound ring, with `MSG_NOSIGNAL`;
//! - [`linger`]: a closed connection's last sends, under its deadline;
//! - [`error`]: the errors a connection keeps and reports again.

mod error;
mod inbound;
mod linger;
mod outbound;
mod send;
#[cfg(feature = "tls")]
pub(crate) mod tls;

use crate::buffer::RingBuffer;

pub(crate) use error::{write_shut_down, StoredError};
pub(crate) use inbound::{read_into, Filled};
pub(crate) use linger::linger;
pub(crate) use outbound::Outbound;
pub(crate) use send::{send_ring, Sent, Transport};

/// Bytes asked of the kernel per read into the inbound ring.
pub(crate) const READ_CHUNK: usize = 16 * 1024;
/// Reads at least this large bypass the inbound ring.
pub(crate) const DIRECT_READ: usize = 16 * 1024;
/// Default bound of the inbound ring.
pub(crate) const DEFAULT_READ_BUFFER: usize = 64 * 1024;
/// Default bound of the outbound ring: the high watermark past which writes
/// wait for the peer.
pub(crate) const DEFAULT_WRITE_BUFFER: usize = 256 * 1024;

/// A ring that keeps its storage when it empties: the idle sweep
/// ([`crate::idle`]) gives it back once the stream stops being used.
pub(crate) fn kept_ring(max_capacity: usize) -> RingBuffer {
    let mut ring = RingBuffer::new(max_capacity);
    ring.set_release_when_empty(false);
    ring
}
