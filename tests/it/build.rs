//! The incremental build: through a sequence of additions, changes and
//! removals, a build that reuses the previous one's cache writes exactly
//! the files, byte for byte, that a build from nothing writes, while
//! parsing and rendering only what changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use hotpapers::build::{build, Inputs, Report};
use hotpapers::clock::SystemClock;
use hotpapers::config::{Config, SiteSettings};
use hotpapers::templates::Templates;

use crate::support::fixture;

const SITE: &str = "https://hotpapers.example.org/";

/// A digests folder, a templates folder, and the output folder a build
/// keeps updating.
struct Archive {
    _dir: tempfile::TempDir,
    digests: PathBuf,
    templates: PathBuf,
    out: PathBuf,
    site: SiteSettings,
}

impl Archive {
    /// The first `n` corpus digests.
    fn with_corpus(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let digests = dir.path().join("digests");
        let templates = dir.path().join("templates");
        fs::create_dir_all(&digests).unwrap();
        fs::create_dir_all(&templates).unwrap();
        for file in corpus().into_iter().take(n) {
            fs::copy(&file, digests.join(file.file_name().unwrap())).unwrap();
        }
        let config = Config::builder().site_url(SITE).build().unwrap();
        Self {
            out: dir.path().join("out"),
            _dir: dir,
            digests,
            templates,
            site: config.site,
        }
    }

    fn build_into(&self, out: &Path) -> Report {
        let templates = Templates::site(&self.templates).unwrap();
        build(Inputs {
            digests: &self.digests,
            out,
            site: &self.site,
            templates: &templates,
            clock: &SystemClock,
        })
        .unwrap()
    }

    /// Builds into the kept folder, then into a new one, and insists both
    /// hold the same files; returns the kept build's report.
    #[track_caller]
    fn build_and_compare(&self, step: &str) -> Report {
        let report = self.build_into(&self.out);
        let fresh = tempfile::tempdir().unwrap();
        let fresh_report = self.build_into(fresh.path());
        assert_eq!(
            fresh_report.parsed,
            fresh_report.days + fresh_report.problems.len() + fresh_report.drafts,
            "{step}: a build from nothing parses every file"
        );
        assert_same_tree(&self.out, fresh.path(), step);
        assert_eq!(report.files, fresh_report.files, "{step}");
        assert_eq!(report.days, fresh_report.days, "{step}");
        assert_eq!(report.problems.len(), fresh_report.problems.len(), "{step}");
        // The search index holds the same days (tantivy's segments differ).
        assert_eq!(
            search_days(&self.out),
            search_days(fresh.path()),
            "{step}: search index"
        );
        report
    }

    fn digest(&self, name: &str) -> PathBuf {
        self.digests.join(name)
    }
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(fixture("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !p.ends_with("README.md"))
        .collect();
    files.sort();
    files
}

/// Every file under `dir` but the dot folders (the cache, the search index).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Folders left empty are as good as absent to a reader, but not to a
/// tidy operator: none is left behind either.
fn empty_folders(dir: &Path) -> Vec<PathBuf> {
    let mut empty = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        if entries.is_empty() {
            empty.push(d.clone());
        }
        stack.extend(entries.into_iter().filter(|p| p.is_dir()));
    }
    empty
}

#[track_caller]
fn assert_same_tree(kept: &Path, fresh: &Path, step: &str) {
    let (a, b) = (tree(kept), tree(fresh));
    let only_kept: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_fresh: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_kept.is_empty() && only_fresh.is_empty(),
        "{step}: only in the updated build {only_kept:?}, only in the fresh one {only_fresh:?}"
    );
    for (path, bytes) in &a {
        assert!(
            bytes == &b[path],
            "{step}: `{path}` differs from a fresh build's"
        );
    }
    assert_eq!(empty_folders(kept), Vec::<PathBuf>::new(), "{step}");
}

fn search_days(out: &Path) -> String {
    let root = out.join(".search");
    let current = fs::read_to_string(root.join("CURRENT")).unwrap();
    fs::read_to_string(root.join(current.trim()).join("days.tsv")).unwrap()
}

