//! Parsing speed on the sample digests: decode, repair check, front matter,
//! papers and tweet embeds, as `hotpapers check` does per file.
//!
//! `cargo bench --bench parse` reports MB/s (criterion's throughput).

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpapers::digest::{decode, digest_files, parse_bytes, repair};

fn sample_digests() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("digests");
    digest_files(&dir)
        .expect("digests/ is listed")
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("digest is read");
            (p, bytes)
        })
        .collect()
}

fn parse_corpus(c: &mut Criterion) {
    let files = sample_digests();
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function(format!("{} sample digests", files.len()), |b| {
        b.iter(|| {
            for (path, bytes) in &files {
                let parsed = parse_bytes(path, bytes).expect("sample parses");
                std::hint::black_box(parsed);
            }
        });
    });
    group.bench_function("decode and repair only", |b| {
        b.iter(|| {
            for (_, bytes) in &files {
                let (text, _) = decode(bytes).expect("sample is text");
                std::hint::black_box(repair(&text));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, parse_corpus);
criterion_main!(benches);
