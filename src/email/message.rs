//! The MIME message around a rendered email: headers that mail providers
//! expect of a newsletter (RFC 2369 / 2919 / 8058 list headers, a stable
//! Message-ID on the sender's domain), multipart/alternative with the text
//! part first, a deterministic boundary, and the optional DKIM signature.
//!
//! Every value that reaches a header passes through lettre's encoders (RFC
//! 2047 for non-ASCII, folding) after control characters are turned into
//! spaces, so no input can add a header line.

use std::time::SystemTime;

use chrono::{NaiveDate, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest as _, Sha256};

use super::{Edition, EmailError, Newsletter, RenderedEmail, SUBJECT_LIMIT};
use crate::model::{ArxivId, Category, Digest, Paper, Subscriber, Tweet};

/// Label mixed into the Message-ID hash, so it cannot be used as any token.
const MESSAGE_ID_LABEL: &[u8] = b"hotpapers/message-id/v1";

/// `<YYYY-MM-DD.HASH@domain>`: HASH is a keyed hash of the lowercased address,
/// so the id is stable across resends, unique per reader, and does not reveal
/// the address to whoever sees a forwarded copy.
pub(super) fn newsletter_id(n: &Newsletter, day: NaiveDate, email: &str) -> String {
    format!(
        "<{}.{}@{}>",
        day.format("%Y-%m-%d"),
        address_hash(n, email),
        n.config.from.email.domain()
    )
}

fn address_hash(n: &Newsletter, email: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(n.config.secret.expose()).unwrap_or_else(|_| unreachable!());
    mac.update(MESSAGE_ID_LABEL);
    mac.update(&[0]);
    mac.update(email.trim().to_lowercase().as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The recipient mailbox: the address must parse on its own (so `a@b\r\nBcc: c`
/// is refused), the display name is cleaned to one line.
fn recipient(email: &str, name: Option<&str>) -> Result<Mailbox, EmailError> {
    let trimmed = email.trim();
    let address: lettre::Address =
        trimmed
            .parse()
            .map_err(|e: lettre::address::AddressError| EmailError::Address {
                address: email.escape_debug().to_string(),
                reason: e.to_string(),
            })?;
    Ok(Mailbox::new(clean_name(name), address))
}

/// A display name on one line, without control characters; `None` if empty.
pub(super) fn clean_name(name: Option<&str>) -> Option<String> {
    let cleaned = one_line(name?);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A subject on one line, shortened to [`SUBJECT_LIMIT`] characters at a word.
pub(super) fn clean_subject(subject: &str) -> String {
    super::view::shorten_at_word(&one_line(subject), SUBJECT_LIMIT)
}

/// Collapses every run of whitespace and control characters (CR, LF, TAB,
/// NUL, DEL...) into one space, and trims.
pub(super) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn raw_header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// `List-Id: "Title" <label.domain>` (RFC 2919); the phrase only when the
/// title is plain ASCII, since encoded words are not allowed in quotes.
fn list_id(n: &Newsletter) -> String {
    let title = one_line(&n.config.title);
    let mut label = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    let label = label.trim_end_matches('-');
    let label = if label.is_empty() {
        "newsletter"
    } else {
        label
    };
    let id = format!("<{label}.{}>", n.config.from.email.domain());
    if !title.is_empty() && title.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        let quoted = title.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" {id}")
    } else {
        id
    }
}

/// The text and HTML parts, already quoted-printable with CRLF line ends.
pub(super) struct EncodedParts {
    pub(super) text: Vec<u8>,
    pub(super) html: Vec<u8>,
}

/// The two parts, text first, with a boundary derived from `seed`.
fn body(text: Body, html: Body, seed: &str) -> MultiPart {
    let boundary = format!("=_hotpapers_{}", &hex::encode(Sha256::digest(seed))[..32]);
    MultiPart::alternative()
        .boundary(boundary)
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html),
        )
}

