//! The load generator of `benches/compare.sh`, independent of every server
//! under test: one thread, non-blocking sockets on `polling` (epoll, edge
//! triggered), optionally pinned to a CPU.
//!
//! ```text
//! loadgen --port 7000 [--connections 100] [--size 64] [--pipeline 1]
//!         [--seconds 5 | --messages M] [--warmup 1] [--rate R] [--cpu N]
//!         [--timeout 5] [--server-pid PID] [--http [--path /plaintext]]
//!         [--idle [--after-traffic]]
//! ```
//!
//! Echo mode (the default): each connection keeps `--pipeline` messages of
//! `--size` bytes in flight and verifies every echoed byte. The bytes are a
//! deterministic pattern per connection and stream position, so message `m`
//! of connection `c` has its own content and any corruption, loss,
//! duplication or reordering shows as a mismatch. A message's latency runs
//! from its send to the arrival of its last echoed byte.
//!
//! Closed loop by default: a message is sent as soon as one completes.
//! `--rate R`: R messages per second in total, message `i` due at
//! `start + i / R` on connection `i % connections`, and its latency counted
//! from when it was due (no coordinated omission); `--pipeline` caps what a
//! connection has in flight, and what is due beyond that waits. The loop
//! spins between messages so that sends are paced to the microsecond.
//!
//! `--seconds T`: runs `--warmup` seconds (default 1, or a quarter of T when
//! T is under 4), then measures for T seconds. `--messages M`: every
//! connection sends M messages, all measured (no warm-up unless asked).
//!
//! `--http`: pipelined `GET <path> HTTP/1.1\r\nHost: x\r\n\r\n` requests;
//! responses are delimited by `Content-Length`, and one is ok only if its
//! status is 200 and its body `Hello, World!` (otherwise a mismatch).
//!
//! `--idle`: opens the connections, prints `connected=N errors=E`, sends
//! nothing and holds them for `--seconds` (for memory measurements). With
//! `--after-traffic`, each connection first exchanges one message of
//! `--size` bytes (sends it, reads the echo back and verifies it), one
//! connection after another, and the line also says `echoed=K`: the memory
//! of connections that have been used and then gone idle.
//!
//! Output, one line on stdout:
//! `msgs=… msgs/s=… p50=…us p99=…us p999=…us errors=… mismatches=… conns=…
//! secs=…` then ` rate=R` with `--rate`, and ` server_cpu_ns_per_msg=…` with
//! `--server-pid` (the server's user + system time over the measured window,
//! from `/proc/PID/stat`, per measured message). A connection that cannot
//! connect, is reset or closed, or makes no progress for `--timeout`
//! seconds counts as an error and is dropped; the run never hangs. Exit
//! status 1 if there was any error or mismatch, or nothing was measured.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};
use runtime_benches::load::{
    cpu_ticks, pin_to_cpu, raise_fd_limit, server_cpu_field, Histogram, Pattern, Summary, CHUNK,
    PERIOD,
};
use runtime_benches::Args;

const USAGE: &str = "loadgen --port P [--host 127.0.0.1] [--connections 1] [--size 64] \
[--pipeline 1] [--seconds 5 | --messages M] [--warmup W] [--rate R] [--cpu N] [--timeout 5] \
[--server-pid PID] [--http] [--path /plaintext] [--idle [--after-traffic]]";

/// At most this many connection errors are described on stderr.
const MAX_REPORTED: usize = 5;
/// A response head longer than this is malformed.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

struct Config {
    addr: SocketAddr,
    connections: usize,
    size: usize,
    pipeline: usize,
    seconds: Option<f64>,
    messages: Option<u64>,
    warmup: f64,
    rate: Option<f64>,
    timeout: Duration,
    server_pid: Option<u32>,
    http: bool,
    path: String,
    idle: bool,
    after_traffic: bool,
}

