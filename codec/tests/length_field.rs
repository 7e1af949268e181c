//! `LengthFieldCodec`: the netty configuration, hostile lengths, split reads, EOF
//! mid-frame, round trips and garbage (RELIABILITY.md rows 15, 16, 17 and 20).

mod util;

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use runtime_codec::{
    BufDecoder, Decoder, Encoder, LengthFieldCodec, LengthFieldCodecError, DEFAULT_MAX_FRAME_LENGTH,
};
use util::{
    decode_all, decode_buf_frames, decode_ring_frames, every_split, read_frames, two_pieces, Read,
};

fn frames(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn split_at_every_offset() {
    let payloads: [&[u8]; 4] = [b"hello", b"", b"a", b"a longer frame of bytes"];
    let input = frames(&payloads);
    for (label, script) in every_split(&input) {
        let out = read_frames(LengthFieldCodec::new(), script);
        assert!(out.error.is_none(), "{label}: {:?}", out.error);
        assert_eq!(out.frames, payloads, "{label}");
    }
    for (at, pieces) in two_pieces(&input) {
        let out = decode_buf_frames(LengthFieldCodec::new(), &pieces);
        assert_eq!(out.frames, payloads, "split at {at}");
        let out = decode_ring_frames(LengthFieldCodec::new(), &pieces);
        assert_eq!(out.frames, payloads, "ring, split at {at}");
    }
}

#[test]
fn truncated_at_every_offset_is_an_error_not_a_drop() {
    let input = frames(&[b"0123456789"]);
    for cut in 1..input.len() {
        let out = read_frames(
            LengthFieldCodec::new(),
            vec![Read::Data(input[..cut].to_vec())],
        );
        assert!(out.frames.is_empty(), "cut at {cut}");
        match out.error {
            Some(LengthFieldCodecError::IncompleteFrame { buffered, expected }) => {
                assert_eq!(buffered, cut, "cut at {cut}");
                assert_eq!(expected, (cut >= 4).then_some(14), "cut at {cut}");
            }
            other => panic!("cut at {cut}: expected IncompleteFrame, got {other:?}"),
        }
    }
}

#[test]
fn header_claiming_4_gib_fails_as_soon_as_the_header_is_read() {
    // Row 15: the error comes with the header alone; nothing near that size is
    // allocated.
    let mut codec = LengthFieldCodec::new();
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        LengthFieldCodecError::FrameTooLong { len, max: DEFAULT_MAX_FRAME_LENGTH } if len == 0xffff_ffff + 4
    ));
    assert!(buf.capacity() < 1024, "capacity {}", buf.capacity());
    assert_eq!(
        err.to_string(),
        format!("frame of 4294967299 bytes exceeds the maximum of {DEFAULT_MAX_FRAME_LENGTH}")
    );

    // Through `FramedRead`: the stream ends with the error while the peer has sent
    // only the header, and more would follow.
    let script = vec![
        Read::Data(vec![0xff; 4]),
        Read::Pending,
        Read::Data(vec![0; 100_000]),
    ];
    let out = read_frames(LengthFieldCodec::new(), script);
    assert!(matches!(
        out.error,
        Some(LengthFieldCodecError::FrameTooLong { .. })
    ));

    // 8-byte field claiming u64::MAX.
    let mut codec = LengthFieldCodec::builder()
        .length_field_size(8)
        .build()
        .unwrap();
    let mut buf = BytesMut::from(&[0xff; 8][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(LengthFieldCodecError::FrameTooLong { len: u64::MAX, .. })
    ));
}

