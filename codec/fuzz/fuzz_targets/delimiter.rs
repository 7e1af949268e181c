//! Fuzzes `DelimiterCodec` with one to three delimiters of up to four bytes taken from
//! the input, and any input split anywhere.
//! Run from codec/fuzz: `cargo +nightly fuzz run delimiter -- -max_total_time=60`
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use runtime_codec::DelimiterCodec;

fuzz_target!(|data: &[u8]| {
    let [max, seed, shape, rest @ ..] = data else {
        return;
    };
    // `shape`: number of delimiters (1-3) and their lengths (1-4), taken from `rest`.
    let count = usize::from(shape % 3) + 1;
    let mut lengths = [0usize; 3];
    for (i, len) in lengths.iter_mut().enumerate().take(count) {
        *len = usize::from((shape >> (2 * i + 2)) & 3) + 1;
    }
    let needed: usize = lengths.iter().sum();
    if rest.len() < needed {
        return;
    }
    let (spec, input) = rest.split_at(needed);
    let mut delimiters = Vec::new();
    let mut at = 0;
    for len in &lengths[..count] {
        delimiters.push(spec[at..at + len].to_vec());
        at += len;
    }
    let longest = lengths.iter().copied().max().unwrap();
    let max = usize::from(*max);
    common::check(
        || DelimiterCodec::with_delimiters(&delimiters, max).unwrap(),
        input,
        *seed,
        max + longest - 1,
        max,
        |b| b.len(),
    );
});
