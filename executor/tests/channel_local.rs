//! The core-local channels, driven on one thread: a model check of the
//! bounded mpsc's wakeups, and end-to-end use under `block_on`.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_lite::future;
use runtime_executor::channel::local::{mpsc, oneshot};
use runtime_executor::channel::{SendError, TryRecvError, TrySendError};

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// xorshift64: a deterministic operation mix without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError<u32>>> + 'a>>;

struct Pending<'a> {
    future: SendFuture<'a>,
    waker: Arc<CountingWaker>,
    value: u32,
    expected_wakes: usize,
}

/// What the channel should do, written as plainly as possible.
struct Model {
    capacity: usize,
    queue: VecDeque<u32>,
    /// Send futures waiting for room, oldest first (ids into `live`).
    waiting: VecDeque<usize>,
    /// Send futures woken with a slot reserved for them.
    granted: HashSet<usize>,
    closed: bool,
    rx_registered: bool,
    rx_expected_wakes: usize,
}

impl Model {
    fn has_room(&self) -> bool {
        self.queue.len() + self.granted.len() < self.capacity
    }

    fn push(&mut self, value: u32) {
        self.queue.push_back(value);
        if std::mem::take(&mut self.rx_registered) {
            self.rx_expected_wakes += 1;
        }
    }

    /// Hands free room to the oldest waiter; returns who to wake.
    fn grant(&mut self) -> Option<usize> {
        if !self.has_room() {
            return None;
        }
        let id = self.waiting.pop_front()?;
        self.granted.insert(id);
        Some(id)
    }
}

fn run_model(seed: u64, capacity: usize, steps: usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (tx, mut rx) = mpsc::channel::<u32>(capacity);
    let rx_waker = Arc::new(CountingWaker::default());
    let mut live: Vec<Option<Pending<'_>>> = Vec::new();
    let mut model = Model {
        capacity,
        queue: VecDeque::new(),
        waiting: VecDeque::new(),
        granted: HashSet::new(),
        closed: false,
        rx_registered: false,
        rx_expected_wakes: 0,
    };
    let mut next_value = 0u32;
    let live_ids = |live: &Vec<Option<Pending<'_>>>| -> Vec<usize> {
        (0..live.len()).filter(|&i| live[i].is_some()).collect()
    };

    for step in 0..steps {
        let ctx = format!("seed {seed} capacity {capacity} step {step}");
        match rng.below(100) {
            // try_send
            0..=14 => {
                next_value += 1;
                let result = tx.try_send(next_value);
                if model.closed {
                    assert!(
                        matches!(result, Err(TrySendError::Closed(v)) if v == next_value),
                        "{ctx}"
                    );
                } else if model.has_room() {
                    assert!(result.is_ok(), "{ctx}");
                    model.push(next_value);
                } else {
                    assert!(
                        matches!(result, Err(TrySendError::Full(v)) if v == next_value),
                        "{ctx}"
                    );
                }
            }
            // start a send and poll it once
            15..=39 => {
                next_value += 1;
                let waker = Arc::new(CountingWaker::default());
                let mut future: SendFuture<'_> = Box::pin(tx.send(next_value));
                let poll = future
                    .as_mut()
                    .poll(&mut Context::from_waker(&Waker::from(waker.clone())));
                if model.closed {
                    assert_eq!(poll, Poll::Ready(Err(SendError(next_value))), "{ctx}");
                } else if model.waiting.is_empty() && model.has_room() {
                    assert_eq!(poll, Poll::Ready(Ok(())), "{ctx}");
                    model.push(next_value);
                } else {
                    assert_eq!(poll, Poll::Pending, "{ctx}");
                    model.waiting.push_back(live.len());
                    live.push(Some(Pending {
                        future,
                        waker,
                        value: next_value,
                        expected_wakes: 0,
                    }));
                }
            }
            // poll a waiting send again
            40..=54 => {
                let ids = live_ids(&live);
                if ids.is_empty() {
                    continue;
                }
                let id = ids[rng.below(ids.len() as u64) as usize];
                let pending = live[id].as_mut().unwrap();
                let poll = pending
                    .future
                    .as_mut()
                    .poll(&mut Context::from_waker(&Waker::from(
                        pending.waker.clone(),
                    )));
                let value = pending.value;
                if model.closed {
                    assert_eq!(poll, Poll::Ready(Err(SendError(value))), "{ctx}");
                    live[id] = None;
                } else if model.granted.remove(&id) {
                    assert_eq!(poll, Poll::Ready(Ok(())), "{ctx}");
                    model.push(value);
                    live[id] = None;
                } else {
                    assert_eq!(poll, Poll::Pending, "{ctx}");
                }
            }
            // cancel a waiting send
            55..=64 => {
                let ids = live_ids(&live);
                if ids.is_empty() {
                    continue;
                }
                let id = ids[rng.below(ids.len() as u64) as usize];
                live[id] = None;
                if !model.closed {
                    if model.granted.remove(&id) {
                        if let Some(next) = model.grant() {
                            live[next].as_mut().unwrap().expected_wakes += 1;
                        }
                    } else {
                        model.waiting.retain(|&w| w != id);
                    }
                }
            }
            // receive
            65..=89 => {
                let result = if rng.below(2) == 0 {
                    rx.try_recv()
                } else {
                    let waker = Waker::from(rx_waker.clone());
                    match rx.poll_recv(&mut Context::from_waker(&waker)) {
                        Poll::Ready(Some(v)) => Ok(v),
                        Poll::Ready(None) => Err(TryRecvError::Disconnected),
                        Poll::Pending => {
                            assert!(model.queue.is_empty() && !model.closed, "{ctx}");
                            model.rx_registered = true;
                            continue;
                        }
                    }
                };
                match model.queue.pop_front() {
                    Some(expected) => {
                        assert_eq!(result, Ok(expected), "{ctx}");
                        if let Some(next) = model.grant() {
                            live[next].as_mut().unwrap().expected_wakes += 1;
                        }
                    }
                    None if model.closed => {
                        assert_eq!(result, Err(TryRecvError::Disconnected), "{ctx}")
                    }
                    None => assert_eq!(result, Err(TryRecvError::Empty), "{ctx}"),
                }
            }
            // close, rarely
            _ => {
                if rng.below(20) != 0 || model.closed {
                    continue;
                }
                rx.close();
                model.closed = true;
                model.granted.clear();
                for id in model.waiting.drain(..) {
                    live[id].as_mut().unwrap().expected_wakes += 1;
                }
            }
        }

        for pending in live.iter().flatten() {
            assert_eq!(
                pending.waker.count(),
                pending.expected_wakes,
                "{ctx}: send waker"
            );
        }
        assert_eq!(
            rx_waker.count(),
            model.rx_expected_wakes,
            "{ctx}: receiver waker"
        );
        assert_eq!(rx.len(), model.queue.len(), "{ctx}");
        if !model.closed {
            assert_eq!(
                tx.capacity(),
                capacity - model.queue.len() - model.granted.len(),
                "{ctx}"
            );
        }
    }
}

