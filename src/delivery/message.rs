//! The MIME message around a rendered email: the headers mail providers
//! expect of a newsletter (RFC 2369 / 2919 / 8058 list headers, a stable
//! Message-ID on the sender's domain), multipart/alternative with the text
//! part first and a deterministic boundary, quoted-printable bodies, and the
//! optional DKIM signature.
//!
//! The email renderer hands over one rendering per distinct filter, with the
//! reader's values as placeholders ([`email::Letter`]); the lines without
//! placeholders are quoted-printable encoded once per rendering and reused
//! for every reader, and only the reader's own lines are encoded per message.
//! Encoding line by line gives the same bytes as encoding the whole part,
//! since quoted-printable starts afresh after every hard line break.
//!
//! Every value that reaches a header passes through lettre's encoders (RFC
//! 2047 for non-ASCII, folding) after control characters are turned into
//! spaces, so no input can add a header line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest as _, Sha256};

use super::dkim;
use super::transport::Outgoing;
use crate::config::{MailSettings, Sender};
use crate::email::{self, Edition, EmailError, Letter, RenderKey, RenderedEmail, Segment};
use crate::model::{EmailAddress, Subscriber};
use crate::secret::TokenKey;
use crate::token::Signer;

/// Label mixed into the Message-ID hash, so it cannot be used as any token.
const MESSAGE_ID_LABEL: &[u8] = b"hotpapers/message-id/v1";

/// The headers the DKIM signature covers, in `h=` order.
pub use super::dkim::SIGNED_HEADERS as DKIM_SIGNED_HEADERS;

/// Why a message could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The email could not be rendered.
    #[error(transparent)]
    Render(#[from] EmailError),
    /// The DKIM key file cannot be read.
    #[error("cannot read DKIM key `{}`", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The DKIM key file is not a usable key.
    #[error("DKIM key `{}`: {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A subscriber's address is not a valid mailbox.
    #[error("invalid recipient address `{address}`: {reason}")]
    Address {
        /// The address as given (control characters escaped).
        address: String,
        /// Why it was refused.
        reason: String,
    },
    /// lettre refused to build the message.
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// A header line would pass RFC 5322's 998 octets (no server takes it).
    #[error("the `{header}` header line would be {octets} octets long (at most 998)")]
    LineTooLong {
        /// The header's name.
        header: String,
        /// Its length.
        octets: usize,
    },
}

