//! The runtime as a whole: cores, entries, stopping, panics at the top.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use runtime::Runtime;

#[test]
fn zero_cores_is_an_error() {
    let err = Runtime::builder().cores(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn run_on_all_cores_uses_one_thread_per_core() {
    let rt = Runtime::builder().cores(3).build().unwrap();
    let ids = Arc::new(Mutex::new(Vec::new()));
    let seen = ids.clone();
    let cores = rt.run_on_all_cores(move || {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(thread::current().id());
            runtime::current_core()
        }
    });
    assert_eq!(cores, vec![0, 1, 2]);
    let mut ids = ids.lock().unwrap().clone();
    ids.sort_by_key(|id| format!("{id:?}"));
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[test]
fn block_on_borrows_from_the_caller() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let mut data = vec![1, 2, 3];
    rt.block_on(async {
        data.push(4);
    });
    assert_eq!(data, vec![1, 2, 3, 4]);
    // A runtime can run several entries in turn.
    assert_eq!(rt.block_on(async { data.len() }), 4);
}

#[test]
fn a_panicking_core_entry_is_reported_not_hung() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let results = rt.try_run_on_all_cores(|| async {
        if runtime::current_core() == 1 {
            panic!("core 1 entry fails");
        }
        // Core 0 would wait forever; the panic on core 1 stops the runtime.
        std::future::pending::<()>().await;
    });
    assert_eq!(results.len(), 2);
    assert!(results[0].as_ref().unwrap_err().is_cancelled());
    assert!(results[1].as_ref().unwrap_err().is_panic());
    assert!(rt.handle().is_stopped());
}

#[test]
fn run_on_all_cores_resumes_a_core_panic() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.run_on_all_cores(|| async {
            if runtime::current_core() == 1 {
                panic!("entry panic");
            }
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "entry panic");
}

#[test]
fn handle_stop_ends_every_core() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    let stopper = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(20));
        handle.stop();
    });
    let results = rt.try_run_on_all_cores(std::future::pending::<()>);
    stopper.join().unwrap();
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap_err().is_cancelled()));
    let handle = rt.handle();
    assert!(handle.is_stopped());
    assert!(handle.is_core_closed(0));
}

#[test]
fn block_on_panics_clearly_after_stop() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    // A future that is ready at once still completes: it is polled first.
    rt.handle().stop();
    assert_eq!(rt.block_on(async { 1 }), 1);
    // One that must wait can never complete on a stopped runtime.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(std::future::pending::<()>())
    }));
    let payload = caught.expect_err("block_on returned on a stopped runtime");
    let msg = payload.downcast::<&str>().unwrap();
    assert!(msg.contains("stopped"), "{msg}");
}

#[test]
fn nested_block_on_is_refused() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let inner = Runtime::builder().cores(1).build().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { inner.block_on(async {}) })
    }));
    assert!(caught.is_err());
}

#[cfg(target_os = "linux")]
#[test]
fn pinned_cores_run_on_one_cpu_each() {
    fn cpus_of_this_thread() -> usize {
        // SAFETY: zeroed cpu_set_t is valid; the size matches the set passed.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
            libc::CPU_COUNT(&set) as usize
        }
    }
    let before = cpus_of_this_thread();
    let rt = Runtime::builder().cores(2).pin_cores(true).build().unwrap();
    let counts = rt.run_on_all_cores(|| async { cpus_of_this_thread() });
    assert_eq!(counts, vec![1, 1]);
    // The caller's thread gets its CPUs back after the entry returns.
    assert_eq!(cpus_of_this_thread(), before);
}

#[test]
fn dropping_the_runtime_joins_every_core() {
    let ran = Arc::new(AtomicBool::new(false));
    {
        let rt = Runtime::builder().cores(4).build().unwrap();
        let r = ran.clone();
        rt.block_on(async move {
            runtime::spawn_on(3, move || async move { r.store(true, Ordering::SeqCst) })
                .await
                .unwrap();
        });
    }
    assert!(ran.load(Ordering::SeqCst));
}
