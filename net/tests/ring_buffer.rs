//! `RingBuffer` against a `VecDeque<u8>` model, and its storage's round trip
//! through the per-core `BufferPool`.

use std::collections::VecDeque;

use proptest::prelude::*;
use runtime_net::buffer::{BufferPool, RingBuffer};

#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    Read(usize),
    Peek(usize),
    /// Takes `n` bytes (`usize::MAX` half the time: all of them) as one
    /// slice.
    TakeFront(usize),
    /// Discards `n % (len + 1)` bytes.
    Discard(usize),
    /// Reserves room for `want` bytes, fills `n % (room + 1)` of it, commits that.
    Fill {
        want: usize,
        n: usize,
    },
    MakeContiguous,
    Clear,
    SetReleaseWhenEmpty(bool),
}

/// Sizes mostly small, sometimes larger than a page so the buffer grows.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..32usize, 2 => 0..6000usize, 1 => 0..70_000usize]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => size().prop_map(Op::Write),
        3 => size().prop_map(Op::Read),
        1 => size().prop_map(Op::Peek),
        2 => prop_oneof![size(), Just(usize::MAX)].prop_map(Op::TakeFront),
        2 => any::<usize>().prop_map(Op::Discard),
        2 => (size(), any::<usize>()).prop_map(|(want, n)| Op::Fill { want, n }),
        1 => Just(Op::MakeContiguous),
        1 => Just(Op::Clear),
        1 => any::<bool>().prop_map(Op::SetReleaseWhenEmpty),
    ]
}

/// Tiny caps make every operation wrap or hit the cap; large ones make it grow.
fn max_capacity() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1), Just(8), Just(100), 1..=5000usize, Just(65536)]
}

/// The next `n` bytes of a sequence that does not repeat for 251 bytes, so that
/// a lost, repeated or reordered byte shows.
fn next_bytes(counter: &mut usize, n: usize) -> Vec<u8> {
    let bytes = (0..n).map(|i| ((*counter + i) % 251) as u8).collect();
    *counter += n;
    bytes
}

fn contents(buf: &RingBuffer) -> Vec<u8> {
    let (front, back) = buf.as_slices();
    [front, back].concat()
}

/// `lent`: the last operation was a `take_front` that emptied the buffer;
/// its slice borrows the storage, which stays until the next call.
fn check_invariants(buf: &RingBuffer, model: &VecDeque<u8>, lent: bool) {
    assert_eq!(buf.len(), model.len());
    assert_eq!(buf.is_empty(), model.is_empty());
    assert_eq!(contents(buf), model.iter().copied().collect::<Vec<_>>());
    let cap = buf.capacity();
    assert!(cap == 0 || cap.is_power_of_two(), "capacity {cap}");
    assert!(cap <= buf.max_capacity(), "capacity {cap} over the cap");
    assert!(buf.len() <= cap);
    assert_eq!(buf.remaining_capacity(), buf.max_capacity() - buf.len());
    if buf.release_when_empty() && buf.is_empty() && !lent {
        assert_eq!(cap, 0, "an empty buffer kept its storage");
    }
}

fn apply(buf: &mut RingBuffer, model: &mut VecDeque<u8>, counter: &mut usize, op: &Op) {
    match *op {
        Op::Write(n) => {
            let data = next_bytes(counter, n);
            let room = buf.max_capacity() - model.len();
            let written = buf.write(&data);
            assert_eq!(written, n.min(room));
            model.extend(&data[..written]);
        }
        Op::Read(n) => {
            let mut dst = vec![0xAA; n];
            let read = buf.read(&mut dst);
            let expected: Vec<u8> = model.drain(..n.min(model.len())).collect();
            assert_eq!(&dst[..read], &expected[..]);
            assert!(
                dst[read..].iter().all(|&b| b == 0xAA),
                "wrote past the count"
            );
        }
        Op::TakeFront(n) => {
            let expected: Vec<u8> = model.drain(..n.min(model.len())).collect();
            assert_eq!(buf.take_front(n), &expected[..]);
        }
        Op::Peek(n) => {
            let mut dst = vec![0xAA; n];
            let peeked = buf.peek(&mut dst);
            let expected: Vec<u8> = model.iter().take(n).copied().collect();
            assert_eq!(&dst[..peeked], &expected[..]);
        }
        Op::Discard(n) => {
            let n = n % (model.len() + 1);
            buf.discard(n);
            model.drain(..n);
        }
        Op::Fill { want, n } => {
            let len = model.len();
            let max = buf.max_capacity();
            let (front, back) = buf.unfilled_slices(want);
            let room = front.len() + back.len();
            assert!(
                room >= want.min(max - len),
                "{room} bytes of room for {want}"
            );
            let n = n % (room + 1);
            let data = next_bytes(counter, n);
            let split = n.min(front.len());
            front[..split].copy_from_slice(&data[..split]);
            back[..n - split].copy_from_slice(&data[split..]);
            assert_eq!(room, buf.capacity() - len);
            buf.commit(n);
            model.extend(&data);
        }
        Op::MakeContiguous => {
            let expected: Vec<u8> = model.iter().copied().collect();
            assert_eq!(buf.make_contiguous(), &expected[..]);
            assert!(buf.as_slices().1.is_empty());
        }
        Op::Clear => {
            buf.clear();
            model.clear();
        }
        Op::SetReleaseWhenEmpty(release) => buf.set_release_when_empty(release),
    }
}

