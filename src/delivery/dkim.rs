//! DKIM signing setup: reads the private key file (PEM: PKCS#1 RSA, PKCS#8
//! RSA or Ed25519 as `openssl genpkey` writes them, or lettre's bare base64
//! Ed25519 seed) into lettre's [`DkimConfig`].
//!
//! Canonicalization is relaxed/relaxed and `Content-Type` is not signed:
//! with lettre 0.11, signatures over `Content-Type` or with "simple" header
//! canonicalization fail independent verifiers (dkimpy, OpenDKIM), because
//! the header lettre hashes is not folded the way it is written out.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

use super::message::MessageError;

/// The headers the signature covers, in `h=` order.
pub const SIGNED_HEADERS: [&str; 8] = [
    "From",
    "Subject",
    "To",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
];

/// DER object identifiers of the key algorithms (content bytes only).
const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];

/// Reads the key at `path` and makes the signing setup for `domain`.
pub(crate) fn load(path: &Path, selector: &str, domain: &str) -> Result<DkimConfig, MessageError> {
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
        DkimSigningKey::new(&text, DkimSigningAlgorithm::Rsa)
            .map_err(|e| bad(&format!("not a PKCS#1 RSA key ({e})")))?
    } else if text.contains("-----BEGIN PRIVATE KEY-----") {
        let der = pem_body(&text, "PRIVATE KEY")
            .ok_or_else(|| bad("the PEM block is not valid base64"))?;
        let (oid, private) = pkcs8(&der).ok_or_else(|| bad("not a PKCS#8 private key"))?;
        if oid == OID_RSA {
            let pem = pem_wrap(private, "RSA PRIVATE KEY");
            DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa)
                .map_err(|e| bad(&format!("the RSA key does not decode ({e})")))?
        } else if oid == OID_ED25519 {
            // The private key is an OCTET STRING holding the 32-byte seed.
            let (tag, seed, _) = der_item(private).ok_or_else(|| bad("bad Ed25519 key"))?;
            if tag != 0x04 || seed.len() != 32 {
                return Err(bad("bad Ed25519 key: expected a 32-byte seed"));
            }
            DkimSigningKey::new(&STANDARD.encode(seed), DkimSigningAlgorithm::Ed25519)
                .map_err(|e| bad(&format!("the Ed25519 key does not decode ({e})")))?
        } else {
            return Err(bad("unsupported key type: expected RSA or Ed25519"));
        }
    } else if text.contains("-----BEGIN") {
        return Err(bad(
            "unsupported PEM block: expected `RSA PRIVATE KEY` or `PRIVATE KEY` (unencrypted)",
        ));
    } else {
        DkimSigningKey::new(text.trim(), DkimSigningAlgorithm::Ed25519)
            .map_err(|_| bad("not a PEM key nor a base64 Ed25519 seed"))?
    };
    Ok(DkimConfig::new(
        selector.to_owned(),
        domain.to_owned(),
        key,
        SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
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

fn pem_wrap(der: &[u8], label: &str) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
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
