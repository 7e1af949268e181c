//! The TLS load generator of `benches/compare.sh`: `loadgen` with a rustls
//! client (0.23, `ring`) on every connection. One thread, non-blocking
//! sockets on `polling` (epoll, edge triggered), optionally pinned to a CPU.
//!
//! ```text
//! tls_loadgen --port 7002 [--ca cert.pem] [--connections 100] [--size 64]
//!             [--pipeline 1] [--seconds 5 | --messages M] [--warmup 1]
//!             [--cpu N] [--timeout 5] [--server-pid PID]
//!             [--kx GROUP] [--handshake [--resumed]] [--verify-every N]
//! ```
//!
//! The server is trusted through `--ca` (its certificate, checked as a
//! chain for `localhost`), or without it accepted whatever certificate it
//! shows (`runtime_benches::tls::BenchOnlyAnyServerCert`, which still checks
//! the server's handshake signature). Every connection must negotiate
//! TLS 1.3. `--kx X25519|secp256r1|secp384r1`: the key-exchange group the
//! client offers first (its key share, so the one the handshake uses);
//! by default rustls's order for `ring` (secp384r1 first in 0.23.48).
//! `--verify-every N`: the server's certificate and handshake signature are
//! checked on the first full handshake and then on one in N
//! (`runtime_benches::tls::SampledVerifier`; default 1, every one). The
//! server cannot tell which, so it does all its work on each; the client
//! saves its ECDSA verifications, which cost it about twice what signing
//! costs the server, so that `--handshake` on two cores measures the server.
//!
//! Echo mode (the default), as `loadgen`'s: every connection does its
//! handshake (all of them before the warm-up starts, so that the figures
//! are the echo's alone), then keeps `--pipeline` messages of `--size`
//! bytes in flight
//! (each message one `write` into rustls: one TLS record) and verifies every
//! echoed byte against the same per-connection pattern. `--seconds T` runs
//! `--warmup` seconds (default 1, or T / 4 under 4 s) and then measures T
//! seconds; `--messages M`: each connection sends M messages, all measured.
//!
//! `--handshake`: new connections, one after another on each of
//! `--connections` slots: connect, a full TLS handshake (no resumption),
//! one 64-byte message echoed and verified, `close_notify`, and the
//! server's close (EOF); then the slot opens the next connection. A
//! "message" is one such connection; its latency runs from the connect to
//! the verified echo. The slots open one by one, one more after each
//! finished connection, so that with `--resumed` a session ticket is always
//! there (each handshake takes one ticket, and a rustls server sends two by
//! default; a server that sends fewer shows as mismatches): `--resumed`
//! keeps rustls's session store (the server's TLS 1.3 tickets), and every
//! handshake after the very first must be resumed (checked with
//! `handshake_kind()`; one that is not counts as a mismatch).
//! `--messages M`: M connections in all (after the first, with
//! `--resumed`), all measured.
//!
//! Output, one line on stdout, as `loadgen`'s: `msgs=… msgs/s=… p50=…us
//! p99=…us p999=…us errors=… mismatches=… conns=… secs=…`, then
//! ` server_cpu_ns_per_msg=…` with `--server-pid`, and with `--handshake`
//! ` full=F resumed=R` (every handshake, the unmeasured ones included).
//! A connection that fails (connect, TLS alert, reset, early close) or
//! makes no progress for `--timeout` seconds counts as an error and is
//! dropped; the run never hangs. Exit status 1 if there was any error or
//! mismatch, or nothing was measured.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};
use runtime_benches::load::{
    cpu_ticks, pin_to_cpu, raise_fd_limit, server_cpu_field, Histogram, Pattern, Summary, CHUNK,
    PERIOD,
};
use runtime_benches::{tls, Args};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ProtocolVersion};

const USAGE: &str = "tls_loadgen --port P [--host 127.0.0.1] [--ca PEM] [--connections 1] \
[--size 64] [--pipeline 1] [--seconds 5 | --messages M] [--warmup W] [--cpu N] [--timeout 5] \
[--server-pid PID] [--kx GROUP] [--handshake [--resumed]] [--verify-every N]";

/// At most this many connection errors are described on stderr.
const MAX_REPORTED: usize = 5;
/// The message each `--handshake` connection echoes.
const HANDSHAKE_MESSAGE: usize = 64;
/// `--handshake` gives up after this many failed connections.
const MAX_HANDSHAKE_ERRORS: u64 = 100;

struct Config {
    addr: SocketAddr,
    ca: Option<PathBuf>,
    kx: Option<String>,
    connections: usize,
    size: usize,
    pipeline: usize,
    seconds: Option<f64>,
    messages: Option<u64>,
    warmup: f64,
    timeout: Duration,
    server_pid: Option<u32>,
    handshake: bool,
    resumed: bool,
    verify_every: u64,
}

