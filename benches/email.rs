//! Personalized emails per second on one core, for a 16-paper digest: what
//! `send` asks of the renderer. Each iteration starts a fresh edition (so the
//! per-filter rendering and CSS inlining are paid, once per distinct filter)
//! and builds the complete message for 1,000 subscribers with 8 distinct
//! filters, including `formatted()` (the bytes the transport sends).
//!
//! `cargo bench --bench email` reports elements (emails) per second.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::path::Path;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpapers::config::Config;
use hotpapers::delivery::Mailer;
use hotpapers::email::Newsletter;
use hotpapers::model::{Category, Subscriber};

const SUBSCRIBERS: usize = 1000;

fn config(dkim_key: Option<&Path>) -> Config {
    Config::builder()
        .secret(Some("a benchmark secret, long enough"))
        .site_url("https://hotpapers.example.org/")
        .dkim_key(dkim_key)
        .build()
        .expect("valid settings")
}

/// 1,000 readers: names on half of them, 8 distinct filters.
fn subscribers() -> Vec<Subscriber> {
    let filters: [(&[&str], Option<usize>, Option<u64>); 8] = [
        (&[], None, None),
        (&["cs.CV"], None, None),
        (&["cs.LG"], None, None),
        (&["cs.CL", "cs.AI"], None, None),
        (&[], Some(5), None),
        (&[], None, Some(100)),
        (&["cs.LG", "stat.ML"], Some(8), None),
        (&["cs.CV", "eess.IV"], None, Some(20)),
    ];
    (0..SUBSCRIBERS)
        .map(|i| {
            let (cats, max, min) = filters[i % filters.len()];
            let mut s = Subscriber::new(format!("reader{i}@example.org"));
            if i % 2 == 0 {
                s.name = Some(format!("Reader Number {i}"));
            }
            s.categories = cats.iter().map(|c| Category::parse(c).unwrap()).collect();
            s.max_papers = max;
            s.min_retweets = min;
            s
        })
        .collect()
}

fn render(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples/2021-02-12.md");
    let digest = hotpapers::digest::read_digest(&path)
        .expect("sample parses")
        .digest;
    assert_eq!(digest.papers.len(), 16);
    let readers = subscribers();
    let date = Utc.with_ymd_and_hms(2021, 2, 13, 7, 0, 0).unwrap();
    let mut group = c.benchmark_group("email");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.sample_size(20);
    let c = config(None);
    let newsletter =
        Newsletter::new(&c.site, &c.mail, &c.secret, &c.templates).expect("templates load");
    let mailer = Mailer::new(&c.site.title, &c.mail, &c.secret).expect("mailer loads");
    group.bench_function("1000 personalized messages, 8 filters, 16 papers", |b| {
        b.iter(|| {
            let edition = newsletter.edition(&digest).unwrap();
            let messages = mailer.edition(&edition);
            let mut bytes = 0;
            for s in &readers {
                if let Some(m) = messages.message_for(s, date).unwrap() {
                    bytes += m.bytes.len();
                }
            }
            std::hint::black_box(bytes)
        });
    });
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim/test-ed25519.pem");
    let signed_config = config(Some(&key));
    let signed = Mailer::new(&c.site.title, &signed_config.mail, &c.secret).expect("key loads");
    group.bench_function("same, DKIM-signed (Ed25519)", |b| {
        b.iter(|| {
            let edition = newsletter.edition(&digest).unwrap();
            let messages = signed.edition(&edition);
            let mut bytes = 0;
            for s in &readers {
                if let Some(m) = messages.message_for(s, date).unwrap() {
                    bytes += m.bytes.len();
                }
            }
            std::hint::black_box(bytes)
        });
    });
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
