//! `runtime::sync` against tokio's contracts, on the runtime, across cores.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runtime::sync::{
    broadcast, mpsc, oneshot, watch, Barrier, Mutex, Notify, OnceCell, RwLock, Semaphore,
};
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

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn the_cross_core_types_are_send_and_sync() {
    assert_send_sync::<Mutex<Vec<u8>>>();
    assert_send_sync::<RwLock<Vec<u8>>>();
    assert_send_sync::<Semaphore>();
    assert_send_sync::<Notify>();
    assert_send_sync::<Barrier>();
    assert_send_sync::<OnceCell<String>>();
    assert_send_sync::<broadcast::Sender<String>>();
    assert_send_sync::<broadcast::Receiver<String>>();
    assert_send_sync::<watch::Sender<String>>();
    assert_send_sync::<watch::Receiver<String>>();
    assert_send_sync::<mpsc::UnboundedSender<String>>();
    assert_send_sync::<oneshot::Sender<String>>();
    assert_send_sync::<runtime::sync::OwnedSemaphorePermit>();
    assert_send_sync::<runtime::task::AbortHandle>();
}

#[test]
fn mutex_excludes_across_cores() {
    let total = run(2, async {
        let counter = Arc::new(Mutex::new(0u64));
        let mut set = JoinSet::new();
        for core in [0, 1, 0, 1] {
            let counter = counter.clone();
            set.spawn_on(core, move || async move {
                for _ in 0..200 {
                    let mut guard = counter.lock().await;
                    let seen = *guard;
                    task::yield_now().await; // others run while we hold it
                    *guard = seen + 1;
                }
            });
        }
        while let Some(res) = set.join_next().await {
            res.unwrap();
        }
        let total = *counter.lock().await;
        total
    });
    assert_eq!(total, 800);
}

