//! Paused time: `time::{pause, advance, resume}` and auto-advance.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use runtime_executor::time::{self, MissedTickBehavior};
use runtime_executor::{spawn, yield_now, Runtime};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    Runtime::builder()
        .cores(1)
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn advance_fires_timers_in_deadline_order() {
    block_on(async {
        time::pause();
        let order = Rc::new(RefCell::new(Vec::new()));
        // Spawned latest-first, so insertion order is not deadline order.
        for secs in [30, 10, 20, 40] {
            let order = order.clone();
            drop(spawn(async move {
                time::sleep(Duration::from_secs(secs)).await;
                order.borrow_mut().push(secs);
            }));
        }
        yield_now().await;
        time::advance(Duration::from_secs(25)).await;
        assert_eq!(*order.borrow(), [10, 20]);
        time::advance(Duration::from_secs(10)).await;
        assert_eq!(*order.borrow(), [10, 20, 30]);
        time::advance(Duration::from_secs(5)).await;
        assert_eq!(*order.borrow(), [10, 20, 30, 40]);
    });
}

#[test]
fn a_paused_clock_stands_still_and_advance_moves_it_exactly() {
    block_on(async {
        time::pause();
        let start = time::now();
        std::thread::sleep(Duration::from_millis(5));
        yield_now().await;
        assert_eq!(time::now(), start);
        time::advance(Duration::from_millis(1500)).await;
        assert_eq!(time::now() - start, Duration::from_millis(1500));
        // Not due yet: a sleep past the advance is still pending.
        let mut late = std::pin::pin!(time::sleep(Duration::from_secs(1)));
        assert!(futures_lite::future::poll_once(late.as_mut())
            .await
            .is_none());
        time::advance(Duration::from_millis(999)).await;
        assert!(futures_lite::future::poll_once(late.as_mut())
            .await
            .is_none());
        time::advance(Duration::from_millis(1)).await;
        assert!(futures_lite::future::poll_once(late.as_mut())
            .await
            .is_some());
    });
}

#[test]
fn an_idle_paused_core_jumps_to_its_next_timer() {
    let wall = Instant::now();
    block_on(async {
        time::pause();
        let start = time::now();
        time::sleep(Duration::from_secs(24 * 3600)).await;
        assert!(time::now() - start >= Duration::from_secs(24 * 3600));
        // A timeout that is not reached leaves the future's value.
        let quick = time::timeout(Duration::from_secs(60), async { 7 }).await;
        assert_eq!(quick, Ok(7));
        let slow = time::timeout(Duration::from_secs(60), std::future::pending::<()>()).await;
        assert!(slow.is_err());
    });
    // Not a timing assertion on the runtime's speed: a day of sleeping must
    // not have been slept for real.
    assert!(wall.elapsed() < Duration::from_secs(600));
}

#[test]
fn an_hour_interval_ticks_without_waiting_an_hour() {
    block_on(async {
        time::pause();
        let start = time::now();
        let mut hourly = time::interval(Duration::from_secs(3600));
        hourly.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ticks = Vec::new();
        for _ in 0..48 {
            ticks.push(hourly.tick().await - start);
        }
        let expected: Vec<_> = (0..48).map(|h| Duration::from_secs(h * 3600)).collect();
        assert_eq!(ticks, expected);
    });
}

#[test]
fn resume_runs_on_from_the_advanced_time() {
    block_on(async {
        time::pause();
        let start = time::now();
        time::advance(Duration::from_secs(3600)).await;
        time::resume();
        time::sleep(Duration::from_millis(2)).await;
        assert!(time::now() - start >= Duration::from_secs(3600) + Duration::from_millis(2));
    });
}

#[test]
#[should_panic(expected = "`time::advance` needs a paused clock")]
fn advance_without_pause_panics() {
    block_on(time::advance(Duration::from_secs(1)));
}

#[test]
#[should_panic(expected = "`time::pause` called outside of a `runtime` core")]
fn pause_outside_a_core_panics() {
    time::pause();
}
