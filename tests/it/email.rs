//! The newsletter email: rendering (snapshots), personalization, the MIME
//! message and its headers parsed back with an independent parser
//! (mail-parser), header injection, strict templates, DKIM, and the
//! `preview` command.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use chrono::{DateTime, TimeZone, Utc};
use hotpapers::config::{Config, ConfigBuilder};
use hotpapers::delivery::{Mailer, MessageError, Outgoing, DKIM_SIGNED_HEADERS};
use hotpapers::email::{Edition, EmailError, Newsletter, SUBJECT_LIMIT};
use hotpapers::model::{Category, Digest, Subscriber};
use hotpapers::secret::TokenKey;
use hotpapers::token::Signer;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use mail_parser::{MessageParser, MimeHeaders};

use crate::support::{fixture, hotpapers, run};

const SECRET: &str = "a test secret that is long enough";

/// The default settings with a fixed secret and an https site
/// (List-Unsubscribe must carry an https URL), changed by `with`.
fn config(with: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Config {
    with(
        Config::builder()
            .secret(Some(SECRET))
            .site_url("https://hotpapers.example.org/"),
    )
    .build()
    .expect("valid settings")
}

fn try_newsletter(c: &Config) -> Result<Newsletter, EmailError> {
    Newsletter::new(&c.site, &c.mail, &c.secret, &c.templates)
}

fn newsletter(with: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Newsletter {
    try_newsletter(&config(with)).expect("templates load")
}

fn mailer(n: &Newsletter) -> Result<Mailer, MessageError> {
    Mailer::new(&n.site().title, n.mail(), &TokenKey::new(Some(SECRET)))
}

fn same(b: ConfigBuilder) -> ConfigBuilder {
    b
}

/// A sample digest from the corpus (16 papers).
fn digest(day: &str) -> Digest {
    let path = fixture(&format!("corpus/{day}---Hot-Papers.md"));
    hotpapers::digest::read_digest(&path)
        .expect("fixture parses")
        .digest
}

fn sent_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 3, 20, 7, 30, 0).unwrap()
}

fn reader() -> Subscriber {
    let mut s = Subscriber::new("ada@example.org");
    s.name = Some("Ada Lovelace".to_owned());
    s
}

/// What the reader Ada gets of `d`'s edition (she gets one).
fn ada_copy(n: &Newsletter, d: &Digest) -> hotpapers::email::RenderedEmail {
    n.edition(d)
        .expect("the edition renders")
        .render_for(&reader())
        .expect("her copy renders")
        .expect("her filter keeps papers")
}

/// The message side of an edition (`delivery::Mailer` around the renderer's
/// letters), as `send` builds it.
trait Messages {
    fn message_for(
        &self,
        s: &Subscriber,
        date: DateTime<Utc>,
    ) -> Result<Option<Outgoing>, MessageError>;
    fn message_id(&self, s: &Subscriber) -> String;
}

impl Messages for Edition<'_> {
    fn message_for(
        &self,
        s: &Subscriber,
        date: DateTime<Utc>,
    ) -> Result<Option<Outgoing>, MessageError> {
        let mailer = mailer(self.newsletter())?;
        let messages = mailer.edition(self);
        messages.message_for(s, date)
    }

    fn message_id(&self, s: &Subscriber) -> String {
        let mailer = mailer(self.newsletter()).expect("mailer loads");
        mailer.message_id(self.digest().date, &s.email)
    }
}

/// The confirmation message as `serve` builds it.
fn confirmation(
    n: &Newsletter,
    email: &str,
    url: &str,
    date: DateTime<Utc>,
) -> Result<Outgoing, MessageError> {
    let rendered = n.render_confirmation(email, url)?;
    mailer(n)?.confirmation(email, &rendered, date)
}

/// The formatted message for one subscriber.
fn formatted(n: &Newsletter, d: &Digest, s: &Subscriber) -> Vec<u8> {
    n.edition(d)
        .unwrap()
        .message_for(s, sent_at())
        .unwrap()
        .expect("the subscriber gets an email")
        .bytes
}

/// The header block of a formatted message, as text.
fn header_block(raw: &[u8]) -> String {
    let text = String::from_utf8(raw.to_vec()).expect("messages are 7-bit");
    text.split("\r\n\r\n").next().unwrap().to_owned()
}

/// The header names, in order, of a header block (continuation lines joined).
fn header_names(block: &str) -> Vec<String> {
    block
        .split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(|l| l.split(':').next().unwrap().to_owned())
        .collect()
}

#[test]
fn text_part_of_the_sample_digest_matches_the_snapshot() {
    let n = newsletter(same);
    let r = ada_copy(&n, &digest("2021-03-19"));
    insta::assert_snapshot!("email_2021-03-19.txt", r.text);
}

#[test]
fn html_part_of_the_sample_digest_matches_the_snapshot() {
    let n = newsletter(same);
    let r = ada_copy(&n, &digest("2021-03-19"));
    insta::assert_snapshot!("email_2021-03-19.html", r.html);
}

#[test]
fn message_headers_match_the_snapshot() {
    let n = newsletter(|b| b.reply_to(Some("Editors <editors@hotpapers.example.org>")));
    let raw = formatted(&n, &digest("2021-03-19"), &reader());
    insta::assert_snapshot!("email_2021-03-19.headers", header_block(&raw));
}

