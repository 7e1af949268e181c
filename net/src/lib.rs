//! Sockets for `runtime`: TCP, UDP and Unix sockets over per-core ring
//! buffers, with one `SO_REUSEPORT` listener per core.
//!
//! Work in progress: TCP, UDP, Unix streams and the ring buffers so far;
//! Unix datagrams and `serve` come next.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod addr;
pub mod buffer;
mod split;
mod stream;
mod sys;
pub mod tcp;
mod udp;
pub mod unix;

pub use addr::ToSocketAddrs;
pub use socket2::TcpKeepalive;
pub use tcp::{TcpListener, TcpStream};
pub use udp::{Datagram, UdpSocket};
pub use unix::{UnixListener, UnixStream};
