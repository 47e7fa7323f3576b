//! DKIM signing (RFC 6376; Ed25519 per RFC 8463) of the finished message,
//! with aws-lc-rs: the key file (PEM: PKCS#1 RSA, PKCS#8 RSA or Ed25519 as
//! `openssl genpkey` writes them, or lettre's bare base64 Ed25519 seed) is
//! parsed once per process into a [`DkimSigner`], which signs the exact bytes
//! that go on the wire and puts the `DKIM-Signature` header in front of them.
//!
//! Canonicalization is relaxed/relaxed. Because the headers are hashed as
//! they are written out (folded lines included), `Content-Type` and
//! `MIME-Version` are signed too, which lettre's own signer could not do.
//! The body is hashed in place, once per message: only the runs of white
//! space relaxed canonicalization changes are rewritten, everything between
//! them goes to SHA-256 straight from the message.
//!
//! Only the delivery stage calls this; it reads no clock (the signature's
//! `t=` is the message's own `Date`) and signs deterministically (RSA
//! PKCS#1 v1.5 and Ed25519 have no random input), so the same message gives
//! the same bytes.

use std::path::Path;

use aws_lc_rs::digest::{self, Context, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use memchr::memmem;

use super::message::MessageError;

/// The headers the signature covers, in `h=` order; one absent from a
/// message is left out of its `h=` (see [`DkimSigner::signature`]).
pub const SIGNED_HEADERS: [&str; 10] = [
    "From",
    "Subject",
    "To",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
    "Content-Type",
    "MIME-Version",
];

/// The longest line of the `DKIM-Signature` header, CRLF not counted.
const FOLD_AT: usize = 78;

/// DER object identifiers of the key algorithms (content bytes only).
const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];

/// A loaded signing key and the tags that are the same on every message.
pub struct DkimSigner {
    key: SigningKey,
    /// `v=1; a=…; c=relaxed/relaxed; d=…; s=…;` as separate tags, for folding.
    fixed_tags: Vec<String>,
    /// Unused by PKCS#1 v1.5 (deterministic), but aws-lc-rs asks for one.
    rng: SystemRandom,
    double_space: memmem::Finder<'static>,
    space_crlf: memmem::Finder<'static>,
}

enum SigningKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("DkimSigner")
            .field("tags", &self.fixed_tags)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// Reads the key at `path` and makes the signer for `domain` under
    /// `selector`: done once per process.
    ///
    /// # Errors
    /// A key file that cannot be read, is not one of the formats above, or
    /// that aws-lc-rs refuses; a selector that is not a DNS label.
    pub fn load(path: &Path, selector: &str, domain: &str) -> Result<Self, MessageError> {
        load(path, selector, domain)
    }
}

fn load(path: &Path, selector: &str, domain: &str) -> Result<DkimSigner, MessageError> {
    let text = std::fs::read_to_string(path).map_err(|source| MessageError::ReadKey {
        path: path.to_owned(),
        source,
    })?;
    let bad = |reason: &str| MessageError::BadKey {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if selector.is_empty()
        || !selector
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(bad(
            "the DKIM selector must be letters, digits, `-`, `_` or `.`",
        ));
    }
    let key = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        let der = pem_body(&text, "RSA PRIVATE KEY")
            .ok_or_else(|| bad("the PEM block is not valid base64"))?;
        SigningKey::Rsa(
            RsaKeyPair::from_der(&der).map_err(|e| bad(&format!("not a PKCS#1 RSA key ({e})")))?,
        )
    } else if text.contains("-----BEGIN PRIVATE KEY-----") {
        let der = pem_body(&text, "PRIVATE KEY")
            .ok_or_else(|| bad("the PEM block is not valid base64"))?;
        let (oid, private) = pkcs8(&der).ok_or_else(|| bad("not a PKCS#8 private key"))?;
        if oid == OID_RSA {
            SigningKey::Rsa(
                RsaKeyPair::from_pkcs8(&der)
                    .map_err(|e| bad(&format!("the RSA key does not decode ({e})")))?,
            )
        } else if oid == OID_ED25519 {
            // The private key is an OCTET STRING holding the 32-byte seed.
            let (tag, seed, _) = der_item(private).ok_or_else(|| bad("bad Ed25519 key"))?;
            if tag != 0x04 || seed.len() != 32 {
                return Err(bad("bad Ed25519 key: expected a 32-byte seed"));
            }
            SigningKey::Ed25519(
                Ed25519KeyPair::from_seed_unchecked(seed)
                    .map_err(|e| bad(&format!("the Ed25519 key does not decode ({e})")))?,
            )
        } else {
            return Err(bad("unsupported key type: expected RSA or Ed25519"));
        }
    } else if text.contains("-----BEGIN") {
        return Err(bad(
            "unsupported PEM block: expected `RSA PRIVATE KEY` or `PRIVATE KEY` (unencrypted)",
        ));
    } else {
        let seed = STANDARD
            .decode(text.trim())
            .ok()
            .filter(|seed| seed.len() == 32)
            .ok_or_else(|| bad("not a PEM key nor a base64 Ed25519 seed"))?;
        SigningKey::Ed25519(
            Ed25519KeyPair::from_seed_unchecked(&seed)
                .map_err(|e| bad(&format!("the Ed25519 key does not decode ({e})")))?,
        )
    };
    let algorithm = match key {
        SigningKey::Rsa(_) => "rsa-sha256",
        SigningKey::Ed25519(_) => "ed25519-sha256",
    };
    Ok(DkimSigner {
        key,
        fixed_tags: vec![
            "v=1;".to_owned(),
            format!("a={algorithm};"),
            "c=relaxed/relaxed;".to_owned(),
            format!("d={domain};"),
            format!("s={selector};"),
        ],
        rng: SystemRandom::new(),
        double_space: memmem::Finder::new(b"  ").into_owned(),
        space_crlf: memmem::Finder::new(b" \r\n").into_owned(),
    })
}

