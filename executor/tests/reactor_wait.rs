//! The reactor's wait (RELIABILITY rows 27 and 28): a source added while
//! the core waits gets its events, whether another task adds it after a
//! timer or a task arrives from another core to add it; and signals that
//! interrupt the wait (`EINTR`) cause no error, no spurious wake, and no
//! early timer.

use std::future::{poll_fn, Future};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use runtime_executor::{time, AsyncFd, Runtime};

fn nonblocking_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (a, b)
}

/// Reads once from `fd`, waiting for readiness.
async fn read_some(fd: &AsyncFd<UnixStream>) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = fd.read_with(|mut s| s.read(&mut buf)).await.unwrap();
    buf[..n].to_vec()
}

#[test]
fn a_source_added_by_a_task_woken_by_a_timer_during_the_wait_gets_its_event() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (a, mut b) = nonblocking_pair();
    let writer = thread::spawn(move || {
        // Long after the source is added, while the core waits.
        thread::sleep(Duration::from_millis(100));
        b.write_all(b"late").unwrap();
        b
    });
    let got = rt.block_on(async move {
        // This task waits on a first socket that never becomes ready, so
        // the core parks; the second task adds its source after a timer.
        let (idle, _idle_peer) = nonblocking_pair();
        let idle = AsyncFd::new(idle).unwrap();
        let waiting = runtime_executor::spawn(async move { read_some(&idle).await });
        let adder = runtime_executor::spawn(async move {
            time::sleep(Duration::from_millis(20)).await;
            let fd = AsyncFd::new(a).unwrap();
            read_some(&fd).await
        });
        let got = adder.await.unwrap();
        waiting.abort();
        got
    });
    assert_eq!(got, b"late");
    drop(writer.join().unwrap());
}

#[test]
fn a_source_added_by_a_task_from_another_core_during_the_wait_gets_its_events() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    // Core 1 has nothing to do: it is parked when the task arrives.
    while handle.stats(1).parks == 0 {
        thread::yield_now();
    }
    let (a, mut b) = nonblocking_pair();
    // Bytes already waiting when the source is added, and more after.
    b.write_all(b"early").unwrap();
    let task = handle.spawn_on(1, move || async move {
        let fd = AsyncFd::new(a).unwrap();
        let first = read_some(&fd).await;
        let second = read_some(&fd).await;
        (first, second)
    });
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        b.write_all(b"later").unwrap();
        b
    });
    let (first, second) = rt.block_on(task).unwrap();
    assert_eq!(first, b"early");
    assert_eq!(second, b"later");
    drop(writer.join().unwrap());
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Installs a SIGUSR1 handler without `SA_RESTART`, so that a wait the
/// signal interrupts fails with `EINTR`.
fn install_handler() {
    // SAFETY: a zeroed `sigaction` is a valid "no flags, empty mask" value;
    // the handler only does an atomic add, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = 0;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// Sends SIGUSR1 to `thread` `n` times, 5 ms apart, from another thread.
fn signal_repeatedly(thread: libc::pthread_t, n: usize) -> thread::JoinHandle<()> {
    let thread = thread as usize;
    thread::spawn(move || {
        for _ in 0..n {
            thread::sleep(Duration::from_millis(5));
            // SAFETY: the target thread runs the runtime until the test's
            // `block_on` returns, after this thread is joined.
            unsafe { libc::pthread_kill(thread as libc::pthread_t, libc::SIGUSR1) };
        }
    })
}

#[test]
fn signals_interrupting_the_wait_cause_no_error_no_spurious_wake_and_no_early_timer() {
    const SIGNALLED: usize = 40;
    const SLEEP: Duration = Duration::from_millis(400);
    install_handler();
    let rt = Runtime::builder().cores(1).build().unwrap();
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let (a, mut b) = nonblocking_pair();
    let signaller = signal_repeatedly(me, SIGNALLED);
    let writer = thread::spawn(move || {
        // After every signal was sent.
        thread::sleep(Duration::from_millis(5 * SIGNALLED as u64 + 100));
        b.write_all(b"data").unwrap();
        b
    });
    let read_polls = Arc::new(AtomicUsize::new(0));
    let sleep_polls = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let (got, slept) = rt.block_on(async {
        let fd = AsyncFd::new(a).unwrap();
        let reading = {
            let polls = read_polls.clone();
            let mut read = Box::pin(read_some(&fd));
            poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                read.as_mut().poll(cx)
            })
        };
        let sleeping = {
            let polls = sleep_polls.clone();
            let mut sleep = Box::pin(time::sleep(SLEEP));
            poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                sleep.as_mut().poll(cx).map(|()| start.elapsed())
            })
        };
        let sleeping = runtime_executor::spawn(sleeping);
        let got = reading.await;
        (got, sleeping.await.unwrap())
    });
    signaller.join().unwrap();
    writer.join().unwrap();
    assert!(
        SIGNALS.load(Ordering::SeqCst) >= SIGNALLED / 2,
        "the signals did not arrive"
    );
    assert_eq!(got, b"data");
    assert!(slept >= SLEEP, "the timer fired early: {slept:?}");
    // One poll to start waiting, one when ready: a signal woke nothing.
    assert_eq!(
        read_polls.load(Ordering::SeqCst),
        2,
        "a spurious wake of the read"
    );
    assert_eq!(
        sleep_polls.load(Ordering::SeqCst),
        2,
        "a spurious wake of the sleep"
    );
}