#[test]
fn too_long_frame_is_discarded_without_buffering_then_decoding_resumes() {
    let mut codec = LengthFieldCodec::builder()
        .max_frame_length(64)
        .build()
        .unwrap();
    let mut buf = BytesMut::new();
    buf.put_u32(1000);
    let mut results = decode_all(&mut codec, &mut buf);
    assert_eq!(results.len(), 1);
    assert!(matches!(
        results[0],
        Err(LengthFieldCodecError::FrameTooLong { len: 1004, max: 64 })
    ));
    // The 1000 bytes of payload arrive in pieces and are dropped as they come.
    for _ in 0..10 {
        buf.put_slice(&[7; 100]);
        results = decode_all(&mut codec, &mut buf);
        assert!(results.is_empty());
        assert!(buf.is_empty());
    }
    buf.put_slice(&frames(&[b"next"]));
    let frames: Vec<_> = decode_all(&mut codec, &mut buf)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(frames, [&b"next"[..]]);
}

#[test]
fn negative_adjustment_counting_the_whole_frame() {
    // netty's example: a 2-byte length that counts the header too.
    let mut codec = LengthFieldCodec::builder()
        .length_field_size(2)
        .length_adjustment(-2)
        .build()
        .unwrap();
    let mut buf = BytesMut::from(&b"\x00\x0eHELLO, WORLD\x00\x02"[..]);
    assert_eq!(
        codec.decode(&mut buf).unwrap().as_deref(),
        Some(&b"HELLO, WORLD"[..])
    );
    assert_eq!(codec.decode(&mut buf).unwrap().as_deref(), Some(&b""[..]));
}

#[test]
fn adjusted_length_below_the_header_is_an_error() {
    // A field of 1 with adjustment -2: the frame would be 1 byte, under its 2-byte
    // header (tokio-util `neg_adjusted_frame_does_not_fit`).
    let mut codec = LengthFieldCodec::builder()
        .length_field_size(2)
        .length_adjustment(-2)
        .build()
        .unwrap();
    let mut buf = BytesMut::from(&b"\x00\x01\x00"[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, LengthFieldCodecError::FrameTooShort { len: 1, min: 2 }),
        "{err:?}"
    );
    assert!(
        codec.decode(&mut buf).is_err(),
        "such input cannot be resynchronised"
    );

    // Negative overall: field 0 with adjustment -1000.
    let mut codec = LengthFieldCodec::builder()
        .length_adjustment(-1000)
        .build()
        .unwrap();
    let mut buf = BytesMut::from(&[0u8; 4][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(LengthFieldCodecError::FrameTooShort { len: -996, min: 4 })
    ));
}

#[test]
fn strip_longer_than_the_frame_is_an_error() {
    let mut codec = LengthFieldCodec::builder()
        .length_field_size(1)
        .initial_bytes_to_strip(5)
        .build()
        .unwrap();
    let mut buf = BytesMut::from(&b"\x02ab"[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(LengthFieldCodecError::StripExceedsFrame { len: 3, strip: 5 })
    ));
}

#[test]
fn extreme_configuration_values_never_panic() {
    for size in [1, 2, 3, 4, 8] {
        for adjustment in [i64::MIN, -1_000_000, -9, -1, 0, 1, 1_000_000, i64::MAX] {
            for field_byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let codec = LengthFieldCodec::builder()
                    .length_field_offset(3)
                    .length_field_size(size)
                    .length_adjustment(adjustment)
                    .initial_bytes_to_strip(1)
                    .max_frame_length(usize::MAX)
                    .build()
                    .unwrap();
                let mut input = vec![9u8; 3];
                input.resize(3 + size, field_byte);
                input.extend_from_slice(&[1; 64]);
                let mut buf = BytesMut::from(&input[..]);
                let mut codec = codec;
                let results = decode_all(&mut codec, &mut buf);
                // Either frames that fit in the input, an error, or waiting for more.
                for frame in results.iter().flatten() {
                    assert!(frame.len() < input.len());
                }
                assert!(buf.len() <= input.len());
            }
        }
    }
}

