//! Timers through the real runtime: `sleep`, `timeout` and `interval`.
//!
//! Every timing assertion is a lower bound (a timer is never early) or about
//! the deadlines the API reports; none bounds how late a timer may be, so a
//! loaded machine cannot fail them.

// In a module named `time`, so that `cargo test -p runtime-executor time`
// selects these tests too.
mod time {
    use std::cell::RefCell;
    use std::future::{self, Future};
    use std::pin::pin;
    use std::rc::Rc;
    use std::time::Duration;

    use futures_lite::future::poll_once;
    use runtime_executor::time::{
        interval, interval_at, sleep, sleep_until, timeout, timeout_at, Elapsed, Instant,
        MissedTickBehavior,
    };
    use runtime_executor::Runtime;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        Runtime::builder()
            .cores(1)
            .build()
            .unwrap()
            .block_on(future)
    }

    fn timers_fired() -> u64 {
        runtime_executor::stats().timers_fired
    }

    #[test]
    fn sleep_is_never_early() {
        block_on(async {
            for n in [1, 2, 3, 5, 10, 25] {
                let start = Instant::now();
                sleep(ms(n)).await;
                assert!(start.elapsed() >= ms(n), "{n} ms sleep woke early");
            }
            for micros in [1, 999, 1001, 1500] {
                let deadline = Instant::now() + Duration::from_micros(micros);
                sleep_until(deadline).await;
                assert!(Instant::now() >= deadline);
            }
        });
    }

    #[test]
    fn sleeps_complete_in_deadline_order() {
        let order = block_on(async {
            let order = Rc::new(RefCell::new(Vec::new()));
            // Spawned out of order; deadlines a millisecond apart, and far
            // enough ahead that every task registers its timer before the
            // first is due.
            let base = Instant::now() + ms(100);
            let mut delays: Vec<u64> = (1..=60).collect();
            delays.reverse();
            delays.rotate_left(17);
            let tasks: Vec<_> = delays
                .into_iter()
                .map(|n| {
                    let order = order.clone();
                    runtime_executor::spawn(async move {
                        sleep_until(base + ms(n)).await;
                        assert!(Instant::now() >= base + ms(n));
                        order.borrow_mut().push(n);
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            Rc::try_unwrap(order).unwrap().into_inner()
        });
        assert_eq!(order, (1..=60).collect::<Vec<_>>());
    }

    #[test]
    fn zero_sleep_completes_without_a_timer() {
        block_on(async {
            let fired = timers_fired();
            let mut zero = pin!(sleep(Duration::ZERO));
            assert!(zero.is_elapsed());
            assert_eq!(poll_once(zero.as_mut()).await, Some(()));
            sleep_until(Instant::now() - ms(10)).await;
            assert_eq!(timers_fired(), fired);
        });
    }

    #[test]
    fn max_sleep_does_not_overflow() {
        block_on(async {
            let max = sleep(Duration::MAX);
            assert!(max.deadline() > Instant::now() + Duration::from_secs(86_400 * 365 * 29));
            assert!(!max.is_elapsed());
            let err: Elapsed = timeout(ms(5), max).await.unwrap_err();
            assert_eq!(err.to_string(), "deadline has elapsed");
            let at_max = timeout(Duration::MAX, async { 1 }).await;
            assert_eq!(at_max, Ok(1));
        });
    }

    #[test]
    fn dropped_sleep_never_fires() {
        block_on(async {
            let fired = timers_fired();
            for n in 1..=100 {
                let mut pending = pin!(sleep(ms(n % 10 + 1)));
                assert_eq!(poll_once(pending.as_mut()).await, None, "registered");
            }
            sleep(ms(30)).await;
            assert_eq!(timers_fired() - fired, 1, "only the last sleep fired");
        });
    }

    #[test]
    fn reset_moves_the_deadline() {
        block_on(async {
            let mut delay = pin!(sleep(Duration::from_secs(3600)));
            assert_eq!(poll_once(delay.as_mut()).await, None);
            let soon = Instant::now() + ms(3);
            delay.as_mut().reset(soon);
            delay.as_mut().await;
            assert!(Instant::now() >= soon);
            assert!(delay.is_elapsed());
            // Reset after completion: pending again until the new deadline.
            let later = Instant::now() + ms(3);
            delay.as_mut().reset(later);
            assert!(!delay.is_elapsed());
            delay.as_mut().await;
            assert!(Instant::now() >= later);
        });
    }

    #[test]
    fn timeout_ok_and_err() {
        block_on(async {
            assert_eq!(timeout(ms(50), async { 5 }).await, Ok(5));
            assert_eq!(timeout(ms(50), sleep(ms(1))).await, Ok(()));

            let start = Instant::now();
            let err = timeout(ms(5), future::pending::<()>()).await.unwrap_err();
            assert!(start.elapsed() >= ms(5));
            assert_eq!(err.to_string(), "deadline has elapsed");
            let io = std::io::Error::from(err);
            assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);

            let deadline = Instant::now() + ms(2);
            assert!(timeout_at(deadline, sleep(ms(500))).await.is_err());
            assert!(Instant::now() >= deadline);
        });
    }

    #[test]
    fn ready_future_wins_over_elapsed_timeout() {
        block_on(async {
            let past = Instant::now() - ms(1);
            assert_eq!(timeout_at(past, async { "ready" }).await, Ok("ready"));
            assert_eq!(timeout(Duration::ZERO, async { 1 }).await, Ok(1));
            assert!(timeout(Duration::ZERO, future::pending::<()>())
                .await
                .is_err());
        });
    }

    #[test]
    fn interval_first_tick_is_immediate_then_periodic() {
        block_on(async {
            let start = Instant::now();
            let mut ticks = interval_at(start, ms(3));
            assert_eq!(ticks.period(), ms(3));
            assert_eq!(ticks.tick().await, start);
            for n in 1..=5 {
                let tick = ticks.tick().await;
                assert_eq!(tick, start + ms(3) * n);
                assert!(Instant::now() >= tick);
            }
            let mut ticks = interval(ms(3));
            let first = ticks.tick().await;
            assert!(first <= Instant::now());
            assert_eq!(ticks.tick().await, first + ms(3));
        });
    }

    /// Blocks the core (as a long computation would) so that ticks are
    /// missed; returns when it stopped.
    fn block_core_for(duration: Duration) -> Instant {
        std::thread::sleep(duration);
        Instant::now()
    }

    #[test]
    fn interval_burst_catches_up_on_schedule() {
        block_on(async {
            let period = ms(10);
            let start = Instant::now();
            let mut ticks = interval_at(start, period);
            assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Burst);
            assert_eq!(ticks.tick().await, start);
            block_core_for(ms(35));
            // Whatever the delays, the schedule stays `start + n * period`.
            for n in 1..=5 {
                assert_eq!(ticks.tick().await, start + period * n);
            }
        });
    }

    #[test]
    fn interval_delay_shifts_the_schedule() {
        block_on(async {
            let period = ms(10);
            let start = Instant::now();
            let mut ticks = interval_at(start, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            assert_eq!(ticks.tick().await, start);
            let unblocked = block_core_for(ms(35));
            let missed = ticks.tick().await;
            assert!(missed >= start + period);
            // Burst would give `missed + period`, before `unblocked`.
            let shifted = ticks.tick().await;
            assert!(shifted >= unblocked + period, "{:?}", shifted - unblocked);
            assert!(ticks.tick().await >= shifted + period);
        });
    }

    #[test]
    fn interval_skip_keeps_the_original_phase() {
        block_on(async {
            let period = ms(10);
            let start = Instant::now();
            let mut ticks = interval_at(start, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            assert_eq!(ticks.tick().await, start);
            let unblocked = block_core_for(ms(35));
            let missed = ticks.tick().await;
            assert_eq!((missed - start).as_nanos() % period.as_nanos(), 0);
            let skipped = ticks.tick().await;
            assert!(skipped > unblocked, "{:?}", unblocked - skipped);
            assert_eq!((skipped - start).as_nanos() % period.as_nanos(), 0);
        });
    }

    #[test]
    fn interval_reset_restarts_from_now() {
        block_on(async {
            let mut ticks = interval(ms(4));
            ticks.tick().await;
            let before = Instant::now();
            ticks.reset();
            let tick = ticks.tick().await;
            assert!(tick >= before + ms(4));
            assert!(Instant::now() >= tick);
            ticks.reset_immediately();
            assert!(ticks.tick().await <= Instant::now());
        });
    }

    #[test]
    #[should_panic(expected = "`period` must be non-zero.")]
    fn interval_with_zero_period_panics() {
        let _ = interval(Duration::ZERO);
    }

    #[test]
    fn hundred_thousand_sleeps() {
        const N: u64 = 100_000;
        let done = block_on(async {
            let done = Rc::new(RefCell::new(0u64));
            let tasks: Vec<_> = (0..N)
                .map(|i| {
                    let done = done.clone();
                    runtime_executor::spawn(async move {
                        let delay = ms(i % 50);
                        let start = Instant::now();
                        sleep(delay).await;
                        assert!(start.elapsed() >= delay);
                        *done.borrow_mut() += 1;
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let done = *done.borrow();
            done
        });
        assert_eq!(done, N);
    }

    #[test]
    fn sleep_moves_between_cores() {
        let rt = Runtime::builder().cores(2).build().unwrap();
        rt.block_on(async {
            // Registered on core 0, then awaited on core 1: it registers anew
            // there, and the timer left on core 0 fires harmlessly.
            let mut moving = Box::pin(sleep(ms(20)));
            assert_eq!(poll_once(moving.as_mut()).await, None);
            let deadline = moving.deadline();
            let on = runtime_executor::spawn_on(1, move || async move {
                moving.await;
                assert!(Instant::now() >= deadline);
                runtime_executor::current_core()
            });
            assert_eq!(on.await.unwrap(), 1);

            // Registered on core 0, dropped on core 1.
            let mut dropped = Box::pin(sleep(ms(5)));
            assert_eq!(poll_once(dropped.as_mut()).await, None);
            runtime_executor::spawn_on(1, move || async move { drop(dropped) })
                .await
                .unwrap();
            sleep(ms(10)).await;
        });
    }

    #[test]
    fn timers_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        assert_send_sync(&sleep(ms(1)));
        assert_send_sync(&timeout(ms(1), future::ready(())));
        assert_send_sync(&interval(ms(1)));
    }

    #[test]
    fn module_reexports_instant() {
        let now: runtime_executor::time::Instant = std::time::Instant::now();
        assert!(now <= Instant::now());
    }
}
