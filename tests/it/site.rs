//! The archive pages `hotpapers build` writes: one per digest with
//! previous/next links, the front page with the subscribe form and every feed,
//! one per category; feed autodiscovery, canonical and Open Graph in every
//! head; sanitized digest HTML; deterministic; overridable templates; only
//! changed pages rewritten; citations: each day's `papers.bib` read back by
//! Python's bibtexparser, and one `COinS` span per paper on its page.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Datelike as _;
use hotpapers::cite;
use hotpapers::config::Config;
use hotpapers::digest::{load_archive, parse_bytes};
use hotpapers::feed::FeedSet;
use hotpapers::model::Digest;
use hotpapers::site::{render_bibliographies, render_feed_pages, render_pages, Page};
use hotpapers::templates::Templates;
use scraper::{Html, Selector};

use crate::support::{self, fixture};

const SITE: &str = "https://hotpapers.example.org/papers/";

fn config(templates: &Path) -> Config {
    Config::builder()
        .site_url(SITE)
        .templates(templates)
        .build()
        .unwrap()
}

fn corpus() -> Vec<Digest> {
    load_archive(&fixture("corpus"))
        .unwrap()
        .iter()
        .cloned()
        .collect()
}

fn pages(archive: &[Digest]) -> Vec<Page> {
    let refs: Vec<&Digest> = archive.iter().collect();
    let config = config(Path::new("/nonexistent"));
    render_pages(&refs, &config.site, &Templates::site_builtin().unwrap()).unwrap()
}

fn page(pages: &[Page], path: &str) -> Html {
    let p = pages
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no page {path}"));
    Html::parse_document(&p.html)
}

fn attr(doc: &Html, css: &str, name: &str) -> Option<String> {
    doc.select(&Selector::parse(css).unwrap())
        .next()
        .and_then(|e| e.value().attr(name))
        .map(str::to_owned)
}

#[test]
fn every_digest_gets_a_page_linked_to_the_days_before_and_after() {
    let archive = corpus();
    let pages = pages(&archive);
    let days = pages
        .iter()
        .filter(|p| p.path.len() == "2021-02-19/index.html".len() && p.path.starts_with("20"))
        .count();
    assert_eq!(days, archive.len());
    let doc = page(&pages, "2021-02-19/index.html");
    assert_eq!(
        attr(&doc, "a[rel=prev]", "href").as_deref(),
        Some("../2021-02-05/")
    );
    assert_eq!(
        attr(&doc, "a[rel=next]", "href").as_deref(),
        Some("../2021-03-05/")
    );
    let first = page(&pages, "2020-06-29/index.html");
    assert!(attr(&first, "a[rel=prev]", "href").is_none());
    // Every paper of the day is on its page.
    let digest = archive
        .iter()
        .find(|d| d.date.to_string() == "2021-02-19")
        .unwrap();
    let papers = doc
        .select(&Selector::parse("section.paper").unwrap())
        .count();
    assert_eq!(papers, digest.papers.len());
}