fn config() -> Config {
    let args = Args::parse(USAGE).only(
        &[
            "port",
            "host",
            "connections",
            "size",
            "pipeline",
            "seconds",
            "messages",
            "warmup",
            "rate",
            "cpu",
            "timeout",
            "server-pid",
            "path",
        ],
        &["http", "idle", "after-traffic"],
    );
    let Some(port) = args.opt::<u16>("port") else {
        eprintln!("--port is required\n{USAGE}");
        std::process::exit(2);
    };
    let host: std::net::IpAddr = args.get("host", [127, 0, 0, 1].into());
    let messages: Option<u64> = args.opt("messages");
    let idle = args.flag("idle");
    let seconds: Option<f64> = args.opt("seconds").or(if messages.is_some() {
        None
    } else if idle {
        Some(600.0)
    } else {
        Some(5.0)
    });
    let warmup = match (messages, seconds) {
        (None, Some(t)) => args.get("warmup", if t < 4.0 { t / 4.0 } else { 1.0 }),
        _ => args.get("warmup", 0.0),
    };
    if let Some(cpu) = args.opt::<usize>("cpu") {
        if let Err(e) = pin_to_cpu(cpu) {
            eprintln!("loadgen: --cpu {cpu}: {e}");
            std::process::exit(2);
        }
    }
    let config = Config {
        addr: SocketAddr::new(host, port),
        connections: args.get("connections", 1),
        size: args.get("size", 64),
        pipeline: args.get("pipeline", 1),
        seconds,
        messages,
        warmup,
        rate: args.opt("rate"),
        timeout: Duration::from_secs_f64(args.get("timeout", 5.0)),
        server_pid: args.opt("server-pid"),
        http: args.flag("http"),
        path: args.get("path", "/plaintext".to_owned()),
        idle,
        after_traffic: args.flag("after-traffic"),
    };
    if config.after_traffic && (!config.idle || config.http) {
        eprintln!("--after-traffic goes with --idle, in echo mode");
        std::process::exit(2);
    }
    if config.connections == 0 || config.size == 0 || config.pipeline == 0 {
        eprintln!("--connections, --size and --pipeline must be at least 1");
        std::process::exit(2);
    }
    if config.rate.is_some_and(|r| r <= 0.0) {
        eprintln!("--rate must be positive");
        std::process::exit(2);
    }
    config
}

struct Conn {
    stream: TcpStream,
    /// Pattern offset of this connection.
    seed: usize,
    /// Bytes written.
    sent: u64,
    /// Messages issued (their bytes are `issued * message`).
    issued: u64,
    /// Echo: bytes received and checked. HTTP: unused.
    received: u64,
    /// Messages completed (echoed or answered).
    completed: u64,
    /// When each message in flight was sent (or, with `--rate`, was due).
    in_flight: VecDeque<Instant>,
    /// With `--rate`: messages due but held back by `--pipeline`.
    due: VecDeque<Instant>,
    /// Echo: whether the current message had a wrong byte.
    bad: bool,
    /// HTTP: response bytes not yet parsed.
    input: Vec<u8>,
    last_progress: Instant,
}

#[derive(Default)]
struct Totals {
    measured: u64,
    errors: u64,
    mismatches: u64,
    reported: usize,
    /// Connections dropped, and those of them before their `--messages`.
    closed: usize,
    closed_unfinished: usize,
    /// Connections that completed their `--messages`.
    finished: usize,
}

impl Totals {
    fn error(&mut self, conn: usize, what: &str, e: &dyn std::fmt::Display) {
        self.errors += 1;
        if self.reported < MAX_REPORTED {
            self.reported += 1;
            eprintln!("loadgen: connection {conn}: {what}: {e}");
        }
    }
}

/// The measured window: messages completing from `from` until `until`.
struct Window {
    from: Instant,
    until: Option<Instant>,
    /// `--messages`: a connection is finished after this many.
    messages: Option<u64>,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.from && self.until.is_none_or(|u| t < u)
    }
}

