//! The classifier: one raw message in, one [`Report`] out. Layered from the
//! most structured evidence to the least: an ARF feedback report, RFC 3464
//! delivery-status fields, RFC 3834 auto-reply markers, then the text of the
//! bounces that MTAs write in their own words, read by its structure (the
//! recipient line, the quoted SMTP reply) rather than by any one MTA's
//! wording. No I/O; bounded work on any input.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;

use super::reason::{self, Reason};
use super::text::{self, DsnRecipient};

/// The most of a message read: bounces that quote a whole newsletter are a
/// few hundred kilobytes; what decides the verdict is at the top.
pub const MAX_INPUT: usize = 2 * 1024 * 1024;

/// How deep attached messages are classified in turn (a bounce wrapped in a
/// forward or in another MTA's report).
const MAX_DEPTH: usize = 2;

/// The most lines of the human-readable text searched for recipients.
const MAX_LINES: usize = 2_000;

/// What a returned message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Delivery failed for at least one recipient.
    Bounce,
    /// An ARF (RFC 5965) feedback report: a reader marked mail as spam.
    Complaint,
    /// A vacation message, an RFC 3834 auto-reply, a challenge-response.
    AutoReply,
    /// A DSN that is not a failure: delayed, relayed, delivered, expanded.
    DeliveryReport,
    /// Mail to the mailto unsubscribe address (`unsubscribe+TOKEN@…`).
    Unsubscribe,
    /// None of the above.
    Other,
}

/// One recipient a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The failed (or reported) address, lowercased; `None` when the report
    /// does not name it (the caller then attributes by the VERP address).
    pub address: Option<String>,
    /// The enhanced status code (RFC 3463), `5.1.1`.
    pub status: Option<String>,
    /// The SMTP reply code, when the report quotes one.
    pub reply_code: Option<u16>,
    /// Why, from a fixed set.
    pub reason: Reason,
    /// The address itself is dead (unknown user or host, moved, not
    /// accepting mail) and the failure was permanent: stop mailing it.
    pub hard: bool,
    /// The remote server's reply or the report's explanation, on one line.
    pub diagnostic: Option<String>,
}

/// Headers of the message that was returned or reported, as far as the
/// report quotes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalHeaders {
    /// `To` addresses, lowercased.
    pub to: Vec<String>,
    /// `From` address, lowercased.
    pub from: Option<String>,
    /// `List-Unsubscribe`, raw (it carries our unsubscribe token).
    pub list_unsubscribe: Option<String>,
    /// ARF `Original-Rcpt-To` addresses, lowercased.
    pub original_rcpt_to: Vec<String>,
    /// ARF `Original-Mail-From`, lowercased.
    pub original_mail_from: Option<String>,
}

/// What a message is, and whom it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// What the message is.
    pub kind: Kind,
    /// For a bounce, the failed recipients; for a complaint, the reported
    /// ones; for a delivery report, the recipients it reports on.
    pub recipients: Vec<Recipient>,
    /// The report's own Message-ID, without angle brackets.
    #[serde(skip)]
    pub message_id: Option<String>,
    /// Where the report was delivered: To, Delivered-To, X-Original-To,
    /// Envelope-To, X-Envelope-To, lowercased (our VERP address
    /// `bounces+TOKEN@domain` when it came back through it).
    #[serde(skip)]
    pub to: Vec<String>,
    /// The returned message's Message-ID, without angle brackets.
    #[serde(skip)]
    pub original_message_id: Option<String>,
    /// Other headers of the returned message.
    #[serde(skip)]
    pub original_headers: OriginalHeaders,
    /// The report's Date, when it parses.
    #[serde(skip)]
    pub received_at: Option<DateTime<Utc>>,
}

impl Report {
    fn other() -> Self {
        Report {
            kind: Kind::Other,
            recipients: Vec::new(),
            message_id: None,
            to: Vec::new(),
            original_message_id: None,
            original_headers: OriginalHeaders::default(),
            received_at: None,
        }
    }
}

/// Classifies one raw message (RFC 5322 bytes, an mbox `From ` line allowed).
/// Never panics; reads at most [`MAX_INPUT`] bytes and one level of attached
/// message.
#[must_use]
pub fn classify(raw: &[u8]) -> Report {
    classify_at(raw, 0)
}