#[test]
fn a_day_page_does_not_link_to_itself() {
    let pages = pages(&corpus());
    let doc = page(&pages, "2021-02-19/index.html");
    let own = attr(&doc, "link[rel=canonical]", "href").expect("canonical link");
    let links: Vec<String> = doc
        .select(&Selector::parse("main a[href]").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert!(!links.is_empty());
    assert!(!links.contains(&own), "{own} in {links:?}");
}

#[test]
fn every_page_has_feed_autodiscovery_a_canonical_link_and_open_graph() {
    let pages = pages(&corpus());
    for (path, canonical) in [
        ("index.html", SITE.to_owned()),
        ("2021-02-19/index.html", format!("{SITE}2021-02-19/")),
        (
            "categories/cs.CV/index.html",
            format!("{SITE}categories/cs.CV/"),
        ),
    ] {
        let doc = page(&pages, path);
        assert_eq!(
            attr(&doc, "link[rel=canonical]", "href"),
            Some(canonical.clone()),
            "{path}"
        );
        assert_eq!(
            attr(&doc, "meta[property='og:url']", "content"),
            Some(canonical),
            "{path}"
        );
        for (kind, title, file) in [
            ("application/atom+xml", "Hot Papers (Atom)", "atom.xml"),
            ("application/rss+xml", "Hot Papers (RSS)", "rss.xml"),
            (
                "application/feed+json",
                "Hot Papers (JSON Feed)",
                "feed.json",
            ),
            // Issue #17: the feed of every paper is advertised too.
            (
                "application/atom+xml",
                "Hot Papers: every paper",
                "papers.xml",
            ),
        ] {
            assert_eq!(
                attr(
                    &doc,
                    &format!("link[rel=alternate][type='{kind}'][title='{title}']"),
                    "href"
                ),
                Some(format!("{SITE}{file}")),
                "{path}"
            );
        }
        assert!(
            attr(&doc, "meta[property='og:title']", "content").is_some(),
            "{path}"
        );
        assert!(
            attr(&doc, "meta[name=viewport]", "content").is_some(),
            "{path}"
        );
        assert_eq!(attr(&doc, "html", "lang").as_deref(), Some("en"));
    }
    let cat = page(&pages, "categories/cs.CV/index.html");
    assert_eq!(
        attr(&cat, "link[title='cs.CV papers (Atom)']", "href"),
        Some(format!("{SITE}categories/cs.CV.xml"))
    );
}

#[test]
fn the_front_page_has_the_subscribe_form_and_no_script() {
    let pages = pages(&corpus());
    let doc = page(&pages, "index.html");
    assert_eq!(
        attr(&doc, "form.subscribe", "action").as_deref(),
        Some("subscribe")
    );
    assert_eq!(
        attr(&doc, "form.subscribe", "method").as_deref(),
        Some("post")
    );
    assert_eq!(
        attr(&doc, "form.subscribe input[name=email]", "type").as_deref(),
        Some("email")
    );
    // Every category of the archive is offered, grouped by arXiv group.
    let offered: std::collections::BTreeSet<String> = doc
        .select(&Selector::parse("form.subscribe input[name=categories]").unwrap())
        .filter_map(|e| e.value().attr("value").map(str::to_owned))
        .collect();
    let in_archive: std::collections::BTreeSet<String> = corpus()
        .iter()
        .flat_map(|d| d.papers.iter())
        .flat_map(|p| p.categories.iter().map(|c| c.as_str().to_owned()))
        .collect();
    assert_eq!(offered, in_archive);
    let groups: Vec<String> = doc
        .select(&Selector::parse("form.subscribe details summary").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect();
    assert!(groups[0].starts_with("Computer Science ("), "{groups:?}");
    assert!(
        groups.iter().any(|g| g.starts_with("Physics (")),
        "{groups:?}"
    );
    for p in &pages {
        assert!(!p.html.contains("<script"), "{}", p.path);
        // Dark mode is in the page's own style.
        assert!(p.html.contains("prefers-color-scheme: dark"), "{}", p.path);
    }
    // Every feed is linked from the front page by its page (which gives the
    // feed's address), category feeds included; the OPML as it is.
    for feed in [
        "feeds/atom.html",
        "feeds/rss.html",
        "feeds/feed.html",
        "feeds/papers.html",
        "feeds.opml",
        "feeds/categories/cs.CV.html",
    ] {
        assert!(
            attr(&doc, &format!("a[href='{feed}']"), "href").is_some(),
            "{feed}"
        );
    }
    // The latest day first, linked relatively so the site works from any folder.
    assert_eq!(
        attr(&doc, "ul.days a", "href").as_deref(),
        Some("2021-08-24/")
    );
}

#[test]
fn hostile_digest_content_is_neutralized_on_the_page() {
    let text = std::fs::read_to_string(fixture("valid/minimal.md")).unwrap();
    let hostile = text
        .replace(
            "Our new paper! <a href=\"https://t.co/abc\">https://t.co/abc</a>",
            "Hi<script>alert(1)</script><img src=x onerror=alert(2)> <a href=\"javascript:alert(3)\">click</a>",
        )
        .replace("A Paper on $SU(N)$ &   Friends", "A <b>bold</b> ]]> &amp; <script>x</script> title");
    let digest = parse_bytes(Path::new("2021-03-01.md"), hostile.as_bytes())
        .unwrap()
        .digest;
    let pages = pages(&[digest]);
    let html = &pages
        .iter()
        .find(|p| p.path == "2021-03-01/index.html")
        .unwrap()
        .html;
    for bad in ["<script", "onerror", "javascript:", "<img", "<b>bold"] {
        assert!(!html.contains(bad), "{bad} in the page");
    }
    assert!(html.contains(
        "A &lt;b&gt;bold&lt;/b&gt; ]]&gt; &amp;amp; &lt;script&gt;x&lt;/script&gt; title"
    ));
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    let archive = corpus();
    assert_eq!(pages(&archive), pages(&archive));
}

#[test]
fn a_template_in_the_templates_folder_replaces_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site-day.html.hbs"),
        "<h1>Custom {{title}}</h1>{{{digest_html}}}",
    )
    .unwrap();
    let archive = corpus();
    let refs: Vec<&Digest> = archive.iter().collect();
    let config = config(dir.path());
    let templates = Templates::site(dir.path()).unwrap();
    let pages = render_pages(&refs, &config.site, &templates).unwrap();
    let doc = page(&pages, "2021-02-19/index.html");
    let h1: String = doc
        .select(&Selector::parse("h1").unwrap())
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(h1, "Custom Hot Papers 2021-02-19");

    // A field the page does not have is an error naming the file (strict mode).
    std::fs::write(dir.path().join("site-day.html.hbs"), "{{titel}}").unwrap();
    let templates = Templates::site(dir.path()).unwrap();
    let err = render_pages(&refs, &config.site, &templates)
        .unwrap_err()
        .to_string();
    assert!(err.contains("site-day.html.hbs"), "{err}");
}