/// The sender's side of every message: From, Reply-To, the list headers, the
/// Message-ID key and the DKIM signing key. Loaded once per process.
pub struct Mailer {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    list_id: String,
    unsubscribe_mailto: EmailAddress,
    bounce_address: Option<EmailAddress>,
    id_key: TokenKey,
    signer: Signer,
    dkim: Option<dkim::DkimSigner>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("dkim", &self.dkim.is_some())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The sender side of `mail` (the list is named after the site's
    /// `title`), its DKIM key loaded and checked; Message-IDs keyed by `secret`.
    ///
    /// # Errors
    /// A DKIM key that cannot be read or used, or a sender lettre refuses.
    pub fn new(title: &str, mail: &MailSettings, secret: &TokenKey) -> Result<Self, MessageError> {
        let domain = mail.from.email.domain();
        let dkim = mail
            .dkim_key
            .as_deref()
            .map(|path| dkim::DkimSigner::load(path, &mail.dkim_selector, &domain))
            .transpose()?;
        Ok(Self {
            from: mailbox(&mail.from)?,
            reply_to: mail.reply_to.as_ref().map(mailbox).transpose()?,
            list_id: list_id(title, &domain),
            unsubscribe_mailto: mail.unsubscribe_mailto.clone(),
            bounce_address: mail.bounce_address.clone(),
            id_key: secret.clone(),
            signer: Signer::new(secret.expose()),
            dkim,
        })
    }

    /// `<YYYY-MM-DD.HASH@domain>`: HASH is a keyed hash of the lowercased
    /// address, so the id is stable across resends, unique per reader, and
    /// does not reveal the address to whoever sees a forwarded copy.
    #[must_use]
    pub fn message_id(&self, day: NaiveDate, email: &str) -> String {
        self.labelled_message_id(&day.format("%Y-%m-%d").to_string(), email)
    }

    /// [`Mailer::message_id`] for an edition named `label` (a day, or the
    /// ISO week of a weekly edition: `<2021-W06.HASH@domain>`).
    #[must_use]
    pub fn labelled_message_id(&self, label: &str, email: &str) -> String {
        format!(
            "<{label}.{}@{}>",
            self.address_hash(email),
            self.from.email.domain()
        )
    }

    fn address_hash(&self, email: &str) -> String {
        // HMAC takes keys of any length.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.id_key.expose()).unwrap_or_else(|_| unreachable!());
        mac.update(MESSAGE_ID_LABEL);
        mac.update(&[0]);
        mac.update(email.trim().to_lowercase().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The messages of one edition, encoding each shared rendering once.
    #[must_use]
    pub fn edition<'a>(&'a self, edition: &'a Edition<'a>) -> EditionMessages<'a> {
        EditionMessages {
            mailer: self,
            edition,
            encoded: Mutex::new(BTreeMap::new()),
        }
    }

    /// The double opt-in confirmation message for `email`.
    ///
    /// # Errors
    /// An invalid address, or a message lettre refuses.
    pub fn confirmation(
        &self,
        email: &str,
        rendered: &RenderedEmail,
        date: DateTime<Utc>,
    ) -> Result<Outgoing, MessageError> {
        let to = recipient(email, None)?;
        let message_id = format!(
            "<confirm.{}.{}@{}>",
            date.timestamp(),
            self.address_hash(email),
            self.from.email.domain()
        );
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .date(SystemTime::from(date))
            .message_id(Some(message_id.clone()))
            .raw_header(raw_header("Auto-Submitted", "auto-generated".to_owned()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder.multipart(body(
            Body::new(rendered.text.clone()),
            Body::new(rendered.html.clone()),
            &message_id,
        ))?;
        self.finish(&message, date)
    }

    /// `local+TOKEN@domain`: a per-reader (and, for bounces, per-day) address
    /// whose token the bounce processor verifies.
    fn tagged(base: &EmailAddress, token: &str) -> String {
        let (local, domain) = base
            .as_str()
            .rsplit_once('@')
            .unwrap_or((base.as_str(), ""));
        let local = local.split_once('+').map_or(local, |(l, _)| l);
        format!("{local}+{token}@{domain}")
    }

    /// The envelope sender of `email`'s message on `day`: the VERP address
    /// `bounces+TOKEN@bounce-domain` when `HOTPAPERS_BOUNCE_ADDRESS` is set,
    /// else the From address.
    #[must_use]
    pub fn return_path(&self, day: NaiveDate, email: &str) -> String {
        match &self.bounce_address {
            Some(base) => Self::tagged(base, &self.signer.bounce_token(day, email)),
            None => self.from.email.to_string(),
        }
    }

    /// The mailto unsubscribe address of `email`: `unsubscribe+TOKEN@…`, so a
    /// mail to it unsubscribes exactly that reader, and a forged one nobody.
    #[must_use]
    pub fn unsubscribe_mailto(&self, email: &str) -> String {
        Self::tagged(&self.unsubscribe_mailto, &self.signer.mailto_token(email))
    }

    fn newsletter(
        &self,
        letter: &Letter,
        parts: EncodedParts,
        message_id: &str,
        day: NaiveDate,
        date: DateTime<Utc>,
    ) -> Result<Message, MessageError> {
        let reader = &letter.reader;
        let to = recipient(reader.email(), reader.name())?;
        let envelope = Envelope::new(
            Some(self.return_path(day, reader.email()).parse().map_err(
                |e: lettre::address::AddressError| MessageError::Address {
                    address: self.return_path(day, reader.email()),
                    reason: e.to_string(),
                },
            )?),
            vec![to.email.clone()],
        )
        .map_err(MessageError::Build)?;
        let mut builder = Message::builder()
            .envelope(envelope)
            .from(self.from.clone())
            .to(to)
            .subject(letter.subject.clone())
            .date(SystemTime::from(date))
            .message_id(Some(message_id.to_owned()))
            .raw_header(raw_header("List-Id", self.list_id.clone()))
            .raw_header(raw_header(
                "List-Unsubscribe",
                format!(
                    "<{}>, <mailto:{}?subject=unsubscribe>",
                    reader.unsubscribe_url(),
                    self.unsubscribe_mailto(reader.email())
                ),
            ))
            .raw_header(raw_header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let qp = ContentTransferEncoding::QuotedPrintable;
        Ok(builder.multipart(body(
            Body::dangerous_pre_encoded(parts.text, qp),
            Body::dangerous_pre_encoded(parts.html, qp),
            message_id,
        ))?)
    }

    /// The bytes of `message` as they go on the wire, DKIM-signed when a key
    /// is configured (`t=` is the message's `date`), every line checked.
    fn finish(&self, message: &Message, date: DateTime<Utc>) -> Result<Outgoing, MessageError> {
        let mut outgoing = Outgoing::from_message(message);
        if let Some(dkim) = &self.dkim {
            outgoing.bytes = dkim.sign(&outgoing.bytes, date.timestamp());
        }
        check_line_lengths(&outgoing.bytes)?;
        Ok(outgoing)
    }
}

/// One edition's messages, personalized per reader.
pub struct EditionMessages<'a> {
    mailer: &'a Mailer,
    edition: &'a Edition<'a>,
    encoded: Mutex<BTreeMap<RenderKey, Arc<Encoded>>>,
}

/// Every header line within RFC 5322's 998 octets, checked on the finished
/// message: whatever a value holds, the message either fits or is refused
/// here, as our failure, not sent to be refused by the server as the reader's.
fn check_line_lengths(bytes: &[u8]) -> Result<(), MessageError> {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let mut header = String::new();
    for line in bytes[..head_end].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            header = String::from_utf8_lossy(line.split(|&b| b == b':').next().unwrap_or(b""))
                .into_owned();
        }
        if line.len() > 998 {
            return Err(MessageError::LineTooLong {
                header,
                octets: line.len(),
            });
        }
    }
    Ok(())
}

impl std::fmt::Debug for EditionMessages<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EditionMessages")
            .field("day", &self.edition.digest().date)
            .finish_non_exhaustive()
    }
}

