//! Amazon SES notifications delivered by mail (SNS to an email endpoint):
//! the body is one JSON object, `{"notificationType": "Bounce" | "Complaint"
//! | "Delivery", …}`, or SNS's envelope holding it as a string in
//! `Message`. Read by its documented fields only.

use serde_json::Value;

use super::classify::{Kind, Recipient};
use super::reason::{self, Reason};
use super::text;

/// The kind and recipients of an SES notification in `body`, if it is one.
pub(crate) fn notification(body: &str) -> Option<(Kind, Vec<Recipient>, Option<String>)> {
    let start = body.find('{')?;
    // `notificationType` is quoted as `\"notificationType\"` when SNS wraps
    // the notification in its own envelope.
    if !body[..start].trim().is_empty() || !body.contains("notificationType") {
        return None;
    }
    // Mail transports wrap long lines, inside strings too, where a line
    // break is never valid JSON: join the lines back.
    let joined: String = body[start..].split(['\r', '\n']).collect();
    let value: Value = serde_json::Deserializer::from_str(&joined)
        .into_iter::<Value>()
        .next()?
        .ok()?;
    // Without raw message delivery, SNS sends its envelope (`{"Type":
    // "Notification", "Message": "<the notification as a JSON string>"}`).
    let value = match value.get("Message").and_then(Value::as_str) {
        Some(inner) if value.get("notificationType").is_none() => {
            serde_json::from_str::<Value>(inner).ok()?
        }
        _ => value,
    };
    let message_id = value
        .pointer("/mail/commonHeaders/messageId")
        .and_then(Value::as_str)
        .map(|id| id.trim_matches(['<', '>']).to_owned());
    let address = |r: &Value| {
        r.get("emailAddress")
            .and_then(Value::as_str)
            .and_then(|a| text::addresses(a).into_iter().next())
            .map(|f| f.address)
    };
    let list = |path: &str| {
        value
            .pointer(path)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let kind = value.get("notificationType").and_then(Value::as_str)?;
    match kind {
        "Bounce" => {
            let permanent =
                value.pointer("/bounce/bounceType").and_then(Value::as_str) == Some("Permanent");
            let recipients = list("/bounce/bouncedRecipients")
                .iter()
                .map(|r| {
                    let diagnostic = r
                        .get("diagnosticCode")
                        .and_then(Value::as_str)
                        .map(text::one_line);
                    let diag = diagnostic.as_deref().unwrap_or("");
                    let status = r
                        .get("status")
                        .and_then(Value::as_str)
                        .and_then(text::enhanced_status)
                        .or_else(|| text::enhanced_status(diag));
                    let reply_code = text::reply_code(diag);
                    let why = reason::reason(status.as_deref(), reply_code, diag);
                    let hard =
                        permanent && reason::hard(why, status.as_deref(), reply_code, diag, diag);
                    Recipient {
                        address: address(r),
                        status,
                        reply_code,
                        reason: why,
                        hard,
                        diagnostic,
                    }
                })
                .collect();
            Some((Kind::Bounce, recipients, message_id))
        }
        "Complaint" => {
            let feedback = value
                .pointer("/complaint/complaintFeedbackType")
                .and_then(Value::as_str)
                .unwrap_or("abuse");
            let recipients = list("/complaint/complainedRecipients")
                .iter()
                .map(|r| Recipient {
                    address: address(r),
                    status: None,
                    reply_code: None,
                    reason: Reason::Policy,
                    hard: false,
                    diagnostic: Some(format!("feedback-type: {feedback}")),
                })
                .collect();
            Some((Kind::Complaint, recipients, message_id))
        }
        "Delivery" => {
            let recipients = list("/delivery/recipients")
                .iter()
                .filter_map(Value::as_str)
                .map(|a| Recipient {
                    address: text::addresses(a).into_iter().next().map(|f| f.address),
                    status: Some("2.0.0".to_owned()),
                    reply_code: None,
                    reason: Reason::Other,
                    hard: false,
                    diagnostic: None,
                })
                .collect();
            Some((Kind::DeliveryReport, recipients, message_id))
        }
        _ => None,
    }
}