fn main() {
    let cfg = config();
    raise_fd_limit();
    let pattern = if cfg.http {
        Pattern::http(&cfg.path)
    } else {
        Pattern::echo(cfg.size)
    };
    let poller = Poller::new().expect("epoll");
    let mut totals = Totals::default();

    // Connect one at a time: a server's accept queue never overflows.
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(cfg.connections);
    let connect_timeout = cfg.timeout.max(Duration::from_secs(1));
    for c in 0..cfg.connections {
        let stream = TcpStream::connect_timeout(&cfg.addr, connect_timeout).and_then(|s| {
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        match stream {
            Ok(stream) => {
                // SAFETY: the stream is deleted from the poller before it
                // is dropped (`close`), or outlives the poller.
                let added = unsafe { poller.add_with_mode(&stream, Event::all(c), PollMode::Edge) };
                if let Err(e) = added {
                    totals.error(c, "register", &e);
                    conns.push(None);
                    continue;
                }
                conns.push(Some(Conn {
                    stream,
                    // Echo: each connection's own pattern. HTTP: requests
                    // from their first byte.
                    seed: if cfg.http {
                        0
                    } else {
                        c.wrapping_mul(7919) % PERIOD
                    },
                    sent: 0,
                    issued: 0,
                    received: 0,
                    completed: 0,
                    in_flight: VecDeque::new(),
                    due: VecDeque::new(),
                    bad: false,
                    input: Vec::new(),
                    last_progress: Instant::now(),
                }));
            }
            Err(e) => {
                totals.error(c, "connect", &e);
                conns.push(None);
            }
        }
    }
    let connected = conns.iter().filter(|c| c.is_some()).count();

    if cfg.idle {
        if cfg.after_traffic {
            let mut echoed = 0;
            for (c, slot) in conns.iter_mut().enumerate() {
                let Some(conn) = slot else { continue };
                let message = pattern.slice(conn.seed, 0, cfg.size);
                match exchange_once(&conn.stream, message, cfg.timeout) {
                    Ok(()) => echoed += 1,
                    Err(e) => {
                        totals.error(c, "exchange", &e);
                        *slot = None;
                    }
                }
            }
            print!("echoed={echoed} ");
        }
        println!("connected={connected} errors={}", totals.errors);
        let _ = io::stdout().flush();
        std::thread::sleep(Duration::from_secs_f64(cfg.seconds.unwrap_or(600.0)));
        return;
    }

    let start = Instant::now();
    let window = Window {
        from: start + Duration::from_secs_f64(cfg.warmup),
        until: cfg
            .seconds
            .filter(|_| cfg.messages.is_none())
            .map(|t| start + Duration::from_secs_f64(cfg.warmup + t)),
        messages: cfg.messages,
    };
    // With --messages, --seconds is a limit on the whole run.
    let hard_stop = match (cfg.messages, cfg.seconds) {
        (Some(_), Some(t)) => Some(start + Duration::from_secs_f64(t)),
        _ => window.until,
    };
    let interval = cfg.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_due: u64 = 0; // with --rate: the next message to schedule
    let mut hist = Histogram::new();
    let mut cpu_at_window_start: Option<u64> = None;
    let mut window_started_at: Option<Instant> = None;
    let mut last_completion = start;

    // Closed loop: fill every pipeline.
    if interval.is_none() {
        for (c, slot) in conns.iter_mut().enumerate() {
            if let Some(conn) = slot {
                conn.last_progress = start;
                while conn.in_flight.len() < cfg.pipeline && !done_issuing(conn, &cfg) {
                    conn.issued += 1;
                    conn.in_flight.push_back(start);
                }
                if let Err(e) = flush(conn, &pattern) {
                    totals.error(c, "write", &e);
                    close(&poller, slot, &mut totals, &cfg);
                }
            }
        }
    }

    let mut scratch = vec![0u8; CHUNK];
    let mut events = Events::with_capacity(std::num::NonZeroUsize::new(1024).unwrap());
    let mut touched: Vec<usize> = Vec::new();
    let mut last_check = start;
    loop {
        let now = Instant::now();
        if window_started_at.is_none() && now >= window.from {
            window_started_at = Some(now);
            cpu_at_window_start = cfg.server_pid.and_then(cpu_ticks);
        }
        if hard_stop.is_some_and(|h| now >= h) {
            break;
        }
        if totals.closed >= connected
            || (cfg.messages.is_some() && totals.finished + totals.closed_unfinished >= connected)
        {
            break;
        }

        // With --rate: hand out what is due by now.
        if let Some(interval) = interval {
            loop {
                let due_at = start + interval.mul_f64(next_due as f64);
                if due_at > now {
                    break;
                }
                let c = (next_due % cfg.connections as u64) as usize;
                next_due += 1;
                if let Some(conn) = &mut conns[c] {
                    if !done_issuing_due(conn, &cfg) {
                        conn.due.push_back(due_at);
                        touched.push(c);
                    }
                }
            }
            for c in touched.drain(..) {
                issue_and_flush(&poller, &mut conns[c], c, &cfg, &pattern, &mut totals, now);
            }
        }

        // Wait: spin while paced sends are close, else sleep until the
        // next deadline (at most 100 ms, to watch for stalls).
        let mut timeout = Duration::from_millis(100);
        if let Some(interval) = interval {
            let due_at = start + interval.mul_f64(next_due as f64);
            timeout = timeout.min(due_at.saturating_duration_since(now));
            if timeout < Duration::from_micros(500) {
                timeout = Duration::ZERO;
            }
        }
        if window_started_at.is_none() {
            timeout = timeout.min(window.from.saturating_duration_since(now));
        }
        if let Some(h) = hard_stop {
            timeout = timeout.min(h.saturating_duration_since(now));
        }
        events.clear();
        if let Err(e) = poller.wait(&mut events, Some(timeout)) {
            eprintln!("loadgen: epoll: {e}");
            std::process::exit(1);
        }
        let now = Instant::now();
        for ev in events.iter() {
            let c = ev.key;
            let slot = &mut conns[c];
            let Some(conn) = slot else { continue };
            if ev.readable || ev.is_err().unwrap_or(false) {
                let read = if cfg.http {
                    read_http(conn, &mut scratch, &mut hist, &window, &mut totals, now)
                } else {
                    read_echo(
                        conn,
                        &cfg,
                        &pattern,
                        &mut scratch,
                        &mut hist,
                        &window,
                        &mut totals,
                        now,
                    )
                };
                match read {
                    Ok(progress) => {
                        if progress {
                            last_completion = now;
                        }
                    }
                    Err(e) => {
                        totals.error(c, "read", &e);
                        close(&poller, slot, &mut totals, &cfg);
                        continue;
                    }
                }
            }
            issue_and_flush(&poller, slot, c, &cfg, &pattern, &mut totals, now);
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
                        totals.error(c, "timeout", &what);
                        close(&poller, slot, &mut totals, &cfg);
                    }
                }
            }
        }
    }

    let end = Instant::now();
    let cpu_end = cfg.server_pid.and_then(cpu_ticks);
    let window_start = window_started_at.unwrap_or(end);
    let measured_end = if cfg.messages.is_some() {
        last_completion.max(window_start)
    } else {
        window.until.map_or(end, |u| u.min(end))
    };
    let secs = measured_end.duration_since(window_start).as_secs_f64();
    let mut line = Summary {
        measured: totals.measured,
        secs,
        hist: &hist,
        errors: totals.errors,
        mismatches: totals.mismatches,
        conns: connected,
    }
    .line();
    if let Some(rate) = cfg.rate {
        line += &format!(" rate={rate:.0}");
    }
    if cfg.server_pid.is_some() {
        line += &server_cpu_field(cpu_at_window_start, cpu_end, totals.measured);
    }
    println!("{line}");
    drop(conns);
    if totals.errors > 0 || totals.mismatches > 0 || totals.measured == 0 {
        std::process::exit(1);
    }
}

