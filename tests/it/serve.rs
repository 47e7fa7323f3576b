//! `hotpapers serve` over real HTTP on loopback: content types, validators and
//! 304s, compression, traversal attempts, health check, graceful shutdown.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotpapers::clock::Clock;
use hotpapers::config::Config;
use hotpapers::model::{Subscriber, SubscriberStatus};
use hotpapers::serve;
use hotpapers::subscribers::SubscriberStore;
use hotpapers::token::{ConfirmClaim, Signer};
use reqwest::header;
use reqwest::StatusCode;
use tokio::sync::oneshot;

use crate::smtp_server::{Behaviour, SmtpServer};
use crate::support;

/// A built folder with one file of each kind, plus a secret next to it and
/// dot-files inside it that must never be served.
pub(crate) struct SiteDir {
    _tmp: tempfile::TempDir,
    pub(crate) out: PathBuf,
}

const ATOM: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Hot Papers</title></feed>\n";

pub(crate) fn site_dir() -> SiteDir {
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
    std::fs::create_dir_all(tmp.path().join("subscribers")).unwrap();
    std::fs::write(
        tmp.path().join("subscribers/subscribers.yaml"),
        "- email: old@example.org\n  name: Old Reader\n",
    )
    .unwrap();
    SiteDir { _tmp: tmp, out }
}

/// A clock the tests move by hand.
#[derive(Debug)]
pub(crate) struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            Utc.with_ymd_and_hms(2021, 2, 12, 8, 0, 0).unwrap(),
        )))
    }
    pub(crate) fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub(crate) const SECRET: &str = "serve-test-secret-0123456789";

/// Settings for a server at `addr` over `dir`: subscribers, outbox and
/// templates folders inside the temporary folder.
fn config_for(dir: &SiteDir, addr: SocketAddr, secret: &str) -> Config {
    let root = dir.out.parent().unwrap();
    Config::builder()
        .site_url(format!("http://{addr}/"))
        .secret(Some(secret))
        .subscribers(root.join("subscribers"))
        .outbox(root.join("outbox"))
        .templates(root.join("templates"))
        .build()
        .unwrap()
}

