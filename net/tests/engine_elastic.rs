//! The engine's elastic inbound buffer: it grows while a handler waits for
//! a frame larger than one read, up to `Options::max_read_buffer`, and a
//! frame past that maximum closes its connection with a clear error. A
//! frame trickled a byte at a time meets `first_read_timeout` however near
//! the maximum its header claims; a header's claim allocates nothing ahead
//! of the bytes; a handler that never consumes holds at most the maximum.

mod engine_util;
mod util;

use std::io::{self, Read, Write};
use std::sync::{mpsc, Arc, Mutex};

use engine_util::*;
use runtime_codec::LengthFieldCodec;
use runtime_net::engine::{self, Action, Conn, Engine, EventHandler, Options};

/// Decodes length-field frames in place and answers each with its length
/// and the sum of its bytes; reports every `on_close` error.
#[derive(Clone)]
struct FrameSummer {
    closed: Arc<Mutex<mpsc::Sender<Option<io::Error>>>>,
}

impl EventHandler for FrameSummer {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let mut codec = LengthFieldCodec::new();
        loop {
            match conn.decode(&mut codec) {
                Ok(Some(frame)) => {
                    let sum = frame.iter().map(|&b| u64::from(b)).sum::<u64>();
                    let mut reply = (frame.len() as u64).to_be_bytes().to_vec();
                    reply.extend_from_slice(&sum.to_be_bytes());
                    if conn.write(&reply).is_err() {
                        return Action::Close;
                    }
                }
                Ok(None) => return Action::None,
                Err(_) => return Action::Close,
            }
        }
    }

    fn on_close(&mut self, _conn: &mut Conn, err: Option<io::Error>) -> Action {
        let _ = self.closed.lock().unwrap().send(err);
        Action::None
    }
}

fn start(options: Options) -> (Engine, mpsc::Receiver<Option<io::Error>>) {
    let (tx, rx) = mpsc::channel();
    let handler = FrameSummer {
        closed: Arc::new(Mutex::new(tx)),
    };
    let engine = engine::start(handler, &["tcp://127.0.0.1:0"], options).expect("engine::start");
    (engine, rx)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut framed = (payload.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(payload);
    framed
}

/// Writes `bytes` in pieces of random size, as a network would deliver them.
fn write_in_pieces(peer: &mut Peer, bytes: &[u8], rng: &mut Rng) {
    let mut at = 0;
    while at < bytes.len() {
        let n = rng.range(1, 70_000).min(bytes.len() - at);
        peer.write_all(&bytes[at..at + n]).expect("write a piece");
        at += n;
    }
}

#[test]
fn a_one_mib_frame_decodes_with_default_options() {
    let _serial = serial();
    let (engine, _closed) = start(Options::new());
    let mut peer = Peer::connect(&engine.addrs()[0]).expect("connect");
    peer.set_timeout(Some(WAIT));
    let mut rng = Rng::for_test("a_one_mib_frame_decodes_with_default_options", 0);
    for size in [1024 * 1024, 3 * 1024 * 1024 + 17, 10] {
        let payload = rng.bytes(size);
        write_in_pieces(&mut peer, &frame(&payload), &mut rng);
        let reply = peer.read_n(16).expect("the frame's summary");
        let sum = payload.iter().map(|&b| u64::from(b)).sum::<u64>();
        assert_eq!(reply[..8], (size as u64).to_be_bytes(), "frame length");
        assert_eq!(reply[8..], sum.to_be_bytes(), "frame contents");
    }
    stop_and_wait(&engine);
}

#[test]
fn a_frame_past_the_maximum_closes_with_a_clear_error() {
    let _serial = serial();
    const MAX: usize = 256 * 1024;
    let (engine, closed) = start(Options::new().max_read_buffer(MAX));
    let mut peer = Peer::connect(&engine.addrs()[0]).expect("connect");
    peer.set_timeout(Some(WAIT));

    // A frame that fits is served.
    let small = vec![3; MAX / 2];
    peer.write_all(&frame(&small)).unwrap();
    assert_eq!(
        peer.read_n(16).unwrap()[..8],
        (small.len() as u64).to_be_bytes()
    );

    // One that cannot: the header says 1 MiB, and the peer keeps sending.
    let big = vec![5; 1024 * 1024];
    let framed = frame(&big);
    // The server closes mid-frame: the rest of the write may fail.
    let _ = peer.write_all(&framed);
    let err = closed
        .recv_timeout(WAIT)
        .expect("on_close")
        .expect("an error for the oversized frame");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let message = err.to_string();
    assert!(
        message.contains("max_read_buffer") && message.contains(&MAX.to_string()),
        "the error names the option and its value: {message}"
    );
    let mut rest = Vec::new();
    let _ = peer.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no reply to the oversized frame");
    stop_and_wait(&engine);
}

#[global_allocator]
static ALLOCATOR: util::CountingAllocator = util::CountingAllocator;

fn live_bytes() -> usize {
    util::LIVE_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// The tests of this file run one at a time: some count the bytes the
/// process holds.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The most bytes held above `before` while `busy` runs.
fn peak_growth(before: usize, busy: impl FnOnce()) -> usize {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(live_bytes().saturating_sub(before));
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            peak
        })
    };
    busy();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap()
}

