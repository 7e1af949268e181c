//! Fuzzes `LengthFieldCodec` under any configuration (offset, field size, byte
//! order, adjustment, bytes to strip, maximum frame length) with any input split
//! anywhere, and checks that whatever its encoder accepts decodes back.
//! Run from codec/fuzz: `cargo +nightly fuzz run length_field -- -max_total_time=60`
#![no_main]

mod common;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use runtime_codec::{Decoder, Encoder, LengthFieldCodec};

fuzz_target!(|data: &[u8]| {
    let [offset, size, adjustment, strip, max, seed, input @ ..] = data else {
        return;
    };
    let offset = usize::from(offset % 8);
    let little = size & 0x80 != 0;
    let size = [1, 2, 3, 4, 8][usize::from(size % 5)];
    // Small adjustments mostly, and the extremes sometimes.
    let adjustment = match adjustment {
        0 => i64::MIN,
        255 => i64::MAX,
        a => i64::from(*a as i8),
    };
    let strip = usize::from(*strip % 32);
    let max = usize::from(*max) * 4;

    let mut builder = LengthFieldCodec::builder();
    builder
        .length_field_offset(offset)
        .length_field_size(size)
        .length_adjustment(adjustment)
        .initial_bytes_to_strip(strip)
        .max_frame_length(max);
    if little {
        builder.little_endian();
    }
    let Ok(_) = builder.build() else {
        assert!(offset + size > max);
        return;
    };
    // Between calls a decoder holds at most a header, or one frame short of a byte.
    let bound = max.max(offset + size);
    common::check(
        || builder.build().unwrap(),
        input,
        *seed,
        bound,
        max,
        |b| b.len(),
    );

    // Encoder: anything accepted decodes to the wire frame minus the stripped bytes.
    let mut codec = builder.build().unwrap();
    let mut wire = BytesMut::new();
    if codec.encode(input, &mut wire).is_ok() {
        let expected = wire[strip..].to_vec();
        let frame = codec
            .decode(&mut wire)
            .expect("encoded frame decodes")
            .expect("whole frame");
        assert_eq!(&frame[..], &expected[..]);
        assert!(wire.is_empty());
    }
});