#[test]
fn message_parses_back_with_every_list_header() {
    let n = newsletter(|b| b.reply_to(Some("Editors <editors@hotpapers.example.org>")));
    let d = digest("2021-03-19");
    let raw = formatted(&n, &d, &reader());
    let m = MessageParser::default().parse(&raw).expect("parses");

    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Hot Papers"));
    assert_eq!(from.address(), Some("digest@hotpapers.example.org"));
    let to = m.to().unwrap().first().unwrap();
    assert_eq!(to.name(), Some("Ada Lovelace"));
    assert_eq!(to.address(), Some("ada@example.org"));
    assert_eq!(
        m.reply_to().unwrap().first().unwrap().address(),
        Some("editors@hotpapers.example.org")
    );
    let top = d.top_paper().unwrap();
    let subject = m.subject().unwrap();
    assert!(subject.starts_with("Hot Papers 2021-03-19: "), "{subject}");
    assert!(subject.chars().count() <= SUBJECT_LIMIT);
    assert!(top.title.starts_with(
        subject
            .trim_start_matches("Hot Papers 2021-03-19: ")
            .trim_end_matches('…')
    ));
    assert_eq!(
        m.date().unwrap().to_timestamp(),
        sent_at().timestamp(),
        "Date is the time passed in"
    );
    let edition = n.edition(&d).unwrap();
    assert_eq!(
        format!("<{}>", m.message_id().unwrap()),
        edition.message_id(&reader())
    );

    assert_eq!(
        m.header_raw("List-Id").unwrap().trim(),
        "\"Hot Papers\" <hot-papers.hotpapers.example.org>"
    );
    let unsubscribe = n.unsubscribe_url("ada@example.org");
    let list_unsubscribe: String = m
        .header_raw("List-Unsubscribe")
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // The mailto is the reader's own: unsubscribe+TOKEN@, verified on receipt.
    let mailto = mailer(&n).unwrap().unsubscribe_mailto("ada@example.org");
    assert!(
        mailto.starts_with("unsubscribe+") && mailto.ends_with("@hotpapers.example.org"),
        "{mailto}"
    );
    assert_eq!(
        list_unsubscribe,
        format!("<{unsubscribe}>, <mailto:{mailto}?subject=unsubscribe>")
    );
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").unwrap().trim(),
        "List-Unsubscribe=One-Click"
    );

    // multipart/alternative with the text part first, then the HTML part.
    let root = m.root_part();
    let ct = root.content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative"))
    );
    let kinds: Vec<String> = root
        .sub_parts()
        .unwrap()
        .iter()
        .map(|&i| {
            let ct = m.parts[i as usize].content_type().unwrap();
            format!(
                "{}/{}; charset={}",
                ct.ctype(),
                ct.subtype().unwrap_or(""),
                ct.attribute("charset").unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        ["text/plain; charset=utf-8", "text/html; charset=utf-8"]
    );
    let r = edition.render_for(&reader()).unwrap().unwrap();
    assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n"), r.text);
    assert_eq!(m.body_html(0).unwrap().replace("\r\n", "\n"), r.html);
}

#[test]
fn unsubscribe_link_carries_a_token_that_verifies_to_the_reader() {
    let n = newsletter(same);
    let url = n.unsubscribe_url("Ada@Example.org");
    let token = url
        .strip_prefix("https://hotpapers.example.org/unsubscribe?token=")
        .expect("SITE_URL/unsubscribe?token=…");
    let signer = Signer::new(SECRET.as_bytes());
    assert_eq!(signer.verify_unsubscribe(token).unwrap(), "ada@example.org");
    assert!(Signer::new(b"another secret entirely")
        .verify_unsubscribe(token)
        .is_err());
    // The link is in both parts of the email.
    let r = n
        .edition(&digest("2021-03-19"))
        .unwrap()
        .render_for(&Subscriber::new("Ada@Example.org"))
        .unwrap()
        .unwrap();
    assert!(r.text.contains(&url));
    assert!(r.html.contains(&format!("href=\"{url}\"")));
}

#[test]
fn message_id_is_stable_per_day_and_reader_and_unique_across_them() {
    let n = newsletter(same);
    let day1 = digest("2021-03-19");
    let day2 = digest("2021-02-19");
    let e1 = n.edition(&day1).unwrap();
    let id = e1.message_id(&reader());
    let re_hash = id
        .strip_prefix("<2021-03-19.")
        .and_then(|r| r.strip_suffix("@hotpapers.example.org>"))
        .expect("<YYYY-MM-DD.HASH@from-domain>");
    assert_eq!(re_hash.len(), 32);
    assert!(re_hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        !id.contains("ada"),
        "the id does not reveal the address: {id}"
    );
    // Stable: another edition of the same day, same reader (any case).
    assert_eq!(
        n.edition(&day1)
            .unwrap()
            .message_id(&Subscriber::new(" ADA@example.org ")),
        id
    );
    // Unique: another reader, another day.
    assert_ne!(e1.message_id(&Subscriber::new("bob@example.org")), id);
    assert_ne!(n.edition(&day2).unwrap().message_id(&reader()), id);
}

#[test]
fn same_input_gives_byte_identical_messages() {
    let n = newsletter(same);
    let d = digest("2021-03-19");
    assert_eq!(formatted(&n, &d, &reader()), formatted(&n, &d, &reader()));
    let other = newsletter(same);
    assert_eq!(
        formatted(&n, &d, &reader()),
        formatted(&other, &d, &reader())
    );
}

#[test]
fn long_subjects_are_shortened_at_a_word_to_78_characters() {
    let n = newsletter(same);
    let mut d = digest("2021-03-19");
    d.papers[0].title = "An extraordinarily long paper title that goes on and on about \
                         transformers, diffusion, and everything in between"
        .to_owned();
    let r = ada_copy(&n, &d);
    assert!(r.subject.chars().count() <= SUBJECT_LIMIT, "{}", r.subject);
    assert!(r.subject.ends_with('…'));
    let kept = r.subject.trim_end_matches('…');
    assert!(
        d.papers[0]
            .title
            .starts_with(kept.trim_start_matches("Hot Papers 2021-03-19: ")),
        "cut at a word: {kept}"
    );
    assert!(d.papers[0].title[kept.len() - "Hot Papers 2021-03-19: ".len()..].starts_with(' '));
    // A short one is kept whole.
    d.papers[0].title = "Short".to_owned();
    let r = ada_copy(&n, &d);
    assert_eq!(r.subject, "Hot Papers 2021-03-19: Short");
}

#[test]
fn subject_template_can_be_set_in_the_settings() {
    let n = newsletter(|b| b.subject(Some("{{paper_count}} papers on {{date}}")));
    let r = ada_copy(&n, &digest("2021-03-19"));
    assert_eq!(r.subject, "16 papers on 2021-03-19");
}

// ---------------------------------------------------------------- injection

#[test]
fn crlf_in_names_and_subjects_cannot_add_headers() {
    let n = newsletter(|b| b.subject(Some("Hot {{date}}\r\nBcc: subject@evil.example")));
    let mut d = digest("2021-03-19");
    d.papers[0].title = "Title\r\nBcc: title@evil.example\r\n\r\n<html>".to_owned();
    let mut eve = Subscriber::new("eve@example.org");
    eve.name = Some("Eve\r\nBcc: name@evil.example\nX-Evil: 1".to_owned());
    let raw = formatted(&n, &d, &eve);
    let block = header_block(&raw);
    let names = header_names(&block);
    assert!(
        !names
            .iter()
            .any(|h| h.eq_ignore_ascii_case("bcc") || h.eq_ignore_ascii_case("x-evil")),
        "{names:?}"
    );
    for line in block.split("\r\n") {
        assert!(line.is_ascii() && line.len() <= 998, "{line:?}");
        assert!(!line.contains('\r') && !line.contains('\n'));
    }
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject(),
        Some("Hot 2021-03-19 Bcc: subject@evil.example")
    );
    assert_eq!(
        m.to().unwrap().first().unwrap().name(),
        Some("Eve Bcc: name@evil.example X-Evil: 1")
    );
    assert_eq!(m.header_values("Bcc").count(), 0);
}