fn config() -> Config {
    let args = Args::parse(USAGE).only(
        &[
            "port",
            "host",
            "ca",
            "connections",
            "size",
            "pipeline",
            "seconds",
            "messages",
            "warmup",
            "cpu",
            "timeout",
            "server-pid",
            "kx",
            "verify-every",
        ],
        &["handshake", "resumed"],
    );
    let Some(port) = args.opt::<u16>("port") else {
        eprintln!("--port is required\n{USAGE}");
        std::process::exit(2);
    };
    let host: std::net::IpAddr = args.get("host", [127, 0, 0, 1].into());
    let messages: Option<u64> = args.opt("messages");
    let seconds: Option<f64> =
        args.opt("seconds")
            .or(if messages.is_some() { None } else { Some(5.0) });
    let warmup = match (messages, seconds) {
        (None, Some(t)) => args.get("warmup", if t < 4.0 { t / 4.0 } else { 1.0 }),
        _ => args.get("warmup", 0.0),
    };
    if let Some(cpu) = args.opt::<usize>("cpu") {
        if let Err(e) = pin_to_cpu(cpu) {
            eprintln!("tls_loadgen: --cpu {cpu}: {e}");
            std::process::exit(2);
        }
    }
    let handshake = args.flag("handshake");
    let config = Config {
        addr: SocketAddr::new(host, port),
        ca: args.opt("ca"),
        kx: args.opt("kx"),
        connections: args.get("connections", 1),
        size: if handshake {
            HANDSHAKE_MESSAGE
        } else {
            args.get("size", 64)
        },
        pipeline: args.get("pipeline", 1),
        seconds,
        messages,
        warmup,
        timeout: Duration::from_secs_f64(args.get("timeout", 5.0)),
        server_pid: args.opt("server-pid"),
        handshake,
        resumed: args.flag("resumed"),
        verify_every: args.get("verify-every", 1),
    };
    if config.resumed && !config.handshake {
        eprintln!("--resumed goes with --handshake");
        std::process::exit(2);
    }
    if config.connections == 0 || config.size == 0 || config.pipeline == 0 {
        eprintln!("--connections, --size and --pipeline must be at least 1");
        std::process::exit(2);
    }
    config
}

/// A rustls client connection over a non-blocking socket.
struct Tls {
    sock: TcpStream,
    tls: ClientConnection,
}

/// What [`Tls::read`] saw of the end of the connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Open {
    Yes,
    /// The server closed (`close_notify`, or a TCP end of stream).
    Closed,
}

impl Tls {
    /// Connects (blocking: loopback, never long), then leaves the socket
    /// non-blocking; the ClientHello goes out with the first [`Tls::flush`].
    fn connect(addr: SocketAddr, config: &Arc<ClientConfig>, timeout: Duration) -> io::Result<Tls> {
        let sock = TcpStream::connect_timeout(&addr, timeout)?;
        sock.set_nodelay(true)?;
        sock.set_nonblocking(true)?;
        let tls = ClientConnection::new(config.clone(), tls::server_name())
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        Ok(Tls { sock, tls })
    }

    /// Reads what the socket has (edge triggered: until `WouldBlock` or
    /// its end), hands every decrypted byte to `data`.
    fn read(
        &mut self,
        scratch: &mut [u8],
        mut data: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<Open> {
        loop {
            let eof = match self.tls.read_tls(&mut self.sock) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Open::Yes),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.tls
                .process_new_packets()
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
            loop {
                match self.tls.reader().read(scratch) {
                    Ok(0) => return Ok(Open::Closed),
                    Ok(n) => data(&scratch[..n])?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Open::Closed),
                    Err(e) => return Err(e),
                }
            }
            if eof {
                return Ok(Open::Closed);
            }
        }
    }

    /// Writes what rustls has to send until done or the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Hands rustls the plaintext from stream position `*sent` up to
    /// `target` (as much as its buffer takes), then flushes. Each call to
    /// the writer is one TLS record.
    fn send(
        &mut self,
        pattern: &Pattern,
        seed: usize,
        sent: &mut u64,
        target: u64,
    ) -> io::Result<()> {
        loop {
            let mut taken = false;
            while *sent < target {
                let len = (target - *sent).min(CHUNK as u64) as usize;
                let n = self.tls.writer().write(pattern.slice(seed, *sent, len))?;
                if n == 0 {
                    break;
                }
                taken = true;
                *sent += n as u64;
            }
            self.flush()?;
            // Done; or the socket is full (rustls still has bytes to send)
            // and the next writable edge goes on; or rustls takes no more
            // plaintext before the handshake ends, and the next read goes on.
            if *sent >= target || self.tls.wants_write() || !taken {
                return Ok(());
            }
        }
    }

    /// The connection must have negotiated TLS 1.3.
    fn is_tls13(&self) -> bool {
        self.tls.protocol_version() == Some(ProtocolVersion::TLSv1_3)
    }

    /// The key-exchange group the handshake used (`?` before the end of
    /// the handshake).
    fn kx(&self) -> String {
        self.tls
            .negotiated_key_exchange_group()
            .map_or_else(|| "?".to_owned(), |g| format!("{:?}", g.name()))
    }
}

