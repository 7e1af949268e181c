//! A million timers through the runtime, 90 % cancelled (RELIABILITY row
//! 29): none fires early, the core answers a socket while they are pending,
//! and the memory they took is given back. 1 000 000 in a release build
//! (`.ci/run` runs this file with `--release`), 100 000 in a debug build.
//! Its own test binary: a counting allocator sees the whole process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::{poll_fn, Future};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use runtime_executor::time::{self, Instant, Sleep};
use runtime_executor::{AsyncFd, Runtime};

const TIMERS: usize = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};
/// One in ten is kept; the rest are cancelled.
const KEPT_EVERY: usize = 10;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Counts the bytes allocated and not yet freed.
struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

// SAFETY: every call is forwarded to `System` with the caller's arguments;
// the counter only observes sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// splitmix64, seeded: the durations are the same every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

#[test]
fn a_million_sleeps_most_cancelled_none_early_memory_back_core_responsive() {
    let heap_before = LIVE_BYTES.load(Ordering::Relaxed);
    let (a, mut peer) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    // The runtime on a thread of its own: what its thread-locals keep goes
    // with it.
    let runtime_thread = thread::spawn(move || {
        let rt = Runtime::builder().cores(1).build().unwrap();
        rt.block_on(async move {
            let mut rng = Rng(0x5eed_0029);
            let start = Instant::now();
            // Deadlines 0.5 s to 1.5 s away, every one registered with the
            // wheel by a first poll (one that is already due under a slow
            // machine's load is checked like the others).
            let mut sleeps: Vec<(Instant, Pin<Box<Sleep>>)> = (0..TIMERS)
                .map(|_| {
                    let at = start + Duration::from_millis(500 + rng.below(1000));
                    (at, Box::pin(time::sleep_until(at)))
                })
                .collect();
            poll_fn(|cx| {
                for (_, sleep) in &mut sleeps {
                    let _ = sleep.as_mut().poll(cx);
                }
                Poll::Ready(())
            })
            .await;
            let heap_registered = LIVE_BYTES.load(Ordering::Relaxed);
            // Cancel nine in ten; each kept one waits in a task of its own.
            let pending = Rc::new(AtomicUsize::new(0));
            let early = Rc::new(AtomicUsize::new(0));
            let mut tasks = Vec::with_capacity(TIMERS / KEPT_EVERY);
            for (i, (at, sleep)) in sleeps.drain(..).enumerate() {
                if i % KEPT_EVERY != 0 {
                    continue; // dropped: cancelled
                }
                let (pending, early) = (pending.clone(), early.clone());
                pending.fetch_add(1, Ordering::Relaxed);
                tasks.push(runtime_executor::spawn(async move {
                    sleep.await;
                    if Instant::now() < at {
                        early.fetch_add(1, Ordering::Relaxed);
                    }
                    pending.fetch_sub(1, Ordering::Relaxed);
                }));
            }
            drop(sleeps);
            // The core answers a socket while the timers are pending.
            let fd = AsyncFd::new(a).unwrap();
            let mut buf = [0u8; 4];
            let n = fd.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            fd.write_with(|mut s| s.write(&buf[..n])).await.unwrap();
            let pending_at_echo = pending.load(Ordering::Relaxed);
            for task in tasks {
                task.await.unwrap();
            }
            (
                heap_registered,
                pending_at_echo,
                early.load(Ordering::Relaxed),
            )
        })
    });
    peer.write_all(b"ping").unwrap();
    let mut echo = [0u8; 4];
    peer.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping");
    let (heap_registered, pending_at_echo, early) = runtime_thread.join().unwrap();
    drop(peer);
    let heap_after = LIVE_BYTES.load(Ordering::Relaxed);
    eprintln!(
        "{TIMERS} timers: live heap {heap_before} B before, {heap_registered} B registered, \
         {heap_after} B after; {pending_at_echo} pending at the echo"
    );
    assert_eq!(early, 0, "timers fired early");
    assert!(
        pending_at_echo > 0,
        "the core answered the socket only after every timer"
    );
    assert!(
        heap_registered > heap_before + TIMERS * 16,
        "the timers took no memory?"
    );
    assert!(
        heap_after <= heap_before + 8 * 1024,
        "{} B not given back",
        heap_after - heap_before
    );
}