#[test]
fn every_field_size_and_byte_order_round_trips() {
    for size in [1, 2, 3, 4, 8] {
        for little in [false, true] {
            let mut builder = LengthFieldCodec::builder();
            builder.length_field_size(size);
            if little {
                builder.little_endian();
            }
            let mut codec = builder.build().unwrap();
            let mut buf = BytesMut::new();
            codec.encode(vec![0xabu8; 200], &mut buf).unwrap();
            assert_eq!(buf.len(), 200 + size);
            let field = &buf[..size];
            let expected: Vec<u8> = if little {
                200u64.to_le_bytes()[..size].to_vec()
            } else {
                200u64.to_be_bytes()[8 - size..].to_vec()
            };
            assert_eq!(field, &expected[..], "size {size}, little endian {little}");
            assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), vec![0xab; 200]);
        }
    }
}

#[test]
fn encoder_rejects_a_frame_that_does_not_fit_the_field() {
    let mut codec = LengthFieldCodec::builder()
        .length_field_size(1)
        .build()
        .unwrap();
    let mut buf = BytesMut::new();
    codec.encode(vec![0; 255], &mut buf).unwrap();
    let err = codec.encode(vec![0; 256], &mut buf).unwrap_err();
    assert!(matches!(
        err,
        LengthFieldCodecError::LengthDoesNotFitField {
            value: 256,
            field_size: 1
        }
    ));
    assert_eq!(buf.len(), 256, "nothing written for the rejected frame");

    // A negative value: the adjustment says the field counts more than the frame.
    let mut codec = LengthFieldCodec::builder()
        .length_adjustment(10)
        .build()
        .unwrap();
    assert!(matches!(
        codec.encode("short", &mut BytesMut::new()),
        Err(LengthFieldCodecError::LengthDoesNotFitField {
            value: -5,
            field_size: 4
        })
    ));

    let mut codec = LengthFieldCodec::builder()
        .max_frame_length(10)
        .build()
        .unwrap();
    assert!(matches!(
        codec.encode("seven b", &mut BytesMut::new()),
        Err(LengthFieldCodecError::FrameTooLong { len: 11, max: 10 })
    ));

    let mut codec = LengthFieldCodec::builder()
        .length_field_offset(2)
        .build()
        .unwrap();
    assert!(matches!(
        codec.encode("x", &mut BytesMut::new()),
        Err(LengthFieldCodecError::ItemShorterThanOffset { len: 1, offset: 2 })
    ));
}

#[test]
fn encode_with_offset_writes_the_prefix_first() {
    let mut codec = LengthFieldCodec::builder()
        .length_field_offset(1)
        .length_field_size(2)
        .initial_bytes_to_strip(0)
        .build()
        .unwrap();
    let mut buf = BytesMut::new();
    codec.encode("Tabc", &mut buf).unwrap();
    assert_eq!(&buf[..], b"T\x00\x03abc");
    assert_eq!(
        codec.decode(&mut buf).unwrap().as_deref(),
        Some(&b"T\x00\x03abc"[..])
    );
}

#[test]
fn encode_through_short_writes() {
    let written = util::write_frames(LengthFieldCodec::new(), vec!["ab", "", "cde"], 17).unwrap();
    assert_eq!(written, frames(&[b"ab", b"", b"cde"]));
}

#[test]
fn invalid_configurations_are_rejected() {
    for size in [0, 5, 6, 7, 9, 16] {
        assert!(matches!(
            LengthFieldCodec::builder().length_field_size(size).build(),
            Err(LengthFieldCodecError::InvalidLengthFieldSize { size: s }) if s == size
        ));
    }
}

#[test]
fn decode_buf_discards_a_too_long_frame_from_the_inbound_buffer() {
    let mut codec = LengthFieldCodec::builder()
        .max_frame_length(16)
        .build()
        .unwrap();
    let mut inbound = BytesMut::new();
    inbound.put_u32(100);
    inbound.put_slice(&[0; 50]);
    assert!(codec.decode_buf(&mut inbound).is_err());
    assert_eq!(codec.decode_buf(&mut inbound).unwrap(), None);
    assert!(
        inbound.is_empty(),
        "the too-long frame's bytes are dropped as they come"
    );
}

