//! `select!`, `join!` and `try_join!`: tokio's syntax and semantics.

use std::future::{pending, ready};
use std::time::Duration;

use runtime::sync::mpsc;
use runtime::Runtime;

/// Runs `f` on a one-core runtime, failing instead of hanging.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        runtime::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("finished within 30 s")
    })
}

#[test]
fn the_first_ready_branch_runs_with_its_bindings() {
    let out = block_on(async {
        runtime::select! {
            v = pending::<u32>() => v,
            v = ready(7) => v * 2,
        }
    });
    assert_eq!(out, 14);
}

#[test]
fn a_branch_whose_pattern_does_not_match_is_disabled_and_the_rest_go_on() {
    let out = block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        drop(tx); // `recv` gives None at once
        runtime::select! {
            biased;
            Some(v) = rx.recv() => v,
            v = async { runtime::task::yield_now().await; 5 } => v,
        }
    });
    assert_eq!(out, 5);
}

#[test]
fn else_runs_when_every_branch_is_disabled() {
    let out = block_on(async {
        let ok = false;
        runtime::select! {
            Some(v) = ready(None::<u32>) => v,
            v = ready(1), if ok => v,
            else => 99,
        }
    });
    assert_eq!(out, 99);
}

#[test]
#[should_panic(expected = "all branches are disabled and there is no else branch")]
fn without_else_select_panics_when_every_branch_is_disabled() {
    block_on(async {
        runtime::select! {
            Some(v) = ready(None::<u32>) => v,
            Ok(v) = ready(Err::<u32, ()>(())) => v,
        }
    });
}

#[test]
fn a_false_precondition_keeps_its_future_from_being_polled() {
    let out = block_on(async {
        let mut polled = false;
        let out = runtime::select! {
            _ = async { polled = true; }, if false => 1,
            v = ready(2) => v,
        };
        (out, polled)
    });
    assert_eq!(out, (2, false));
}

#[test]
fn biased_polls_in_the_order_written() {
    block_on(async {
        for _ in 0..50 {
            let out = runtime::select! {
                biased;
                v = ready(1) => v,
                v = ready(2) => v,
            };
            assert_eq!(out, 1);
        }
    });
}

#[test]
fn unbiased_select_starts_from_a_random_branch() {
    let (mut first, mut second) = (0, 0);
    block_on(async {
        for _ in 0..200 {
            runtime::select! {
                _ = ready(()) => first += 1,
                _ = ready(()) => second += 1,
            }
        }
    });
    assert_eq!(first + second, 200);
    // Both ready every time: each wins sometimes (p of failing ~ 2^-199).
    assert!(first > 0 && second > 0, "{first} / {second}");
}

#[test]
fn futures_borrowing_in_a_loop_are_dropped_before_the_handler() {
    let got = block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        let (done_tx, mut done) = mpsc::channel::<()>(1);
        runtime::spawn(async move {
            for i in 0..3 {
                tx.send(i).await.unwrap();
            }
            done_tx.send(()).await.unwrap();
        });
        let mut got = Vec::new();
        loop {
            runtime::select! {
                biased;
                Some(i) = rx.recv() => {
                    got.push(i);
                    // `rx` is free again here: its `recv` future is gone.
                    if let Ok(j) = rx.try_recv() {
                        got.push(j);
                    }
                    continue;
                }
                _ = done.recv() => break,
            }
        }
        while let Ok(i) = rx.try_recv() {
            got.push(i);
        }
        got
    });
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn handlers_can_return_and_use_the_question_mark() {
    async fn run(fail: bool) -> Result<u32, String> {
        let v = runtime::select! {
            r = ready(if fail { Err("bad".to_string()) } else { Ok(3) }) => r?,
            _ = pending::<()>() => return Ok(0),
        };
        Ok(v + 1)
    }
    assert_eq!(block_on(run(false)), Ok(4));
    assert_eq!(block_on(run(true)), Err("bad".to_string()));
}

