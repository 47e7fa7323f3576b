//! Secrets: the HMAC key of every link token, the SMTP password, the IMAP
//! password. They live in [`secrecy`] boxes, so no `Debug` or log line can
//! print them, and the token key is checked for strength before it protects
//! anything real: anyone who knows or guesses it can forge unsubscribe and
//! confirmation links.

use secrecy::{ExposeSecret, SecretBox, SecretString};

/// The key used when none is configured. Only good enough when nothing leaves
/// this machine (the outbox, previews, `serve` on the default local URL).
pub const DEVELOPMENT_SECRET: &str = "hotpapers-development-secret-do-not-use-in-production";

/// Secrets that are public because this project ships them: the built-in
/// one and the placeholder of `.env.example`.
const PUBLIC_SECRETS: &[&str] = &[DEVELOPMENT_SECRET, "change-me-to-64-random-hex-characters"];

/// Bits of entropy a token key must carry: 32 random bytes (`openssl rand -hex 32`).
pub const MIN_BITS: u32 = 256;

/// How to make a good key, for every error that refuses one.
pub const HOW_TO_MAKE_ONE: &str =
    "make one with `openssl rand -hex 32` and put it in HOTPAPERS_SECRET (in `.env` or the environment)";

/// The HMAC key of the link tokens.
pub struct TokenKey {
    bytes: SecretBox<[u8]>,
    built_in: bool,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.built_in {
            "TokenKey(built-in development key)"
        } else {
            "TokenKey(hidden)"
        })
    }
}

impl Clone for TokenKey {
    fn clone(&self) -> Self {
        Self {
            bytes: SecretBox::new(self.bytes.expose_secret().into()),
            built_in: self.built_in,
        }
    }
}

/// Why a key may not protect real mail or a public site.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    /// No key is set, so the built-in one is in use.
    #[error("no HOTPAPERS_SECRET is set, and the built-in development key is public")]
    BuiltIn,
    /// The key is one this project publishes.
    #[error("HOTPAPERS_SECRET is a value published with hotpapers (the built-in key or the `.env.example` placeholder)")]
    Published,
    /// One character repeated.
    #[error("HOTPAPERS_SECRET is one character repeated")]
    Repeated,
    /// Too little entropy.
    #[error(
        "HOTPAPERS_SECRET carries about {bits} bits of entropy; at least {MIN_BITS} are needed"
    )]
    TooShort {
        /// The estimate, rounded down.
        bits: u32,
    },
}

impl TokenKey {
    /// The configured key, or the built-in development key when `None`.
    #[must_use]
    pub fn new(configured: Option<&str>) -> Self {
        match configured {
            Some(k) => Self {
                bytes: SecretBox::new(k.as_bytes().into()),
                built_in: false,
            },
            None => Self {
                bytes: SecretBox::new(DEVELOPMENT_SECRET.as_bytes().into()),
                built_in: true,
            },
        }
    }

    /// The key bytes, for the HMAC.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        self.bytes.expose_secret()
    }

    /// True for the built-in development key.
    #[must_use]
    pub fn is_built_in(&self) -> bool {
        self.built_in
    }

    /// Whether this key may protect real mail or a public site.
    ///
    /// # Errors
    /// The first [`Weakness`] found.
    pub fn check_strength(&self) -> Result<(), Weakness> {
        if self.built_in {
            return Err(Weakness::BuiltIn);
        }
        let key = String::from_utf8_lossy(self.expose());
        let key = key.trim();
        if PUBLIC_SECRETS.iter().any(|p| p.eq_ignore_ascii_case(key)) {
            return Err(Weakness::Published);
        }
        let mut chars = key.chars();
        if let Some(first) = chars.next() {
            if chars.all(|c| c == first) {
                return Err(Weakness::Repeated);
            }
        }
        let bits = entropy_bits(key);
        if bits < f64::from(MIN_BITS) {
            // Rounded down; below MIN_BITS, so it fits.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bits = bits.floor() as u32;
            return Err(Weakness::TooShort { bits });
        }
        Ok(())
    }
}

/// An estimate of the entropy of a key a person or a tool made: its length
/// times the bits per character of the smallest usual alphabet it fits (hex,
/// base64, printable ASCII, anything), where a key that uses few of that
/// alphabet's characters (`abab…`, `0000…1`) counts only the ones it uses.
fn entropy_bits(key: &str) -> f64 {
    let len = key.chars().count();
    let alphabet: f64 = if key.chars().all(|c| c.is_ascii_hexdigit()) {
        16.0
    } else if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '='))
    {
        64.0
    } else if key.is_ascii() {
        95.0
    } else {
        256.0
    };
    let distinct = key.chars().collect::<std::collections::HashSet<_>>().len() as f64;
    // A random key of this length uses at least half the alphabet or a third
    // of its length in distinct characters, with overwhelming probability.
    let used = if distinct >= (alphabet / 2.0).min(len as f64 / 3.0) {
        alphabet
    } else {
        distinct
    };
    len as f64 * used.max(1.0).log2()
}

/// A password (SMTP, IMAP): never printed, only handed to the protocol.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Wraps a password.
    #[must_use]
    pub fn new(p: String) -> Self {
        Self(SecretString::from(p))
    }

    /// The password, for the protocol exchange only.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str) -> Result<(), Weakness> {
        TokenKey::new(Some(key)).check_strength()
    }

    #[test]
    fn public_repeated_and_short_keys_are_refused() {
        assert_eq!(TokenKey::new(None).check_strength(), Err(Weakness::BuiltIn));
        assert_eq!(check(DEVELOPMENT_SECRET), Err(Weakness::Published));
        assert_eq!(
            check("change-me-to-64-random-hex-characters"),
            Err(Weakness::Published)
        );
        assert_eq!(check(&"a".repeat(16)), Err(Weakness::Repeated));
        assert_eq!(check(&"0".repeat(64)), Err(Weakness::Repeated));
        assert!(matches!(
            check("0123456789abcdef"),
            Err(Weakness::TooShort { .. })
        ));
        assert!(matches!(
            check("integration-test-secret-0123456789"),
            Err(Weakness::TooShort { .. })
        ));
        assert!(matches!(
            check(&"ab".repeat(40)),
            Err(Weakness::TooShort { .. })
        ));
        assert!(matches!(
            check(&format!("{}1", "0".repeat(80))),
            Err(Weakness::TooShort { .. })
        ));
    }

    #[test]
    fn keys_from_the_usual_generators_are_accepted() {
        // openssl rand -hex 32, openssl rand -base64 32
        assert_eq!(
            check("9f2c4e81b07a3d5f6e19c8a2b4d70f3e5a61c9d28e7b04f1a3c56d9e2b8f7a10"),
            Ok(())
        );
        assert_eq!(
            check("q3Zk8yT1vN0xW6pR2mL9sB4cF7hJ5gD1aE8uY3iO0tU="),
            Ok(())
        );
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let key = TokenKey::new(Some("9f2c4e81b07a3d5f6e19c8a2b4d70f3e"));
        assert!(!format!("{key:?}").contains("9f2c"));
        let p = Password::new("hunter2".into());
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