#[test]
fn mutex_waiters_get_the_lock_in_the_order_they_came() {
    let order = run(1, async {
        let lock = Arc::new(Mutex::new(()));
        let order = Rc::new(RefCell::new(Vec::new()));
        let held = lock.lock().await;
        let mut set = JoinSet::new();
        for id in 0..5 {
            let (lock, order) = (lock.clone(), order.clone());
            set.spawn_local(async move {
                let _guard = lock.lock().await;
                order.borrow_mut().push(id);
            });
            task::yield_now().await; // task `id` is now waiting
        }
        drop(held);
        while set.join_next().await.is_some() {}
        let order = order.borrow().clone();
        order
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn rwlock_readers_share_and_a_waiting_writer_holds_new_readers_back() {
    run(1, async {
        let lock = Arc::new(RwLock::new(0));
        let r1 = lock.read().await;
        let r2 = lock.try_read().expect("readers share");
        let writer = {
            let lock = lock.clone();
            runtime::spawn(async move { *lock.write().await += 1 })
        };
        task::yield_now().await; // the writer now waits
        assert!(lock.try_read().is_none(), "the writer is not starved");
        drop((r1, r2));
        writer.await.unwrap();
        assert_eq!(*lock.read().await, 1);
    });
}

#[test]
fn semaphore_bounds_concurrency_across_cores() {
    let peak = run(2, async {
        let sem = Arc::new(Semaphore::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for i in 0..20 {
            let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
            set.spawn_on(i % 2, move || async move {
                let _permit = sem.acquire_owned().await.unwrap();
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                runtime::time::sleep(Duration::from_millis(1)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
        while let Some(res) = set.join_next().await {
            res.unwrap();
        }
        assert_eq!(sem.available_permits(), 3);
        peak.load(Ordering::SeqCst)
    });
    assert!((1..=3).contains(&peak), "peak {peak}");
}

#[test]
fn semaphore_waiters_are_served_in_order_and_close_wakes_them_with_an_error() {
    run(1, async {
        let sem = Arc::new(Semaphore::new(1));
        let order = Rc::new(RefCell::new(Vec::new()));
        let held = sem.acquire().await.unwrap();
        let mut set = JoinSet::new();
        for id in 0..4 {
            let (sem, order) = (sem.clone(), order.clone());
            set.spawn_local(async move {
                let _p = sem.acquire().await.unwrap();
                order.borrow_mut().push(id);
            });
            task::yield_now().await;
        }
        drop(held);
        while set.join_next().await.is_some() {}
        assert_eq!(*order.borrow(), [0, 1, 2, 3]);

        let held = sem.acquire().await.unwrap();
        let waiter = {
            let sem = sem.clone();
            runtime::spawn(async move { sem.acquire().await.is_err() })
        };
        task::yield_now().await;
        sem.close();
        assert!(waiter.await.unwrap(), "a waiter fails once closed");
        drop(held);
    });
}

#[test]
fn notify_wakes_a_task_on_another_core() {
    run(2, async {
        let notify = Arc::new(Notify::new());
        let waiter = {
            let notify = notify.clone();
            runtime::spawn_on(1, move || async move {
                notify.notified().await;
                runtime::current_core()
            })
        };
        runtime::time::sleep(Duration::from_millis(5)).await;
        notify.notify_one();
        assert_eq!(waiter.await.unwrap(), 1);
    });
}

#[test]
fn barrier_releases_tasks_on_all_cores_with_one_leader() {
    let leaders = run(2, async {
        let barrier = Arc::new(Barrier::new(4));
        let mut set = JoinSet::new();
        for i in 0..4 {
            let barrier = barrier.clone();
            set.spawn_on(
                i % 2,
                move || async move { barrier.wait().await.is_leader() },
            );
        }
        let mut leaders = 0;
        while let Some(res) = set.join_next().await {
            leaders += res.unwrap() as u32;
        }
        leaders
    });
    assert_eq!(leaders, 1);
}

#[test]
fn once_cell_runs_its_initializer_once_across_cores() {
    let runs = run(2, async {
        let cell = Arc::new(OnceCell::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for i in 0..6 {
            let (cell, runs) = (cell.clone(), runs.clone());
            set.spawn_on(i % 2, move || async move {
                *cell
                    .get_or_init(|| async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        runtime::time::sleep(Duration::from_millis(2)).await;
                        42
                    })
                    .await
            });
        }
        while let Some(res) = set.join_next().await {
            assert_eq!(res.unwrap(), 42);
        }
        runs.load(Ordering::SeqCst)
    });
    assert_eq!(runs, 1);
}

#[test]
fn broadcast_reaches_receivers_on_other_cores_and_reports_lag_there() {
    let (all, lagged) = run(2, async {
        let (tx, rx) = broadcast::channel(4);
        let mut slow = tx.subscribe();
        let reader = runtime::spawn_on(1, move || async move {
            let mut rx = rx;
            let mut got = Vec::new();
            loop {
                match rx.recv().await {
                    Ok(v) => got.push(v),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break got,
                }
            }
        });
        for i in 0..3 {
            tx.send(i).unwrap();
            runtime::time::sleep(Duration::from_millis(1)).await;
        }
        for i in 3..10 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let lagged = slow.recv().await;
        (reader.await.unwrap(), lagged)
    });
    assert_eq!(lagged, Err(broadcast::error::RecvError::Lagged(6)));
    // The reader on core 1 got every value it did not lag on, in order.
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    assert_eq!(all.last(), Some(&9));
}

#[test]
fn watch_changes_reach_another_core_and_close_ends_it() {
    let seen = run(2, async {
        let (tx, rx) = watch::channel(0);
        let watcher = runtime::spawn_on(1, move || async move {
            let mut rx = rx;
            let mut seen = Vec::new();
            while rx.changed().await.is_ok() {
                seen.push(*rx.borrow_and_update());
            }
            seen
        });
        for i in 1..=3 {
            tx.send(i).unwrap();
            runtime::time::sleep(Duration::from_millis(2)).await;
        }
        drop(tx);
        watcher.await.unwrap()
    });
    // The latest value is always seen; values in between may be skipped.
    assert_eq!(seen.last(), Some(&3));
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn mpsc_and_oneshot_have_tokios_names() {
    run(2, async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        runtime::spawn_on(1, move || async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            reply_tx.send(sum).unwrap();
        });
        for i in 1..=4 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(reply_rx.await, Ok(10));
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let err: mpsc::error::TrySendError<u8> = tx.try_send(1).unwrap_err();
        assert!(err.is_closed());
    });
}

#[test]
fn recv_in_a_select_loop_loses_no_message() {
    // Cancel safety: the `recv` future that loses a `select!` takes nothing.
    let got = run(1, async {
        let (tx, mut rx) = mpsc::channel(8);
        let (btx, mut brx) = broadcast::channel(8);
        runtime::spawn(async move {
            for i in 0..50 {
                tx.send(i).await.unwrap();
                btx.send(i).unwrap();
                if i % 7 == 0 {
                    task::yield_now().await;
                }
            }
        });
        let (mut a, mut b) = (Vec::new(), Vec::new());
        loop {
            runtime::select! {
                Some(i) = rx.recv() => a.push(i),
                Ok(i) = brx.recv() => b.push(i),
                else => break,
            }
        }
        (a, b)
    });
    assert_eq!(got.0, (0..50).collect::<Vec<_>>());
    assert_eq!(got.1, (0..50).collect::<Vec<_>>());
}

#[test]
fn local_channels_are_reachable_at_both_paths() {
    run(1, async {
        let (tx, mut rx) = runtime::sync::local::mpsc::unbounded_channel();
        let (tx2, _rx2) = runtime::channel::local::mpsc::channel::<u8>(1);
        tx.send(Rc::new(1)).unwrap();
        assert_eq!(*rx.recv().await.unwrap(), 1);
        drop(tx2);
    });
}
