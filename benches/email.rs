//! Personalized emails per second on one core, for a 16-paper digest: what
//! `send` asks of the renderer. Each iteration starts a fresh edition (so the
//! per-filter rendering and CSS inlining are paid, once per distinct filter)
//! and builds the complete message for 1,000 subscribers with 8 distinct
//! filters, including `formatted()` (the bytes the transport sends).
//!
//! `cargo bench --bench email` reports elements (emails) per second.
//!
//! The `dkim` group is the signing cost of one finished message (the
//! 2021-02-12 edition, about 75 KB) on its own: our signer (aws-lc-rs) with
//! RSA-2048 and Ed25519, and lettre's (the `rsa` and `ed25519-dalek` crates,
//! which hotpapers used before) on a message of the same size, so the two
//! are measured in the same run.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::path::Path;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpapers::config::Config;
use hotpapers::delivery::{DkimSigner, Mailer};
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

/// Signing one finished message, ours against lettre's.
fn sign(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples/2021-02-12.md");
    let digest = hotpapers::digest::read_digest(&path)
        .expect("sample parses")
        .digest;
    let date = Utc.with_ymd_and_hms(2021, 2, 13, 7, 0, 0).unwrap();
    let conf = config(None);
    let newsletter =
        Newsletter::new(&conf.site, &conf.mail, &conf.secret, &conf.templates).expect("templates");
    let mailer = Mailer::new(&conf.site.title, &conf.mail, &conf.secret).expect("mailer loads");
    let edition = newsletter.edition(&digest).unwrap();
    let mut reader = Subscriber::new("reader@example.org");
    reader.name = Some("Reader".to_owned());
    let message = mailer
        .edition(&edition)
        .message_for(&reader, date)
        .unwrap()
        .expect("a message")
        .bytes;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim");
    let mut group = c.benchmark_group("dkim");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    for (name, key) in [
        ("RSA-2048", "test-rsa.pem"),
        ("Ed25519", "test-ed25519.pem"),
    ] {
        let signer = DkimSigner::load(&fixtures.join(key), "bench", "example.org").unwrap();
        group.bench_function(format!("ours (aws-lc-rs), {name}, one message"), |b| {
            b.iter(|| std::hint::black_box(signer.sign(&message, date.timestamp())));
        });
    }

    // lettre signs its own `Message`: one of the same size, signed afresh
    // each time (the clone is made outside the timing).
    let body_start = message.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let lettre_message = lettre::Message::builder()
        .from("Hot Papers <digest@example.org>".parse().unwrap())
        .to("Reader <reader@example.org>".parse().unwrap())
        .subject("Hot Papers 2021-02-12")
        .singlepart(
            lettre::message::SinglePart::builder()
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(lettre::message::Body::dangerous_pre_encoded(
                    message[body_start..].to_vec(),
                    lettre::message::header::ContentTransferEncoding::QuotedPrintable,
                )),
        )
        .unwrap();
    let rsa_pem = std::fs::read_to_string(fixtures.join("test-rsa-pkcs1.pem")).unwrap();
    let ed25519_seed = {
        // The last 32 bytes of the PKCS#8 document are the seed.
        use base64::Engine as _;
        let pem = std::fs::read_to_string(fixtures.join("test-ed25519.pem")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(&der[der.len() - 32..])
    };
    for (name, key, algorithm) in [
        (
            "RSA-2048",
            rsa_pem.as_str(),
            lettre::message::dkim::DkimSigningAlgorithm::Rsa,
        ),
        (
            "Ed25519",
            ed25519_seed.as_str(),
            lettre::message::dkim::DkimSigningAlgorithm::Ed25519,
        ),
    ] {
        let key = lettre::message::dkim::DkimSigningKey::new(key, algorithm).unwrap();
        let config = lettre::message::dkim::DkimConfig::default_config(
            "bench".to_owned(),
            "example.org".to_owned(),
            key,
        );
        group.bench_function(
            format!("lettre (rsa, ed25519-dalek), {name}, one message"),
            |b| {
                b.iter_batched(
                    || lettre_message.clone(),
                    |mut m| {
                        m.sign(&config);
                        std::hint::black_box(m)
                    },
                    criterion::BatchSize::SmallInput,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(benches, render, sign);
criterion_main!(benches);
