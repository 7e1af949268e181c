//! The cross-core `channel::mpsc` between plain OS threads.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use futures_lite::future::block_on;
use futures_lite::StreamExt;
use runtime_executor::channel::{mpsc, TryRecvError};

const PRODUCERS: usize = 8;
const PER_PRODUCER: u32 = 20_000;

/// Receives everything from `rx` and checks that each producer's messages
/// arrive exactly once and in the order it sent them.
fn drain_in_order(mut next: impl FnMut() -> Option<(usize, u32)>) -> Vec<u32> {
    let mut expected = vec![0; PRODUCERS];
    while let Some((producer, seq)) = next() {
        assert_eq!(seq, expected[producer], "producer {producer} out of order");
        expected[producer] += 1;
    }
    expected
}

#[test]
fn bounded_delivers_every_message_once_in_per_producer_order() {
    let (tx, mut rx) = mpsc::channel(16);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                block_on(async {
                    for seq in 0..PER_PRODUCER {
                        tx.send((p, seq)).await.unwrap();
                    }
                })
            })
        })
        .collect();
    drop(tx);

    let counts = block_on(async {
        let mut expected = vec![0; PRODUCERS];
        while let Some((producer, seq)) = rx.recv().await {
            assert_eq!(seq, expected[producer], "producer {producer} out of order");
            expected[producer] += 1;
            assert!(rx.len() <= 16);
        }
        expected
    });
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(counts, vec![PER_PRODUCER; PRODUCERS]);
}

#[test]
fn blocking_halves_work_between_threads() {
    let (tx, mut rx) = mpsc::channel(4);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for seq in 0..2_000 {
                    tx.blocking_send((p, seq)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let counts = drain_in_order(|| rx.blocking_recv());
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(counts, vec![2_000; PRODUCERS]);
}

#[test]
fn unbounded_delivers_every_message_once_in_per_producer_order() {
    let (tx, mut rx) = mpsc::unbounded();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for seq in 0..PER_PRODUCER {
                    tx.send((p, seq)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let counts = drain_in_order(|| rx.blocking_recv());
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(counts, vec![PER_PRODUCER; PRODUCERS]);
}

#[test]
fn receiver_dropped_mid_stream_fails_waiting_senders() {
    let (tx, mut rx) = mpsc::channel(4);
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || {
                block_on(async {
                    let mut sent = 0u64;
                    loop {
                        match tx.send(sent).await {
                            Ok(()) => sent += 1,
                            // The value comes back untouched.
                            Err(err) => {
                                assert_eq!(err.0, sent);
                                assert!(tx.is_closed());
                                return sent;
                            }
                        }
                    }
                })
            })
        })
        .collect();
    drop(tx);

    let received = block_on(async {
        let mut received = 0u64;
        while received < 1_000 {
            rx.recv().await.unwrap();
            received += 1;
        }
        received
    });
    drop(rx);
    let sent: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    // Up to one buffer's worth was sent but never received.
    assert!(sent >= received && sent <= received + 4, "sent {sent}");
}

#[test]
fn values_buffered_when_the_receiver_drops_are_dropped() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let dropped = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel(8);
    let producer = {
        let dropped = dropped.clone();
        thread::spawn(move || {
            for _ in 0..8 {
                tx.blocking_send(Counted(dropped.clone())).unwrap();
            }
            tx
        })
    };
    let tx = producer.join().unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    thread::spawn(move || drop(rx)).join().unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 8);
    // A rejected value comes back to the caller instead of being dropped.
    let rejected = tx.try_send(Counted(dropped.clone())).unwrap_err();
    assert!(rejected.is_closed());
    assert_eq!(dropped.load(Ordering::SeqCst), 8);
}

#[test]
fn all_senders_dropped_ends_the_stream() {
    let (tx, rx) = mpsc::channel(2);
    let producers: Vec<_> = (0..4u32)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || block_on(async { tx.send(p).await.unwrap() }))
        })
        .collect();
    drop(tx);
    let mut rx = rx;
    let got: HashSet<u32> = block_on((&mut rx).collect());
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(got, (0..4).collect());
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn ping_pong_wakes_across_threads() {
    // Each round trip needs a cross-thread wakeup in both directions; a lost
    // one would stop the exchange.
    let (ping_tx, mut ping_rx) = mpsc::channel::<u32>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u32>(1);
    let echo = thread::spawn(move || {
        block_on(async {
            let mut echoed = 0;
            while let Some(n) = ping_rx.recv().await {
                pong_tx.send(n + 1).await.unwrap();
                echoed += 1;
            }
            echoed
        })
    });
    block_on(async {
        let mut n = 0;
        for _ in 0..10_000 {
            ping_tx.send(n).await.unwrap();
            n = pong_rx.recv().await.unwrap();
        }
        assert_eq!(n, 10_000);
    });
    drop(ping_tx);
    assert_eq!(echo.join().unwrap(), 10_000);
    assert_eq!(block_on(pong_rx.recv()), None);
}
