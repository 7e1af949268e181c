//! Work crossing cores: `spawn_on`, wakes from foreign threads.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;

use runtime::Runtime;

/// A one-shot flag that a foreign thread sets and a task awaits.
#[derive(Default)]
struct Flag {
    state: Mutex<(bool, Option<Waker>)>,
}

impl Flag {
    fn set(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            let mut state = self.state.lock().unwrap();
            if state.0 {
                Poll::Ready(())
            } else {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

#[test]
fn spawn_on_runs_on_the_target_core() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let (core, thread_name) = rt.block_on(async {
        runtime::spawn_on(1, || async {
            // `!Send` state is fine inside: it is created on core 1.
            let local = std::rc::Rc::new(runtime::current_core());
            runtime::yield_now().await;
            (*local, thread::current().name().map(str::to_owned))
        })
        .await
        .unwrap()
    });
    assert_eq!(core, 1);
    assert_eq!(thread_name.as_deref(), Some("runtime-core-1"));
}

#[test]
fn spawn_on_round_trips_many_times() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let sum = rt.block_on(async {
        let mut sum = 0u64;
        for i in 0..2_000u64 {
            sum += runtime::spawn_on(1, move || async move { i })
                .await
                .unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..2_000).sum::<u64>());
}

#[test]
fn panic_on_another_core_is_reported_to_the_joiner() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let err = runtime::spawn_on(1, || async { panic!("remote boom") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        // Core 1 is still serving.
        assert_eq!(runtime::spawn_on(1, || async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn many_foreign_threads_wake_tasks_at_once() {
    const TASKS: usize = 2_000;
    const THREADS: usize = 8;
    let rt = Runtime::builder().cores(2).build().unwrap();
    let flags: Arc<Vec<Flag>> = Arc::new((0..TASKS).map(|_| Flag::default()).collect());
    let woken = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(std::sync::Barrier::new(THREADS + 1));
    let wakers: Vec<_> = (0..THREADS)
        .map(|t| {
            let flags = flags.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for i in (t..TASKS).step_by(THREADS) {
                    flags[i].set();
                }
            })
        })
        .collect();
    let f = flags.clone();
    let w = woken.clone();
    rt.block_on(async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let f = f.clone();
                let w = w.clone();
                // Half on core 0, half on core 1.
                runtime::spawn_on(i % 2, move || async move {
                    f[i].wait().await;
                    w.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        runtime::yield_now().await;
        start.wait();
        for task in tasks {
            task.await.unwrap();
        }
    });
    for handle in wakers {
        handle.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), TASKS);
    let handle = rt.handle();
    let foreign: u64 = (0..2).map(|c| handle.stats(c).foreign_wakes).sum();
    assert!(
        foreign > 0,
        "wakes from other threads go through the remote queue"
    );
}

#[test]
fn handle_spawns_from_a_plain_thread() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    let task = thread::spawn(move || handle.spawn_on(1, || async { runtime::current_core() }))
        .join()
        .unwrap();
    assert_eq!(rt.block_on(task).unwrap(), 1);
}

#[test]
fn cross_core_ping_pong_loses_nothing() {
    const MESSAGES: u64 = 100_000;
    let rt = Runtime::builder().cores(2).build().unwrap();
    let (sum, count) = rt.block_on(async {
        let (ping_tx, mut ping_rx) = runtime::channel::mpsc::channel::<u64>(64);
        let (pong_tx, mut pong_rx) = runtime::channel::mpsc::channel::<u64>(64);
        let echo = runtime::spawn_on(1, move || async move {
            assert_eq!(runtime::current_core(), 1);
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v + 1).await.unwrap();
            }
        });
        // Keep a window of messages in flight, so both directions queue up.
        let sender = runtime::spawn(async move {
            for i in 0..MESSAGES {
                ping_tx.send(i).await.unwrap();
            }
        });
        let (mut sum, mut count, mut expected) = (0u64, 0u64, 1u64);
        while let Some(v) = pong_rx.recv().await {
            assert_eq!(v, expected, "lost or reordered");
            expected += 1;
            sum += v;
            count += 1;
        }
        sender.await.unwrap();
        echo.await.unwrap();
        (sum, count)
    });
    assert_eq!(count, MESSAGES);
    assert_eq!(sum, (1..=MESSAGES).sum::<u64>());
}