/// Checks echoed bytes: `data` continues the stream at position
/// `*received` of connection `seed`'s pattern, messages of `size` bytes.
/// Calls `done(ok)` for each message completed. An echo of more than was
/// sent is an error.
#[allow(clippy::too_many_arguments)]
fn check_echo(
    pattern: &Pattern,
    seed: usize,
    size: u64,
    sent: u64,
    received: &mut u64,
    bad: &mut bool,
    mut data: &[u8],
    mut done: impl FnMut(bool),
) -> io::Result<()> {
    while !data.is_empty() {
        if *received >= sent {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "more bytes than were sent",
            ));
        }
        let in_message = *received % size;
        let take = ((size - in_message) as usize)
            .min(data.len())
            .min((sent - *received) as usize);
        if data[..take] != *pattern.slice(seed, *received, take) {
            *bad = true;
        }
        *received += take as u64;
        data = &data[take..];
        if received.is_multiple_of(size) {
            done(!std::mem::take(bad));
        }
    }
    Ok(())
}

#[derive(Default)]
struct Totals {
    measured: u64,
    errors: u64,
    mismatches: u64,
    reported: usize,
}

impl Totals {
    fn error(&mut self, conn: usize, what: &str, e: &dyn std::fmt::Display) {
        self.errors += 1;
        if self.reported < MAX_REPORTED {
            self.reported += 1;
            eprintln!("tls_loadgen: connection {conn}: {what}: {e}");
        }
    }
}

/// The measured window: what completes from `from` until `until`.
struct Window {
    from: Instant,
    until: Option<Instant>,
}

impl Window {
    fn new(cfg: &Config, start: Instant) -> Window {
        Window {
            from: start + Duration::from_secs_f64(cfg.warmup),
            until: cfg
                .seconds
                .filter(|_| cfg.messages.is_none())
                .map(|t| start + Duration::from_secs_f64(cfg.warmup + t)),
        }
    }

    fn contains(&self, t: Instant) -> bool {
        t >= self.from && self.until.is_none_or(|u| t < u)
    }
}

/// What both modes measure, and the line they print.
struct Run {
    start: Instant,
    window: Window,
    hard_stop: Option<Instant>,
    hist: Histogram,
    totals: Totals,
    cpu_at_window_start: Option<u64>,
    window_started_at: Option<Instant>,
    last_completion: Instant,
    /// The key-exchange group of the first handshake.
    kx: Option<String>,
}

impl Run {
    fn new(cfg: &Config) -> Run {
        let start = Instant::now();
        let window = Window::new(cfg, start);
        // With --messages, --seconds is a limit on the whole run.
        let hard_stop = match (cfg.messages, cfg.seconds) {
            (Some(_), Some(t)) => Some(start + Duration::from_secs_f64(t)),
            _ => window.until,
        };
        Run {
            start,
            window,
            hard_stop,
            hist: Histogram::new(),
            totals: Totals::default(),
            cpu_at_window_start: None,
            window_started_at: None,
            last_completion: start,
            kx: None,
        }
    }

    /// Starts the window when its time comes; whether the run is over.
    fn tick(&mut self, cfg: &Config, now: Instant) -> bool {
        if self.window_started_at.is_none() && now >= self.window.from {
            self.window_started_at = Some(now);
            self.cpu_at_window_start = cfg.server_pid.and_then(cpu_ticks);
        }
        self.hard_stop.is_some_and(|h| now >= h)
    }

    /// How long the poller may sleep: at most 100 ms (to watch for stalls),
    /// and not past the window's start or the run's end.
    fn wait_for(&self, now: Instant) -> Duration {
        let mut timeout = Duration::from_millis(100);
        if self.window_started_at.is_none() {
            timeout = timeout.min(self.window.from.saturating_duration_since(now));
        }
        if let Some(h) = self.hard_stop {
            timeout = timeout.min(h.saturating_duration_since(now));
        }
        timeout
    }

