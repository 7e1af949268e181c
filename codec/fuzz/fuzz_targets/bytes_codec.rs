//! Fuzzes `BytesCodec`: every byte passes through, whatever the split.
//! Run from codec/fuzz: `cargo +nightly fuzz run bytes_codec -- -max_total_time=60`
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use runtime_codec::BytesCodec;

fuzz_target!(|data: &[u8]| {
    let [seed, input @ ..] = data else { return };
    common::check(BytesCodec::new, input, *seed, 0, usize::MAX, |b| b.len());
});