#[test]
fn an_address_with_crlf_or_spaces_is_refused() {
    let n = newsletter(same);
    let d = digest("2021-03-19");
    let e = n.edition(&d).unwrap();
    for bad in [
        "eve@example.org\r\nBcc: victim@example.org",
        "eve@example.org\nBcc: victim@example.org",
        "eve@example.org, victim@example.org",
        "Eve <eve@example.org>",
        "not an address",
    ] {
        let err = e.message_for(&Subscriber::new(bad), sent_at()).unwrap_err();
        assert!(
            matches!(err, MessageError::Address { .. }),
            "{bad:?}: {err}"
        );
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}

#[test]
fn non_ascii_names_subjects_and_titles_are_encoded_and_decode_back() {
    let n = newsletter(|b| b.title("Heiße Papiere"));
    let mut d = digest("2021-03-19");
    d.papers[0].title = "Über Graphen: 深層学習 — Ωmega".to_owned();
    let mut s = Subscriber::new("zoe@example.org");
    s.name = Some("Zoë Ålander, \"Dr.\" 山田".to_owned());
    let raw = formatted(&n, &d, &s);
    let block = header_block(&raw);
    assert!(block.is_ascii());
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject(),
        Some("Heiße Papiere 2021-03-19: Über Graphen: 深層学習 — Ωmega")
    );
    let to = m.to().unwrap().first().unwrap();
    assert_eq!(to.name(), Some("Zoë Ålander, \"Dr.\" 山田"));
    assert_eq!(to.address(), Some("zoe@example.org"));
    // A non-ASCII list name cannot go in a quoted phrase: only the id is kept.
    assert_eq!(
        m.header_raw("List-Id").unwrap().trim(),
        "<hei-e-papiere.hotpapers.example.org>"
    );
    assert!(m.body_text(0).unwrap().contains("Über Graphen: 深層学習"));
}