    /// One message (or connection) done at `now`: counted if in the
    /// window, with its latency.
    fn complete(&mut self, ok: bool, latency: Duration, now: Instant) {
        self.last_completion = now;
        if !ok {
            self.totals.mismatches += 1;
        } else if self.window.contains(now) {
            self.totals.measured += 1;
            self.hist.record(latency.as_nanos() as u64);
        }
    }

    /// The result line.
    fn line(&self, cfg: &Config, conns: usize) -> String {
        let end = Instant::now();
        let cpu_end = cfg.server_pid.and_then(cpu_ticks);
        let window_start = self.window_started_at.unwrap_or(end);
        let measured_end = if cfg.messages.is_some() {
            self.last_completion.max(window_start)
        } else {
            self.window.until.map_or(end, |u| u.min(end))
        };
        let mut line = Summary {
            measured: self.totals.measured,
            secs: measured_end.duration_since(window_start).as_secs_f64(),
            hist: &self.hist,
            errors: self.totals.errors,
            mismatches: self.totals.mismatches,
            conns,
        }
        .line();
        if cfg.server_pid.is_some() {
            line += &server_cpu_field(self.cpu_at_window_start, cpu_end, self.totals.measured);
        }
        line += &format!(" kx={}", self.kx.as_deref().unwrap_or("?"));
        line
    }

    fn failed(&self) -> bool {
        self.totals.errors > 0 || self.totals.mismatches > 0 || self.totals.measured == 0
    }
}

fn main() {
    let cfg = config();
    raise_fd_limit();
    let client = match tls::client_config(
        cfg.ca.as_deref(),
        cfg.resumed,
        cfg.kx.as_deref(),
        cfg.verify_every,
    ) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("tls_loadgen: {e}");
            std::process::exit(2);
        }
    };
    let poller = Poller::new().expect("epoll");
    let (line, failed) = if cfg.handshake {
        handshakes(&cfg, &client, &poller)
    } else {
        echo(&cfg, &client, &poller)
    };
    println!("{line}");
    if failed {
        std::process::exit(1);
    }
}

/// An echo-mode connection.
struct EchoConn {
    tls: Tls,
    seed: usize,
    /// Plaintext bytes handed to rustls.
    sent: u64,
    /// Messages issued (their bytes are `issued * size`).
    issued: u64,
    /// Bytes echoed and checked.
    received: u64,
    completed: u64,
    /// When each message in flight was issued.
    in_flight: VecDeque<Instant>,
    /// Whether the current message had a wrong byte.
    bad: bool,
    last_progress: Instant,
}

