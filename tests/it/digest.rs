//! The digest format, as a specification: what every part of a digest file
//! becomes in the model, how mis-transcoded text is repaired, and the error
//! every kind of broken file gets.

use std::path::Path;

use encoding_rs::MACINTOSH;
use hotpapers::digest::{self, load_archive, parse_bytes, read_digest, Repair};

use crate::support::{fixture, hotpapers, run};

fn parse(rel: &str) -> digest::ParsedDigest {
    read_digest(&fixture(rel)).unwrap_or_else(|e| panic!("{rel} should parse: {e}"))
}

fn error(rel: &str) -> String {
    match read_digest(&fixture(rel)) {
        Ok(_) => panic!("{rel} should be rejected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_sample_digest_parses_with_complete_papers() {
    let archive = load_archive(&fixture("corpus")).unwrap();
    assert!(archive.problems.is_empty(), "{:?}", archive.problems);
    assert_eq!(
        archive.len(),
        31,
        "README.md is not a digest; 31 digests are"
    );
    let empty: Vec<String> = archive
        .iter()
        .filter(|d| d.papers.is_empty())
        .map(|d| d.date.to_string())
        .collect();
    assert_eq!(empty, ["2020-12-07"], "a day may have no papers");
    for d in archive.iter() {
        assert_eq!(d.title, format!("Hot Papers {}", d.date));
        for (i, p) in d.papers.iter().enumerate() {
            assert_eq!(p.rank as usize, i + 1, "{} ranks run 1..n", d.date);
            assert!(!p.title.contains("  "), "whitespace runs are collapsed");
            assert!(!p.authors.is_empty());
            assert!(p.abs_url.starts_with("https://arxiv.org/abs/"));
            assert!(!p.categories.is_empty());
            for t in &p.tweets {
                assert!(t.url.starts_with("https://twitter.com/"), "{}", t.url);
                assert!(!t.url.contains('?'), "query string dropped: {}", t.url);
                assert!(!t.html.contains("<script"));
            }
        }
    }
}

#[test]
fn a_paper_block_becomes_a_typed_paper() {
    let d = parse("valid/minimal.md").digest;
    assert_eq!(d.date.to_string(), "2021-03-01");
    assert_eq!(d.published.to_rfc3339(), "2021-03-02T08:00:00+00:00");
    assert_eq!(d.slug, "hot-papers-2021-03-01");
    assert_eq!(d.tags, ["arXiv"]);
    let p = &d.papers[0];
    assert_eq!(p.rank, 1);
    assert_eq!(
        p.title, "A Paper on $SU(N)$ & Friends",
        "TeX and & stay text"
    );
    assert_eq!(p.authors, ["Ada Lovelace", "Alan Turing"]);
    assert_eq!((p.retweets, p.favorites), (12, 34));
    assert_eq!(p.counted_at.to_string(), "2021-03-02 08:00:00");
    assert_eq!(p.arxiv_id.as_str(), "2103.00001");
    assert_eq!(
        p.pdf_url.as_deref(),
        Some("https://arxiv.org/pdf/2103.00001")
    );
    let cats: Vec<&str> = p
        .categories
        .iter()
        .map(hotpapers::model::Category::as_str)
        .collect();
    assert_eq!(cats, ["cs.LG", "hep-th"]);
    assert_eq!(p.abstract_text, "We study things. They are interesting.");
    let t = &p.tweets[0];
    assert_eq!((t.author.as_str(), t.handle.as_str()), ("Ada", "ada"));
    assert_eq!(t.url, "https://twitter.com/ada/status/1");
    assert_eq!(t.date.map(|d| d.to_string()).as_deref(), Some("2021-03-01"));
    assert_eq!(t.lang, "en");
    assert_eq!(t.text, "Our new paper! https://t.co/abc");
    assert!(
        t.html.contains(r#"<a href="https://t.co/abc""#),
        "{}",
        t.html
    );
    assert!(d.papers[1].tweets.is_empty());
}

#[test]
fn optional_parts_may_be_missing() {
    assert!(parse("valid/no-papers.md").digest.papers.is_empty());
    assert_eq!(
        parse("valid/no-abstract.md").digest.papers[0].abstract_text,
        ""
    );
    let range = parse("valid/title-range.md").digest;
    assert_eq!(range.date.to_string(), "2021-03-01");
    assert_eq!(
        range.end_date.map(|d| d.to_string()).as_deref(),
        Some("2021-03-03")
    );
}

#[test]
fn crlf_line_endings_parse_like_lf() {
    let crlf = parse("valid/crlf.md").digest;
    let lf = parse("valid/minimal.md").digest;
    assert_eq!(crlf.papers[0], lf.papers[0]);
}

#[test]
fn clean_japanese_and_accented_text_is_left_unchanged() {
    let parsed = parse("valid/japanese.md");
    assert_eq!(parsed.repair, None);
    let p = &parsed.digest.papers[0];
    assert_eq!(p.authors[0], "Chloê Ondřej");
    assert!(p.tweets[0]
        .text
        .starts_with("論文を公開しました 🎉 Chloê と Ondřej"));
}

/// The seeds are UTF-8 text that was read as Mac Roman and written back as
/// UTF-8. Undoing that by hand (encode as Mac Roman, decode as UTF-8) gives
/// the clean text, which must parse to exactly the model the seed gives.
#[test]
fn both_seeds_parse_to_the_model_of_their_clean_text() {
    for seed in [
        "seeds/000_e99aa3bcad17db41.txt",
        "seeds/002_2f325d8e96180e1b.txt",
    ] {
        let garbled = std::fs::read_to_string(fixture(seed)).unwrap();
        let (bytes, _, unmappable) = MACINTOSH.encode(&garbled);
        assert!(!unmappable, "{seed} is entirely Mac Roman mojibake");
        let clean = String::from_utf8(bytes.into_owned()).expect("round trip gives UTF-8");
        assert!(!clean.is_ascii(), "{seed} has non-ASCII text");

        let from_seed = parse(seed);
        assert_eq!(from_seed.repair, Some(Repair::MacRoman), "{seed}");
        let from_clean = parse_bytes(Path::new(seed), clean.as_bytes()).unwrap();
        assert_eq!(from_clean.repair, None, "clean text is never repaired");
        assert_eq!(from_seed.digest, from_clean.digest, "{seed}");
    }
}

#[test]
fn text_that_is_not_utf8_is_read_as_windows_1252() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let latin = text.replace("Ada Lovelace", "Chlo\u{ea} Lovelace");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&latin);
    let parsed = parse_bytes(Path::new("latin.md"), &bytes).unwrap();
    assert_eq!(parsed.repair, Some(Repair::DecodedWindows1252));
    assert_eq!(parsed.digest.papers[0].authors[0], "Chloê Lovelace");
}

#[test]
fn every_broken_file_gets_file_line_and_what_was_expected() {
    let cases = [
        ("invalid/empty.md", 1, "the file is empty"),
        (
            "invalid/missing-front-matter.md",
            1,
            "expected front matter",
        ),
        ("invalid/unclosed-front-matter.md", 1, "never closed"),
        ("invalid/bad-yaml.md", 10, "expected YAML front matter"),
        ("invalid/impossible-date.md", 3, "expected `date:`"),
        (
            "invalid/count-not-a-number.md",
            20,
            "expected a whole number of retweets, found `twelve`",
        ),
        ("invalid/missing-abs-link.md", 22, "expected an `[abs]"),
        (
            "invalid/truncated-paper.md",
            36,
            "the file ends inside paper 2",
        ),
        (
            "invalid/binary.md",
            3,
            "expected a text file, found binary data",
        ),
    ];
    for (rel, line, expected) in cases {
        let message = error(rel);
        let prefix = format!("{}:{line}: ", fixture(rel).display());
        assert!(message.starts_with(&prefix), "{rel}: got `{message}`");
        assert!(message.contains(expected), "{rel}: got `{message}`");
    }
}

/// Refused from its size alone, before it is read: the error points at line 1.
#[test]
fn a_twenty_megabyte_file_is_rejected_by_its_size_not_swallowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2021-03-01.md");
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let huge = text.replace("We study things.", &"x".repeat(20 << 20));
    std::fs::write(&path, huge).unwrap();
    let message = read_digest(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}:", path.display())),
        "{message}"
    );
    assert!(
        message.contains("expected a digest of at most"),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("{}:1: the file is ", path.display())),
        "{message}"
    );
}

