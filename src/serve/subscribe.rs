//! Double opt-in subscribe, confirm and one-click unsubscribe.
//!
//! - `POST /subscribe` never reads the list: whether or not the address is
//!   already subscribed, it answers the same page and mails the same
//!   confirmation link (no address enumeration). Limited per client address
//!   and per mailbox; the email is queued (`mail`), so the answer does not
//!   tell, by its page or its time, whether one is sent.
//! - `GET /confirm` and `GET /unsubscribe` change nothing (mail scanners follow
//!   links); they show one button that POSTs.
//! - `POST /confirm` adds the reader; a link issued before a later unsubscribe
//!   (or bounce) is refused, so an old email cannot undo an unsubscribe.
//! - `POST /unsubscribe?token=` is also the RFC 8058 one-click target: no
//!   CSRF check (the signed token is the authority), done at once, idempotent.
//!
//! Every change goes through `SubscriberStore::update` (lock, reread, apply,
//! atomic write) on a blocking thread that finishes even if the client leaves.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::limit::client_bucket;
use super::mail::ConfirmationRequest;
use super::Site;
use crate::model::{
    clean_form_version, clean_user_agent, truncate_address, Category, Channel, EmailAddress,
    SignUp, SubscriberStatus, SUBSCRIBE_FORM_VERSION,
};
use crate::site::{render_message, HiddenField, MessageForm, MessagePage};
use crate::subscribers::{Confirmation, Confirmed, StatusChange};
use crate::token::TokenError;

/// How long a confirmation link stays good.
pub(crate) const CONFIRM_TTL_HOURS: i64 = 48;
/// Most categories one form may ask for: more than arXiv has, so ticking
/// every box the form offers is never refused.
const MAX_CATEGORIES: usize = 200;

/// The `?token=` of a link.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    pub(super) token: Option<String>,
    /// Where an unsubscribe button was (`preferences`), for the consent record.
    #[serde(default)]
    via: Option<String>,
}

/// A page, its status, and the headers every answer of this module carries
/// (the security headers, `Referrer-Policy: no-referrer` among them since the
/// URL may carry a token, are added around every answer by `headers`).
pub(super) fn page(site: &Site, status: StatusCode, page: &MessagePage) -> Response {
    let html = match render_message(page, &site.config.site, &site.templates) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!("{e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

pub(super) fn message(heading: &str, paragraphs: &[&str]) -> MessagePage {
    MessagePage {
        heading: heading.to_owned(),
        paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
        form: None,
    }
}

/// The answer to a token that does not verify: 400 for garbage, 403 for a
/// forged or expired one. Nothing was changed.
pub(super) fn token_refused(site: &Site, err: &TokenError) -> Response {
    match err {
        TokenError::Malformed => page(
            site,
            StatusCode::BAD_REQUEST,
            &message(
                "This link is incomplete",
                &["The link is damaged or cut short. Copy the whole link from the email into the address bar."],
            ),
        ),
        TokenError::BadSignature => page(
            site,
            StatusCode::FORBIDDEN,
            &message(
                "This link is not valid",
                &["The link was not made by this site, or it was altered. Nothing was changed."],
            ),
        ),
        TokenError::Expired(_) => page(
            site,
            StatusCode::FORBIDDEN,
            &message(
                "This link has expired",
                &["Confirmation links are good for 48 hours. Subscribe again to get a new one."],
            ),
        ),
    }
}

pub(super) fn missing_token(site: &Site) -> Response {
    token_refused(site, &TokenError::Malformed)
}

pub(super) fn store_failed(site: &Site, err: &dyn std::fmt::Display) -> Response {
    tracing::error!("subscriber store: {err}");
    page(
        site,
        StatusCode::SERVICE_UNAVAILABLE,
        &message(
            "Please try again",
            &["Your request could not be saved just now. Nothing was changed; please try again in a minute."],
        ),
    )
}

/// The address a rate limit applies to. Behind a reverse proxy on the same
/// machine every connection comes from loopback, so there (and only there) the
/// last `X-Forwarded-For` entry — the one the proxy appended — names the client.
/// A client connecting from elsewhere cannot choose its bucket. Addresses are
/// compared in canonical form: a server listening on `[::]` sees IPv4 peers as
/// `::ffff:a.b.c.d`, and loopback then is `::ffff:127.0.0.1`.
pub(crate) fn client_address(peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !peer.is_loopback() {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

/// What the subscribe form sent.
struct SubscribeForm {
    email: EmailAddress,
    categories: BTreeSet<Category>,
    /// The form's `form_version` hidden field, when an overriding template
    /// sends one (and it is a plain version string).
    form_version: Option<String>,
}

/// Parses the form body: `email`, and `categories` given as repeated fields
/// (check boxes) and/or comma-separated.
fn parse_subscribe_form(body: &[u8]) -> Result<SubscribeForm, &'static str> {
    let mut email = None;
    let mut categories = BTreeSet::new();
    let mut form_version = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        match name.as_ref() {
            "email" => email = Some(value.trim().to_owned()),
            "form_version" => form_version = clean_form_version(&value),
            "categories" | "category" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let cat = Category::parse(part).map_err(|_| {
                        "One of the categories is not an arXiv category (like cs.LG)."
                    })?;
                    categories.insert(cat);
                }
            }
            _ => {}
        }
    }
    let email = email
        .filter(|e| !e.is_empty())
        .ok_or("Please give an email address.")?;
    let Ok(email) = EmailAddress::parse(&email) else {
        return Err("That does not look like an email address.");
    };
    if categories.len() > MAX_CATEGORIES {
        return Err("That is too many categories.");
    }
    Ok(SubscribeForm {
        email,
        categories,
        form_version,
    })
}

