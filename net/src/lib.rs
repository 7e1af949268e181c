//! Sockets for `runtime`: TCP, UDP and Unix sockets over per-core ring
//! buffers, with one `SO_REUSEPORT` listener per core.
//!
//! - [`TcpListener`] / [`TcpStream`], [`UdpSocket`], [`UnixListener`] /
//!   [`UnixStream`], [`UnixDatagram`]; streams read through an inbound ring
//!   and write into an outbound ring that the core flushes by itself.
//! - [`serve`] and [`Server`]: an accept loop per core running a
//!   [`Service`] per connection, with a connection limit and graceful
//!   shutdown.
//! - [`engine`]: a gnet-style callback engine (`EventHandler`, `Conn`,
//!   `ConnHandle`, `Client`) on the same cores, reactor and buffers.
//! - Features `tokio-io` (tokio's I/O traits) and `hyper` (hyper 1.x's
//!   `rt` traits, executor and timer).

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod accept;
mod addr;
pub mod buffer;
pub mod engine;
#[cfg(feature = "hyper")]
pub mod hyper;
mod idle;
mod io_future;
mod lookup;
mod serve;
mod split;
mod stream;
mod sys;
pub mod tcp;
mod udp;
pub mod unix;

pub use addr::ToSocketAddrs;

/// `Ok` on a `runtime` core; otherwise the error naming `call`, which
/// needs one (its socket registers with the core's reactor).
pub(crate) fn on_a_core(call: &str) -> std::io::Result<()> {
    match runtime_executor::try_current_core() {
        Some(_) => Ok(()),
        None => Err(outside_runtime(call)),
    }
}

/// The error of an I/O call made outside a `runtime` core, naming `call`
/// (the user's call, not the internals that found out).
pub(crate) fn outside_runtime(call: &str) -> std::io::Error {
    std::io::Error::other(format!("`{call}` called outside of a `runtime` core"))
}
pub use lookup::lookup_host;
pub use serve::{serve, Server, ServerStats, Service, ShutdownHandle};
pub use socket2::TcpKeepalive;
pub use tcp::{TcpListener, TcpSocket, TcpStream};
pub use udp::{Datagram, UdpSocket};
pub use unix::{UnixDatagram, UnixListener, UnixStream};
