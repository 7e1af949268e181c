//! Timer micro-benchmarks at 10, 1 000, 100 000 and 1 000 000 timers.
//!
//! - `insert_cancel` and `insert_fire`: the per-core timer wheel of
//!   `runtime-executor` against a `BinaryHeap` with lazy cancellation (dead
//!   entries are skipped when popped, and the heap is compacted once they
//!   outnumber live ones). Firing steps through time as a core does: to the
//!   next deadline, fire, repeat.
//! - `sleep_poll_drop`: create N sleeps, poll each once (registering it), drop
//!   them all, inside our runtime and inside tokio's current-thread runtime.
//! - `sleep_repoll`: poll one registered sleep 1 000 times with the same
//!   waker (a spurious wake-up's cost), in both runtimes.
//! - `sleep_spawn_fire`: spawn N tasks that each sleep 1 ms, and await them
//!   all, in both runtimes (includes the 1 ms or so of waiting; N up to
//!   100 000).
//!
//! ```text
//! cargo bench --manifest-path benches/Cargo.toml --bench timers
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use runtime_executor::time::__bench::{Key, Timers};

const SIZES: [usize; 4] = [10, 1_000, 100_000, 1_000_000];

/// Offsets spread pseudo-randomly over 10 s, at microsecond precision, and a
/// random order in which to cancel them.
fn workload(n: usize) -> (Vec<Duration>, Vec<usize>) {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let offsets = (0..n)
        .map(|_| Duration::from_micros(next() % 10_000_000))
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    (offsets, order)
}

/// The baseline: a binary heap of `(deadline, index, generation)` over a slab
/// of wakers. Cancel frees the waker at once and leaves the heap entry to be
/// skipped when popped.
struct HeapTimers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    slots: Vec<(u32, Option<Waker>)>,
    free: Vec<u32>,
    live: usize,
}

impl HeapTimers {
    fn new() -> Self {
        HeapTimers {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    fn insert(&mut self, deadline: Instant, waker: &Waker) -> (u32, u32) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push((0, None));
                self.slots.len() as u32 - 1
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(waker.clone());
        self.heap.push(Reverse((deadline, index, slot.0)));
        self.live += 1;
        (index, slot.0)
    }

    fn is_live(slots: &[(u32, Option<Waker>)], index: u32, generation: u32) -> bool {
        let slot = &slots[index as usize];
        slot.0 == generation && slot.1.is_some()
    }

    fn take(&mut self, index: u32, generation: u32) -> Option<Waker> {
        if !Self::is_live(&self.slots, index, generation) {
            return None;
        }
        let slot = &mut self.slots[index as usize];
        slot.0 = slot.0.wrapping_add(1);
        self.free.push(index);
        self.live -= 1;
        slot.1.take()
    }

    fn cancel(&mut self, (index, generation): (u32, u32)) -> bool {
        let cancelled = self.take(index, generation).is_some();
        if self.heap.len() > 2 * self.live + 64 {
            let slots = &self.slots;
            self.heap.retain(|Reverse((_, index, generation))| {
                Self::is_live(slots, *index, *generation)
            });
        }
        cancelled
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, index, generation))) = self.heap.peek() {
            if Self::is_live(&self.slots, index, generation) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    fn fire_expired(&mut self, now: Instant) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((deadline, index, generation))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if let Some(waker) = self.take(index, generation) {
                waker.wake();
                fired += 1;
            }
        }
        fired
    }
}

fn sample_size(n: usize) -> usize {
    if n >= 100_000 {
        10
    } else {
        50
    }
}

fn insert_cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers/insert_cancel");
    let waker = Waker::noop();
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(sample_size(n));
        let (offsets, order) = workload(n);
        let base = Instant::now() + Duration::from_secs(1);
        let deadlines: Vec<Instant> = offsets.iter().map(|&offset| base + offset).collect();

        let wheel = Timers::new();
        let mut keys: Vec<Key> = Vec::with_capacity(n);
        group.bench_with_input(BenchmarkId::new("wheel", n), &n, |b, _| {
            b.iter(|| {
                keys.extend(deadlines.iter().map(|&d| wheel.insert(d, waker)));
                for &i in &order {
                    black_box(wheel.cancel(keys[i]));
                }
                keys.clear();
            })
        });
        assert!(wheel.is_empty());

        let mut heap = HeapTimers::new();
        let mut keys = Vec::with_capacity(n);
        group.bench_with_input(BenchmarkId::new("binary_heap", n), &n, |b, _| {
            b.iter(|| {
                keys.extend(deadlines.iter().map(|&d| heap.insert(d, waker)));
                for &i in &order {
                    black_box(heap.cancel(keys[i]));
                }
                keys.clear();
            })
        });
        assert_eq!(heap.live, 0);
    }
    group.finish();
}