impl DkimSigner {
    /// `message` (headers, blank line, body: the bytes that go on the wire)
    /// with the `DKIM-Signature` header in front, `t=` set to `timestamp`
    /// (the message's `Date`, in seconds since 1970).
    #[must_use]
    pub fn sign(&self, message: &[u8], timestamp: i64) -> Vec<u8> {
        let header = self.signature(message, timestamp);
        let mut out = Vec::with_capacity(header.len() + message.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(message);
        out
    }

    /// The `DKIM-Signature` header field for `message`, folded to at most 78
    /// columns, ending in CRLF.
    ///
    /// `h=` names the headers of [`SIGNED_HEADERS`] the message has, in that
    /// order, each once (the last instance, as RFC 6376 §5.4.2 has
    /// verifiers pick). Absent ones are not listed: listing them
    /// ("oversigning") would stop anyone from adding them later, but a
    /// confirmation message has no list headers, and a mailing list or
    /// forwarder that adds its own `List-Id` should not break it.
    #[must_use]
    pub fn signature(&self, message: &[u8], timestamp: i64) -> String {
        let (head, body) = split_message(message);
        let fields = header_fields(head);
        let mut hashed = Vec::with_capacity(head.len().min(4096));
        let mut names = Vec::with_capacity(SIGNED_HEADERS.len());
        for name in SIGNED_HEADERS {
            if let Some(field) = fields
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            {
                relaxed_header(field.1, &mut hashed);
                hashed.extend_from_slice(b"\r\n");
                names.push(name.to_ascii_lowercase());
            }
        }
        let body_hash = STANDARD.encode(self.body_hash(body));

        let mut header = Folded::new("DKIM-Signature:");
        for tag in &self.fixed_tags {
            header.word(tag);
        }
        header.word(&format!("t={timestamp};"));
        header.list("h=", &names, ';');
        header.word(&format!("bh={body_hash};"));
        header.word("b=");
        // What is signed ends in the empty `b=`, without CRLF (§3.7).
        relaxed_header(header.text.as_bytes(), &mut hashed);
        let signature = self.sign_bytes(&hashed);
        header.breakable(&STANDARD.encode(signature));
        header.text.push_str("\r\n");
        header.text
    }

    fn sign_bytes(&self, data: &[u8]) -> Vec<u8> {
        match &self.key {
            SigningKey::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &self.rng, data, &mut signature)
                    .unwrap_or_else(|_| {
                        unreachable!(
                            "RSA signing into a modulus-sized buffer failed: a bug to report"
                        )
                    });
                signature
            }
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data.
            SigningKey::Ed25519(key) => key
                .sign(digest::digest(&SHA256, data).as_ref())
                .as_ref()
                .to_vec(),
        }
    }

    /// SHA-256 of the body under relaxed canonicalization (RFC 6376
    /// §3.4.4), hashed from `body` in place: white space at line ends is
    /// dropped, other runs of spaces and tabs become one space, empty lines
    /// at the end are dropped, and a non-empty body ends in one CRLF.
    fn body_hash(&self, body: &[u8]) -> [u8; 32] {
        let wsp = |b: u8| b == b' ' || b == b'\t';
        // Everything after the last byte that is not white space or a line
        // end is trailing space and empty lines.
        let end = body
            .iter()
            .rposition(|&b| !wsp(b) && b != b'\r' && b != b'\n')
            .map_or(0, |i| i + 1);
        let body = &body[..end];
        let mut hash = Context::new(&SHA256);
        // Where relaxed canonicalization may change something: a tab, two
        // spaces, or a space before CRLF. Each kind is searched for again
        // only once the last find of it is passed, so the body is scanned
        // about once per kind (memchr's vectorized searches).
        let find = |kind: usize, from: usize| {
            let rest = &body[from..];
            let hit = match kind {
                0 => memchr::memchr(b'\t', rest),
                1 => self.double_space.find(rest),
                _ => self.space_crlf.find(rest),
            };
            hit.map_or(usize::MAX, |i| from + i)
        };
        let mut next = [find(0, 0), find(1, 0), find(2, 0)];
        let mut pos = 0;
        loop {
            for (kind, at) in next.iter_mut().enumerate() {
                if *at < pos {
                    *at = find(kind, pos);
                }
            }
            let at = next.iter().copied().min().unwrap_or(usize::MAX);
            if at == usize::MAX {
                break;
            }
            // The run of white space holding `at`, from wherever it starts.
            let mut start = at;
            while start > pos && wsp(body[start - 1]) {
                start -= 1;
            }
            let mut stop = at;
            while stop < body.len() && wsp(body[stop]) {
                stop += 1;
            }
            hash.update(&body[pos..start]);
            if stop < body.len() && !body[stop..].starts_with(b"\r\n") {
                hash.update(b" ");
            }
            pos = stop;
        }
        hash.update(&body[pos..]);
        if !body.is_empty() {
            hash.update(b"\r\n");
        }
        let mut out = [0; 32];
        out.copy_from_slice(hash.finish().as_ref());
        out
    }
}

