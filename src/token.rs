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
//! and an HMAC-SHA256), are never issued any more but still accepted for
//! unsubscribing: a link in an email sent before the change must keep
//! working. No other purpose ever had such a token that is still valid.

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
    /// Where the sign-up came from, for the consent record (links made
    /// before it was kept have none).
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub signup: Option<crate::model::SignUp>,
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
const PREFERENCES: &[u8] = b"hotpapers/preferences/v1";
/// Labels of the keys derived from the secret for sealed tokens.
const SEAL_KEY: &[u8] = b"hotpapers/token-key/v2";
const NONCE_KEY: &[u8] = b"hotpapers/token-nonce/v2";
/// XChaCha20-Poly1305's nonce.
const NONCE_LEN: usize = 24;
/// Labels of the short tokens in addresses (VERP, mailto unsubscribe).
const ADDRESS_ID: &[u8] = b"hotpapers/address-id/v1";
const BOUNCE: &[u8] = b"hotpapers/bounce/v1";
const MAILTO: &[u8] = b"hotpapers/mailto-unsubscribe/v1";
/// Bytes of a reader's address id, and of an address token's MAC: 64 bits
/// tell 100,000 readers apart (a collision once in 10^9 lists); 48 bits of
/// MAC cost a forger 2^47 mails on average.
const ID_LEN: usize = 8;
const SHORT_MAC_LEN: usize = 6;

/// Short tokens that ride in the local part of an address
/// (`bounces+TOKEN@…`, `unsubscribe+TOKEN@…`): RFC 4648 base32 in lower
/// case, which survives relays that fold case, and short enough for the
/// 64-octet local part (26 characters for a bounce, 23 for a mailto).
const ADDRESS_TOKEN: data_encoding::Encoding = data_encoding::BASE32_NOPAD;

