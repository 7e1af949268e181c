//! Shutdown: pending tasks are dropped on their core, I/O fails afterwards.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use runtime::{AsyncFd, Runtime};

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn pending_tasks_are_dropped_with_destructors_on_their_core() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder().cores(2).build().unwrap();
    let d = dropped.clone();
    rt.block_on(async move {
        for core in 0..2 {
            for _ in 0..50 {
                let d = d.clone();
                drop(runtime::spawn_on(core, move || async move {
                    let guard = CountOnDrop(d);
                    // A `!Send` value whose destructor must run on this core.
                    let rc = std::rc::Rc::new(runtime::current_core());
                    std::future::pending::<()>().await;
                    drop((guard, rc));
                }));
            }
        }
        // Tasks blocked in I/O too.
        let d = d.clone();
        drop(runtime::spawn_on(1, move || async move {
            let _guard = CountOnDrop(d);
            let (a, _b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = AsyncFd::new(a).unwrap();
            let mut buf = [0u8; 8];
            let _ = a.read_with(|mut s| s.read(&mut buf)).await;
        }));
        runtime::yield_now().await;
    });
    // Let the tasks on core 1 start (so they are idle, in no queue).
    std::thread::sleep(std::time::Duration::from_millis(20));
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 101);
}

#[test]
fn io_object_fails_after_its_runtime_is_gone() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = rt.block_on(async { AsyncFd::new(a).unwrap() });
    drop(rt);
    let other = Runtime::builder().cores(1).build().unwrap();
    let err = other.block_on(async { fd.readable().await.unwrap_err() });
    assert!(err.to_string().contains("shut down"), "{err}");
    let mut buf = [0u8; 1];
    let err = other
        .block_on(async { fd.read_with(|mut s| s.read(&mut buf)).await })
        .unwrap_err();
    assert!(err.to_string().contains("shut down"), "{err}");
}

#[test]
fn async_fd_outside_a_core_is_an_error() {
    let (a, _b) = UnixStream::pair().unwrap();
    let err = AsyncFd::new(a).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
}

#[test]
fn spawn_on_a_stopped_runtime_reports_cancelled() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    handle.stop();
    drop(rt);
    let task = handle.spawn_on(1, || async { 1 });
    assert!(task.is_finished());
    assert!(futures_lite::future::block_on(task)
        .unwrap_err()
        .is_cancelled());
}
