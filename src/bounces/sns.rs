//! Amazon SNS messages, the HTTPS delivery of SES bounce and complaint
//! notifications: parsed, their signing certificate's URL checked, and
//! their signature verified (`SignatureVersion` 1, RSA with SHA-1, and 2,
//! RSA with SHA-256), as AWS documents it. No I/O: fetching the certificate
//! is the caller's (`serve`'s webhook), which must pass only URLs
//! [`signing_cert_url`] accepts.

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

/// The most of a request body read: SNS messages are at most 256 KB.
pub const MAX_BODY: usize = 300 * 1024;

/// Why an SNS message is refused; nothing was acted on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnsError {
    /// Not the JSON of an SNS message.
    #[error("not an SNS message: {0}")]
    Malformed(String),
    /// The certificate URL is not an https URL of an SNS host.
    #[error("SigningCertURL `{0}` is not an https URL on an amazonaws.com SNS host")]
    CertUrl(String),
    /// The certificate cannot be read.
    #[error("the signing certificate cannot be read: {0}")]
    Certificate(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
}

/// What kind of SNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SnsType {
    /// A published message: here, an SES notification in `Message`.
    Notification,
    /// The first message of a new subscription: visit `SubscribeURL`.
    SubscriptionConfirmation,
    /// The subscription was ended.
    UnsubscribeConfirmation,
}

/// One SNS message, as posted.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsMessage {
    /// What it is.
    #[serde(rename = "Type")]
    pub kind: SnsType,
    /// SNS's id for it (a redelivery keeps it).
    pub message_id: String,
    /// The topic it was published to.
    pub topic_arn: String,
    /// The message: an SES notification's JSON, or a confirmation's text.
    pub message: String,
    /// When it was published.
    pub timestamp: String,
    /// A notification's subject, when it has one.
    #[serde(default)]
    pub subject: Option<String>,
    /// A confirmation's token.
    #[serde(default)]
    pub token: Option<String>,
    /// A confirmation's URL to visit.
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    /// `1` (SHA-1) or `2` (SHA-256).
    pub signature_version: String,
    /// Base64 signature.
    pub signature: String,
    /// Where the signing certificate is.
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
}

/// Reads an SNS message from a request body.
///
/// # Errors
/// [`SnsError::Malformed`] when it is not one.
pub fn parse(body: &[u8]) -> Result<SnsMessage, SnsError> {
    if body.len() > MAX_BODY {
        return Err(SnsError::Malformed(format!(
            "{} bytes, more than SNS ever sends",
            body.len()
        )));
    }
    serde_json::from_slice(body).map_err(|e| SnsError::Malformed(e.to_string()))
}

