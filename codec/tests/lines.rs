//! `LinesCodec` and `LinesBytesCodec`: split reads, bounds, UTF-8, round trips and
//! garbage (RELIABILITY.md rows 17, 18 and 20).

mod util;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use runtime_codec::{BufDecoder, LinesBytesCodec, LinesCodec, LinesCodecError};
use util::{
    decode_all, decode_buf_frames, decode_ring_frames, every_split, read_frames, two_pieces, Read,
};

const INPUT: &[u8] = b"first\nsecond\r\n\n\r\nlast without newline\r";
const LINES: [&str; 5] = ["first", "second", "", "", "last without newline"];

#[test]
fn framed_read_split_at_every_offset() {
    for (label, script) in every_split(INPUT) {
        let out = read_frames(LinesCodec::new(), script);
        assert!(out.error.is_none(), "{label}: {:?}", out.error);
        assert_eq!(out.frames, LINES, "{label}");
    }
}

#[test]
fn decode_buf_split_at_every_offset_contiguous_and_ring() {
    for (at, pieces) in two_pieces(INPUT) {
        let out = decode_buf_frames(LinesCodec::new(), &pieces);
        assert!(out.error.is_none(), "split at {at}");
        assert_eq!(out.frames, LINES, "split at {at}");
        let out = decode_ring_frames(LinesCodec::new(), &pieces);
        assert!(out.error.is_none(), "ring, split at {at}");
        assert_eq!(out.frames, LINES, "ring, split at {at}");
    }
}

#[test]
fn bytes_variant_split_at_every_offset() {
    let input = b"\xff\xfe\n\xc0\r\nok";
    for (label, script) in every_split(input) {
        let out = read_frames(LinesBytesCodec::new(), script);
        assert!(out.error.is_none(), "{label}");
        assert_eq!(out.frames, [&b"\xff\xfe"[..], b"\xc0", b"ok"], "{label}");
    }
}

#[test]
fn read_error_ends_the_stream_after_the_frames_before_it() {
    let script = vec![
        Read::Data(b"one\ntw".to_vec()),
        Read::Pending,
        Read::Error(std::io::ErrorKind::ConnectionReset),
        Read::Data(b"o\n".to_vec()),
    ];
    let out = read_frames(LinesCodec::new(), script);
    assert_eq!(out.frames, ["one"]);
    assert!(matches!(
        out.error,
        Some(LinesCodecError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset
    ));
}

#[test]
fn interrupted_read_is_retried() {
    let script = vec![
        Read::Data(b"a\n".to_vec()),
        Read::Error(std::io::ErrorKind::Interrupted),
        Read::Data(b"b\n".to_vec()),
    ];
    let out = read_frames(LinesCodec::new(), script);
    assert!(out.error.is_none());
    assert_eq!(out.frames, ["a", "b"]);
}

#[test]
fn over_long_line_gives_one_error_then_decoding_resumes() {
    let mut codec = LinesCodec::with_max_length(10);
    let mut buf = BytesMut::new();
    let mut results = Vec::new();
    // The over-long line arrives in pieces, split across many calls.
    for piece in [
        &b"ok\n0123456"[..],
        b"789abcdef",
        b"ghijkl",
        b"mn\r\nafter\nmore\n",
    ] {
        buf.extend_from_slice(piece);
        results.extend(decode_all(&mut codec, &mut buf));
    }
    let errors = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(errors, 1, "exactly one error for one over-long line");
    assert!(matches!(
        results[1],
        Err(LinesCodecError::LineTooLong { max: 10 })
    ));
    let lines: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
    assert_eq!(lines, ["ok", "after", "more"]);
}

#[test]
fn over_long_line_ends_a_framed_stream() {
    let script = vec![Read::Data(b"ok\nmuch too long\nnext\n".to_vec())];
    let out = read_frames(LinesCodec::with_max_length(4), script);
    assert_eq!(out.frames, ["ok"]);
    assert!(matches!(
        out.error,
        Some(LinesCodecError::LineTooLong { max: 4 })
    ));
}

#[test]
fn no_newline_ever_keeps_memory_bounded() {
    const MAX: usize = 1024;
    let mut codec = LinesCodec::with_max_length(MAX);
    let mut buf = BytesMut::new();
    let chunk = [b'x'; 4096];
    let mut errors = 0;
    for _ in 0..1024 {
        // 4 MiB in all, never a newline.
        buf.extend_from_slice(&chunk);
        for result in decode_all(&mut codec, &mut buf) {
            assert!(matches!(result, Err(LinesCodecError::LineTooLong { .. })));
            errors += 1;
        }
        assert!(buf.len() <= MAX + 2, "buffered {} bytes", buf.len());
    }
    assert_eq!(errors, 1);
    buf.extend_from_slice(b"\nback to normal\n");
    let lines: Vec<_> = decode_all(&mut codec, &mut buf)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(lines, ["back to normal"]);
}

#[test]
fn no_newline_ever_through_framed_read_is_one_error() {
    let script = (0..256).map(|_| Read::Data(vec![b'y'; 1000])).collect();
    let out = read_frames(LinesCodec::with_max_length(100), script);
    assert!(out.frames.is_empty());
    assert!(matches!(
        out.error,
        Some(LinesCodecError::LineTooLong { max: 100 })
    ));
}

#[test]
fn invalid_utf8_is_an_error_and_the_line_is_skipped() {
    let mut codec = LinesCodec::new();
    let mut buf = BytesMut::from(&b"good\nbad \xff\xfe\nalso good\n"[..]);
    let results = decode_all(&mut codec, &mut buf);
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap(), "good");
    match &results[1] {
        Err(LinesCodecError::InvalidUtf8(e)) => assert_eq!(e.valid_up_to(), 4),
        other => panic!("expected InvalidUtf8, got {other:?}"),
    }
    assert_eq!(results[2].as_ref().unwrap(), "also good");
}

