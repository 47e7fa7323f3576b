//! End to end in a real browser: headless Chromium, driven through
//! chromedriver (fantoccini), uses the site the way a reader does — opens the
//! front page that `hotpapers build` wrote, submits the subscribe form, follows
//! the confirmation link from the email that a loopback SMTP server received,
//! then unsubscribes from the link in a newsletter sent by `hotpapers send`,
//! searches, and opens a feed's address (getting the feed's page).
//! Everything is the real binary over real TCP.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`), so it is ignored by a plain `cargo test`;
//! `.ci/run` installs them and runs `cargo test --test e2e -- --ignored`.
//! `HOTPAPERS_E2E_SHOTS=DIR` keeps screenshots of each step.

// Tests wait on the wall clock and draw test data at random; the rule that
// time and randomness go through `clock::Clock` is for the program.
#![allow(clippy::disallowed_methods)]
// Pedantic, where it is wrong for tests: a test reads as one story however
// long, builds its fixtures with `format!`, and names its throwaway values short.
#![allow(
    clippy::too_many_lines,
    clippy::format_push_string,
    clippy::format_collect,
    clippy::many_single_char_names,
    clippy::case_sensitive_file_extension_comparisons,
    // Counts in tests are small.
    clippy::cast_possible_truncation,
    // A test names its constants where it uses them.
    clippy::items_after_statements
)]

#[path = "../it/smtp_server.rs"]
#[allow(dead_code)]
mod smtp_server;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use smtp_server::{Behaviour, SmtpServer};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const SECRET: &str = "e2e0f8a9b2d47e6a3f1c8b90d2e4f6a7b1c3d5e9f0a2b4c6d8e1f3a5b7c9d0e1";

/// A child process killed when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The binary with settings for this test only (no `.env`, no `HOTPAPERS_*`).
fn hotpapers(work: &Path, site: &str, smtp: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpapers"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HOTPAPERS_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(work)
        .env(
            "HOTPAPERS_DIGESTS",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus"),
        )
        .env("HOTPAPERS_SUBSCRIBERS", work.join("subscribers"))
        .env("HOTPAPERS_STATE", work.join("state/hotpapers.db"))
        .env("HOTPAPERS_TEMPLATES", work.join("templates"))
        .env("HOTPAPERS_OUT", work.join("public"))
        .env("HOTPAPERS_SITE_URL", site)
        .env("HOTPAPERS_SMTP_URL", smtp)
        .env("HOTPAPERS_SECRET", SECRET);
    cmd
}

fn links_in(text: &str, needle: &str) -> Vec<String> {
    text.match_indices("http://")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"<>\"'".contains(*c))
                .collect::<String>()
        })
        .filter(|l| l.contains(needle))
        .collect()
}