/// Whether `host` is an SNS endpoint: `sns.REGION.amazonaws.com` (or `.com.cn`).
fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"));
    region.is_some_and(|r| {
        !r.is_empty()
            && r.split('.').count() == 1
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

/// `url` when it is an https URL on an SNS host with no user, port or
/// query tricks: the only certificate or confirmation URLs ever fetched.
///
/// # Errors
/// [`SnsError::CertUrl`] otherwise.
pub fn sns_url(url: &str) -> Result<url::Url, SnsError> {
    let bad = || SnsError::CertUrl(url.chars().take(200).collect());
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    let ok = parsed.scheme() == "https"
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.port().is_none()
        && parsed.host_str().is_some_and(is_sns_host);
    if ok {
        Ok(parsed)
    } else {
        Err(bad())
    }
}

/// The certificate URL of `message`, checked by [`sns_url`] and to name a `.pem`.
///
/// # Errors
/// [`SnsError::CertUrl`].
pub fn signing_cert_url(message: &SnsMessage) -> Result<url::Url, SnsError> {
    let url = sns_url(&message.signing_cert_url)?;
    if !url.path().to_ascii_lowercase().ends_with(".pem") || url.query().is_some() {
        return Err(SnsError::CertUrl(message.signing_cert_url.clone()));
    }
    Ok(url)
}

impl SnsMessage {
    /// The canonical text SNS signs: fixed keys in a fixed order, each key
    /// and value on its own line.
    #[must_use]
    pub fn string_to_sign(&self) -> String {
        let mut out = String::new();
        let mut add = |key: &str, value: &str| {
            out.push_str(key);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        };
        add("Message", &self.message);
        add("MessageId", &self.message_id);
        match self.kind {
            SnsType::Notification => {
                if let Some(subject) = &self.subject {
                    add("Subject", subject);
                }
            }
            SnsType::SubscriptionConfirmation | SnsType::UnsubscribeConfirmation => {
                add("SubscribeURL", self.subscribe_url.as_deref().unwrap_or(""));
            }
        }
        add("Timestamp", &self.timestamp);
        if !matches!(self.kind, SnsType::Notification) {
            add("Token", self.token.as_deref().unwrap_or(""));
        }
        add("TopicArn", &self.topic_arn);
        let kind = match self.kind {
            SnsType::Notification => "Notification",
            SnsType::SubscriptionConfirmation => "SubscriptionConfirmation",
            SnsType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        };
        add("Type", kind);
        out
    }

    /// Verifies the signature with `certificate` (PEM or DER).
    ///
    /// # Errors
    /// [`SnsError::Certificate`] when it cannot be read,
    /// [`SnsError::BadSignature`] when the signature does not verify or the
    /// version is unknown.
    pub fn verify(&self, certificate: &[u8]) -> Result<(), SnsError> {
        use aws_lc_rs::signature::{self, UnparsedPublicKey};
        let der = if certificate.starts_with(b"-----") {
            CertificateDer::from_pem_slice(certificate)
                .map_err(|e| SnsError::Certificate(e.to_string()))?
        } else {
            CertificateDer::from(certificate.to_vec())
        };
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| SnsError::Certificate(format!("{e:?}")))?;
        let spki = cert.subject_public_key_info();
        let algorithm: &'static signature::RsaParameters = match self.signature_version.as_str() {
            "1" => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &signature::RSA_PKCS1_2048_8192_SHA256,
            _ => return Err(SnsError::BadSignature),
        };
        let sig = base64::engine::general_purpose::STANDARD
            .decode(self.signature.trim())
            .map_err(|_| SnsError::BadSignature)?;
        UnparsedPublicKey::new(algorithm, spki.as_ref())
            .verify(self.string_to_sign().as_bytes(), &sig)
            .map_err(|_| SnsError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: &str) -> SnsMessage {
        parse(
            format!(
                r#"{{"Type":"{kind}","MessageId":"m-1","TopicArn":"arn:aws:sns:us-east-1:123456789012:ses-bounces",
                "Message":"{{}}","Timestamp":"2021-02-19T10:00:00.000Z","SignatureVersion":"1",
                "Signature":"AAAA","SigningCertURL":"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
                "Token":"tok","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_notification_signs_message_id_subject_timestamp_topic_and_type_in_that_order() {
        let mut m = message("Notification");
        m.subject = Some("Amazon SES Email Event Notification".into());
        assert_eq!(
            m.string_to_sign(),
            "Message\n{}\nMessageId\nm-1\nSubject\nAmazon SES Email Event Notification\n\
             Timestamp\n2021-02-19T10:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:123456789012:ses-bounces\n\
             Type\nNotification\n"
        );
    }

    #[test]
    fn a_confirmation_signs_its_subscribe_url_and_token() {
        let s = message("SubscriptionConfirmation").string_to_sign();
        assert!(s.contains("\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\nTimestamp\n"), "{s}");
        assert!(s.contains("\nToken\ntok\nTopicArn\n"), "{s}");
    }

    #[test]
    fn only_https_urls_on_sns_hosts_are_fetched() {
        let mut m = message("Notification");
        assert!(signing_cert_url(&m).is_ok());
        for url in [
            "http://sns.us-east-1.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
            "https://user@sns.us-east-1.amazonaws.com/cert.pem",
            "https://s3.amazonaws.com/cert.pem",
            "https://sns.a.b.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com/cert.txt",
            "file:///etc/passwd",
        ] {
            m.signing_cert_url = url.into();
            assert!(signing_cert_url(&m).is_err(), "{url} must be refused");
        }
        m.signing_cert_url = "https://sns.cn-north-1.amazonaws.com.cn/c.pem".into();
        assert!(signing_cert_url(&m).is_ok());
    }

    #[test]
    fn an_unknown_signature_version_or_garbage_never_verifies() {
        let mut m = message("Notification");
        m.signature_version = "3".into();
        assert!(m.verify(b"not a certificate").is_err());
        assert!(parse(b"{}").is_err());
        assert!(parse(&vec![b' '; MAX_BODY + 1]).is_err());
    }
}
