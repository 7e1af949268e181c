//! Addresses to connect or bind to: literals are used at once, host names are
//! resolved on the blocking pool so no core ever waits on DNS.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: a `SocketAddr`, an
/// `(ip, port)` pair, or a `"host:port"` string (resolved off the core when it
/// is not a literal).
///
/// Sealed: implemented for the same types as std's `ToSocketAddrs`.
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    use super::*;

    pub trait Sealed {
        #[doc(hidden)]
        fn into_lookup(self) -> Lookup;
    }

    #[doc(hidden)]
    #[derive(Debug)]
    pub enum Lookup {
        /// One address, known without a lookup (no allocation: `send_to`
        /// takes this path per datagram).
        One(SocketAddr),
        Ready(Vec<SocketAddr>),
        Host(String),
        HostPort(String, u16),
    }
}

use sealed::{Lookup, Sealed};

macro_rules! ready_addrs {
    ($($ty:ty => |$v:ident| $e:expr;)*) => {$(
        impl ToSocketAddrs for $ty {}
        impl Sealed for $ty {
            fn into_lookup(self) -> Lookup {
                let $v = self;
                $e
            }
        }
    )*};
}

ready_addrs! {
    &[SocketAddr] => |a| Lookup::Ready(a.to_vec());
    Vec<SocketAddr> => |a| Lookup::Ready(a);
    SocketAddr => |a| Lookup::One(a);
    SocketAddrV4 => |a| Lookup::One(SocketAddr::V4(a));
    SocketAddrV6 => |a| Lookup::One(SocketAddr::V6(a));
    (IpAddr, u16) => |a| Lookup::One(SocketAddr::new(a.0, a.1));
    (std::net::Ipv4Addr, u16) => |a| Lookup::One(SocketAddr::new(IpAddr::V4(a.0), a.1));
    (std::net::Ipv6Addr, u16) => |a| Lookup::One(SocketAddr::new(IpAddr::V6(a.0), a.1));
}

impl ToSocketAddrs for &str {}
impl Sealed for &str {
    fn into_lookup(self) -> Lookup {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Lookup::One(addr),
            Err(_) => Lookup::Host(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl Sealed for String {
    fn into_lookup(self) -> Lookup {
        self.as_str().into_lookup()
    }
}

impl ToSocketAddrs for &String {}
impl Sealed for &String {
    fn into_lookup(self) -> Lookup {
        self.as_str().into_lookup()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Sealed for (&str, u16) {
    fn into_lookup(self) -> Lookup {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Lookup::One(SocketAddr::new(ip, self.1)),
            Err(_) => Lookup::HostPort(self.0.to_owned(), self.1),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Sealed for (String, u16) {
    fn into_lookup(self) -> Lookup {
        (self.0.as_str(), self.1).into_lookup()
    }
}

/// Resolves `addr`: at once for literals, on the blocking pool for names.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    resolve_lookup(addr.into_lookup()).await
}

/// The first address `addr` names: without a lookup or an allocation when
/// it is a literal.
pub(crate) async fn resolve_first(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    match addr.into_lookup() {
        Lookup::One(addr) => Ok(addr),
        lookup => Ok(resolve_lookup(lookup).await?[0]),
    }
}

async fn resolve_lookup(lookup: Lookup) -> io::Result<Vec<SocketAddr>> {
    let addrs = match lookup {
        Lookup::One(addr) => vec![addr],
        Lookup::Ready(addrs) => addrs,
        Lookup::Host(host) => {
            blocking_lookup(move || std::net::ToSocketAddrs::to_socket_addrs(&host)).await?
        }
        Lookup::HostPort(host, port) => {
            blocking_lookup(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            })
            .await?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        ));
    }
    Ok(addrs)
}

async fn blocking_lookup<I>(
    lookup: impl FnOnce() -> io::Result<I> + Send + 'static,
) -> io::Result<Vec<SocketAddr>>
where
    I: Iterator<Item = SocketAddr>,
{
    runtime_executor::spawn_blocking(move || lookup().map(Iterator::collect))
        .await
        .map_err(|err| io::Error::other(format!("address lookup failed: {err}")))?
}
