//! Tokens for the links in emails: unsubscribe (RFC 8058 one-click and the
//! visible link) and the double opt-in confirmation.
//!
//! A token is opaque: base64url (no padding) of a 24-byte nonce and the
//! payload sealed with XChaCha20-Poly1305 under a key derived from the
//! operator's secret, with the token's purpose as associated data. Nobody can
//! read the address out of a link (it would land in proxy logs and referrers),
//! make a token for someone else, or use a confirmation token to unsubscribe
//! or the reverse. The nonce is derived from the payload (a keyed hash, as in
//! SIV): the same reader always gets the same link, so emails stay
//! byte-identical for the same input.
//!
//! Tokens of the first format, `PAYLOAD.SIGNATURE` (the address in base64url
//! and an HMAC-SHA256), are never issued any more but still accepted: a link
//! in an email sent before the change must keep unsubscribing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted, so a hostile query string costs nothing to reject.
const MAX_TOKEN_LEN: usize = 4096;

/// Why a token was refused. The HTTP layer maps these to 400 (malformed) or
/// 403 (forged, expired).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not two base64url parts, too long, or the payload does not decode.
    #[error("the token is malformed")]
    Malformed,
    /// The signature does not match: forged, altered, or signed with another secret
    /// or for another purpose.
    #[error("the token's signature does not match")]
    BadSignature,
    /// A confirmation token past its expiry time.
    #[error("the token expired at {0}")]
    Expired(DateTime<Utc>),
}

/// What a confirmation link carries: who asked to subscribe, with which
/// categories, when, and until when the link is good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmClaim {
    /// The address that asked to subscribe.
    #[serde(rename = "e")]
    pub email: String,
    /// arXiv categories chosen in the form (empty: all).
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// When the request was made (lets the server refuse a confirmation that is
    /// older than a later unsubscribe).
    #[serde(rename = "i", with = "chrono::serde::ts_seconds")]
    pub issued: DateTime<Utc>,
    /// After this, the link no longer confirms.
    #[serde(rename = "x", with = "chrono::serde::ts_seconds")]
    pub expires: DateTime<Utc>,
}

/// Signs and verifies tokens under the operator's secret.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: <hidden> }")
    }
}

/// Labels mixed into the MAC so a token signed for one use is useless for another.
const UNSUBSCRIBE: &[u8] = b"hotpapers/unsubscribe/v1";
const CONFIRM: &[u8] = b"hotpapers/confirm/v1";
/// Labels of the keys derived from the secret for sealed tokens.
const SEAL_KEY: &[u8] = b"hotpapers/token-key/v2";
const NONCE_KEY: &[u8] = b"hotpapers/token-nonce/v2";
/// XChaCha20-Poly1305's nonce.
const NONCE_LEN: usize = 24;

impl Signer {
    /// A signer keyed with `secret` (the `HOTPAPERS_SECRET` setting).
    #[must_use]
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, purpose: &[u8], payload: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(purpose);
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// A key for `label`, derived from the secret.
    fn derived(&self, label: &[u8]) -> [u8; 32] {
        self.mac(label, b"").finalize().into_bytes().into()
    }