/// The abstract line of `valid/minimal.md` (line 25) grown to `len` bytes.
fn minimal_with_abstract_line_of(len: usize) -> String {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let line = "We study things. They are interesting.";
    assert!(text.contains(&format!("\n{line}\n")));
    text.replace(line, &format!("{line}{}", "x".repeat(len - line.len())))
}

/// Lines are limited apart from files: a file well under 16 MiB with one
/// line over 1 MiB is refused at that line's <FILE:LINE>; a line of exactly
/// 1 MiB is not.
#[test]
fn a_line_over_one_mebibyte_in_a_small_file_is_rejected_at_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2021-03-01.md");
    std::fs::write(&path, minimal_with_abstract_line_of((1 << 20) + 1)).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < digest::MAX_FILE_BYTES / 8);
    let message = read_digest(&path).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:25: line is 1048577 bytes long: digest lines are at most 1048576 bytes",
            path.display()
        )
    );

    std::fs::write(&path, minimal_with_abstract_line_of(1 << 20)).unwrap();
    let parsed = read_digest(&path).unwrap_or_else(|e| panic!("a 1 MiB line is allowed: {e}"));
    assert_eq!(parsed.digest.papers[0].abstract_text.len(), 1 << 20);
}

#[test]
fn a_line_over_a_megabyte_is_rejected_with_its_number() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let big = text.replace("We study things.", &"word ".repeat(1 << 20));
    let message = parse_bytes(Path::new("big.md"), big.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("big.md:25: line is"), "{message}");
}

