//! `runtime::task`: JoinSet, AbortHandle, task_local!, through the facade.

use std::cell::Cell;
use std::future::pending;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runtime::task::{self, JoinSet};
use runtime::Runtime;

fn rt(cores: usize) -> Runtime {
    Runtime::builder().cores(cores).build().unwrap()
}

/// Runs `f` on a runtime of `cores` cores, failing instead of hanging.
fn run<F: std::future::Future>(cores: usize, f: F) -> F::Output {
    rt(cores).block_on(async {
        runtime::time::timeout(std::time::Duration::from_secs(30), f)
            .await
            .expect("finished within 30 s")
    })
}

/// Counts its drops: shows a task's future was dropped (aborted).
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn join_next_yields_outputs_in_completion_order_then_none() {
    let order = run(1, async {
        let mut set = JoinSet::new();
        for ms in [30u64, 1, 15] {
            set.spawn(async move {
                runtime::time::sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        assert_eq!(set.len(), 3);
        let mut order = Vec::new();
        while let Some(res) = set.join_next().await {
            order.push(res.unwrap());
        }
        assert!(set.is_empty());
        order
    });
    assert_eq!(order, [1, 15, 30]);
}

#[test]
fn abort_all_cancels_every_running_task_and_keeps_finished_outputs() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (cancelled, finished) = run(1, {
        let dropped = dropped.clone();
        async move {
            let mut set = JoinSet::new();
            set.spawn(async { 1 });
            task::yield_now().await; // the first finishes
            for _ in 0..10 {
                let guard = DropCount(dropped.clone());
                set.spawn(async move {
                    let _guard = guard;
                    pending::<u32>().await
                });
            }
            task::yield_now().await;
            set.abort_all();
            let (mut cancelled, mut finished) = (0, 0);
            while let Some(res) = set.join_next().await {
                match res {
                    Ok(1) => finished += 1,
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            (cancelled, finished)
        }
    });
    assert_eq!((cancelled, finished), (10, 1));
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let ran_on = run(1, {
        let dropped = dropped.clone();
        async move {
            let progressed = Rc::new(Cell::new(0));
            let mut set = JoinSet::new();
            for _ in 0..5 {
                let (guard, progressed) = (DropCount(dropped.clone()), progressed.clone());
                set.spawn_local(async move {
                    let _guard = guard;
                    loop {
                        runtime::time::sleep(Duration::from_millis(1)).await;
                        progressed.set(progressed.get() + 1);
                    }
                });
            }
            task::yield_now().await;
            drop(set);
            let before = progressed.get();
            runtime::time::sleep(Duration::from_millis(20)).await;
            progressed.get() - before
        }
    });
    assert_eq!(ran_on, 0, "aborted tasks never run again");
    assert_eq!(dropped.load(Ordering::SeqCst), 5);
}

#[test]
fn detach_all_lets_the_tasks_run_on() {
    let done = run(1, async {
        let done = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        for _ in 0..4 {
            let done = done.clone();
            set.spawn_local(async move {
                runtime::time::sleep(Duration::from_millis(2)).await;
                done.set(done.get() + 1);
            });
        }
        set.detach_all();
        assert!(set.is_empty());
        drop(set);
        runtime::time::sleep(Duration::from_millis(30)).await;
        done.get()
    });
    assert_eq!(done, 4);
}

#[test]
fn a_panicking_task_is_a_join_error_and_the_others_go_on() {
    let (panics, oks) = run(1, async {
        let mut set = JoinSet::new();
        set.spawn(async { panic!("task failed") });
        set.spawn(async { 2 });
        let (mut panics, mut oks) = (0, 0);
        while let Some(res) = set.join_next().await {
            match res {
                Ok(v) => oks += v,
                Err(e) => {
                    assert!(e.is_panic());
                    assert_eq!(e.to_string(), "task panicked: task failed");
                    panics += 1;
                }
            }
        }
        (panics, oks)
    });
    assert_eq!((panics, oks), (1, 2));
}

#[test]
fn try_join_next_never_waits() {
    run(1, async {
        let mut set = JoinSet::new();
        assert!(set.try_join_next().is_none());
        set.spawn(async {
            task::yield_now().await;
            3
        });
        assert!(set.try_join_next().is_none(), "not finished yet");
        for _ in 0..3 {
            task::yield_now().await;
        }
        assert_eq!(set.try_join_next().unwrap().unwrap(), 3);
        assert!(set.is_empty());
    });
}

#[test]
fn spawn_returns_an_abort_handle_for_one_task() {
    run(2, async {
        let mut set = JoinSet::new();
        let stuck = set.spawn(pending::<u32>());
        set.spawn_on(1, || async { 8 });
        // Aborted from another core.
        runtime::spawn_on(1, move || async move { stuck.abort() })
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(res) = set.join_next().await {
            got.push(res.map_err(|e| e.is_cancelled()));
        }
        got.sort();
        assert_eq!(got, [Ok(8), Err(true)]);
    });
}

#[test]
fn join_all_and_shutdown() {
    run(1, async {
        let mut set = JoinSet::new();
        for i in 0..5u32 {
            set.spawn_blocking(move || i * 2);
        }
        let mut all = set.join_all().await;
        all.sort();
        assert_eq!(all, [0, 2, 4, 6, 8]);

        let mut set = JoinSet::new();
        set.spawn(pending::<()>());
        set.shutdown().await;
        assert!(set.is_empty());
    });
}

runtime::task_local! {
    static REQUEST: u32;
    static NAME: String;
}

#[test]
fn task_local_values_follow_their_future_across_polls_and_tasks() {
    run(1, async {
        let a = runtime::spawn(REQUEST.scope(1, async {
            for _ in 0..3 {
                task::yield_now().await;
                assert_eq!(REQUEST.get(), 1);
            }
            REQUEST.get()
        }));
        let b = runtime::spawn(REQUEST.scope(2, async {
            for _ in 0..3 {
                task::yield_now().await;
                assert_eq!(REQUEST.get(), 2);
            }
            // A task spawned inside does not inherit the value.
            runtime::spawn(async { REQUEST.try_with(|v| *v).is_err() })
                .await
                .unwrap()
        }));
        assert_eq!(a.await.unwrap(), 1);
        assert!(b.await.unwrap());
        assert!(REQUEST.try_with(|_| ()).is_err());
    });
}

#[test]
fn task_local_scopes_nest_and_restore() {
    run(1, async {
        NAME.scope("outer".into(), async {
            NAME.scope("inner".into(), async {
                assert_eq!(NAME.with(|n| n.clone()), "inner");
            })
            .await;
            assert_eq!(NAME.get(), "outer");
        })
        .await;
    });
}

#[test]
#[should_panic(expected = "task-local value not set")]
fn task_local_with_outside_a_scope_panics() {
    REQUEST.with(|_| ());
}

#[test]
fn the_scoped_future_is_dropped_inside_its_scope() {
    struct ReadsOnDrop(Rc<Cell<Option<u32>>>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            self.0.set(REQUEST.try_with(|v| *v).ok());
        }
    }
    let seen = Rc::new(Cell::new(None));
    let guard = ReadsOnDrop(seen.clone());
    let fut = REQUEST.scope(5, async move {
        let _guard = guard;
        pending::<()>().await;
    });
    drop(fut);
    assert_eq!(seen.get(), Some(5));
}

#[test]
fn abort_handles_race_completion_from_another_core_without_loss() {
    // Tasks on core 0 finish while core 1 aborts half of them: each ends
    // exactly once, as a value or as cancelled, and every future is dropped.
    const TASKS: usize = 2_000;
    let dropped = Arc::new(AtomicUsize::new(0));
    let (ok, cancelled) = run(2, {
        let dropped = dropped.clone();
        async move {
            let mut set = JoinSet::new();
            let mut handles = Vec::new();
            for i in 0..TASKS {
                let guard = DropCount(dropped.clone());
                let abort = set.spawn(async move {
                    let _guard = guard;
                    for _ in 0..(i % 5) {
                        task::yield_now().await;
                    }
                    i
                });
                if i % 2 == 0 {
                    handles.push(abort);
                }
            }
            let aborter = runtime::spawn_on(1, move || async move {
                for (n, abort) in handles.iter().enumerate() {
                    abort.abort();
                    if n % 64 == 0 {
                        task::yield_now().await;
                    }
                }
            });
            let (mut ok, mut cancelled) = (0, 0);
            while let Some(res) = set.join_next().await {
                match res {
                    Ok(i) => {
                        assert!(i < TASKS);
                        ok += 1;
                    }
                    Err(e) => {
                        assert!(e.is_cancelled());
                        cancelled += 1;
                    }
                }
            }
            aborter.await.unwrap();
            (ok, cancelled)
        }
    });
    assert_eq!(ok + cancelled, TASKS);
    assert!(
        cancelled <= TASKS / 2,
        "only the aborted half can be cancelled"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), TASKS);
}