#[test]
fn a_site_template_error_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site-day.html.hbs");
    let archive = corpus();
    let refs: Vec<&Digest> = archive.iter().collect();
    let config = config(dir.path());

    // Unknown variable: found when the page renders.
    std::fs::write(&file, "<h1>{{title}}</h1>\n<p>{{publishd}}</p>\n").unwrap();
    let templates = Templates::site(dir.path()).unwrap();
    let err = render_pages(&refs, &config.site, &templates)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2:4: unknown variable `publishd`",
            file.display()
        )),
        "{err}"
    );

    // Syntax error: found when the templates load.
    std::fs::write(&file, "<h1>{{title}}</h1>\n{{#if prev}}\n").unwrap();
    let err = Templates::site(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:", file.display())), "{err}");
    let position = err[file.display().to_string().len() + 1..]
        .split(": ")
        .next()
        .unwrap();
    assert!(
        position.split(':').all(|n| n.parse::<usize>().is_ok()) && position.contains(':'),
        "line and column in {err}"
    );

    // The digest HTML is a template of the same set, overridable the same way.
    std::fs::remove_file(&file).unwrap();
    std::fs::write(
        dir.path().join("digest.html.hbs"),
        "{{#each papers}}{{titel}}{{/each}}",
    )
    .unwrap();
    let templates = Templates::site(dir.path()).unwrap();
    let err = render_pages(&refs, &config.site, &templates)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:1:",
            dir.path().join("digest.html.hbs").display()
        )),
        "{err}"
    );
}

#[test]
fn build_writes_the_pages_and_rewrites_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let digests = dir.path().join("digests");
    std::fs::create_dir_all(&digests).unwrap();
    for name in [
        "2021-02-05---Hot-Papers.md",
        "2021-02-19---Hot-Papers.md",
        "2021-03-05---Hot-Papers.md",
    ] {
        std::fs::copy(fixture(&format!("corpus/{name}")), digests.join(name)).unwrap();
    }
    let out = dir.path().join("public");
    let build = || {
        let (o, stdout, stderr) = support::run(
            support::hotpapers()
                .arg("--digests")
                .arg(&digests)
                .arg("build")
                .arg("--out")
                .arg(&out),
        );
        assert!(o.status.success(), "{stderr}");
        stdout
    };
    let first = build();
    assert!(first.contains(" 0 unchanged"), "{first}");
    for page in [
        "index.html",
        "2021-02-19/index.html",
        "categories/cs.LG/index.html",
    ] {
        assert!(out.join(page).is_file(), "{page}");
    }
    let second = build();
    assert!(second.contains(": 0 written"), "{second}");

    // A new day changes its own page, its neighbour's next link, the front
    // page, feeds and some category pages, not every page.
    std::fs::copy(
        fixture("corpus/2021-03-19---Hot-Papers.md"),
        digests.join("2021-03-19---Hot-Papers.md"),
    )
    .unwrap();
    let before = std::fs::metadata(out.join("2021-02-05/index.html"))
        .unwrap()
        .modified()
        .unwrap();
    let third = build();
    assert!(!third.contains(": 0 written"), "{third}");
    let after = std::fs::metadata(out.join("2021-02-05/index.html"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        before, after,
        "an untouched day page keeps its time (and its ETag)"
    );
    assert!(std::fs::read_to_string(out.join("2021-03-05/index.html"))
        .unwrap()
        .contains("../2021-03-19/"));
}

// Citations (issue 15): papers.bib beside each day page, COinS on the page.

/// Builds the digests in `digests` into a fresh folder and returns it.
#[track_caller]
fn build(digests: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let (o, _, stderr) = support::run(
        support::hotpapers()
            .arg("--digests")
            .arg(digests)
            .arg("build")
            .arg("--out")
            .arg(out.path()),
    );
    assert!(o.status.success(), "{stderr}");
    out
}

