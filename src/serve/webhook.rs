//! The providers' bounce webhooks, each off (404) until configured:
//!
//! - `POST /webhooks/ses`: Amazon SES notifications through SNS. A message
//!   is acted on only when its topic is one of `HOTPAPERS_SNS_TOPICS` (any
//!   AWS account can sign SNS messages; only the topic says they are ours)
//!   and its signature verifies with the certificate at its
//!   `SigningCertURL`, fetched only from an https SNS host and cached. A
//!   subscription confirmation that verifies is confirmed by visiting its
//!   `SubscribeURL` (checked the same way).
//! - `POST /webhooks/postmark`: Postmark's bounce and spam-complaint
//!   webhooks, behind HTTP basic auth.
//!
//! Whatever is refused changes nothing and gets a 4xx; a report is acted
//! on like a mailed one (`bounces::process`), keyed by the provider's id so
//! that a redelivery records nothing new; a failure to record it is a 5xx,
//! so that the provider delivers it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::Site;
use crate::bounces::process::{Limits, Processor};
use crate::bounces::sns::{self, SnsMessage, SnsType};
use crate::bounces::{webhook, Report};
use crate::delivery::Mailer;

/// How long fetching a certificate or confirming a subscription may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest certificate accepted.
const MAX_CERT: usize = 64 * 1024;
/// Certificates kept (SNS rotates them rarely).
const MAX_CACHED: usize = 16;
/// The largest Postmark payload read (a bounce quotes part of the message).
pub(crate) const MAX_BODY: usize = sns::MAX_BODY;

/// What the webhooks share: the sender's settings (for attribution), the
/// certificate cache, and an HTTPS client.
pub(crate) struct Intake {
    mailer: Mailer,
    certs: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    http: reqwest::Client,
}