#[test]
fn html_from_the_digest_is_escaped_in_the_html_part() {
    let n = newsletter(same);
    let mut d = digest("2021-03-19");
    d.papers[0].title = "<script>alert(1)</script> & <b>bold</b>".to_owned();
    d.papers[0].abstract_text = "x<img src=x onerror=alert(1)>".to_owned();
    let r = ada_copy(&n, &d);
    assert!(!r.html.contains("<script"));
    assert!(!r.html.contains("<img"));
    assert!(r
        .html
        .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"));
    // The text part shows it as written.
    assert!(r.text.contains("<script>alert(1)</script> & <b>bold</b>"));
}

// --------------------------------------------------------- personalization

fn category(c: &str) -> Category {
    Category::parse(c).unwrap()
}

#[test]
fn a_category_filter_keeps_only_matching_papers_with_their_original_ranks() {
    let n = newsletter(same);
    let d = digest("2021-03-19");
    let wanted = category("cs.CV");
    let matching: Vec<_> = d
        .papers
        .iter()
        .filter(|p| p.categories.contains(&wanted))
        .collect();
    assert!(!matching.is_empty() && matching.len() < d.papers.len());
    let mut s = Subscriber::new("cv@example.org");
    s.categories = [wanted].into();
    let r = n.edition(&d).unwrap().render_for(&s).unwrap().unwrap();
    for p in &d.papers {
        let heading = format!("\n{}. {}", p.rank, first_words(&p.title));
        assert_eq!(
            r.text.contains(&heading),
            matching.iter().any(|m| m.rank == p.rank),
            "paper {} ({})",
            p.rank,
            p.title
        );
    }
    let hidden = d.papers.len() - matching.len();
    let note = format!("{hidden} more papers outside your categories");
    assert!(r.text.contains(&note), "{note}");
    assert!(r.html.contains(&note));
    // The subject names this reader's top paper.
    assert!(
        r.subject.contains(first_words(&matching[0].title)),
        "{}",
        r.subject
    );
}

/// The first few words of a title (the text part wraps long ones).
fn first_words(title: &str) -> &str {
    let end = title
        .char_indices()
        .filter(|&(_, c)| c == ' ')
        .nth(2)
        .map_or(title.len(), |(i, _)| i);
    &title[..end]
}

#[test]
fn max_papers_and_min_retweets_are_applied_and_reported() {
    let n = newsletter(same);
    let d = digest("2021-03-19");
    let min = d.papers[5].retweets;
    let popular = d.papers.iter().filter(|p| p.retweets >= min).count();
    let mut s = Subscriber::new("busy@example.org");
    s.max_papers = Some(2);
    s.min_retweets = Some(min);
    let r = n.edition(&d).unwrap().render_for(&s).unwrap().unwrap();
    let ranks: Vec<u32> = d
        .papers
        .iter()
        .filter(|p| {
            r.text
                .contains(&format!("\n{}. {}", p.rank, first_words(&p.title)))
        })
        .map(|p| p.rank)
        .collect();
    assert_eq!(ranks.len(), 2, "{ranks:?}");
    let flowing = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Counts are written one way everywhere: 2,068.
    let grouped = min
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(flowing.contains(&format!(
        "{} more papers under {grouped} retweets",
        d.papers.len() - popular
    )));
    assert!(flowing.contains(&format!(
        "{} more papers beyond your limit of 2",
        popular - 2
    )));
}

#[test]
fn a_filter_that_leaves_nothing_means_no_email() {
    let n = newsletter(same);
    let d = digest("2021-03-19");
    let absent = category("q-bio.NC");
    assert!(d.papers.iter().all(|p| !p.categories.contains(&absent)));
    let mut s = Subscriber::new("bio@example.org");
    s.categories = [absent].into();
    let e = n.edition(&d).unwrap();
    assert!(e.message_for(&s, sent_at()).unwrap().is_none());
    assert!(e.render_for(&s).unwrap().is_none());
    // So does a digest without papers, for everyone.
    let mut empty = d.clone();
    empty.papers.clear();
    assert!(n
        .edition(&empty)
        .unwrap()
        .message_for(&reader(), sent_at())
        .unwrap()
        .is_none());
}

#[test]
fn readers_sharing_a_filter_get_their_own_address_name_and_link() {
    let n = newsletter(same);
    let d = digest("2021-03-19");
    let e = n.edition(&d).unwrap();
    let mut bob = Subscriber::new("bob@example.org");
    bob.name = Some("Bob <&> Builder".to_owned());
    let a = e.render_for(&reader()).unwrap().unwrap();
    let b = e.render_for(&bob).unwrap().unwrap();
    // The greeting uses the first name; the full name stays in `To`.
    assert!(a.text.contains("Hi Ada,") && a.text.contains("ada@example.org"));
    assert!(b.text.contains("Hi Bob,") && b.text.contains("bob@example.org"));
    let mut tricky = Subscriber::new("t@example.org");
    tricky.name = Some("<&> Builder".to_owned());
    let t = e.render_for(&tricky).unwrap().unwrap();
    assert!(t.text.contains("Hi <&>,"), "{}", t.text);
    assert!(t.html.contains("Hi &lt;&amp;&gt;,"));
    let mut formal = Subscriber::new("f@example.org");
    formal.name = Some("Alan Turing".to_owned());
    formal.greeting_name = Some("Professor Turing".to_owned());
    let f = e.render_for(&formal).unwrap().unwrap();
    assert!(f.text.contains("Hi Professor Turing,"), "{}", f.text);
    assert!(!b.html.contains("ada@example.org") && !b.text.contains("ada@example.org"));
    assert!(b.html.contains(&n.unsubscribe_url("bob@example.org")));
    // No name: no greeting, and no placeholder left behind.
    let c = e
        .render_for(&Subscriber::new("c@example.org"))
        .unwrap()
        .unwrap();
    assert!(!c.text.contains("Hi "));
    for r in [&a, &b, &c] {
        assert!(!r.html.contains(['\u{E000}', '\u{E001}']));
        assert!(!r.text.contains(['\u{E000}', '\u{E001}']));
    }
}

// ------------------------------------------------------------- the content

#[test]
fn html_is_a_600px_table_layout_with_dark_mode_and_no_remote_content() {
    let n = newsletter(same);
    let r = ada_copy(&n, &digest("2021-03-19"));
    let html = &r.html;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<table role=\"presentation\""));
    assert!(
        html.contains("max-width: 600px"),
        "container inlined at 600px"
    );
    // The style block is kept for media queries only; the rest is inlined.
    let style = html
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .expect("a style block");
    assert!(style.contains("prefers-color-scheme: dark"));
    assert!(style.contains("max-width: 620px"));
    assert!(
        !style.contains(".abstract { margin"),
        "plain rules are inlined: {style}"
    );
    assert!(html.contains("<div class=\"preheader\" style=\"display: none;"));
    for banned in [
        "<script",
        "javascript:",
        "<img",
        "@import",
        "<link",
        "url(",
        "fonts.googleapis",
    ] {
        assert!(!html.contains(banned), "{banned}");
    }
    // The footer has the postal line, the feeds and the archive.
    for needle in [
        "Hot Papers, 1 Example Street",
        "https://hotpapers.example.org/2021-03-19/",
        "https://hotpapers.example.org/atom.xml",
        "https://hotpapers.example.org/rss.xml",
        "https://hotpapers.example.org/feed.json",
        "You get this email because ada@example.org subscribed",
    ] {
        assert!(html.contains(needle), "{needle}");
        assert!(r.text.contains(needle), "{needle}");
    }
}

#[test]
fn every_paper_shows_its_rank_links_authors_counts_abstract_and_tweet() {
    let n = newsletter(same);
    let d = digest("2021-03-19");
    let r = ada_copy(&n, &d);
    for p in &d.papers {
        let abs = p.canonical_url();
        assert!(r.html.contains(&format!("href=\"{abs}\"")), "{abs}");
        assert!(r.text.contains(&format!("Abstract: {abs}")));
        assert!(r
            .text
            .contains(&format!("PDF:      {}", p.arxiv_id.pdf_url())));
        assert!(r.html.contains(&format!(">{}</span>", p.rank)));
        if let Some(t) = p.lead_tweet() {
            assert!(
                r.html.contains(&t.url) && r.text.contains(&t.url),
                "{}",
                t.url
            );
        }
        if p.authors.len() > 5 {
            let short = format!("{} et al.", p.authors[..3].join(", "));
            assert!(r.text.contains(&short), "{short}");
        }
    }
}

#[test]
fn text_lines_fit_72_columns_except_unbreakable_urls() {
    let n = newsletter(same);
    for day in ["2021-03-19", "2021-02-19", "2020-06-29"] {
        let r = ada_copy(&n, &digest(day));
        for line in r.text.lines() {
            if line.chars().count() > 72 {
                let longest = line.split(' ').max_by_key(|w| w.chars().count()).unwrap();
                assert!(
                    longest.chars().count() > 72 - 2 || longest.contains("://"),
                    "{day}: {line:?}"
                );
            }
        }
    }
}

// --------------------------------------------------------------- templates