/// A server running in this process on an ephemeral loopback port, mailing
/// to the outbox folder.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) config: Config,
    pub(crate) clock: Arc<TestClock>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub(crate) async fn start(dir: &SiteDir) -> Self {
        Self::start_with(dir, None).await
    }

    /// Mails through the SMTP server at `smtp_url`, or to the outbox when `None`.
    async fn start_with(dir: &SiteDir, smtp_url: Option<String>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(dir, listener, smtp_url, None)
    }

    /// Keeps subscribers in the PostgreSQL database `database_url` instead
    /// of the folder.
    pub(crate) async fn start_on_database(dir: &SiteDir, database_url: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(dir, listener, None, Some(database_url))
    }

    /// Serves on `listener`.
    fn start_on(
        dir: &SiteDir,
        listener: tokio::net::TcpListener,
        smtp_url: Option<String>,
        database_url: Option<&str>,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let mut config = config_for(dir, addr, SECRET);
        config.database = database_url.map(|u| hotpapers::db::DatabaseSettings::parse(u).unwrap());
        config.delivery.smtp = smtp_url.map(|u| {
            hotpapers::delivery::SmtpSettings::parse(&u, None, None, None).expect("test URL")
        });
        let clock = TestClock::new();
        let transport = hotpapers::delivery::transport_from_config(&config.delivery).unwrap();
        let site = Arc::new(serve::Site::new(&dir.out, &config, transport, clock.clone()).unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::run(listener, serve::router(site), async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            config,
            clock,
            stop: Some(stop),
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
    }

    /// The subscriber record for `email`, as stored (on disk or in the database) now.
    pub(crate) fn record(&self, email: &str) -> Option<Subscriber> {
        hotpapers::state::subscriber_store(&self.config)
            .unwrap()
            .load()
            .unwrap()
            .get(email)
            .cloned()
    }

    /// The messages in the outbox now, oldest first, as (recipient, text body).
    fn outbox_now(&self) -> Vec<(String, String)> {
        let Ok(entries) = std::fs::read_dir(&self.config.delivery.outbox) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| {
                let bytes = std::fs::read(&p).unwrap();
                let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
                let to = msg
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned();
                (to, msg.body_text(0).unwrap_or_default().into_owned())
            })
            .collect()
    }

    /// The messages in the outbox once `count` are there (confirmations are
    /// sent in the background, after the answer), and a moment more so that
    /// one too many would show; panics after 10 s.
    async fn outbox_of(&self, count: usize) -> Vec<(String, String)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if self.outbox_now().len() >= count {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                return self.outbox_now();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} messages in the outbox, expected {count}",
                self.outbox_now().len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The confirmation link in the newest message to `email`.
    pub(crate) async fn confirm_link(&self, email: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let (_, body) = loop {
            let found = self
                .outbox_now()
                .into_iter()
                .rev()
                .find(|(to, _)| to == email);
            if let Some(found) = found {
                break found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no message to {email}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let start = body.find("http://").expect("a link in the email");
        let link: String = body[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>')
            .collect();
        assert!(link.contains("/confirm?token="), "{link}");
        link
    }

    pub(crate) fn unsubscribe_link(&self, email: &str) -> String {
        let mut url = self.config.site.url.join("unsubscribe").unwrap();
        url.query_pairs_mut().append_pair(
            "token",
            &Signer::new(SECRET.as_bytes()).unsubscribe_token(email),
        );
        url.into()
    }
}

/// A client that neither decompresses nor follows redirects, so tests see the wire.
pub(crate) fn raw_client() -> reqwest::Client {
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
    let server = Running::start(&dir).await;
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
    let server = Running::start(&dir).await;
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
    let server = Running::start(&dir).await;
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
    let server = Running::start(&dir).await;
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
    let server = Running::start(&dir).await;
    let client = raw_client();
    let res = client.get(server.url("/2021-02-12")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()[header::LOCATION], "/2021-02-12/");
    let res = client.get(server.url("/1999-01-01/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client.get(server.url("/atom.xml/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A file removed from the folder is gone from the server too.
    assert_eq!(
        client
            .get(server.url("/papers.xml"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    std::fs::remove_file(dir.out.join("papers.xml")).unwrap();
    let res = client.get(server.url("/papers.xml")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client.delete(server.url("/atom.xml")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let res = client.head(server.url("/atom.xml")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_path_gets_the_sites_own_404_page_when_built() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    // Without a 404.html: one line of text.
    let res = client
        .get(server.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.text().await.unwrap(), "not found\n");
    // With one (as `build` writes it): that page, still a 404, at any depth.
    let page = "<!doctype html><title>Page not found</title><a href=\"http://x/\">home</a>";
    std::fs::write(dir.out.join("404.html"), page).unwrap();
    for path in ["/no/such/page", "/1999-01-01/", "/atom.xml/", "/.env"] {
        let res = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(res.text().await.unwrap(), page, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn healthz_answers_ok() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let res = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok\n");
    server.stop().await;
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub(crate) async fn post_form(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> (StatusCode, String) {
    let res = client
        .post(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// The token inside a confirmation link.
pub(crate) fn token_of(link: &str) -> String {
    url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn subscribing_adds_nobody_until_the_emailed_link_is_confirmed_by_post() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let (status, body) = post_form(
        &client,
        &server.url("/subscribe"),
        "email=Ada%40Example.org&categories=cs.LG&categories=cs.CV".to_owned(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Check your inbox"), "{body}");
    assert!(server.record("ada@example.org").is_none());

    let link = server.confirm_link("Ada@Example.org").await;
    // Following the link (what a mail scanner does) changes nothing.
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    let page = page.text().await.unwrap();
    assert!(
        page.contains("<form class=\"action\" method=\"post\" action=\"confirm\">"),
        "{page}"
    );
    assert!(server.record("ada@example.org").is_none());

    let (status, body) = post_form(
        &client,
        &server.url("/confirm"),
        form(&[("token", &token_of(&link))]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("You are subscribed"));
    let record = server.record("ada@example.org").expect("added");
    assert!(record.is_active());
    let cats: Vec<&str> = record
        .categories
        .iter()
        .map(hotpapers::model::Category::as_str)
        .collect();
    assert_eq!(cats, ["cs.CV", "cs.LG"]);
    assert_eq!(record.subscribed_at, Some(server.clock.now()));

    // Confirming twice is harmless.
    let (status, _) = post_form(
        &client,
        &server.url("/confirm"),
        form(&[("token", &token_of(&link))]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_answer_is_the_same_whether_or_not_the_address_is_subscribed() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let (s1, known) = post_form(
        &client,
        &server.url("/subscribe"),
        form(&[("email", "old@example.org")]),
    )
    .await;
    let (s2, unknown) = post_form(
        &client,
        &server.url("/subscribe"),
        form(&[("email", "new@example.org")]),
    )
    .await;
    assert_eq!(s1, s2);
    assert_eq!(known.replace("old@", "X@"), unknown.replace("new@", "X@"));
    // Both got a confirmation email; the existing record is untouched.
    let mut to: Vec<String> = server
        .outbox_of(2)
        .await
        .into_iter()
        .map(|(to, _)| to)
        .collect();
    // Sent in the background, in either order.
    to.sort();
    assert_eq!(to, ["new@example.org", "old@example.org"]);
    assert!(server.record("old@example.org").unwrap().is_active());
    server.stop().await;
}

#[tokio::test]
async fn a_bad_address_or_category_is_refused_and_nothing_is_sent() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    for body in [
        form(&[("email", "not an address")]),
        form(&[("email", "")]),
        String::new(),
        form(&[("email", &format!("{}@example.org", "a".repeat(300)))]),
        form(&[("email", "ada@example.org"), ("categories", "<script>")]),
    ] {
        let (status, page) = post_form(&client, &server.url("/subscribe"), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!page.contains("<script>"), "escaped: {page}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(server.outbox_now().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn one_client_is_rate_limited_and_told_when_to_come_back() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (status, _) = post_form(
            &client,
            &server.url("/subscribe"),
            form(&[("email", &format!("reader{i}@example.org"))]),
        )
        .await;
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    let res = client
        .post(server.url("/subscribe"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("email", "late@example.org")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    server
        .clock
        .advance(Duration::seconds(i64::try_from(wait).unwrap()));
    let (status, _) = post_form(
        &client,
        &server.url("/subscribe"),
        form(&[("email", "late@example.org")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.outbox_of(6).await.len(), 6);
    server.stop().await;
}

#[tokio::test]
async fn behind_a_local_proxy_each_forwarded_client_has_its_own_limit() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let mut statuses = Vec::new();
    for (i, forwarded) in ["203.0.113.7"; 6]
        .into_iter()
        .chain(["10.0.0.1, 198.51.100.9"])
        .enumerate()
    {
        let res = client
            .post(server.url("/subscribe"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-for", forwarded)
            .body(form(&[("email", &format!("reader{i}@example.org"))]))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    // The sixth from one client is refused; another client is not.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 200]);
    server.stop().await;
}

#[tokio::test]
async fn audit_6_listening_on_ipv6_any_a_local_proxy_is_still_recognised() {
    let dir = site_dir();
    let Ok(listener) = tokio::net::TcpListener::bind("[::]:0").await else {
        eprintln!("no IPv6 on this machine: skipped");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let server = Running::start_on(&dir, listener, None, None);
    let client = raw_client();
    // Over IPv4 to a dual-stack socket: the peer is `::ffff:127.0.0.1`.
    let url = format!("http://127.0.0.1:{port}/subscribe");
    let mut statuses = Vec::new();
    for (i, forwarded) in ["203.0.113.7"; 6]
        .into_iter()
        .chain(["198.51.100.9", "::ffff:198.51.100.10"])
        .enumerate()
    {
        let res = client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-for", forwarded)
            .body(form(&[("email", &format!("reader{i}@example.org"))]))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 200, 200]);
    server.stop().await;
}

#[tokio::test]
async fn one_mailbox_gets_a_few_confirmations_however_often_it_is_asked_for() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    for _ in 0..5 {
        let (status, _) = post_form(
            &client,
            &server.url("/subscribe"),
            form(&[("email", "victim@example.org")]),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(server.outbox_of(3).await.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn expired_forged_and_malformed_confirmations_change_nothing() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    post_form(
        &client,
        &server.url("/subscribe"),
        form(&[("email", "ada@example.org")]),
    )
    .await;
    let good = token_of(&server.confirm_link("ada@example.org").await);

    let now = server.clock.now();
    let forged = Signer::new(b"someone else's secret key").confirm_token(&ConfirmClaim {
        email: "ada@example.org".into(),
        categories: vec![],
        issued: now,
        expires: now + Duration::hours(48),
        signup: None,
    });
    // One character of the sealed token changed (inside it, so it still decodes).
    let mut tampered = good.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (token, expected) in [
        (forged.as_str(), StatusCode::FORBIDDEN),
        (tampered.as_str(), StatusCode::FORBIDDEN),
        ("garbage", StatusCode::BAD_REQUEST),
        ("", StatusCode::BAD_REQUEST),
    ] {
        let get = client
            .get(server.url(&format!("/confirm?token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), expected, "GET {token}");
        let (post, _) =
            post_form(&client, &server.url("/confirm"), form(&[("token", token)])).await;
        assert_eq!(post, expected, "POST {token}");
    }
    let (missing, _) = post_form(&client, &server.url("/confirm"), String::new()).await;
    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert!(server.record("ada@example.org").is_none());

    server
        .clock
        .advance(Duration::hours(48) + Duration::seconds(1));
    let (status, body) =
        post_form(&client, &server.url("/confirm"), form(&[("token", &good)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("expired"), "{body}");
    assert!(server.record("ada@example.org").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_confirmation_issued_before_a_later_unsubscribe_is_refused() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    post_form(
        &client,
        &server.url("/subscribe"),
        form(&[("email", "ada@example.org")]),
    )
    .await;
    let old = token_of(&server.confirm_link("ada@example.org").await);
    server.clock.advance(Duration::minutes(5));
    let (status, _) = post_form(&client, &server.url("/confirm"), form(&[("token", &old)])).await;
    assert_eq!(status, StatusCode::OK);

    server.clock.advance(Duration::hours(1));
    let (status, _) = post_form(
        &client,
        &server.unsubscribe_link("ada@example.org"),
        "List-Unsubscribe=One-Click".into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The old link, replayed within its lifetime, does not undo the unsubscribe.
    server.clock.advance(Duration::minutes(1));
    let (status, body) =
        post_form(&client, &server.url("/confirm"), form(&[("token", &old)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        server.record("ada@example.org").unwrap().status,
        SubscriberStatus::Unsubscribed
    );

    // A new request after the unsubscribe does.
    server.clock.advance(Duration::minutes(1));
    post_form(
        &client,
        &server.url("/subscribe"),
        form(&[("email", "ada@example.org")]),
    )
    .await;
    server.outbox_of(2).await;
    let fresh = token_of(&server.confirm_link("ada@example.org").await);
    assert_ne!(fresh, old);
    let (status, _) = post_form(&client, &server.url("/confirm"), form(&[("token", &fresh)])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.record("ada@example.org").unwrap().is_active());
    server.stop().await;
}

#[tokio::test]
async fn one_click_unsubscribe_is_immediate_and_idempotent_and_get_changes_nothing() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let link = server.unsubscribe_link("Old@Example.org");

    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("method=\"post\" action=\"unsubscribe?token="),
        "{page}"
    );
    assert!(server.record("old@example.org").unwrap().is_active());

    let unsubscribed_at = server.clock.now();
    for _ in 0..2 {
        // RFC 8058: the mail provider POSTs this body to the List-Unsubscribe URL.
        let (status, body) = post_form(&client, &link, "List-Unsubscribe=One-Click".into()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("You are unsubscribed"));
        let record = server.record("old@example.org").unwrap();
        assert_eq!(record.status, SubscriberStatus::Unsubscribed);
        // The second request finds nothing to do: the first time is kept.
        assert_eq!(record.status_changed_at, Some(unsubscribed_at));
        assert_eq!(
            record.name.as_deref(),
            Some("Old Reader"),
            "the rest of the record is kept"
        );
        server.clock.advance(Duration::minutes(1));
    }
    // An address that never subscribed: same answer, nothing added.
    let (status, _) = post_form(
        &client,
        &server.unsubscribe_link("nobody@example.org"),
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.record("nobody@example.org").is_none());
    server.stop().await;
}

#[tokio::test]
async fn forged_or_malformed_unsubscribe_tokens_change_nothing() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let forged = Signer::new(b"someone else's secret key").unsubscribe_token("old@example.org");
    let confirm_kind = Signer::new(SECRET.as_bytes()).confirm_token(&ConfirmClaim {
        email: "old@example.org".into(),
        categories: vec![],
        issued: server.clock.now(),
        expires: server.clock.now() + Duration::hours(1),
        signup: None,
    });
    for (token, expected) in [
        (forged.as_str(), StatusCode::FORBIDDEN),
        (confirm_kind.as_str(), StatusCode::FORBIDDEN),
        ("not-a-token", StatusCode::BAD_REQUEST),
    ] {
        let mut url = server.config.site.url.join("unsubscribe").unwrap();
        url.query_pairs_mut().append_pair("token", token);
        assert_eq!(
            client.get(url.as_str()).send().await.unwrap().status(),
            expected
        );
        let (status, _) =
            post_form(&client, url.as_str(), "List-Unsubscribe=One-Click".into()).await;
        assert_eq!(status, expected, "{token}");
    }
    let (status, _) = post_form(
        &client,
        &server.url("/unsubscribe"),
        "List-Unsubscribe=One-Click".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(server.record("old@example.org").unwrap().is_active());
    server.stop().await;
}

#[tokio::test]
async fn edits_by_serve_and_by_the_subscribers_command_at_once_all_survive() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let root = dir.out.parent().unwrap().to_owned();
    // Ten readers to unsubscribe through HTTP while the CLI adds ten others.
    let store = SubscriberStore::open(&server.config.subscribers).unwrap();
    store
        .update(|list| {
            for i in 0..10 {
                list.upsert(Subscriber::new(format!("web{i}@example.org")));
            }
            Ok(())
        })
        .unwrap();
    let cli = std::thread::spawn(move || {
        for i in 0..10 {
            let (out, _, stderr) = support::run(
                support::hotpapers()
                    .arg("--subscribers")
                    .arg(root.join("subscribers"))
                    .args(["subscribers", "add", &format!("cli{i}@example.org")]),
            );
            assert!(out.status.success(), "{stderr}");
        }
    });
    let client = raw_client();
    let mut requests = Vec::new();
    for i in 0..10 {
        let url = server.unsubscribe_link(&format!("web{i}@example.org"));
        let client = client.clone();
        requests.push(tokio::spawn(async move {
            post_form(&client, &url, "List-Unsubscribe=One-Click".into())
                .await
                .0
        }));
    }
    for r in requests {
        assert_eq!(r.await.unwrap(), StatusCode::OK);
    }
    tokio::task::spawn_blocking(move || cli.join().unwrap())
        .await
        .unwrap();
    for i in 0..10 {
        assert_eq!(
            server
                .record(&format!("web{i}@example.org"))
                .unwrap()
                .status,
            SubscriberStatus::Unsubscribed
        );
        assert!(server
            .record(&format!("cli{i}@example.org"))
            .unwrap()
            .is_active());
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_sends_the_confirmations_queued_then_stops() {
    // An SMTP server slow enough that the confirmation is still being sent
    // (in the background, after the answer) when the shutdown signal comes.
    let smtp = SmtpServer::start(Behaviour {
        reply_delay: std::time::Duration::from_millis(150),
        ..Behaviour::default()
    });
    let dir = site_dir();
    let server = Running::start_with(&dir, Some(smtp.url())).await;
    let client = raw_client();
    let url = server.url("/subscribe");
    let in_flight = tokio::spawn(async move {
        post_form(&client, &url, form(&[("email", "ada@example.org")])).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(smtp.received().is_empty(), "the email is still being sent");
    let addr = server.addr;
    server.stop().await;
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(smtp.received().len(), 1);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

#[test]
fn the_binary_serves_until_sigterm_and_exits_cleanly() {
    use std::io::BufRead;
    let dir = site_dir();
    let root = dir.out.parent().unwrap();
    let mut child = support::hotpapers()
        .args(["serve", "--addr", "127.0.0.1:0", "--out"])
        .arg(&dir.out)
        .arg("--subscribers")
        .arg(root.join("subscribers"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited early"
        );
        if let Some(rest) = line.trim().strip_prefix("listening on http://") {
            break rest.trim_end_matches('/').to_owned();
        }
    };
    let status = raw_get_status(addr.parse().unwrap(), "/healthz");
    assert_eq!(status, 200);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "{exit:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Asserts the security headers every answer carries, with `csp` containing
/// `policy_part`.
#[track_caller]
fn assert_security_headers(what: &str, h: &header::HeaderMap, policy_part: &str) {
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{what}");
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{what}");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains(policy_part), "{what}: {csp}");
}

#[tokio::test]
async fn audit_15_every_kind_of_answer_carries_the_security_headers() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let client = raw_client();
    const PAGE: &str = "style-src 'unsafe-inline'";
    const FEED: &str = "script-src 'self'";
    const OTHER: &str = "sandbox";
    for (method, path, status, policy) in [
        ("GET", "/", 200, PAGE),
        ("GET", "/2021-02-12/", 200, PAGE),
        ("GET", "/atom.xml", 200, FEED),
        ("GET", "/rss.xml", 200, FEED),
        ("GET", "/categories/cs.CV.xml", 200, FEED),
        ("GET", "/feed.json", 200, OTHER),
        ("GET", "/feeds.opml", 200, OTHER),
        ("GET", "/feed.xsl", 200, OTHER),
        ("HEAD", "/atom.xml", 200, FEED),
        ("GET", "/healthz", 200, OTHER),
        ("GET", "/1999-01-01/", 404, OTHER),
        ("GET", "/.env", 404, OTHER),
        ("GET", "/a%2F..%2Fsecret.txt", 400, OTHER),
        ("GET", "/2021-02-12", 308, OTHER),
        ("DELETE", "/atom.xml", 405, OTHER),
        ("GET", "/subscribe", 405, OTHER),
        ("GET", "/confirm", 400, PAGE),
        ("GET", "/unsubscribe?token=garbage", 400, PAGE),
        ("POST", "/subscribe", 400, PAGE),
    ] {
        let res = client
            .request(method.parse().unwrap(), server.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        assert_security_headers(&format!("{method} {path}"), res.headers(), policy);
    }
    // 304s carry the policy of the file they revalidate (a browser copies
    // their headers onto its stored copy).
    for (path, policy) in [("/", PAGE), ("/atom.xml", FEED), ("/feed.json", OTHER)] {
        let first = client.get(server.url(path)).send().await.unwrap();
        let etag = first.headers()[header::ETAG].clone();
        let again = client
            .get(server.url(path))
            .header(header::IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_security_headers(&format!("304 {path}"), again.headers(), policy);
    }
    // The subscribe answers: the page, and 429.
    let mut last = None;
    for i in 0..6 {
        let res = client
            .post(server.url("/subscribe"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[("email", &format!("reader{i}@example.org"))]))
            .send()
            .await
            .unwrap();
        assert_security_headers(&format!("subscribe {i}"), res.headers(), PAGE);
        last = Some(res.status());
    }
    assert_eq!(last, Some(StatusCode::TOO_MANY_REQUESTS));
    server.stop().await;
}

/// Sockets that each sent half a request line and stall.
fn stalled_sockets(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /index.html HTT").unwrap();
            s
        })
        .collect()
}

/// `GET /healthz` on a new connection, answered within `within`.
fn healthz_within(addr: SocketAddr, within: std::time::Duration) -> Result<u16, String> {
    let started = std::time::Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, within).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(within)).unwrap();
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)
        .map_err(|e| format!("no answer after {:?}: {e}", started.elapsed()))?;
    buf.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {buf:?}"))
}

/// Whether the server closes `s` within `within` (EOF or reset; not a timeout).
fn closed_within(s: &mut TcpStream, within: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// The header timeout of `serve` (src/serve/accept.rs), with room for a busy machine.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const SLACK: std::time::Duration = std::time::Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_5_stalled_and_idle_connections_are_timed_out_and_do_not_keep_healthz_out() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let mut stalled = stalled_sockets(addr, 200);
        // A keep-alive connection that made one request and then idles.
        let mut idle = TcpStream::connect(addr).unwrap();
        write!(idle, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut first = [0u8; 512];
        idle.set_read_timeout(Some(SLACK)).unwrap();
        assert!(idle.read(&mut first).unwrap() > 0);
        assert_eq!(
            healthz_within(addr, std::time::Duration::from_secs(2)),
            Ok(200)
        );
        let started = std::time::Instant::now();
        assert!(
            closed_within(&mut stalled[0], HEADER_TIMEOUT + SLACK),
            "a stalled socket is still open after {:?}",
            started.elapsed()
        );
        assert!(
            closed_within(&mut idle, SLACK),
            "an idle keep-alive connection is still open after {:?}",
            started.elapsed()
        );
        for (i, s) in stalled.iter_mut().enumerate().skip(1) {
            assert!(closed_within(s, SLACK), "stalled socket {i} still open");
        }
    })
    .await
    .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn audit_5_a_request_whose_body_is_still_coming_at_shutdown_finishes() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let addr = server.addr;
    // A body half sent when the shutdown signal comes: the request finishes.
    let mut in_flight = TcpStream::connect(addr).unwrap();
    let body = form(&[("email", "ada@example.org")]);
    write!(
        in_flight,
        "POST /subscribe HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..5]
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "waits for the request in flight");
    let answer = tokio::task::spawn_blocking(move || {
        in_flight.write_all(&body.as_bytes()[5..]).unwrap();
        let mut buf = String::new();
        in_flight
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        in_flight.read_to_string(&mut buf).unwrap();
        buf
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Check your inbox"), "{answer}");
    tokio::time::timeout(std::time::Duration::from_secs(10), stopping)
        .await
        .expect("stops once the request is answered")
        .unwrap();
}

/// A `hotpapers serve` process, killed if a test fails before it is stopped.
struct ServeProcess(Option<std::process::Child>);

impl ServeProcess {
    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, std::process::Child::id)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the binary's `serve` on an ephemeral loopback port, under `ulimit -n`
/// when `nofile` is given; returns it and its address.
fn spawn_serve(dir: &SiteDir, nofile: Option<u32>) -> (ServeProcess, SocketAddr) {
    use std::io::BufRead;
    let root = dir.out.parent().unwrap();
    let bin = env!("CARGO_BIN_EXE_hotpapers");
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(match nofile {
        Some(n) => format!("ulimit -n {n} && exec \"$0\" \"$@\""),
        None => "exec \"$0\" \"$@\"".to_owned(),
    });
    let mut child = command
        .stdout(std::process::Stdio::null())
        .arg(bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--out"])
        .arg(&dir.out)
        .arg("--subscribers")
        .arg(root.join("subscribers"))
        .arg("--outbox")
        .arg(root.join("outbox"))
        .env_remove("HOTPAPERS_SMTP_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited early"
        );
        if let Some(rest) = line.trim().strip_prefix("listening on http://") {
            break rest.trim_end_matches('/').parse().unwrap();
        }
    };
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (ServeProcess(Some(child)), addr)
}

/// SIGTERM, then a clean exit within 10 s.
#[track_caller]
fn terminate(mut process: ServeProcess) {
    let child = process.0.as_mut().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            process.0 = None;
            assert!(exit.success(), "{exit:?}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(unix)]
#[test]
fn audit_5_under_a_64_file_limit_70_stalled_sockets_do_not_keep_healthz_out() {
    let dir = site_dir();
    let (child, addr) = spawn_serve(&dir, Some(64));
    assert_eq!(
        healthz_within(addr, std::time::Duration::from_secs(2)),
        Ok(200)
    );
    let mut stalled = stalled_sockets(addr, 70);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for round in 0..3 {
        assert_eq!(
            healthz_within(addr, std::time::Duration::from_secs(3)),
            Ok(200),
            "round {round}"
        );
    }
    // Each stalled socket is closed: to make room, or at the header timeout.
    for (i, s) in stalled.iter_mut().enumerate() {
        assert!(
            closed_within(s, HEADER_TIMEOUT + SLACK),
            "stalled socket {i} still open"
        );
    }
    terminate(child);
}

/// The CPU time `pid` has used, in clock ticks.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn audit_5_emfile_from_accept_neither_stops_nor_spins_the_accept_loop() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("no prlimit: skipped");
        return;
    }
    let dir = site_dir();
    let (child, addr) = spawn_serve(&dir, None);
    let pid = child.id().to_string();
    let set_nofile = |n: &str| {
        let ok = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={n}:")])
            .status()
            .unwrap();
        assert!(ok.success(), "prlimit {n}");
    };
    assert_eq!(
        healthz_within(addr, std::time::Duration::from_secs(2)),
        Ok(200)
    );
    // Fewer descriptors than the server has open: every accept fails.
    set_nofile("4");
    let waiting =
        std::thread::spawn(move || healthz_within(addr, std::time::Duration::from_secs(20)));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = cpu_ticks(child.id());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_ticks(child.id()) - before;
    assert!(
        used < 50,
        "{used} ticks of CPU in 2 s: the accept loop spins"
    );
    set_nofile("1024");
    assert_eq!(waiting.join().unwrap(), Ok(200), "accepting again");
    assert_eq!(
        healthz_within(addr, std::time::Duration::from_secs(2)),
        Ok(200)
    );
    terminate(child);
}

#[tokio::test]
async fn audit_14_the_answer_does_not_tell_by_its_time_whether_an_email_was_sent() {
    // Each SMTP reply takes 200 ms: a confirmation sent before answering
    // would make the answer take more than a second.
    let smtp = SmtpServer::start(Behaviour {
        reply_delay: std::time::Duration::from_millis(200),
        ..Behaviour::default()
    });
    let dir = site_dir();
    let server = Running::start_with(&dir, Some(smtp.url())).await;
    let client = raw_client();
    let mut pages = Vec::new();
    for i in 0..5 {
        let started = std::time::Instant::now();
        let (status, page) = post_form(
            &client,
            &server.url("/subscribe"),
            form(&[("email", "victim@example.org")]),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::OK, "{i}");
        assert!(
            took < std::time::Duration::from_millis(800),
            "answer {i} took {took:?}"
        );
        pages.push(page);
    }
    pages.dedup();
    assert_eq!(pages.len(), 1, "the same page, mailed or held back");
    // The first three (the mailbox limit) are sent, in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while smtp.received().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "not sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.stop().await;
    assert_eq!(smtp.received().len(), 3);
}

#[tokio::test]
async fn audit_14_with_the_mail_server_down_a_limited_and_a_fresh_mailbox_get_the_same_answer() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = site_dir();
    let server = Running::start_with(&dir, Some(format!("smtp://127.0.0.1:{port}"))).await;
    let client = raw_client();
    let mut answers = Vec::new();
    for email in [
        "limited@example.org",
        "limited@example.org",
        "limited@example.org",
        "limited@example.org",
        "fresh@example.org",
    ] {
        let (status, page) = post_form(
            &client,
            &server.url("/subscribe"),
            form(&[("email", email)]),
        )
        .await;
        answers.push((status, page.replace(email, "X")));
    }
    let (fresh, limited) = (&answers[4], &answers[3]);
    assert_eq!(fresh.0, StatusCode::OK);
    assert_eq!(fresh, limited);
    server.stop().await;
}

/// What Chromium sends when it opens an address.
const CHROMIUM_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
/// What feedparser (and so many readers and services) sends.
const FEEDPARSER_ACCEPT: &str = "application/atom+xml,application/rdf+xml,application/rss+xml,application/x-netcdf,application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1";

/// The small archive built by the real binary: feeds and their pages.
fn built_site() -> SiteDir {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let (o, stdout, stderr) = support::run(
        support::hotpapers()
            .arg("--digests")
            .arg(support::fixture("archive"))
            .args(["build", "--out"])
            .arg(&out),
    );
    assert!(o.status.success(), "{stdout}\n{stderr}");
    std::fs::create_dir_all(tmp.path().join("subscribers")).unwrap();
    SiteDir { _tmp: tmp, out }
}

#[tokio::test]
async fn issue_17_a_browser_opening_a_feed_gets_its_page_and_a_reader_the_feed_byte_for_byte() {
    let dir = built_site();
    let server = Running::start(&dir).await;
    let client = raw_client();
    for (feed, feed_type, page, location) in [
        (
            "atom.xml",
            "application/atom+xml; charset=utf-8",
            "feeds/atom.html",
            "feeds/atom.html",
        ),
        (
            "rss.xml",
            "application/rss+xml; charset=utf-8",
            "feeds/rss.html",
            "feeds/rss.html",
        ),
        (
            "feed.json",
            "application/feed+json; charset=utf-8",
            "feeds/feed.html",
            "feeds/feed.html",
        ),
        (
            "papers.xml",
            "application/atom+xml; charset=utf-8",
            "feeds/papers.html",
            "feeds/papers.html",
        ),
        (
            "categories/cs.PL.xml",
            "application/atom+xml; charset=utf-8",
            "feeds/categories/cs.PL.html",
            "../feeds/categories/cs.PL.html",
        ),
    ] {
        let url = server.url(&format!("/{feed}"));
        let feed_bytes = std::fs::read(dir.out.join(feed)).unwrap();
        let page_bytes = std::fs::read(dir.out.join(page)).unwrap();

        // A browser: the page build wrote, named by Content-Location.
        let res = client
            .get(&url)
            .header(header::ACCEPT, CHROMIUM_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{feed}");
        let h = res.headers().clone();
        assert_eq!(
            h[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{feed}"
        );
        assert_eq!(h[header::VARY], "accept, accept-encoding", "{feed}");
        assert_eq!(h[header::CONTENT_LOCATION], location, "{feed}");
        assert_security_headers(feed, &h, "form-action 'self'");
        let page_etag = h[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(res.bytes().await.unwrap(), page_bytes, "{feed}");

        // Readers, and anyone who does not prefer HTML: the feed, unchanged.
        let mut feed_etag = String::new();
        let essence = feed_type.split(';').next().unwrap();
        let own_type_first = format!("{essence}, text/html;q=0.9");
        for accept in [
            None,
            Some("*/*"),
            Some(FEEDPARSER_ACCEPT),
            Some(own_type_first.as_str()),
        ] {
            let mut req = client.get(&url);
            if let Some(a) = accept {
                req = req.header(header::ACCEPT, a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{feed} {accept:?}");
            let h = res.headers().clone();
            assert_eq!(h[header::CONTENT_TYPE], feed_type, "{feed} {accept:?}");
            assert_eq!(h[header::VARY], "accept, accept-encoding", "{feed}");
            assert!(!h.contains_key(header::CONTENT_LOCATION), "{feed}");
            feed_etag = h[header::ETAG].to_str().unwrap().to_owned();
            assert_ne!(feed_etag, page_etag, "each representation its own ETag");
            assert_eq!(res.bytes().await.unwrap(), feed_bytes, "{feed} {accept:?}");
        }

        // Revalidation: each representation by its own ETag, never the other's.
        let again = |accept: &'static str, etag: String| {
            client
                .get(&url)
                .header(header::ACCEPT, accept)
                .header(header::IF_NONE_MATCH, etag)
                .send()
        };
        let res = again(CHROMIUM_ACCEPT, page_etag.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{feed}");
        let h = res.headers();
        assert_eq!(h[header::VARY], "accept, accept-encoding", "{feed}");
        assert_eq!(h[header::CONTENT_LOCATION], location, "{feed}");
        // The cached page keeps the page's policy.
        assert_security_headers(feed, h, "form-action 'self'");
        let res = again(CHROMIUM_ACCEPT, feed_etag.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{feed}: the feed's tag");
        assert_eq!(res.bytes().await.unwrap(), page_bytes);
        let res = again("*/*", page_etag.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{feed}: the page's tag");
        assert_eq!(res.bytes().await.unwrap(), feed_bytes);
        let res = again("*/*", feed_etag.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{feed}");
        assert_eq!(res.headers()[header::VARY], "accept, accept-encoding");

        // HEAD answers as GET would, without the body.
        let res = client
            .head(&url)
            .header(header::ACCEPT, CHROMIUM_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(res.headers()[header::VARY], "accept, accept-encoding");
        assert_eq!(res.headers()[header::ETAG], page_etag.as_str());
        assert!(res.bytes().await.unwrap().is_empty());

        // The page at its own address is a plain page.
        let res = client
            .get(server.url(&format!("/{page}")))
            .header(header::ACCEPT, CHROMIUM_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        assert_eq!(res.bytes().await.unwrap(), page_bytes);
    }
    // Not feeds: no negotiation.
    let res = client
        .get(server.url("/feeds.opml"))
        .header(header::ACCEPT, CHROMIUM_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "text/x-opml; charset=utf-8"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_feed_built_without_a_page_is_the_feed_for_browsers_too() {
    let dir = site_dir();
    let server = Running::start(&dir).await;
    let res = raw_client()
        .get(server.url("/atom.xml"))
        .header(header::ACCEPT, CHROMIUM_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(res.headers()[header::VARY], "accept, accept-encoding");
    assert_eq!(res.text().await.unwrap(), ATOM);
    server.stop().await;
}
