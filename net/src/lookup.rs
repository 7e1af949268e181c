//! `lookup_host`: name resolution off the core.

use std::io;
use std::net::SocketAddr;

use crate::addr::{resolve, ToSocketAddrs};

/// Resolves `host` (a `"name:port"` string, a `(name, port)` pair, or any
/// address) to its socket addresses, as tokio's `lookup_host` does.
///
/// Literals are returned at once; names are looked up with the system
/// resolver (`getaddrinfo`) on the blocking pool, so the core never waits
/// on DNS.
///
/// # Errors
///
/// A lookup error; `InvalidInput` if the name resolved to no address.
///
/// # Examples
///
/// ```
/// #[runtime::main]
/// async fn main() -> std::io::Result<()> {
///     let addrs: Vec<_> = runtime::net::lookup_host("localhost:80").await?.collect();
///     assert!(addrs.iter().all(|addr| addr.port() == 80 && addr.ip().is_loopback()));
///     Ok(())
/// }
/// ```
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    Ok(resolve(host).await?.into_iter())
}