/// The header block (up to and including the CRLF of its last line) and
/// the body (after the empty line).
fn split_message(message: &[u8]) -> (&[u8], &[u8]) {
    if message.starts_with(b"\r\n") {
        return (&[], &message[2..]);
    }
    match memmem::find(message, b"\r\n\r\n") {
        Some(at) => (&message[..at + 2], &message[at + 4..]),
        None => (message, &[]),
    }
}

/// Each header field as (name, the whole field with its folds, no final CRLF).
fn header_fields(head: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut fields: Vec<(&[u8], &[u8])> = Vec::with_capacity(24);
    let mut start = 0;
    let mut field_start = 0;
    while start < head.len() {
        let line_end = memchr::memchr(b'\n', &head[start..]).map_or(head.len(), |i| start + i);
        let continues = matches!(head[start], b' ' | b'\t');
        if !continues {
            field_start = start;
        }
        let end = if line_end > start && head[line_end - 1] == b'\r' {
            line_end - 1
        } else {
            line_end
        };
        let field = &head[field_start..end];
        if continues {
            if let Some(last) = fields.last_mut() {
                last.1 = field;
            }
        } else {
            let name = field.split(|&b| b == b':').next().unwrap_or(b"");
            fields.push((name.trim_ascii_end(), field));
        }
        start = line_end + 1;
    }
    fields
}

/// Relaxed header canonicalization (RFC 6376 §3.4.2) of one field: the name
/// lowercased, folds removed, runs of white space made one space, none
/// around the colon or at the end. No CRLF is added.
fn relaxed_header(field: &[u8], out: &mut Vec<u8>) {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    out.extend(
        field[..colon]
            .trim_ascii_end()
            .iter()
            .map(u8::to_ascii_lowercase),
    );
    out.push(b':');
    let value = field.get(colon + 1..).unwrap_or(&[]);
    let mut space = false;
    let mut any = false;
    for &b in value {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => space = true,
            _ => {
                if space && any {
                    out.push(b' ');
                }
                space = false;
                any = true;
                out.push(b);
            }
        }
    }
}

/// A header field being written, folded before a word that would pass
/// [`FOLD_AT`] columns.
struct Folded {
    text: String,
    column: usize,
}

impl Folded {
    fn new(name: &str) -> Self {
        Self {
            text: name.to_owned(),
            column: name.len(),
        }
    }

    /// `word` after a space, or on a new line if it does not fit.
    fn word(&mut self, word: &str) {
        if self.column + 1 + word.len() > FOLD_AT {
            self.text.push_str("\r\n ");
            self.column = 1;
        } else {
            self.text.push(' ');
            self.column += 1;
        }
        self.text.push_str(word);
        self.column += word.len();
    }