#[test]
fn patterns_may_use_mut_ref_tuples_structs_and_alternatives() {
    struct Msg {
        id: u32,
        body: String,
    }
    let out = block_on(async {
        let a = runtime::select! {
            (mut n, ref _unused) = ready((1u32, String::new())) => { n += 1; n }
        };
        let b = runtime::select! {
            Some(Msg { id, mut body }) = ready(Some(Msg { id: 2, body: "x".into() })) => {
                body.push('y');
                id as usize + body.len()
            }
        };
        let c = runtime::select! {
            1 | 2 = ready(3) => 0,
            n @ 3..=5 = ready(4) => n,
        };
        let d = runtime::select! {
            [first, .., mut last] = ready([1, 2, 3]) => { last += first; last }
        };
        // A long pattern (read token by token) next to short ones.
        let e = runtime::select! {
            biased;
            ::std::option::Option::Some(mut v) = ready(None::<u32>) => { v += 1; v }
            ::std::option::Option::Some(v) = ready(Some(6)), if d == 4 => v,
        };
        (a, b, c, d, e)
    });
    assert_eq!(out, (2, 4, 4, 4, 6));
}

#[test]
fn into_future_values_and_timeouts_work_as_branches() {
    let out = block_on(async {
        let task = runtime::spawn(async { 9 });
        runtime::select! {
            r = task => r.unwrap(),
            _ = runtime::time::sleep(Duration::from_secs(10)) => 0,
        }
    });
    assert_eq!(out, 9);
}

