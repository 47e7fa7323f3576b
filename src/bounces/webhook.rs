//! Reports from the providers that post their bounces instead of mailing
//! them: Amazon SES notifications (the `Message` of an SNS message, see
//! [`super::sns`]) and Postmark's bounce and spam-complaint webhooks. Pure:
//! JSON in, a [`Report`] out, read by the providers' documented fields.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::classify::{Kind, OriginalHeaders, Recipient, Report};
use super::reason::{self, Reason};
use super::{ses, text};

fn report(kind: Kind, recipients: Vec<Recipient>) -> Report {
    Report {
        kind,
        recipients,
        message_id: None,
        to: Vec::new(),
        original_message_id: None,
        original_headers: OriginalHeaders::default(),
        received_at: None,
    }
}

fn timestamp(value: Option<&Value>) -> Option<DateTime<Utc>> {
    value
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The report in an SES notification (`notificationType`, or `eventType`
/// for configuration-set event publishing); `None` when it is none of
/// Bounce, Complaint or Delivery. The envelope sender SES used
/// (`mail.source`, our VERP address) goes in [`Report::to`], so the token
/// attributes it as it does a mailed bounce.
#[must_use]
pub fn ses_report(message: &str) -> Option<Report> {
    let mut value: Value = serde_json::from_str(message).ok()?;
    if value.get("notificationType").is_none() {
        let event = value.get("eventType").cloned()?;
        value
            .as_object_mut()?
            .insert("notificationType".into(), event);
    }
    let (kind, recipients, original_id) = ses::notification(&value.to_string())?;
    let mut report = report(kind, recipients);
    report.original_message_id = original_id;
    report.to = value
        .pointer("/mail/source")
        .and_then(Value::as_str)
        .and_then(|s| text::addresses(s).into_iter().next())
        .map(|f| f.address)
        .into_iter()
        .collect();
    report.original_headers.to = value
        .pointer("/mail/destination")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|a| text::addresses(a).into_iter().next())
        .map(|f| f.address)
        .collect();
    report.received_at = timestamp(
        value
            .pointer("/bounce/timestamp")
            .or_else(|| value.pointer("/complaint/timestamp")),
    );
    Some(report)
}

/// Why a Postmark payload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a Postmark webhook payload: {0}")]
pub struct PostmarkError(String);

/// The report in a Postmark webhook payload, and the key that makes a
/// redelivery record nothing new (`postmark:RecordType:ID`). Records other
/// than bounces and spam complaints (opens, clicks, deliveries, subscription
/// changes) give a report of kind `other`.
///
/// # Errors
/// When the body is not a JSON object with a `RecordType`.
pub fn postmark_report(body: &[u8]) -> Result<(Report, String), PostmarkError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PostmarkError(e.to_string()))?;
    let record = value
        .get("RecordType")
        .and_then(Value::as_str)
        .ok_or_else(|| PostmarkError("no RecordType".into()))?;
    let id = match value.get("ID") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => value
            .get("MessageID")
            .and_then(Value::as_str)
            .ok_or_else(|| PostmarkError("no ID".into()))?
            .to_owned(),
    };
    let source = format!("postmark:{record}:{id}");
    let address = value
        .get("Email")
        .or_else(|| value.get("Recipient"))
        .and_then(Value::as_str)
        .and_then(|a| text::addresses(a).into_iter().next())
        .map(|f| f.address);
    let kind_of = value.get("Type").and_then(Value::as_str).unwrap_or("");
    let details = [value.get("Details"), value.get("Description")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|d| !d.trim().is_empty())
        .map(text::one_line);
    let diag = details.as_deref().unwrap_or("");
    let status = text::enhanced_status(diag);
    let reply_code = text::reply_code(diag);
    let from_text = reason::reason(status.as_deref(), reply_code, diag);
    let (kind, why, hard) = match (record, kind_of) {
        ("SpamComplaint", _) | (_, "SpamComplaint") => (Kind::Complaint, Reason::Policy, false),
        ("Bounce", "HardBounce" | "BadEmailAddress") => match from_text {
            // The provider says permanent; the text may say whose problem.
            r if r.is_address_dead() => (Kind::Bounce, r, true),
            Reason::Other => (Kind::Bounce, Reason::UserUnknown, true),
            r => (Kind::Bounce, r, false),
        },
        ("Bounce", "AddressChange") => (Kind::Bounce, Reason::HasMoved, true),
        ("Bounce", "DnsError") if from_text == Reason::Other => {
            (Kind::Bounce, Reason::Network, false)
        }
        ("Bounce", "SpamNotification" | "Blocked" | "VirusNotification") => {
            let r = if from_text == Reason::AuthFailure {
                from_text
            } else {
                Reason::Policy
            };
            (Kind::Bounce, r, false)
        }
        ("Bounce", "DMARCPolicy") => (Kind::Bounce, Reason::AuthFailure, false),
        ("Bounce", "AutoResponder" | "ChallengeVerification") => {
            (Kind::AutoReply, Reason::Other, false)
        }
        ("Bounce", "Unsubscribe") => (Kind::Unsubscribe, Reason::Other, false),
        ("Bounce", "SoftBounce" | "Transient" | "DnsError" | "Unknown" | "") => {
            (Kind::Bounce, from_text, false)
        }
        _ => (Kind::Other, Reason::Other, false),
    };
    let recipients = if kind == Kind::Other {
        Vec::new()
    } else {
        vec![Recipient {
            address,
            status,
            reply_code,
            reason: why,
            hard,
            diagnostic: details,
        }]
    };
    let mut report = report(kind, recipients);
    report.received_at = timestamp(value.get("BouncedAt").or_else(|| value.get("ReceivedAt")));
    Ok((report, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postmark(record: &str, kind: &str, details: &str) -> Report {
        let body = serde_json::json!({
            "RecordType": record, "ID": 4_323_372_036_854_775_807_u64, "Type": kind,
            "Email": "Ada@Example.org", "Details": details,
            "BouncedAt": "2021-02-19T16:09:19Z", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483"
        });
        postmark_report(body.to_string().as_bytes()).unwrap().0
    }

    #[test]
    fn a_postmark_hard_bounce_is_hard_unless_its_text_says_policy() {
        let r = postmark(
            "Bounce",
            "HardBounce",
            "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        );
        assert_eq!(r.kind, Kind::Bounce);
        let rcpt = &r.recipients[0];
        assert_eq!(rcpt.address.as_deref(), Some("ada@example.org"));
        assert_eq!((rcpt.reason, rcpt.hard), (Reason::UserUnknown, true));
        assert_eq!(rcpt.status.as_deref(), Some("5.1.1"));
        let r = postmark("Bounce", "HardBounce", "550 5.7.1 Message rejected as spam");
        assert_eq!(
            (r.recipients[0].reason, r.recipients[0].hard),
            (Reason::Policy, false)
        );
    }

    #[test]
    fn postmark_soft_bounces_blocks_and_complaints_never_drop_a_reader_as_bounced() {
        let r = postmark("Bounce", "SoftBounce", "452 4.2.2 mailbox full");
        assert_eq!(
            (r.recipients[0].reason, r.recipients[0].hard),
            (Reason::MailboxFull, false)
        );
        let r = postmark("Bounce", "Blocked", "ISP block");
        assert_eq!(
            (r.recipients[0].reason, r.recipients[0].hard),
            (Reason::Policy, false)
        );
        assert_eq!(
            postmark("SpamComplaint", "SpamComplaint", "").kind,
            Kind::Complaint
        );
        assert_eq!(
            postmark("Bounce", "AutoResponder", "").kind,
            Kind::AutoReply
        );
        assert_eq!(postmark("Open", "", "").kind, Kind::Other);
    }

    #[test]
    fn a_postmark_redelivery_has_the_same_key() {
        let body =
            br#"{"RecordType":"Bounce","ID":42,"Type":"HardBounce","Email":"a@example.org"}"#;
        assert_eq!(postmark_report(body).unwrap().1, "postmark:Bounce:42");
        assert!(postmark_report(b"[1,2]").is_err());
        assert!(postmark_report(b"{\"ID\": 1}").is_err());
    }

    #[test]
    fn an_ses_notification_names_the_verp_source_and_the_recipients() {
        let n = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",
            "bouncedRecipients":[{"emailAddress":"ada@example.org","action":"failed","status":"5.1.1",
            "diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2021-02-19T10:00:00.000Z"},
            "mail":{"source":"bounces+abc@bounce.example.org","destination":["ada@example.org"],
            "commonHeaders":{"messageId":"<2021-02-19.x@hotpapers.example.org>"}}}"#;
        let r = ses_report(n).unwrap();
        assert_eq!(r.kind, Kind::Bounce);
        assert_eq!(r.to, ["bounces+abc@bounce.example.org"]);
        assert!(r.recipients[0].hard);
        assert_eq!(
            r.original_message_id.as_deref(),
            Some("2021-02-19.x@hotpapers.example.org")
        );
        let event = n.replace("notificationType", "eventType");
        assert_eq!(ses_report(&event).unwrap().kind, Kind::Bounce);
        assert!(ses_report("{\"notificationType\":\"Open\"}").is_none());
    }
}