#[test]
fn a_long_abstract_under_the_line_limit_is_parsed() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let big = text.replace("We study things.", &"word ".repeat(150_000));
    let parsed = parse_bytes(Path::new("big.md"), big.as_bytes()).unwrap();
    assert!(parsed.digest.papers[0].abstract_text.len() > 700_000);
}

#[test]
fn hostile_tweets_are_neutralized() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let hostile = text.replace(
        "Our new paper! <a href=\"https://t.co/abc\">https://t.co/abc</a>",
        "Hi<script>alert(1)</script><img src=x onerror=alert(2)> <a href=\"javascript:alert(3)\">click</a>",
    );
    let t = parse_bytes(Path::new("h.md"), hostile.as_bytes())
        .unwrap()
        .digest
        .papers[0]
        .tweets[0]
        .clone();
    for bad in ["<script", "alert(1)", "onerror", "javascript:", "<img"] {
        assert!(!t.html.contains(bad), "{bad} in {}", t.html);
    }
    assert!(t.text.starts_with("Hi"), "{}", t.text);
}

#[test]
fn archive_indexes_by_day_and_reports_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("corpus/2021-02-05---Hot-Papers.md");
    std::fs::copy(&src, dir.path().join("2021-02-05---Hot-Papers.md")).unwrap();
    std::fs::copy(&src, dir.path().join("2021-02-05.md")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a digest").unwrap();
    let draft = std::fs::read_to_string(fixture("valid/minimal.md"))
        .unwrap()
        .replace("draft: false", "draft: true");
    std::fs::write(dir.path().join("2021-03-01.md"), draft).unwrap();

    let archive = load_archive(dir.path()).unwrap();
    assert_eq!(archive.len(), 1);
    assert!(archive.get("2021-02-05".parse().unwrap()).is_some());
    assert_eq!(archive.drafts.len(), 1, "drafts are kept apart");
    assert_eq!(archive.problems.len(), 1);
    assert!(archive.problems[0]
        .to_string()
        .contains("duplicate digest for 2021-02-05"));
}

#[test]
fn parse_json_has_the_documented_fields() {
    let (out, stdout, stderr) = run(hotpapers()
        .args(["parse", "--json"])
        .arg(fixture("valid/minimal.md")));
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in [
        "title",
        "date",
        "published",
        "slug",
        "draft",
        "tags",
        "papers",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["date"], "2021-03-01");
    let paper = &v["papers"][1];
    for key in [
        "rank",
        "title",
        "authors",
        "retweets",
        "favorites",
        "counted_at",
        "arxiv_id",
        "abs_url",
        "pdf_url",
        "categories",
        "abstract",
        "tweets",
    ] {
        assert!(paper.get(key).is_some(), "missing paper.{key}");
    }
    let tweet = &v["papers"][0]["tweets"][0];
    for key in ["author", "handle", "url", "date", "lang", "text", "html"] {
        assert!(tweet.get(key).is_some(), "missing tweet.{key}");
    }
}