#[test]
fn a_trickled_frame_claiming_near_the_maximum_is_closed_at_the_first_frame_deadline() {
    let _serial = serial();
    const MAX: usize = 1024 * 1024;
    let (engine, closed) = start(
        Options::new()
            .max_read_buffer(MAX)
            .first_read_timeout(std::time::Duration::from_millis(400)),
    );
    let mut peer = Peer::connect(&engine.addrs()[0]).expect("connect");
    peer.write_all(&((MAX - 8) as u32).to_be_bytes()).unwrap();
    // One byte per 50 ms; the deadline (at most 500 ms) is 10 bytes away.
    let mut sent = 0;
    while sent < 100 && peer.write_all(&[1]).is_ok() {
        sent += 1;
        if let Ok(err) = closed.recv_timeout(std::time::Duration::from_millis(50)) {
            let err = err.expect("an error for the trickled frame");
            assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
            assert!(sent < 40, "closed only after {sent} bytes");
            stop_and_wait(&engine);
            return;
        }
    }
    panic!("still open after {sent} bytes trickled, 50 ms apart");
}

/// Never consumes: whatever arrives stays in the inbound buffer.
#[derive(Clone)]
struct Hoards {
    closed: Arc<Mutex<mpsc::Sender<Option<io::Error>>>>,
}

impl EventHandler for Hoards {
    fn on_traffic(&mut self, _conn: &mut Conn) -> Action {
        Action::None
    }

    fn on_close(&mut self, _conn: &mut Conn, err: Option<io::Error>) -> Action {
        let _ = self.closed.lock().unwrap().send(err);
        Action::None
    }
}

#[test]
fn a_handler_that_never_consumes_holds_at_most_the_maximum() {
    let _serial = serial();
    const MAX: usize = 256 * 1024;
    const PEERS: usize = 8;
    let (tx, closed) = mpsc::channel();
    let engine = engine::start(
        Hoards {
            closed: Arc::new(Mutex::new(tx)),
        },
        &["tcp://127.0.0.1:0"],
        Options::new().loops(1).max_read_buffer(MAX),
    )
    .unwrap();
    let before = live_bytes();
    // Each peer offers 16 times the maximum.
    let mut errors = Vec::new();
    let grown = peak_growth(before, || {
        let chunk = vec![9u8; 64 * 1024];
        let writers: Vec<_> = (0..PEERS)
            .map(|_| {
                let mut peer = Peer::connect(&engine.addrs()[0]).unwrap();
                let chunk = chunk.clone();
                std::thread::spawn(move || {
                    for _ in 0..(16 * MAX / chunk.len()) {
                        if peer.write_all(&chunk).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        for _ in 0..PEERS {
            errors.push(closed.recv_timeout(WAIT).expect("on_close"));
        }
        for writer in writers {
            writer.join().unwrap();
        }
    });
    for err in errors {
        let err = err.expect("an error: the buffer reached its maximum");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }
    eprintln!("{PEERS} hoarding connections, at most {MAX} each: {grown} bytes held at the peak");
    assert!(
        grown < PEERS * 2 * MAX,
        "{grown} bytes held for {PEERS} connections of at most {MAX} each"
    );
    stop_and_wait(&engine);
}

#[test]
fn frames_that_claim_the_maximum_and_stall_hold_only_what_arrived() {
    let _serial = serial();
    const MAX: usize = 4 * 1024 * 1024;
    const PEERS: usize = 32;
    let (engine, _closed) = start(Options::new().loops(1).max_read_buffer(MAX));
    let before = live_bytes();
    let mut peers: Vec<Peer> = (0..PEERS)
        .map(|_| Peer::connect(&engine.addrs()[0]).unwrap())
        .collect();
    for peer in &mut peers {
        let mut head = ((MAX - 8) as u32).to_be_bytes().to_vec();
        head.extend_from_slice(&[1; 100]);
        peer.write_all(&head).unwrap();
    }
    wait_until(WAIT, "every connection open", || {
        engine.count_connections() == PEERS
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let grown = live_bytes().saturating_sub(before);
    eprintln!("{PEERS} stalled frames claiming {MAX} bytes: {grown} bytes held");
    assert!(
        grown < PEERS * MAX / 4,
        "{grown} bytes held for {PEERS} frames that claim {MAX} and sent 100"
    );
    stop_and_wait(&engine);
}
