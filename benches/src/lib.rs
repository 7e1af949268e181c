//! Helpers shared by the comparison servers and the load generator in
//! `src/bin/` (see `benches/compare.sh`): a `--name value` parser, the
//! socket every server listens on, the plaintext HTTP protocol of the HTTP
//! servers, and each runtime's server start-up (`*_serve`).

use std::net::SocketAddr;
use std::str::FromStr;

pub mod compio_serve;
pub mod glommio_serve;
pub mod http;
pub mod load;
pub mod monoio_serve;
pub mod tls;
pub mod tokio_serve;

/// `--name value` command-line options; `--flag` alone (followed by another
/// option or nothing) is a boolean flag.
pub struct Args {
    args: Vec<String>,
    usage: &'static str,
}

impl Args {
    /// The process's arguments; `--help` prints `usage` and exits.
    pub fn parse(usage: &'static str) -> Args {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!("{usage}");
            std::process::exit(0);
        }
        Args { args, usage }
    }

    /// Exits with the usage if an argument is not one of `options`
    /// (`--name value`) or `flags` (`--name`).
    pub fn only(self, options: &[&str], flags: &[&str]) -> Args {
        let mut i = 0;
        while i < self.args.len() {
            let name = self.args[i].strip_prefix("--").unwrap_or("");
            if flags.contains(&name) {
                i += 1;
            } else if options.contains(&name) {
                i += 2;
            } else {
                eprintln!("unexpected argument {:?}\n{}", self.args[i], self.usage);
                std::process::exit(2);
            }
        }
        self
    }

    fn position(&self, name: &str) -> Option<usize> {
        let flag = format!("--{name}");
        self.args.iter().position(|a| *a == flag)
    }

    /// The value of `--name`, or `None` if it is absent.
    pub fn opt<T: FromStr>(&self, name: &str) -> Option<T> {
        let i = self.position(name)?;
        let Some(raw) = self.args.get(i + 1) else {
            eprintln!("--{name} needs a value\n{}", self.usage);
            std::process::exit(2);
        };
        Some(raw.parse().unwrap_or_else(|_| {
            eprintln!("invalid value {raw:?} for --{name}\n{}", self.usage);
            std::process::exit(2);
        }))
    }

    /// The value of `--name`, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        self.opt(name).unwrap_or(default)
    }

    /// Whether the flag `--name` is present.
    pub fn flag(&self, name: &str) -> bool {
        self.position(name).is_some()
    }
}

/// The read buffer of every echo server: each read takes up to this much,
/// and all of it is written back before the next read.
pub const READ_BUF: usize = 64 * 1024;

/// The next connection waiting on the non-blocking `listener`, made
/// non-blocking and `TCP_NODELAY`; `None` once none waits (or when accept
/// failed: logged, for the caller's next readiness to retry). For the
/// floors' loops, which accept by hand.
pub fn accept_waiting(
    listener: &std::net::TcpListener,
) -> std::io::Result<Option<std::net::TcpStream>> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                return Ok(Some(stream));
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                eprintln!("accept: {err}");
                return Ok(None);
            }
        }
    }
}

/// A non-blocking TCP listener on `addr` with `SO_REUSEADDR` and
/// `SO_REUSEPORT`, so that each core can bind its own on the same port and
/// the kernel spreads connections among them.
pub fn reuseport_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