#[test]
fn a_misspelled_variable_is_a_start_up_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let html = try_newsletter(&config(same))
        .map(|_| std::fs::read_to_string("templates/email.html.hbs").unwrap())
        .unwrap();
    let broken = html.replacen("{{date_long}}", "{{date_lnog}}", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("date_lnog"))
        .unwrap()
        + 1;
    std::fs::write(dir.path().join("email.html.hbs"), broken).unwrap();
    let err = try_newsletter(&config(|b| b.templates(dir.path())))
        .unwrap_err()
        .to_string();
    let file = dir.path().join("email.html.hbs");
    assert!(
        err.starts_with(&format!("{}:{line}:", file.display())),
        "{err}"
    );
    assert!(err.contains("unknown variable `date_lnog`"), "{err}");
}

#[test]
fn a_misspelled_variable_in_a_partial_names_the_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("partials")).unwrap();
    std::fs::write(
        dir.path().join("partials/paper.txt.hbs"),
        "{{rank}}. {{title}}\n{{autors_short}}\n",
    )
    .unwrap();
    let err = try_newsletter(&config(|b| b.templates(dir.path())))
        .unwrap_err()
        .to_string();
    let file = dir.path().join("partials/paper.txt.hbs");
    assert!(err.starts_with(&format!("{}:2:", file.display())), "{err}");
    assert!(err.contains("autors_short"), "{err}");
}

#[test]
fn a_template_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("email.txt.hbs"),
        "{{title}}\n\n{{#each papers}}\n{{title}}\n",
    )
    .unwrap();
    let err = try_newsletter(&config(|b| b.templates(dir.path()))).unwrap_err();
    let EmailError::Template { file, line, .. } = &err else {
        panic!("expected a template error, got {err}");
    };
    assert_eq!(Path::new(file), dir.path().join("email.txt.hbs"));
    assert!(line.is_some(), "{err}");
}

#[test]
fn templates_are_overridden_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("email.subject.hbs"),
        "Today: {{top_paper.title}} and {{paper_count}} papers",
    )
    .unwrap();
    // Another project's templates in the same folder are left alone.
    std::fs::write(dir.path().join("index.html.tera"), "{{ nonsense").unwrap();
    let n = newsletter(|b| b.templates(dir.path()));
    let d = digest("2021-03-19");
    let r = ada_copy(&n, &d);
    assert!(r.subject.starts_with("Today: "), "{}", r.subject);
    let default = newsletter(|b| b.templates("/nonexistent/templates"));
    let r0 = default
        .edition(&d)
        .unwrap()
        .render_for(&reader())
        .unwrap()
        .unwrap();
    assert_eq!(r.html, r0.html, "the HTML is still the built-in one");
    assert_eq!(r.text, r0.text);
}

// ------------------------------------------------------------ confirmation

#[test]
fn confirmation_email_has_one_link_and_says_why() {
    let n = newsletter(same);
    let url = "https://hotpapers.example.org/confirm?token=abc.def";
    let m = confirmation(&n, "new@example.org", url, sent_at())
        .unwrap()
        .bytes;
    let p = MessageParser::default().parse(&m).unwrap();
    assert_eq!(p.subject(), Some("Confirm your subscription to Hot Papers"));
    assert_eq!(
        p.to().unwrap().first().unwrap().address(),
        Some("new@example.org")
    );
    assert!(p.message_id().unwrap().ends_with("@hotpapers.example.org"));
    assert!(
        p.header_raw("List-Unsubscribe").is_none(),
        "not a list message"
    );
    let text = p.body_text(0).unwrap();
    let html = p.body_html(0).unwrap();
    assert!(text.contains(url) && html.contains(url));
    assert!(text.contains("If you did not ask for this, ignore this email"));
    assert_eq!(
        html.matches("href=\"https://hotpapers.example.org/confirm")
            .count(),
        1
    );
    assert!(confirmation(&n, "bad\r\nBcc: x@example.org", url, sent_at()).is_err());
}

// -------------------------------------------------------------------- DKIM

/// The three private keys, the algorithm each signs with, and the public key
/// a receiver would find in DNS for it.
const DKIM_KEYS: [(&str, &str, &str); 3] = [
    ("test-rsa.pem", "rsa-sha256", "test-rsa.pub.pem"),
    ("test-rsa-pkcs1.pem", "rsa-sha256", "test-rsa.pub.pem"),
    ("test-ed25519.pem", "ed25519-sha256", "test-ed25519.pub.pem"),
];

/// The sample message signed with `tests/fixtures/dkim/{key}`.
fn dkim_signed_message(key: &str) -> Vec<u8> {
    let n = newsletter(|b| {
        b.dkim_key(Some(fixture(&format!("dkim/{key}"))))
            .dkim_selector("test2021")
    });
    formatted(&n, &digest("2021-03-19"), &reader())
}

fn dkim_signature(key: &str) -> String {
    let raw = dkim_signed_message(key);
    let unfolded = header_block(&raw)
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    unfolded
        .split("\r\n")
        .find(|l| l.starts_with("DKIM-Signature:"))
        .expect("signed")
        .to_owned()
}

fn tag<'a>(sig: &'a str, name: &str) -> &'a str {
    sig.trim_start_matches("DKIM-Signature:")
        .split(';')
        .map(str::trim)
        .find_map(|t| t.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {sig}"))
}

/// DNS TXT records held in memory. mail-auth asks its cache before the
/// resolver (and, built with its `test` feature, never goes to the network),
/// so the verifier finds the test keys without DNS.
#[derive(Default)]
struct DnsRecords(Mutex<HashMap<String, Txt>>);