/// Replaces the first `from` in a file with `to`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn an_updated_build_equals_a_fresh_one_through_additions_changes_and_removals() {
    let files = corpus();
    let name = |i: usize| files[i].file_name().unwrap().to_string_lossy().into_owned();
    let archive = Archive::with_corpus(20);

    let first = archive.build_and_compare("first build");
    assert_eq!(first.parsed, 20);

    let again = archive.build_and_compare("nothing changed");
    assert_eq!(again.parsed, 0, "nothing is parsed again");
    assert_eq!(again.rendered, 0, "no page is rendered again");
    assert_eq!(again.written, 0, "no file is written again");

    // The daily case: the next digest arrives.
    fs::copy(&files[20], archive.digest(&name(20))).unwrap();
    let daily = archive.build_and_compare("one digest added");
    assert_eq!(daily.parsed, 1, "only the new file is parsed");
    assert!(
        daily.rendered < first.rendered / 3,
        "its page, its neighbour's and its categories' pages are rendered, not all: {} of {}",
        daily.rendered,
        first.rendered
    );

    // A digest in the middle changes: a paper gets another title.
    let middle = archive.digest(&name(10));
    let text = fs::read_to_string(&middle).unwrap();
    let title_line = text
        .lines()
        .find(|l| l.starts_with("# 1. "))
        .unwrap()
        .to_owned();
    edit(&middle, &title_line, &format!("{title_line} (revised)"));
    let changed = archive.build_and_compare("a digest changed");
    assert_eq!(changed.parsed, 1);

    // A change of the same size with its modification time put back (as
    // `cp -p` or an editor might): the change time gives it away.
    let other = archive.digest(&name(5));
    let modified = fs::metadata(&other).unwrap().modified().unwrap();
    let text = fs::read_to_string(&other).unwrap();
    let i = text.find(" the ").unwrap();
    let mut bytes = text.into_bytes();
    bytes[i + 3] = b'E';
    fs::write(&other, &bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(&other)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let sneaky = archive.build_and_compare("same size, same mtime");
    assert_eq!(sneaky.parsed, 1);

    // A day in the middle goes: its pages go, its neighbours link each other.
    fs::remove_file(archive.digest(&name(13))).unwrap();
    let removed = archive.build_and_compare("a middle digest removed");
    assert!(
        removed.removed >= 2,
        "its page and bibliography are removed: {removed:?}"
    );

    // The newest day goes: the feeds' window moves back.
    fs::remove_file(archive.digest(&name(20))).unwrap();
    archive.build_and_compare("the newest digest removed");

    // A category only one new digest has: its pages and feed come, then go.
    let newcomer = archive.digest("2030-01-01-extra.md");
    let text = fs::read_to_string(&files[25]).unwrap();
    let day = &name(25)[..10];
    let text = text.replace(day, "2030-01-01");
    let text = text.replace("cs.LG", "math.HO");
    fs::write(&newcomer, text).unwrap();
    archive.build_and_compare("a new category");
    assert!(archive.out.join("categories/math.HO/index.html").is_file());
    assert!(archive.out.join("categories/math.HO.xml").is_file());
    fs::remove_file(&newcomer).unwrap();
    archive.build_and_compare("the new category gone");
    assert!(!archive.out.join("categories/math.HO").exists());
    assert!(!archive.out.join("categories/math.HO.xml").exists());

    // A broken file, a draft and a second file for a day are reported and
    // left out, build after build.
    fs::write(archive.digest("broken.md"), "no front matter\n").unwrap();
    let draft = fs::read_to_string(&files[26])
        .unwrap()
        .replace(&name(26)[..10], "2031-05-05")
        .replacen("draft: false", "draft: true", 1);
    fs::write(archive.digest("2031-05-05-draft.md"), draft).unwrap();
    fs::copy(
        &files[3],
        archive.digest(&format!("{}-copy.md", &name(3)[..10])),
    )
    .unwrap();
    let troubled = archive.build_and_compare("broken, draft, duplicate");
    assert_eq!(troubled.problems.len(), 2, "{:?}", troubled.problems);
    let again = archive.build_and_compare("broken, draft, duplicate again");
    assert_eq!(again.problems.len(), 2);
    assert_eq!(again.rendered, 0);

    // An output someone deleted or edited is made again.
    let page = archive.out.join(format!("{}/index.html", &name(7)[..10]));
    fs::remove_file(&page).unwrap();
    let bib = archive.out.join(format!("{}/papers.bib", &name(8)[..10]));
    fs::write(&bib, "edited").unwrap();
    let mended = archive.build_and_compare("outputs deleted and edited");
    assert_eq!(mended.rendered, 2);

    // A changed template renders everything again.
    fs::write(
        archive.templates.join("site-day.html.hbs"),
        "<h1>{{title}}</h1>\n{{{digest_html}}}\n",
    )
    .unwrap();
    let templated = archive.build_and_compare("a template override");
    assert!(templated.rendered >= templated.days, "every day page again");
    assert_eq!(
        templated.parsed,
        templated.days + templated.problems.len() + templated.drafts
    );

    // A damaged cache is a build from nothing, not a failure.
    let cache = archive.out.join(".build/cache");
    let mut bytes = fs::read(&cache).unwrap();
    let half = bytes.len() / 2;
    bytes.truncate(half);
    fs::write(&cache, &bytes).unwrap();
    archive.build_and_compare("a truncated cache");
    fs::write(&cache, "not a cache").unwrap();
    archive.build_and_compare("a damaged cache");
}

#[test]
fn a_killed_build_leaves_nothing_a_later_build_trusts_wrongly() {
    let files = corpus();
    let archive = Archive::with_corpus(12);
    archive.build_and_compare("first build");
    let cache = archive.out.join(".build/cache");
    let before = fs::read(&cache).unwrap();
    // The next build writes its pages, then is killed before its cache:
    // the files are new, the cache is the old one.
    fs::copy(
        &files[12],
        archive.digest(files[12].file_name().unwrap().to_str().unwrap()),
    )
    .unwrap();
    archive.build_into(&archive.out);
    fs::write(&cache, before).unwrap();
    let next = archive.build_and_compare("after a build killed before its cache");
    assert_eq!(next.parsed, 1);
}

#[test]
fn settings_are_part_of_what_a_build_reuses() {
    let mut archive = Archive::with_corpus(6);
    archive.build_and_compare("first build");
    archive.site.title = "Other Papers".to_owned();
    let retitled = archive.build_and_compare("another site title");
    assert_eq!(retitled.parsed, 6, "another title: everything again");
    let index = fs::read_to_string(archive.out.join("index.html")).unwrap();
    assert!(index.contains("Other Papers"));
}