/// A Python that can `import bibtexparser`: `HOTPAPERS_TEST_PYTHON`, else
/// `target/ci-venv/bin/python` (where `.ci/run` installs it), else `python3`.
/// Without one the test is skipped, unless `HOTPAPERS_TEST_BIBTEX=require`.
fn bibtex_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python");
    let candidates: Vec<PathBuf> = std::env::var_os("HOTPAPERS_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")])
        .collect();
    let found = candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import bibtexparser"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let required = std::env::var("HOTPAPERS_TEST_BIBTEX").is_ok_and(|v| v == "require");
        assert!(
            !required,
            "HOTPAPERS_TEST_BIBTEX=require, but no Python can import bibtexparser"
        );
        eprintln!("skipped: needs Python with bibtexparser (`pip install bibtexparser`)");
    }
    found
}

/// `.ci/check_bibtex.py` with `args`: its stdout, or a panic with its stderr.
#[track_caller]
fn check_bibtex(python: &Path, args: &[&std::ffi::OsStr]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/check_bibtex.py");
    let o = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

/// The entries of a `.bib` file as bibtexparser reads them.
#[track_caller]
fn parse_bibtex(python: &Path, bib: &Path) -> Vec<serde_json::Value> {
    let json = check_bibtex(python, &["--json".as_ref(), bib.as_os_str()]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        parsed["failed"], 0,
        "blocks bibtexparser could not read: {json}"
    );
    parsed["entries"].as_array().unwrap().clone()
}

#[test]
fn build_writes_papers_bib_for_each_day_that_bibtexparser_reads_as_one_entry_per_paper() {
    let out = build(&fixture("corpus"));
    let archive = corpus();
    for digest in &archive {
        let day = digest.date.format("%Y-%m-%d").to_string();
        let bib = out.path().join(&day).join("papers.bib");
        assert_eq!(bib.is_file(), !digest.papers.is_empty(), "{day}");
    }
    let Some(python) = bibtex_python() else {
        return;
    };
    // The whole build: every day, every entry with its fields, as many
    // entries and COinS spans as papers.
    let summary = check_bibtex(&python, &[out.path().as_os_str()]);
    assert!(summary.contains(" 0 days with problems"), "{summary}");

    let digest = archive
        .iter()
        .find(|d| d.date.to_string() == "2021-02-19")
        .unwrap();
    let entries = parse_bibtex(&python, &out.path().join("2021-02-19/papers.bib"));
    assert_eq!(entries.len(), digest.papers.len());
    for (entry, paper) in entries.iter().zip(&digest.papers) {
        let fields = &entry["fields"];
        assert_eq!(entry["type"], "misc");
        assert_eq!(entry["key"], cite::bibtex_key(&paper.arxiv_id));
        assert_eq!(fields["eprint"], paper.arxiv_id.as_str());
        assert_eq!(fields["archiveprefix"], "arXiv");
        assert_eq!(fields["primaryclass"], paper.categories[0].as_str());
        assert_eq!(fields["url"], paper.canonical_url());
        assert_eq!(fields["year"], "2021");
        assert_eq!(
            fields["title"],
            format!("{{{}}}", cite::tex_text(&paper.title))
        );
        let authors: Vec<String> = paper.authors.iter().map(|a| cite::bibtex_name(a)).collect();
        assert_eq!(fields["author"], authors.join(" and "));
    }
}

#[test]
fn hostile_titles_and_names_stay_inside_their_bibtex_fields() {
    let out = build(&fixture("hostile/tex-and-braces"));
    let bib = out.path().join("2021-05-01/papers.bib");
    let text = std::fs::read_to_string(&bib).unwrap();
    insta::assert_snapshot!("papers.bib", text);
    let Some(python) = bibtex_python() else {
        return;
    };
    let entries = parse_bibtex(&python, &bib);
    // The `@misc{evil, ...}` in a title is still the title.
    let keys: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "arXiv:2105.00001",
            "arXiv:2105.00002",
            "arXiv:hep-th_9901001"
        ]
    );
    let archive = load_archive(&fixture("hostile/tex-and-braces")).unwrap();
    let papers: Vec<_> = archive.iter().flat_map(|d| &d.papers).collect();
    for (entry, paper) in entries.iter().zip(&papers) {
        let fields = entry["fields"].as_object().unwrap();
        // Exactly these fields (serde_json lists them sorted), none injected.
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "archiveprefix",
                "author",
                "eprint",
                "primaryclass",
                "title",
                "url",
                "year"
            ]
        );
        assert_eq!(
            fields["title"],
            format!("{{{}}}", cite::tex_text(&paper.title))
        );
    }
    let title = |i: usize| entries[i]["fields"]["title"].as_str().unwrap().to_owned();
    assert_eq!(
        title(0),
        "{Unbalanced \\textbraceright{}\\textbraceright{} braces, a \\ backslash \\textbraceleft{}\\textbraceleft{} and $x\\rbrace{}$ with 100\\% \\# \\& \\_ in it\\textbackslash{}}"
    );
    assert_eq!(
        title(1),
        "{Closing\\textbraceright{}\\textbraceright{}, @misc{evil, title={pwned}} \"quotes\" ' and an escaped \\textbraceright{}}"
    );
    assert_eq!(
        title(2),
        "{Bounds for $\\mathcal{O}(n^2)$ {BERT} models: CLS = PPAD $\\cap$ PLS}"
    );
    assert_eq!(
        entries[0]["fields"]["author"],
        "van Beethoven, Ludwig and {The ATLAS Collaboration} and Plato and \\textbraceright{}Evil\\textbraceleft{}, Mallory and Co, Eve \\& and King, Jr., Martin Luther and {Smith and Wesson} and Schr\\\"odinger, Erwin"
    );
    assert_eq!(entries[2]["fields"]["year"], "1999");
}

