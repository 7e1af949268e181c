//! `DelimiterCodec`: delimiters split across reads, several delimiters, bounds,
//! round trips and garbage (RELIABILITY.md rows 17-20).

mod util;

use bytes::BytesMut;
use proptest::prelude::*;
use runtime_codec::{DelimiterCodec, DelimiterCodecError, Encoder};
use util::{
    decode_all, decode_buf_frames, decode_ring_frames, every_split, read_frames, two_pieces, Read,
};

#[test]
fn multi_byte_delimiter_split_at_every_offset() {
    let input = b"alpha<END>beta<E<END><END>gamma<END>";
    let expected: [&[u8]; 4] = [b"alpha", b"beta<E", b"", b"gamma"];
    for (label, script) in every_split(input) {
        let out = read_frames(DelimiterCodec::new("<END>").unwrap(), script);
        assert!(out.error.is_none(), "{label}: {:?}", out.error);
        assert_eq!(out.frames, expected, "{label}");
    }
    for (at, pieces) in two_pieces(input) {
        let out = decode_buf_frames(DelimiterCodec::new("<END>").unwrap(), &pieces);
        assert_eq!(out.frames, expected, "split at {at}");
        let out = decode_ring_frames(DelimiterCodec::new("<END>").unwrap(), &pieces);
        assert_eq!(out.frames, expected, "ring, split at {at}");
    }
}

#[test]
fn several_delimiters_split_at_every_offset() {
    let input = b"a\r\nb\nc\0\0d||e";
    let expected: [&[u8]; 6] = [b"a", b"b", b"c", b"", b"d", b"e"];
    let make = || DelimiterCodec::with_delimiters(["\r\n", "\n", "\0", "||"], 64).unwrap();
    for (label, script) in every_split(input) {
        let out = read_frames(make(), script);
        assert!(out.error.is_none(), "{label}");
        assert_eq!(out.frames, expected, "{label}");
    }
}

#[test]
fn single_byte_delimiter_split_at_every_offset() {
    let input = b"1,22,,333,";
    for (label, script) in every_split(input) {
        let out = read_frames(DelimiterCodec::new(",").unwrap(), script);
        assert_eq!(out.frames, [&b"1"[..], b"22", b"", b"333"], "{label}");
    }
}

#[test]
fn over_long_chunk_gives_one_error_then_decoding_resumes() {
    let mut codec = DelimiterCodec::with_max_length("##", 4).unwrap();
    let mut buf = BytesMut::new();
    let mut results = Vec::new();
    for piece in [&b"ok##toolo"[..], b"ng chunk", b" is long#", b"#next##"] {
        buf.extend_from_slice(piece);
        results.extend(decode_all(&mut codec, &mut buf));
    }
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(matches!(
        results[1],
        Err(DelimiterCodecError::ChunkTooLong { max: 4 })
    ));
    let chunks: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
    assert_eq!(chunks, [&b"ok"[..], b"next"]);
}

#[test]
fn no_delimiter_ever_keeps_memory_bounded() {
    const MAX: usize = 512;
    let mut codec = DelimiterCodec::with_max_length("\r\n\r\n", MAX).unwrap();
    let mut buf = BytesMut::new();
    let mut errors = 0;
    for i in 0..1024 {
        // 4 MiB with many near misses ("\r\n\r" never followed by "\n").
        let chunk: Vec<u8> = (0..4096)
            .map(|j| if (i + j) % 7 == 0 { b'\r' } else { b'\n' })
            .collect();
        buf.extend_from_slice(&chunk);
        for result in decode_all(&mut codec, &mut buf) {
            assert!(matches!(
                result,
                Err(DelimiterCodecError::ChunkTooLong { max: MAX })
            ));
            errors += 1;
        }
        assert!(buf.len() < MAX + 4, "buffered {} bytes", buf.len());
    }
    assert_eq!(errors, 1);
}

#[test]
fn no_delimiter_ever_is_one_error() {
    let mut codec = DelimiterCodec::with_max_length("||", 100).unwrap();
    let mut buf = BytesMut::new();
    let mut errors = 0;
    for _ in 0..1000 {
        buf.extend_from_slice(&[b'|', b'x'].repeat(500));
        errors += decode_all(&mut codec, &mut buf).len();
        assert!(buf.len() <= 101, "buffered {} bytes", buf.len());
    }
    assert_eq!(errors, 1);
}

#[test]
fn last_chunk_at_eof_and_truncated_delimiter() {
    let out = read_frames(
        DelimiterCodec::new("--").unwrap(),
        vec![Read::Data(b"a--b-".to_vec())],
    );
    assert!(out.error.is_none());
    assert_eq!(
        out.frames,
        [&b"a"[..], b"b-"],
        "a partial delimiter at EOF is data"
    );
}

#[test]
fn encode_through_short_writes() {
    let codec = DelimiterCodec::with_delimiters(["\r\n", "\n"], 64).unwrap();
    let written = util::write_frames(codec, vec!["one", "two"], 10).unwrap();
    assert_eq!(written, b"one\r\ntwo\r\n");
}

#[test]
fn empty_delimiter_is_rejected() {
    assert!(matches!(
        DelimiterCodec::new(b""),
        Err(DelimiterCodecError::EmptyDelimiter)
    ));
}

fn chunks_at(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    let mut out = Vec::new();
    for cut in cuts.into_iter().chain([input.len()]) {
        out.push(input[start..cut].to_vec());
        start = cut;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(
        chunks in prop::collection::vec(prop::collection::vec(b'a'..=b'z', 0..30), 0..20),
        delimiter in prop::collection::vec(b'0'..=b'9', 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut codec = DelimiterCodec::with_delimiters([&delimiter], 30).unwrap();
        let mut encoded = BytesMut::new();
        for chunk in &chunks {
            codec.encode(chunk, &mut encoded).unwrap();
        }
        let pieces = chunks_at(&encoded, &cuts);
        let script = pieces.iter().flat_map(|c| [Read::Data(c.clone()), Read::Pending]).collect();
        let out = read_frames(DelimiterCodec::with_delimiters([&delimiter], 30).unwrap(), script);
        prop_assert!(out.error.is_none());
        prop_assert_eq!(&out.frames, &chunks);
        let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let out = decode_ring_frames(DelimiterCodec::with_delimiters([&delimiter], 30).unwrap(), &pieces);
        prop_assert_eq!(&out.frames, &chunks);
    }

    #[test]
    fn garbage_is_bounded_and_never_panics(
        input in prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..2000),
        delimiters in prop::collection::vec(prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 1..4), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in 0usize..32,
    ) {
        let longest = delimiters.iter().map(Vec::len).max().unwrap();
        let mut codec = DelimiterCodec::with_delimiters(&delimiters, max).unwrap();
        let mut buf = BytesMut::new();
        for chunk in chunks_at(&input, &cuts) {
            buf.extend_from_slice(&chunk);
            for chunk in decode_all(&mut codec, &mut buf).into_iter().flatten() {
                prop_assert!(chunk.len() <= max);
            }
            prop_assert!(buf.len() < max + longest);
        }
        let pieces = chunks_at(&input, &cuts);
        let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let contiguous = decode_buf_frames(DelimiterCodec::with_delimiters(&delimiters, max).unwrap(), &pieces);
        let ring = decode_ring_frames(DelimiterCodec::with_delimiters(&delimiters, max).unwrap(), &pieces);
        prop_assert_eq!(contiguous.frames, ring.frames);
        prop_assert_eq!(contiguous.error.is_some(), ring.error.is_some());
    }
}