impl EditionMessages<'_> {
    /// The complete message for `subscriber`, dated `date`; `None` when their
    /// filter leaves no paper (the sender reports it as skipped).
    ///
    /// # Errors
    /// An invalid subscriber address, a template error, or a message lettre
    /// refuses.
    pub fn message_for(
        &self,
        subscriber: &Subscriber,
        date: DateTime<Utc>,
    ) -> Result<Option<Outgoing>, MessageError> {
        let Some(message) = self.unsigned_message_for(subscriber, date)? else {
            return Ok(None);
        };
        self.mailer.finish(&message, date).map(Some)
    }

    /// The message as lettre built it, before signing.
    fn unsigned_message_for(
        &self,
        subscriber: &Subscriber,
        date: DateTime<Utc>,
    ) -> Result<Option<Message>, MessageError> {
        let Some(letter) = self.edition.letter_for(subscriber)? else {
            return Ok(None);
        };
        let encoded = self.encoded(&letter);
        let reader = &letter.reader;
        let parts = EncodedParts {
            text: encode_segments(&encoded.text, |line| reader.fill_text_line(line), true),
            html: encode_segments(&encoded.html, |line| reader.fill_html_line(line), false),
        };
        let id = self
            .mailer
            .labelled_message_id(&self.edition.label(), reader.email());
        let day = self.edition.digest().date;
        self.mailer
            .newsletter(&letter, parts, &id, day, date)
            .map(Some)
    }

    /// The Message-ID `subscriber`'s copy carries.
    #[must_use]
    pub fn message_id(&self, subscriber: &Subscriber) -> String {
        self.mailer
            .labelled_message_id(&self.edition.label(), &subscriber.email)
    }

    fn encoded(&self, letter: &Letter) -> Arc<Encoded> {
        let mut map = self
            .encoded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(letter.key.clone())
            .or_insert_with(|| {
                Arc::new(Encoded {
                    html: precode(&letter.body.html),
                    text: precode(&letter.body.text),
                })
            })
            .clone()
    }
}