/// Inserts timers at `base + offset`, then fires them all stepping from one
/// `next_deadline` to the next, as a core does. Time is virtual: each run
/// moves `base` 20 s on, past the previous run's deadlines (the wheel's clock
/// follows the instants passed to `fire_expired`).
macro_rules! insert_fire_runs {
    ($timers:expr, $offsets:expr, $base:expr, $iters:expr, $waker:expr) => {{
        let mut total = Duration::ZERO;
        for _ in 0..$iters {
            let start = Instant::now();
            for &offset in $offsets {
                $timers.insert($base + offset, $waker);
            }
            let mut fired = 0;
            while let Some(next) = $timers.next_deadline() {
                fired += $timers.fire_expired(next);
            }
            total += start.elapsed();
            assert_eq!(fired, $offsets.len());
            $base += Duration::from_secs(20);
        }
        total
    }};
}

fn insert_fire(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers/insert_fire");
    let waker = Waker::noop();
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(sample_size(n));
        let (offsets, _) = workload(n);

        let wheel = Timers::new();
        let mut base = Instant::now() + Duration::from_secs(1);
        group.bench_with_input(BenchmarkId::new("wheel", n), &n, |b, _| {
            b.iter_custom(|iters| insert_fire_runs!(wheel, &offsets, base, iters, waker))
        });

        let mut heap = HeapTimers::new();
        let mut base = Instant::now() + Duration::from_secs(1);
        group.bench_with_input(BenchmarkId::new("binary_heap", n), &n, |b, _| {
            b.iter_custom(|iters| insert_fire_runs!(heap, &offsets, base, iters, waker))
        });
    }
    group.finish();
}

/// Creates `n` sleeps, polls each once so that it registers, then drops them.
async fn poll_and_drop<S: Future<Output = ()>>(n: usize, make: impl Fn(Duration) -> S) {
    let mut sleeps: Vec<Pin<Box<S>>> = (0..n)
        .map(|i| {
            Box::pin(make(Duration::from_millis(
                1_000 + (i as u64 * 7919) % 10_000,
            )))
        })
        .collect();
    poll_fn(|cx| {
        for sleep in &mut sleeps {
            assert!(sleep.as_mut().poll(cx).is_pending());
        }
        Poll::Ready(())
    })
    .await;
    drop(sleeps);
}

fn sleep_poll_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers/sleep_poll_drop");
    let tokio_mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let ours = runtime_executor::Runtime::builder()
        .cores(1)
        .build()
        .unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(sample_size(n));
        group.bench_with_input(BenchmarkId::new("runtime", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                ours.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        poll_and_drop(n, runtime_executor::time::sleep).await;
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("tokio", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                tokio.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        poll_and_drop(n, tokio::time::sleep).await;
                    }
                    start.elapsed()
                })
            })
        });
        // On a worker of the multi-thread runtime, whose timer driver is shared.
        group.bench_with_input(BenchmarkId::new("tokio_multi_thread", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                tokio_mt.block_on(async {
                    tokio::spawn(async move {
                        let start = Instant::now();
                        for _ in 0..iters {
                            poll_and_drop(n, tokio::time::sleep).await;
                        }
                        start.elapsed()
                    })
                    .await
                    .unwrap()
                })
            })
        });
    }
    group.finish();
}

/// Polls one registered sleep again and again with the same waker: the cost
/// of a spurious wake-up (ours: a lookup and `Waker::will_wake`).
async fn repoll<S: Future<Output = ()>>(times: u64, sleep: S) {
    let mut sleep = Box::pin(sleep);
    poll_fn(|cx| {
        for _ in 0..times {
            assert!(sleep.as_mut().poll(cx).is_pending());
        }
        Poll::Ready(())
    })
    .await;
}

fn sleep_repoll(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers/sleep_repoll");
    let ours = runtime_executor::Runtime::builder()
        .cores(1)
        .build()
        .unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    const TIMES: u64 = 1_000;
    let long = Duration::from_secs(3600);
    group.throughput(Throughput::Elements(TIMES));
    group.bench_function("runtime", |b| {
        b.iter_custom(|iters| {
            ours.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    repoll(TIMES, runtime_executor::time::sleep(long)).await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    repoll(TIMES, tokio::time::sleep(long)).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn sleep_spawn_fire(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers/sleep_spawn_fire");
    let ours = runtime_executor::Runtime::builder()
        .cores(1)
        .build()
        .unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let delay = Duration::from_millis(1);
    // A million tasks a run would take minutes of sampling: up to 100 000.
    for n in &SIZES[..3] {
        let n = *n;
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(sample_size(n));
        group.bench_with_input(BenchmarkId::new("runtime", n), &n, |b, &n| {
            b.iter(|| {
                ours.block_on(async {
                    let tasks: Vec<_> = (0..n)
                        .map(|_| runtime_executor::spawn(runtime_executor::time::sleep(delay)))
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("tokio", n), &n, |b, &n| {
            b.iter(|| {
                tokio.block_on(async {
                    let tasks: Vec<_> = (0..n)
                        .map(|_| tokio::spawn(tokio::time::sleep(delay)))
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = insert_cancel, insert_fire, sleep_poll_drop, sleep_repoll, sleep_spawn_fire
}
criterion_main!(benches);
