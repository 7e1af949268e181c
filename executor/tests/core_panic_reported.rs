//! A panic in a core's own event loop (here: in deferred work, outside any
//! task) is always reported (RELIABILITY row 23): by `block_on`, by
//! `Runtime::shutdown`, or by the runtime's drop. It used to be lost when
//! `block_on`'s future completed anyway and the runtime was then dropped.

use std::future::{pending, poll_fn};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use runtime_executor::{Deferred, Handle, Runtime};

/// Deferred work that panics: the core's loop runs it outside any task.
struct PanicInLoop;

impl Deferred for PanicInLoop {
    fn run(self: Rc<Self>) {
        panic!("boom in core 1's loop");
    }
}

fn panic_core_1(rt: &Runtime) {
    drop(rt.handle().spawn_on(1, || async {
        runtime_executor::defer(Rc::new(PanicInLoop));
    }));
}

/// Waits (bounded) until the panicking core has stopped the runtime.
fn wait_stopped(handle: &Handle) {
    let start = Instant::now();
    while !handle.is_stopped() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "core 1 never panicked"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn dropping_the_runtime_resumes_a_core_panic_no_one_reported() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    panic_core_1(&rt);
    wait_stopped(&rt.handle());
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(rt)));
    let payload = dropped.expect_err("the drop resumes core 1's panic");
    assert_eq!(message(&*payload), "boom in core 1's loop");
}

#[test]
fn runtime_shutdown_returns_a_core_panic() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    panic_core_1(&rt);
    wait_stopped(&rt.handle());
    let payload = rt.shutdown().expect_err("shutdown returns core 1's panic");
    assert_eq!(message(&*payload), "boom in core 1's loop");
}

#[test]
fn runtime_shutdown_is_ok_without_a_core_panic() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    assert_eq!(rt.block_on(async { 1 }), 1);
    assert!(rt.shutdown().is_ok());
}

#[test]
fn block_on_resumes_a_core_panic_even_when_its_future_completes() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    let ran = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            panic_core_1_from_core_0();
            // Completes as soon as it sees the runtime stopped.
            poll_fn(|cx| {
                if handle.is_stopped() {
                    Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
        })
    }));
    let payload = ran.expect_err("block_on resumes core 1's panic");
    assert_eq!(message(&*payload), "boom in core 1's loop");
    // Reported once: the drop has nothing more to say.
    drop(rt);
}

fn panic_core_1_from_core_0() {
    drop(runtime_executor::spawn_on(1, || async {
        runtime_executor::defer(Rc::new(PanicInLoop));
    }));
}

/// Counts its drop, then panics.
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom in a destructor");
    }
}

#[test]
fn a_task_destructor_panicking_while_its_core_unwinds_does_not_abort() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder().cores(2).build().unwrap();
    let d = drops.clone();
    drop(rt.handle().spawn_on(1, move || async move {
        let _p = PanicOnDrop(d);
        pending::<()>().await
    }));
    // The task has run (and holds its guard) before the loop panics.
    rt.block_on(async {
        runtime_executor::spawn_on(1, || async {}).await.unwrap();
    });
    panic_core_1(&rt);
    wait_stopped(&rt.handle());
    let payload = rt.shutdown().expect_err("shutdown returns core 1's panic");
    assert_eq!(message(&*payload), "boom in core 1's loop");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the destructor ran");
}