#[test]
fn check_reports_every_file_and_fails_on_a_broken_one() {
    let (out, stdout, _) = run(hotpapers().arg("check").arg(fixture("corpus")));
    assert!(out.status.success());
    assert!(
        stdout.contains("31 digests ok, 0 drafts, 0 failed"),
        "{stdout}"
    );

    let (out, stdout, _) = run(hotpapers().arg("check").arg(fixture("invalid")));
    assert!(!out.status.success());
    for name in ["empty.md", "bad-yaml.md", "truncated-paper.md", "binary.md"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(name) && l.contains("error:")),
            "{name} not reported in:\n{stdout}"
        );
    }
}

#[test]
fn seeds_are_reported_as_repaired() {
    let (out, _, stderr) = run(hotpapers()
        .arg("parse")
        .arg(fixture("seeds/000_e99aa3bcad17db41.txt")));
    assert!(out.status.success());
    assert!(stderr.contains("Mac Roman"), "a repair is logged: {stderr}");
}

#[test]
fn parsed_digests_match_their_snapshots() {
    for rel in ["valid/minimal.md", "corpus/2020-06-29---Hot-Papers.md"] {
        let name = rel.replace('/', "__");
        insta::assert_json_snapshot!(name, parse(rel).digest);
    }
}

/// Inputs the fuzzer once crashed on (`tests/fixtures/fuzz/`) now end in a
/// model or an error with a line number.
#[test]
fn inputs_found_by_fuzzing_give_errors_not_panics() {
    let dir = fixture("fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Err(e) = parse_bytes(&path, &bytes) {
            assert!(e.line().is_some_and(|l| l >= 1), "{e}");
        }
        seen += 1;
    }
    assert!(seen >= 1);
}

/// Audit finding 3: characters XML forbids (`&#x1;` in a tweet, `\0` in a
/// YAML string, a raw U+FFFE) and, in titles and names, bidirectional
/// overrides, never reach the model: each is removed with a warning naming
/// its line. A URL holding one is an error.
#[test]
fn characters_xml_forbids_are_removed_by_the_parser_with_a_warning_per_line() {
    let rel = "hostile/forbidden-characters/2021-04-05.md";
    let parsed = parse(rel);
    let d = &parsed.digest;
    let p = &d.papers[0];
    let t = &p.tweets[0];
    let mut texts: Vec<&str> = vec![&d.title, &d.slug, &p.title, &p.abstract_text];
    texts.extend(d.template.as_deref());
    texts.extend(d.category.as_deref());
    texts.extend(d.description.as_deref());
    texts.extend(d.tags.iter().map(String::as_str));
    texts.extend(p.authors.iter().map(String::as_str));
    texts.extend([
        t.author.as_str(),
        t.handle.as_str(),
        t.lang.as_str(),
        t.text.as_str(),
        t.html.as_str(),
        t.url.as_str(),
    ]);
    for text in texts {
        assert!(!text.chars().any(hotpapers::text::is_forbidden), "{text:?}");
        assert!(
            text == t.text || !text.chars().any(hotpapers::text::is_bidi_control),
            "{text:?}"
        );
    }
    assert_eq!(d.title, "Hot Papers 2021-04-05 elif");
    assert_eq!(d.slug, "hot-papers-2021-04-05");
    assert_eq!(d.tags, ["arXiv", "bidi"]);
    assert_eq!(
        p.title, "Raw noncharacters and abc in a title",
        "a raw U+FFFE and U+202E are gone, the words stay"
    );
    assert_eq!(p.authors[1], "Eve some name");
    assert_eq!(t.author, "Evil evE");
    assert_eq!(t.handle, "eve");
    assert_eq!(t.lang, "en");
    assert!(t.text.starts_with("Bad \u{FFFD}"), "{:?}", t.text);
    assert!(
        t.html.contains(
            "<a href=\"https://t.co/ok\" rel=\"nofollow noopener noreferrer\">a link</a>"
        ),
        "{}",
        t.html.as_str()
    );
    let warned = |line: usize, what: &str| {
        parsed
            .warnings
            .iter()
            .any(|w| w.line == line && w.message.contains(what))
    };
    assert!(
        warned(2, "removed U+0001, U+0000 from the title"),
        "{:?}",
        parsed.warnings
    );
    assert!(warned(
        2,
        "removed the bidirectional control U+202E, U+202C from the title"
    ));
    assert!(warned(17, "removed U+FFFE from the title of paper 1"));
    assert!(warned(26, "from the abstract of paper 1"));
    assert!(warned(28, "from the text of a tweet of paper 1"));

    let message = error("invalid/link-with-control-character.md");
    let prefix = format!(
        "{}:22: ",
        fixture("invalid/link-with-control-character.md").display()
    );
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.contains("`pdf` link, found one holding U+0001"),
        "{message}"
    );
}

