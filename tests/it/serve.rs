//! `hotpapers serve` over real HTTP on loopback: content types, validators and
//! 304s, compression, traversal attempts, health check, graceful shutdown.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hotpapers::serve;
use reqwest::header;
use reqwest::StatusCode;
use tokio::sync::oneshot;

/// A built folder with one file of each kind, plus a secret next to it and
/// dot-files inside it that must never be served.
struct SiteDir {
    _tmp: tempfile::TempDir,
    out: PathBuf,
}

const ATOM: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Hot Papers</title></feed>\n";

fn site_dir() -> SiteDir {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let write = |rel: &str, body: &str| {
        let p = out.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    // Big enough that compression pays.
    let long_html = format!(
        "<!doctype html><title>Hot Papers</title>{}",
        "<p>a paper about transformers</p>\n".repeat(200)
    );
    write("index.html", &long_html);
    write("2021-02-12/index.html", "<!doctype html><title>Day</title>");
    write("atom.xml", ATOM);
    write("papers.xml", ATOM);
    write("categories/cs.CV.xml", ATOM);
    write(
        "rss.xml",
        "<?xml version=\"1.0\"?><rss version=\"2.0\"></rss>",
    );
    write(
        "feed.json",
        "{\"version\":\"https://jsonfeed.org/version/1.1\"}",
    );
    write("feed.xsl", "<xsl:stylesheet version=\"1.0\"/>");
    write("feeds.opml", "<opml version=\"2.0\"/>");
    write(".env", "HOTPAPERS_SECRET=do-not-serve");
    write(".git/config", "[core]");
    std::fs::write(tmp.path().join("secret.txt"), "outside the site").unwrap();
    SiteDir { _tmp: tmp, out }
}

/// A server running in this process on an ephemeral loopback port.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(out: &Path) -> Self {
        let site = Arc::new(serve::Site::new(out).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::run(listener, serve::router(site), async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// A client that neither decompresses nor follows redirects, so tests see the wire.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends `GET {target}` byte for byte (no client-side normalization of `..`)
/// and returns the status code.
fn raw_get_status(addr: SocketAddr, target: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {buf:?}"))
}

#[tokio::test]
async fn feeds_are_served_with_their_registered_content_types() {
    let dir = site_dir();
    let server = Running::start(&dir.out).await;
    let client = raw_client();
    for (path, expected) in [
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/papers.xml", "application/atom+xml; charset=utf-8"),
        (
            "/categories/cs.CV.xml",
            "application/atom+xml; charset=utf-8",
        ),
        ("/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/feed.xsl", "text/xsl; charset=utf-8"),
        ("/feeds.opml", "text/x-opml; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/2021-02-12/", "text/html; charset=utf-8"),
    ] {
        let res = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()[header::CONTENT_TYPE], expected, "{path}");
        assert!(res.headers().contains_key(header::CACHE_CONTROL), "{path}");
        assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_matching_etag_or_date_gets_304_and_a_changed_file_a_new_etag() {
    let dir = site_dir();
    let server = Running::start(&dir.out).await;
    let client = raw_client();
    let first = client.get(server.url("/atom.xml")).send().await.unwrap();
    let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
    let modified = first.headers()[header::LAST_MODIFIED].clone();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong: {etag}"
    );
    assert_eq!(first.text().await.unwrap(), ATOM);

    let again = client
        .get(server.url("/atom.xml"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    let by_date = client
        .get(server.url("/atom.xml"))
        .header(header::IF_MODIFIED_SINCE, modified.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED);

    // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    let stale_tag = client
        .get(server.url("/atom.xml"))
        .header(header::IF_NONE_MATCH, "\"0000\"")
        .header(header::IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .unwrap();
    assert_eq!(stale_tag.status(), StatusCode::OK);

    std::fs::write(dir.out.join("atom.xml"), ATOM.replace("Hot", "Cold")).unwrap();
    let changed = client
        .get(server.url("/atom.xml"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()[header::ETAG], etag.as_str());
    assert!(changed.text().await.unwrap().contains("Cold Papers"));
    server.stop().await;
}

#[tokio::test]
async fn bodies_are_compressed_with_what_the_client_accepts() {
    let dir = site_dir();
    let server = Running::start(&dir.out).await;
    let plain = std::fs::read_to_string(dir.out.join("index.html")).unwrap();
    let client = raw_client();
    let mut etags = Vec::new();
    for (accept, coding) in [
        ("gzip", Some("gzip")),
        ("br, gzip", Some("br")),
        ("gzip, br;q=0", Some("gzip")),
        ("identity", None),
    ] {
        let res = client
            .get(server.url("/"))
            .header(header::ACCEPT_ENCODING, accept)
            .send()
            .await
            .unwrap();
        let h = res.headers().clone();
        assert_eq!(
            h.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()),
            coding,
            "{accept}"
        );
        assert_eq!(h[header::VARY], "accept-encoding");
        let body = res.bytes().await.unwrap();
        if coding.is_some() {
            assert!(
                body.len() < plain.len() / 4,
                "{accept}: {} bytes",
                body.len()
            );
        } else {
            assert_eq!(body, plain.as_bytes());
        }
        etags.push(h[header::ETAG].to_str().unwrap().to_owned());
    }
    // Each representation has its own strong ETag.
    etags.dedup();
    assert_eq!(etags.len(), 4, "{etags:?}");

    // And a decompressing client gets the original bytes back.
    let decoded = reqwest::get(server.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(decoded, plain);
    server.stop().await;
}

#[tokio::test]
async fn paths_outside_the_folder_and_dot_files_are_refused() {
    let dir = site_dir();
    let server = Running::start(&dir.out).await;
    let addr = server.addr;
    let statuses = tokio::task::spawn_blocking(move || {
        [
            "/../secret.txt",
            "/2021-02-12/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2fsecret.txt",
            "/..%5csecret.txt",
            "/..\\secret.txt",
            "//etc/passwd",
            "/.env",
            "/.git/config",
            "/%2eenv",
        ]
        .map(|t| (t, raw_get_status(addr, t)))
    })
    .await
    .unwrap();
    for (target, status) in statuses {
        assert!(status == 400 || status == 404, "{target} answered {status}");
    }
    // An absolute-form request target names the path, not a file system path.
    let status = tokio::task::spawn_blocking(move || {
        raw_get_status(addr, &format!("http://{addr}/../secret.txt"))
    })
    .await
    .unwrap();
    assert!(status == 400 || status == 404, "{status}");
    server.stop().await;
}

#[tokio::test]
async fn a_folder_without_slash_redirects_and_unknown_paths_are_404() {
    let dir = site_dir();
    let server = Running::start(&dir.out).await;
    let client = raw_client();
    let res = client.get(server.url("/2021-02-12")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()[header::LOCATION], "/2021-02-12/");
    let res = client.get(server.url("/1999-01-01/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client.get(server.url("/atom.xml/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client.delete(server.url("/atom.xml")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let res = client.head(server.url("/atom.xml")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn healthz_answers_ok() {
    let dir = site_dir();
    let server = Running::start(&dir.out).await;
    let res = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok\n");
    server.stop().await;
}