/// A rendering's parts with the shared lines already quoted-printable.
#[derive(Debug)]
struct Encoded {
    html: Vec<Chunk>,
    text: Vec<Chunk>,
}

/// A run of a body part: lines without personal values, encoded once per
/// rendering, or one line holding placeholders, encoded per reader.
#[derive(Debug)]
enum Chunk {
    Encoded(Vec<u8>),
    Personal(String),
}

fn precode(segments: &[Segment]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut encoded = Vec::new();
    for segment in segments {
        match segment {
            Segment::Shared(lines) => {
                for line in lines.lines() {
                    encode_line(line, &mut encoded);
                }
            }
            Segment::Personal(line) => {
                if !encoded.is_empty() {
                    chunks.push(Chunk::Encoded(std::mem::take(&mut encoded)));
                }
                chunks.push(Chunk::Personal(line.clone()));
            }
        }
    }
    if !encoded.is_empty() {
        chunks.push(Chunk::Encoded(encoded));
    }
    chunks
}

/// One line as quoted-printable (soft breaks at 76 columns), then CRLF.
fn encode_line(line: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&quoted_printable::encode(line.as_bytes()));
    out.extend_from_slice(b"\r\n");
}

/// The encoded part for one reader: `fill` gives a personal line with the
/// reader's values in; `rewrapped` when that may be several lines (the text
/// part, wrapped again at 72 columns once the values are in).
fn encode_segments(chunks: &[Chunk], fill: impl Fn(&str) -> String, rewrapped: bool) -> Vec<u8> {
    let size: usize = chunks
        .iter()
        .map(|c| match c {
            Chunk::Encoded(b) => b.len(),
            Chunk::Personal(l) => l.len() + 64,
        })
        .sum();
    let mut out = Vec::with_capacity(size + 256);
    for chunk in chunks {
        match chunk {
            Chunk::Encoded(bytes) => out.extend_from_slice(bytes),
            Chunk::Personal(line) => {
                let filled = fill(line);
                if rewrapped {
                    for l in filled.lines() {
                        encode_line(l, &mut out);
                    }
                } else {
                    encode_line(&filled, &mut out);
                }
            }
        }
    }
    out
}

/// The text and HTML parts, already quoted-printable with CRLF line ends.
struct EncodedParts {
    text: Vec<u8>,
    html: Vec<u8>,
}

/// A configured sender as lettre's mailbox.
fn mailbox(sender: &Sender) -> Result<Mailbox, MessageError> {
    let address: lettre::Address =
        sender
            .email
            .as_str()
            .parse()
            .map_err(|e: lettre::address::AddressError| MessageError::Address {
                address: sender.email.to_string(),
                reason: e.to_string(),
            })?;
    Ok(Mailbox::new(sender.name.clone(), address))
}

/// The recipient mailbox: the address must parse on its own (so `a@b\r\nBcc: c`
/// is refused), the display name is cleaned to one line.
fn recipient(email: &str, name: Option<&str>) -> Result<Mailbox, MessageError> {
    let checked = EmailAddress::parse(email).map_err(|e| MessageError::Address {
        address: e.shown,
        reason: e.reason,
    })?;
    let address: lettre::Address =
        checked
            .as_str()
            .parse()
            .map_err(|e: lettre::address::AddressError| MessageError::Address {
                address: email.escape_debug().to_string(),
                reason: e.to_string(),
            })?;
    Ok(Mailbox::new(email::clean_name(name), address))
}

fn raw_header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// `List-Id: "Title" <label.domain>` (RFC 2919); the phrase only when the
/// title is plain ASCII, since encoded words are not allowed in quotes.
fn list_id(title: &str, domain: &str) -> String {
    let title = email::one_line(title);
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
    let id = format!("<{label}.{domain}>");
    if !title.is_empty() && title.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        let quoted = title.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" {id}")
    } else {
        id
    }
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
