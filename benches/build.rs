//! Build speed: what `hotpapers build` does — read and parse every digest of
//! the archive, then render every feed from the latest ones — on the sample
//! digests and on a synthetic archive of 3,000 digests made from the samples
//! with shifted dates.
//!
//! `cargo bench --bench build`; `RAYON_NUM_THREADS=1 cargo bench --bench build`
//! for one core. File writing is left out (it only writes changed files), and
//! so are the archive pages `build` also renders (the `site` module).

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Days, NaiveDate};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpapers::config::{Config, SiteSettings};
use hotpapers::digest::{digest_files, load_archive};
use hotpapers::feed;

const SYNTHETIC_DIGESTS: usize = 3_000;

fn config() -> SiteSettings {
    Config::builder()
        .build()
        .expect("default settings are valid")
        .site
}

fn samples() -> Vec<(NaiveDate, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("digests");
    digest_files(&dir)
        .expect("digests/ is listed")
        .into_iter()
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.get(..10)?.to_owned();
            let day = NaiveDate::parse_from_str(&stem, "%Y-%m-%d").ok()?;
            Some((day, std::fs::read(&p).expect("sample is read")))
        })
        .collect()
}

/// Writes `n` digests into `dir`: the samples in turn, each moved to a new
/// day (its day replaced in the title, slug and file name, its front matter
/// `date` the morning after).
fn synthetic_archive(dir: &Path, n: usize) -> u64 {
    let samples = samples();
    let start = NaiveDate::from_ymd_opt(2015, 1, 1).expect("valid day");
    let mut bytes = 0;
    for i in 0..n {
        let (old_day, text) = &samples[i % samples.len()];
        let day = start + Days::new(i as u64);
        let mut out = replace(
            text,
            old_day.to_string().as_bytes(),
            day.to_string().as_bytes(),
        );
        out = replace_date_line(&out, &format!("date: {}T08:00:00.Z", day + Days::new(1)));
        bytes += out.len() as u64;
        std::fs::write(dir.join(format!("{day}.md")), out).expect("synthetic digest is written");
    }
    bytes
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Replaces the first front matter line starting with `date:`.
fn replace_date_line(text: &[u8], line: &str) -> Vec<u8> {
    let Some(start) = text.windows(6).position(|w| w == b"\ndate:") else {
        return text.to_vec();
    };
    let end = text[start + 1..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |p| start + 1 + p);
    let mut out = text[..=start].to_vec();
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(&text[end..]);
    out
}

fn build(dir: &Path, config: &SiteSettings) -> usize {
    let archive = load_archive(dir).expect("archive is listed");
    let latest = archive.latest(config.feed_limit);
    let files = feed::build(&latest, config).expect("feeds render");
    assert!(
        archive.problems.is_empty(),
        "{:?}",
        archive.problems.first()
    );
    files.len()
}

fn bench_build(c: &mut Criterion) {
    let config = config();
    let sample_dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("digests");
    let sample_bytes: u64 = digest_files(&sample_dir)
        .expect("digests/ is listed")
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();

    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(sample_bytes));
    group.bench_function("sample digests (parse + render)", |b| {
        b.iter(|| build(&sample_dir, &config));
    });

    let archive = load_archive(&sample_dir).expect("digests/ is listed");
    let latest = archive.latest(config.feed_limit);
    group.bench_function("sample digests (render only)", |b| {
        b.iter(|| feed::build(&latest, &config).expect("feeds render"));
    });

    let synthetic = tempfile::tempdir().expect("temporary folder");
    let synthetic_bytes = synthetic_archive(synthetic.path(), SYNTHETIC_DIGESTS);
    group.throughput(Throughput::Bytes(synthetic_bytes));
    group.measurement_time(Duration::from_secs(30));
    group.bench_function(
        format!("{SYNTHETIC_DIGESTS} digests (parse + render)"),
        |b| {
            b.iter(|| build(synthetic.path(), &config));
        },
    );
    group.finish();
}

criterion_group!(benches, bench_build);
criterion_main!(benches);