#[test]
fn utf8_split_inside_a_character_decodes() {
    let input = "héllo wörld ✓\n".as_bytes();
    for (label, script) in every_split(input) {
        let out = read_frames(LinesCodec::new(), script);
        assert_eq!(out.frames, ["héllo wörld ✓"], "{label}");
    }
}

#[test]
fn encode_through_short_writes() {
    let lines = vec!["alpha", "", "gamma delta"];
    let written = util::write_frames(LinesCodec::new(), lines, 20).unwrap();
    assert_eq!(written, b"alpha\n\ngamma delta\n");
}

#[test]
fn decode_buf_eof_returns_last_line_and_then_none() {
    let mut codec = LinesBytesCodec::new();
    let mut src: &[u8] = b"tail";
    assert_eq!(codec.decode_buf(&mut src).unwrap(), None);
    assert_eq!(
        codec.decode_buf_eof(&mut src).unwrap(),
        Some(Bytes::from_static(b"tail"))
    );
    assert_eq!(codec.decode_buf_eof(&mut src).unwrap(), None);
}

fn chunks_at(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([input.len()]) {
        out.push(input[start..cut].to_vec());
        start = cut;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(lines in prop::collection::vec("[^\r\n]{0,40}", 0..20), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut encoded = BytesMut::new();
        for line in &lines {
            runtime_codec::Encoder::encode(&mut LinesCodec::new(), line, &mut encoded).unwrap();
        }
        let chunks = chunks_at(&encoded, &cuts);
        let script = chunks.iter().flat_map(|c| [Read::Data(c.clone()), Read::Pending]).collect();
        let out = read_frames(LinesCodec::with_max_length(160), script);
        prop_assert!(out.error.is_none());
        prop_assert_eq!(&out.frames, &lines);
        let pieces: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let out = decode_ring_frames(LinesCodec::with_max_length(160), &pieces);
        prop_assert!(out.error.is_none());
        prop_assert_eq!(&out.frames, &lines);
    }

    #[test]
    fn garbage_is_bounded_and_never_panics(
        input in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..2000),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in 0usize..64,
    ) {
        let mut codec = LinesBytesCodec::with_max_length(max);
        let mut buf = BytesMut::new();
        let mut decoded = 0;
        for chunk in chunks_at(&input, &cuts) {
            buf.extend_from_slice(&chunk);
            for result in decode_all(&mut codec, &mut buf) {
                if let Ok(line) = result {
                    prop_assert!(line.len() <= max);
                    decoded += line.len();
                }
                prop_assert!(buf.len() <= max + 2);
            }
            prop_assert!(buf.len() <= max + 2);
        }
        prop_assert!(decoded <= input.len());
        // The engine path gives the same lines as the `BytesMut` path.
        let pieces = chunks_at(&input, &cuts);
        let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let contiguous = decode_buf_frames(LinesBytesCodec::with_max_length(max), &pieces);
        let ring = decode_ring_frames(LinesBytesCodec::with_max_length(max), &pieces);
        prop_assert_eq!(contiguous.frames, ring.frames);
        prop_assert_eq!(contiguous.error.is_some(), ring.error.is_some());
    }
}

#[test]
fn decoding_is_the_same_for_every_split_with_errors() {
    // Over-long lines and bad UTF-8 mixed in: the direct decoder gives the same
    // results whatever the split.
    let input = b"a\nthis line is too long\nb\xff\nc\r\n";
    let reference: Vec<String> = {
        let mut codec = LinesCodec::with_max_length(8);
        let mut buf = BytesMut::from(&input[..]);
        decode_all(&mut codec, &mut buf)
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()).unwrap_or_else(|e| e))
            .collect()
    };
    assert_eq!(reference.len(), 4);
    for (at, [head, tail]) in two_pieces(input) {
        let mut codec = LinesCodec::with_max_length(8);
        let mut buf = BytesMut::from(head);
        let mut got = decode_all(&mut codec, &mut buf);
        buf.extend_from_slice(tail);
        got.extend(decode_all(&mut codec, &mut buf));
        let got: Vec<String> = got
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()).unwrap_or_else(|e| e))
            .collect();
        assert_eq!(got, reference, "split at {at}");
    }
}
