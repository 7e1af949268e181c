//! Cross-core wakes while the cores do I/O (RELIABILITY row 26): 100 000
//! messages and wakes from core 0 to core 1 while both echo on sockets;
//! nothing is lost, nothing deadlocks, the wakes coalesce (counted in eventfd
//! writes, `CoreStats::notifies`), and waking a task whose socket has just
//! closed is harmless.

use std::future::{poll_fn, Future};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;

use runtime_executor::channel::mpsc::unbounded;
use runtime_executor::{AsyncFd, Runtime};

const MESSAGES: u64 = 100_000;

/// Echoes on `fd` until the peer closes; returns the bytes echoed.
async fn echo(fd: AsyncFd<UnixStream>) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = fd.read_with(|mut s| s.read(&mut buf)).await.unwrap();
        if n == 0 {
            return total;
        }
        let mut sent = 0;
        while sent < n {
            sent += fd.write_with(|mut s| s.write(&buf[sent..n])).await.unwrap();
        }
        total += n;
    }
}

/// A peer thread that sends `rounds` messages of 1 KiB and checks each echo.
fn echo_peer(mut peer: UnixStream, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let msg: Vec<u8> = (0..1024).map(|i| i as u8).collect();
        let mut back = vec![0; 1024];
        let mut rounds = 0;
        while !stop.load(Ordering::Relaxed) {
            peer.write_all(&msg).unwrap();
            peer.read_exact(&mut back).unwrap();
            assert_eq!(back, msg);
            rounds += 1;
        }
        rounds
    })
}

fn socket_pair() -> (AsyncFd<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (AsyncFd::new(a).unwrap(), b)
}

#[test]
fn a_hundred_thousand_cross_core_messages_while_both_cores_echo() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = unbounded::<u64>();
    let (peer1_tx, peer1_rx) = std::sync::mpsc::channel();
    let stop1 = stop.clone();
    // Core 1: an echo on a socket, and the receiving end of the messages.
    let received = handle.spawn_on(1, move || async move {
        let (fd, peer) = socket_pair();
        peer1_tx.send(echo_peer(peer, stop1)).unwrap();
        let echoing = runtime_executor::spawn(echo(fd));
        let mut next = 0;
        while let Some(n) = rx.recv().await {
            assert_eq!(n, next, "a message lost or out of order");
            next += 1;
        }
        (next, echoing)
    });
    let notifies_before = handle.stats(1).notifies;
    let (sent, echoed0) = rt.block_on(async {
        // Core 0 echoes too, while it sends.
        let (fd, peer) = socket_pair();
        let peer0 = echo_peer(peer, stop.clone());
        let echoing = runtime_executor::spawn(echo(fd));
        for n in 0..MESSAGES {
            tx.send(n).unwrap();
            if n % 1024 == 0 {
                runtime_executor::yield_now().await;
            }
        }
        drop(tx);
        let (got, echoing1) = received.await.unwrap();
        // The peers stop after their round in flight, which the cores
        // still echo (no blocking join here: core 0 serves its peer), and
        // close: each echo task sees the end.
        stop.store(true, Ordering::Relaxed);
        let echoed = (echoing.await.unwrap(), echoing1.await.unwrap());
        (got, (peer0, echoed))
    });
    let (peer0, echoed0) = echoed0;
    let rounds0 = peer0.join().unwrap();
    let rounds1 = peer1_rx.recv().unwrap().join().unwrap();
    assert!(rounds0 > 0 && rounds1 > 0, "both cores echoed meanwhile");
    assert_eq!(sent, MESSAGES);
    assert!(echoed0.0 > 0 && echoed0.1 > 0);
    let notifies = handle.stats(1).notifies - notifies_before;
    eprintln!("{MESSAGES} messages to core 1: {notifies} eventfd writes");
    assert!(
        notifies < MESSAGES / 10,
        "{notifies} eventfd writes for {MESSAGES} messages: the wakes did not coalesce"
    );
}

#[test]
fn wakes_of_a_parked_core_coalesce_into_few_eventfd_writes() {
    const TASKS: usize = 1_000;
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let woken = Arc::new(AtomicUsize::new(0));
    for _ in 0..TASKS {
        let (wakers, woken) = (wakers.clone(), woken.clone());
        drop(handle.spawn_on(1, move || async move {
            let mut registered = false;
            poll_fn(|cx| {
                if registered {
                    return Poll::Ready(());
                }
                registered = true;
                wakers.lock().unwrap().push(cx.waker().clone());
                Poll::Pending
            })
            .await;
            woken.fetch_add(1, Ordering::SeqCst);
        }));
    }
    while wakers.lock().unwrap().len() < TASKS {
        thread::yield_now();
    }
    // Core 1 has nothing to do now: it parks (if it is still finishing
    // its turn, the first wakes need no eventfd write at all).
    while handle.stats(1).parks == 0 {
        thread::yield_now();
    }
    let before = handle.stats(1).notifies;
    for waker in wakers.lock().unwrap().drain(..) {
        waker.wake();
    }
    while woken.load(Ordering::SeqCst) < TASKS {
        thread::yield_now();
    }
    let notifies = handle.stats(1).notifies - before;
    assert!(
        notifies <= TASKS as u64 / 10,
        "{notifies} eventfd writes for {TASKS} wakes"
    );
    drop(rt);
}

#[test]
fn waking_a_task_whose_socket_just_closed_is_harmless() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.handle();
    let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let w = wakers.clone();
    // A task on core 1 waits on a socket; its peer closes; the task ends,
    // dropping the socket. Its waker, kept on another thread, is woken
    // afterwards, many times.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    drop(handle.spawn_on(1, move || async move {
        let (fd, peer) = socket_pair();
        let mut buf = [0u8; 16];
        let read = fd.read_with(|mut s| s.read(&mut buf));
        let mut read = std::pin::pin!(read);
        let first = poll_fn(|cx| {
            w.lock().unwrap().push(cx.waker().clone());
            Poll::Ready(read.as_mut().poll(cx))
        })
        .await;
        assert!(first.is_pending());
        drop(peer);
        assert_eq!(read.await.unwrap(), 0);
        done_tx.send(()).unwrap();
    }));
    done_rx.recv().unwrap();
    let stale = wakers.lock().unwrap().pop().unwrap();
    let wakers_thread = thread::spawn(move || {
        for _ in 0..1_000 {
            stale.wake_by_ref();
        }
    });
    wakers_thread.join().unwrap();
    // Core 1 goes on.
    let n = rt.block_on(async {
        runtime_executor::spawn_on(1, || async { runtime_executor::current_core() })
            .await
            .unwrap()
    });
    assert_eq!(n, 1);
}