    /// `tag` then `items` joined by `:`, folding after a colon where needed
    /// (RFC 6376 allows FWS around the colons of `h=`), then `end`.
    fn list(&mut self, tag: &str, items: &[String], end: char) {
        let first = items.first().map_or("", String::as_str);
        self.word(&format!("{tag}{first}"));
        for item in items.iter().skip(1) {
            self.text.push(':');
            self.column += 1;
            if self.column + item.len() + 1 > FOLD_AT {
                self.text.push_str("\r\n ");
                self.column = 1;
            }
            self.text.push_str(item);
            self.column += item.len();
        }
        self.text.push(end);
        self.column += 1;
    }

    /// `value` right after what is written, broken anywhere (base64 allows
    /// FWS between any two characters in `b=`).
    fn breakable(&mut self, value: &str) {
        let mut rest = value;
        while !rest.is_empty() {
            let room = FOLD_AT.saturating_sub(self.column);
            if room == 0 {
                self.text.push_str("\r\n ");
                self.column = 1;
                continue;
            }
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.text.push_str(now);
            self.column += now.len();
            rest = later;
        }
    }
}

/// The decoded body of the first `-----BEGIN LABEL-----` block.
fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop].split_whitespace().collect();
    STANDARD.decode(b64).ok()
}

/// One DER item: (tag, content, rest).
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// PKCS#8 `PrivateKeyInfo`: the algorithm OID and the private key octets.
fn pkcs8(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, info, _) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _version, rest) = der_item(info)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, algorithm, rest) = der_item(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_item(algorithm)?;
    if tag != 0x06 {
        return None;
    }
    let (tag, private, _) = der_item(rest)?;
    if tag != 0x04 {
        return None;
    }
    Some((oid, private))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6376 §3.4.4 written the obvious way: line by line, copying.
    fn relaxed_body_reference(body: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(body).into_owned();
        let mut lines: Vec<String> = text
            .split("\r\n")
            .map(|line| {
                let mut out = String::new();
                let mut space = false;
                for c in line.chars() {
                    if c == ' ' || c == '\t' {
                        space = true;
                    } else {
                        if space {
                            out.push(' ');
                        }
                        space = false;
                        out.push(c);
                    }
                }
                out
            })
            .collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        let mut out = Vec::new();
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn test_signer() -> DkimSigner {
        let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dkim/test-ed25519.pem");
        DkimSigner::load(&key, "s", "example.org").unwrap()
    }

    #[test]
    fn the_body_hash_in_place_equals_canonicalizing_a_copy() {
        let signer = test_signer();
        let cases: [&[u8]; 16] = [
            b"",
            b"\r\n",
            b"\r\n\r\n\r\n",
            b"a",
            b"a\r\n",
            b"a\r\n\r\n \r\n\t\r\n",
            b"a  b\r\n",
            b"a \t b\r\n",
            b"\ta\r\n",
            b"  indented\r\n    more\r\n",
            b"trailing   \r\nspace\t\r\n",
            b"x \t\r\n\r\ny",
            b"one two  three   four\r\n\r\n\r\nend  \t  ",
            b"=20 kept\r\n<td>  </td>\r\n",
            b" \t \r\n",
            b"a\r\n \r\nb\r\n",
        ];
        for body in cases {
            let expected: [u8; 32] = digest::digest(&SHA256, &relaxed_body_reference(body))
                .as_ref()
                .try_into()
                .unwrap();
            assert_eq!(
                signer.body_hash(body),
                expected,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn relaxed_header_canonicalization_unfolds_and_lowercases_the_name() {
        let mut out = Vec::new();
        relaxed_header(
            b"Content-Type :  multipart/alternative;\r\n\t boundary=\"x\"  ",
            &mut out,
        );
        assert_eq!(out, b"content-type:multipart/alternative; boundary=\"x\"");
        let fields = header_fields(b"A: 1\r\nB: 2\r\n 3\r\nC:\r\n");
        assert_eq!(
            fields,
            [
                (&b"A"[..], &b"A: 1"[..]),
                (b"B", b"B: 2\r\n 3"),
                (b"C", b"C:")
            ]
        );
    }

    #[test]
    fn der_lengths_in_long_form_are_read() {
        let mut der = vec![0x04, 0x82, 0x01, 0x00];
        der.extend(std::iter::repeat_n(7u8, 256));
        let (tag, content, rest) = der_item(&der).unwrap();
        assert_eq!((tag, content.len(), rest.len()), (0x04, 256, 0));
    }

    #[test]
    fn truncated_der_is_refused_not_a_panic() {
        for der in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x01],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
        ] {
            assert!(pkcs8(der).is_none());
        }
    }
}
