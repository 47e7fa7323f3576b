//! The archive's search: a real tantivy index of the sample archive
//! (`tests/fixtures/corpus`, 32 digests), queried through the library, then
//! `serve`'s `/search` over real HTTP on loopback.

use std::path::Path;

use hotpapers::search::{self, query, Index, Results};

use crate::support::{fixture, hotpapers, run, Served};

/// The index of the sample archive, built once per test in `out`.
fn index_in(out: &Path) -> Index {
    let archive = hotpapers::digest::load_archive(&fixture("corpus")).unwrap();
    let digests: Vec<_> = archive.iter().collect();
    search::write_index(out, &digests).unwrap();
    Index::open(out).unwrap()
}

fn find(index: &Index, q: &str) -> Results {
    index
        .search(&query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}")), 1)
        .unwrap()
}

fn ids(results: &Results) -> Vec<&str> {
    results.hits.iter().map(|h| h.id.as_str()).collect()
}

#[test]
fn title_words_stems_phrases_and_ids_find_their_paper() {
    let out = tempfile::tempdir().unwrap();
    let index = index_in(out.path());
    // Words of the title, stemmed: "limitation" and "model" find
    // "Limitations" and "Models".
    let r = find(&index, "limitation of large language model");
    assert_eq!(ids(&r)[0], "2102.02503");
    assert!(
        r.hits[0].title_html.contains("<mark>Limitations</mark>")
            && r.hits[0].title_html.contains("<mark>Models</mark>"),
        "{}",
        r.hits[0].title_html
    );
    // A phrase must match in order.
    assert_eq!(
        ids(&find(&index, "\"graph neural networks\" combinatorial"))[0],
        "2102.09544"
    );
    assert!(find(&index, "\"networks neural graph\" combinatorial").total == 0);
    // An exact arXiv id, with or without its prefix and version.
    for q in ["2102.09544", "arXiv:2102.09544", "2102.09544v2"] {
        assert_eq!(ids(&find(&index, q)), ["2102.09544"], "{q}");
    }
}

#[test]
fn authors_match_without_their_accents_and_tex_titles_by_their_words() {
    let out = tempfile::tempdir().unwrap();
    let index = index_in(out.path());
    for q in [
        "author:velickovic",
        "author:Veličković",
        "author:\"petar velickovic\"",
        "chetelat",
    ] {
        let r = find(&index, q);
        assert!(ids(&r).contains(&"2102.09544"), "{q}: {:?}", ids(&r));
    }
    // `$\cap$` in "CLS = PPAD $\cap$ PLS" is its Unicode, not in the way of its words.
    let r = find(&index, "title:\"ppad pls\"");
    assert_eq!(r.total, 1, "{:?}", ids(&r));
    assert!(
        r.hits[0].title.ends_with("CLS = PPAD ∩ PLS"),
        "{}",
        r.hits[0].title
    );
    // `$γ$-ray` too.
    assert_eq!(find(&index, "semi-parametric γ-ray gaussian").total, 1);
}

#[test]
fn a_title_match_ranks_above_an_abstract_match() {
    let out = tempfile::tempdir().unwrap();
    let index = index_in(out.path());
    let r = find(&index, "transformer");
    assert!(r.total > 3, "{}", r.total);
    let first_abstract_only = r
        .hits
        .iter()
        .position(|h| !h.title.to_lowercase().contains("transformer"))
        .unwrap_or(r.hits.len());
    assert!(
        r.hits[..first_abstract_only]
            .iter()
            .all(|h| h.title.to_lowercase().contains("transformer"))
            && r.hits[first_abstract_only..]
                .iter()
                .all(|h| !h.title.to_lowercase().contains("transformer")),
        "title matches first: {:?}",
        r.hits.iter().map(|h| &h.title).collect::<Vec<_>>()
    );
    assert!(first_abstract_only > 0);
}

