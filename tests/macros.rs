//! `#[runtime::main]` and `#[runtime::test]` driving real runtimes.
//!
//! The compile errors for misuse are checked in `tests/macros_ui.rs`.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

#[runtime::test]
async fn test_runs_the_body_to_completion() {
    let start = Instant::now();
    runtime::time::sleep(Duration::from_millis(10)).await;
    assert!(start.elapsed() >= Duration::from_millis(10));
}

#[runtime::test]
async fn test_runs_on_core_zero_by_default() {
    assert_eq!(runtime::current_core(), 0);
}

#[runtime::test]
async fn test_can_return_ok() -> io::Result<()> {
    // `?` in the body needs the async block's output inferred from the
    // function's return type.
    let n: u32 = "42".parse().map_err(io::Error::other)?;
    assert_eq!(n, 42);
    Ok(())
}

/// Doc comments stay on the generated test.
#[runtime::test]
#[should_panic(expected = "the body panicked")]
async fn test_keeps_should_panic() {
    runtime::time::sleep(Duration::from_millis(1)).await;
    panic!("the body panicked");
}

// Were `#[ignore]` dropped, this test would run and fail.
#[runtime::test]
#[ignore = "checks that #[ignore] is kept; it fails when run"]
async fn test_keeps_ignore() {
    panic!("an ignored test ran");
}

#[runtime::test(pin = false)]
async fn test_accepts_pin_option() {
    assert_eq!(runtime::current_core(), 0);
}

// Pinning is only supported on Linux; elsewhere building the runtime fails.
#[cfg(target_os = "linux")]
#[runtime::test(cores = 2, pin = true)]
async fn test_accepts_pinned_cores() {
    assert!(runtime::current_core() < 2);
}

static THREADS: Mutex<Option<HashSet<ThreadId>>> = Mutex::new(None);
static CORES: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

#[runtime::test(cores = 2, each_core)]
async fn test_each_core_runs_the_body_on_two_threads() {
    THREADS
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(thread::current().id());
    CORES
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(runtime::current_core());

    // Each core waits until both have checked in, so the assertions below
    // see both copies of the body whichever core gets here last.
    let deadline = Instant::now() + Duration::from_secs(10);
    // Both sets: a core records its thread, then its index, under two locks.
    while THREADS.lock().unwrap().as_ref().unwrap().len() < 2
        || CORES.lock().unwrap().as_ref().map_or(0, HashSet::len) < 2
    {
        assert!(
            Instant::now() < deadline,
            "the other core never ran the body"
        );
        runtime::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(THREADS.lock().unwrap().as_ref().unwrap().len(), 2);
    assert_eq!(
        CORES.lock().unwrap().as_ref().unwrap(),
        &HashSet::from([0, 1])
    );
}

#[runtime::test(cores = 2, each_core)]
async fn test_each_core_can_return_ok() -> Result<(), String> {
    runtime::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

#[runtime::test(cores = 2, pin = false, each_core)]
#[should_panic(expected = "core 1 failed")]
async fn test_each_core_fails_if_one_core_panics() {
    if runtime::current_core() == 1 {
        panic!("core 1 failed");
    }
}

// `#[runtime::main]` works on any fn name, which lets tests call it.

#[runtime::main]
async fn answer() -> u32 {
    runtime::time::sleep(Duration::from_millis(1)).await;
    42
}

#[test]
fn main_returns_the_body_output() {
    assert_eq!(answer(), 42);
}

#[runtime::main]
async fn parse_number() -> Result<u32, Box<dyn std::error::Error>> {
    let n: u32 = "7".parse()?;
    let m: u32 = "x".parse()?;
    Ok(n + m)
}

#[test]
fn main_propagates_errors_with_question_mark() {
    let error = parse_number().unwrap_err();
    assert_eq!(error.to_string(), "invalid digit found in string");
}

#[runtime::main(cores = 3, each_core)]
async fn first_error_in_core_order() -> Result<(), usize> {
    match runtime::current_core() {
        0 => Ok(()),
        core => Err(core),
    }
}

#[test]
fn main_each_core_returns_the_first_error_in_core_order() {
    assert_eq!(first_error_in_core_order(), Err(1));
}

static RUNS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

#[runtime::main(cores = 3, each_core)]
async fn record_core() {
    RUNS.lock().unwrap().push(runtime::current_core());
}

#[test]
fn main_each_core_runs_the_body_once_per_core() {
    record_core();
    let mut runs = RUNS.lock().unwrap().clone();
    runs.sort_unstable();
    assert_eq!(runs, [0, 1, 2]);
}

static ONE_SHOT_RUNS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// As `#[tokio::main]`: once, on core 0, while the other cores serve
/// `spawn_on`. A `Box<dyn Error>` (not `Send`) is a fine output.
#[runtime::main(cores = 3)]
async fn one_shot() -> Result<Vec<usize>, Box<dyn std::error::Error>> {
    ONE_SHOT_RUNS.lock().unwrap().push(runtime::current_core());
    let mut served = Vec::new();
    for core in 1..3 {
        served.push(runtime::spawn_on(core, || async { runtime::current_core() }).await?);
    }
    Ok(served)
}

#[test]
fn main_with_cores_runs_the_body_once_on_core_zero() {
    assert_eq!(one_shot().unwrap(), [1, 2]);
    assert_eq!(*ONE_SHOT_RUNS.lock().unwrap(), [0]);
}

#[runtime::main(cores = 2)]
async fn boxed_error() -> Result<(), Box<dyn std::error::Error>> {
    let _: u32 = "x".parse()?;
    Ok(())
}

#[test]
fn main_with_cores_returns_a_boxed_error() {
    let error = boxed_error().unwrap_err();
    assert_eq!(error.to_string(), "invalid digit found in string");
}

static TEST_RUNS: AtomicUsize = AtomicUsize::new(0);

#[runtime::test(cores = 2)]
async fn test_with_cores_runs_once_on_core_zero() {
    assert_eq!(runtime::current_core(), 0);
    assert_eq!(TEST_RUNS.fetch_add(1, Ordering::SeqCst), 0);
    let other = runtime::spawn_on(1, || async { runtime::current_core() });
    assert_eq!(other.await.unwrap(), 1);
}
#[runtime::test(start_paused = true)]
async fn test_start_paused_pauses_the_clock() {
    let before = runtime::time::now();
    runtime::time::sleep(Duration::from_secs(3600)).await;
    // Auto-advanced: an hour on the core's clock, none on the wall clock.
    assert!(runtime::time::now() - before >= Duration::from_secs(3600));
}

/// Port 0 bound on every core is one port: the first bind picks it and the
/// other cores' listeners join it.
#[runtime::test(cores = 3)]
async fn port_zero_on_several_cores_is_one_port() -> std::io::Result<()> {
    use runtime::net::TcpListener;
    let here = TcpListener::bind("127.0.0.1:0").await?;
    let addr = here.local_addr()?;
    for core in 1..3 {
        let there = runtime::spawn_on(core, || async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            // Kept open on its core while the next core binds.
            runtime::spawn(async move {
                runtime::time::sleep(Duration::from_millis(200)).await;
                drop(listener);
            });
            std::io::Result::Ok(addr)
        });
        assert_eq!(there.await.unwrap()?, addr);
    }
    Ok(())
}
