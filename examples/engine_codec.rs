//! A length-field framed echo server on the callback engine: every frame (a
//! 4-byte big-endian length, then that many bytes of payload) is answered
//! with the same frame.
//!
//! ```text
//! cargo run --release --example engine_codec -- --port 7100 --cores 2
//! cargo run --release --example engine_codec -- --port 7100 --client true --frames 10000
//! cargo test --example engine_codec
//! ```
//!
//! `on_traffic` decodes frames straight from the connection's inbound buffer
//! with `Conn::decode` and the codec crate's `LengthFieldCodec`, and encodes
//! each answer with the same codec's `Encoder`. A frame may be up to 8 MiB
//! (header included); a longer one, or a length field the codec rejects,
//! closes the connection. The read buffer is raised to the frame limit, as a
//! frame must fit in it whole before it can be decoded (the ring only grows
//! as far as the frames need).
//!
//! The codec keeps a partial frame in a staging buffer of its own when the
//! inbound ring wraps, so each connection has its own codec, kept in its
//! context.
//!
//! With `--client true` it is the client instead: it sends `--frames` frames
//! of random lengths (up to `--max-size` bytes) to `--port`, in writes split
//! at random byte boundaries, and checks that every frame comes back whole
//! and in order.
//!
//! Ctrl-c or SIGTERM stops the server gracefully.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use runtime::codec::{Decoder, Encoder, LengthFieldCodec};
use runtime::net::engine::{self, Action, BytesMut, Conn, EventHandler, Options};

#[path = "support/args.rs"]
mod args;

#[cfg(test)]
#[path = "support/engine_testing.rs"]
mod engine_testing;

const USAGE: &str = "engine_codec [--port 7100] [--cores N] \
    [--client true [--frames 1000] [--max-size 65536] [--seed 1]]";

/// The longest frame, header included: the codec's default.
const MAX_FRAME: usize = runtime::codec::DEFAULT_MAX_FRAME_LENGTH;

/// Each loop's handler. The codecs are per connection (in their contexts).
#[derive(Clone)]
struct FrameEcho {
    /// The codec each new connection starts with.
    codec: LengthFieldCodec,
    /// This loop's scratch buffer for encoded replies (the handler is
    /// cloned per loop, so this is per loop, and needs no lock).
    out: BytesMut,
}

impl FrameEcho {
    fn new() -> Self {
        FrameEcho {
            codec: codec(),
            out: BytesMut::new(),
        }
    }
}

/// A 4-byte big-endian length counting the payload, stripped on decode.
fn codec() -> LengthFieldCodec {
    LengthFieldCodec::builder()
        .length_field_size(4)
        .big_endian()
        .max_frame_length(MAX_FRAME)
        .build()
        .expect("a valid codec configuration")
}

impl EventHandler for FrameEcho {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        // Each connection keeps its own codec (its partial-frame state) in
        // its context.
        if conn.context::<LengthFieldCodec>().is_none() {
            conn.set_context(self.codec.clone());
        }
        let mut bad_frame = None;
        let (inbound, outbound, codec) = conn.split_with_context::<LengthFieldCodec>();
        let codec = codec.expect("set above");
        let out = &mut self.out;
        let mut action = Action::None;
        loop {
            match inbound.decode(codec) {
                Ok(Some(frame)) => {
                    if let Err(err) = codec.encode(frame, out) {
                        eprintln!("engine_codec: cannot encode a frame: {err}");
                        action = Action::Close;
                        break;
                    }
                }
                Ok(None) => break, // the rest of a frame has not come yet
                Err(err) => {
                    bad_frame = Some(err);
                    action = Action::Close;
                    break;
                }
            }
        }
        // Never refused: the loop only calls `on_traffic` while the outbound
        // buffer is under its high watermark, and one write takes it all.
        if !out.is_empty() && outbound.write(out).is_err() {
            action = Action::Close;
        }
        out.clear();
        if let Some(err) = bad_frame {
            eprintln!("engine_codec: {}: bad frame: {err}", peer(conn));
        }
        action
    }

    fn on_close(&mut self, conn: &mut Conn, err: Option<io::Error>) -> Action {
        if let Some(err) = err {
            eprintln!("engine_codec: {} closed: {err}", peer(conn));
        }
        Action::None
    }
}

/// The peer's address, for messages.
fn peer(conn: &Conn) -> String {
    conn.peer_addr()
        .as_socket()
        .map_or_else(|| "?".to_owned(), |addr| addr.to_string())
}

/// The options of the server, but for the signals.
fn options(loops: usize) -> Options {
    Options::new().loops(loops).max_read_buffer(MAX_FRAME)
}

fn main() -> io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7100);
    if args.get("client", false) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let frames: usize = args.get("frames", 1000);
        let max_size: usize = args.get("max-size", 64 * 1024);
        let seed: u64 = args.get("seed", 1);
        let started = Instant::now();
        let bytes = run_client(addr, frames, max_size, seed)?;
        let elapsed = started.elapsed();
        println!(
            "engine_codec client: {frames} frames ({bytes} payload bytes) echoed whole and in order in {elapsed:.2?}"
        );
        return Ok(());
    }
    let cores = args.cores();
    eprintln!("engine_codec: listening on 127.0.0.1:{port} with {cores} loop(s)");
    engine::run(
        FrameEcho::new(),
        &format!("tcp://127.0.0.1:{port}"),
        options(cores).handle_signals(true),
    )?;
    eprintln!("engine_codec: stopped");
    Ok(())
}

