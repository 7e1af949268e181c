//! The engine's elastic inbound buffer: it grows while a handler waits for
//! a frame larger than one read, up to `Options::max_read_buffer`, and a
//! frame past that maximum closes its connection with a clear error.

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
