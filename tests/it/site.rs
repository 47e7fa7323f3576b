//! The archive pages `hotpapers build` writes: one per digest with
//! previous/next links, the front page with the subscribe form and every feed,
//! one per category; feed autodiscovery, canonical and Open Graph in every
//! head; sanitized digest HTML; deterministic; overridable templates; only
//! changed pages rewritten.

use std::path::Path;

use hotpapers::config::Config;
use hotpapers::digest::{load_archive, parse_bytes};
use hotpapers::model::Digest;
use hotpapers::site::{render_pages, Page};
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
        for (kind, file) in [
            ("application/atom+xml", "atom.xml"),
            ("application/rss+xml", "rss.xml"),
            ("application/feed+json", "feed.json"),
        ] {
            assert_eq!(
                attr(&doc, &format!("link[rel=alternate][type='{kind}']"), "href"),
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
    assert!(attr(&doc, "form.subscribe input[name=categories]", "value").is_some());
    for p in &pages {
        assert!(!p.html.contains("<script"), "{}", p.path);
        // Dark mode is in the page's own style.
        assert!(p.html.contains("prefers-color-scheme: dark"), "{}", p.path);
    }
    // Every feed is linked from the front page, category feeds included.
    for feed in [
        "atom.xml",
        "rss.xml",
        "feed.json",
        "papers.xml",
        "feeds.opml",
        "categories/cs.CV.xml",
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
