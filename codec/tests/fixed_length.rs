//! `FixedLengthCodec`: construction, split reads, EOF mid-frame, round trips and
//! garbage (RELIABILITY.md rows 17, 19 and 20).

mod util;

use bytes::BytesMut;
use proptest::prelude::*;
use runtime_codec::{BufDecoder, Decoder, Encoder, FixedLengthCodec, FixedLengthCodecError};
use util::{decode_buf_frames, decode_ring_frames, every_split, read_frames, two_pieces, Read};

#[test]
fn zero_length_is_rejected_at_construction() {
    let err = FixedLengthCodec::new(0).unwrap_err();
    assert!(matches!(err, FixedLengthCodecError::ZeroFrameLength));
    assert_eq!(err.to_string(), "frame length of 0");
}

#[test]
fn split_at_every_offset() {
    let input = b"abcdefghijkl";
    let expected: [&[u8]; 3] = [b"abcd", b"efgh", b"ijkl"];
    for (label, script) in every_split(input) {
        let out = read_frames(FixedLengthCodec::new(4).unwrap(), script);
        assert!(out.error.is_none(), "{label}");
        assert_eq!(out.frames, expected, "{label}");
    }
    for (at, pieces) in two_pieces(input) {
        let out = decode_buf_frames(FixedLengthCodec::new(4).unwrap(), &pieces);
        assert_eq!(out.frames, expected, "split at {at}");
        let out = decode_ring_frames(FixedLengthCodec::new(4).unwrap(), &pieces);
        assert_eq!(out.frames, expected, "ring, split at {at}");
    }
}

#[test]
fn eof_mid_frame_is_an_error_at_every_truncation() {
    let input = b"abcdefghij";
    for cut in 1..input.len() {
        if cut % 4 == 0 {
            continue;
        }
        let out = read_frames(
            FixedLengthCodec::new(4).unwrap(),
            vec![Read::Data(input[..cut].to_vec()), Read::Pending],
        );
        assert_eq!(out.frames.len(), cut / 4, "cut at {cut}");
        match out.error {
            Some(FixedLengthCodecError::IncompleteFrame {
                buffered,
                frame_length: 4,
            }) => assert_eq!(buffered, cut % 4, "cut at {cut}"),
            other => panic!("cut at {cut}: expected IncompleteFrame, got {other:?}"),
        }
    }
}

#[test]
fn eof_mid_frame_is_an_error_for_decode_buf() {
    let mut codec = FixedLengthCodec::new(3).unwrap();
    let mut src: &[u8] = b"abcde";
    assert_eq!(
        codec.decode_buf(&mut src).unwrap().as_deref(),
        Some(&b"abc"[..])
    );
    assert_eq!(codec.decode_buf(&mut src).unwrap(), None);
    assert!(matches!(
        codec.decode_buf_eof(&mut src),
        Err(FixedLengthCodecError::IncompleteFrame {
            buffered: 2,
            frame_length: 3
        })
    ));
}

#[test]
fn encode_through_short_writes_and_wrong_length() {
    let written = util::write_frames(
        FixedLengthCodec::new(5).unwrap(),
        vec!["hello", "world"],
        10,
    )
    .unwrap();
    assert_eq!(written, b"helloworld");
    let err = FixedLengthCodec::new(5)
        .unwrap()
        .encode("hi", &mut BytesMut::new())
        .unwrap_err();
    assert!(matches!(
        err,
        FixedLengthCodecError::WrongLength {
            len: 2,
            frame_length: 5
        }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_and_garbage(
        len in 1usize..16,
        frames in 0usize..20,
        extra in 0usize..16,
        seed in any::<u8>(),
        cut in any::<usize>(),
    ) {
        let input: Vec<u8> = (0..len * frames + extra).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let cut = cut % (input.len() + 1);
        let mut codec = FixedLengthCodec::new(len).unwrap();
        let mut buf = BytesMut::from(&input[..cut]);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            out.push(frame);
        }
        prop_assert!(buf.len() < len);
        buf.extend_from_slice(&input[cut..]);
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => { prop_assert_eq!(input.len() % len, 0); break }
                Err(FixedLengthCodecError::IncompleteFrame { buffered, .. }) => {
                    prop_assert_eq!(buffered, input.len() % len);
                    break
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        prop_assert_eq!(out.len(), input.len() / len);
        let joined: Vec<u8> = out.iter().flat_map(|f| f.iter().copied()).collect();
        prop_assert_eq!(&joined[..], &input[..joined.len()]);
        let mut encoded = BytesMut::new();
        for frame in &out {
            codec.encode(frame, &mut encoded).unwrap();
        }
        prop_assert_eq!(&encoded[..], &joined[..]);
    }
}