fn echo(cfg: &Config, client: &Arc<ClientConfig>, poller: &Poller) -> (String, bool) {
    let pattern = Pattern::echo(cfg.size);
    let mut run_errors = Totals::default();
    // Connect one at a time: a server's accept queue never overflows. The
    // handshakes go on while the next ones connect.
    let mut conns: Vec<Option<EchoConn>> = Vec::with_capacity(cfg.connections);
    let connect_timeout = cfg.timeout.max(Duration::from_secs(1));
    for c in 0..cfg.connections {
        match Tls::connect(cfg.addr, client, connect_timeout) {
            Ok(tls) => {
                // SAFETY: the socket is deleted from the poller before it is
                // dropped (`close`), or outlives the poller's use.
                let added =
                    unsafe { poller.add_with_mode(&tls.sock, Event::all(c), PollMode::Edge) };
                if let Err(e) = added {
                    run_errors.error(c, "register", &e);
                    conns.push(None);
                    continue;
                }
                conns.push(Some(EchoConn {
                    tls,
                    seed: c.wrapping_mul(7919) % PERIOD,
                    sent: 0,
                    issued: 0,
                    received: 0,
                    completed: 0,
                    in_flight: VecDeque::new(),
                    bad: false,
                    last_progress: Instant::now(),
                }));
            }
            Err(e) => {
                run_errors.error(c, "connect", &e);
                conns.push(None);
            }
        }
    }
    let connected = conns.iter().filter(|c| c.is_some()).count();
    let mut closed = 0;
    let mut finished = 0;
    let mut scratch = vec![0u8; CHUNK];
    let mut events = Events::with_capacity(std::num::NonZeroUsize::new(1024).unwrap());
    let kx = handshake_all(
        cfg,
        poller,
        &mut conns,
        &mut scratch,
        &mut events,
        &mut run_errors,
    );
    closed += connected - conns.iter().filter(|c| c.is_some()).count();

    // The run (warm-up, then the window) starts once every handshake is
    // done: the figures are the echo's alone.
    let mut run = Run::new(cfg);
    run.totals.errors = run_errors.errors;
    run.totals.reported = run_errors.reported;
    run.kx = kx;
    let size = cfg.size as u64;
    let start = run.start;
    for (c, slot) in conns.iter_mut().enumerate() {
        if let Some(conn) = slot {
            conn.last_progress = start;
            if let Err(e) = issue(conn, cfg, &pattern, start) {
                run.totals.error(c, "write", &e);
                close(poller, slot, cfg, &mut closed);
            }
        }
    }

    let mut last_check = start;
    loop {
        let now = Instant::now();
        if run.tick(cfg, now) || closed + finished >= connected {
            break;
        }
        events.clear();
        if let Err(e) = poller.wait(&mut events, Some(run.wait_for(now))) {
            eprintln!("tls_loadgen: epoll: {e}");
            std::process::exit(1);
        }
        let now = Instant::now();
        for ev in events.iter() {
            let c = ev.key;
            let slot = &mut conns[c];
            let Some(conn) = slot else { continue };
            let before = conn.completed;
            let read = {
                let EchoConn {
                    tls,
                    seed,
                    sent,
                    received,
                    completed,
                    in_flight,
                    bad,
                    last_progress,
                    ..
                } = conn;
                let (seed, sent) = (*seed, *sent);
                tls.read(&mut scratch, |data| {
                    *last_progress = now;
                    check_echo(&pattern, seed, size, sent, received, bad, data, |ok| {
                        let began = in_flight.pop_front().unwrap_or(now);
                        *completed += 1;
                        run.complete(ok, now.duration_since(began), now);
                    })
                })
            };
            let result = match read {
                Ok(Open::Yes) => issue(conn, cfg, &pattern, now),
                Ok(Open::Closed) => Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "closed by the server",
                )),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                run.totals.error(c, "read", &e);
                close(poller, slot, cfg, &mut closed);
                continue;
            }
            if cfg.messages.is_some_and(|m| conn.completed >= m) && conn.completed > before {
                finished += 1;
            }
        }

        // Stalls: a connection with messages in flight and no progress for
        // --timeout is dropped.
        if now.duration_since(last_check) >= Duration::from_millis(100) {
            last_check = now;
            for (c, slot) in conns.iter_mut().enumerate() {
                if let Some(conn) = slot {
                    if !conn.in_flight.is_empty()
                        && now.duration_since(conn.last_progress) > cfg.timeout
                    {
                        let what = format!(
                            "no response for {:?} ({} in flight)",
                            cfg.timeout,
                            conn.in_flight.len()
                        );
                        run.totals.error(c, "timeout", &what);
                        close(poller, slot, cfg, &mut closed);
                    }
                }
            }
        }
    }
    let line = run.line(cfg, connected);
    drop(conns);
    (line, run.failed())
}

/// Completes every connection's handshake (a connection that fails, or
/// all that are left when none has finished one for `--timeout`, are
/// dropped as errors); returns the key-exchange group of the first.
fn handshake_all(
    cfg: &Config,
    poller: &Poller,
    conns: &mut [Option<EchoConn>],
    scratch: &mut [u8],
    events: &mut Events,
    totals: &mut Totals,
) -> Option<String> {
    let mut closed = 0;
    let mut fail =
        |c: usize, slot: &mut Option<EchoConn>, what: &str, e: &dyn std::fmt::Display| {
            totals.error(c, what, e);
            close(poller, slot, cfg, &mut closed);
        };
    for (c, slot) in conns.iter_mut().enumerate() {
        if let Some(Err(e)) = slot.as_mut().map(|conn| conn.tls.flush()) {
            fail(c, slot, "handshake", &e);
        }
    }
    let shaking = |conns: &[Option<EchoConn>]| {
        conns
            .iter()
            .flatten()
            .filter(|c| c.tls.tls.is_handshaking())
            .count()
    };
    let mut pending = shaking(conns);
    let mut last_progress = Instant::now();
    while pending > 0 {
        events.clear();
        if let Err(e) = poller.wait(events, Some(Duration::from_millis(100))) {
            eprintln!("tls_loadgen: epoll: {e}");
            std::process::exit(1);
        }
        for ev in events.iter() {
            let slot = &mut conns[ev.key];
            let Some(conn) = slot else { continue };
            if !conn.tls.tls.is_handshaking() {
                continue;
            }
            let early = |_: &[u8]| -> io::Result<()> {
                Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "data before any message",
                ))
            };
            match conn.tls.read(scratch, early).and_then(|open| {
                conn.tls.flush()?;
                Ok(open)
            }) {
                Ok(Open::Yes) if conn.tls.tls.is_handshaking() => {}
                Ok(Open::Yes) if !conn.tls.is_tls13() => {
                    fail(ev.key, slot, "handshake", &"not TLS 1.3")
                }
                Ok(Open::Yes) => {}
                Ok(Open::Closed) => fail(ev.key, slot, "handshake", &"closed by the server"),
                Err(e) => fail(ev.key, slot, "handshake", &e),
            }
        }
        let now_pending = shaking(conns);
        let now = Instant::now();
        if now_pending < pending {
            last_progress = now;
        } else if now.duration_since(last_progress) > cfg.timeout {
            for (c, slot) in conns.iter_mut().enumerate() {
                if slot
                    .as_ref()
                    .is_some_and(|conn| conn.tls.tls.is_handshaking())
                {
                    fail(
                        c,
                        slot,
                        "handshake",
                        &format!("not done in {:?}", cfg.timeout),
                    );
                }
            }
        }
        pending = shaking(conns);
    }
    conns.iter().flatten().next().map(|conn| conn.tls.kx())
}