fn classify_at(raw: &[u8], depth: usize) -> Report {
    let raw = &raw[..raw.len().min(MAX_INPUT)];
    // Old Mac line ends (CR alone) read as one line to the MIME parser.
    let unix;
    let raw = if raw.contains(&b'\r') && !raw.contains(&b'\n') {
        unix = raw
            .iter()
            .map(|&b| if b == b'\r' { b'\n' } else { b })
            .collect::<Vec<u8>>();
        unix.as_slice()
    } else {
        raw
    };
    let raw = strip_mbox_line(raw);
    let mut report = Report::other();
    let Some(message) = MessageParser::default().parse(raw) else {
        return report;
    };
    report.message_id = message.message_id().map(str::to_owned);
    report.received_at = message
        .date()
        .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0));
    for name in [
        "To",
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "X-Envelope-To",
    ] {
        for value in header_values(&message, name) {
            for found in text::addresses(&value) {
                if !report.to.contains(&found.address) {
                    report.to.push(found.address);
                }
            }
        }
    }
    let mut parts = Parts::of(&message);
    if parts.human.is_empty() && parts.dsn.is_empty() && parts.feedback.is_empty() {
        // Broken MIME (a boundary the body never uses, a multipart/report
        // with no boundary lines): read the body as the text it is.
        let body = message
            .parts
            .first()
            .and_then(|p| usize::try_from(p.raw_body_offset()).ok())
            .and_then(|start| message.raw_message().get(start..))
            .unwrap_or_default();
        if !body.is_empty() {
            parts.human.push(String::from_utf8_lossy(body).into_owned());
        }
    }
    if let Some(original) = &parts.original {
        read_original(original, &mut report);
    }
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    let from = header_values(&message, "From")
        .join(" ")
        .to_ascii_lowercase();
    let return_path = header_values(&message, "Return-Path").join(" ");

    // (1) ARF feedback report.
    let report_type = message
        .content_type()
        .and_then(|ct| ct.attribute("report-type"))
        .unwrap_or("")
        .to_ascii_lowercase();
    if report_type == "feedback-report" || !parts.feedback.is_empty() {
        complaint(&parts.feedback, &mut report);
        return report;
    }

    let human: String = {
        let joined = unquote(&parts.human.join("\n"));
        let part = text::human_part(&joined);
        // Bounces in plain text (qmail, Yahoo, older Sendmail) quote the
        // returned message after their own text rather than attach it.
        if parts.original.is_none() {
            if let Some(headers) = quoted_headers(&joined[part.len()..]) {
                read_original(&Original::Headers(headers.as_bytes().to_vec()), &mut report);
            }
        }
        part.lines().take(MAX_LINES).collect::<Vec<_>>().join("\n")
    };
    // The report's own addresses are never the failed recipient (To is the
    // sender of the returned message; Delivered-To may be the recipient).
    let mut exclude: HashSet<String> = header_values(&message, "To")
        .iter()
        .flat_map(|v| text::addresses(v))
        .map(|f| f.address)
        .collect();
    exclude.extend(text::addresses(&from).into_iter().map(|f| f.address));
    exclude.extend(text::addresses(&return_path).into_iter().map(|f| f.address));
    exclude.extend(report.original_headers.from.iter().cloned());
    let lines = text_recipients(&human, &exclude);

    // (2) RFC 3464 delivery-status fields (in their part, or quoted in text).
    let mut dsn: Vec<DsnRecipient> = parts
        .dsn
        .iter()
        .flat_map(|t| text::dsn_recipients(t))
        .collect();
    if dsn.is_empty() {
        let lower = human.to_ascii_lowercase();
        if lower.contains("final-recipient:") || lower.contains("original-recipient:") {
            dsn = text::dsn_recipients(&human);
        }
    }
    if let Some((kind, recipients)) = from_dsn(&dsn, &lines, &human) {
        report.kind = kind;
        report.recipients = recipients;
        return report;
    }

    // (2b) Amazon SES notifications mailed through SNS: one JSON object.
    if let Some((kind, recipients, original_id)) = super::ses::notification(&human) {
        report.kind = kind;
        report.recipients = recipients;
        report.original_message_id = report.original_message_id.take().or(original_id);
        return report;
    }

    // (3) Auto-replies, unless the message says it is a bounce.
    // RFC 3834 auto-replies go out with a null sender too: `<>` alone does
    // not make an auto-reply a bounce; a daemon's name or a bounce subject does.
    let daemon = is_bounce_sender(&from);
    let null_sender = matches!(
        return_path.trim().to_ascii_lowercase().as_str(),
        "<>" | "<mailer-daemon>"
    );
    let sender_bounce = daemon || null_sender;
    let subject_bounce = is_bounce_subject(&subject);
    let auto = is_auto_reply(&message, &subject);
    if auto && !daemon && !subject_bounce {
        report.kind = Kind::AutoReply;
        return report;
    }

    // (4) Bounces in the MTA's own words.
    let lower = human.to_ascii_lowercase();
    if sender_bounce || subject_bounce || is_bounce_body(&lower) {
        if is_delay(&subject, &lower) {
            report.kind = Kind::DeliveryReport;
            report.recipients = lines
                .into_iter()
                .map(|l| Recipient {
                    hard: false,
                    ..l.recipient
                })
                .collect();
            return report;
        }
        let mut recipients: Vec<Recipient> = lines.into_iter().map(|l| l.recipient).collect();
        if recipients.is_empty() {
            // Exim and Google name them in a header.
            recipients = header_values(&message, "X-Failed-Recipients")
                .iter()
                .flat_map(|v| text::addresses(v))
                .map(|f| recipient_from_text(Some(f.address), &human))
                .collect();
        }
        if recipients.is_empty() {
            if let Some(inner) = nested(&parts, depth) {
                report.kind = inner.kind;
                report.recipients = inner.recipients;
                return report;
            }
        }
        if !recipients.is_empty() {
            report.kind = Kind::Bounce;
            report.recipients = recipients;
            return report;
        }
        if sender_bounce || subject_bounce {
            report.kind = Kind::Bounce;
            report.recipients = vec![recipient_from_text(None, &human)];
            return report;
        }
    }

    if let Some(inner) = nested(&parts, depth) {
        report.kind = inner.kind;
        report.recipients = inner.recipients;
        return report;
    }

    // (5) Mail to the mailto unsubscribe address.
    if report.to.iter().any(|a| is_unsubscribe_address(a)) {
        report.kind = Kind::Unsubscribe;
        return report;
    }
    if auto {
        report.kind = Kind::AutoReply;
    }
    report
}