/// Whether a connection has issued all its `--messages`.
/// Sends `message` on `stream` (non-blocking) and reads its echo back,
/// checking every byte, within `timeout`.
fn exchange_once(mut stream: &TcpStream, message: &[u8], timeout: Duration) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(message)?;
    let mut echo = vec![0u8; message.len()];
    stream.read_exact(&mut echo)?;
    stream.set_nonblocking(true)?;
    if echo != message {
        return Err(io::Error::new(ErrorKind::InvalidData, "echo differs"));
    }
    Ok(())
}

fn done_issuing(conn: &Conn, cfg: &Config) -> bool {
    cfg.messages.is_some_and(|m| conn.issued >= m)
}

/// Same, counting what `--rate` has made due.
fn done_issuing_due(conn: &Conn, cfg: &Config) -> bool {
    cfg.messages
        .is_some_and(|m| conn.issued + conn.due.len() as u64 >= m)
}

fn close(poller: &Poller, slot: &mut Option<Conn>, totals: &mut Totals, cfg: &Config) {
    if let Some(conn) = slot.take() {
        let _ = poller.delete(&conn.stream);
        totals.closed += 1;
        if cfg.messages.is_none_or(|m| conn.completed < m) {
            totals.closed_unfinished += 1;
        }
    }
}