#[test]
fn the_losing_futures_are_dropped() {
    use std::cell::Cell;
    use std::rc::Rc;

    struct Guard(Rc<Cell<bool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = block_on(async {
        let flag = Rc::new(Cell::new(false));
        let guard = Guard(flag.clone());
        runtime::select! {
            _ = async move { let _g = guard; pending::<()>().await } => {}
            _ = ready(()) => {}
        }
        flag.get()
    });
    assert!(dropped);
}

#[test]
fn join_waits_for_all_and_keeps_the_written_order() {
    let out = block_on(async {
        runtime::join!(
            async {
                runtime::time::sleep(Duration::from_millis(5)).await;
                'a'
            },
            async { 1u8 },
            async {
                runtime::task::yield_now().await;
                "c"
            },
        )
    });
    assert_eq!(out, ('a', 1, "c"));
}

#[test]
fn join_runs_the_futures_concurrently_in_one_task() {
    // Each waits for the other: only concurrent polling finishes.
    let out = block_on(async {
        let (a_tx, mut a_rx) = mpsc::channel(1);
        let (b_tx, mut b_rx) = mpsc::channel(1);
        runtime::join!(
            async move {
                a_tx.send(1).await.unwrap();
                b_rx.recv().await.unwrap()
            },
            async move {
                b_tx.send(2).await.unwrap();
                a_rx.recv().await.unwrap()
            },
        )
    });
    assert_eq!(out, (2, 1));
}

#[test]
fn try_join_returns_the_first_error_and_drops_the_rest() {
    let out: Result<(u32, u32, ()), &str> = block_on(async {
        runtime::try_join!(
            async { Ok(1) },
            async {
                runtime::task::yield_now().await;
                Err("second failed")
            },
            async { pending::<Result<(), &str>>().await },
        )
    });
    assert_eq!(out, Err("second failed"));
    let ok: Result<(u32, &str), ()> =
        block_on(async { runtime::try_join!(async { Ok(1) }, async { Ok("two") }) });
    assert_eq!(ok, Ok((1, "two")));
}

#[test]
fn a_single_future_gives_a_one_tuple() {
    assert_eq!(block_on(async { runtime::join!(async { 5 }) }), (5,));
}

#[test]
fn sixty_four_branches_compile_with_the_default_recursion_limit() {
    let out = block_on(async {
        runtime::select! {
            v = std::future::pending::<u32>(), if 0 != 63 => v,
            v = std::future::pending::<u32>(), if 1 != 63 => v,
            v = std::future::pending::<u32>(), if 2 != 63 => v,
            v = std::future::pending::<u32>(), if 3 != 63 => v,
            v = std::future::pending::<u32>(), if 4 != 63 => v,
            v = std::future::pending::<u32>(), if 5 != 63 => v,
            v = std::future::pending::<u32>(), if 6 != 63 => v,
            v = std::future::pending::<u32>(), if 7 != 63 => v,
            v = std::future::pending::<u32>(), if 8 != 63 => v,
            v = std::future::pending::<u32>(), if 9 != 63 => v,
            v = std::future::pending::<u32>(), if 10 != 63 => v,
            v = std::future::pending::<u32>(), if 11 != 63 => v,
            v = std::future::pending::<u32>(), if 12 != 63 => v,
            v = std::future::pending::<u32>(), if 13 != 63 => v,
            v = std::future::pending::<u32>(), if 14 != 63 => v,
            v = std::future::pending::<u32>(), if 15 != 63 => v,
            v = std::future::pending::<u32>(), if 16 != 63 => v,
            v = std::future::pending::<u32>(), if 17 != 63 => v,
            v = std::future::pending::<u32>(), if 18 != 63 => v,
            v = std::future::pending::<u32>(), if 19 != 63 => v,
            v = std::future::pending::<u32>(), if 20 != 63 => v,
            v = std::future::pending::<u32>(), if 21 != 63 => v,
            v = std::future::pending::<u32>(), if 22 != 63 => v,
            v = std::future::pending::<u32>(), if 23 != 63 => v,
            v = std::future::pending::<u32>(), if 24 != 63 => v,
            v = std::future::pending::<u32>(), if 25 != 63 => v,
            v = std::future::pending::<u32>(), if 26 != 63 => v,
            v = std::future::pending::<u32>(), if 27 != 63 => v,
            v = std::future::pending::<u32>(), if 28 != 63 => v,
            v = std::future::pending::<u32>(), if 29 != 63 => v,
            v = std::future::pending::<u32>(), if 30 != 63 => v,
            v = std::future::pending::<u32>(), if 31 != 63 => v,
            v = std::future::pending::<u32>(), if 32 != 63 => v,
            v = std::future::pending::<u32>(), if 33 != 63 => v,
            v = std::future::pending::<u32>(), if 34 != 63 => v,
            v = std::future::pending::<u32>(), if 35 != 63 => v,
            v = std::future::pending::<u32>(), if 36 != 63 => v,
            v = std::future::pending::<u32>(), if 37 != 63 => v,
            v = std::future::pending::<u32>(), if 38 != 63 => v,
            v = std::future::pending::<u32>(), if 39 != 63 => v,
            Some(v) = std::future::ready(Some(40u32)) => v,
            v = std::future::pending::<u32>(), if 41 != 63 => v,
            v = std::future::pending::<u32>(), if 42 != 63 => v,
            v = std::future::pending::<u32>(), if 43 != 63 => v,
            v = std::future::pending::<u32>(), if 44 != 63 => v,
            v = std::future::pending::<u32>(), if 45 != 63 => v,
            v = std::future::pending::<u32>(), if 46 != 63 => v,
            v = std::future::pending::<u32>(), if 47 != 63 => v,
            v = std::future::pending::<u32>(), if 48 != 63 => v,
            v = std::future::pending::<u32>(), if 49 != 63 => v,
            v = std::future::pending::<u32>(), if 50 != 63 => v,
            v = std::future::pending::<u32>(), if 51 != 63 => v,
            v = std::future::pending::<u32>(), if 52 != 63 => v,
            v = std::future::pending::<u32>(), if 53 != 63 => v,
            v = std::future::pending::<u32>(), if 54 != 63 => v,
            v = std::future::pending::<u32>(), if 55 != 63 => v,
            v = std::future::pending::<u32>(), if 56 != 63 => v,
            v = std::future::pending::<u32>(), if 57 != 63 => v,
            v = std::future::pending::<u32>(), if 58 != 63 => v,
            v = std::future::pending::<u32>(), if 59 != 63 => v,
            v = std::future::pending::<u32>(), if 60 != 63 => v,
            v = std::future::pending::<u32>(), if 61 != 63 => v,
            v = std::future::pending::<u32>(), if 62 != 63 => v,
            v = std::future::pending::<u32>(), if 63 != 63 => v,
        }
    });
    assert_eq!(out, 40);
}
