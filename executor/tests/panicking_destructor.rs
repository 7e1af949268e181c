//! A task whose future panics in its destructor, when it is cancelled
//! (`JoinHandle::abort`, runtime shutdown), never
//! takes the process down (it used to abort: `async_task` drops a cancelled
//! future where a panic aborts), and its core goes on running tasks. Nor
//! does a task's output that panics when dropped, however its handle went
//! (detached, dropped after the task finished; `spawn_blocking`, an
//! `AbortHandle`).

use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use runtime_executor::Runtime;

/// Counts its drop, then panics.
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom in a destructor");
    }
}

fn rt(cores: usize) -> Runtime {
    Runtime::builder().cores(cores).build().unwrap()
}

#[test]
fn aborting_a_task_on_another_core_whose_destructor_panics() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let after = rt(2).block_on(async move {
        let task = runtime_executor::spawn_on(1, move || async move {
            let _p = PanicOnDrop(d);
            pending::<()>().await
        });
        // Let it start, so its future holds the guard: core 1 runs what it
        // is sent in order.
        runtime_executor::spawn_on(1, || async {}).await.unwrap();
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        // Core 1 still runs tasks.
        runtime_executor::spawn_on(1, || async { runtime_executor::current_core() })
            .await
            .unwrap()
    });
    assert_eq!(after, 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn aborting_a_local_task_whose_destructor_panics() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    rt(1).block_on(async move {
        for _ in 0..10 {
            let d = d.clone();
            let task = runtime_executor::spawn(async move {
                let _p = PanicOnDrop(d);
                pending::<()>().await
            });
            runtime_executor::yield_now().await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
        }
        assert_eq!(runtime_executor::spawn(async { 7 }).await.unwrap(), 7);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn runtime_shutdown_drops_tasks_whose_destructors_panic() {
    let drops = Arc::new(AtomicUsize::new(0));
    let runtime = rt(2);
    let d = drops.clone();
    runtime.block_on(async move {
        for core in [0, 1] {
            for _ in 0..5 {
                let d = d.clone();
                drop(runtime_executor::spawn_on(core, move || async move {
                    let _p = PanicOnDrop(d);
                    pending::<()>().await
                }));
            }
        }
        // Let them start, so their futures hold the guards.
        runtime_executor::spawn_on(1, || async {}).await.unwrap();
        runtime_executor::yield_now().await;
    });
    drop(runtime);
    assert_eq!(drops.load(Ordering::SeqCst), 10, "every destructor ran");
}

#[test]
fn a_detached_task_whose_output_panics_when_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    rt(1).block_on(async move {
        for _ in 0..10 {
            let d = d.clone();
            // Detached at once: its output is dropped where it completes.
            drop(runtime_executor::spawn(async move { PanicOnDrop(d) }));
            runtime_executor::yield_now().await;
        }
        assert_eq!(runtime_executor::spawn(async { 7 }).await.unwrap(), 7);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn a_finished_tasks_output_that_panics_when_its_handle_is_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    rt(1).block_on(async move {
        for _ in 0..10 {
            let d = d.clone();
            let task = runtime_executor::spawn(async move { PanicOnDrop(d) });
            runtime_executor::yield_now().await;
            assert!(task.is_finished());
            // The output goes with the handle, on this task.
            drop(task);
        }
        assert_eq!(runtime_executor::spawn(async { 7 }).await.unwrap(), 7);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn detached_blocking_and_abortable_tasks_whose_outputs_panic_when_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    rt(1).block_on(async move {
        for _ in 0..5 {
            let d = d.clone();
            drop(runtime_executor::spawn_blocking(move || PanicOnDrop(d)));
        }
        for _ in 0..5 {
            let d = d.clone();
            let task = runtime_executor::spawn(async move { PanicOnDrop(d) });
            let _abort = task.abort_handle();
            drop(task);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while d.load(Ordering::SeqCst) < 10 {
            assert!(std::time::Instant::now() < deadline, "outputs not dropped");
            runtime_executor::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(runtime_executor::spawn(async { 7 }).await.unwrap(), 7);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}