/// Refills the connection's pipeline (up to `--messages`) and sends.
fn issue(conn: &mut EchoConn, cfg: &Config, pattern: &Pattern, now: Instant) -> io::Result<()> {
    while conn.in_flight.len() < cfg.pipeline && cfg.messages.is_none_or(|m| conn.issued < m) {
        conn.issued += 1;
        conn.in_flight.push_back(now);
    }
    let target = conn.issued * cfg.size as u64;
    conn.tls.send(pattern, conn.seed, &mut conn.sent, target)
}

/// Drops a failed connection; counted in `closed` unless it had finished
/// its `--messages` (then it is counted as finished already).
fn close(poller: &Poller, slot: &mut Option<EchoConn>, cfg: &Config, closed: &mut usize) {
    if let Some(conn) = slot.take() {
        let _ = poller.delete(&conn.tls.sock);
        if cfg.messages.is_none_or(|m| conn.completed < m) {
            *closed += 1;
        }
    }
}

/// A `--handshake` connection.
struct HandshakeConn {
    tls: Tls,
    began: Instant,
    /// Plaintext bytes handed to rustls, and echoed bytes checked.
    sent: u64,
    received: u64,
    bad: bool,
    /// Set when the echo came back: whether it was right, and when.
    echoed: Option<(bool, Instant)>,
    /// Whether the client's `close_notify` is on its way.
    goodbye: bool,
    last_progress: Instant,
}

