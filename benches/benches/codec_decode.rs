//! Decode throughput of runtime-codec's lines, length-field and delimiter codecs
//! against tokio-util's `LinesCodec`, `LengthDelimitedCodec` and `AnyDelimiterCodec`,
//! side by side in one criterion group per codec: a large buffer of small frames is
//! decoded to the end, and throughput is reported in frames per second.
//!
//! Run: `cargo bench --manifest-path benches/Cargo.toml --bench codec_decode`

use std::hint::black_box;

use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// Frames per buffer.
const FRAMES: usize = 100_000;
/// Line and chunk limit, the same for both libraries.
const MAX_LENGTH: usize = 64 * 1024;

/// Payload `i`: 8 to 40 bytes of printable ASCII.
fn payload(i: usize) -> Vec<u8> {
    let len = 8 + (i * 7) % 33;
    (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
}

fn lines_input() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..FRAMES {
        out.extend_from_slice(&payload(i));
        out.extend_from_slice(if i % 2 == 0 { b"\n" } else { b"\r\n" });
    }
    out
}

fn length_field_input() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..FRAMES {
        let p = payload(i);
        out.put_u32(p.len() as u32);
        out.extend_from_slice(&p);
    }
    out
}

fn delimiter_input() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..FRAMES {
        out.extend_from_slice(&payload(i));
        out.push(b',');
    }
    out
}

/// Decodes `input` to the end with `decode`, checking the frame count.
macro_rules! bench_decoder {
    ($group:expr, $name:expr, $input:expr, $make:expr, $decode:path) => {
        $group.bench_function($name, |b| {
            b.iter_batched(
                || (BytesMut::from(&$input[..]), $make),
                |(mut buf, mut codec)| {
                    let mut frames = 0;
                    while let Some(frame) = $decode(&mut codec, &mut buf).unwrap() {
                        black_box(frame);
                        frames += 1;
                    }
                    assert_eq!(frames, FRAMES);
                },
                BatchSize::LargeInput,
            )
        });
    };
}

fn lines(c: &mut Criterion) {
    let input = lines_input();
    let mut group = c.benchmark_group("lines");
    group.throughput(Throughput::Elements(FRAMES as u64));
    bench_decoder!(
        group,
        "runtime-codec",
        input,
        runtime_codec::LinesCodec::with_max_length(MAX_LENGTH),
        runtime_codec::Decoder::decode
    );
    bench_decoder!(
        group,
        "tokio-util",
        input,
        tokio_util::codec::LinesCodec::new_with_max_length(MAX_LENGTH),
        tokio_util::codec::Decoder::decode
    );
    group.finish();
}

fn length_field(c: &mut Criterion) {
    let input = length_field_input();
    let mut group = c.benchmark_group("length_field");
    group.throughput(Throughput::Elements(FRAMES as u64));
    bench_decoder!(
        group,
        "runtime-codec",
        input,
        runtime_codec::LengthFieldCodec::new(),
        runtime_codec::Decoder::decode
    );
    bench_decoder!(
        group,
        "tokio-util",
        input,
        tokio_util::codec::LengthDelimitedCodec::new(),
        tokio_util::codec::Decoder::decode
    );
    group.finish();
}

fn delimiter(c: &mut Criterion) {
    let input = delimiter_input();
    let mut group = c.benchmark_group("delimiter");
    group.throughput(Throughput::Elements(FRAMES as u64));
    bench_decoder!(
        group,
        "runtime-codec",
        input,
        runtime_codec::DelimiterCodec::with_max_length(",", MAX_LENGTH).unwrap(),
        runtime_codec::Decoder::decode
    );
    bench_decoder!(
        group,
        "tokio-util",
        input,
        tokio_util::codec::AnyDelimiterCodec::new_with_max_length(
            b",".to_vec(),
            b",".to_vec(),
            MAX_LENGTH
        ),
        tokio_util::codec::Decoder::decode
    );
    group.finish();
}

criterion_group!(benches, lines, length_field, delimiter);
criterion_main!(benches);