/// The newsletter message for one reader.
pub(super) fn newsletter(
    edition: &Edition<'_>,
    subscriber: &Subscriber,
    subject: &str,
    parts: EncodedParts,
    unsubscribe: &str,
    date: chrono::DateTime<Utc>,
) -> Result<Message, EmailError> {
    let n = edition.newsletter;
    let to = recipient(&subscriber.email, subscriber.name.as_deref())?;
    let message_id = edition.message_id(subscriber);
    let mut builder = Message::builder()
        .from(n.config.from.clone())
        .to(to)
        .subject(subject.to_owned())
        .date(SystemTime::from(date))
        .message_id(Some(message_id.clone()))
        .raw_header(raw_header("List-Id", list_id(n)))
        .raw_header(raw_header(
            "List-Unsubscribe",
            format!(
                "<{unsubscribe}>, <mailto:{}?subject=unsubscribe>",
                n.config.unsubscribe_mailto
            ),
        ))
        .raw_header(raw_header(
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".to_owned(),
        ));
    if let Some(reply_to) = &n.config.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let qp = ContentTransferEncoding::QuotedPrintable;
    let mut message = builder.multipart(body(
        Body::dangerous_pre_encoded(parts.text, qp),
        Body::dangerous_pre_encoded(parts.html, qp),
        &message_id,
    ))?;
    if let Some(dkim) = &n.dkim {
        message.sign(dkim);
    }
    Ok(message)
}

/// The double opt-in confirmation message.
pub(super) fn confirmation(
    n: &Newsletter,
    email: &str,
    rendered: &RenderedEmail,
    date: chrono::DateTime<Utc>,
) -> Result<Message, EmailError> {
    let to = recipient(email, None)?;
    let message_id = format!(
        "<confirm.{}.{}@{}>",
        date.timestamp(),
        address_hash(n, email),
        n.config.from.email.domain()
    );
    let mut builder = Message::builder()
        .from(n.config.from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .date(SystemTime::from(date))
        .message_id(Some(message_id.clone()))
        .raw_header(raw_header("Auto-Submitted", "auto-generated".to_owned()));
    if let Some(reply_to) = &n.config.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let mut message = builder.multipart(body(
        Body::new(rendered.text.clone()),
        Body::new(rendered.html.clone()),
        &message_id,
    ))?;
    if let Some(dkim) = &n.dkim {
        message.sign(dkim);
    }
    Ok(message)
}

/// A small digest that takes every branch of the default templates: used at
/// start-up to check templates in strict mode.
pub(super) fn sample_digest() -> Digest {
    let day = NaiveDate::from_ymd_opt(2021, 2, 12).unwrap_or_default();
    let counted = NaiveDateTime::new(day, chrono::NaiveTime::MIN);
    let category = |c: &str| Category::parse(c).ok();
    let id = |s: &str| ArxivId::parse(s).ok();
    let full = Paper {
        rank: 1,
        title: "A sample paper with a title long enough to need shortening in a subject line"
            .to_owned(),
        authors: (1..=8).map(|i| format!("Author {i}")).collect(),
        retweets: 100,
        favorites: 300,
        counted_at: counted,
        arxiv_id: id("2102.00001").unwrap_or_else(|| unreachable!()),
        abs_url: "https://arxiv.org/abs/2102.00001".to_owned(),
        pdf_url: Some("https://arxiv.org/pdf/2102.00001".to_owned()),
        categories: ["cs.LG", "stat.ML"]
            .iter()
            .filter_map(|c| category(c))
            .collect(),
        abstract_text: "A sentence of a sample abstract. ".repeat(30),
        tweets: vec![Tweet {
            author: "Sample Author".to_owned(),
            handle: "sample".to_owned(),
            url: "https://twitter.com/sample/status/1".to_owned(),
            date: Some(day),
            lang: "en".to_owned(),
            text: "A tweet.\nOn two lines.".to_owned(),
            html: crate::html::SafeHtml::sanitize("A tweet.<br>On two lines."),
        }],
    };
    let bare = Paper {
        rank: 2,
        title: "A second paper".to_owned(),
        authors: vec![],
        retweets: 0,
        favorites: 0,
        counted_at: counted,
        arxiv_id: id("2102.00002").unwrap_or_else(|| unreachable!()),
        abs_url: "https://arxiv.org/abs/2102.00002".to_owned(),
        pdf_url: None,
        categories: ["astro-ph.GA"].iter().filter_map(|c| category(c)).collect(),
        abstract_text: String::new(),
        tweets: vec![],
    };
    Digest {
        title: "Hot Papers 2021-02-12".to_owned(),
        date: day,
        end_date: None,
        published: day
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .fixed_offset(),
        slug: "hot-papers-2021-02-12".to_owned(),
        draft: false,
        template: None,
        category: None,
        tags: vec![],
        description: None,
        social_image: None,
        papers: vec![full, bare],
    }
}
