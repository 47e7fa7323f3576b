//! Bounce classification speed: every message in `tests/fixtures/bounces/`,
//! or in `$BOUNCE_CORPUS` (a folder of `.eml` files, such as sisimai's
//! `set-of-emails/maildir/bsd`) when set.
//!
//! `cargo bench --bench bounces` reports messages per second (criterion's
//! element throughput).

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpapers::bounces::classify;

fn messages() -> Vec<Vec<u8>> {
    let dir = std::env::var_os("BOUNCE_CORPUS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bounces"),
        PathBuf::from,
    );
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the bounce folder is listed")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("message reads"))
        .collect()
}

fn classify_all(c: &mut Criterion) {
    let messages = messages();
    let mut group = c.benchmark_group("bounces");
    group.throughput(Throughput::Elements(
        u64::try_from(messages.len()).unwrap_or(u64::MAX),
    ));
    group.bench_function(format!("classify {} messages", messages.len()), |b| {
        b.iter(|| {
            for m in &messages {
                std::hint::black_box(classify(m));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, classify_all);
criterion_main!(benches);
