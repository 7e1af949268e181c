//! The check every target runs: the input arrives in pieces; the decoder is driven
//! through `decode` on a `BytesMut`, and as the callback engine would through
//! `decode_buf` on a contiguous buffer and on a wrapping ring buffer. All three must
//! agree, no call may panic, frames must respect the codec's maximum, and the bytes
//! left buffered between calls must stay under the codec's bound.

use std::collections::VecDeque;
use std::fmt::{Debug, Display};

use bytes::{Buf, BytesMut};
use runtime_codec::BufDecoder;

/// What one run gave: frames and error messages, in order.
#[derive(Debug, PartialEq)]
enum Event<T> {
    Frame(T),
    Error(String),
}

/// Splits `input` into pieces of 1 to 64 bytes chosen by `seed`.
fn pieces(input: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 1;
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = ((state >> 16) as usize % 64 + 1).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Events stop after `limit` events, or (with `detect_stuck`) at an error that
/// leaves as many bytes buffered as the error before it, with no frame and no new
/// input in between: input the codec cannot resynchronise on, which gives the same
/// error forever.
const MAX_EVENTS: usize = 100_000;

fn drive<D, B>(
    decoder: &mut D,
    inbound: &mut B,
    pieces: &[&[u8]],
    append: impl Fn(&mut B, &[u8]),
    mut step: impl FnMut(&mut D, &mut B, bool) -> Result<Option<D::Item>, D::Error>,
    check_buffered: impl Fn(usize),
    frame_len: impl Fn(&D::Item) -> usize,
    max_frame: usize,
    limit: usize,
    detect_stuck: bool,
) -> Vec<Event<D::Item>>
where
    D: BufDecoder,
    D::Error: Display,
    B: Buf,
{
    let mut events = Vec::new();
    // Bytes left buffered after the last error, since the last frame or input.
    let mut after_error: Option<usize> = None;
    let last = pieces.len();
    for i in 0..=last {
        let eof = i == last;
        if !eof {
            append(inbound, pieces[i]);
            after_error = None;
        }
        loop {
            if events.len() >= limit {
                return events;
            }
            match step(decoder, inbound, eof) {
                Ok(Some(frame)) => {
                    assert!(frame_len(&frame) <= max_frame, "frame over the maximum");
                    events.push(Event::Frame(frame));
                    after_error = None;
                }
                Ok(None) => break,
                Err(e) => {
                    events.push(Event::Error(e.to_string()));
                    let remaining = inbound.remaining();
                    if eof || (detect_stuck && after_error == Some(remaining)) {
                        return events;
                    }
                    after_error = Some(remaining);
                }
            }
        }
        if !eof {
            check_buffered(inbound.remaining());
        }
    }
    events
}

/// Runs the three drivers and compares them. `bound` is the most bytes a decoder may
/// leave buffered between calls.
pub fn check<D, F>(
    make: F,
    input: &[u8],
    seed: u8,
    bound: usize,
    max_frame: usize,
    frame_len: impl Fn(&D::Item) -> usize + Copy,
) where
    D: BufDecoder,
    D::Item: Debug + PartialEq,
    D::Error: Display,
    F: Fn() -> D,
{
    let pieces = pieces(input, seed);
    let check_buffered = |n: usize| assert!(n <= bound, "{n} bytes left buffered, bound {bound}");

    let mut decoder = make();
    let direct = drive(
        &mut decoder,
        &mut BytesMut::new(),
        &pieces,
        |b, p| b.extend_from_slice(p),
        |d, b, eof| if eof { d.decode_eof(b) } else { d.decode(b) },
        check_buffered,
        frame_len,
        max_frame,
        MAX_EVENTS,
        true,
    );

    let mut decoder = make();
    let contiguous = drive(
        &mut decoder,
        &mut BytesMut::new(),
        &pieces,
        |b, p| b.extend_from_slice(p),
        |d, b, eof| {
            if eof {
                d.decode_buf_eof(b)
            } else {
                d.decode_buf(b)
            }
        },
        check_buffered,
        frame_len,
        max_frame,
        MAX_EVENTS,
        true,
    );
    assert_eq!(direct, contiguous, "decode and decode_buf disagree");

    // The ring hands its bytes to the codec's staging buffer whenever it wraps, so
    // what it holds says nothing of the codec's progress: it runs for as many events
    // as the direct run, and its buffer is not checked (staging holds the bytes).
    // Rotated so that it wraps at once (`clear` would rewind it).
    let mut ring: VecDeque<u8> = VecDeque::with_capacity(16);
    ring.extend([0; 11]);
    for _ in 0..11 {
        ring.pop_front();
    }
    let mut decoder = make();
    let ringed = drive(
        &mut decoder,
        &mut ring,
        &pieces,
        |b, p| b.extend(p),
        |d, b, eof| {
            if eof {
                d.decode_buf_eof(b)
            } else {
                d.decode_buf(b)
            }
        },
        |_| {},
        frame_len,
        max_frame,
        direct.len(),
        false,
    );
    assert_eq!(
        direct, ringed,
        "decode and decode_buf over a ring buffer disagree"
    );
}
