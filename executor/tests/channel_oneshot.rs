//! The cross-core `channel::oneshot` between plain OS threads.

use std::thread;

use futures_lite::future::block_on;
use runtime_executor::channel::{mpsc, oneshot, RecvError, TryRecvError};

#[test]
fn value_crosses_threads() {
    let (tx, rx) = oneshot::channel();
    let sender = thread::spawn(move || tx.send(String::from("across")).unwrap());
    assert_eq!(block_on(rx).as_deref(), Ok("across"));
    sender.join().unwrap();
}

#[test]
fn many_oneshots_each_deliver_their_own_value() {
    let (mut txs, rxs): (Vec<_>, Vec<_>) = (0..1_000u32).map(|_| oneshot::channel()).unzip();
    let mut senders = Vec::new();
    for worker in 0..4u32 {
        let chunk: Vec<_> = txs.drain(..250).collect();
        senders.push(thread::spawn(move || {
            for (i, tx) in (worker * 250..).zip(chunk) {
                tx.send(i).unwrap();
            }
        }));
    }
    block_on(async {
        for (i, rx) in (0..).zip(rxs) {
            assert_eq!(rx.await, Ok(i));
        }
    });
    for sender in senders {
        sender.join().unwrap();
    }
}

#[test]
fn sender_dropped_on_another_thread_fails_the_receiver() {
    let (tx, rx) = oneshot::channel::<u32>();
    let dropper = thread::spawn(move || drop(tx));
    assert!(matches!(block_on(rx), Err(RecvError { .. })));
    dropper.join().unwrap();
}

#[test]
fn receiver_dropped_on_another_thread_resolves_closed() {
    let (mut tx, rx) = oneshot::channel::<u32>();
    let dropper = thread::spawn(move || drop(rx));
    block_on(tx.closed());
    assert!(tx.is_closed());
    assert_eq!(tx.send(7), Err(7));
    dropper.join().unwrap();
}

#[test]
fn close_then_try_recv_sees_a_value_sent_before() {
    let (tx, mut rx) = oneshot::channel();
    thread::spawn(move || tx.send(1u8).unwrap()).join().unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn request_reply_through_a_worker_thread() {
    let (requests, mut queue) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(8);
    let worker = thread::spawn(move || {
        block_on(async {
            while let Some((n, reply)) = queue.recv().await {
                reply.send(n * 2).unwrap();
            }
        })
    });
    block_on(async {
        for n in 0..1_000 {
            let (reply, answer) = oneshot::channel();
            requests.send((n, reply)).await.unwrap();
            assert_eq!(answer.await, Ok(n * 2));
        }
    });
    drop(requests);
    worker.join().unwrap();
}
