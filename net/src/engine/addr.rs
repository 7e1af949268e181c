//! Engine addresses: `tcp://127.0.0.1:9000`, `udp6://[::1]:53`,
//! `unix:///tmp/app.sock`, as gnet spells them.

use std::fmt;

use crate::unix::path::UnixName;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// A parsed engine address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EngineAddr {
    Tcp(SocketAddr),
    Udp(SocketAddr),
    /// A path, or a Linux abstract name written `unix://@name`.
    Unix(UnixName),
}

impl fmt::Display for EngineAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineAddr::Tcp(addr) => write!(f, "tcp://{addr}"),
            EngineAddr::Udp(addr) => write!(f, "udp://{addr}"),
            EngineAddr::Unix(UnixName::Path(path)) => write!(f, "unix://{}", path.display()),
            EngineAddr::Unix(UnixName::Abstract(name)) => {
                write!(f, "unix://@{}", String::from_utf8_lossy(name))
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Parses `scheme://address`. Host names are resolved here (this runs once,
/// before the loops start); an empty host (`tcp://:9000`) means every
/// interface of the scheme's family.
pub(crate) fn parse(addr: &str) -> io::Result<EngineAddr> {
    let Some((scheme, rest)) = addr.split_once("://") else {
        return Err(invalid(format!(
            "engine address `{addr}` has no scheme: write it as `tcp://host:port`, \
             `udp://host:port` or `unix:///path`"
        )));
    };
    let (udp, family) = match scheme.to_ascii_lowercase().as_str() {
        "tcp" => (false, Family::Any),
        "tcp4" => (false, Family::V4),
        "tcp6" => (false, Family::V6),
        "udp" => (true, Family::Any),
        "udp4" => (true, Family::V4),
        "udp6" => (true, Family::V6),
        "unix" => return parse_unix(addr, rest),
        _ => {
            return Err(invalid(format!(
                "unknown network `{scheme}` in engine address `{addr}`: expected tcp, tcp4, \
                 tcp6, udp, udp4, udp6 or unix"
            )))
        }
    };
    let sock = resolve(addr, rest, family)?;
    Ok(if udp {
        EngineAddr::Udp(sock)
    } else {
        EngineAddr::Tcp(sock)
    })
}

fn parse_unix(addr: &str, rest: &str) -> io::Result<EngineAddr> {
    if rest.is_empty() {
        return Err(invalid(format!(
            "engine address `{addr}` has no socket path"
        )));
    }
    if let Some(name) = rest.strip_prefix('@') {
        if name.is_empty() {
            return Err(invalid(format!(
                "engine address `{addr}` has an empty abstract name"
            )));
        }
        return Ok(EngineAddr::Unix(UnixName::Abstract(
            name.as_bytes().to_vec(),
        )));
    }
    Ok(EngineAddr::Unix(UnixName::Path(PathBuf::from(rest))))
}

fn resolve(addr: &str, host_port: &str, family: Family) -> io::Result<SocketAddr> {
    let Some((host, port)) = host_port.rsplit_once(':') else {
        return Err(invalid(format!("engine address `{addr}` has no port")));
    };
    let port: u16 = port.parse().map_err(|_| {
        invalid(format!(
            "engine address `{addr}` has an invalid port `{port}`"
        ))
    })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        let ip: std::net::IpAddr = match family {
            Family::V6 => std::net::Ipv6Addr::UNSPECIFIED.into(),
            _ => std::net::Ipv4Addr::UNSPECIFIED.into(),
        };
        return Ok(SocketAddr::new(ip, port));
    }
    let candidates: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|err| {
                invalid(format!(
                    "engine address `{addr}`: cannot resolve `{host}`: {err}"
                ))
            })?
            .collect(),
    };
    candidates
        .into_iter()
        .find(|a| match family {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        })
        .ok_or_else(|| {
            invalid(format!(
                "engine address `{addr}`: no address of the scheme's IP family"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(
            parse("tcp://127.0.0.1:9000").unwrap(),
            EngineAddr::Tcp("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(
            parse("udp6://[::1]:53").unwrap(),
            EngineAddr::Udp("[::1]:53".parse().unwrap())
        );
        assert_eq!(
            parse("tcp4://:80").unwrap(),
            EngineAddr::Tcp("0.0.0.0:80".parse().unwrap())
        );
        assert_eq!(
            parse("tcp6://:80").unwrap(),
            EngineAddr::Tcp("[::]:80".parse().unwrap())
        );
        assert_eq!(
            parse("unix:///tmp/x.sock").unwrap(),
            EngineAddr::Unix(UnixName::Path("/tmp/x.sock".into()))
        );
        assert_eq!(
            parse("unix://@name").unwrap(),
            EngineAddr::Unix(UnixName::Abstract(b"name".to_vec()))
        );
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (addr, says) in [
            ("127.0.0.1:9000", "no scheme"),
            ("quic://127.0.0.1:9000", "unknown network `quic`"),
            ("tcp://127.0.0.1", "no port"),
            ("tcp://127.0.0.1:99999", "invalid port"),
            ("tcp4://[::1]:80", "IP family"),
            ("tcp6://127.0.0.1:80", "IP family"),
            ("unix://", "no socket path"),
            ("unix://@", "empty abstract name"),
        ] {
            let err = parse(addr).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{addr}");
            assert!(err.to_string().contains(says), "{addr}: {err}");
        }
    }
}