/// What a bounce address says: the day of the message and the reader's
/// address id (not the address: the bounce address is no place for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BounceClaim {
    /// The digest day the message was for.
    pub day: chrono::NaiveDate,
    /// [`Signer::address_id`] of the reader.
    pub address_id: [u8; ID_LEN],
}

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
            .expect("XChaCha20-Poly1305 encrypts any payload into a Vec");
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
        // The first format, PAYLOAD.SIGNATURE: unsubscribe links only.
        if purpose != UNSUBSCRIBE {
            return Err(TokenError::Malformed);
        }
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

    /// The token for `email`'s preferences links: like the unsubscribe token
    /// (lowercased address, no expiry) but sealed for another purpose, so
    /// neither opens the other's page.
    #[must_use]
    pub fn preferences_token(&self, email: &str) -> String {
        self.seal(PREFERENCES, email.trim().to_lowercase().as_bytes())
    }

    /// The (lowercased) address a preferences token was made for.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] or [`TokenError::BadSignature`] (also for an
    /// unsubscribe or confirmation token).
    pub fn verify_preferences(&self, token: &str) -> Result<String, TokenError> {
        let payload = self.open(PREFERENCES, token)?;
        String::from_utf8(payload).map_err(|_| TokenError::Malformed)
    }

    /// A stable, opaque id of a reader's address under this secret, for
    /// finding them again from a token that cannot hold the address.
    #[must_use]
    pub fn address_id(&self, email: &str) -> [u8; ID_LEN] {
        let digest = self
            .mac(ADDRESS_ID, email.trim().to_lowercase().as_bytes())
            .finalize()
            .into_bytes();
        let mut id = [0; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        id
    }

    fn short_token(&self, purpose: &[u8], body: &[u8]) -> String {
        let tag = self.mac(purpose, body).finalize().into_bytes();
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&tag[..SHORT_MAC_LEN]);
        ADDRESS_TOKEN.encode(&bytes).to_lowercase()
    }

    fn open_short(
        &self,
        purpose: &[u8],
        token: &str,
        body_len: usize,
    ) -> Result<Vec<u8>, TokenError> {
        if token.len() > 64 {
            return Err(TokenError::Malformed);
        }
        let bytes = ADDRESS_TOKEN
            .decode(token.trim().to_uppercase().as_bytes())
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() != body_len + SHORT_MAC_LEN {
            return Err(TokenError::Malformed);
        }
        let (body, tag) = bytes.split_at(body_len);
        // Constant time, like every other comparison of a MAC here.
        self.mac(purpose, body)
            .verify_truncated_left(tag)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(body.to_vec())
    }

    /// The VERP token of the message for `email` on `day`: the envelope
    /// sender `bounces+TOKEN@…` names both, so a bounce is attributed even
    /// when its text cannot be read.
    #[must_use]
    pub fn bounce_token(&self, day: chrono::NaiveDate, email: &str) -> String {
        let days = u16::try_from((day - chrono::NaiveDate::default()).num_days().max(0))
            .unwrap_or(u16::MAX);
        let mut body = days.to_be_bytes().to_vec();
        body.extend_from_slice(&self.address_id(email));
        self.short_token(BOUNCE, &body)
    }

    /// The day and reader a VERP token names.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] or [`TokenError::BadSignature`] (forged or mangled).
    pub fn verify_bounce_token(&self, token: &str) -> Result<BounceClaim, TokenError> {
        let body = self.open_short(BOUNCE, token, 2 + ID_LEN)?;
        let days = u16::from_be_bytes([body[0], body[1]]);
        let mut address_id = [0; ID_LEN];
        address_id.copy_from_slice(&body[2..]);
        Ok(BounceClaim {
            day: chrono::NaiveDate::default() + chrono::Days::new(u64::from(days)),
            address_id,
        })
    }

    /// The token of `email`'s mailto unsubscribe address (`unsubscribe+TOKEN@…`).
    #[must_use]
    pub fn mailto_token(&self, email: &str) -> String {
        self.short_token(MAILTO, &self.address_id(email))
    }

    /// The address id a mailto unsubscribe token names.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] or [`TokenError::BadSignature`].
    pub fn verify_mailto_token(&self, token: &str) -> Result<[u8; ID_LEN], TokenError> {
        let body = self.open_short(MAILTO, token, ID_LEN)?;
        let mut id = [0; ID_LEN];
        id.copy_from_slice(&body);
        Ok(id)
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
    ///
    /// # Panics
    /// Never: a claim of strings and numbers always serializes.
    #[must_use]
    pub fn confirm_token(&self, claim: &ConfirmClaim) -> String {
        // Serializing a struct of strings and integers to JSON cannot fail.
        let payload = serde_json::to_vec(claim).expect("a claim of strings and numbers serializes");
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
            signup: None,
        }
    }

    #[test]
    fn unsubscribe_token_names_the_lowercased_address() {
        let t = signer().unsubscribe_token("Ada@Example.org");
        assert_eq!(signer().verify_unsubscribe(&t).unwrap(), "ada@example.org");
        assert_eq!(t, signer().unsubscribe_token("ada@example.org"));
    }

    #[test]
    fn preferences_and_unsubscribe_tokens_do_not_open_each_other() {
        let s = signer();
        let prefs = s.preferences_token("Ada@Example.org");
        let unsub = s.unsubscribe_token("Ada@Example.org");
        assert_eq!(s.verify_preferences(&prefs).unwrap(), "ada@example.org");
        assert!(s.verify_preferences(&unsub).is_err());
        assert!(s.verify_unsubscribe(&prefs).is_err());
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

    #[test]
    fn bounce_and_mailto_tokens_fit_a_local_part_survive_case_folding_and_refuse_forgery() {
        let s = signer();
        let day = chrono::NaiveDate::from_ymd_opt(2021, 2, 12).unwrap();
        let t = s.bounce_token(day, "Ada@Example.org");
        assert_eq!(t.len(), 26, "{t}");
        assert!(format!("bounces+{t}").len() <= 64);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{t}"
        );
        let claim = s.verify_bounce_token(&t.to_uppercase()).unwrap();
        assert_eq!(claim.day, day);
        assert_eq!(claim.address_id, s.address_id("ada@example.org"));
        assert_eq!(
            Signer::new(b"other").verify_bounce_token(&t),
            Err(TokenError::BadSignature)
        );
        let mut mangled = t.clone().into_bytes();
        mangled[3] = if mangled[3] == b'a' { b'b' } else { b'a' };
        assert!(s
            .verify_bounce_token(std::str::from_utf8(&mangled).unwrap())
            .is_err());
        let m = s.mailto_token("ada@example.org");
        assert_eq!(m.len(), 23, "{m}");
        assert_eq!(
            s.verify_mailto_token(&m).unwrap(),
            s.address_id("ADA@example.org")
        );
        assert!(
            s.verify_mailto_token(&t).is_err(),
            "a bounce token is no mailto token"
        );
        assert!(s.verify_bounce_token(&m).is_err());
        for junk in ["", "!!!", &"a".repeat(100)] {
            assert!(s.verify_bounce_token(junk).is_err());
        }
    }

    /// Links in emails sent before tokens were sealed keep working.
    #[test]
    fn tokens_of_the_first_format_open_only_the_unsubscribe_page() {
        let s = signer();
        let payload = b"grace@example.org";
        let tag = s.mac(PREFERENCES, payload).finalize().into_bytes();
        let old = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        );
        assert_eq!(s.verify_preferences(&old), Err(TokenError::Malformed));
    }

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
