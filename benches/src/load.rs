//! What the load generators share (`loadgen`, `tls_loadgen`): the byte
//! pattern every echoed byte is checked against, the latency histogram,
//! the server CPU time read from `/proc`, and the result line that
//! `benches/compare.sh` parses.

use std::io;

/// Length of the pattern's period: a prime, so that connections' patterns
/// (offset by a per-connection seed) never line up with message sizes.
pub const PERIOD: usize = 65_521;
/// Longest slice taken from a pattern table at once.
pub const CHUNK: usize = 64 * 1024;
/// Pins the calling thread to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, and CPU_SET is
    // bounds-checked by libc's macro against CPU_SETSIZE.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft limit on open files to the hard one.
pub fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// What a connection sends: the bytes at stream position `p` are
/// `table[start(p)..]`, and any slice of up to `CHUNK` bytes from there is
/// contiguous.
pub struct Pattern {
    table: Vec<u8>,
    /// Echo: the pattern period. HTTP: the request length.
    period: usize,
    /// Length of one message (echo) or request (HTTP).
    pub message: usize,
}

impl Pattern {
    /// Messages of `size` bytes, from a pseudo-random pattern.
    pub fn echo(size: usize) -> Pattern {
        // xorshift64*: deterministic and not periodic within the table.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let base: Vec<u8> = (0..PERIOD)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect();
        let table = (0..PERIOD + CHUNK).map(|i| base[i % PERIOD]).collect();
        Pattern {
            table,
            period: PERIOD,
            message: size,
        }
    }

    /// `GET path` requests, back to back.
    pub fn http(path: &str) -> Pattern {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
        let copies = (CHUNK + request.len()).div_ceil(request.len()) + 1;
        Pattern {
            table: request.repeat(copies),
            period: request.len(),
            message: request.len(),
        }
    }

    /// The `len` bytes (at most `CHUNK`) that connection `seed` sends at
    /// stream position `pos`.
    pub fn slice(&self, seed: usize, pos: u64, len: usize) -> &[u8] {
        let start = ((pos + seed as u64) % self.period as u64) as usize;
        &self.table[start..start + len]
    }
}

/// Latencies in nanoseconds: log buckets with 64 linear sub-buckets per
/// power of two (HdrHistogram-style, under 1.6% relative error).
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

impl Histogram {
    const SUB: u32 = 6; // 2^6 = 64 sub-buckets

    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; 64 << Self::SUB],
            total: 0,
        }
    }

    fn index(v: u64) -> usize {
        let linear = 2u64 << Self::SUB; // values below 128 are exact
        if v < linear {
            return v as usize;
        }
        let shift = 63 - v.leading_zeros() - Self::SUB; // >= 1
        ((shift as usize) << Self::SUB) + (v >> shift) as usize
    }

    /// The middle of bucket `i`'s range.
    fn value(i: usize) -> u64 {
        let linear = 2usize << Self::SUB;
        if i < linear {
            return i as u64;
        }
        let shift = (i >> Self::SUB) - 1;
        let mantissa = (i - (shift << Self::SUB)) as u64;
        (mantissa << shift) + (1u64 << shift) / 2
    }

    /// Counts one latency of `ns` nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
    }

    /// The latency at quantile `q` (0 to 1), in nanoseconds; 0 if empty.
    pub fn percentile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i);
            }
        }
        Self::value(self.counts.len() - 1)
    }
}

/// The process's user + system time in clock ticks (`/proc/PID/stat`
/// fields 14 and 15), all threads included.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (the unit of [`cpu_ticks`]).
pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// A run's result, printed as the one line that `benches/compare.sh` parses:
/// `msgs=… msgs/s=… p50=…us p99=…us p999=…us errors=… mismatches=… conns=…
/// secs=…`.
pub struct Summary<'a> {
    /// Messages (or handshakes) completed in the measured window.
    pub measured: u64,
    /// Length of the measured window.
    pub secs: f64,
    /// Their latencies.
    pub hist: &'a Histogram,
    /// Connections that failed (connect, reset, timeout, TLS error).
    pub errors: u64,
    /// Messages whose reply was wrong.
    pub mismatches: u64,
    /// Connections opened.
    pub conns: usize,
}

impl Summary<'_> {
    /// The result line, without a newline.
    pub fn line(&self) -> String {
        let per_sec = if self.secs > 0.0 {
            self.measured as f64 / self.secs
        } else {
            0.0
        };
        let us = |q| self.hist.percentile(q) as f64 / 1000.0;
        format!(
            "msgs={} msgs/s={:.0} p50={:.1}us p99={:.1}us p999={:.1}us errors={} mismatches={} \
             conns={} secs={:.2}",
            self.measured,
            per_sec,
            us(0.5),
            us(0.99),
            us(0.999),
            self.errors,
            self.mismatches,
            self.conns,
            self.secs,
        )
    }
}

/// The ` server_cpu_ns_per_msg=…` field: the server's CPU time between two
/// [`cpu_ticks`] readings, per measured message (`n/a` without both).
pub fn server_cpu_field(start: Option<u64>, end: Option<u64>, measured: u64) -> String {
    match (start, end) {
        (Some(a), Some(b)) if measured > 0 => {
            let ns = b.saturating_sub(a) as f64 * 1e9 / clock_ticks_per_sec() / measured as f64;
            format!(" server_cpu_ns_per_msg={ns:.0}")
        }
        _ => " server_cpu_ns_per_msg=n/a".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_contiguous_and_close() {
        let mut last = 0;
        for v in (0..1_000_000u64).chain([1 << 40, u64::MAX / 2]) {
            let i = Histogram::index(v);
            assert!(i >= last, "index went down at {v}");
            last = i;
            let mid = Histogram::value(i);
            let err = (mid as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 0.016, "{v} -> bucket {i} -> {mid}");
        }
        let mut h = Histogram::new();
        for v in 1..=1000 {
            h.record(v * 1000);
        }
        let p50 = h.percentile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.016);
    }

    #[test]
    fn patterns_differ_between_connections() {
        let p = Pattern::echo(64);
        assert_ne!(p.slice(0, 0, 64), p.slice(7919, 0, 64));
        assert_ne!(p.slice(0, 0, 64), p.slice(0, 64, 64));
        assert_eq!(p.slice(3, PERIOD as u64, 64), p.slice(3, 0, 64));
    }
}
