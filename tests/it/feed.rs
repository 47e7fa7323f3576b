//! The feeds, as a specification: what `hotpapers build` writes, read back
//! with the same crates a reader would use (`atom_syndication`, rss,
//! `serde_json`), on a small hand-made archive, on a hostile digest and on the
//! sample corpus.

use std::collections::BTreeMap;
use std::path::Path;

use atom_syndication::Feed;
use hotpapers::config::{Config, SiteSettings};
use hotpapers::digest::load_archive;
use hotpapers::feed;
use hotpapers::model::Digest;
use serde_json::Value;

use crate::support::{fixture, hotpapers, run};

const SITE: &str = "https://hotpapers.example.org/";

/// The published digests of a fixture folder.
fn digests(rel: &str) -> Vec<Digest> {
    let archive = load_archive(&fixture(rel)).expect("fixture folder is listed");
    assert!(archive.problems.is_empty(), "{:?}", archive.problems);
    archive.iter().cloned().collect()
}

/// Every file `feed::build` renders, by path.
fn build(digests: &[Digest], config: &SiteSettings) -> BTreeMap<String, Vec<u8>> {
    feed::build(digests, config)
        .expect("feeds render")
        .into_iter()
        .map(|f| (f.path, f.bytes))
        .collect()
}

fn text<'a>(files: &'a BTreeMap<String, Vec<u8>>, path: &str) -> &'a str {
    std::str::from_utf8(files.get(path).unwrap_or_else(|| panic!("{path} is built")))
        .expect("feeds are UTF-8")
}

fn atom(files: &BTreeMap<String, Vec<u8>>, path: &str) -> Feed {
    text(files, path)
        .parse::<Feed>()
        .unwrap_or_else(|e| panic!("{path} is Atom: {e}"))
}

fn rss(files: &BTreeMap<String, Vec<u8>>) -> rss::Channel {
    text(files, "rss.xml").parse().expect("rss.xml is RSS")
}

fn json(files: &BTreeMap<String, Vec<u8>>) -> Value {
    serde_json::from_slice(&files["feed.json"]).expect("feed.json is JSON")
}

fn site() -> SiteSettings {
    Config::builder().site_url(SITE).build().unwrap().site
}

#[test]
fn build_writes_every_feed_file() {
    let files = build(&digests("archive"), &site());
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "atom.xml",
            "categories/cs.CL.xml",
            "categories/cs.LG.xml",
            "categories/cs.PL.xml",
            "categories/hep-th.xml",
            "feed.json",
            "feed.xsl",
            "feeds.opml",
            "papers.xml",
            "rss.xml",
        ]
    );
}

