//! Shared helpers: a scripted transport that returns data in chosen pieces,
//! `Pending` and errors, and drivers that run a codec over it.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Buf, BytesMut};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{future, StreamExt};
use runtime_codec::{BufDecoder, Decoder, Encoder, FramedRead, FramedWrite};

/// One step of a read script.
#[derive(Debug, Clone)]
pub enum Read {
    /// These bytes, possibly over several reads if the buffer is small.
    Data(Vec<u8>),
    /// `Poll::Pending` once (the waker is woken at once).
    Pending,
    /// An error once.
    Error(io::ErrorKind),
}

/// One step of a write script.
#[derive(Debug, Clone, Copy)]
pub enum Write {
    /// Accept at most this many bytes.
    Accept(usize),
    /// `Poll::Pending` once (the waker is woken at once).
    Pending,
    /// An error once.
    Error(io::ErrorKind),
}

/// A transport that follows a script. Once the read script is over, reads return end
/// of file; once the write script is over, writes take everything.
#[derive(Debug, Default)]
pub struct ScriptedIo {
    reads: VecDeque<Read>,
    writes: VecDeque<Write>,
    /// Every byte written.
    pub written: Vec<u8>,
    /// Number of write calls.
    pub write_calls: usize,
    /// Number of completed flushes.
    pub flushes: usize,
    /// Whether `poll_close` completed.
    pub closed: bool,
}

impl ScriptedIo {
    pub fn new(reads: impl IntoIterator<Item = Read>) -> Self {
        ScriptedIo {
            reads: reads.into_iter().collect(),
            ..Default::default()
        }
    }

    pub fn with_writes(mut self, writes: impl IntoIterator<Item = Write>) -> Self {
        self.writes = writes.into_iter().collect();
        self
    }
}

impl AsyncRead for ScriptedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.reads.pop_front() {
                None => return Poll::Ready(Ok(0)),
                Some(Read::Data(data)) if data.is_empty() => continue,
                Some(Read::Data(mut data)) => {
                    let n = data.len().min(buf.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    if n < data.len() {
                        data.drain(..n);
                        self.reads.push_front(Read::Data(data));
                    }
                    return Poll::Ready(Ok(n));
                }
                Some(Read::Pending) => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Some(Read::Error(kind)) => return Poll::Ready(Err(io::Error::from(kind))),
            }
        }
    }
}

impl AsyncWrite for ScriptedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_calls += 1;
        match self.writes.pop_front() {
            None => {
                self.written.extend_from_slice(buf);
                Poll::Ready(Ok(buf.len()))
            }
            Some(Write::Accept(n)) => {
                let n = n.min(buf.len());
                self.written.extend_from_slice(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            Some(Write::Pending) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(Write::Error(kind)) => Poll::Ready(Err(io::Error::from(kind))),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.closed = true;
        Poll::Ready(Ok(()))
    }
}

/// Read scripts that deliver `input` split at every byte offset, with `Pending`
/// between the two pieces, and one that delivers it a byte at a time with `Pending`
/// between bytes. Each comes with a label for assertion messages.
pub fn every_split(input: &[u8]) -> Vec<(String, Vec<Read>)> {
    let mut scripts: Vec<(String, Vec<Read>)> = (0..=input.len())
        .map(|at| {
            (
                format!("split at {at}"),
                vec![
                    Read::Data(input[..at].to_vec()),
                    Read::Pending,
                    Read::Data(input[at..].to_vec()),
                ],
            )
        })
        .collect();
    let bytewise = input
        .iter()
        .flat_map(|&b| [Read::Data(vec![b]), Read::Pending])
        .collect();
    scripts.push(("a byte at a time".to_string(), bytewise));
    scripts
}

/// What a stream of frames gave: the frames, then the error that ended it, if any.
#[derive(Debug)]
pub struct Outcome<T, E> {
    pub frames: Vec<T>,
    pub error: Option<E>,
}

/// Runs `decoder` over `script` through `FramedRead` until the stream ends. Checks
/// the error policy on the way: after an error the stream yields nothing more.
pub fn read_frames<D: Decoder>(decoder: D, script: Vec<Read>) -> Outcome<D::Item, D::Error> {
    future::block_on(async {
        let mut framed = FramedRead::with_capacity(ScriptedIo::new(script), decoder, 16);
        let mut frames = Vec::new();
        while let Some(frame) = framed.next().await {
            match frame {
                Ok(frame) => frames.push(frame),
                Err(e) => {
                    assert!(framed.next().await.is_none(), "an error ends the stream");
                    return Outcome {
                        frames,
                        error: Some(e),
                    };
                }
            }
        }
        assert!(framed.next().await.is_none(), "a stream stays ended");
        Outcome {
            frames,
            error: None,
        }
    })
}

/// Runs `decoder` as the callback engine would: `chunks` arrive one after the other
/// in an inbound `BytesMut`, and after each the codec takes every whole frame with
/// `decode_buf`; at the end `decode_buf_eof`. Stops at the first error.
pub fn decode_buf_frames<D: BufDecoder>(
    mut decoder: D,
    chunks: &[&[u8]],
) -> Outcome<D::Item, D::Error> {
    let mut inbound = BytesMut::new();
    decode_buf_with(&mut decoder, &mut inbound, chunks, |inbound, chunk| {
        inbound.extend_from_slice(chunk)
    })
}

/// As [`decode_buf_frames`], over an inbound ring buffer (a `VecDeque` of small
/// capacity) that wraps, so the codec mostly sees a `Buf` in two pieces.
pub fn decode_ring_frames<D: BufDecoder>(
    mut decoder: D,
    chunks: &[&[u8]],
) -> Outcome<D::Item, D::Error> {
    let mut inbound: VecDeque<u8> = VecDeque::with_capacity(8);
    // Rotate the ring so that the next bytes wrap around its end (`clear` or a full
    // `drain` would rewind it).
    inbound.extend([0; 5]);
    for _ in 0..5 {
        inbound.pop_front();
    }
    decode_buf_with(&mut decoder, &mut inbound, chunks, |inbound, chunk| {
        inbound.extend(chunk)
    })
}

fn decode_buf_with<D: BufDecoder, B: Buf>(
    decoder: &mut D,
    inbound: &mut B,
    chunks: &[&[u8]],
    mut append: impl FnMut(&mut B, &[u8]),
) -> Outcome<D::Item, D::Error> {
    let mut frames = Vec::new();
    for chunk in chunks {
        append(inbound, chunk);
        loop {
            match decoder.decode_buf(inbound) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        error: Some(e),
                    }
                }
            }
        }
    }
    loop {
        match decoder.decode_buf_eof(inbound) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                return Outcome {
                    frames,
                    error: None,
                }
            }
            Err(e) => {
                return Outcome {
                    frames,
                    error: Some(e),
                }
            }
        }
    }
}

