//! Helpers the socket tests share: the fd limit, a seeded PRNG, an echo
//! service, bounded waits, temp directories for socket files, and a
//! counting allocator.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::AsyncBufReadExt;
use runtime_net::TcpStream;

/// Raises this process's soft `RLIMIT_NOFILE` to the hard limit and returns
/// the new soft limit.
pub fn raise_fd_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0,
        "getrlimit: {}",
        io::Error::last_os_error()
    );
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    // `RLIM_INFINITY` saturates.
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}

/// Puts the process out of file descriptors: lowers the soft
/// `RLIMIT_NOFILE` to 256 (at most) and opens `/dev/null` until no fd is
/// left. Returns the limit to restore ([`restore_fd_limit`]) and the files
/// holding the fds (drop them to free the fds).
pub fn exhaust_fds() -> (libc::rlimit, Vec<std::fs::File>) {
    let mut saved = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) },
        0
    );
    let low = libc::rlimit {
        rlim_cur: 256.min(saved.rlim_max),
        rlim_max: saved.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let mut hogs = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hogs.push(f);
        assert!(hogs.len() < 100_000, "the fd limit did not apply");
    }
    (saved, hogs)
}

/// Restores the fd limit [`exhaust_fds`] saved.
pub fn restore_fd_limit(saved: &libc::rlimit) {
    // SAFETY: setrlimit reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, saved) }, 0);
}

/// Puts the process out of file descriptors ([`exhaust_fds`]) while a
/// connection waits, checks that `accept` backs off (it has not returned
/// after 250 ms) and that it takes the connection within 3 s once the fds
/// are free again, then restores the fd limit. Returns what it accepted.
pub async fn accept_through_fd_exhaustion<T, F>(mut accept: impl FnMut() -> F) -> T
where
    F: Future<Output = io::Result<T>>,
{
    use runtime_executor::time::timeout;
    let (saved, hogs) = exhaust_fds();
    // accept fails with EMFILE now: it must back off, not spin or fail.
    let res = timeout(Duration::from_millis(250), accept()).await;
    assert!(res.is_err(), "accept returned while no fd was free");
    drop(hogs);
    let accepted = timeout(Duration::from_secs(3), accept())
        .await
        .expect("accept resumed after fds were freed")
        .unwrap();
    restore_fd_limit(&saved);
    accepted
}

/// How many file descriptors this process has open (the directory handle
/// `read_dir` holds while listing is counted too, the same every time).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count()
}

/// Echoes every byte until the peer closes. Like `examples/echo.rs`, it
/// moves bytes from the inbound ring to the outbound ring, so an idle
/// connection holds no buffer of its own.
pub async fn echo(mut stream: TcpStream) -> io::Result<()> {
    let (mut reader, mut writer) = TcpStream::split(&mut stream);
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len();
        writer.write_all(chunk).await?;
        reader.consume(n);
    }
}

/// Polls `done` every millisecond until it holds; panics with `what` after
/// `limit`, so a lost wake-up fails the test instead of hanging it.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// xorshift64*: a small, seeded, deterministic PRNG, so a failing run can be
/// replayed with the seed it prints.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator for `seed` (0 is replaced: xorshift never leaves zero).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..=max` (the modulo bias is irrelevant here).
    pub fn up_to(&mut self, max: usize) -> usize {
        (self.next_u64() % (max as u64 + 1)) as usize
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

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.up_to(i));
        }
    }
}

/// A fresh directory for one test's socket files (per process, so test
/// binaries running at once never share one).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runtime-net-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's resident field");
    // SAFETY: `sysconf` only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page as usize
}

/// Counts the bytes allocated and not yet freed, process-wide.
///
/// A test binary that wants it declares it its global allocator:
/// `#[global_allocator] static A: util::CountingAllocator = util::CountingAllocator;`
pub struct CountingAllocator;

pub static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it from the
    // allocator neither allocates nor registers anything.
    /// Bytes this thread allocated less those it freed.
    pub static THREAD_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: usize, allocated: bool) {
    if allocated {
        LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
    } else {
        LIVE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
    }
    let delta = if allocated {
        bytes as isize
    } else {
        -(bytes as isize)
    };
    let _ = THREAD_BYTES.try_with(|b| b.set(b.get() + delta));
}

// SAFETY: every call is forwarded to `System` with the caller's arguments;
// the counter only observes sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size(), true);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size(), true);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        count(layout.size(), false);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size, true);
            count(layout.size(), false);
        }
        new
    }
}
