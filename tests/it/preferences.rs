//! The preferences page over real HTTP on loopback: the link every email
//! carries opens it, GET changes nothing, POST changes exactly that reader
//! (through the store), bad values and forged or wrong-purpose tokens change
//! nothing.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use hotpapers::clock::Clock;
use hotpapers::delivery::Mailer;
use hotpapers::email::Newsletter;
use hotpapers::model::{Cadence, Subscriber, SubscriberStatus, Weekday};
use hotpapers::token::Signer;
use reqwest::header;
use reqwest::StatusCode;

use crate::serve::{form, post_form, raw_client, site_dir, token_of, Running, SiteDir, SECRET};
use crate::support::fixture;

/// Ada's and Bob's records share a file; Old Reader (from `site_dir`) has
/// one of his own. The archive has pages for three categories.
const READERS: &str = "\
- email: ada@example.org
  name: Ada Lovelace
  categories:
  - cs.LG
- email: bob@example.org
  name: Bob
  max_papers: 3
";

fn archive(dir: &SiteDir) -> PathBuf {
    for cat in ["cs.LG", "cs.CV", "stat.ML"] {
        let page = dir.out.join("categories").join(cat).join("index.html");
        std::fs::create_dir_all(page.parent().unwrap()).unwrap();
        std::fs::write(page, "<!doctype html><title>Category</title>").unwrap();
    }
    let file = dir.out.parent().unwrap().join("subscribers/readers.yaml");
    std::fs::write(&file, READERS).unwrap();
    file
}

fn old_file(dir: &SiteDir) -> PathBuf {
    dir.out
        .parent()
        .unwrap()
        .join("subscribers/subscribers.yaml")
}

fn preferences_link(server: &Running, email: &str) -> String {
    let mut url = server.config.site.url.join("preferences").unwrap();
    url.query_pairs_mut().append_pair(
        "token",
        &Signer::new(SECRET.as_bytes()).preferences_token(email),
    );
    url.into()
}

/// The record block of `email` in a subscriber file's text.
fn block<'a>(text: &'a str, email: &str) -> &'a str {
    let start = text
        .find(&format!("- email: {email}"))
        .unwrap_or_else(|| panic!("{email} in {text}"));
    let rest = &text[start..];
    let end = rest[1..].find("\n- email:").map_or(rest.len(), |i| i + 2);
    &rest[..end]
}

/// A full valid form for `token`, with `changes` replacing fields.
fn full_form(token: &str, changes: &[(&str, &str)]) -> String {
    let mut fields = vec![
        ("token", token),
        ("cadence", "weekly"),
        ("weekday", "monday"),
        ("categories", "cs.LG"),
        ("categories", "stat.ML"),
        ("max_papers", "7"),
        ("min_retweets", "50"),
        ("authors", "Yoshua Bengio\r\nGeoffrey Hinton"),
        ("keywords", "diffusion"),
    ];
    for (k, v) in changes {
        fields.retain(|(name, _)| name != k);
        fields.push((k, v));
    }
    form(&fields)
}

