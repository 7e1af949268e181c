//! Spawning local tasks: completion, panics, abort, yielding.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use runtime::Runtime;

fn rt(cores: usize) -> Runtime {
    Runtime::builder().cores(cores).build().unwrap()
}

#[test]
fn hundred_thousand_tasks_complete() {
    let count = rt(1).block_on(async {
        let done = Rc::new(Cell::new(0usize));
        let handles: Vec<_> = (0..100_000)
            .map(|i| {
                let done = done.clone();
                runtime::spawn(async move {
                    done.set(done.get() + 1);
                    i
                })
            })
            .collect();
        let mut sum = 0usize;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        assert_eq!(sum, (0..100_000).sum::<usize>());
        done.get()
    });
    assert_eq!(count, 100_000);
}

#[test]
fn detached_tasks_still_run() {
    rt(1).block_on(async {
        let done = Rc::new(Cell::new(0));
        for _ in 0..100 {
            let done = done.clone();
            drop(runtime::spawn(async move {
                runtime::yield_now().await;
                done.set(done.get() + 1);
            }));
        }
        while done.get() < 100 {
            runtime::yield_now().await;
        }
        assert_eq!(done.get(), 100);
    });
}

#[test]
fn panicking_task_is_contained_and_reported() {
    rt(1).block_on(async {
        let bad = runtime::spawn(async {
            panic!("boom in a task");
        });
        let good = runtime::spawn(async { 5 });
        let err = bad.await.unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(err.to_string(), "task panicked: boom in a task");
        let payload = err.into_panic();
        assert_eq!(*payload.downcast::<&str>().unwrap(), "boom in a task");
        assert_eq!(good.await.unwrap(), 5);
        // The core is still alive and runs new tasks.
        assert_eq!(runtime::spawn(async { 6 }).await.unwrap(), 6);
    });
}

struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn panicking_task_runs_destructors() {
    rt(1).block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let guard = SetOnDrop(dropped.clone());
        let task = runtime::spawn(async move {
            let _guard = guard;
            runtime::yield_now().await;
            panic!("after yield");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert!(dropped.get());
    });
}

#[test]
fn abort_cancels_and_drops_the_future() {
    rt(1).block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let guard = SetOnDrop(dropped.clone());
        let task = runtime::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        runtime::yield_now().await; // let it start
        assert!(!task.is_finished());
        task.abort();
        runtime::yield_now().await; // its core drops the future
        assert!(dropped.get());
        assert!(task.is_finished());
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.to_string(), "task was cancelled");
    });
}

#[test]
fn abort_after_completion_keeps_the_output() {
    rt(1).block_on(async {
        let task = runtime::spawn(async { 3 });
        runtime::yield_now().await;
        assert!(task.is_finished());
        task.abort();
        assert_eq!(task.await.unwrap(), 3);
    });
}

#[test]
fn yield_now_lets_others_run_in_order() {
    rt(1).block_on(async {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|id| {
                let log = log.clone();
                runtime::spawn(async move {
                    for step in 0..3 {
                        log.borrow_mut().push((id, step));
                        runtime::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let log = log.borrow();
        // Round robin: every task takes step 0 before any takes step 1.
        let steps: Vec<_> = log.iter().map(|&(_, step)| step).collect();
        assert_eq!(steps, vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
    });
}

#[test]
fn always_ready_task_does_not_starve_others() {
    rt(1).block_on(async {
        let stop = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0u64));
        let spinner = {
            let (stop, spins) = (stop.clone(), spins.clone());
            runtime::spawn(async move {
                while !stop.get() {
                    spins.set(spins.get() + 1);
                    runtime::yield_now().await;
                }
            })
        };
        // This task and the main future must still get polled.
        let other = runtime::spawn(async { 1 });
        assert_eq!(other.await.unwrap(), 1);
        stop.set(true);
        spinner.await.unwrap();
        assert!(spins.get() >= 1);
    });
}

#[test]
fn stats_count_spawns_and_polls() {
    rt(1).block_on(async {
        let before = runtime::stats();
        for _ in 0..10 {
            runtime::spawn(async {}).await.unwrap();
        }
        let after = runtime::stats();
        assert_eq!(after.core, 0);
        assert!(after.tasks_spawned >= before.tasks_spawned + 10);
        assert!(after.tasks_polled >= before.tasks_polled + 10);
    });
}

#[test]
fn spawn_blocking_returns_and_reports_panics() {
    let rt = rt(2);
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    rt.block_on(async move {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let c = c.clone();
                runtime::spawn_blocking(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                    i * 2
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, (0..32).map(|i| i * 2).sum::<i32>());
        let err = runtime::spawn_blocking(|| panic!("blocking boom"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
    });
    assert_eq!(counter.load(Ordering::SeqCst), 32);
    // Awaited from another core too.
    let from_core_1 = rt.block_on(async {
        runtime::spawn_on(1, || async {
            runtime::spawn_blocking(|| std::thread::current().name().map(str::to_owned))
                .await
                .unwrap()
        })
        .await
        .unwrap()
    });
    assert_ne!(from_core_1.as_deref(), Some("runtime-core-1"));
}
