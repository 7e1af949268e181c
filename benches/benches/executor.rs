//! Executor micro-benchmarks, side by side with tokio in the same run:
//! spawn-and-complete, and a cross-core message round trip.
//!
//! ```text
//! cargo bench --manifest-path benches/Cargo.toml --bench executor
//! ```

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BATCH: u64 = 1_000;

fn spawn_and_complete(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_and_complete");
    group.throughput(Throughput::Elements(BATCH));

    let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    group.bench_function(BenchmarkId::new("runtime", "batch_1000"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let handles: Vec<_> = (0..BATCH)
                        .map(|i| runtime::spawn(async move { i }))
                        .collect();
                    for h in handles {
                        std::hint::black_box(h.await.unwrap());
                    }
                }
                start.elapsed()
            })
        })
    });

    let tokio_ct = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    group.bench_function(
        BenchmarkId::new("tokio_current_thread", "batch_1000"),
        |b| {
            b.iter_custom(|iters| {
                tokio_ct.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let handles: Vec<_> =
                            (0..BATCH).map(|i| tokio::spawn(async move { i })).collect();
                        for h in handles {
                            std::hint::black_box(h.await.unwrap());
                        }
                    }
                    start.elapsed()
                })
            })
        },
    );

    // Spawning from a worker of the multi-thread runtime (2 workers).
    let tokio_mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    group.bench_function(BenchmarkId::new("tokio_multi_thread", "batch_1000"), |b| {
        b.iter_custom(|iters| {
            tokio_mt.block_on(async {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let handles: Vec<_> =
                            (0..BATCH).map(|i| tokio::spawn(async move { i })).collect();
                        for h in handles {
                            std::hint::black_box(h.await.unwrap());
                        }
                    }
                    start.elapsed()
                })
                .await
                .unwrap()
            })
        })
    });
    drop(tokio_mt);

    // tokio's LocalSet is the closest to our `!Send` local spawn.
    let local = tokio::task::LocalSet::new();
    group.bench_function(BenchmarkId::new("tokio_local_set", "batch_1000"), |b| {
        b.iter_custom(|iters| {
            local.block_on(&tokio_ct, async {
                let start = Instant::now();
                for _ in 0..iters {
                    let handles: Vec<_> = (0..BATCH)
                        .map(|i| tokio::task::spawn_local(async move { i }))
                        .collect();
                    for h in handles {
                        std::hint::black_box(h.await.unwrap());
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

const ROUND_TRIPS: u64 = 1_000;

fn cross_core_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("cross_core_round_trip");
    group.throughput(Throughput::Elements(ROUND_TRIPS));
    group.measurement_time(Duration::from_secs(3));

    // Ours: the caller is core 0, the echo task lives on core 1. With the
    // default 50 µs spin before parking, and without it.
    let rt = runtime::Runtime::builder().cores(2).build().unwrap();
    group.bench_function(BenchmarkId::new("runtime_mpsc", "ping_pong"), |b| {
        b.iter_custom(|iters| mpsc_ping_pong(&rt, iters))
    });
    let no_spin = runtime::Runtime::builder()
        .cores(2)
        .spin_before_park(Duration::ZERO)
        .build()
        .unwrap();
    group.bench_function(BenchmarkId::new("runtime_mpsc_no_spin", "ping_pong"), |b| {
        b.iter_custom(|iters| mpsc_ping_pong(&no_spin, iters))
    });
    drop(no_spin);

    // One worker plus the `block_on` thread: two threads, as our two cores.
    let tokio_mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    group.bench_function(
        BenchmarkId::new("tokio_multi_thread_mpsc", "ping_pong"),
        |b| {
            b.iter_custom(|iters| {
                tokio_mt.block_on(async {
                    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                    let echo = tokio::spawn(async move {
                        while let Some(v) = ping_rx.recv().await {
                            if pong_tx.send(v).await.is_err() {
                                break;
                            }
                        }
                    });
                    // The driver runs in `block_on` on this (non-worker) thread and
                    // the echo task on a worker, so every message crosses threads,
                    // as ours crosses from core 0 to core 1. (Two tokio tasks could
                    // share one worker and never cross.)
                    let driver = async move {
                        let start = Instant::now();
                        for i in 0..iters * ROUND_TRIPS {
                            ping_tx.send(i).await.unwrap();
                            std::hint::black_box(pong_rx.recv().await.unwrap());
                        }
                        start.elapsed()
                    };
                    let elapsed = driver.await;
                    echo.await.unwrap();
                    elapsed
                })
            })
        },
    );

    group.bench_function(BenchmarkId::new("runtime_spawn_on", "round_trip"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters * ROUND_TRIPS {
                    let v = runtime::spawn_on(1, move || async move { i })
                        .await
                        .unwrap();
                    std::hint::black_box(v);
                }
                start.elapsed()
            })
        })
    });

    group.finish();
}

fn mpsc_ping_pong(rt: &runtime::Runtime, iters: u64) -> Duration {
    rt.block_on(async {
        let (ping_tx, mut ping_rx) = runtime::channel::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = runtime::channel::mpsc::channel::<u64>(1);
        let echo = runtime::spawn_on(1, move || async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        for i in 0..iters * ROUND_TRIPS {
            ping_tx.send(i).await.unwrap();
            std::hint::black_box(pong_rx.recv().await.unwrap());
        }
        let elapsed = start.elapsed();
        drop(ping_tx);
        echo.await.unwrap();
        elapsed
    })
}

criterion_group!(benches, spawn_and_complete, cross_core_round_trip);
criterion_main!(benches);