#[test]
fn atom_has_one_entry_per_digest_newest_first_with_stable_ids_and_digest_dates() {
    let files = build(&digests("archive"), &site());
    let feed = atom(&files, "atom.xml");
    assert_eq!(
        feed.title.value, "Hot Papers (Atom)",
        "named apart from the RSS feed"
    );
    assert_eq!(rss(&files).title, "Hot Papers (RSS)");
    assert_eq!(json(&files)["title"], "Hot Papers (JSON Feed)");
    assert_eq!(feed.id, "https://hotpapers.example.org/atom.xml");
    assert_eq!(feed.lang.as_deref(), Some("en"));
    assert_eq!(
        feed.updated.to_rfc3339(),
        "2021-03-04T07:00:00+00:00",
        "feed updated = newest entry"
    );
    let links: Vec<(&str, &str)> = feed
        .links
        .iter()
        .map(|l| (l.rel.as_str(), l.href.as_str()))
        .collect();
    assert_eq!(
        links,
        [
            ("self", "https://hotpapers.example.org/atom.xml"),
            ("alternate", "https://hotpapers.example.org/")
        ]
    );
    assert_eq!(feed.generator.as_ref().unwrap().value, "hotpapers");
    let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tag:hotpapers.example.org,2021-03-03:/2021-03-03",
            "tag:hotpapers.example.org,2021-03-02:/2021-03-02",
            "tag:hotpapers.example.org,2021-03-01:/2021-03-01",
        ]
    );
    let e = &feed.entries[1];
    assert_eq!(
        e.title.value, "Hot Papers 2021-03-02: Attention Is Still All You Need, and 1 more",
        "the title says what is inside"
    );
    assert_eq!(e.links[0].rel, "alternate");
    assert_eq!(e.links[0].href, "https://hotpapers.example.org/2021-03-02/");
    assert_eq!(
        e.published.unwrap().to_rfc3339(),
        "2021-03-03T08:30:00+00:00"
    );
    assert_eq!(e.updated.to_rfc3339(), "2021-03-03T08:30:00+00:00");
    let cats: Vec<&str> = e.categories.iter().map(|c| c.term.as_str()).collect();
    assert_eq!(cats, ["cs.CL", "cs.LG", "hep-th"]);
    assert_eq!(e.authors[0].name, "Hot Papers");
    let summary = &e.summary.as_ref().unwrap().value;
    assert_eq!(
        summary,
        "2 papers trending on 2021-03-02: Attention Is Still All You Need; A Paper on SU(N) & Friends.",
        "summaries are plain text: TeX as Unicode"
    );
    let content = e.content.as_ref().unwrap();
    assert_eq!(content.content_type.as_deref(), Some("html"));
    let html = content.value.as_deref().unwrap();
    for part in [
        "<h2>1. <a href=\"https://arxiv.org/abs/2103.01000\">Attention Is Still All You Need</a></h2>",
        "<p class=\"authors\">Ashish Vaswani</p>",
        "900 retweets, 1,200 favorites",
        "<a href=\"https://hotpapers.example.org/categories/cs.CL/\">cs.CL</a>",
        "<p class=\"abstract\">Transformers again.</p>",
        "<blockquote cite=\"https://twitter.com/ashish/status/2\"><p>Still all you need.</p>",
        "— Fan (@fan) <a href=\"https://twitter.com/fan/status/3\">March 2, 2021</a>",
        "<p>Agreed &amp; amazed</p>",
        // TeX math in the title is MathML in the content.
        "A Paper on <math><mi>S</mi><mi>U</mi>",
        "</math> &amp; Friends</a></h2>",
    ] {
        assert!(html.contains(part), "missing {part} in {html}");
    }
}

#[test]
fn rss_has_the_same_items_with_guids_rfc822_dates_and_full_content() {
    let files = build(&digests("archive"), &site());
    let channel = rss(&files);
    assert_eq!(channel.link, SITE);
    assert_eq!(channel.language.as_deref(), Some("en"));
    assert_eq!(
        channel.last_build_date.as_deref(),
        Some("Thu, 4 Mar 2021 07:00:00 +0000")
    );
    let self_link = &channel.atom_ext.as_ref().unwrap().links[0];
    assert_eq!(
        (self_link.rel.as_str(), self_link.href.as_str()),
        ("self", "https://hotpapers.example.org/rss.xml")
    );
    let atom_ids: Vec<String> = atom(&files, "atom.xml")
        .entries
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let guids: Vec<String> = channel
        .items
        .iter()
        .map(|i| i.guid.as_ref().unwrap().value.clone())
        .collect();
    assert_eq!(guids, atom_ids, "one id per digest in every format");
    assert!(channel
        .items
        .iter()
        .all(|i| !i.guid.as_ref().unwrap().permalink));
    let item = &channel.items[2];
    assert_eq!(
        item.link.as_deref(),
        Some("https://hotpapers.example.org/2021-03-01/")
    );
    assert_eq!(
        item.pub_date.as_deref(),
        Some("Tue, 2 Mar 2021 08:00:00 +0000")
    );
    assert_eq!(
        item.description.as_deref(),
        Some("2 papers trending on 2021-03-01: A Paper on SU(N) &amp; Friends; Compilers for Everyone."),
        "description is HTML: text escaped once"
    );
    assert!(item
        .content
        .as_deref()
        .unwrap()
        .contains("<a href=\"https://arxiv.org/abs/2103.00002\">Compilers for Everyone</a>"));
    assert_eq!(
        item.dublin_core_ext.as_ref().unwrap().creators,
        ["Hot Papers"]
    );
}

#[test]
fn json_feed_1_1_has_the_same_items() {
    let files = build(&digests("archive"), &site());
    let feed = json(&files);
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(feed["feed_url"], "https://hotpapers.example.org/feed.json");
    assert_eq!(feed["home_page_url"], SITE);
    assert_eq!(feed["language"], "en");
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let item = &items[0];
    assert_eq!(
        item["id"],
        "tag:hotpapers.example.org,2021-03-03:/2021-03-03"
    );
    assert_eq!(item["url"], "https://hotpapers.example.org/2021-03-03/");
    assert_eq!(item["date_published"], "2021-03-04T07:00:00Z");
    assert_eq!(item["tags"], serde_json::json!(["hep-th"]));
    let html = item["content_html"].as_str().unwrap();
    assert!(html.contains("hep-th/9901001"), "{html}");
    assert!(
        html.contains("<a href=\"https://arxiv.org/pdf/hep-th/9901001\">PDF</a>"),
        "old-style ids keep their slash in URLs: {html}"
    );
}