/// Issues what the connection may send now (closed loop: refill the
/// pipeline; `--rate`: what is due, up to the pipeline), then writes.
fn issue_and_flush(
    poller: &Poller,
    slot: &mut Option<Conn>,
    c: usize,
    cfg: &Config,
    pattern: &Pattern,
    totals: &mut Totals,
    now: Instant,
) {
    let Some(conn) = slot else { return };
    if cfg.rate.is_some() {
        while conn.in_flight.len() < cfg.pipeline {
            let Some(due_at) = conn.due.pop_front() else {
                break;
            };
            if conn.in_flight.is_empty() {
                conn.last_progress = now;
            }
            conn.issued += 1;
            conn.in_flight.push_back(due_at);
        }
    } else {
        while conn.in_flight.len() < cfg.pipeline && !done_issuing(conn, cfg) {
            conn.issued += 1;
            conn.in_flight.push_back(now);
        }
    }
    if let Err(e) = flush(conn, pattern) {
        totals.error(c, "write", &e);
        close(poller, slot, totals, cfg);
    }
}

/// Writes what was issued and not yet sent, until done or the socket is full.
fn flush(conn: &mut Conn, pattern: &Pattern) -> io::Result<()> {
    let target = conn.issued * pattern.message as u64;
    while conn.sent < target {
        let len = (target - conn.sent).min(CHUNK as u64) as usize;
        match conn.stream.write(pattern.slice(conn.seed, conn.sent, len)) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => conn.sent += n as u64,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One read: `Some(n)` bytes (never 0: end of stream is an error), or
/// `None` if the socket has nothing more.
fn read_some(stream: &mut TcpStream, scratch: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match stream.read(scratch) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "closed by the server",
                ))
            }
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Completes the message at the front of the connection's pipeline.
fn complete(
    conn: &mut Conn,
    ok: bool,
    hist: &mut Histogram,
    window: &Window,
    totals: &mut Totals,
    now: Instant,
) {
    let sent_at = conn.in_flight.pop_front().unwrap_or(now);
    conn.completed += 1;
    conn.last_progress = now;
    if window.messages == Some(conn.completed) {
        totals.finished += 1;
    }
    if !ok {
        totals.mismatches += 1;
    } else if window.contains(now) {
        totals.measured += 1;
        hist.record(now.duration_since(sent_at).as_nanos() as u64);
    }
}

/// Echo mode: checks every byte against what was sent at that position.
/// Returns whether a message completed.
#[allow(clippy::too_many_arguments)]
fn read_echo(
    conn: &mut Conn,
    cfg: &Config,
    pattern: &Pattern,
    scratch: &mut [u8],
    hist: &mut Histogram,
    window: &Window,
    totals: &mut Totals,
    now: Instant,
) -> io::Result<bool> {
    let size = cfg.size as u64;
    let before = conn.completed;
    // Edge triggered: read until a short read or `WouldBlock`.
    while let Some(n) = read_some(&mut conn.stream, scratch)? {
        let mut data = &scratch[..n];
        while !data.is_empty() {
            if conn.received >= conn.sent {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "more bytes than were sent",
                ));
            }
            let in_message = conn.received % size;
            let take = ((size - in_message) as usize)
                .min(data.len())
                .min((conn.sent - conn.received) as usize);
            if data[..take] != *pattern.slice(conn.seed, conn.received, take) {
                conn.bad = true;
            }
            conn.received += take as u64;
            data = &data[take..];
            conn.last_progress = now;
            if conn.received.is_multiple_of(size) {
                let ok = !std::mem::take(&mut conn.bad);
                complete(conn, ok, hist, window, totals, now);
            }
        }
        if n < scratch.len() {
            break;
        }
    }
    Ok(conn.completed > before)
}