/// The attached message's own report, when it is a bounce, a complaint or a
/// delivery report naming a recipient (a bounce forwarded, or wrapped in
/// another MTA's report).
fn nested(parts: &Parts<'_>, depth: usize) -> Option<Report> {
    let Some(Original::Message(_, bytes)) = &parts.original else {
        return None;
    };
    if depth >= MAX_DEPTH || bytes.is_empty() {
        return None;
    }
    let inner = classify_at(bytes, depth + 1);
    (matches!(
        inner.kind,
        Kind::Bounce | Kind::Complaint | Kind::DeliveryReport
    ) && inner.recipients.iter().any(|r| r.address.is_some()))
    .then_some(inner)
}

/// A forwarded text quoted with `>`: one level of quoting removed when most
/// lines carry it (a Sendmail transcript's own `>>>` lines then keep theirs).
fn unquote(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let quoted = lines.iter().filter(|l| l.starts_with('>')).count();
    if lines.is_empty() || quoted * 2 < lines.len() {
        return text.to_owned();
    }
    text.lines()
        .map(|l| {
            let l = l.strip_prefix('>').unwrap_or(l);
            l.strip_prefix(' ').unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The header block of a message quoted after a bounce's text: from its
/// first header line, past the marker line (`--- Below this line is a copy
/// of the message.`) and blank lines, to the first blank line.
fn quoted_headers(rest: &str) -> Option<&str> {
    let mut offset = 0;
    for line in rest.split_inclusive('\n').take(5) {
        if text::header_name(line).is_some() {
            let block = &rest[offset..];
            let end = block.find("\n\n").map_or(block.len(), |e| e + 1);
            return Some(&block[..end]);
        }
        offset += line.len();
    }
    None
}

fn strip_mbox_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        if let Some(nl) = raw.iter().position(|&b| b == b'\n') {
            return &raw[nl + 1..];
        }
    }
    raw
}

/// The raw values of every `name` header (unfolded, trimmed), or, where the
/// raw bytes are not at hand (a message nested in a decoded part), the
/// parsed value as text.
fn header_values(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| {
            let raw = message.raw_message();
            let field = usize::try_from(h.offset_field()).ok();
            let start = usize::try_from(h.offset_start()).ok();
            let end = usize::try_from(h.offset_end()).ok();
            let exact = match (field, start, end) {
                (Some(f), Some(s), Some(e)) => raw
                    .get(f..s)
                    .filter(|n| {
                        n.len() > name.len()
                            && n[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                    })
                    .and_then(|_| raw.get(s..e)),
                _ => None,
            };
            match exact {
                Some(bytes) => text::one_line(&String::from_utf8_lossy(bytes)),
                None => parsed_text(h.value()),
            }
        })
        .collect()
}

fn parsed_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(list) => list.join(", "),
        HeaderValue::Address(a) => a
            .iter()
            .filter_map(|addr| addr.address.as_deref())
            .map(|addr| format!("<{addr}>"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// The parts of a message that matter here, decoded.
struct Parts<'a> {
    /// Text of the report meant for people (text/plain, else HTML stripped).
    human: Vec<String>,
    /// Bodies of message/delivery-status parts.
    dsn: Vec<String>,
    /// Bodies of message/feedback-report parts.
    feedback: Vec<String>,
    /// The returned message, or its headers.
    original: Option<Original<'a>>,
}

enum Original<'a> {
    /// An attached message, and its bytes.
    Message(&'a Message<'a>, &'a [u8]),
    Headers(Vec<u8>),
}

impl<'a> Parts<'a> {
    fn of(message: &'a Message<'a>) -> Self {
        let mut parts = Parts {
            human: Vec::new(),
            dsn: Vec::new(),
            feedback: Vec::new(),
            original: None,
        };
        let mut html = Vec::new();
        for part in &message.parts {
            let (ctype, subtype) =
                part.content_type()
                    .map_or(("text".to_owned(), "plain".to_owned()), |ct| {
                        (
                            ct.ctype().to_ascii_lowercase(),
                            ct.subtype().unwrap_or("").to_ascii_lowercase(),
                        )
                    });
            match (&part.body, ctype.as_str(), subtype.as_str()) {
                (PartType::Message(nested), _, _) if parts.original.is_none() => {
                    // A message parsed in place shares the outer buffer (its
                    // bytes are the part's body); one decoded from base64 or
                    // quoted-printable has its own.
                    let own = nested.raw_message();
                    let bytes = if std::ptr::eq(own.as_ptr(), message.raw_message().as_ptr()) {
                        let start = usize::try_from(part.raw_body_offset()).unwrap_or(0);
                        let end = usize::try_from(part.raw_end_offset()).unwrap_or(0);
                        own.get(start..end).unwrap_or_default()
                    } else {
                        own
                    };
                    parts.original = Some(Original::Message(nested, bytes));
                }
                (PartType::Message(_) | PartType::Multipart(_), _, _) => {}
                (_, "message", "delivery-status" | "global-delivery-status") => {
                    parts
                        .dsn
                        .push(String::from_utf8_lossy(part.contents()).into_owned());
                }
                (_, "message", "feedback-report") => {
                    parts
                        .feedback
                        .push(String::from_utf8_lossy(part.contents()).into_owned());
                }
                (
                    _,
                    "message" | "text",
                    "rfc822" | "rfc822-headers" | "global" | "global-headers",
                ) if parts.original.is_none() => {
                    parts.original = Some(Original::Headers(part.contents().to_vec()));
                }
                (PartType::Text(t), "text", _) => parts.human.push(t.to_string()),
                (PartType::Html(h), _, _) => html.push(strip_tags(h)),
                _ => {}
            }
        }
        if parts.human.is_empty() {
            parts.human = html;
        }
        parts
    }
}

/// HTML as text: tags dropped, `<br>`, `<p>`, `<div>`, `<tr>` as line breaks,
/// the common entities decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split([' ', '/'])
            .next()
            .unwrap_or("");
        if matches!(
            name,
            "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "table"
        ) {
            out.push('\n');
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn read_original(original: &Original<'_>, report: &mut Report) {
    let parsed;
    let message = match original {
        Original::Message(m, _) => *m,
        Original::Headers(bytes) => {
            match MessageParser::default().parse_headers(bytes.as_slice()) {
                Some(m) => {
                    parsed = m;
                    &parsed
                }
                None => return,
            }
        }
    };
    report.original_message_id = message.message_id().map(str::to_owned);
    let h = &mut report.original_headers;
    h.to = header_values(message, "To")
        .iter()
        .flat_map(|v| text::addresses(v))
        .map(|f| f.address)
        .collect();
    h.from = header_values(message, "From")
        .iter()
        .find_map(|v| text::addresses(v).into_iter().next())
        .map(|f| f.address);
    h.list_unsubscribe = header_values(message, "List-Unsubscribe")
        .into_iter()
        .next()
        .map(|v| text::one_line(&v));
}

fn complaint(feedback: &[String], report: &mut Report) {
    report.kind = Kind::Complaint;
    let mut feedback_type = None;
    for body in feedback {
        for line in body.lines() {
            let Some(name) = text::header_name(line) else {
                continue;
            };
            let value = line[name.len() + 1..].trim();
            match name.to_ascii_lowercase().as_str() {
                "original-rcpt-to" => report
                    .original_headers
                    .original_rcpt_to
                    .extend(text::addresses(value).into_iter().map(|f| f.address)),
                "original-mail-from" => {
                    report.original_headers.original_mail_from =
                        text::addresses(value).into_iter().next().map(|f| f.address);
                }
                "feedback-type" => feedback_type = Some(text::one_line(value).to_ascii_lowercase()),
                _ => {}
            }
        }
    }
    let addresses = if report.original_headers.original_rcpt_to.is_empty() {
        report.original_headers.to.clone()
    } else {
        report.original_headers.original_rcpt_to.clone()
    };
    let diagnostic = Some(format!(
        "feedback-type: {}",
        feedback_type.as_deref().unwrap_or("abuse")
    ));
    let recipient = |address| Recipient {
        address,
        status: None,
        reply_code: None,
        reason: Reason::Policy,
        hard: false,
        diagnostic: diagnostic.clone(),
    };
    report.recipients = if addresses.is_empty() {
        vec![recipient(None)]
    } else {
        addresses.into_iter().map(|a| recipient(Some(a))).collect()
    };
}

/// A recipient found in the text, with the lines around it.
struct TextRecipient {
    recipient: Recipient,
    /// The lines from the address to the next recipient.
    block: String,
}

fn from_dsn(
    dsn: &[DsnRecipient],
    lines: &[TextRecipient],
    human: &str,
) -> Option<(Kind, Vec<Recipient>)> {
    if dsn.is_empty() {
        return None;
    }
    let is_failed = |r: &DsnRecipient| match r.action.as_deref() {
        Some(a) => a.starts_with("fail") || a.starts_with("bounce") || a.starts_with("reject"),
        None => {
            r.status
                .as_deref()
                .is_some_and(|s| s.starts_with('5') || s.starts_with('4'))
                || r.diagnostic.as_deref().and_then(text::reply_code).is_some()
        }
    };
    let failed: Vec<&DsnRecipient> = dsn.iter().filter(|r| is_failed(r)).collect();
    let known = |r: &&DsnRecipient| {
        r.action.as_deref().is_some_and(|a| {
            ["delayed", "relayed", "delivered", "expanded"]
                .iter()
                .any(|k| a.starts_with(k))
        }) || r.status.as_deref().is_some_and(|s| s.starts_with('2'))
    };
    let (kind, chosen): (Kind, Vec<&DsnRecipient>) = if failed.is_empty() {
        let reports: Vec<&DsnRecipient> = dsn.iter().filter(known).collect();
        if reports.is_empty() {
            return None;
        }
        (Kind::DeliveryReport, reports)
    } else {
        (Kind::Bounce, failed)
    };
    let only = chosen.len() == 1;
    let recipients = chosen
        .into_iter()
        .enumerate()
        .map(|(n, r)| {
            // A DSN field that holds no address (`rfc822; @mx.example.org`)
            // gives way to the recipient at the same place in the text.
            let address = r
                .final_recipient
                .clone()
                .or_else(|| r.original_recipient.clone())
                .or_else(|| lines.get(n).and_then(|l| l.recipient.address.clone()));
            // The same recipient in the human-readable text.
            let line = lines
                .iter()
                .find(|l| l.recipient.address.is_some() && l.recipient.address == address);
            // The Diagnostic-Code, else the comment of the Status field
            // (`Status: 5.4.4 (Illegal host/domain name found)`), else the
            // reply quoted beside the recipient in the text.
            let diagnostic = r
                .diagnostic
                .clone()
                .filter(|d| !d.is_empty())
                .or_else(|| r.status_comment.clone())
                .or_else(|| line.and_then(|l| l.recipient.diagnostic.clone()));
            let diag = diagnostic.as_deref().unwrap_or("");
            let mut status = r.status.clone();
            if let Some(s) = text::reply_status(diag).or_else(|| text::enhanced_status(diag)) {
                if status.as_deref().is_none_or(is_generic) && !is_generic(&s) {
                    status = Some(s);
                }
            }
            let reply_code = text::reply_code(diag);
            let mut why = reason::reason(status.as_deref(), reply_code, diag);
            let mut context = diag.to_owned();
            if why == Reason::Other {
                if let Some(l) = line {
                    why = l.recipient.reason;
                    context.push(' ');
                    context.push_str(l.recipient.diagnostic.as_deref().unwrap_or(""));
                }
            }
            if why == Reason::Other && kind == Kind::Bounce {
                why = reason::reason(status.as_deref(), reply_code, human);
                human.clone_into(&mut context);
            }
            let transcript = line.map_or(human, |l| l.block.as_str());
            let transcript = format!("{diag}\n{transcript}");
            // A report about one recipient that calls the account disabled,
            // or the mailbox full, anywhere says so about that recipient:
            // its own words and its DSN disagree, and a doubt is soft.
            let lower = human.to_ascii_lowercase();
            let suspended = only
                && (reason::is_suspended(&lower)
                    || matches!(
                        reason::from_text(&lower),
                        Reason::MailboxFull | Reason::MessageTooBig
                    ));
            let hard = kind == Kind::Bounce
                && !suspended
                && reason::hard(why, status.as_deref(), reply_code, &context, &transcript);
            Recipient {
                address,
                status,
                reply_code,
                reason: why,
                hard,
                diagnostic,
            }
        })
        .collect();
    Some((kind, recipients))
}

/// `x.0.0`, `x.5.0`: a class without a cause.
fn is_generic(status: &str) -> bool {
    let mut parts = status.split('.').skip(1);
    matches!(
        (parts.next(), parts.next()),
        (Some(_), Some("0")) | (Some("0"), _)
    )
}

/// Lines that quote headers or the envelope sender, not a failed recipient.
fn is_sender_line(lower: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "from:",
        "return-path:",
        "reply-to:",
        "sender:",
        "message-id:",
        "references:",
        "in-reply-to:",
        "received:",
        "x-",
        "envelope-from",
        "dkim",
        ">>> mail from",
        "mail from",
    ];
    let trimmed = lower.trim_start();
    PREFIXES.iter().any(|p| trimmed.starts_with(p))
        || lower.contains("mail from:")
        || lower.contains("message-id")
        || lower.contains("message id")
        || lower.contains("generated")
        || lower.contains("envelope-from")
}

fn is_service_address(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or("");
    matches!(
        local,
        "postmaster"
            | "mailer-daemon"
            | "mail-daemon"
            | "root"
            | "abuse"
            | "hostmaster"
            | "noreply"
            | "no-reply"
    ) || local.starts_with("mailer-daemon")
}

/// The failed recipients named in a bounce's text, each with the SMTP reply
/// quoted nearest after it.
fn text_recipients(human: &str, exclude: &HashSet<String>) -> Vec<TextRecipient> {
    let found = text_recipients_excluding(human, exclude, true);
    if found.is_empty() {
        // The report's own addresses and role accounts are the failed
        // recipient when nothing else is named (mail to postmaster@, a
        // sender writing to itself).
        text_recipients_excluding(human, &HashSet::new(), false)
    } else {
        found
    }
}

fn text_recipients_excluding(
    human: &str,
    exclude: &HashSet<String>,
    skip_roles: bool,
) -> Vec<TextRecipient> {
    let lines: Vec<&str> = human.lines().collect();
    // (address, first line, strength)
    // (address, first line, strength, that line is the address's own reply)
    let mut candidates: Vec<(String, usize, u8, bool)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_ascii_lowercase();
        if is_sender_line(&lower) {
            continue;
        }
        for found in text::addresses(line) {
            // Our own VERP return path (`bounces+TOKEN@…`) is never the
            // failed recipient, whatever else is excluded.
            if exclude.contains(&found.address)
                || found.address.starts_with("bounces+")
                || skip_roles && is_service_address(&found.address)
            {
                continue;
            }
            let before = lower[..found.start].trim_end_matches(['<', '"', '\'', ' ']);
            let after = &lower[(found.start + found.address.len()).min(lower.len())..];
            // Sendmail's own per-recipient line: `554 <addr>... reason`.
            let sendmail = after.trim_start_matches('>').starts_with("...")
                && text::reply_code(before).is_some()
                && before.len() <= "550 5.1.10".len();
            let first = before.trim().is_empty() || sendmail;
            let strength =
                if first || before.ends_with("rcpt to:") || before.ends_with("recipient:") {
                    3
                } else if [
                    " to ",
                    "to:",
                    "recipient",
                    "address",
                    "user",
                    "mailbox",
                    "account",
                    "deliver",
                    "for ",
                ]
                .iter()
                .any(|k| lower.contains(k))
                {
                    2
                } else {
                    1
                };
            match candidates.iter_mut().find(|c| c.0 == found.address) {
                Some(c) => c.2 = c.2.max(strength),
                None => candidates.push((found.address, i, strength, sendmail)),
            }
        }
    }
    let Some(best) = candidates.iter().map(|c| c.2).max() else {
        return Vec::new();
    };
    candidates.retain(|c| c.2 == best);
    if best == 1 {
        candidates.truncate(1);
    }
    let global_reply = lines.iter().position(|l| reply_line(l));
    let mut out = Vec::new();
    for (n, (address, start, _, own)) in candidates.iter().enumerate() {
        let end = candidates
            .get(n + 1)
            .map_or(lines.len(), |c| c.1.max(start + 1))
            .min(start + 200);
        let block = &lines[*start..end.max(*start + 1).min(lines.len())];
        let reply_at = block.iter().position(|l| reply_line(l)).map(|p| p + start);
        let (diagnostic, block_text) = match reply_at.or(global_reply) {
            Some(at) => (paragraph(&lines, at), block.join("\n")),
            None => {
                let next = block
                    .iter()
                    .skip(1)
                    .find(|l| !l.trim().is_empty())
                    .map(|l| text::one_line(l));
                (next.unwrap_or_default(), block.join("\n"))
            }
        };
        // A line that is the address's own reply (`554 <addr>... Remote
        // protocol error`) says all there is about it: the lines after it
        // are about other recipients and hosts.
        let (block_text, context) = if *own {
            let line = lines[*start].to_owned();
            (line.clone(), line)
        } else {
            (block_text, human.to_owned())
        };
        let mut recipient = recipient_from(
            Some(address.clone()),
            &diagnostic,
            &block_text,
            &context,
            candidates.len() == 1 && !own,
        );
        recipient.diagnostic = Some(diagnostic).filter(|d| !d.is_empty());
        out.push(TextRecipient {
            recipient,
            block: block_text,
        });
    }
    out
}

/// A line quoting an SMTP reply: a reply code, or an enhanced status code.
fn reply_line(line: &str) -> bool {
    text::has_reply(line)
}

/// The reply at line `at` and its continuation lines, on one line.
/// A reply that ends on its first line (`550 …`, not `550-…`) ends there: a
/// line that starts with a code after it is another reply (Sendmail lists
/// one `554 <addr>... reason` line per recipient).
fn paragraph(lines: &[&str], at: usize) -> String {
    let mut text = String::from(lines[at]);
    let mut previous = lines[at];
    for line in lines.iter().skip(at + 1).take(3) {
        let trimmed = line.trim();
        if trimmed.is_empty()
            || text::addresses(trimmed)
                .first()
                .is_some_and(|f| f.start == 0 || trimmed.starts_with('<'))
            || reply_start(previous) == Some(b' ') && reply_start(line).is_some()
        {
            break;
        }
        text.push(' ');
        text.push_str(trimmed);
        previous = line;
    }
    text::one_line(&text)
}

/// The separator after a reply code that starts `line` (`b' '` on a last
/// line, `b'-'` on a line that a continuation follows).
fn reply_start(line: &str) -> Option<u8> {
    let b = line.trim_start().as_bytes();
    (b.len() > 4
        && matches!(b[0], b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && matches!(b[3], b' ' | b'-'))
    .then(|| b[3])
}

/// `only`: the one recipient of the report, so the whole text is about it.
fn recipient_from(
    address: Option<String>,
    diagnostic: &str,
    block: &str,
    human: &str,
    only: bool,
) -> Recipient {
    let status = text::reply_status(diagnostic)
        .or_else(|| text::enhanced_status(diagnostic))
        .or_else(|| text::enhanced_status(block));
    let reply_code = text::reply_code(diagnostic).or_else(|| text::reply_code(block));
    let mut why = reason::reason(status.as_deref(), reply_code, diagnostic);
    let mut context = diagnostic;
    if why == Reason::Other {
        why = reason::reason(status.as_deref(), reply_code, block);
        context = block;
    }
    if why == Reason::Other {
        why = reason::reason(status.as_deref(), reply_code, human);
        context = human;
    }
    let transcript = if only {
        format!("{diagnostic}\n{block}\n{human}")
    } else {
        format!("{diagnostic}\n{block}")
    };
    let hard = reason::hard(why, status.as_deref(), reply_code, context, &transcript);
    Recipient {
        address,
        status,
        reply_code,
        reason: why,
        hard,
        diagnostic: None,
    }
}

fn recipient_from_text(address: Option<String>, human: &str) -> Recipient {
    let lines: Vec<&str> = human.lines().collect();
    let diagnostic = lines
        .iter()
        .position(|l| reply_line(l))
        .map(|at| paragraph(&lines, at));
    let mut r = recipient_from(
        address,
        diagnostic.as_deref().unwrap_or(""),
        "",
        human,
        true,
    );
    r.diagnostic = diagnostic;
    r
}

fn is_bounce_sender(from: &str) -> bool {
    const NAMES: &[&str] = &[
        "mailer-daemon",
        "mailer daemon",
        "mail-daemon",
        "maildaemon",
        "mailerdaemon",
        "postmaster",
        "mail delivery",
        "delivery subsystem",
        "mail administrator",
        "mail system",
        "mdaemon",
        "microsoftexchange",
        "mailer@",
        "<mailer@",
        "bounce@",
        "bounces@",
    ];
    NAMES.iter().any(|n| from.contains(n))
}

fn is_bounce_subject(subject: &str) -> bool {
    const PATTERNS: &[&str] = &[
        "undeliver",
        "undelivered",
        "returned mail",
        "return mail",
        "returned to sender",
        "delivery status notification",
        "failure notice",
        "mail delivery failed",
        "delivery failure",
        "delivery failed",
        "delivery has failed",
        "failed delivery",
        "could not be delivered",
        "couldn't be delivered",
        "not delivered",
        "nondeliverable",
        "non-deliverable",
        "non delivery",
        "non-delivery",
        "mail system error",
        "delivery notification",
        "delivery problem",
        "mail failure",
        "error sending",
        "bounce",
        "rejected",
        "delivery report",
        "permanent error",
        "failed mail",
        "mail error",
        "warning: could not send",
        "delayed mail",
        "delivery delayed",
        "delivery is delayed",
    ];
    PATTERNS.iter().any(|p| subject.contains(p))
}

fn is_bounce_body(lower: &str) -> bool {
    const PHRASES: &[&str] = &[
        "could not be delivered",
        "couldn't be delivered",
        "was not delivered",
        "wasn't delivered",
        "permanent error",
        "permanent fatal error",
        "following address(es) failed",
        "following addresses had",
        "delivery to the following recipient",
        "delivery has failed",
        "unable to deliver",
        "wasn't able to deliver",
        "undeliverable",
        "could not deliver",
        "failed permanently",
        "delivery failed",
        "did not reach the following",
        "returned to you",
        "was undeliverable",
    ];
    PHRASES.iter().any(|p| lower.contains(p))
}

fn is_delay(subject: &str, lower: &str) -> bool {
    const DELAY: &[&str] = &[
        "delayed",
        "delay)",
        "warning: could not send",
        "still being retried",
        "will continue to try",
        "will keep trying",
        "will retry",
        "this is a warning message only",
        "no action is required",
        "not yet been delivered",
        "hasn't been delivered yet",
    ];
    const FAILED: &[&str] = &[
        "permanent",
        "failed",
        "given up",
        "gave up",
        "giving up",
        "could not be delivered",
    ];
    (DELAY
        .iter()
        .any(|p| subject.contains(p) || lower.contains(p)))
        && !FAILED
            .iter()
            .any(|p| subject.contains(p) || lower.contains(p))
}

fn is_auto_reply(message: &Message<'_>, subject: &str) -> bool {
    const SUBJECTS: &[&str] = &[
        "out of office",
        "out of the office",
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "auto-response",
        "autoresponse",
        "automatische antwort",
        "abwesenheit",
        "vacation",
        "away from",
        "on leave",
        "absence",
        "please confirm your message",
        "verify your email",
        "challenge",
    ];
    let header = |name: &str| header_values(message, name).join(" ").to_ascii_lowercase();
    let auto_submitted = header("Auto-Submitted");
    if auto_submitted.starts_with("auto-replied") || auto_submitted.starts_with("auto-notified") {
        return true;
    }
    for name in [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponder",
        "X-Challenge",
        "X-Boxtrapper",
        "X-Spam-Challenge",
    ] {
        if !header_values(message, name).is_empty() {
            return true;
        }
    }
    let precedence = header("Precedence");
    if precedence.contains("auto_reply") || precedence.contains("auto-reply") {
        return true;
    }
    SUBJECTS.iter().any(|s| subject.contains(s))
}

fn is_unsubscribe_address(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or("");
    local.starts_with("unsubscribe+") || local == "unsubscribe"
}