#[test]
fn bounded_wakeups_match_a_fifo_model() {
    for seed in 0..40 {
        run_model(seed, 1 + (seed % 4) as usize, 3_000);
    }
}

#[test]
fn request_reply_between_tasks_on_one_thread() {
    let (requests, mut queue) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(2);
    let server = async move {
        let mut served = 0;
        while let Some((n, reply)) = queue.recv().await {
            reply.send(n + 1).unwrap();
            served += 1;
        }
        served
    };
    let client = async move {
        for n in 0..500 {
            let (reply, answer) = oneshot::channel();
            requests.send((n, reply)).await.unwrap();
            assert_eq!(answer.await, Ok(n + 1));
        }
    };
    let ((), served) = future::block_on(future::zip(client, server));
    assert_eq!(served, 500);
}

#[test]
fn cancelled_send_leaves_room_for_the_next_sender() {
    let (tx, mut rx) = mpsc::channel(1);
    future::block_on(async {
        tx.send(0).await.unwrap();
        // This send cannot finish; `or` drops it once the other side wins.
        let gave_up = future::or(async { tx.send(1).await.map(|()| false) }, async {
            future::yield_now().await;
            Ok(true)
        })
        .await;
        assert_eq!(gave_up, Ok(true));
        let (second, first) = future::zip(tx.send(2), rx.recv()).await;
        second.unwrap();
        assert_eq!(first, Some(0));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn unbounded_fan_in_ends_when_senders_go() {
    let (tx, mut rx) = mpsc::unbounded();
    let producers = (0..4u32).map(|p| {
        let tx = tx.clone();
        async move {
            for i in 0..100 {
                tx.send(p * 1_000 + i).unwrap();
                future::yield_now().await;
            }
        }
    });
    let mut producers: Vec<_> = producers.map(Box::pin).collect();
    drop(tx);
    let all_sent = async {
        for producer in &mut producers {
            producer.await;
        }
    };
    let consumer = async {
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        got
    };
    let ((), mut got) = future::block_on(future::zip(all_sent, consumer));
    got.sort_unstable();
    let expected: Vec<u32> = (0..4)
        .flat_map(|p| (0..100).map(move |i| p * 1_000 + i))
        .collect();
    assert_eq!(got, expected);
}