#[derive(Debug, Clone)]
struct Config {
    offset: usize,
    size: usize,
    adjustment: i64,
    strip: usize,
    little: bool,
}

fn config() -> impl Strategy<Value = Config> {
    (
        0usize..4,
        prop::sample::select(vec![1usize, 2, 3, 4, 8]),
        -8i64..8,
        0usize..16,
        any::<bool>(),
    )
        .prop_map(|(offset, size, adjustment, strip, little)| Config {
            offset,
            size,
            adjustment,
            strip,
            little,
        })
}

fn build(c: &Config, max: usize) -> LengthFieldCodec {
    let mut builder = LengthFieldCodec::builder();
    builder
        .length_field_offset(c.offset)
        .length_field_size(c.size)
        .length_adjustment(c.adjustment)
        .initial_bytes_to_strip(c.strip)
        .max_frame_length(max);
    if c.little {
        builder.little_endian();
    }
    builder.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_any_configuration(
        c in config(),
        items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..12),
        cut in any::<usize>(),
    ) {
        let mut encoder = build(&c, 1 << 20);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for item in &items {
            let before = wire.len();
            match encoder.encode(item, &mut wire) {
                Ok(()) => expected.push(wire[before + c.strip..].to_vec()),
                Err(_) => prop_assert_eq!(wire.len(), before, "a rejected item writes nothing"),
            }
        }
        let cut = cut % (wire.len() + 1);
        let script = vec![Read::Data(wire[..cut].to_vec()), Read::Pending, Read::Data(wire[cut..].to_vec())];
        let out = read_frames(build(&c, 1 << 20), script);
        prop_assert!(out.error.is_none(), "{:?}", out.error);
        let got: Vec<Vec<u8>> = out.frames.iter().map(|f| f.to_vec()).collect();
        prop_assert_eq!(&got, &expected);
        let pieces = [&wire[..cut], &wire[cut..]];
        let ring = decode_ring_frames(build(&c, 1 << 20), &pieces);
        prop_assert_eq!(ring.frames, out.frames);
    }

    #[test]
    fn default_configuration_is_exact(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..12)) {
        let mut codec = LengthFieldCodec::new();
        let mut wire = BytesMut::new();
        for item in &items {
            codec.encode(item, &mut wire).unwrap();
        }
        let decoded: Vec<Vec<u8>> = decode_all(&mut codec, &mut wire).into_iter().map(|f| f.unwrap().to_vec()).collect();
        prop_assert_eq!(decoded, items);
    }

    #[test]
    fn garbage_is_bounded_and_never_panics(
        c in config(),
        max in 0usize..64,
        input in prop::collection::vec(any::<u8>(), 0..1000),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut builder = LengthFieldCodec::builder();
        builder.length_field_offset(c.offset).length_field_size(c.size).length_adjustment(c.adjustment)
            .initial_bytes_to_strip(c.strip).max_frame_length(max);
        let Ok(mut codec) = builder.build() else {
            prop_assert!(c.offset + c.size > max);
            return Ok(());
        };
        let mut cuts: Vec<usize> = cuts.iter().map(|x| x % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut buf = BytesMut::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            buf.extend_from_slice(&input[start..cut]);
            start = cut;
            let results = decode_all(&mut codec, &mut buf);
            let mut errored = false;
            for r in results {
                match r {
                    Ok(frame) => prop_assert!(frame.len() <= max),
                    Err(_) => errored = true,
                }
            }
            // Bounded: a header and at most one frame wait in the buffer, unless an
            // unrecoverable error left the input in place.
            prop_assert!(errored || buf.len() < max.max(c.offset + c.size), "{} buffered", buf.len());
            if errored { break; }
        }
    }
}