proptest! {
    // Miri runs about a thousand times slower; a few cases still cover every path.
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 300 }))]

    #[test]
    fn matches_a_vecdeque(
        max in max_capacity(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let mut buf = RingBuffer::new(max);
        let mut model = VecDeque::new();
        let mut counter = 0;
        check_invariants(&buf, &model, false);
        let mut lent = false;
        for op in &ops {
            apply(&mut buf, &mut model, &mut counter, op);
            // Storage lent by a `take_front` stays until a call that
            // empties or fills the buffer; the others leave it.
            lent = match op {
                Op::TakeFront(_) => true,
                Op::Peek(_) | Op::MakeContiguous | Op::Write(0) => lent,
                _ => false,
            } && buf.is_empty();
            check_invariants(&buf, &model, lent);
        }
    }
}

#[test]
fn wraps_around_on_write_and_read() {
    let mut buf = RingBuffer::new(4096);
    buf.write(&[0; 4000]);
    buf.discard(3000);
    // 1000 bytes at 3000..4000; 200 more fill to the end and wrap 104 bytes.
    let data: Vec<u8> = (0..200).collect();
    assert_eq!(buf.write(&data), 200);
    let (front, back) = buf.as_slices();
    assert_eq!((front.len(), back.len()), (1096, 104));
    assert_eq!(back, &data[96..]);

    let mut dst = vec![0; 1050];
    assert_eq!(buf.read(&mut dst), 1050);
    assert_eq!(&dst[1000..], &data[..50]);
    let mut dst = vec![0; 500];
    assert_eq!(buf.read(&mut dst), 150, "the read crosses the wrap");
    assert_eq!(&dst[..150], &data[50..]);
    assert!(buf.is_empty());
}

#[test]
fn grows_while_wrapped() {
    let mut buf = RingBuffer::new(1 << 20);
    buf.write(&[1; 4000]);
    buf.discard(3900);
    buf.write(&[2; 3000]); // 3100 bytes, wrapped in 4 KiB
    assert_eq!(buf.capacity(), 4096);
    assert!(!buf.as_slices().1.is_empty());

    buf.write(&[3; 20_000]); // grows to 32 KiB, unwrapping on the copy
    assert_eq!(buf.capacity(), 32 * 1024);
    let mut expected = vec![1; 100];
    expected.extend([2; 3000]);
    expected.extend([3; 20_000]);
    assert_eq!(contents(&buf), expected);
}

#[test]
fn write_stops_at_the_cap() {
    let mut buf = RingBuffer::new(16 * 1024);
    assert_eq!(buf.write(&[1; 10_000]), 10_000);
    assert_eq!(buf.write(&[2; 10_000]), 6384, "short count at the cap");
    assert_eq!(buf.capacity(), 16 * 1024);
    assert_eq!(buf.remaining_capacity(), 0);
    assert_eq!(buf.write(b"more"), 0);

    let (front, back) = buf.unfilled_slices(4096);
    assert_eq!(front.len() + back.len(), 0, "no room past the cap");
    buf.commit(0);

    buf.discard(100);
    assert_eq!(buf.write(&[3; 1000]), 100);
    assert_eq!(buf.capacity(), 16 * 1024);
}

#[test]
fn empty_buffer_releases_its_storage_for_reuse() {
    let mut first = RingBuffer::new(64 * 1024);
    first.write(b"request");
    let storage = first.as_slices().0.as_ptr();
    assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 0);

    first.discard(7);
    assert_eq!(first.capacity(), 0, "released when empty");
    assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 4096);

    // Another buffer on this core gets the same storage, with no allocation.
    let mut second = RingBuffer::new(64 * 1024);
    second.write(b"reply");
    assert_eq!(second.as_slices().0.as_ptr(), storage);
    assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 0);
}

#[test]
fn idle_buffers_hold_no_memory() {
    let mut buffers: Vec<RingBuffer> = (0..1000).map(|_| RingBuffer::new(1 << 20)).collect();
    for buf in &mut buffers {
        buf.write(b"ping");
        let mut dst = [0; 4];
        buf.read(&mut dst);
    }
    assert!(buffers.iter().all(|buf| buf.capacity() == 0));
    // One 4 KiB buffer went round all thousand connections.
    assert_eq!(BufferPool::with_local(|pool| pool.pooled_buffers()), 1);
}

#[test]
fn keeping_storage_when_empty() {
    let mut buf = RingBuffer::new(64 * 1024);
    buf.set_release_when_empty(false);
    buf.write(&[0; 3000]);
    buf.write(&[0; 2000]); // outgrows 4 KiB: that buffer goes back to the pool
    buf.clear();
    assert_eq!(buf.capacity(), 8192);
    assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 4096);
    drop(buf);
    assert_eq!(
        BufferPool::with_local(|pool| pool.pooled_bytes()),
        4096 + 8192
    );
}