/// `POST /subscribe`.
pub(crate) async fn subscribe(
    State(site): State<Arc<Site>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = site.clock.now();
    let client = client_address(peer, &headers);
    if let Err(wait) = site.per_client.check(&client_bucket(client), now) {
        let mut res = page(
            &site,
            StatusCode::TOO_MANY_REQUESTS,
            &message(
                "Too many requests",
                &["Please wait a few minutes before trying again."],
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let form = match parse_subscribe_form(&body) {
        Ok(f) => f,
        Err(why) => {
            return page(
                &site,
                StatusCode::BAD_REQUEST,
                &message("Please check the form", &[why]),
            )
        }
    };
    // A mailbox gets a few confirmation emails at most, however many clients
    // ask; beyond that the answer is the same page and no email. Either way
    // the email, if any, is only queued: the answer takes the same time
    // whether one goes out, and whether the mail server is up.
    let mailbox = form.email.mailbox_key();
    if site.per_mailbox.check(&mailbox, now).is_ok() {
        site.mail.enqueue(ConfirmationRequest {
            email: form.email.clone(),
            categories: form.categories,
            at: now,
            signup: SignUp {
                form_version: Some(
                    form.form_version
                        .unwrap_or_else(|| SUBSCRIBE_FORM_VERSION.to_owned()),
                ),
                client_network: Some(truncate_address(client)),
                user_agent: headers
                    .get(header::USER_AGENT)
                    .and_then(|v| clean_user_agent(&String::from_utf8_lossy(v.as_bytes()))),
            },
        });
    } else {
        tracing::info!("confirmation email held back: mailbox limit");
    }
    page(
        &site,
        StatusCode::OK,
        &message(
            "Check your inbox",
            &[
                &format!("If {} can receive email, a message with a confirmation link is on its way.", form.email),
                "Click the link in it within 48 hours to start getting the digest. Nothing is sent until you do.",
            ],
        ),
    )
}

/// `GET /confirm?token=`: shows the button; changes nothing.
pub(crate) async fn confirm_page(
    State(site): State<Arc<Site>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token else {
        return missing_token(&site);
    };
    match site.signer.verify_confirm(&token, site.clock.now()) {
        Ok(claim) => {
            let topics = if claim.categories.is_empty() {
                "every paper of the day".to_owned()
            } else {
                format!("papers in {}", claim.categories.join(", "))
            };
            page(
                &site,
                StatusCode::OK,
                &MessagePage {
                    heading: "Confirm your subscription".to_owned(),
                    paragraphs: vec![format!(
                        "Send the daily digest ({topics}) to {}?",
                        claim.email
                    )],
                    form: Some(MessageForm {
                        action: "confirm".to_owned(),
                        fields: vec![HiddenField {
                            name: "token".to_owned(),
                            value: token,
                        }],
                        button: "Yes, subscribe me".to_owned(),
                    }),
                },
            )
        }
        Err(e) => token_refused(&site, &e),
    }
}

/// `POST /confirm` (form field `token`): adds the reader.
pub(crate) async fn confirm(State(site): State<Arc<Site>>, body: Bytes) -> Response {
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let Some(token) = token else {
        return missing_token(&site);
    };
    let now = site.clock.now();
    let claim = match site.signer.verify_confirm(&token, now) {
        Ok(c) => c,
        Err(e) => return token_refused(&site, &e),
    };
    let categories: BTreeSet<Category> = claim
        .categories
        .iter()
        .filter_map(|c| Category::parse(c).ok())
        .collect();
    let Ok(email) = EmailAddress::parse(&claim.email) else {
        return token_refused(&site, &TokenError::Malformed);
    };
    let confirmation = Confirmation {
        email,
        categories,
        issued: claim.issued,
        signup: claim.signup.clone(),
    };
    let store = Arc::clone(&site.store);
    let result = tokio::task::spawn_blocking(move || store.confirm(&confirmation, now)).await;
    match result {
        Ok(Ok(Confirmed::Added | Confirmed::AlreadyActive)) => {
            tracing::info!("subscription confirmed");
            page(
                &site,
                StatusCode::OK,
                &message(
                    "You are subscribed",
                    &["The next digest will be in your inbox. Every email has a link to unsubscribe."],
                ),
            )
        }
        Ok(Ok(Confirmed::Stale)) => page(
            &site,
            StatusCode::FORBIDDEN,
            &message(
                "This link is out of date",
                &["You unsubscribed after this link was sent, so it no longer subscribes you. Subscribe again to get a new link."],
            ),
        ),
        Ok(Err(e)) => store_failed(&site, &e),
        Err(e) => store_failed(&site, &e),
    }
}

/// `GET /unsubscribe?token=`: shows the button; changes nothing.
pub(crate) async fn unsubscribe_page(
    State(site): State<Arc<Site>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token else {
        return missing_token(&site);
    };
    match site.signer.verify_unsubscribe(&token) {
        Ok(email) => {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", &token)
                .finish();
            page(
                &site,
                StatusCode::OK,
                &MessagePage {
                    heading: "Unsubscribe".to_owned(),
                    paragraphs: vec![format!("Stop sending the digest to {email}?")],
                    form: Some(MessageForm {
                        action: format!("unsubscribe?{query}"),
                        fields: Vec::new(),
                        button: "Unsubscribe".to_owned(),
                    }),
                },
            )
        }
        Err(e) => token_refused(&site, &e),
    }
}

/// Through which channel an unsubscribe came, for the consent record: the
/// RFC 8058 body, the preferences page's button (`via=preferences`), or the
/// unsubscribe page's button.
fn unsubscribe_channel(q: &TokenQuery, body: &[u8]) -> Channel {
    let form = || url::form_urlencoded::parse(body);
    if form().any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click") {
        Channel::OneClick
    } else if q.via.as_deref() == Some("preferences")
        || form().any(|(k, v)| k == "via" && v == "preferences")
    {
        Channel::Preferences
    } else {
        Channel::Link
    }
}

/// `POST /unsubscribe?token=`: the button, and RFC 8058 one-click
/// (`List-Unsubscribe=One-Click` body). The token may also come in the body.
pub(crate) async fn unsubscribe(
    State(site): State<Arc<Site>>,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Response {
    let via = unsubscribe_channel(&q, &body);
    let token = q.token.or_else(|| {
        url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let Some(token) = token else {
        return missing_token(&site);
    };
    let email = match site.signer.verify_unsubscribe(&token) {
        Ok(e) => e,
        Err(e) => return token_refused(&site, &e),
    };
    let now = site.clock.now();
    let store = Arc::clone(&site.store);
    let result = tokio::task::spawn_blocking(move || {
        store.set_status(&email, SubscriberStatus::Unsubscribed, via, now)
    })
    .await;
    match result {
        Ok(Ok(change)) => {
            tracing::info!(changed = change == StatusChange::Changed, "unsubscribed");
            page(
                &site,
                StatusCode::OK,
                &message(
                    "You are unsubscribed",
                    &["No more digests will be sent to this address. You can subscribe again at any time from the front page."],
                ),
            )
        }
        Ok(Err(e)) => store_failed(&site, &e),
        Err(e) => store_failed(&site, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn audit_6_a_local_proxy_seen_through_an_ipv6_socket_is_still_loopback() {
        let h = forwarded("10.0.0.1, 198.51.100.9");
        for peer in ["127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.1]:4000"] {
            let peer: SocketAddr = peer.parse().unwrap();
            assert_eq!(
                client_address(peer, &h),
                IpAddr::from([198, 51, 100, 9]),
                "{peer}"
            );
        }
    }

    #[test]
    fn audit_6_mapped_addresses_are_bucketed_as_ipv4() {
        // A remote IPv4 peer on a `[::]` socket: the header is ignored and the
        // bucket is the plain IPv4 address.
        let peer: SocketAddr = "[::ffff:203.0.113.7]:4000".parse().unwrap();
        let h = forwarded("198.51.100.9");
        assert_eq!(client_address(peer, &h), IpAddr::from([203, 0, 113, 7]));
        // A proxy that writes the mapped form names the same client as one
        // that does not.
        let local: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            client_address(local, &forwarded("::ffff:198.51.100.9")),
            client_address(local, &forwarded("198.51.100.9"))
        );
    }
}