#[test]
fn a_paper_trending_on_two_days_is_one_entry_updated_on_the_latest_day() {
    let files = build(&digests("archive"), &site());
    let feed = atom(&files, "papers.xml");
    let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "https://hotpapers.example.org/papers.xml#hep-th/9901001",
            "https://hotpapers.example.org/papers.xml#2103.01000",
            "https://hotpapers.example.org/papers.xml#2103.00001",
            "https://hotpapers.example.org/papers.xml#2103.00002",
        ],
        "one entry per paper, most recently trending first, by rank within a day; \
         its id the feed's URL and the arXiv id"
    );
    let twice = &feed.entries[2];
    assert_eq!(
        twice.published.unwrap().to_rfc3339(),
        "2021-03-02T08:00:00+00:00",
        "first day it trended"
    );
    assert_eq!(
        twice.updated.to_rfc3339(),
        "2021-03-03T08:29:59+00:00",
        "last day it trended, one second before rank 1 (it was rank 2)"
    );
    assert_eq!(
        twice.title.value, "A Paper on SU(N) & Friends",
        "TeX as Unicode"
    );
    let authors: Vec<&str> = twice.authors.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(authors, ["Ada Lovelace", "Alan Turing"]);
    assert_eq!(twice.links[0].rel, "alternate");
    assert_eq!(twice.links[0].href, "https://arxiv.org/abs/2103.00001");
    let via: Vec<&str> = twice
        .links
        .iter()
        .filter(|l| l.rel == "via")
        .map(|l| l.href.as_str())
        .collect();
    assert_eq!(
        via,
        [
            "https://hotpapers.example.org/2021-03-02/#paper-2",
            "https://hotpapers.example.org/2021-03-01/#paper-1",
        ]
    );
    let html = twice.content.as_ref().unwrap().value.as_deref().unwrap();
    assert!(
        html.contains(">2021-03-02</a> (#2, 240 retweets)"),
        "{html}"
    );
    assert!(
        html.contains(">2021-03-01</a> (#1, 120 retweets)"),
        "{html}"
    );
    assert_eq!(feed.updated.to_rfc3339(), "2021-03-04T07:00:00+00:00");
}