#[tokio::test]
async fn get_shows_the_readers_choices_and_changes_nothing() {
    let dir = site_dir();
    let file = archive(&dir);
    let before = std::fs::read(&file).unwrap();
    let server = Running::start(&dir).await;
    let client = raw_client();

    let res = client
        .get(preferences_link(&server, "Ada@Example.org"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let page = res.text().await.unwrap();
    assert!(page.contains("For ada@example.org."), "{page}");
    assert!(
        page.contains("method=\"post\" action=\"preferences\""),
        "{page}"
    );
    // The archive's categories, the reader's ticked, grouped by arXiv group.
    assert!(
        page.contains(r#"<input type="checkbox" name="categories" value="cs.LG" checked> cs.LG"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<input type="checkbox" name="categories" value="cs.CV"> cs.CV"#),
        "{page}"
    );
    assert!(page.contains("<summary>Statistics"), "{page}");
    assert!(page.contains(r#"value="daily" checked"#), "{page}");
    assert!(page.contains("empty: up to 50 daily, 20 weekly"), "{page}");
    assert!(
        page.contains(r#"<option value="friday" selected>Friday</option>"#),
        "{page}"
    );
    // The page offers unsubscribe: a button posting to the unsubscribe route.
    assert!(
        page.contains("method=\"post\" action=\"unsubscribe?token="),
        "{page}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "GET changed the file"
    );
    server.stop().await;
}

#[tokio::test]
async fn post_changes_exactly_that_reader_and_takes_effect_in_the_store() {
    let dir = site_dir();
    let file = archive(&dir);
    let before = std::fs::read_to_string(&file).unwrap();
    let old_before = std::fs::read(old_file(&dir)).unwrap();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let token = token_of(&preferences_link(&server, "ada@example.org"));

    let (status, page) =
        post_form(&client, &server.url("/preferences"), full_form(&token, &[])).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Saved."), "{page}");
    assert!(page.contains(r#"value="weekly" checked"#), "{page}");

    let ada = server.record("ada@example.org").unwrap();
    assert_eq!(ada.cadence, Cadence::Weekly);
    assert_eq!(ada.weekday, Some(Weekday::Monday));
    assert_eq!(
        ada.categories
            .iter()
            .map(hotpapers::model::Category::as_str)
            .collect::<Vec<_>>(),
        ["cs.LG", "stat.ML"]
    );
    assert_eq!(ada.max_papers, Some(7));
    assert_eq!(ada.min_retweets, Some(50));
    assert_eq!(ada.authors, ["Yoshua Bengio", "Geoffrey Hinton"]);
    assert_eq!(ada.keywords, ["diffusion"]);
    assert_eq!(
        ada.name.as_deref(),
        Some("Ada Lovelace"),
        "the rest is kept"
    );
    assert!(ada.is_active());

    let after = std::fs::read_to_string(&file).unwrap();
    assert_ne!(after, before);
    assert_eq!(
        block(&after, "bob@example.org"),
        block(&before, "bob@example.org"),
        "the other reader in the same file is byte-identical"
    );
    assert_eq!(std::fs::read(old_file(&dir)).unwrap(), old_before);

    // Sending the same choices again changes nothing.
    let (status, page) =
        post_form(&client, &server.url("/preferences"), full_form(&token, &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nothing to change"), "{page}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
    server.stop().await;
}

#[tokio::test]
async fn bad_values_are_named_on_the_page_and_change_nothing() {
    let dir = site_dir();
    let file = archive(&dir);
    let before = std::fs::read(&file).unwrap();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let token = token_of(&preferences_link(&server, "ada@example.org"));
    let many: String = (1..=21).map(|i| format!("Author {i}\n")).collect();
    let long = "x".repeat(101);
    let cases: [(&str, &str, &str); 8] = [
        ("max_papers", "0", "a whole number from 1 to 100"),
        ("max_papers", "101", "a whole number from 1 to 100"),
        ("max_papers", "-3", "a whole number from 1 to 100"),
        ("max_papers", "lots", "a whole number from 1 to 100"),
        ("min_retweets", "-1", "a whole number from 0 to"),
        (
            "categories",
            "hep-th",
            "“hep-th” is not one of the archive’s categories",
        ),
        ("authors", &many, "That is 21 author names: at most 20"),
        ("keywords", &long, "is too long: at most 100 characters"),
    ];
    for (field, value, says) in cases {
        let (status, page) = post_form(
            &client,
            &server.url("/preferences"),
            full_form(&token, &[(field, value)]),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}");
        assert!(page.contains("Nothing was changed"), "{field}: {page}");
        assert!(
            page.contains(says),
            "{field}={value}: expected {says:?} in {page}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), before, "{field}={value}");
    }
    server.stop().await;
}

#[tokio::test]
async fn forged_wrong_purpose_and_cross_site_posts_change_nothing() {
    let dir = site_dir();
    let file = archive(&dir);
    let before = std::fs::read(&file).unwrap();
    let server = Running::start(&dir).await;
    let client = raw_client();
    let good = token_of(&preferences_link(&server, "ada@example.org"));
    let other_secret =
        Signer::new(b"another-secret-0123456789abcdef").preferences_token("ada@example.org");
    let unsubscribe = token_of(&server.unsubscribe_link("ada@example.org"));
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    for (what, token, status) in [
        (
            "another secret",
            other_secret.as_str(),
            StatusCode::FORBIDDEN,
        ),
        (
            "an unsubscribe token",
            unsubscribe.as_str(),
            StatusCode::FORBIDDEN,
        ),
        ("a changed byte", tampered.as_str(), StatusCode::FORBIDDEN),
        ("garbage", "not-a-token", StatusCode::BAD_REQUEST),
    ] {
        let (got, page) =
            post_form(&client, &server.url("/preferences"), full_form(token, &[])).await;
        assert_eq!(got, status, "{what}: {page}");
        assert!(
            page.contains("Nothing was changed") || page.contains("damaged"),
            "{what}: {page}"
        );
        let res = client
            .get(server.url(&format!("/preferences?token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "GET with {what}");
    }
    // Nor does a preferences token unsubscribe.
    let (status, _) = post_form(
        &client,
        &server.url(&format!("/unsubscribe?token={good}")),
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A good token in a form posted from another site.
    let res = client
        .post(server.url("/preferences"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .body(full_form(&good, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert!(server.record("ada@example.org").unwrap().is_active());
    server.stop().await;
}

#[tokio::test]
async fn the_emails_preferences_link_opens_the_readers_page_and_its_unsubscribe_button_works() {
    let dir = site_dir();
    archive(&dir);
    let server = Running::start(&dir).await;
    let client = raw_client();
    let c = &server.config;
    let newsletter = Newsletter::new(&c.site, &c.mail, &c.secret, &c.templates).unwrap();
    let digest = hotpapers::digest::read_digest(&fixture("corpus/2021-03-19---Hot-Papers.md"))
        .unwrap()
        .digest;
    let edition = newsletter.edition(&digest).unwrap();
    let mailer = Mailer::new(&c.site.title, &c.mail, &c.secret).unwrap();
    let mut reader = Subscriber::new("bob@example.org");
    reader.name = Some("Bob".to_owned());
    let sent = Utc.with_ymd_and_hms(2021, 3, 19, 7, 0, 0).unwrap();
    let raw = mailer
        .edition(&edition)
        .message_for(&reader, sent)
        .unwrap()
        .expect("bob gets an email")
        .bytes;
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let text = message.body_text(0).unwrap().into_owned();
    let html = message.body_html(0).unwrap().into_owned();
    let start = text
        .find("/preferences?token=")
        .expect("a link in the text part");
    let start = text[..start].rfind("http://").unwrap();
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(
        html.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))),
        "the HTML part has the same link"
    );

    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("For bob@example.org."), "{page}");
    assert!(
        page.contains(r#"name="max_papers" inputmode="numeric" value="3""#),
        "{page}"
    );

    // The page's unsubscribe button.
    let start = page.find("action=\"unsubscribe?").unwrap() + "action=\"".len();
    let action = &page[start..start + page[start..].find('"').unwrap()];
    let action = action.replace("&amp;", "&");
    let (status, body) =
        post_form(&client, &server.url(&format!("/{action}")), String::new()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        server.record("bob@example.org").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    server.stop().await;
}

/// `hotpapers subscribers ARGS` over the server's subscriber folder.
fn subscribers_cli(server: &Running, args: &[&str]) -> String {
    let (out, stdout, stderr) = crate::support::run(
        crate::support::hotpapers()
            .env("HOTPAPERS_SUBSCRIBERS", &server.config.subscribers)
            .arg("subscribers")
            .args(args),
    );
    assert!(out.status.success(), "{args:?}: {stderr}");
    stdout
}

#[tokio::test]
async fn consent_is_on_record_from_sign_up_through_changes_to_withdrawal() {
    let dir = site_dir();
    archive(&dir);
    let server = Running::start(&dir).await;
    let client = raw_client();
    let asked = server.clock.now();
    // Behind a local proxy: the client is the forwarded address.
    let res = client
        .post(server.url("/subscribe"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "198.51.100.77")
        .header(header::USER_AGENT, "TestBrowser/1.0 (X11)")
        .body("email=carol%40example.org&categories=cs.LG")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let link = server.confirm_link("carol@example.org").await;
    server.clock.advance(chrono::Duration::minutes(5));
    let confirmed = server.clock.now();
    let (status, _) = post_form(
        &client,
        &server.url("/confirm"),
        form(&[("token", &token_of(&link))]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let consent = server.record("carol@example.org").unwrap().consent.unwrap();
    assert_eq!(consent.asked_at, Some(asked));
    assert_eq!(consent.confirmed_at, Some(confirmed));
    let shown = subscribers_cli(&server, &["show", "Carol@Example.org"]);
    for line in [
        "asked_at: 2021-02-12T08:00:00Z",
        "confirmed_at: 2021-02-12T08:05:00Z",
        "source: form",
        "form_version: 2026-12-01",
        "client_network: 198.51.100.0/24",
        "user_agent: TestBrowser/1.0 (X11)",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
    assert!(
        !shown.contains("198.51.100.77"),
        "the full address is never kept"
    );

    // A change on the preferences page is recorded, with what changed.
    server.clock.advance(chrono::Duration::days(1));
    let token = token_of(&preferences_link(&server, "carol@example.org"));
    let (status, page) = post_form(
        &client,
        &server.url("/preferences"),
        form(&[
            ("token", &token),
            ("cadence", "weekly"),
            ("weekday", "friday"),
            ("categories", "cs.LG"),
            ("keywords", "diffusion"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // One-click unsubscribe: the withdrawal and its channel.
    server.clock.advance(chrono::Duration::days(1));
    let (status, _) = post_form(
        &client,
        &server.unsubscribe_link("carol@example.org"),
        "List-Unsubscribe=One-Click".into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let shown = subscribers_cli(&server, &["show", "carol@example.org"]);
    let events = &shown[shown.find("events:").expect("a history")..];
    let expected = [
        "at: 2021-02-12T08:05:00Z\n      event: subscribed\n      via: form",
        "at: 2021-02-13T08:05:00Z\n      event: changed\n      via: preferences\n      fields: cadence, keywords",
        "at: 2021-02-14T08:05:00Z\n      event: withdrawn\n      via: one-click",
    ];
    let mut from = 0;
    for e in expected {
        let at = events[from..]
            .find(e)
            .unwrap_or_else(|| panic!("{e:?} after the previous event in {events}"));
        from += at + e.len();
    }

    // The export holds the same, for every reader.
    let csv = subscribers_cli(&server, &["export", "--format", "csv"]);
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("email,name,greeting_name,status,"));
    let carol = csv
        .lines()
        .find(|l| l.starts_with("carol@example.org,"))
        .unwrap();
    assert!(carol.contains(",unsubscribed,weekly,"), "{carol}");
    assert!(
        carol.contains("198.51.100.0/24,TestBrowser/1.0 (X11),"),
        "{carol}"
    );
    assert!(
        carol.contains("2021-02-14T08:05:00Z withdrawn via one-click"),
        "{carol}"
    );
    assert!(
        csv.lines().any(|l| l.starts_with("old@example.org,")),
        "{csv}"
    );
    let yaml = subscribers_cli(&server, &["export"]);
    assert!(yaml.contains("- email: old@example.org"), "{yaml}");
    assert!(yaml.contains("client_network: 198.51.100.0/24"), "{yaml}");
    server.stop().await;
}

#[tokio::test]
async fn the_preferences_pages_unsubscribe_button_is_recorded_as_such() {
    let dir = site_dir();
    archive(&dir);
    let server = Running::start(&dir).await;
    let client = raw_client();
    let page = client
        .get(preferences_link(&server, "ada@example.org"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("action=\"unsubscribe?").unwrap() + "action=\"".len();
    let action = page[start..start + page[start..].find('"').unwrap()].replace("&amp;", "&");
    let (status, _) = post_form(&client, &server.url(&format!("/{action}")), String::new()).await;
    assert_eq!(status, StatusCode::OK);
    let ada = server.record("ada@example.org").unwrap();
    assert_eq!(ada.status, SubscriberStatus::Unsubscribed);
    let events = ada
        .consent
        .expect("a history is started for an old record")
        .events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, hotpapers::model::EventKind::Withdrawn);
    assert_eq!(events[0].via, hotpapers::model::Channel::Preferences);
    // The email's own unsubscribe page button is the `link` channel.
    let (status, _) = post_form(
        &client,
        &server.unsubscribe_link("bob@example.org"),
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let bob = server
        .record("bob@example.org")
        .unwrap()
        .consent
        .unwrap()
        .events;
    assert_eq!(bob[0].via, hotpapers::model::Channel::Link);
    server.stop().await;
}