#[test]
fn a_day_page_links_its_bibtex_and_anchors_and_cites_every_paper() {
    let archive = corpus();
    let pages = pages(&archive);
    let digest = archive
        .iter()
        .find(|d| d.date.to_string() == "2021-02-19")
        .unwrap();
    let doc = page(&pages, "2021-02-19/index.html");
    let link = doc
        .select(&Selector::parse("a[href$=\"papers.bib\"]").unwrap())
        .next()
        .expect("a link to papers.bib");
    assert_eq!(link.value().attr("href"), Some("../2021-02-19/papers.bib"));
    assert_eq!(link.text().collect::<String>(), "BibTeX for this day");

    let ids: Vec<&str> = doc
        .select(&Selector::parse("section.paper").unwrap())
        .map(|s| s.value().attr("id").unwrap())
        .collect();
    let expected: Vec<String> = digest
        .papers
        .iter()
        .map(|p| format!("paper-{}", p.rank))
        .collect();
    assert_eq!(ids, expected);

    // One span per paper, inside the paper's section; the attribute, once
    // HTML-decoded, is exactly the ContextObject.
    for paper in &digest.papers {
        let css = format!("section#paper-{} > span.Z3988", paper.rank);
        let spans: Vec<_> = doc.select(&Selector::parse(&css).unwrap()).collect();
        assert_eq!(spans.len(), 1, "{css}");
        assert_eq!(
            spans[0].value().attr("title"),
            Some(cite::coins(paper).as_str())
        );
    }
    assert_eq!(
        render_bibliographies(&archive.iter().collect::<Vec<_>>())
            .iter()
            .find(|b| b.path == "2021-02-19/papers.bib")
            .map(|b| b.text.matches("@misc{").count()),
        Some(digest.papers.len())
    );
}

