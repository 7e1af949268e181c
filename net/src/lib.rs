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
//! - [`TcpSocket`] (options before connect or listen), [`lookup_host`].
//!
//! A socket belongs to the core that made it: its I/O runs on that core's
//! reactor and its tasks never move. A thread-per-core server runs one
//! listener per core on one address ([`Server::serve_on_all_cores`], or
//! [`TcpListener::bind`] on each core), and the kernel spreads connections;
//! to move one connection to another core, hand it over with
//! [`TcpStream::into_std`] and [`TcpStream::from_std`].
//!
//! # Examples
//!
//! An echo server on every core, and a client of it, in one program:
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use runtime::net::{Server, TcpStream};
//!
//! #[runtime::main(cores = 2)]
//! async fn main() -> std::io::Result<()> {
//!     let server = Server::new("127.0.0.1:0".parse().unwrap()).handle_signals(false);
//!     let shutdown = server.shutdown_handle();
//!     let serving = runtime::spawn(async move {
//!         // One listener per core, one port; each connection is served by
//!         // a task of the core that accepted it.
//!         server
//!             .serve_on_all_cores(|| {
//!                 |mut stream: TcpStream| async move {
//!                     let mut buf = [0u8; 1024];
//!                     loop {
//!                         let n = stream.read(&mut buf).await?;
//!                         if n == 0 {
//!                             return Ok(());
//!                         }
//!                         stream.write_all(&buf[..n]).await?;
//!                     }
//!                 }
//!             })
//!             .await
//!     });
//!     let listening = shutdown.clone();
//!     let addr = runtime::spawn_blocking(move || listening.wait_listening())
//!         .await
//!         .unwrap();
//!
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"hello").await?;
//!     let mut reply = [0u8; 5];
//!     client.read_exact(&mut reply).await?;
//!     assert_eq!(&reply, b"hello");
//!
//!     drop(client);
//!     shutdown.shutdown();
//!     serving.await.unwrap()
//! }
//! ```

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
mod io;
mod io_future;
mod lookup;
mod serve;
mod split;
mod stream;
mod sys;
pub mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
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
