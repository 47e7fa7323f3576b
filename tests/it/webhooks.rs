//! The providers' bounce webhooks of `hotpapers serve`, over real HTTP on
//! loopback: SES notifications through SNS, signed with a certificate the
//! test makes (`HOTPAPERS_SNS_CERT` stands in for AWS's), and Postmark's,
//! behind basic auth. Whatever is refused changes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use hotpapers::bounces::sns::SnsMessage;

use crate::bounce_loop::{cmd, sent_to_two, status_of, SECRET};
use crate::support::Served;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:hotpapers-ses";
const CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem";
const POSTMARK_USER: &str = "postmark";
const POSTMARK_PASSWORD: &str = "7f3c1a9e5b2d8046c1e9";

/// An RSA key and its self-signed certificate, made with openssl.
struct Signer {
    dir: tempfile::TempDir,
}

impl Signer {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=sns.us-east-1.amazonaws.com"])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// `text` signed with RSA and SHA-1 (`1`) or SHA-256 (`2`), base64.
    fn sign(&self, text: &str, version: &str) -> String {
        let data = self.dir.path().join("data");
        std::fs::write(&data, text).unwrap();
        let digest = if version == "1" { "-sha1" } else { "-sha256" };
        let out = Command::new("openssl")
            .args(["dgst", digest, "-sign"])
            .arg(self.dir.path().join("key.pem"))
            .arg(&data)
            .output()
            .unwrap();
        assert!(out.status.success());
        base64::engine::general_purpose::STANDARD.encode(out.stdout)
    }
}

/// An SNS Notification carrying `ses` (an SES notification), signed by `signer`.
fn sns_notification(signer: &Signer, id: &str, ses: &serde_json::Value, version: &str) -> String {
    let mut message: SnsMessage = serde_json::from_value(serde_json::json!({
        "Type": "Notification", "MessageId": id, "TopicArn": TOPIC,
        "Message": ses.to_string(), "Timestamp": "2021-02-19T10:00:00.000Z",
        "SignatureVersion": version, "Signature": "", "SigningCertURL": CERT_URL,
    }))
    .unwrap();
    let signature = signer.sign(&message.string_to_sign(), version);
    message.signature = signature;
    serde_json::json!({
        "Type": "Notification", "MessageId": message.message_id, "TopicArn": message.topic_arn,
        "Message": message.message, "Timestamp": message.timestamp,
        "SignatureVersion": version, "Signature": message.signature,
        "SigningCertURL": message.signing_cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    })
    .to_string()
}

fn ses_bounce(email: &str, verp: &str) -> serde_json::Value {
    serde_json::json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": email, "action": "failed", "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown"}],
            "timestamp": "2021-02-19T10:00:00.000Z", "feedbackId": "0100-bounce"},
        "mail": {"source": verp, "destination": [email], "messageId": "0100-ses"}
    })
}

fn ses_complaint(email: &str) -> serde_json::Value {
    serde_json::json!({
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": email}],
            "complaintFeedbackType": "abuse", "timestamp": "2021-02-19T11:00:00.000Z"},
        "mail": {"source": "digest@hotpapers.example.org", "destination": [email]}
    })
}

/// `hotpapers serve` with `env`, over an empty built folder.
fn serve(work: &Path, env: &[(&str, &str)]) -> Served {
    let out = work.join("public");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("index.html"), "<!doctype html><title>t</title>\n").unwrap();
    Served::start(cmd(work).envs(env.iter().copied()), &out)
}

fn verp(email: &str) -> String {
    let day = chrono::NaiveDate::from_ymd_opt(2021, 2, 19).unwrap();
    let token = hotpapers::token::Signer::new(SECRET.as_bytes()).bounce_token(day, email);
    format!("bounces+{token}@bounce.example.test")
}

fn post(url: &str, body: String, auth: Option<(&str, &str)>) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "text/plain; charset=UTF-8")
            .body(body);
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        req.send().await.unwrap().status().as_u16()
    })
}

fn events_of(work: &Path, email: &str) -> usize {
    hotpapers::ledger::Ledger::open(&work.join("state/hotpapers.db"))
        .unwrap()
        .events_of(email)
        .unwrap()
        .len()
}