impl Intake {
    pub(crate) fn new(mailer: Mailer) -> Self {
        Self {
            mailer,
            certs: Mutex::new(HashMap::new()),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        text,
    )
        .into_response()
}

/// Acts on `report` on a blocking thread (the ledger and the store are files).
async fn act(site: &Arc<Site>, report: Report, source: String) -> Response {
    let site = Arc::clone(site);
    let done = tokio::task::spawn_blocking(move || {
        let config = &site.config;
        let ledger = site.ledger.open()?;
        let processor = Processor::new(
            &ledger,
            &*site.store,
            &site.intake.mailer,
            config.secret.expose(),
            config.mail.bounce_address.clone(),
            config.mail.unsubscribe_mailto.clone(),
            Limits {
                hard: config.delivery.bounce_limit,
                soft: config.delivery.soft_bounce_limit,
            },
        );
        let now = site.clock.now();
        processor
            .process_report(report, &source, now)
            .map_err(anyhow::Error::from)
    })
    .await;
    match done {
        Ok(Ok(p)) => {
            tracing::info!(
                kind = ?p.report.kind,
                new_events = p.new_events,
                actions = p.actions.len(),
                "webhook report processed"
            );
            answer(StatusCode::OK, "ok\n")
        }
        Ok(Err(e)) => {
            tracing::error!("a webhook report could not be recorded: {e:#}");
            answer(StatusCode::SERVICE_UNAVAILABLE, "try again later\n")
        }
        Err(e) => {
            tracing::error!("a webhook report could not be recorded: {e}");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

/// The signing certificate for `message`: the configured file, else the
/// cached or fetched one.
async fn certificate(site: &Site, message: &SnsMessage) -> Result<Arc<Vec<u8>>, Response> {
    let url = sns::signing_cert_url(message).map_err(|e| {
        tracing::warn!("refused an SNS message: {e}");
        answer(StatusCode::BAD_REQUEST, "bad SigningCertURL\n")
    })?;
    if let Some(path) = &site.config.webhooks.sns_cert {
        return std::fs::read(path).map(Arc::new).map_err(|e| {
            tracing::error!("HOTPAPERS_SNS_CERT `{}`: {e}", path.display());
            answer(StatusCode::SERVICE_UNAVAILABLE, "try again later\n")
        });
    }
    if let Some(cert) = site
        .intake
        .certs
        .lock()
        .ok()
        .and_then(|c| c.get(url.as_str()).cloned())
    {
        return Ok(cert);
    }
    let fetched = async {
        let response = site
            .intake
            .http
            .get(url.clone())
            .send()
            .await?
            .error_for_status()?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_CERT as u64)
        {
            return Ok(None);
        }
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((bytes.len() <= MAX_CERT).then(|| bytes.to_vec()))
    }
    .await;
    match fetched {
        Ok(Some(cert)) => {
            let cert = Arc::new(cert);
            if let Ok(mut cache) = site.intake.certs.lock() {
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
                cache.insert(url.to_string(), Arc::clone(&cert));
            }
            Ok(cert)
        }
        Ok(None) => {
            tracing::warn!("the SNS signing certificate at {url} is too large");
            Err(answer(StatusCode::BAD_REQUEST, "bad certificate\n"))
        }
        Err(e) => {
            tracing::warn!("could not fetch the SNS signing certificate {url}: {e}");
            Err(answer(StatusCode::SERVICE_UNAVAILABLE, "try again later\n"))
        }
    }
}

/// `POST /webhooks/ses`.
pub(crate) async fn ses(State(site): State<Arc<Site>>, body: Bytes) -> Response {
    let topics = &site.config.webhooks.sns_topics;
    if topics.is_empty() {
        return answer(StatusCode::NOT_FOUND, "not found\n");
    }
    let message = match sns::parse(&body) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("refused a request to /webhooks/ses: {e}");
            return answer(StatusCode::BAD_REQUEST, "not an SNS message\n");
        }
    };
    if !topics.contains(&message.topic_arn) {
        tracing::warn!(
            "refused an SNS message of a topic not in HOTPAPERS_SNS_TOPICS: {}",
            crate::text::one_line(&message.topic_arn)
        );
        return answer(StatusCode::FORBIDDEN, "unknown topic\n");
    }
    let cert = match certificate(&site, &message).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = message.verify(&cert) {
        tracing::warn!("refused an SNS message: {e}");
        return answer(StatusCode::FORBIDDEN, "bad signature\n");
    }
    match message.kind {
        SnsType::SubscriptionConfirmation => confirm_subscription(&site, &message).await,
        SnsType::UnsubscribeConfirmation => {
            tracing::warn!(topic = %message.topic_arn, "SNS says the subscription was ended");
            answer(StatusCode::OK, "ok\n")
        }
        SnsType::Notification => match webhook::ses_report(&message.message) {
            Some(report) => act(&site, report, format!("sns:{}", message.message_id)).await,
            None => answer(StatusCode::OK, "ignored\n"),
        },
    }
}

async fn confirm_subscription(site: &Site, message: &SnsMessage) -> Response {
    let Some(url) = message
        .subscribe_url
        .as_deref()
        .and_then(|u| sns::sns_url(u).ok())
    else {
        tracing::warn!(
            "refused an SNS subscription confirmation: its SubscribeURL is not an SNS URL"
        );
        return answer(StatusCode::BAD_REQUEST, "bad SubscribeURL\n");
    };
    match site
        .intake
        .http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
    {
        Ok(_) => {
            tracing::info!(topic = %message.topic_arn, "SNS subscription confirmed");
            answer(StatusCode::OK, "confirmed\n")
        }
        Err(e) => {
            tracing::warn!("could not confirm the SNS subscription: {e}");
            answer(StatusCode::BAD_GATEWAY, "could not confirm\n")
        }
    }
}

/// Whether `headers` carry the basic auth of `user` and `password`
/// (compared by digest, so the time taken tells nothing).
fn authorized(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
    else {
        return false;
    };
    let expected = format!("{user}:{password}");
    Sha256::digest(&given) == Sha256::digest(expected.as_bytes())
}

/// `POST /webhooks/postmark`.
pub(crate) async fn postmark(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((user, password)) = &site.config.webhooks.postmark else {
        return answer(StatusCode::NOT_FOUND, "not found\n");
    };
    if !authorized(&headers, user, password.expose()) {
        tracing::warn!("refused a request to /webhooks/postmark without the right basic auth");
        return (
            StatusCode::UNAUTHORIZED,
            [
                (
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"hotpapers webhooks\""),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            "unauthorized\n",
        )
            .into_response();
    }
    if body.len() > MAX_BODY {
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "too large\n");
    }
    match webhook::postmark_report(&body) {
        Ok((report, source)) => act(&site, report, source).await,
        Err(e) => {
            tracing::warn!("refused a request to /webhooks/postmark: {e}");
            answer(StatusCode::BAD_REQUEST, "not a Postmark payload\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_needs_the_exact_user_and_password() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "pm", "secret-secret-secret"));
        let good = base64::engine::general_purpose::STANDARD.encode("pm:secret-secret-secret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {good}").parse().unwrap(),
        );
        assert!(authorized(&h, "pm", "secret-secret-secret"));
        assert!(!authorized(&h, "pm", "secret-secret-secreT"));
        assert!(!authorized(&h, "pn", "secret-secret-secret"));
    }
}