/// Audit finding 11: `socialImage` becomes `og:image`, so only an http(s)
/// URL or a path on the site is kept; `javascript:` and the like are left
/// out with a warning.
#[test]
fn a_social_image_that_is_not_http_or_a_path_is_dropped_with_a_warning() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    for (value, kept) in [
        ("\"/media/flying-marine.jpg\"", true),
        ("\"https://cdn.example.org/a.png\"", true),
        ("\"javascript:alert(1)\"", false),
        ("\" JaVaScRiPt:alert(1)\"", false),
        ("\"java\\tscript:alert(1)\"", false),
        ("\"data:image/png;base64,AAAA\"", false),
        ("\"//evil.example/a.png\"", false),
        ("\"/a\\u0001.png\"", false),
    ] {
        let doc = text.replace("\"/media/flying-marine.jpg\"", value);
        let (digest, warnings) = digest::parse_digest(Path::new("2021-03-01.md"), &doc).unwrap();
        assert_eq!(digest.social_image.is_some(), kept, "{value}");
        if !kept {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.line == 11 && w.message.contains("`socialImage` is ignored")),
                "{value}: {warnings:?}"
            );
        }
    }
}

/// Audit finding 4: nesting deep enough to matter ends in an error or a
/// model, quickly; 100,000 `[` in the front matter took the YAML scanner
/// 45 s before it failed.
#[test]
fn deep_nesting_in_the_front_matter_is_refused_quickly_with_its_line() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    for deep in [
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("{}1{}", "{a: ".repeat(100_000), "}".repeat(100_000)),
    ] {
        let doc = text.replace("socialImage:", &format!("extra: {deep}\nsocialImage:"));
        let started = std::time::Instant::now();
        let e = digest::parse_digest(Path::new("2021-03-01.md"), &doc).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(e.line(), Some(11), "{e}");
        assert!(e.to_string().contains("nest more than 1000 levels"), "{e}");
    }
    let nested = text.replace(
        "socialImage:",
        &format!(
            "extra: {}{}\nsocialImage:",
            "[".repeat(200),
            "]".repeat(200)
        ),
    );
    let e = digest::parse_digest(Path::new("2021-03-01.md"), &nested).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
}

/// Audit finding 11: the bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069) flip what a reader sees around them; no
/// title, name or piece of metadata of the model keeps one.
#[test]
fn bidi_overrides_are_stripped_from_titles_names_and_metadata() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
        let doc = text
            .replace("title: Hot Papers", &format!("title: Hot{c} Papers"))
            .replace("Ada Lovelace", &format!("Ada {c}ecalevoL"))
            .replace("Friends", &format!("Friends{c}fdp.exe"))
            .replace("Ada (@ada)", &format!("{c}Ada (@ada{c})"))
            .replace("\"Hot papers 2021-03-01\"", &format!("\"Hot{c} papers\""))
            .replace("  - \"arXiv\"", &format!("  - \"arXiv{c}\""));
        let (d, warnings) = digest::parse_digest(Path::new("2021-03-01.md"), &doc).unwrap();
        let p = &d.papers[0];
        assert_eq!(d.title, "Hot Papers 2021-03-01");
        assert_eq!(p.title, "A Paper on $SU(N)$ & Friendsfdp.exe");
        assert_eq!(p.authors[0], "Ada ecalevoL");
        assert_eq!(p.tweets[0].author, "Ada");
        assert_eq!(p.tweets[0].handle, "ada");
        assert_eq!(d.description.as_deref(), Some("Hot papers"));
        assert_eq!(d.tags, ["arXiv"]);
        assert!(
            warnings
                .iter()
                .any(|w| w.line == 2 && w.message.contains("bidirectional control")),
            "{warnings:?}"
        );
    }
}
