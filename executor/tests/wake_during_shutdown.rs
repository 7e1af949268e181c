//! A wake from another thread that races the runtime's shutdown never leaks
//! its task: every task's future is dropped, on its own core, before the
//! runtime's drop returns (it used to be forgotten, with its core's poller,
//! timerfd and eventfds, when the wake marked it scheduled just before the
//! shutdown closed the core's queue).

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;

use runtime_executor::Runtime;

const ROUNDS: usize = 1_000;
const TASKS: usize = 8;

/// Counts its drop.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_wake_racing_shutdown_never_leaks_its_task() {
    let dropped = Arc::new(AtomicUsize::new(0));
    for round in 0..ROUNDS {
        let runtime = Runtime::builder().cores(2).build().unwrap();
        let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
        let handle = runtime.handle();
        for _ in 0..TASKS {
            // Made here, so that a task dropped before its first poll
            // counts too.
            let (wakers, guard) = (wakers.clone(), Dropped(dropped.clone()));
            // Each task is woken from the waker thread below, runs, and
            // waits again, as long as the runtime lives.
            drop(handle.spawn_on(1, move || async move {
                let _guard = guard;
                poll_fn(|cx| {
                    wakers.lock().unwrap().push(cx.waker().clone());
                    Poll::<()>::Pending
                })
                .await
            }));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let waker_thread = {
            let (wakers, stop) = (wakers.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let batch = std::mem::take(&mut *wakers.lock().unwrap());
                    for waker in batch {
                        waker.wake();
                    }
                    std::hint::spin_loop();
                }
            })
        };
        // Let the tasks start and the wakes flow, then shut down meanwhile.
        while wakers.lock().unwrap().is_empty() {
            thread::yield_now();
        }
        drop(runtime);
        stop.store(true, Ordering::Relaxed);
        waker_thread.join().unwrap();
        wakers.lock().unwrap().clear();
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            (round + 1) * TASKS,
            "a task leaked in round {round}"
        );
    }
}
