//! Moving bytes through runtime-net's `RingBuffer` against `VecDeque<u8>` and
//! `bytes::BytesMut` (extend, then `split_to`), side by side in one criterion group
//! per chunk size (64 B and 4 KiB):
//!
//! - `one`: write one chunk, read it back, as a request/reply connection does;
//!   with the default `release_when_empty`, every iteration takes the storage from
//!   the per-core pool and gives it back.
//! - `burst16`: write 16 chunks, then read them back one by one, as pipelined
//!   replies do between two flushes.
//!
//! Throughput is reported in bytes per second.
//!
//! Run: `cargo bench --manifest-path benches/Cargo.toml --bench ring_buffer`

use std::collections::VecDeque;
use std::hint::black_box;
use std::io::{Read, Write};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use runtime_net::buffer::RingBuffer;

/// Enough room for every pattern below, so no buffer hits its cap.
const MAX_CAPACITY: usize = 1 << 20;

/// The operations each buffer offers, in the shape a connection uses them.
trait ByteQueue {
    fn push(&mut self, chunk: &[u8]);
    fn pop(&mut self, dst: &mut [u8]);
}

impl ByteQueue for RingBuffer {
    fn push(&mut self, chunk: &[u8]) {
        let n = self.write(chunk);
        debug_assert_eq!(n, chunk.len());
    }

    fn pop(&mut self, dst: &mut [u8]) {
        let n = self.read(dst);
        debug_assert_eq!(n, dst.len());
    }
}

impl ByteQueue for VecDeque<u8> {
    fn push(&mut self, chunk: &[u8]) {
        self.write_all(chunk).unwrap();
    }

    fn pop(&mut self, dst: &mut [u8]) {
        self.read_exact(dst).unwrap();
    }
}

impl ByteQueue for BytesMut {
    fn push(&mut self, chunk: &[u8]) {
        self.extend_from_slice(chunk);
    }

    fn pop(&mut self, dst: &mut [u8]) {
        let frame = self.split_to(dst.len());
        dst.copy_from_slice(&frame);
    }
}

fn run<Q: ByteQueue>(queue: &mut Q, chunk: &[u8], dst: &mut [u8], burst: usize) {
    for _ in 0..burst {
        queue.push(black_box(chunk));
    }
    for _ in 0..burst {
        queue.pop(dst);
        black_box(&*dst);
    }
}

fn bench_chunk(c: &mut Criterion, chunk_len: usize, label: &str) {
    let chunk: Vec<u8> = (0..chunk_len).map(|i| i as u8).collect();
    let mut dst = vec![0; chunk_len];

    for (pattern, burst) in [("one", 1), ("burst16", 16)] {
        let mut group = c.benchmark_group(format!("ring_buffer/{label}/{pattern}"));
        group.throughput(Throughput::Bytes((chunk_len * burst) as u64));

        group.bench_function("RingBuffer", |b| {
            let mut queue = RingBuffer::new(MAX_CAPACITY);
            b.iter(|| run(&mut queue, &chunk, &mut dst, burst));
        });
        group.bench_function("RingBuffer (keep storage)", |b| {
            let mut queue = RingBuffer::new(MAX_CAPACITY);
            queue.set_release_when_empty(false);
            b.iter(|| run(&mut queue, &chunk, &mut dst, burst));
        });
        group.bench_function("VecDeque", |b| {
            let mut queue = VecDeque::with_capacity(chunk_len * burst);
            b.iter(|| run(&mut queue, &chunk, &mut dst, burst));
        });
        group.bench_function("BytesMut", |b| {
            let mut queue = BytesMut::with_capacity(chunk_len * burst);
            b.iter(|| run(&mut queue, &chunk, &mut dst, burst));
        });
        group.finish();
    }
}

fn ring_buffer(c: &mut Criterion) {
    bench_chunk(c, 64, "64B");
    bench_chunk(c, 4096, "4KiB");
}

criterion_group!(benches, ring_buffer);
criterion_main!(benches);
