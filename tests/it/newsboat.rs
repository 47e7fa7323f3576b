//! Issue #17, with a real feed reader: newsboat (Debian's package) imports
//! the `feeds.opml` that `build` wrote for the sample corpus, reloads every
//! feed from `serve` on loopback, and keeps each in its SQLite cache. newsboat
//! keys entries by id alone across all its feeds, so a paper id shared by
//! `papers.xml` and a category feed would leave the entry in only one of
//! them: every feed must hold exactly as many entries as its file.
//!
//! Skipped with one line when newsboat is not installed, unless
//! `HOTPAPERS_TEST_NEWSBOAT=require` (`.ci/run` installs it and sets that).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use atom_syndication::Feed;

use crate::support::{fixture, hotpapers, run, Served};

/// `newsboat`, if it runs here; a panic if it must and does not.
fn newsboat() -> Option<&'static str> {
    let found = Command::new("newsboat")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required = std::env::var("HOTPAPERS_TEST_NEWSBOAT").is_ok_and(|v| v == "require");
        assert!(
            !required,
            "HOTPAPERS_TEST_NEWSBOAT=require, but newsboat does not run"
        );
        eprintln!("skipped: needs newsboat (`apt-get install newsboat`)");
    }
    found.then_some("newsboat")
}

/// newsboat with its own urls file, cache, config and home in `dir`.
fn newsboat_in(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("HOME", dir.join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .arg("-u")
        .arg(dir.join("urls"))
        .arg("-c")
        .arg(dir.join("cache.db"))
        .arg("-C")
        .arg(dir.join("config"))
        .stdin(std::process::Stdio::null());
    cmd
}

/// Entries in each Atom feed of the OPML bundle, by absolute URL.
fn entries_per_feed(out: &Path, base: &str) -> BTreeMap<String, usize> {
    let opml = std::fs::read_to_string(out.join("feeds.opml")).unwrap();
    let mut counts = BTreeMap::new();
    for url in opml
        .split("xmlUrl=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        let rel = url
            .strip_prefix(&format!("{base}/"))
            .unwrap_or_else(|| panic!("{url} is on the served site"));
        let feed: Feed = std::fs::read_to_string(out.join(rel))
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        counts.insert(url.to_owned(), feed.entries.len());
    }
    counts
}

#[test]
fn issue_17_after_importing_feeds_opml_into_newsboat_every_feed_is_full() {
    let Some(program) = newsboat() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    std::fs::create_dir_all(&out).unwrap();
    // Serve first, to learn the port; then build for that address.
    let served = Served::start(&mut hotpapers(), &out);
    let (o, stdout, stderr) = run(hotpapers()
        .arg("--digests")
        .arg(fixture("corpus"))
        .args(["--site-url", &format!("{}/", served.base), "build", "--out"])
        .arg(&out));
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let expected = entries_per_feed(&out, &served.base);
    assert!(expected.len() > 50, "{} feeds in the OPML", expected.len());

    let reader = tmp.path().join("newsboat");
    std::fs::create_dir_all(reader.join("home")).unwrap();
    std::fs::write(reader.join("urls"), "").unwrap();
    std::fs::write(reader.join("config"), "").unwrap();
    let (o, stdout, stderr) = run(newsboat_in(program, &reader)
        .arg("-i")
        .arg(out.join("feeds.opml")));
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let (o, stdout, stderr) = run(newsboat_in(program, &reader).args(["-x", "reload"]));
    assert!(o.status.success(), "{stdout}\n{stderr}");

    let cache = rusqlite::Connection::open(reader.join("cache.db")).unwrap();
    let mut query = cache
        .prepare("SELECT feedurl, count(*) FROM rss_item GROUP BY feedurl")
        .unwrap();
    let held: BTreeMap<String, usize> = query
        .query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)?)))
        .unwrap()
        .map(|row| {
            let (url, n) = row.unwrap();
            (url, usize::try_from(n).unwrap())
        })
        .collect();
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(url, &n)| {
            let got = held.get(url).copied().unwrap_or(0);
            (got != n).then(|| format!("{url}: {got} of {n}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} feeds are not full in newsboat: {wrong:#?}",
        wrong.len(),
        expected.len()
    );
    assert_eq!(held.len(), expected.len(), "newsboat holds no other feed");
}