#[test]
fn category_and_date_filters_narrow_and_pages_do_not_overlap() {
    let out = tempfile::tempdir().unwrap();
    let index = index_in(out.path());
    let r = find(
        &index,
        "learning category:cs.CV after:2021-02-01 before:2021-03",
    );
    assert!(r.total > 0);
    for h in &r.hits {
        assert!(h.categories.iter().any(|c| c == "cs.CV"), "{h:?}");
        assert!(
            ("2021-02-01".."2021-03-32").contains(&h.day.as_str()),
            "{}",
            h.day
        );
    }
    let all = find(&index, "learning");
    assert!(all.total > r.total && all.total > 2 * search::PER_PAGE);
    let q = query::parse("learning").unwrap();
    let page2 = index.search(&q, 2).unwrap();
    assert_eq!(page2.page, 2);
    assert_eq!(page2.hits.len(), search::PER_PAGE);
    assert!(
        page2.hits.iter().all(|h| !all.hits.contains(h)),
        "page 2 repeats page 1"
    );
    assert!(all.has_next());
    // Dates alone list the papers of those days.
    let days = find(&index, "after:2021-02-19 before:2021-02-19");
    assert!(days.total > 5 && days.hits.iter().all(|h| h.day == "2021-02-19"));
}

/// Every paper an index holds, as (day, rank, id, title), through its own
/// search: every day of the archive, page by page.
fn everything(index: &Index) -> Vec<(String, u64, String, String)> {
    let q = query::parse("after:1990-01-01").unwrap();
    let mut all = Vec::new();
    for page in 1..=search::MAX_PAGE {
        let r = index.search(&q, page).unwrap();
        all.extend(
            r.hits
                .iter()
                .map(|h| (h.day.clone(), h.rank, h.id.clone(), h.title.clone())),
        );
        if !r.has_next() {
            break;
        }
    }
    all.sort();
    all
}

/// The index a fresh build of `digests` writes, read back whole.
fn refs(digests: &[hotpapers::model::Digest]) -> Vec<&hotpapers::model::Digest> {
    digests.iter().collect()
}

fn fresh(digests: &[&hotpapers::model::Digest]) -> Vec<(String, u64, String, String)> {
    let out = tempfile::tempdir().unwrap();
    search::write_index(out.path(), digests).unwrap();
    everything(&Index::open(out.path()).unwrap())
}

#[test]
fn the_daily_build_updates_the_index_in_place_to_what_a_fresh_build_holds() {
    let out = tempfile::tempdir().unwrap();
    let archive = hotpapers::digest::load_archive(&fixture("corpus")).unwrap();
    let mut digests: Vec<hotpapers::model::Digest> = archive.iter().cloned().collect();
    let first = search::write_index(out.path(), &refs(&digests)).unwrap();
    assert!(
        matches!(first, search::Written::New(n) if n > 300),
        "{first:?}"
    );
    let name = search::current_name(out.path()).unwrap();
    assert!(matches!(
        search::write_index(out.path(), &refs(&digests)).unwrap(),
        search::Written::Unchanged(_)
    ));
    let opened = Index::open(out.path()).unwrap();

    // A day removed, a day changed, a day added: three days reindexed, in
    // the same folder, and the index holds what a fresh build would.
    let removed = digests.remove(0);
    digests[3].papers[0].title = "Zebrafish Telepathy Networks".to_owned();
    let mut added = digests.last().unwrap().clone();
    added.date = added.date.succ_opt().unwrap();
    digests.push(added);
    let written = search::write_index(out.path(), &refs(&digests)).unwrap();
    assert!(
        matches!(written, search::Written::Updated { days: 3, .. }),
        "{written:?}"
    );
    assert_eq!(search::current_name(out.path()).unwrap(), name);
    assert_eq!(everything(&opened), fresh(&refs(&digests)));
    // The index opened before sees the commit at its next search.
    assert_eq!(find(&opened, "zebrafish telepathy").total, 1);
    let gone = removed.date.format("%Y-%m-%d").to_string();
    assert_eq!(
        find(&opened, &format!("after:{gone} before:{gone}")).total,
        0
    );

    // When most days change, a new index is built and made current; the
    // one opened before still answers (its files were kept).
    let half = digests.len() / 2 + 1;
    digests.truncate(digests.len() - half);
    assert!(matches!(
        search::write_index(out.path(), &refs(&digests)).unwrap(),
        search::Written::New(_)
    ));
    assert_ne!(search::current_name(out.path()).unwrap(), name);
    assert!(find(&opened, "learning").total > 0);
    assert_eq!(
        everything(&Index::open(out.path()).unwrap()),
        fresh(&refs(&digests))
    );
}

