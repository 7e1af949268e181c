//! `BytesCodec`: bytes pass through unchanged whatever the split.

mod util;

use bytes::BytesMut;
use proptest::prelude::*;
use runtime_codec::{BytesCodec, Decoder};
use util::{decode_buf_frames, decode_ring_frames, every_split, read_frames, two_pieces};

#[test]
fn split_at_every_offset_passes_every_byte() {
    let input: Vec<u8> = (0..=255).collect();
    for (label, script) in every_split(&input) {
        let out = read_frames(BytesCodec::new(), script);
        assert!(out.error.is_none(), "{label}");
        assert!(
            out.frames.iter().all(|f| !f.is_empty()),
            "{label}: no empty frames"
        );
        assert_eq!(out.frames.concat(), input, "{label}");
    }
    for (at, pieces) in two_pieces(&input) {
        assert_eq!(
            decode_buf_frames(BytesCodec::new(), &pieces)
                .frames
                .concat(),
            input,
            "split at {at}"
        );
        assert_eq!(
            decode_ring_frames(BytesCodec::new(), &pieces)
                .frames
                .concat(),
            input,
            "ring, split at {at}"
        );
    }
}

#[test]
fn encode_through_short_writes() {
    let written =
        util::write_frames(BytesCodec::new(), vec![&b"\x00\x01"[..], b"", b"\xff"], 3).unwrap();
    assert_eq!(written, b"\x00\x01\xff");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_takes_everything(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = BytesMut::from(&input[..]);
        let frame = BytesCodec::new().decode_eof(&mut buf).unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(frame.map(|f| f.to_vec()).unwrap_or_default(), input);
    }
}