/// xorshift64*: random enough for lengths and split points, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `0..=max`.
    fn upto(&mut self, max: usize) -> usize {
        (self.next() % (max as u64 + 1)) as usize
    }
}

/// The payload of frame `i`: `len` bytes that depend on `i`.
fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7 + j / 251) as u8).collect()
}

/// Sends `frames` frames of random lengths (up to `max_size`) to `addr`, in
/// writes of random sizes, and checks they come back whole and in order.
/// Returns the payload bytes echoed.
fn run_client(addr: SocketAddr, frames: usize, max_size: usize, seed: u64) -> io::Result<usize> {
    let mut rng = Rng::new(seed);
    let lengths: Vec<usize> = (0..frames).map(|_| rng.upto(max_size)).collect();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    // The writer has its own thread: echoes come back while it writes, and
    // a client that stops reading would fill both sockets' buffers.
    let sender = std::thread::spawn({
        let lengths = lengths.clone();
        move || -> io::Result<()> {
            let mut wire = Vec::new();
            for (i, &len) in lengths.iter().enumerate() {
                wire.extend_from_slice(&(len as u32).to_be_bytes());
                wire.extend_from_slice(&payload(i, len));
            }
            let mut at = 0;
            while at < wire.len() {
                let n = (1 + rng.upto(16 * 1024)).min(wire.len() - at);
                writer.write_all(&wire[at..at + n])?;
                at += n;
                if rng.upto(16) == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            Ok(())
        }
    });
    // Decoded with the same codec, on the client's side of the wire.
    let mut decoder = codec();
    let mut buf = BytesMut::new();
    let mut chunk = vec![0; 64 * 1024];
    let mut total = 0;
    for (i, &len) in lengths.iter().enumerate() {
        let frame = loop {
            if let Some(frame) = decoder.decode(&mut buf).map_err(io::Error::other)? {
                break frame;
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the server closed before frame {i} of {frames}"),
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        if frame[..] != payload(i, len)[..] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "frame {i} ({len} bytes) came back different ({} bytes)",
                    frame.len()
                ),
            ));
        }
        total += len;
    }
    sender.join().expect("the writer panicked")?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine_testing::with_engine;

    fn with_server(loops: usize, test: impl FnOnce(SocketAddr)) {
        with_engine(FrameEcho::new(), options(loops), test);
    }

    #[test]
    fn frames_split_at_random_boundaries_come_back_whole() {
        with_server(1, |addr| {
            for seed in 1..=4 {
                run_client(addr, 500, 4096, seed).unwrap();
            }
        });
    }

    #[test]
    fn empty_and_large_frames_come_back_whole() {
        // Frames far larger than the default read buffer (64 KiB), one of
        // them of the largest size the codec takes.
        with_server(1, |addr| {
            run_client(addr, 40, 512 * 1024, 7).unwrap();
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let len = MAX_FRAME - 4;
            let sender = std::thread::spawn(move || {
                writer.write_all(&0u32.to_be_bytes()).unwrap();
                writer.write_all(&(len as u32).to_be_bytes()).unwrap();
                writer.write_all(&payload(1, len)).unwrap();
            });
            let mut echo = vec![0; 4 + 4 + len];
            stream.read_exact(&mut echo).unwrap();
            sender.join().unwrap();
            assert_eq!(&echo[..8], &[0, 0, 0, 0, 0x00, 0x7f, 0xff, 0xfc]);
            assert!(echo[8..] == payload(1, len)[..]);
        });
    }

    #[test]
    fn connections_on_two_loops_are_served_at_once() {
        with_server(2, |addr| {
            let clients: Vec<_> = (0..6)
                .map(|seed| std::thread::spawn(move || run_client(addr, 300, 8192, seed)))
                .collect();
            for client in clients {
                client.join().unwrap().unwrap();
            }
        });
    }

    /// Reads until the server closes; what came before.
    fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return got,
                Err(err) => panic!("the server did not close: {err}"),
            }
        }
    }

    #[test]
    fn a_frame_over_the_limit_closes_the_connection() {
        with_server(1, |addr| {
            let mut stream = TcpStream::connect(addr).unwrap();
            // A good frame, then a header claiming 8 MiB of payload (8 MiB
            // and 4 bytes of frame): the good one is answered, then the
            // connection is closed before any of the payload is sent.
            stream.write_all(b"\0\0\0\x02hi").unwrap();
            stream.write_all(&(MAX_FRAME as u32).to_be_bytes()).unwrap();
            assert_eq!(read_until_closed(&mut stream), b"\0\0\0\x02hi");
        });
    }

    #[test]
    fn a_frame_split_in_its_header_waits_for_the_rest() {
        with_server(1, |addr| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            let wire = b"\0\0\0\x05hello";
            for byte in wire {
                stream.write_all(&[*byte]).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut echo = [0; 9];
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, wire);
        });
    }
}