#[test]
fn an_index_whose_manifest_is_lost_is_rebuilt_not_trusted() {
    let out = tempfile::tempdir().unwrap();
    let archive = hotpapers::digest::load_archive(&fixture("corpus")).unwrap();
    let digests: Vec<_> = archive.iter().collect();
    search::write_index(out.path(), &digests).unwrap();
    let name = search::current_name(out.path()).unwrap();
    let manifest = out.path().join(".search").join(&name).join("days.tsv");
    std::fs::write(&manifest, "schema 999\n").unwrap();
    assert!(matches!(
        search::write_index(out.path(), &digests).unwrap(),
        search::Written::New(_)
    ));
    assert_eq!(
        everything(&Index::open(out.path()).unwrap()),
        fresh(&digests)
    );
}

fn build_and_serve(out: &Path, digests: &Path) -> Served {
    let (o, stdout, stderr) = run(hotpapers()
        .arg("--digests")
        .arg(digests)
        .args(["build", "--out"])
        .arg(out));
    assert!(o.status.success(), "{stdout}\n{stderr}");
    Served::start(&mut hotpapers(), out)
}

/// GET `url` with `accept`: status, content type, body.
fn get(url: &str, accept: &str) -> (u16, String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, kind, r.text().await.unwrap())
    })
}

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