fn subscribers_yaml(work: &Path) -> String {
    std::fs::read_to_string(work.join("subscribers/subscribers.yaml")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver; .ci/run installs them and runs this with --ignored"]
async fn a_reader_subscribes_confirms_and_unsubscribes_in_a_real_browser() {
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "install the Debian packages chromium and chromium-driver"
    );
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    std::fs::create_dir_all(work.join("subscribers")).unwrap();
    let shots: Option<PathBuf> = std::env::var_os("HOTPAPERS_E2E_SHOTS").map(PathBuf::from);

    let smtp = SmtpServer::start(Behaviour::default());
    let web_port = free_port();
    let site = format!("http://127.0.0.1:{web_port}/");

    let build = hotpapers(work, &site, &smtp.url())
        .arg("build")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let _server = Reaped(
        hotpapers(work, &site, &smtp.url())
            .args(["serve", "--addr", &format!("127.0.0.1:{web_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(web_port, "hotpapers serve");

    let driver_port = free_port();
    let _driver = Reaped(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(driver_port, "chromedriver");

    let profile = work.join("chromium-profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--no-first-run",
                "--window-size=640,1200",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    // Two TLS back ends are compiled in; fantoccini needs one chosen (it only
    // speaks plain HTTP to chromedriver here).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let browser = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("chromedriver session");
    let shot = |name: &'static str| {
        let browser = browser.clone();
        let shots = shots.clone();
        async move {
            if let Some(dir) = shots {
                std::fs::create_dir_all(&dir).unwrap();
                let png = browser.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
            }
        }
    };

    // 1. The front page, with its subscribe form.
    browser.goto(&site).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Hot Papers");
    shot("1-index").await;
    browser
        .find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("reader@example.org")
        .await
        .unwrap();
    // Categories come folded by arXiv group: open Computer Science, tick one.
    click(&browser, "form.subscribe details summary").await;
    click(&browser, "input[name=categories][value='cs.LG']").await;
    click(&browser, "form.subscribe button[type=submit]").await;
    assert_eq!(
        heading_after_navigation(&browser, "Check your inbox").await,
        "Check your inbox"
    );
    shot("2-check-inbox").await;
    assert!(
        !subscribers_yaml(work).contains("reader@example.org"),
        "added before confirming"
    );

    // 2. The confirmation email arrived over SMTP (sent in the background,
    // after the answer); follow its link.
    let deadline = Instant::now() + Duration::from_secs(20);
    let received = loop {
        let received = smtp.received();
        if !received.is_empty() || Instant::now() > deadline {
            break received;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(received.len(), 1, "one confirmation email");
    assert_eq!(received[0].to, ["reader@example.org"]);
    let parsed = mail_parser::MessageParser::default()
        .parse(received[0].data.as_bytes())
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    let confirm = links_in(&text, "/confirm?token=");
    assert_eq!(confirm.len(), 1, "{text}");
    browser.goto(&confirm[0]).await.unwrap();
    shot("3-confirm").await;
    assert!(
        !subscribers_yaml(work).contains("reader@example.org"),
        "a GET must change nothing"
    );
    click(&browser, "form.action button").await;
    assert_eq!(
        heading_after_navigation(&browser, "You are subscribed").await,
        "You are subscribed"
    );
    let yaml = subscribers_yaml(work);
    assert!(
        yaml.contains("reader@example.org") && yaml.contains("cs.LG"),
        "{yaml}"
    );

    // 3. The day's newsletter goes out; unsubscribe from its link.
    let send = hotpapers(work, &site, &smtp.url())
        .args(["send", "--date", "2021-02-19"])
        .output()
        .unwrap();
    assert!(
        send.status.success(),
        "{}",
        String::from_utf8_lossy(&send.stderr)
    );
    let received = smtp.received();
    assert_eq!(received.len(), 2, "the newsletter arrived");
    let newsletter = &received[1];
    let header = newsletter
        .header("List-Unsubscribe")
        .expect("List-Unsubscribe");
    let unsubscribe = links_in(&header, "/unsubscribe?token=");
    assert_eq!(unsubscribe.len(), 1, "{header}");
    browser.goto(&unsubscribe[0]).await.unwrap();
    shot("4-unsubscribe").await;
    click(&browser, "form.action button").await;
    assert_eq!(
        heading_after_navigation(&browser, "You are unsubscribed").await,
        "You are unsubscribed"
    );
    shot("5-unsubscribed").await;
    let yaml = subscribers_yaml(work);
    assert!(yaml.contains("status: unsubscribed"), "{yaml}");

    // 4. A digest page from the archive, reached by a link on the front page.
    browser.goto(&site).await.unwrap();
    click(&browser, "ul.days a").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut path = String::new();
    while !path.ends_with("/2021-08-24/") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        path = browser.current_url().await.unwrap().path().to_owned();
    }
    assert!(path.ends_with("/2021-08-24/"), "{path}");
    shot("6-digest").await;

    // 5. Search from the box in the page's header, and follow a result to
    // the paper on its day page.
    browser
        .find(Locator::Css("header form.search input[name=q]"))
        .await
        .unwrap()
        .send_keys("combinatorial optimization author:velickovic")
        .await
        .unwrap();
    click(&browser, "header form.search button[type=submit]").await;
    assert_eq!(
        heading_after_navigation(&browser, "Search the archive").await,
        "Search the archive"
    );
    let first = browser.find(Locator::Css("li.hit h2 a")).await.unwrap();
    let title = first.text().await.unwrap();
    assert_eq!(
        title,
        "Combinatorial optimization and reasoning with graph neural networks"
    );
    let marked = browser
        .find_all(Locator::Css("li.hit h2 a mark"))
        .await
        .unwrap();
    assert!(!marked.is_empty(), "the matching words are marked");
    shot("7-search").await;
    first.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut url = browser.current_url().await.unwrap();
    while !url.path().ends_with("/2021-02-19/") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        url = browser.current_url().await.unwrap();
    }
    assert!(url.path().ends_with("/2021-02-19/"), "{url}");
    assert_eq!(url.fragment(), Some("paper-1"));
    let target = browser.find(Locator::Css("#paper-1")).await.unwrap();
    assert!(target
        .text()
        .await
        .unwrap()
        .contains("Combinatorial optimization"));
    shot("8-search-result").await;

    // 6. A feed's address opened in the browser (issue #17): the feed's page,
    // not raw XML; readers keep getting the feed (tests/it/serve.rs).
    browser.goto(&format!("{site}atom.xml")).await.unwrap();
    assert_eq!(
        heading_after_navigation(&browser, "Hot Papers (Atom)").await,
        "Hot Papers (Atom)"
    );
    let address = browser
        .find(Locator::Css("code.address"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(address, format!("{site}atom.xml"));
    let entries = browser
        .find_all(Locator::Css("ul.entries li a"))
        .await
        .unwrap();
    assert_eq!(entries.len(), 20, "the latest entries are listed");
    assert!(entries[0]
        .text()
        .await
        .unwrap()
        .starts_with("Hot Papers 2021-08-24: "));
    shot("9-feed-page").await;
    browser
        .goto(&format!("{site}categories/cs.LG.xml"))
        .await
        .unwrap();
    assert_eq!(
        heading_after_navigation(&browser, "Hot Papers: cs.LG").await,
        "Hot Papers: cs.LG"
    );
    // The front page links each feed's page, which build wrote for static hosting too.
    browser.goto(&site).await.unwrap();
    click(&browser, "ul.feeds a[href='feeds/papers.html']").await;
    assert_eq!(
        heading_after_navigation(&browser, "Hot Papers: every paper").await,
        "Hot Papers: every paper"
    );
    browser.close().await.unwrap();
}

/// The page's `<h1>` once it reads `expected`, or whatever it reads after ten
/// seconds: a click on a form button returns before the next page has loaded,
/// so reading at once could see the old page.
/// Clicks the first element `css` selects (there must be one).
async fn click(browser: &fantoccini::Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css} cannot be clicked: {e}"));
}

async fn heading_after_navigation(browser: &fantoccini::Client, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match browser.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == expected || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