#[test]
fn each_category_feed_holds_only_its_papers_and_the_opml_lists_every_feed() {
    let files = build(&digests("archive"), &site());
    let ids = |path: &str| -> Vec<String> {
        atom(&files, path)
            .entries
            .iter()
            .map(|e| e.id.clone())
            .collect()
    };
    assert_eq!(
        ids("categories/hep-th.xml"),
        [
            "https://hotpapers.example.org/categories/hep-th.xml#hep-th/9901001",
            "https://hotpapers.example.org/categories/hep-th.xml#2103.00001"
        ]
    );
    assert_eq!(
        ids("categories/cs.PL.xml"),
        ["https://hotpapers.example.org/categories/cs.PL.xml#2103.00002"]
    );
    let cs_pl = atom(&files, "categories/cs.PL.xml");
    assert_eq!(cs_pl.title.value, "Hot Papers: cs.PL");
    assert_eq!(
        cs_pl.id,
        "https://hotpapers.example.org/categories/cs.PL.xml"
    );
    assert_eq!(
        cs_pl.updated.to_rfc3339(),
        "2021-03-02T07:59:59+00:00",
        "a category feed is as new as its newest paper (rank 2 that day: a second before rank 1)"
    );
    assert!(text(&files, "categories/cs.PL.xml")
        .contains("<?xml-stylesheet type=\"text/xsl\" href=\"../feed.xsl\"?>"));

    let opml = text(&files, "feeds.opml");
    let mut listed: Vec<String> = Vec::new();
    let mut reader = quick_xml::Reader::from_str(opml);
    loop {
        match reader.read_event().expect("OPML is XML") {
            quick_xml::events::Event::Empty(e) => {
                if let Some(url) = e.try_get_attribute("xmlUrl").unwrap() {
                    listed.push(
                        url.decoded_and_normalized_value(
                            quick_xml::XmlVersion::default(),
                            reader.decoder(),
                        )
                        .unwrap()
                        .into_owned(),
                    );
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    let mut expected: Vec<String> = files
        .keys()
        .filter(|p| p.starts_with("categories/") || *p == "atom.xml" || *p == "papers.xml")
        .map(|p| format!("{SITE}{p}"))
        .collect();
    expected.sort();
    listed.sort();
    assert_eq!(listed, expected);
}

#[test]
fn feeds_hold_only_the_latest_n_digests() {
    let files = build(
        &digests("archive"),
        &Config::builder()
            .site_url(SITE)
            .feed_limit(2usize)
            .build()
            .unwrap()
            .site,
    );
    assert_eq!(atom(&files, "atom.xml").entries.len(), 2);
    assert_eq!(rss(&files).items.len(), 2);
    assert_eq!(json(&files)["items"].as_array().unwrap().len(), 2);
    assert!(
        !files.contains_key("categories/cs.PL.xml"),
        "2021-03-01 alone had cs.PL"
    );
    let papers = atom(&files, "papers.xml");
    let twice = papers
        .entries
        .iter()
        .find(|e| e.id == "https://hotpapers.example.org/papers.xml#2103.00001")
        .unwrap();
    assert_eq!(
        twice.published.unwrap().to_rfc3339(),
        "2021-03-03T08:29:59+00:00",
        "only days inside the window count"
    );
}

#[test]
fn ids_and_entries_do_not_change_when_a_digest_is_added() {
    let all = digests("archive");
    let before = build(&all[..2], &site());
    let after = build(&all, &site());
    let entries = |files: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, String> {
        atom(files, "atom.xml")
            .entries
            .iter()
            .map(|e| (e.id.clone(), format!("{e:?}")))
            .collect()
    };
    let (before, after) = (entries(&before), entries(&after));
    assert_eq!(after.len(), 3);
    for (id, entry) in &before {
        assert_eq!(after.get(id), Some(entry), "{id} is unchanged");
    }
}

#[test]
fn the_same_archive_always_gives_the_same_bytes() {
    let mut shuffled = digests("archive");
    let first = build(&shuffled, &site());
    shuffled.reverse();
    let second = build(&shuffled, &site());
    assert_eq!(first, second, "input order does not matter either");
}

#[test]
fn a_hostile_digest_gives_valid_feeds_with_the_hostile_parts_removed() {
    let hostile = digests("hostile");
    let files = build(&hostile, &site());
    let paper = &hostile[0].papers[0];
    let atom_feed = atom(&files, "atom.xml");
    let papers = atom(&files, "papers.xml");
    let channel = rss(&files);
    let json_feed = json(&files);

    assert_eq!(
        papers.entries[0].title.value, "Breaking ]]> CDATA &amp; <b>Tags</b> in a<b Titles",
        "the title reads as in the digest, its TeX as Unicode: escaped once, not twice, not raw"
    );
    assert_eq!(
        paper.title,
        "Breaking ]]> CDATA &amp; <b>Tags</b> in $a<b$ Titles"
    );
    assert_eq!(papers.entries[0].authors[0].name, paper.authors[0]);

    let contents = [
        atom_feed.entries[0].content.clone().unwrap().value.unwrap(),
        papers.entries[0].content.clone().unwrap().value.unwrap(),
        channel.items[0].content.clone().unwrap(),
        json_feed["items"][0]["content_html"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    for html in &contents {
        assert_safe_html(html);
        assert!(
            !html.contains("evil.example"),
            "remote widgets are gone: {html}"
        );
        assert!(
            html.contains(
                "Breaking ]]&gt; CDATA &amp;amp; &lt;b&gt;Tags&lt;/b&gt; in <math><mi>a</mi><mo>&lt;</mo><mi>b</mi></math> Titles"
            ),
            "the title is text inside the HTML, its math MathML: {html}"
        );
        assert!(
            html.contains(
                "<a href=\"https://t.co/ok\" rel=\"nofollow noopener noreferrer\">fine</a>"
            ),
            "harmless links stay: {html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(&quot;abs&quot;)&lt;/script&gt;"),
            "{html}"
        );
    }
    // The same HTML came through the CDATA sections of rss.xml (the rss
    // crate's reader trims the final newline).
    assert_eq!(
        channel.items[0].content.as_deref().map(str::trim_end),
        Some(contents[0].trim_end())
    );
}

/// The HTML has only harmless elements, no event attributes and only
/// absolute http(s) URLs. Text that merely mentions `<script>` is fine.
#[track_caller]
fn assert_safe_html(html: &str) {
    let doc = scraper::Html::parse_fragment(html);
    for node in doc.root_element().descendants() {
        let Some(el) = node.value().as_element() else {
            continue;
        };
        assert!(
            [
                "html",
                "p",
                "a",
                "br",
                "h2",
                "section",
                "blockquote",
                "em",
                "strong",
                "code",
                // MathML of TeX formulas (src/tex)
                "math",
                "mi",
                "mn",
                "mo",
                "mtext",
                "mrow",
                "msup",
                "msub",
                "msubsup",
                "mfrac",
                "msqrt",
                "mover",
                "munder",
                "mspace",
            ]
            .contains(&el.name()),
            "<{}> in {html}",
            el.name()
        );
        for (name, value) in el.attrs() {
            assert!(!name.starts_with("on"), "{name}= in {html}");
            if matches!(name, "href" | "src" | "cite") {
                assert!(
                    value.starts_with("https://") || value.starts_with("http://"),
                    "{name}=\"{value}\" in {html}"
                );
            }
        }
    }
}

#[test]
fn atom_and_rss_reference_the_stylesheet_which_is_well_formed_xslt() {
    let files = build(&digests("archive"), &site());
    for path in ["atom.xml", "rss.xml", "papers.xml"] {
        let lines: Vec<&str> = text(&files, path).lines().take(2).collect();
        assert_eq!(
            lines,
            [
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
                "<?xml-stylesheet type=\"text/xsl\" href=\"feed.xsl\"?>"
            ],
            "{path}"
        );
    }
    let xsl = text(&files, "feed.xsl");
    let mut reader = quick_xml::Reader::from_str(xsl);
    let mut root = None;
    loop {
        match reader.read_event().expect("feed.xsl is well-formed XML") {
            quick_xml::events::Event::Start(e) if root.is_none() => {
                root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(root.as_deref(), Some("xsl:stylesheet"));
    assert!(xsl.contains("Copy this address into your feed reader"));
    assert!(xsl.contains("match=\"atom:entry\"") && xsl.contains("match=\"item\""));
}

#[test]
fn an_empty_archive_gives_empty_feeds_with_a_fixed_date() {
    let files = build(&Vec::<Digest>::new(), &site());
    let feed = atom(&files, "atom.xml");
    assert!(feed.entries.is_empty());
    assert_eq!(feed.updated.to_rfc3339(), "1970-01-01T00:00:00+00:00");
    assert!(json(&files)["items"].as_array().unwrap().is_empty());
}

#[test]
fn the_sample_corpus_builds_every_feed() {
    let corpus = digests("corpus");
    let files = build(&corpus, &Config::builder().build().unwrap().site);
    let feed = atom(&files, "atom.xml");
    assert_eq!(feed.entries.len(), 30, "the default limit");
    assert_eq!(
        feed.entries[0].links[0].href,
        "http://127.0.0.1:8080/2021-08-24/"
    );
    assert_eq!(rss(&files).items.len(), 30);
    let papers = atom(&files, "papers.xml");
    let mut ids: Vec<&str> = papers.entries.iter().map(|e| e.id.as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "paper ids are unique");
    // Days without papers are no entries: the window is 30 days with papers.
    let with_papers: Vec<&Digest> = corpus.iter().filter(|d| !d.papers.is_empty()).collect();
    assert!(
        with_papers.len() < corpus.len(),
        "the corpus has an empty day"
    );
    for entry in &feed.entries {
        assert!(
            entry.title.value.contains(": "),
            "{}: says what is inside",
            entry.title.value
        );
    }
    let in_window: usize = with_papers
        .iter()
        .rev()
        .take(30)
        .map(|d| d.papers.len())
        .sum();
    assert!(n > 0 && n <= in_window);
    let categories = files
        .keys()
        .filter(|p| p.starts_with("categories/"))
        .count();
    assert!(categories > 10, "{categories} category feeds");
    for (path, _) in files.iter().filter(|(p, _)| p.ends_with(".xml")) {
        let feed = atom_or_rss_entries(&files, path);
        assert!(feed > 0, "{path} has entries");
    }
}

/// Issue #17: readers such as newsboat key entries by id alone, across all
/// their feeds; imported together from `feeds.opml`, feeds sharing ids empty
/// each other. So no id occurs in two feeds of the bundle; a paper's id is
/// its feed's URL and its arXiv id, nothing that changes from build to build.
#[test]
fn issue_17_no_two_feeds_of_the_opml_bundle_share_an_entry_id() {
    let corpus = digests("corpus");
    let files = build(&corpus, &site());
    let bundle: Vec<&String> = files
        .keys()
        .filter(|p| p.starts_with("categories/") || *p == "atom.xml" || *p == "papers.xml")
        .collect();
    assert!(bundle.len() > 50, "{} feeds", bundle.len());
    let mut holders: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for path in &bundle {
        let feed = atom(&files, path);
        for entry in &feed.entries {
            holders.entry(entry.id.clone()).or_default().push(path);
        }
        if *path != "atom.xml" {
            for entry in &feed.entries {
                let (feed_url, arxiv) = entry.id.split_once('#').expect("a fragment");
                assert_eq!(feed_url, feed.id, "{path}: named within the feed");
                assert_eq!(
                    entry.links[0].href,
                    format!("https://arxiv.org/abs/{arxiv}"),
                    "{path}: the fragment is the paper's arXiv id"
                );
            }
        }
    }
    let shared: Vec<_> = holders
        .iter()
        .filter(|(_, feeds)| feeds.len() > 1)
        .collect();
    assert!(shared.is_empty(), "{shared:#?}");
}

fn atom_or_rss_entries(files: &BTreeMap<String, Vec<u8>>, path: &str) -> usize {
    if path == "rss.xml" {
        rss(files).items.len()
    } else {
        atom(files, path).entries.len()
    }
}

#[test]
fn build_command_writes_the_files_then_leaves_unchanged_ones_alone() {
    let out = tempfile::tempdir().unwrap();
    let build = || {
        run(hotpapers()
            .args(["--digests"])
            .arg(fixture("archive"))
            .args(["--site-url", SITE, "build", "--out"])
            .arg(out.path()))
    };
    let (status, stdout, stderr) = build();
    assert!(status.status.success(), "{stderr}");
    // Every file in the folder was written by this build: feeds and pages.
    let files = read_tree(out.path()).len();
    assert!(files >= 10, "the ten feed files at least, found {files}");
    assert_eq!(
        stdout,
        format!(
            "3 digests read, 3 in the feeds, 0 failed; {files} files in `{}`: {files} written, 0 unchanged\n",
            out.path().display()
        )
    );
    let atom_path = out.path().join("atom.xml");
    let modified = std::fs::metadata(&atom_path).unwrap().modified().unwrap();
    let first = read_tree(out.path());
    let (status, stdout, _) = build();
    assert!(status.status.success());
    assert!(
        stdout.ends_with(&format!(": 0 written, {files} unchanged\n")),
        "{stdout}"
    );
    assert_eq!(
        std::fs::metadata(&atom_path).unwrap().modified().unwrap(),
        modified,
        "an unchanged file is not rewritten"
    );
    assert_eq!(read_tree(out.path()), first, "byte-identical rebuild");
}

#[test]
fn a_broken_digest_is_reported_and_the_others_still_build_failing_only_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("archive")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::copy(
        fixture("invalid/count-not-a-number.md"),
        dir.path().join("2021-03-04.md"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let build = |strict: bool| {
        let mut cmd = hotpapers();
        cmd.arg("--digests")
            .arg(dir.path())
            .args(["build", "--out"])
            .arg(out.path());
        if strict {
            cmd.arg("--strict");
        }
        run(&mut cmd)
    };
    let (status, stdout, stderr) = build(false);
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    let broken = dir.path().join("2021-03-04.md");
    assert!(
        stderr.contains(&format!("{}:", broken.display())),
        "the file and line are named: {stderr}"
    );
    assert!(
        stdout.starts_with("3 digests read, 3 in the feeds, 1 failed;"),
        "{stdout}"
    );
    let feed: Feed = std::fs::read_to_string(out.path().join("atom.xml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(feed.entries.len(), 3, "the good digests are in the feed");
    let (status, _, _) = build(true);
    assert_eq!(status.status.code(), Some(3), "--strict fails the build");
}

/// Every file under a folder with its bytes.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            // The search index (`.search/`) is `serve`'s and the build's
            // cache (`.build/`) the next build's, not published files.
            if path.file_name().is_some_and(|n| {
                n == hotpapers::search::INDEX_DIR || n == hotpapers::build::cache::CACHE_DIR
            }) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn small_archive_feeds_snapshot() {
    let files = build(&digests("archive"), &site());
    for path in [
        "atom.xml",
        "rss.xml",
        "feed.json",
        "papers.xml",
        "feeds.opml",
    ] {
        insta::assert_snapshot!(path, text(&files, path));
    }
}

#[test]
fn a_stylesheet_in_the_templates_folder_replaces_the_built_in_one() {
    let templates = tempfile::tempdir().unwrap();
    let custom = "<?xml version=\"1.0\"?>\n<!-- our own look -->\n<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"/>\n";
    std::fs::write(templates.path().join("feed.xsl"), custom).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (status, _, stderr) = run(hotpapers()
        .arg("--digests")
        .arg(fixture("archive"))
        .arg("--templates")
        .arg(templates.path())
        .args(["build", "--out"])
        .arg(out.path()));
    assert!(status.status.success(), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("feed.xsl")).unwrap(),
        custom
    );
}

#[test]
fn a_missing_digest_folder_is_an_error_naming_it() {
    let out = tempfile::tempdir().unwrap();
    let (status, _, stderr) = run(hotpapers()
        .args(["--digests", "no/such/folder", "build", "--out"])
        .arg(out.path()));
    assert_eq!(status.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not read the digests in `no/such/folder`"),
        "{stderr}"
    );
}

/// Every file of an output folder that is XML, read by a strict XML 1.0
/// parser, and `feed.json` by `serde_json`; returns how many were read.
#[track_caller]
fn assert_every_feed_parses(out: &Path) -> usize {
    let mut read = 0;
    for (path, bytes) in read_tree(out) {
        if path.ends_with(".ico") {
            continue;
        }
        let text = std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        if path.ends_with(".xml") || path.ends_with(".opml") || path.ends_with(".xsl") {
            roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("{path} is XML: {e}"));
            read += 1;
        } else if path.ends_with(".json") {
            serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            read += 1;
        }
    }
    read
}

/// Audit finding 3: a digest full of characters XML forbids (`&#x1;&#0;&#xFFFE;`
/// in a tweet, U+0001 and NUL in the front matter title, a raw U+FFFE in a
/// paper title) builds into feeds every XML parser accepts, and into pages
/// and feeds that hold none of those characters nor a bidirectional override.
#[test]
fn characters_xml_forbids_never_reach_a_feed_written_by_build() {
    let out = tempfile::tempdir().unwrap();
    let (status, _, stderr) = run(hotpapers()
        .arg("--digests")
        .arg(fixture("hostile/forbidden-characters"))
        .args(["--site-url", SITE, "build", "--strict", "--out"])
        .arg(out.path()));
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("2021-04-05.md:2: removed U+0001, U+0000 from the title"),
        "{stderr}"
    );
    // atom, rss, papers, one category, the OPML, the stylesheet, the
    // sitemap and feed.json.
    assert_eq!(assert_every_feed_parses(out.path()), 8);
    for (path, bytes) in read_tree(out.path()) {
        if path.ends_with(".ico") {
            continue;
        }
        let text = String::from_utf8(bytes).unwrap();
        let bad: Vec<String> = text
            .chars()
            .filter(|&c| hotpapers::text::is_unsafe_in_display(c))
            .map(|c| format!("U+{:04X}", u32::from(c)))
            .collect();
        assert!(bad.is_empty(), "{path} holds {bad:?}");
    }
    let atom: Feed = std::fs::read_to_string(out.path().join("atom.xml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        atom.entries[0].title.value,
        "Hot Papers 2021-04-05 elif: Raw noncharacters and abc in a title"
    );
    let page = std::fs::read_to_string(out.path().join("2021-04-05/index.html")).unwrap();
    assert!(!page.contains("og:image"), "no `javascript:` image");
    assert!(!page.contains("javascript"));
}

/// Audit finding 3, the last guard: a model that did not come from the
/// parser (built by hand) and holds U+0001 is refused with the file named,
/// never written as a broken document.
#[test]
fn a_feed_that_would_hold_a_forbidden_character_is_refused_not_written_broken() {
    let mut archive = digests("archive");
    archive[0].papers[0].title.push('\u{1}');
    let e = feed::build(&archive, &site()).unwrap_err().to_string();
    assert!(
        e.starts_with("could not write `atom.xml`: it would hold U+0001"),
        "{e}"
    );
    let mut archive = digests("archive");
    archive[0].title.push('\u{FFFE}');
    let e = feed::build(&archive, &site()).unwrap_err().to_string();
    assert!(
        e.starts_with("could not write `atom.xml`: it would hold U+FFFE"),
        "{e}"
    );
}

/// A digest whose one tweet paragraph is `open` repeated `depth` times
/// (then `close` as many times), on ten lines each way: a digest line is at
/// most 1 MiB.
fn nested_tweet_digest(day: &str, open: &str, close: &str, depth: usize) -> String {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let open = open.repeat(depth / 10);
    let close = close.repeat(depth / 10);
    let opens = [open.as_str(); 10].join("\n");
    let closes = [close.as_str(); 10].join("\n");
    text.replace("2021-03-01", day).replace(
        "Our new paper! ",
        &format!("Our new paper! {opens}deep{closes}"),
    )
}

/// Audit finding 4: a tweet nested 9,000 `<span>` deep overflowed the stack
/// of the parsing thread (SIGABRT, nothing written) once the archive had a
/// second digest; 50,000 `<ul><li>` kept the HTML parser busy for minutes,
/// 100,000 `[` in the front matter the YAML parser for 45 s. Each such file
/// is now refused before it is parsed, named with its line, and left out;
/// the good digests build and only `--strict` fails.
#[test]
fn deep_nesting_leaves_at_most_that_digest_out_never_the_build() {
    let dir = tempfile::tempdir().unwrap();
    for day in ["2021-03-01", "2021-03-02"] {
        let name = format!("{day}.md");
        std::fs::copy(fixture(&format!("archive/{name}")), dir.path().join(name)).unwrap();
    }
    let broken = [
        (
            "2021-03-05.md",
            nested_tweet_digest("2021-03-05", "<span>", "</span>", 9_000),
        ),
        (
            "2021-03-06.md",
            nested_tweet_digest("2021-03-06", "<span>", "</span>", 100_000),
        ),
        (
            "2021-03-07.md",
            nested_tweet_digest("2021-03-07", "<ul><li>", "", 50_000),
        ),
        (
            "2021-03-08.md",
            std::fs::read_to_string(fixture("valid/minimal.md"))
                .unwrap()
                .replace("2021-03-01", "2021-03-08")
                .replace(
                    "socialImage:",
                    &format!(
                        "extra: {}{}\nsocialImage:",
                        "[".repeat(100_000),
                        "]".repeat(100_000)
                    ),
                ),
        ),
    ];
    for (name, text) in &broken {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let build = |strict: bool| {
        let mut cmd = hotpapers();
        cmd.arg("--digests")
            .arg(dir.path())
            .args(["--site-url", SITE, "build", "--out"])
            .arg(out.path());
        if strict {
            cmd.arg("--strict");
        }
        run(&mut cmd)
    };
    let started = std::time::Instant::now();
    let (status, stdout, stderr) = build(false);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    for (name, line) in [
        ("2021-03-05.md", 27),
        ("2021-03-06.md", 27),
        ("2021-03-07.md", 27),
        ("2021-03-08.md", 11),
    ] {
        let at = format!("{}:{line}: ", dir.path().join(name).display());
        assert!(stderr.contains(&at), "{at} in {stderr}");
    }
    assert!(stderr.contains("holds at most 1000"), "{stderr}");
    assert!(
        stdout.starts_with("2 digests read, 2 in the feeds, 4 failed;"),
        "{stdout}"
    );
    let feed: Feed = std::fs::read_to_string(out.path().join("atom.xml"))
        .unwrap()
        .parse()
        .unwrap();
    let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tag:hotpapers.example.org,2021-03-02:/2021-03-02",
            "tag:hotpapers.example.org,2021-03-01:/2021-03-01",
        ],
        "the good digests are in the feed"
    );
    assert_every_feed_parses(out.path());
    let (status, _, _) = build(true);
    assert_eq!(status.status.code(), Some(3), "--strict fails the build");
}

#[test]
fn papers_of_one_day_have_distinct_times_in_rank_order_so_readers_sort_them_by_rank() {
    let files = build(&digests("corpus"), &site());
    let mut feeds = vec!["papers.xml".to_owned()];
    feeds.extend(
        files
            .keys()
            .filter(|p| p.starts_with("categories/") && p.ends_with(".xml"))
            .cloned(),
    );
    for path in feeds {
        let feed = atom(&files, &path);
        let times: Vec<_> = feed.entries.iter().map(|e| e.updated).collect();
        let mut newest_first = times.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        newest_first.dedup();
        assert_eq!(
            times, newest_first,
            "{path}: every entry its own time, in the feed's (rank) order"
        );
    }
}