impl ResolverCache<String, Txt> for DnsRecords {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }

    fn insert(&self, key: String, value: Txt, _valid_until: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// The DKIM key record for a public key file, as the operator would publish
/// it: `p=` is the `SubjectPublicKeyInfo` for RSA (RFC 6376 §3.6.1) and the
/// bare 32-byte key for Ed25519 (RFC 8463 §4).
fn dkim_key_record(public_pem: &str) -> String {
    let pem = std::fs::read_to_string(fixture(&format!("dkim/{public_pem}"))).unwrap();
    let spki: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    if public_pem.contains("ed25519") {
        let der = STANDARD.decode(&spki).unwrap();
        let key = STANDARD.encode(&der[der.len() - 32..]);
        format!("v=DKIM1; k=ed25519; p={key}")
    } else {
        format!("v=DKIM1; k=rsa; p={spki}")
    }
}

/// What an independent verifier (mail-auth, Stalwart's) says of the one
/// DKIM signature of `raw`, with `public_pem` published for `test2021` at
/// hotpapers.example.org.
fn dkim_verdict(raw: &[u8], public_pem: &str) -> DkimResult {
    let records = DnsRecords::default();
    let record = DomainKey::parse(dkim_key_record(public_pem).as_bytes()).expect("record parses");
    records.insert(
        "test2021._domainkey.hotpapers.example.org.".to_owned(),
        record.into(),
        Instant::now() + std::time::Duration::from_hours(1),
    );
    let message = AuthenticatedMessage::parse(raw).expect("the message parses");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let verifier = MessageAuthenticator::new_cloudflare().unwrap();
        let outputs = verifier
            .verify_dkim(Parameters::new(&message).with_txt_cache(&records))
            .await;
        assert_eq!(outputs.len(), 1, "one DKIM-Signature");
        outputs[0].result().clone()
    })
}

/// `raw` with `from` replaced by `to` once, in the header block only.
fn edit_headers(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(headers.contains(from), "`{from}` in\n{headers}");
    format!("{}\r\n\r\n{body}", headers.replacen(from, to, 1)).into_bytes()
}

/// `raw` with `from` replaced by `to` once, in the body only.
fn edit_body(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(body.contains(from), "`{from}` in the body");
    format!("{headers}\r\n\r\n{}", body.replacen(from, to, 1)).into_bytes()
}

#[test]
fn dkim_signature_covers_the_list_headers_with_relaxed_canonicalization() {
    let expected = DKIM_SIGNED_HEADERS
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        expected,
        "from:subject:to:date:message-id:list-unsubscribe:list-unsubscribe-post:list-id:\
         content-type:mime-version"
    );
    for (key, algorithm, public) in DKIM_KEYS {
        let sig = dkim_signature(key);
        assert_eq!(tag(&sig, "a"), algorithm, "{key}");
        assert_eq!(tag(&sig, "c"), "relaxed/relaxed");
        assert_eq!(tag(&sig, "d"), "hotpapers.example.org");
        assert_eq!(tag(&sig, "s"), "test2021");
        assert_eq!(tag(&sig, "h").replace(' ', ""), expected);
        assert_eq!(tag(&sig, "t"), sent_at().timestamp().to_string());
        assert!(tag(&sig, "b").len() > 40);

        let raw = dkim_signed_message(key);
        assert_eq!(dkim_verdict(&raw, public), DkimResult::Pass, "{key}");
        // Relaxed canonicalization (RFC 6376 §3.4.2, §3.4.4): header-name
        // case, spaces around the colon and trailing spaces on body lines
        // are not part of what is signed.
        let relaxed = edit_headers(&raw, "\r\nSubject: Hot", "\r\nSUBJECT:   Hot");
        let relaxed = edit_body(&relaxed, "\r\n", " \t\r\n");
        assert_eq!(dkim_verdict(&relaxed, public), DkimResult::Pass, "{key}");
    }
}

/// Each header in `h=` is covered: changing the one-click unsubscribe target
/// or the List-Id breaks the signature, and so does one byte of the body.
#[test]
fn a_dkim_signed_message_changed_in_a_signed_header_or_its_body_fails_verification() {
    for (key, _, public) in DKIM_KEYS {
        let raw = dkim_signed_message(key);
        let tampered = [
            (
                "List-Unsubscribe",
                edit_headers(
                    &raw,
                    "@hotpapers.example.org?subject=unsubscribe>",
                    "@elsewhere.example.net?subject=unsubscribe>",
                ),
            ),
            (
                "List-Id",
                edit_headers(&raw, "<hot-papers.hotpapers", "<cold-papers.hotpapers"),
            ),
            (
                "To",
                edit_headers(&raw, "<ada@example.org>", "<eve@example.org>"),
            ),
            (
                "one body byte",
                edit_body(&raw, "Requirement", "Requirememt"),
            ),
        ];
        for (what, message) in tampered {
            let verdict = dkim_verdict(&message, public);
            // mail-auth reports a body that no longer matches `bh=` as
            // neutral, a header hash that fails the signature as fail.
            let expected = if what == "one body byte" {
                DkimResult::Neutral(mail_auth::Error::FailedBodyHashMatch)
            } else {
                DkimResult::Fail(mail_auth::Error::FailedVerification)
            };
            assert_eq!(verdict, expected, "{key}, {what} changed");
        }
        let other_key = if public.contains("ed25519") {
            "test-rsa.pub.pem"
        } else {
            "test-ed25519.pub.pem"
        };
        assert_ne!(
            dkim_verdict(&raw, other_key),
            DkimResult::Pass,
            "{key} checked against another key"
        );
    }
}

/// The message signed with `key`, from a newsletter changed by `with`.
fn dkim_signed_with(
    key: &str,
    with: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    reader: &Subscriber,
) -> Vec<u8> {
    let n = newsletter(|b| {
        with(
            b.dkim_key(Some(fixture(&format!("dkim/{key}"))))
                .dkim_selector("test2021"),
        )
    });
    formatted(&n, &digest("2021-03-19"), reader)
}

/// Issue #13: our own signer hashes the headers as they are written out, so
/// `Content-Type` (folded by lettre before its boundary) and `MIME-Version`
/// are signed, and changing the boundary breaks the signature.
#[test]
fn issue_13_content_type_is_signed_and_a_changed_boundary_fails() {
    for (key, _, public) in DKIM_KEYS {
        let raw = dkim_signed_message(key);
        let block = header_block(&raw);
        assert!(
            block.contains("Content-Type: multipart/alternative;\r\n boundary="),
            "Content-Type is folded on the wire:\n{block}"
        );
        let h = tag(&dkim_signature(key), "h").replace(' ', "");
        assert!(h.ends_with(":content-type:mime-version"), "{h}");
        assert_eq!(dkim_verdict(&raw, public), DkimResult::Pass, "{key}");
        let changed = edit_headers(&raw, "boundary=\"=_hotpapers_", "boundary=\"=_hotpaperz_");
        assert_eq!(
            dkim_verdict(&changed, public),
            DkimResult::Fail(mail_auth::Error::FailedVerification),
            "{key}"
        );
        let changed = edit_headers(&raw, "MIME-Version: 1.0", "MIME-Version: 1.1");
        assert_eq!(
            dkim_verdict(&changed, public),
            DkimResult::Fail(mail_auth::Error::FailedVerification),
            "{key}"
        );
    }
}

