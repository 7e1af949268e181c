//! Fuzzes `LinesCodec` and `LinesBytesCodec` with any input split anywhere.
//! Run from codec/fuzz: `cargo +nightly fuzz run lines -- -max_total_time=60`
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use runtime_codec::{LinesBytesCodec, LinesCodec};

fuzz_target!(|data: &[u8]| {
    let [max, seed, input @ ..] = data else {
        return;
    };
    let max = usize::from(*max);
    common::check(
        || LinesCodec::with_max_length(max),
        input,
        *seed,
        max + 2,
        max,
        String::len,
    );
    common::check(
        || LinesBytesCodec::with_max_length(max),
        input,
        *seed,
        max + 2,
        max,
        |b| b.len(),
    );
});