/// Splits `input` in two at every offset, for `decode_buf_frames` and
/// `decode_ring_frames`.
pub fn two_pieces(input: &[u8]) -> impl Iterator<Item = (usize, [&[u8]; 2])> {
    (0..=input.len()).map(move |at| (at, [&input[..at], &input[at..]]))
}

/// Calls `decode` as a user would until it returns `Ok(None)`, collecting frames
/// and errors. Decoding goes on after an error, but stops after two errors in a row
/// that consumed nothing (input that cannot be resynchronised).
pub fn decode_all<D: Decoder>(
    decoder: &mut D,
    buf: &mut BytesMut,
) -> Vec<Result<D::Item, D::Error>> {
    let mut out = Vec::new();
    let mut stuck = 0;
    loop {
        let before = buf.len();
        match decoder.decode(buf) {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => return out,
            Err(e) => {
                out.push(Err(e));
                stuck = if buf.len() == before { stuck + 1 } else { 0 };
                if stuck == 2 {
                    return out;
                }
            }
        }
    }
}

/// A write script of short writes (1 to 7 bytes) with `Pending` between them,
/// long enough for `len` bytes.
pub fn short_writes(len: usize) -> Vec<Write> {
    const SIZES: [usize; 7] = [1, 3, 7, 2, 5, 4, 6];
    let mut script = Vec::new();
    let mut total = 0;
    let mut i = 0;
    while total < len {
        let n = SIZES[i % SIZES.len()];
        script.push(Write::Accept(n));
        script.push(Write::Pending);
        total += n;
        i += 1;
    }
    script
}

/// Sends `items` through `FramedWrite` over a transport that takes 1 to 7 bytes a
/// write and returns `Pending` between writes, closes it, and returns the bytes
/// written.
pub fn write_frames<E, I>(
    encoder: E,
    items: Vec<I>,
    expected_len: usize,
) -> Result<Vec<u8>, E::Error>
where
    E: Encoder<I>,
{
    future::block_on(async {
        let io = ScriptedIo::new([]).with_writes(short_writes(expected_len));
        let mut framed = FramedWrite::new(io, encoder);
        for item in items {
            framed.send(item).await?;
        }
        framed.close().await?;
        assert!(framed.get_ref().closed, "close reaches the transport");
        Ok(std::mem::take(&mut framed.into_inner().written))
    })
}

/// A waker that does nothing, for polling by hand.
pub fn noop_waker() -> Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    Waker::from(Arc::new(Noop))
}