    /// Seals `payload` for `purpose`.
    fn seal(&self, purpose: &[u8], payload: &[u8]) -> String {
        let cipher = XChaCha20Poly1305::new(&self.derived(SEAL_KEY).into());
        let mut nonce_mac = <HmacSha256 as Mac>::new_from_slice(&self.derived(NONCE_KEY))
            .unwrap_or_else(|_| unreachable!());
        nonce_mac.update(purpose);
        nonce_mac.update(&[0]);
        nonce_mac.update(payload);
        let digest = nonce_mac.finalize().into_bytes();
        let nonce = XNonce::from_slice(&digest[..NONCE_LEN]);
        // Encryption into a Vec cannot fail for payloads this small.
        let sealed = cipher
            .encrypt(
                nonce,
                Payload {
                    msg: payload,
                    aad: purpose,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    fn open(&self, purpose: &[u8], token: &str) -> Result<Vec<u8>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        if !token.contains('.') {
            let bytes = URL_SAFE_NO_PAD
                .decode(token)
                .map_err(|_| TokenError::Malformed)?;
            if bytes.len() < NONCE_LEN + 16 {
                return Err(TokenError::Malformed);
            }
            let (nonce, sealed) = bytes.split_at(NONCE_LEN);
            let cipher = XChaCha20Poly1305::new(&self.derived(SEAL_KEY).into());
            return cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: purpose,
                    },
                )
                .map_err(|_| TokenError::BadSignature);
        }
        // The first format: PAYLOAD.SIGNATURE.
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(purpose, &payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(payload)
    }

    /// The token for `email`'s unsubscribe links. It does not expire: a link in a
    /// years-old email must still work. Addresses are compared case-insensitively,
    /// so the token is made from the lowercased address.
    #[must_use]
    pub fn unsubscribe_token(&self, email: &str) -> String {
        self.seal(UNSUBSCRIBE, email.trim().to_lowercase().as_bytes())
    }

    /// The (lowercased) address an unsubscribe token was made for.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] or [`TokenError::BadSignature`].
    pub fn verify_unsubscribe(&self, token: &str) -> Result<String, TokenError> {
        let payload = self.open(UNSUBSCRIBE, token)?;
        String::from_utf8(payload).map_err(|_| TokenError::Malformed)
    }

    /// The token for a double opt-in confirmation link.
    #[must_use]
    pub fn confirm_token(&self, claim: &ConfirmClaim) -> String {
        // Serializing a struct of strings and integers to JSON cannot fail.
        let payload = serde_json::to_vec(claim).unwrap_or_default();
        self.seal(CONFIRM, &payload)
    }

    /// The claim of a confirmation token that is genuine and not expired at `now`.
    ///
    /// # Errors
    /// [`TokenError::Malformed`], [`TokenError::BadSignature`] or [`TokenError::Expired`].
    pub fn verify_confirm(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfirmClaim, TokenError> {
        let payload = self.open(CONFIRM, token)?;
        let claim: ConfirmClaim =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if now > claim.expires {
            return Err(TokenError::Expired(claim.expires));
        }
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn signer() -> Signer {
        Signer::new(b"test secret")
    }

    fn claim() -> ConfirmClaim {
        let issued = Utc.with_ymd_and_hms(2021, 2, 12, 8, 0, 0).unwrap();
        ConfirmClaim {
            email: "ada@example.org".into(),
            categories: vec!["cs.CV".into()],
            issued,
            expires: issued + Duration::hours(48),
        }
    }

    #[test]
    fn unsubscribe_token_names_the_lowercased_address() {
        let t = signer().unsubscribe_token("Ada@Example.org");
        assert_eq!(signer().verify_unsubscribe(&t).unwrap(), "ada@example.org");
        assert_eq!(t, signer().unsubscribe_token("ada@example.org"));
    }

    #[test]
    fn unsubscribe_token_from_another_secret_is_refused() {
        let t = Signer::new(b"other").unsubscribe_token("ada@example.org");
        assert_eq!(
            signer().verify_unsubscribe(&t),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn changing_any_byte_of_a_token_breaks_it() {
        let t = signer().unsubscribe_token("ada@example.org");
        let mut bytes = URL_SAFE_NO_PAD.decode(&t).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                signer().verify_unsubscribe(&forged),
                Err(TokenError::BadSignature)
            );
            bytes[i] ^= 1;
        }
    }

    /// Audit finding: tokens began with the address in base64, so addresses
    /// landed in URLs, proxy logs and referrers.
    #[test]
    fn tokens_are_opaque_and_never_carry_the_address() {
        let s = signer();
        for email in [
            "grace@example.org",
            "a@b.example",
            "ada.lovelace+news@example.org",
        ] {
            let t = s.unsubscribe_token(email);
            let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
            assert!(!t.contains('.'), "{t}");
            for encoded in [
                URL_SAFE_NO_PAD.encode(email),
                base64::engine::general_purpose::STANDARD.encode(email),
                email.to_owned(),
            ] {
                assert!(!t.contains(&encoded[..encoded.len().min(12)]), "{t}");
            }
            assert!(!raw.windows(email.len()).any(|w| w == email.as_bytes()));
            assert_eq!(
                s.unsubscribe_token(email),
                t,
                "the same reader, the same link"
            );
        }
        let c = s.confirm_token(&claim());
        assert!(!c.contains("ada") && !c.contains(&URL_SAFE_NO_PAD.encode("ada@exa")[..8]));
    }

    /// Links in emails sent before tokens were sealed keep working.
    #[test]
    fn tokens_of_the_first_format_are_still_accepted() {
        let s = signer();
        let payload = b"grace@example.org";
        let tag = s.mac(UNSUBSCRIBE, payload).finalize().into_bytes();
        let old = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        );
        assert_eq!(s.verify_unsubscribe(&old).unwrap(), "grace@example.org");
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode("bob@example.org"),
            URL_SAFE_NO_PAD.encode(tag)
        );
        assert_eq!(s.verify_unsubscribe(&forged), Err(TokenError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for t in ["", ".", "abc", "a.b.c", "!!!.???", &"a".repeat(5000)] {
            assert!(signer().verify_unsubscribe(t).is_err(), "{t:?}");
            assert!(signer().verify_confirm(t, claim().issued).is_err(), "{t:?}");
        }
    }

    #[test]
    fn a_token_for_one_purpose_does_not_serve_the_other() {
        let s = signer();
        let confirm = s.confirm_token(&claim());
        assert_eq!(
            s.verify_unsubscribe(&confirm),
            Err(TokenError::BadSignature)
        );
        let unsub = s.unsubscribe_token("ada@example.org");
        assert_eq!(
            s.verify_confirm(&unsub, claim().issued),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn confirm_token_round_trips_until_it_expires() {
        let s = signer();
        let c = claim();
        let t = s.confirm_token(&c);
        assert_eq!(s.verify_confirm(&t, c.issued).unwrap(), c);
        assert_eq!(s.verify_confirm(&t, c.expires).unwrap(), c);
        assert_eq!(
            s.verify_confirm(&t, c.expires + Duration::seconds(1)),
            Err(TokenError::Expired(c.expires))
        );
    }

    #[test]
    fn tokens_are_url_safe() {
        let t = signer().confirm_token(&claim());
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    }
}