/// HTTP mode: parses responses by `Content-Length`. Returns whether a
/// response completed.
fn read_http(
    conn: &mut Conn,
    scratch: &mut [u8],
    hist: &mut Histogram,
    window: &Window,
    totals: &mut Totals,
    now: Instant,
) -> io::Result<bool> {
    let before = conn.completed;
    let mut input = std::mem::take(&mut conn.input);
    while let Some(n) = read_some(&mut conn.stream, scratch)? {
        input.extend_from_slice(&scratch[..n]);
        if n < scratch.len() {
            break;
        }
    }
    let mut used = 0;
    while let Some((len, ok)) = parse_response(&input[used..])? {
        if conn.in_flight.is_empty() {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "a response to no request",
            ));
        }
        used += len;
        complete(conn, ok, hist, window, totals, now);
    }
    input.drain(..used);
    conn.input = input;
    Ok(conn.completed > before)
}

/// One response at the front of `buf`: its length and whether it is
/// `200` with body `Hello, World!`; `None` if it is not all there yet.
fn parse_response(buf: &[u8]) -> io::Result<Option<(usize, bool)>> {
    let bad = |what: &str| io::Error::new(ErrorKind::InvalidData, what.to_owned());
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(bad("response head too long"));
        }
        return Ok(None);
    };
    let head = &buf[..head_end];
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = lines.next().unwrap_or_default();
    if !(status_line.starts_with(b"HTTP/1.1 ") || status_line.starts_with(b"HTTP/1.0 "))
        || status_line.len() < 12
    {
        return Err(bad("malformed status line"));
    }
    let status = &status_line[9..12];
    let mut content_length = None;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            if line[..colon].eq_ignore_ascii_case(b"content-length") {
                let value = std::str::from_utf8(&line[colon + 1..])
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| bad("malformed Content-Length"))?;
                content_length = Some(value);
            }
        }
    }
    let body_len = content_length.ok_or_else(|| bad("response without Content-Length"))?;
    let total = head_end + 4 + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[head_end + 4..total];
    Ok(Some((total, status == b"200" && body == b"Hello, World!")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(parse_response(ok).unwrap(), Some((ok.len(), true)));
        assert_eq!(parse_response(&ok[..ok.len() - 1]).unwrap(), None);
        let not_found = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            parse_response(not_found).unwrap(),
            Some((not_found.len(), false))
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    /// A server on 127.0.0.1 that answers one 64-byte message with
    /// `reply(message)`, then holds the connection.
    fn one_shot_server(reply: fn(&mut [u8])) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            stream.read_exact(&mut buf).unwrap();
            reply(&mut buf);
            stream.write_all(&buf).unwrap();
            // Open until the client closes.
            let _ = stream.read_to_end(&mut Vec::new());
        });
        addr
    }

    #[test]
    fn after_traffic_exchange_checks_the_echo() {
        let message = Pattern::echo(64).slice(5, 0, 64).to_vec();
        let timeout = Duration::from_secs(5);
        let addr = one_shot_server(|_| {});
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nonblocking(true).unwrap();
        exchange_once(&stream, &message, timeout).unwrap();
        // Left non-blocking for the poller.
        let mut byte = [0u8; 1];
        let err = (&stream).read(&mut byte).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);

        let addr = one_shot_server(|buf| buf[10] ^= 1);
        let stream = TcpStream::connect(addr).unwrap();
        let err = exchange_once(&stream, &message, timeout).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
    }
}