#[test]
fn serve_answers_search_as_a_page_and_as_json_and_says_why_a_query_cannot_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let server = build_and_serve(&out, &fixture("corpus"));
    let base = &server.base;

    // Every page has the search box.
    let (_, _, front) = get(&format!("{base}/"), HTML);
    assert!(
        front.contains("<form class=\"search\" action=\"search\""),
        "{front}"
    );

    let (status, kind, page) = get(
        &format!("{base}/search?q=graph+neural+networks+combinatorial"),
        HTML,
    );
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("<a href=\"2021-02-19/#paper-1\"><mark>Combinatorial</mark> optimization and reasoning with <mark>graph</mark> <mark>neural</mark> <mark>networks</mark></a>"), "{page}");
    assert!(
        page.contains("href=\"https://arxiv.org/pdf/2102.09544\""),
        "{page}"
    );
    assert!(page.contains("href=\"2021-02-19/papers.bib\""));
    // … which is the day's BibTeX, with this paper's entry.
    let (status, kind, bib) = get(&format!("{base}/2021-02-19/papers.bib"), "*/*");
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/x-bibtex; charset=utf-8")
    );
    assert!(bib.contains("@misc{arXiv:2102.09544,"), "{bib}");
    assert!(page.contains("value=\"graph neural networks combinatorial\""));

    // JSON, by Accept or by path, with the next page's link.
    let (status, kind, body) = get(&format!("{base}/search?q=learning"), "application/json");
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["hits"].as_array().unwrap().len(), search::PER_PAGE);
    assert!(
        v["next"]
            .as_str()
            .unwrap()
            .ends_with("search.json?q=learning&page=2"),
        "{v}"
    );
    let (_, _, body) = get(&format!("{base}/search.json?q=2102.02779"), "*/*");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(
        v["hits"][0]["title"],
        "Unifying Vision-and-Language Tasks via Text Generation"
    );
    assert!(v["hits"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/2021-02-05/#paper-2"));

    // Pages: the second differs from the first and links back.
    let (_, _, p2) = get(&format!("{base}/search?q=learning&page=2"), HTML);
    assert!(
        p2.contains("<ol class=\"hits\" start=\"11\">")
            && p2.contains("rel=\"prev\" href=\"search?q=learning\""),
        "{p2}"
    );

    // Hostile and malformed queries: a page that says so, escaped; never a 500.
    let hostile = [
        ("%22unbalanced", "A quote is not closed"),
        ("color%3Ared", "is not a filter here"),
        ("after%3Asoon", "is not a date"),
        (
            "%3Cscript%3Ealert(1)%3C%2Fscript%3E%20color%3Ax",
            "is not a filter here",
        ),
    ];
    for (q, says) in hostile {
        let (status, _, page) = get(&format!("{base}/search?q={q}"), HTML);
        assert_eq!(status, 200, "{q}");
        assert!(page.contains(says), "{q}: {page}");
        assert!(!page.contains("<script>"), "{q} is escaped");
    }
    let long = "a".repeat(5_000);
    let (status, _, page) = get(&format!("{base}/search?q={long}"), HTML);
    assert_eq!(status, 200);
    assert!(page.contains("too long") && !page.contains(&"a".repeat(400)));
    let (status, _, body) = get(&format!("{base}/search.json?q=%22x"), "application/json");
    assert_eq!(status, 400);
    assert!(body.contains("A quote is not closed"));
    let (status, _, _) = get(
        &format!("{base}/search?q=learning&page=999999999999999999999"),
        HTML,
    );
    assert_eq!(status, 200);
    let (status, _, page) = get(&format!("{base}/search"), HTML);
    assert_eq!(status, 200);
    assert!(page.contains("<input type=\"search\" id=\"search-q\""));
    // The index itself is never served.
    let (status, _, _) = get(&format!("{base}/.search/CURRENT"), HTML);
    assert_eq!(status, 404);
}

#[test]
fn serve_picks_up_a_rebuilt_index_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let digests = tmp.path().join("digests");
    std::fs::create_dir_all(&digests).unwrap();
    std::fs::copy(
        fixture("corpus/2021-02-05---Hot-Papers.md"),
        digests.join("2021-02-05---Hot-Papers.md"),
    )
    .unwrap();
    let out = tmp.path().join("public");
    let server = build_and_serve(&out, &digests);
    let url = format!(
        "{}/search.json?q=combinatorial+optimization+graph",
        server.base
    );
    let (_, _, body) = get(&url, "application/json");
    assert!(body.contains("\"total\":0"), "{body}");
    std::fs::copy(
        fixture("corpus/2021-02-19---Hot-Papers.md"),
        digests.join("2021-02-19---Hot-Papers.md"),
    )
    .unwrap();
    let (o, stdout, stderr) = run(hotpapers()
        .arg("--digests")
        .arg(&digests)
        .args(["build", "--out"])
        .arg(&out));
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let (_, _, body) = get(&url, "application/json");
    assert!(body.contains("\"id\":\"2102.09544\""), "{body}");
}

#[test]
fn a_rebuild_back_to_earlier_days_never_takes_the_folder_of_the_current_index() {
    let out = tempfile::tempdir().unwrap();
    let archive = hotpapers::digest::load_archive(&fixture("corpus")).unwrap();
    let all: Vec<_> = archive.iter().collect();
    let one = &all[..1];
    let two = &all[..2];
    search::write_index(out.path(), one).unwrap();
    let first = search::current_name(out.path()).unwrap();
    // A day added: updated in place, in the folder named for the first day.
    assert!(matches!(
        search::write_index(out.path(), two).unwrap(),
        search::Written::Updated { days: 1, .. }
    ));
    assert_eq!(search::current_name(out.path()).unwrap(), first);
    let opened = Index::open(out.path()).unwrap();
    // Back to the first day alone: most days changed, so a new index, whose
    // days are named like the current folder; it must not be that folder.
    assert!(matches!(
        search::write_index(out.path(), one).unwrap(),
        search::Written::New(_)
    ));
    let last = search::current_name(out.path()).unwrap();
    assert_ne!(last, first);
    // The index a reader had open is the one before: kept, whole.
    assert!(out.path().join(".search").join(&first).is_dir());
    assert_eq!(everything(&opened), fresh(two));
    assert_eq!(everything(&Index::open(out.path()).unwrap()), fresh(one));
}