/// A long non-ASCII subject goes out as folded encoded words, a long site
/// URL and address make a folded List-Unsubscribe, a display name needs
/// encoding too: every signed header is hashed as written, and verifies.
#[test]
fn issue_13_folded_encoded_subject_and_long_list_unsubscribe_verify() {
    let long_site = format!("https://{}.example.org/", "newsletters".repeat(12));
    let mut reader = Subscriber::new(format!(
        "{}@example.org",
        "a.very.long.local.part".repeat(2)
    ));
    reader.name = Some("Zoë Ångström-Müller".to_owned());
    for (key, _, public) in DKIM_KEYS {
        let raw = dkim_signed_with(
            key,
            |b| {
                b.title("Heiße Papiere über Ängste und Übermut")
                    .subject(Some(
                        "Heiße Papiere {{date}}: Überraschend lange Betreffzeile für Ünïcödé-Leser",
                    ))
                    .site_url(&long_site)
            },
            &reader,
        );
        let block = header_block(&raw);
        let subject = block
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Subject:"))
            .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
            .collect::<Vec<_>>();
        assert!(subject.len() > 1, "the subject is folded: {subject:?}");
        assert!(
            subject[0].contains("=?utf-8?") || subject[0].contains("=?UTF-8?"),
            "{subject:?}"
        );
        let unsubscribe = block
            .split("\r\n")
            .skip_while(|l| !l.starts_with("List-Unsubscribe:"))
            .take_while(|l| l.starts_with("List-Unsubscribe:") || l.starts_with(' '))
            .map(str::len)
            .sum::<usize>();
        assert!(
            unsubscribe > 300,
            "a long List-Unsubscribe ({unsubscribe} octets)"
        );
        assert_eq!(dkim_verdict(&raw, public), DkimResult::Pass, "{key}");
        let changed = edit_headers(&raw, "=?utf-8?", "=?UTF-8?");
        assert_ne!(dkim_verdict(&changed, public), DkimResult::Pass, "{key}");
    }
}

/// RFC 6376 §3.5: the signature header stays readable on the wire: every
/// line of it within 78 columns, `b=` last.
#[test]
fn the_dkim_signature_header_is_folded_to_78_columns() {
    for (key, _, _) in DKIM_KEYS {
        let block = header_block(&dkim_signed_message(key));
        let lines: Vec<&str> = block
            .split("\r\n")
            .skip_while(|l| !l.starts_with("DKIM-Signature:"))
            .take_while(|l| l.starts_with("DKIM-Signature:") || l.starts_with(' '))
            .collect();
        assert!(lines.len() > 3, "{lines:?}");
        for line in &lines {
            assert!(line.len() <= 78, "{} columns: {line}", line.len());
        }
        assert!(block.starts_with("DKIM-Signature:"), "signature first");
        let sig = dkim_signature(key);
        let last_tag = sig.rsplit(';').next().unwrap().trim();
        assert!(last_tag.starts_with("b="), "{last_tag}");
    }
}

/// Same input, same bytes: RSA PKCS#1 v1.5 and Ed25519 are deterministic and
/// `t=` is the message's Date, not the clock.
#[test]
fn dkim_signed_messages_are_byte_for_byte_reproducible() {
    for (key, _, _) in DKIM_KEYS {
        assert_eq!(dkim_signed_message(key), dkim_signed_message(key), "{key}");
    }
}

/// The confirmation message has no list headers: they are not in `h=`
/// (not oversigned), and the signature verifies.
#[test]
fn a_signed_confirmation_lists_only_the_headers_it_has_and_verifies() {
    for (key, _, public) in DKIM_KEYS {
        let n = newsletter(|b| {
            b.dkim_key(Some(fixture(&format!("dkim/{key}"))))
                .dkim_selector("test2021")
        });
        let raw = confirmation(
            &n,
            "new@example.org",
            "https://hotpapers.example.org/confirm?token=abc.def",
            sent_at(),
        )
        .unwrap()
        .bytes;
        let unfolded = header_block(&raw).replace("\r\n ", " ");
        let sig = unfolded
            .split("\r\n")
            .find(|l| l.starts_with("DKIM-Signature:"))
            .unwrap();
        assert_eq!(
            tag(sig, "h").replace(' ', ""),
            "from:subject:to:date:message-id:content-type:mime-version"
        );
        assert_eq!(dkim_verdict(&raw, public), DkimResult::Pass, "{key}");
    }
}