#[test]
fn coins_spans_read_back_as_the_papers_they_describe() {
    let archive: Vec<Digest> = load_archive(&fixture("hostile/tex-and-braces"))
        .unwrap()
        .iter()
        .cloned()
        .collect();
    let doc = page(&pages(&archive), "2021-05-01/index.html");
    let spans: Vec<String> = doc
        .select(&Selector::parse("span.Z3988").unwrap())
        .map(|s| s.value().attr("title").unwrap().to_owned())
        .collect();
    assert_eq!(spans.len(), 3);
    for (kev, paper) in spans.iter().zip(&archive[0].papers) {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(kev.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |key: &str| -> Vec<&str> {
            pairs
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get("ctx_ver"), ["Z39.88-2004"]);
        assert_eq!(get("rft_val_fmt"), ["info:ofi/fmt:kev:mtx:journal"]);
        assert_eq!(get("rft.genre"), ["preprint"]);
        assert_eq!(get("rft.atitle"), [paper.title.as_str()]);
        assert_eq!(get("rft.jtitle"), ["arXiv"]);
        assert!(
            get("rft.title").is_empty(),
            "the journal's title in this format"
        );
        assert_eq!(get("rft.au").len(), paper.authors.len());
        let arxiv = format!("info:arxiv/{}", paper.arxiv_id);
        assert_eq!(get("rft_id"), [arxiv.as_str(), &paper.canonical_url()]);
    }
    let first = &spans[0];
    assert!(
        first.contains("&rft.au=van%20Beethoven%2C%20Ludwig&"),
        "{first}"
    );
    assert!(
        first.contains("&rft.au=The%20ATLAS%20Collaboration&"),
        "{first}"
    );
}

#[test]
fn a_day_without_papers_offers_no_bibtex() {
    let digest = parse_bytes(
        Path::new("2021-03-01.md"),
        &std::fs::read(fixture("valid/no-papers.md")).unwrap(),
    )
    .unwrap()
    .digest;
    assert!(render_bibliographies(&[&digest]).is_empty());
    let pages = pages(std::slice::from_ref(&digest));
    let html = &pages
        .iter()
        .find(|p| p.path == "2021-03-01/index.html")
        .unwrap()
        .html;
    assert!(!html.contains("papers.bib"), "{html}");
}

#[test]
fn categories_on_a_day_page_link_to_the_sites_own_category_pages() {
    let pages = pages(&corpus());
    let doc = page(&pages, "2021-03-19/index.html");
    let links: Vec<String> = doc
        .select(&Selector::parse("p.categories a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert!(!links.is_empty());
    for href in &links {
        let name = href
            .strip_prefix("../categories/")
            .and_then(|r| r.strip_suffix('/'))
            .unwrap_or_else(|| panic!("{href} is not a category page"));
        page(&pages, &format!("categories/{name}/index.html"));
    }
    // Counts are written one way: with thousands separators.
    assert!(doc.html().contains("5,907 retweets"));
}

#[test]
fn the_category_index_lists_every_category_by_group() {
    let archive = corpus();
    let pages = pages(&archive);
    let doc = page(&pages, "categories/index.html");
    let listed: Vec<String> = doc
        .select(&Selector::parse("ul.cats > li > a:first-child").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    let names: std::collections::BTreeSet<String> = archive
        .iter()
        .flat_map(|d| d.papers.iter())
        .flat_map(|p| p.categories.iter().map(|c| c.as_str().to_owned()))
        .collect();
    assert_eq!(listed.len(), names.len());
    for name in &names {
        assert!(listed.contains(&format!("../categories/{name}/")), "{name}");
    }
    let headings: Vec<String> = doc
        .select(&Selector::parse("main h2").unwrap())
        .map(|h| h.text().collect())
        .collect();
    assert_eq!(
        headings.first().map(String::as_str),
        Some("Computer Science")
    );
    // The front page and every category page link to it.
    let index = page(&pages, "index.html");
    assert!(attr(&index, "a[href='categories/']", "href").is_some());
    let cv = page(&pages, "categories/cs.CV/index.html");
    assert!(attr(&cv, "a[href='../../categories/']", "href").is_some());
}

#[test]
fn a_day_of_many_papers_opens_with_their_list() {
    let archive = corpus();
    let pages = pages(&archive);
    let day = archive
        .iter()
        .find(|d| d.date.to_string() == "2021-03-19")
        .unwrap();
    let doc = page(&pages, "2021-03-19/index.html");
    let entries: Vec<(String, String)> = doc
        .select(&Selector::parse("nav.contents li a").unwrap())
        .map(|a| {
            (
                a.value().attr("href").unwrap().to_owned(),
                a.text().collect(),
            )
        })
        .collect();
    assert_eq!(entries.len(), day.papers.len());
    for (paper, (href, title)) in day.papers.iter().zip(&entries) {
        assert_eq!(href, &format!("#paper-{}", paper.rank));
        assert_eq!(title, &hotpapers::tex::to_text(&paper.title));
        assert!(attr(&doc, &format!("section#paper-{}", paper.rank), "id").is_some());
    }
}

#[test]
fn build_writes_a_404_page_robots_sitemap_and_favicon() {
    let out = build(&fixture("corpus"));
    let read = |p: &str| std::fs::read_to_string(out.path().join(p)).unwrap();
    // The 404 page links absolutely: it is shown at any depth.
    let not_found = Html::parse_document(&read("404.html"));
    assert_eq!(
        attr(&not_found, "main a", "href").as_deref(),
        Some("http://127.0.0.1:8080/")
    );
    assert_eq!(
        attr(&not_found, "meta[name=robots]", "content").as_deref(),
        Some("noindex")
    );
    let robots = read("robots.txt");
    assert!(robots.starts_with("User-agent: *\n"), "{robots}");
    for path in [
        "/subscribe",
        "/unsubscribe",
        "/confirm",
        "/preferences",
        "/webhooks/",
    ] {
        assert!(robots.contains(&format!("Disallow: {path}\n")), "{robots}");
    }
    assert!(robots.contains("Sitemap: http://127.0.0.1:8080/sitemap.xml"));
    let sitemap = read("sitemap.xml");
    let doc = roxmltree::Document::parse(&sitemap).unwrap();
    let locs: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("loc"))
        .filter_map(|n| n.text())
        .collect();
    let days = corpus().len();
    assert!(locs.contains(&"http://127.0.0.1:8080/2021-03-19/"));
    assert!(locs.contains(&"http://127.0.0.1:8080/categories/cs.CV/"));
    assert!(locs.len() > days, "{}", locs.len());
    // Every page the sitemap names was written.
    for loc in &locs {
        let rel = loc.strip_prefix("http://127.0.0.1:8080/").unwrap();
        assert!(out.path().join(rel).join("index.html").is_file(), "{loc}");
    }
    let svg = read("favicon.svg");
    roxmltree::Document::parse(&svg).unwrap();
    let ico = std::fs::read(out.path().join("favicon.ico")).unwrap();
    assert_eq!(&ico[..4], &[0, 0, 1, 0], "an ICO header");
    let index = Html::parse_document(&read("index.html"));
    assert_eq!(
        attr(&index, "link[rel=icon]", "href").as_deref(),
        Some("favicon.svg")
    );
}

/// The feed pages of the sample corpus, and its feeds, by path.
fn feed_pages() -> (Vec<Page>, std::collections::BTreeMap<String, Vec<u8>>) {
    let archive = corpus();
    let config = config(Path::new("/nonexistent"));
    let templates = Templates::site_builtin().unwrap();
    let set = FeedSet::new(&archive, &config.site, &templates).unwrap();
    let feeds = set
        .files()
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.bytes))
        .collect();
    (
        render_feed_pages(&set, &config.site, &templates).unwrap(),
        feeds,
    )
}

fn texts(doc: &Html, css: &str) -> Vec<String> {
    doc.select(&Selector::parse(css).unwrap())
        .map(|e| e.text().collect::<String>())
        .collect()
}

#[test]
fn issue_17_every_feed_has_a_page_with_its_address_reader_links_and_latest_entries() {
    let (pages, feeds) = feed_pages();
    let mut expected: Vec<String> = feeds
        .keys()
        .filter(|p| p.ends_with(".xml") || p.ends_with(".json"))
        .map(|p| hotpapers::site::feed_page_path(p))
        .collect();
    expected.sort();
    let mut paths: Vec<String> = pages.iter().map(|p| p.path.clone()).collect();
    paths.sort();
    assert_eq!(paths, expected, "one page per feed");

    for (feed, page_path, title) in [
        ("atom.xml", "feeds/atom.html", "Hot Papers (Atom)"),
        ("papers.xml", "feeds/papers.html", "Hot Papers: every paper"),
        (
            "categories/cs.CV.xml",
            "feeds/categories/cs.CV.html",
            "Hot Papers: cs.CV",
        ),
    ] {
        let doc = page(&pages, page_path);
        let address = format!("{SITE}{feed}");
        assert_eq!(texts(&doc, "h1"), [title], "{page_path}");
        assert_eq!(
            texts(&doc, "code.address"),
            [address.as_str()],
            "{page_path}"
        );
        // A reader given the page's address finds the feed first.
        assert_eq!(
            attr(&doc, "link[rel=alternate]", "href"),
            Some(address.clone()),
            "{page_path}"
        );
        assert_eq!(
            attr(&doc, "link[rel=alternate]", "type").as_deref(),
            Some("application/atom+xml")
        );
        assert_eq!(
            attr(&doc, "link[rel=canonical]", "href"),
            Some(format!("{SITE}{page_path}"))
        );
        // One click to subscribe, the address percent-encoded.
        let encoded = address.replace(':', "%3A").replace('/', "%2F");
        for reader in [
            format!("https://feedly.com/i/subscription/feed%2F{encoded}"),
            format!("https://www.inoreader.com/?add_feed={encoded}"),
            format!("https://www.newsblur.com/?url={encoded}"),
            format!("https://theoldreader.com/feeds/subscribe?url={encoded}"),
        ] {
            assert!(
                attr(&doc, &format!("a[href='{reader}']"), "href").is_some(),
                "{page_path}: {reader}"
            );
        }
        let about = texts(&doc, "section.feed-about p").join(" ");
        assert!(
            about.contains("a feed reader app checks for you"),
            "{about}"
        );
        // The latest entries, as the feed has them: the first 20, in order.
        let parsed: atom_syndication::Feed =
            std::str::from_utf8(&feeds[feed]).unwrap().parse().unwrap();
        let listed: Vec<(String, String)> = doc
            .select(&Selector::parse("ul.entries li a").unwrap())
            .map(|a| {
                (
                    a.text().collect(),
                    a.value().attr("href").unwrap().to_owned(),
                )
            })
            .collect();
        let in_feed: Vec<(String, String)> = parsed
            .entries
            .iter()
            .take(20)
            .map(|e| (e.title.value.clone(), e.links[0].href.clone()))
            .collect();
        assert_eq!(listed, in_feed, "{page_path}");
        let more = parsed.entries.len().saturating_sub(20);
        let note = texts(&doc, "main p.note").join(" ");
        assert_eq!(
            note.contains(&format!("And {more} more in the feed")),
            more > 0,
            "{page_path}: {note}"
        );
        // Served at the feed's address too, so no link is relative.
        let links: Vec<&str> = doc
            .select(&Selector::parse("a[href], form[action]").unwrap())
            .filter_map(|e| e.value().attr("href").or(e.value().attr("action")))
            .collect();
        for link in links {
            assert!(link.starts_with("https://"), "{page_path}: {link}");
        }
    }
    let papers = page(&pages, "feeds/papers.html");
    assert!(texts(&papers, "main p.note")
        .iter()
        .any(|n| n.starts_with("And ") && n.contains("more in the feed")));
    // The digest in other formats is offered; a category, its own page.
    let atom = page(&pages, "feeds/atom.html");
    assert!(attr(&atom, &format!("a[href='{SITE}feeds/rss.html']"), "href").is_some());
    assert!(attr(&atom, &format!("a[href='{SITE}feeds/feed.html']"), "href").is_some());
    let cat = page(&pages, "feeds/categories/cs.CV.html");
    assert!(attr(&cat, &format!("a[href='{SITE}categories/cs.CV/']"), "href").is_some());
    for p in &pages {
        assert!(!p.html.contains("<script"), "{}", p.path);
    }
    assert_eq!(feed_pages().0, pages, "the same bytes every time");
}

#[test]
fn a_category_with_more_papers_than_its_page_shows_lists_them_by_year() {
    let archive = corpus();
    let pages = pages(&archive);
    let entries = |doc: &Html| {
        doc.select(&Selector::parse("ul.entries > li > a").unwrap())
            .filter_map(|a| a.value().attr("href").map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let papers_in = |name: &str, year: Option<i32>| {
        archive
            .iter()
            .filter(|d| year.is_none_or(|y| d.date.year() == y))
            .flat_map(|d| d.papers.iter())
            .flat_map(|p| p.categories.iter())
            .filter(|c| c.as_str() == name)
            .count()
    };
    // cs.LG has more papers than a page shows.
    let total = papers_in("cs.LG", None);
    assert!(total > hotpapers::site::CATEGORY_LATEST, "{total}");
    let front = page(&pages, "categories/cs.LG/index.html");
    let newest = entries(&front);
    assert_eq!(newest.len(), hotpapers::site::CATEGORY_LATEST);
    assert!(
        front.html().contains(&format!("{total} papers in")),
        "the whole count is given"
    );
    let years: Vec<String> = front
        .select(&Selector::parse("nav a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(years, ["2021/", "2020/"], "newest year first");
    let mut listed = Vec::new();
    for (href, year) in years.iter().zip([2021, 2020]) {
        let doc = page(&pages, &format!("categories/cs.LG/{href}index.html"));
        let of_year = entries(&doc);
        assert_eq!(of_year.len(), papers_in("cs.LG", Some(year)), "{year}");
        // Links from three folders down still reach the day pages.
        assert!(of_year
            .iter()
            .all(|h| h.starts_with(&format!("../../../{year}-"))));
        assert!(attr(&doc, "a[href='../../../categories/cs.LG/']", "href").is_some());
        listed.extend(of_year);
    }
    assert_eq!(
        listed.len(),
        total,
        "every paper is on the page of its year"
    );
    // The front page's newest are the first of the years' lists.
    let rebased: Vec<String> = listed[..newest.len()]
        .iter()
        .map(|h| h.replacen("../../../", "../../", 1))
        .collect();
    assert_eq!(rebased, newest);
    // A small category lists everything on its own page, with no years.
    let small = archive
        .iter()
        .flat_map(|d| d.papers.iter())
        .flat_map(|p| p.categories.iter())
        .map(|c| c.as_str().to_owned())
        .find(|c| papers_in(c, None) <= hotpapers::site::CATEGORY_LATEST)
        .unwrap();
    let doc = page(&pages, &format!("categories/{small}/index.html"));
    assert_eq!(entries(&doc).len(), papers_in(&small, None));
    assert!(doc
        .select(&Selector::parse("nav").unwrap())
        .next()
        .is_none());
    assert!(!pages
        .iter()
        .any(|p| p.path.starts_with(&format!("categories/{small}/2"))));
}
