//! The limits the decoders are measured against, on the same 1 MiB payloads: a plain copy
//! (memcpy), a plain byte-wise XOR loop, wsmachine's masking alone, and UTF-8 validation alone
//! (std's `from_utf8` and simdutf8).

mod common;

use std::hint::black_box;

use common::MIB;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn baselines(c: &mut Criterion) {
    let binary = common::binary(MIB, 7);
    let mixed = common::mixed_text(MIB, 7).into_bytes();
    let ascii = common::ascii_text(MIB, 7).into_bytes();
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut dst = vec![0u8; MIB];

    let mut group = c.benchmark_group("baseline_1mib");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&binary));
            black_box(&dst);
        })
    });
    group.bench_function("xor_loop", |b| {
        b.iter(|| {
            for (i, byte) in black_box(&mut dst[..]).iter_mut().enumerate() {
                *byte ^= key[i & 3];
            }
            black_box(&dst);
        })
    });
    group.bench_function("wsmachine_apply_mask", |b| {
        b.iter(|| {
            wsmachine::mask::apply_mask(black_box(&mut dst[..]), key, 0);
            black_box(&dst);
        })
    });
    group.bench_function("wsmachine_copy_masked", |b| {
        b.iter(|| {
            wsmachine::mask::copy_masked(&mut dst[..], black_box(&binary), key, 0);
            black_box(&dst);
        })
    });
    group.bench_function("std_from_utf8_mixed", |b| {
        b.iter(|| core::str::from_utf8(black_box(&mixed)).is_ok())
    });
    group.bench_function("simdutf8_mixed", |b| {
        b.iter(|| simdutf8::basic::from_utf8(black_box(&mixed)).is_ok())
    });
    group.bench_function("std_from_utf8_ascii", |b| {
        b.iter(|| core::str::from_utf8(black_box(&ascii)).is_ok())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = baselines
}
criterion_main!(benches);
