//! Channels between tasks of a running `Runtime`: cross-core channels wake
//! the receiving core through its remote queue, local ones stay on a core.

use std::thread;

use runtime_executor::channel::{local, mpsc, oneshot};
use runtime_executor::{current_core, spawn, spawn_on, Runtime};

fn runtime(cores: usize) -> Runtime {
    Runtime::builder().cores(cores).build().unwrap()
}

#[test]
fn bounded_channel_carries_values_between_cores_in_order() {
    let rt = runtime(2);
    let received = rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(16);
        // Backpressure makes core 1 wait on core 0 and core 0 on core 1.
        let producer = spawn_on(1, move || async move {
            assert_eq!(current_core(), 1);
            for i in 0..20_000u32 {
                tx.send(i).await.unwrap();
            }
        });
        let mut next = 0;
        while let Some(i) = rx.recv().await {
            assert_eq!(i, next);
            next += 1;
        }
        producer.await.unwrap();
        next
    });
    assert_eq!(received, 20_000);
}

#[test]
fn oneshot_replies_come_back_from_another_core() {
    let rt = runtime(2);
    rt.block_on(async {
        for n in 0..200u64 {
            let (reply, answer) = oneshot::channel();
            spawn_on(1, move || async move {
                reply.send((current_core(), n * n)).unwrap();
            });
            assert_eq!(answer.await, Ok((1, n * n)));
        }
    });
}

#[test]
fn every_core_feeds_one_receiver_on_a_plain_thread() {
    let rt = runtime(2);
    let (tx, mut rx) = mpsc::channel(8);
    let consumer = thread::spawn(move || {
        let mut per_core = [0u32; 2];
        for _ in 0..10_000 {
            let (core, seq) = rx.blocking_recv().unwrap();
            assert_eq!(seq, per_core[core]);
            per_core[core] += 1;
        }
        per_core
    });
    let sent = rt.run_on_all_cores(move || {
        let tx = tx.clone();
        async move {
            let core = current_core();
            for seq in 0..5_000u32 {
                tx.send((core, seq)).await.unwrap();
            }
            core
        }
    });
    assert_eq!(sent, [0, 1]);
    assert_eq!(consumer.join().unwrap(), [5_000, 5_000]);
}

#[test]
fn local_channels_connect_tasks_of_one_core() {
    let rt = runtime(1);
    let sum = rt.block_on(async {
        let (tx, mut rx) = local::mpsc::channel(4);
        for p in 0..4u64 {
            let tx = tx.clone();
            spawn(async move {
                for i in 0..1_000 {
                    tx.send(p * 1_000 + i).await.unwrap();
                }
            });
        }
        drop(tx);
        let (done_tx, done_rx) = local::oneshot::channel();
        spawn(async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            done_tx.send(sum).unwrap();
        });
        done_rx.await.unwrap()
    });
    assert_eq!(sum, (0..4_000).sum::<u64>());
}
