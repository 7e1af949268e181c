//! Fuzzes `FixedLengthCodec` with any input split anywhere.
//! Run from codec/fuzz: `cargo +nightly fuzz run fixed_length -- -max_total_time=60`
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use runtime_codec::FixedLengthCodec;

fuzz_target!(|data: &[u8]| {
    let [len, seed, input @ ..] = data else {
        return;
    };
    let len = usize::from(*len);
    if len == 0 {
        assert!(FixedLengthCodec::new(0).is_err());
        return;
    }
    common::check(
        || FixedLengthCodec::new(len).unwrap(),
        input,
        *seed,
        len - 1,
        len,
        |b| b.len(),
    );
});