fn handshakes(cfg: &Config, client: &Arc<ClientConfig>, poller: &Poller) -> (String, bool) {
    let pattern = Pattern::echo(HANDSHAKE_MESSAGE);
    let size = HANDSHAKE_MESSAGE as u64;
    let mut run = Run::new(cfg);
    let mut slots: Vec<Option<HandshakeConn>> = (0..cfg.connections).map(|_| None).collect();
    let (mut full, mut resumed) = (0u64, 0u64);
    // Connections opened and finished (well or not); with --resumed, the
    // first one (full) is not part of --messages.
    let (mut opened, mut done) = (0u64, 0u64);
    let total = cfg.messages.map(|m| m + u64::from(cfg.resumed));
    let connect_timeout = cfg.timeout.max(Duration::from_secs(1));
    let mut scratch = vec![0u8; CHUNK];
    let mut events = Events::with_capacity(std::num::NonZeroUsize::new(1024).unwrap());
    let mut last_check = run.start;
    loop {
        let now = Instant::now();
        let over = run.tick(cfg, now);
        if over || total.is_some_and(|t| done >= t) || run.totals.errors >= MAX_HANDSHAKE_ERRORS {
            break;
        }
        // Open connections on free slots: one more than have finished, so
        // that with --resumed every new one finds a ticket (each finished
        // connection leaves two, and takes one).
        let active = slots.iter().filter(|s| s.is_some()).count() as u64;
        let mut room = (done + 1)
            .saturating_sub(opened - done)
            .min(cfg.connections as u64 - active);
        for (c, slot) in slots.iter_mut().enumerate() {
            if room == 0 || total.is_some_and(|t| opened >= t) {
                break;
            }
            if slot.is_some() {
                continue;
            }
            room -= 1;
            opened += 1;
            let began = Instant::now();
            let mut conn = match Tls::connect(cfg.addr, client, connect_timeout) {
                Ok(tls) => HandshakeConn {
                    tls,
                    began,
                    sent: 0,
                    received: 0,
                    bad: false,
                    echoed: None,
                    goodbye: false,
                    last_progress: began,
                },
                Err(e) => {
                    done += 1;
                    run.totals.error(c, "connect", &e);
                    continue;
                }
            };
            // SAFETY: the socket is deleted from the poller before it is
            // dropped (`finish`), or outlives the poller's use.
            let added =
                unsafe { poller.add_with_mode(&conn.tls.sock, Event::all(c), PollMode::Edge) };
            let sent = added.and_then(|()| {
                let seed = c.wrapping_mul(7919) % PERIOD;
                conn.tls.send(&pattern, seed, &mut conn.sent, size)
            });
            match sent {
                Ok(()) => *slot = Some(conn),
                Err(e) => {
                    done += 1;
                    run.totals.error(c, "connect", &e);
                    let _ = poller.delete(&conn.tls.sock);
                }
            }
        }

        events.clear();
        if let Err(e) = poller.wait(&mut events, Some(run.wait_for(now))) {
            eprintln!("tls_loadgen: epoll: {e}");
            std::process::exit(1);
        }
        let now = Instant::now();
        for ev in events.iter() {
            let c = ev.key;
            let slot = &mut slots[c];
            let Some(conn) = slot else { continue };
            let seed = c.wrapping_mul(7919) % PERIOD;
            let read = {
                let HandshakeConn {
                    tls,
                    sent,
                    received,
                    bad,
                    echoed,
                    last_progress,
                    ..
                } = conn;
                let sent = *sent;
                tls.read(&mut scratch, |data| {
                    *last_progress = now;
                    check_echo(&pattern, seed, size, sent, received, bad, data, |ok| {
                        *echoed = Some((ok, now));
                    })
                })
            };
            let result = match read {
                Ok(open) => {
                    // The echo is back: say goodbye, and wait for the
                    // server's close.
                    if conn.echoed.is_some() && open == Open::Yes && !conn.goodbye {
                        conn.goodbye = true;
                        conn.tls.tls.send_close_notify();
                    }
                    conn.tls.flush().map(|()| open)
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(Open::Yes) => {}
                Ok(Open::Closed) if conn.echoed.is_some() => {
                    let (echo_ok, echoed_at) = conn.echoed.expect("checked");
                    let ok = echo_ok && conn.tls.is_tls13();
                    let kind = conn.tls.tls.handshake_kind();
                    run.kx.get_or_insert_with(|| conn.tls.kx());
                    let expected = match kind {
                        Some(HandshakeKind::Full) => {
                            full += 1;
                            !cfg.resumed || full + resumed == 1
                        }
                        Some(HandshakeKind::Resumed) => {
                            resumed += 1;
                            cfg.resumed
                        }
                        _ => false,
                    };
                    if ok && !expected {
                        eprintln!("tls_loadgen: connection {c}: unexpected handshake {kind:?}");
                    }
                    // With --resumed, the first (full) handshake is not
                    // measured.
                    if cfg.resumed && full + resumed == 1 && expected {
                        run.last_completion = now;
                    } else {
                        // Latency to the echo, not to the close.
                        let latency = echoed_at.duration_since(conn.began);
                        run.complete(ok && expected, latency, now);
                    }
                    done += 1;
                    let _ = poller.delete(&conn.tls.sock);
                    *slot = None;
                }
                Ok(Open::Closed) => {
                    done += 1;
                    run.totals
                        .error(c, "read", &"closed by the server before the echo");
                    let _ = poller.delete(&conn.tls.sock);
                    *slot = None;
                }
                Err(e) => {
                    done += 1;
                    run.totals.error(c, "read", &e);
                    let _ = poller.delete(&conn.tls.sock);
                    *slot = None;
                }
            }
        }

        if now.duration_since(last_check) >= Duration::from_millis(100) {
            last_check = now;
            for (c, slot) in slots.iter_mut().enumerate() {
                if let Some(conn) = slot {
                    if now.duration_since(conn.last_progress) > cfg.timeout {
                        let what = if conn.echoed.is_some() {
                            "the server did not close after close_notify"
                        } else {
                            "no handshake and echo"
                        };
                        done += 1;
                        run.totals
                            .error(c, "timeout", &format!("{what} in {:?}", cfg.timeout));
                        let _ = poller.delete(&conn.tls.sock);
                        *slot = None;
                    }
                }
            }
        }
    }
    let mut line = run.line(cfg, opened as usize);
    line += &format!(" full={full} resumed={resumed}");
    for conn in slots.iter().flatten() {
        let _ = poller.delete(&conn.tls.sock);
    }
    (line, run.failed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::NoServerSessionStorage;
    use rustls::{ServerConnection, StreamOwned};

    /// How the test server misbehaves.
    #[derive(Clone, Copy)]
    enum Server {
        Good,
        /// Flips one bit of the 10th byte it echoes.
        Corrupts,
        /// No tickets and no session cache: nothing can resume.
        NoResumption,
    }

    /// A blocking rustls echo server on 127.0.0.1, a thread per connection
    /// (at most `connections`), that closes after the client's
    /// `close_notify`.
    fn server(kind: Server, connections: usize) -> SocketAddr {
        let (chain, key) = tls::certificate(None, None).unwrap();
        let mut config = tls::server_config(chain, key).unwrap();
        if let Server::NoResumption = kind {
            let c = Arc::make_mut(&mut config);
            c.ticketer = Arc::new(NoTickets);
            c.session_storage = Arc::new(NoServerSessionStorage {});
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for sock in listener.incoming().take(connections) {
                let config = config.clone();
                std::thread::spawn(move || {
                    let sock = sock.unwrap();
                    sock.set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    let conn = ServerConnection::new(config).unwrap();
                    let mut stream = StreamOwned::new(conn, sock);
                    let mut buf = [0u8; 4096];
                    let mut echoed = 0;
                    loop {
                        let n = match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if let Server::Corrupts = kind {
                            if echoed <= 10 && 10 < echoed + n {
                                buf[10 - echoed] ^= 1;
                            }
                        }
                        echoed += n;
                        if stream
                            .write_all(&buf[..n])
                            .and_then(|()| stream.flush())
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A ticketer that makes no tickets.
    #[derive(Debug)]
    struct NoTickets;

    impl rustls::server::ProducesTickets for NoTickets {
        fn enabled(&self) -> bool {
            false
        }
        fn lifetime(&self) -> u32 {
            0
        }
        fn encrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
            None
        }
        fn decrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
            None
        }
    }

    fn config(addr: SocketAddr, connections: usize, handshake: bool, resumed: bool) -> Config {
        Config {
            addr,
            ca: None,
            kx: Some("X25519".to_owned()),
            connections,
            size: if handshake { HANDSHAKE_MESSAGE } else { 100 },
            pipeline: 2,
            seconds: Some(30.0),
            messages: Some(10),
            warmup: 0.0,
            timeout: Duration::from_secs(5),
            server_pid: None,
            handshake,
            resumed,
            verify_every: 4,
        }
    }

    fn run(kind: Server, handshake: bool, resumed: bool) -> (String, bool) {
        let connections = if handshake { 11 } else { 3 };
        let cfg = config(server(kind, connections), 3, handshake, resumed);
        let client =
            tls::client_config(None, resumed, cfg.kx.as_deref(), cfg.verify_every).unwrap();
        let poller = Poller::new().unwrap();
        if handshake {
            handshakes(&cfg, &client, &poller)
        } else {
            echo(&cfg, &client, &poller)
        }
    }

    fn has(line: &str, field: &str) -> bool {
        format!(" {line} ").contains(&format!(" {field} "))
    }

    #[test]
    fn echo_checks_every_byte() {
        let (line, failed) = run(Server::Good, false, false);
        assert!(!failed, "{line}");
        assert!(has(&line, "msgs=30") && has(&line, "errors=0"), "{line}");
        assert!(
            has(&line, "mismatches=0") && has(&line, "kx=X25519"),
            "{line}"
        );

        let (line, failed) = run(Server::Corrupts, false, false);
        assert!(failed, "{line}");
        assert!(
            has(&line, "mismatches=3") && has(&line, "msgs=27"),
            "{line}"
        );
    }

    #[test]
    fn full_handshakes_are_full() {
        let (line, failed) = run(Server::Good, true, false);
        assert!(!failed, "{line}");
        assert!(has(&line, "msgs=10") && has(&line, "conns=10"), "{line}");
        assert!(has(&line, "full=10") && has(&line, "resumed=0"), "{line}");
        assert!(
            has(&line, "errors=0") && has(&line, "mismatches=0"),
            "{line}"
        );
    }

    #[test]
    fn resumed_handshakes_all_resume_after_the_first() {
        let (line, failed) = run(Server::Good, true, true);
        assert!(!failed, "{line}");
        // The first connection (full) is not one of the 10 measured.
        assert!(has(&line, "msgs=10") && has(&line, "conns=11"), "{line}");
        assert!(has(&line, "full=1") && has(&line, "resumed=10"), "{line}");

        let (line, failed) = run(Server::NoResumption, true, true);
        assert!(failed, "{line}");
        assert!(
            has(&line, "full=11") && has(&line, "mismatches=10"),
            "{line}"
        );
    }

    #[test]
    fn a_corrupted_handshake_echo_is_a_mismatch() {
        let (line, failed) = run(Server::Corrupts, true, false);
        assert!(failed, "{line}");
        assert!(
            has(&line, "mismatches=10") && has(&line, "msgs=0"),
            "{line}"
        );
    }
}
