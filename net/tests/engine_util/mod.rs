//! Helpers the engine tests share: a seeded PRNG, client streams for
//! `tcp://` and `unix://` engine addresses, bounded waits, and per-test
//! temp directories for socket files.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Duration;

use runtime_net::engine::Engine;

mod hooks;
// Not every test file uses every helper.
#[allow(unused_imports)]
pub use hooks::*;

/// The helpers the other socket tests share (every file that uses this
/// module also declares `mod util;`).
#[allow(unused_imports)]
pub use crate::util::{temp_dir, wait_until};

/// The read and write timeout of every client socket: a lost byte or a
/// missing close fails the test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a test waits for a condition (a close, a count) to hold.
pub const WAIT: Duration = Duration::from_secs(10);

/// splitmix64: a small, seeded, deterministic PRNG, so a failing case can
/// be replayed (every test derives its seed from its name).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded from `name` (FNV-1a) and `salt`.
    pub fn for_test(name: &str, salt: u64) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the modulo bias does not matter here).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        assert!(lo <= hi);
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// `len` bytes of a pattern that depends on the offset, so a slice taken
/// anywhere can be checked on its own: byte `i` is `pattern_byte(i)`.
pub fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(pattern_byte).collect()
}

pub fn pattern_byte(i: usize) -> u8 {
    // Not periodic at any small power of two.
    ((i % 251) as u8) ^ ((i / 251 % 253) as u8)
}

/// Panics with the first differing offset if `got != expected`.
pub fn assert_bytes(what: &str, expected: &[u8], got: &[u8]) {
    if expected == got {
        return;
    }
    let first = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    panic!(
        "{what}: {} bytes expected, {} got; first difference at offset {first}",
        expected.len(),
        got.len()
    );
}

/// As [`assert_bytes`], as a `Result` for worker threads.
pub fn check_bytes(what: &str, expected: &[u8], got: &[u8]) -> Result<(), String> {
    if expected == got {
        return Ok(());
    }
    let first = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    Err(format!(
        "{what}: {} bytes expected, {} got; first difference at offset {first}",
        expected.len(),
        got.len()
    ))
}

/// A client stream to a `tcp://` or `unix://` engine address.
#[derive(Debug)]
pub enum Peer {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Peer {
    /// Connects to an engine address, with [`IO_TIMEOUT`] on reads and
    /// writes.
    pub fn connect(addr: &str) -> io::Result<Peer> {
        let peer = if let Some(rest) = addr.strip_prefix("tcp://") {
            Peer::Tcp(TcpStream::connect(rest)?)
        } else if let Some(path) = addr.strip_prefix("unix://") {
            Peer::Unix(UnixStream::connect(path)?)
        } else {
            panic!("not a stream address: {addr}");
        };
        peer.set_timeout(Some(IO_TIMEOUT));
        Ok(peer)
    }

    pub fn set_timeout(&self, timeout: Option<Duration>) {
        match self {
            Peer::Tcp(s) => {
                s.set_read_timeout(timeout).unwrap();
                s.set_write_timeout(timeout).unwrap();
            }
            Peer::Unix(s) => {
                s.set_read_timeout(timeout).unwrap();
                s.set_write_timeout(timeout).unwrap();
            }
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        match self {
            Peer::Tcp(s) => s.set_read_timeout(timeout).unwrap(),
            Peer::Unix(s) => s.set_read_timeout(timeout).unwrap(),
        }
    }

    pub fn try_clone(&self) -> io::Result<Peer> {
        Ok(match self {
            Peer::Tcp(s) => Peer::Tcp(s.try_clone()?),
            Peer::Unix(s) => Peer::Unix(s.try_clone()?),
        })
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Peer::Tcp(s) => s.shutdown(how),
            Peer::Unix(s) => s.shutdown(how),
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        let mut got = 0;
        while got < n {
            match self.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("end of stream after {got} of {n} bytes"),
                    ))
                }
                Ok(k) => got += k,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("after {got} of {n} bytes: {err}"),
                    ))
                }
            }
        }
        Ok(buf)
    }

    /// Panics unless the next read is end of stream.
    pub fn expect_eof(&mut self, what: &str) {
        let mut byte = [0; 64];
        match self.read(&mut byte) {
            Ok(0) => {}
            Ok(n) => panic!("{what}: {n} unexpected bytes instead of end of stream"),
            Err(err) => panic!("{what}: {err} instead of end of stream"),
        }
    }

    /// Reads until end of stream; the bytes read.
    pub fn read_to_eof(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out)?;
        Ok(out)
    }
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Peer::Tcp(s) => s.read(buf),
            Peer::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Peer::Tcp(s) => s.write(buf),
            Peer::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket address of a `tcp://` or `udp://` engine address.
pub fn socket_addr(engine_addr: &str) -> SocketAddr {
    let rest = engine_addr
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no scheme in {engine_addr}"));
    rest.parse()
        .unwrap_or_else(|e| panic!("{engine_addr}: {e}"))
}

/// Whether the engine's loops all return within `limit`.
pub fn finishes_within(engine: &Engine, limit: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    let waiter = engine.clone();
    std::thread::spawn(move || {
        waiter.wait();
        let _ = tx.send(());
    });
    rx.recv_timeout(limit).is_ok()
}

/// Stops the engine with no grace period (every connection is closed at
/// once) and waits (bounded) for its loops to return.
pub fn stop_and_wait(engine: &Engine) {
    let stopping = engine.clone();
    std::thread::spawn(move || stopping.shutdown(Duration::ZERO));
    assert!(
        finishes_within(engine, WAIT),
        "the engine did not stop within {WAIT:?} of Engine::shutdown"
    );
}

/// Receives from `rx` within [`WAIT`], or panics saying `what`.
pub fn recv<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("{what}: nothing within {WAIT:?} ({e})"))
}