#[test]
fn an_unusable_dkim_key_is_refused_at_start_up() {
    let c = config(same);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = Mailer::new(
        &c.site.title,
        &config(|b| b.dkim_key(Some(bad.as_path()))).mail,
        &c.secret,
    )
    .unwrap_err();
    assert!(matches!(err, MessageError::BadKey { .. }), "{err}");
    let missing = dir.path().join("missing.pem");
    let err = Mailer::new(
        &c.site.title,
        &config(|b| b.dkim_key(Some(missing.as_path()))).mail,
        &c.secret,
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("cannot read DKIM key"), "{err}");
    let public = fixture("dkim/test-rsa.pub.pem");
    let err = Mailer::new(
        &c.site.title,
        &config(|b| b.dkim_key(Some(public.as_path()))).mail,
        &c.secret,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unsupported PEM block"), "{err}");
}

// ----------------------------------------------------------------- preview

#[test]
fn preview_writes_eml_html_and_txt_and_prints_their_paths() {
    let out = tempfile::tempdir().unwrap();
    let (o, stdout, stderr) = run(hotpapers()
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .env("HOTPAPERS_SITE_URL", "https://hotpapers.example.org/")
        .args(["preview", "--date", "2021-03-19", "--out"])
        .arg(out.path()));
    assert!(o.status.success(), "{stderr}");
    let paths: Vec<&str> = stdout.lines().collect();
    let expected: Vec<String> = ["eml", "html", "txt"]
        .iter()
        .map(|e| {
            out.path()
                .join(format!("2021-03-19.{e}"))
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(paths, expected);
    let eml = std::fs::read(&expected[0]).unwrap();
    let html = std::fs::read_to_string(&expected[1]).unwrap();
    let txt = std::fs::read_to_string(&expected[2]).unwrap();
    let m = MessageParser::default().parse(&eml).unwrap();
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("reader@example.org"),
        "an unfiltered example reader"
    );
    assert_eq!(m.body_html(0).unwrap().replace("\r\n", "\n"), html);
    assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n"), txt);
    assert!(txt.contains("16 papers"));
}

#[test]
fn preview_renders_for_a_subscriber_from_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("subscribers.yaml");
    std::fs::write(
        &list,
        "- email: someone@example.org\n- email: CV@Example.org\n  name: Vision Fan\n  categories: [cs.CV]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (o, _, stderr) = run(hotpapers()
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .env("HOTPAPERS_SUBSCRIBERS", &list)
        .args([
            "preview",
            "--date",
            "2021-03-19",
            "--subscriber",
            "cv@example.org",
            "--out",
        ])
        .arg(&out));
    assert!(o.status.success(), "{stderr}");
    let txt = std::fs::read_to_string(out.join("2021-03-19.txt")).unwrap();
    assert!(txt.contains("Hi Vision,"));
    assert!(txt.contains("more papers outside your categories"));
    let (o, _, stderr) = run(hotpapers()
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .env("HOTPAPERS_SUBSCRIBERS", &list)
        .args([
            "preview",
            "--date",
            "2021-03-19",
            "--subscriber",
            "nobody@example.org",
            "--out",
        ])
        .arg(&out));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("no subscriber `nobody@example.org`"),
        "{stderr}"
    );
}

#[test]
fn preview_of_a_day_without_digest_says_so() {
    let out = tempfile::tempdir().unwrap();
    let (o, _, stderr) = run(hotpapers()
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .args(["preview", "--date", "1999-01-01", "--out"])
        .arg(out.path()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr.contains("no digest for 1999-01-01"), "{stderr}");
    let (o, _, stderr) = run(hotpapers()
        .env("HOTPAPERS_DIGESTS", fixture("corpus"))
        .args(["preview", "--date", "2020-12-07", "--out"])
        .arg(out.path()));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("the digest of 2020-12-07 has no papers"),
        "{stderr}"
    );
    // A date that is no date is a usage error, found by the command line.
    let (o, _, stderr) = run(hotpapers().args(["preview", "--date", "2021-13-01"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr.contains("invalid date `2021-13-01`"), "{stderr}");
}

/// Audit finding 12: a 10,000-paper digest made a 41.6 MB message.
#[test]
fn one_email_holds_at_most_max_papers_and_says_how_many_more_are_on_the_site() {
    let mut d = digest("2021-03-19");
    let one_day = d.papers.clone();
    d.papers = (0..40)
        .flat_map(|_| one_day.iter().cloned())
        .enumerate()
        .map(|(i, mut p)| {
            p.rank = i as u32 + 1;
            p
        })
        .collect();
    let total = d.papers.len();
    assert!(total > 600);
    let links = |max: usize| {
        let n = newsletter(|b| b.max_papers(max));
        let r = ada_copy(&n, &d);
        r.text.matches("https://arxiv.org/abs/").count()
    };
    assert_eq!(links(25), 25 * links(1), "25 papers, each with its links");
    let n = newsletter(|b| b.max_papers(25usize));
    let r = ada_copy(&n, &d);
    let more = total - 25;
    assert!(
        r.text.contains(&format!(
            "{more} more papers beyond this email's limit of 25"
        )),
        "{}",
        &r.text[r.text.len() - 1500..]
    );
    let bytes = formatted(&n, &d, &reader());
    assert!(bytes.len() < 400_000, "{} bytes", bytes.len());
    // A reader's own lower limit is theirs, and said so.
    let mut own = reader();
    own.max_papers = Some(3);
    let r = n.edition(&d).unwrap().render_for(&own).unwrap().unwrap();
    assert!(r.text.contains("beyond your limit of 3"), "{}", r.text);
}

/// w3m, the text-mode browser mutt and neomutt show HTML mail with; `None`
/// (the test is skipped) without it, unless `HOTPAPERS_TEST_W3M=require`.
fn w3m() -> Option<&'static str> {
    let found = std::process::Command::new("w3m")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required = std::env::var("HOTPAPERS_TEST_W3M").is_ok_and(|v| v == "require");
        assert!(
            !required,
            "HOTPAPERS_TEST_W3M=require, but w3m is not installed"
        );
        eprintln!("skipped: needs w3m (Debian's `w3m`)");
    }
    found.then_some("w3m")
}

#[test]
fn in_w3m_the_html_part_opens_with_a_sentence_and_shows_no_markup_or_css() {
    let Some(w3m) = w3m() else { return };
    let n = newsletter(same);
    let d = digest("2021-03-19");
    let r = ada_copy(&n, &d);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("email.html");
    std::fs::write(&file, &r.html).unwrap();
    let o = std::process::Command::new(w3m)
        .args(["-dump", "-cols", "80", "-T", "text/html", "-O", "UTF-8"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success());
    let shown = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = shown
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // The preheader, which w3m does not hide, reads as the opening sentence.
    let opening = lines
        .iter()
        .take_while(|l| !l.starts_with("Hot Papers"))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        opening.starts_with("Today’s top papers: “Requirement Engineering"),
        "{shown}"
    );
    assert!(
        opening.ends_with('.') || opening.ends_with('…'),
        "{opening}"
    );
    // Then the newsletter as written: greeting, papers, footer.
    assert!(
        lines.iter().any(|l| l.starts_with("Hi Ada, here is")),
        "{shown}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Requirement Engineering Challenges")),
        "{shown}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Unsubscribe with one click")),
        "{shown}"
    );
    // No style sheet, conditional comment or entity leaks into the text.
    for noise in [
        "{", "}", "@media", "[if mso]", "&nbsp;", "&middot;", "\u{e000}",
    ] {
        assert!(!shown.contains(noise), "{noise:?} in:\n{shown}");
    }
}