#[test]
fn ses_notifications_act_only_when_signed_for_our_topic() {
    let work = tempfile::tempdir().unwrap();
    sent_to_two(work.path());
    let signer = Signer::new();
    let cert = signer.cert();
    let server = serve(
        work.path(),
        &[
            ("HOTPAPERS_SNS_TOPICS", TOPIC),
            ("HOTPAPERS_SNS_CERT", cert.to_str().unwrap()),
        ],
    );
    let url = format!("{}/webhooks/ses", server.base);

    // Refused: a forged signature (another key), another topic, a
    // certificate URL off AWS, garbage. Nothing changes.
    let another_key = Signer::new();
    let forged = sns_notification(
        &another_key,
        "m-0",
        &ses_bounce("ada@example.org", &verp("ada@example.org")),
        "1",
    );
    assert_eq!(post(&url, forged, None), 403);
    let other_topic = sns_notification(
        &signer,
        "m-0",
        &ses_bounce("ada@example.org", &verp("ada@example.org")),
        "1",
    )
    .replace(TOPIC, "arn:aws:sns:us-east-1:999999999999:someone-else");
    assert_eq!(post(&url, other_topic, None), 403);
    let off_aws = sns_notification(
        &signer,
        "m-0",
        &ses_bounce("ada@example.org", &verp("ada@example.org")),
        "1",
    )
    .replace(
        "https://sns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com.evil.example/",
    );
    assert_eq!(post(&url, off_aws, None), 400);
    let tampered = sns_notification(
        &signer,
        "m-0",
        &ses_bounce("ada@example.org", &verp("ada@example.org")),
        "1",
    )
    .replace("ada@example.org", "grace@example.org");
    assert_eq!(post(&url, tampered, None), 403);
    assert_eq!(post(&url, "{\"Type\": 1}".into(), None), 400);
    assert_eq!(status_of(work.path(), "ada@example.org"), "active");
    assert_eq!(events_of(work.path(), "ada@example.org"), 0);

    // A signed hard bounce (SignatureVersion 1), attributed by its VERP source.
    let bounce = sns_notification(
        &signer,
        "m-1",
        &ses_bounce("ada@example.org", &verp("ada@example.org")),
        "1",
    );
    assert_eq!(post(&url, bounce.clone(), None), 200);
    assert_eq!(status_of(work.path(), "ada@example.org"), "bounced");
    // SNS delivers at least once: the same message again records nothing.
    assert_eq!(post(&url, bounce, None), 200);
    assert_eq!(events_of(work.path(), "ada@example.org"), 1);

    // A signed complaint (SignatureVersion 2) unsubscribes.
    let complaint = sns_notification(&signer, "m-2", &ses_complaint("grace@example.org"), "2");
    assert_eq!(post(&url, complaint, None), 200);
    assert_eq!(status_of(work.path(), "grace@example.org"), "unsubscribed");
}

fn postmark_bounce(id: u64, kind: &str, email: &str, details: &str) -> String {
    serde_json::json!({
        "RecordType": "Bounce", "ID": id, "Type": kind, "TypeCode": 1, "MessageStream": "outbound",
        "Email": email, "From": "digest@hotpapers.example.org", "BouncedAt": "2021-02-19T16:09:19Z",
        "Details": details, "Description": "The server was unable to deliver your message",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Inactive": true
    })
    .to_string()
}

#[test]
fn postmark_webhooks_need_basic_auth_and_drop_only_dead_addresses() {
    let work = tempfile::tempdir().unwrap();
    sent_to_two(work.path());
    let server = serve(
        work.path(),
        &[
            ("HOTPAPERS_POSTMARK_USER", POSTMARK_USER),
            ("HOTPAPERS_POSTMARK_PASSWORD", POSTMARK_PASSWORD),
        ],
    );
    let url = format!("{}/webhooks/postmark", server.base);
    let auth = Some((POSTMARK_USER, POSTMARK_PASSWORD));
    let hard = postmark_bounce(
        1,
        "HardBounce",
        "ada@example.org",
        "smtp;550 5.1.1 The email account that you tried to reach does not exist",
    );

    assert_eq!(post(&url, hard.clone(), None), 401);
    assert_eq!(
        post(
            &url,
            hard.clone(),
            Some((POSTMARK_USER, "not-the-password-at-all"))
        ),
        401
    );
    assert_eq!(status_of(work.path(), "ada@example.org"), "active");

    // A soft bounce and a block keep the reader.
    assert_eq!(
        post(
            &url,
            postmark_bounce(
                2,
                "SoftBounce",
                "grace@example.org",
                "452 4.2.2 Mailbox full"
            ),
            auth
        ),
        200
    );
    assert_eq!(
        post(
            &url,
            postmark_bounce(
                3,
                "Blocked",
                "grace@example.org",
                "550 5.7.1 blocked for spam"
            ),
            auth
        ),
        200
    );
    assert_eq!(status_of(work.path(), "grace@example.org"), "active");

    assert_eq!(post(&url, hard.clone(), auth), 200);
    assert_eq!(status_of(work.path(), "ada@example.org"), "bounced");
    assert_eq!(post(&url, hard, auth), 200);
    assert_eq!(
        events_of(work.path(), "ada@example.org"),
        1,
        "a redelivery records nothing"
    );

    let complaint = serde_json::json!({
        "RecordType": "SpamComplaint", "ID": 4, "Type": "SpamComplaint", "Email": "grace@example.org",
        "BouncedAt": "2021-02-19T17:00:00Z", "MessageID": "f1"
    })
    .to_string();
    assert_eq!(post(&url, complaint, auth), 200);
    assert_eq!(status_of(work.path(), "grace@example.org"), "unsubscribed");
    assert_eq!(post(&url, "not json".into(), auth), 400);
}

#[test]
fn webhooks_are_off_until_configured() {
    let work = tempfile::tempdir().unwrap();
    sent_to_two(work.path());
    let server = serve(work.path(), &[]);
    let body = postmark_bounce(1, "HardBounce", "ada@example.org", "550 5.1.1 unknown");
    assert_eq!(
        post(
            &format!("{}/webhooks/postmark", server.base),
            body.clone(),
            None
        ),
        404
    );
    assert_eq!(
        post(&format!("{}/webhooks/ses", server.base), body, None),
        404
    );
    assert_eq!(status_of(work.path(), "ada@example.org"), "active");
}
