//! The reader's preferences page, reached from the link in every email.
//!
//! - `GET /preferences?token=` shows the reader's choices in a form and
//!   changes nothing (mail scanners follow links).
//! - `POST /preferences` (the token in the form) validates every field and
//!   either changes the reader's record through `Store::set_preferences`
//!   (lock, reread, apply, atomic write) or shows the form again with what
//!   is wrong, changing nothing.
//!
//! The token is sealed for this page only: an unsubscribe or confirmation
//! token does not open it, nor does this one unsubscribe. A cross-site form
//! (an `Origin` or `Sec-Fetch-Site` that is not this site) is refused.
//!
//! The categories offered are the archive's: those `build` wrote a page for
//! (`OUT/categories/<cat>/index.html`), read at each request so a rebuild
//! shows at once, plus any the reader already has.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::subscribe::{message, missing_token, page, store_failed, token_refused, TokenQuery};
use super::Site;
use crate::model::{Cadence, Category, Subscriber, Weekday};
use crate::site::render_preferences;
use crate::subscribers::{Preferences, StatusChange};

/// Most papers a reader may ask for in one email.
pub(crate) const MAX_PAPERS: usize = 100;
/// Most retweets a floor may ask for (more than any paper has had).
const MAX_RETWEETS: u64 = 1_000_000;
/// Most authors, and most keywords, one reader may follow.
pub(crate) const MAX_ALERTS: usize = 20;
/// Longest author name or keyword, in characters.
pub(crate) const MAX_ALERT_CHARS: usize = 100;

/// The archive's categories: the ones `build` wrote a page for.
fn archive_categories(site: &Site) -> BTreeSet<Category> {
    let Ok(entries) = std::fs::read_dir(site.files.root().join("categories")) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("index.html").is_file())
        .filter_map(|e| e.file_name().to_str().and_then(|n| Category::parse(n).ok()))
        .collect()
}

#[derive(Serialize)]
struct WeekdayOption {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct CategoryChoice {
    name: String,
    checked: bool,
}

#[derive(Serialize)]
struct CategoryGroup {
    name: &'static str,
    count: usize,
    /// Open when one of its boxes is ticked.
    open: bool,
    categories: Vec<CategoryChoice>,
}

/// What the template shows: the form's values as text (so a refused form
/// comes back as typed), the errors, and the unsubscribe button's target.
#[derive(Serialize)]
struct PreferencesView {
    root: &'static str,
    site_title: String,
    email: String,
    unsubscribed: bool,
    token: String,
    notice: Option<String>,
    errors: Vec<String>,
    daily: bool,
    weekdays: Vec<WeekdayOption>,
    category_groups: Vec<CategoryGroup>,
    max_papers: String,
    min_retweets: String,
    authors: String,
    keywords: String,
    max_list: usize,
    /// The operator's cap on papers per email (`HOTPAPERS_MAX_PAPERS`).
    mail_cap: usize,
    unsubscribe_action: String,
}

/// The form's fields as sent (or as the record holds them).
#[derive(Debug, Default)]
struct FormValues {
    cadence: String,
    weekday: String,
    categories: Vec<String>,
    max_papers: String,
    min_retweets: String,
    authors: String,
    keywords: String,
}

impl FormValues {
    fn of(s: &Subscriber) -> Self {
        Self {
            cadence: s.cadence.as_str().to_owned(),
            weekday: s.weekday().as_str().to_owned(),
            categories: s.categories.iter().map(|c| c.as_str().to_owned()).collect(),
            max_papers: s.max_papers.map(|n| n.to_string()).unwrap_or_default(),
            min_retweets: s.min_retweets.map(|n| n.to_string()).unwrap_or_default(),
            authors: s.authors.join("\n"),
            keywords: s.keywords.join("\n"),
        }
    }

    /// Reads a form body; the token is returned apart.
    fn parse(body: &[u8]) -> (Option<String>, Self) {
        let mut token = None;
        let mut v = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                "token" => token = Some(value.into_owned()),
                "cadence" => v.cadence = value.into_owned(),
                "weekday" => v.weekday = value.into_owned(),
                "categories" => v.categories.push(value.into_owned()),
                "max_papers" => v.max_papers = value.into_owned(),
                "min_retweets" => v.min_retweets = value.into_owned(),
                "authors" => v.authors = value.into_owned(),
                "keywords" => v.keywords = value.into_owned(),
                _ => {}
            }
        }
        (token, v)
    }

    /// The choices, or every problem found (in form order).
    fn validate(&self, allowed: &BTreeSet<Category>) -> Result<Preferences, Vec<String>> {
        let mut errors = Vec::new();
        let cadence = self.cadence.parse::<Cadence>().unwrap_or_else(|_| {
            errors.push("Choose daily or weekly.".to_owned());
            Cadence::Daily
        });
        let weekday = if self.weekday.trim().is_empty() {
            None
        } else if let Some(d) = Weekday::parse(&self.weekday) {
            // Friday is the default: keep records short.
            (d != Weekday::Friday).then_some(d)
        } else {
            errors.push("Choose a day of the week for the weekly email.".to_owned());
            None
        };
        let mut categories = BTreeSet::new();
        for c in &self.categories {
            match Category::parse(c.trim()) {
                Ok(cat) if allowed.contains(&cat) => {
                    categories.insert(cat);
                }
                _ => errors.push(format!(
                    "“{}” is not one of the archive’s categories.",
                    shorten(c)
                )),
            }
        }
        let max_papers = number(&self.max_papers, 1, MAX_PAPERS as u64).unwrap_or_else(|()| {
            errors.push(format!(
                "At most this many papers: a whole number from 1 to {MAX_PAPERS}, or empty."
            ));
            None
        });
        let min_retweets = number(&self.min_retweets, 0, MAX_RETWEETS).unwrap_or_else(|()| {
            errors.push(format!(
                "At least this many retweets: a whole number from 0 to {MAX_RETWEETS}, or empty."
            ));
            None
        });
        let authors = alert_list(&self.authors, "author names", &mut errors);
        let keywords = alert_list(&self.keywords, "keywords", &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Preferences {
            cadence,
            weekday,
            categories,
            max_papers: max_papers.and_then(|n| usize::try_from(n).ok()),
            min_retweets,
            authors,
            keywords,
        })
    }
}

/// An optional whole number in `min..=max` (empty: `None`).
fn number(text: &str, min: u64, max: u64) -> Result<Option<u64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(()),
    }
}

/// One entry a line, trimmed, empty lines and repeats dropped; too many or
/// too long entries are errors.
fn alert_list(text: &str, what: &str, errors: &mut Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line
            .chars()
            .any(|c| c.is_control() || crate::text::is_unsafe_in_display(c))
        {
            errors.push(format!(
                "The {what} may not hold control characters or direction overrides."
            ));
            return Vec::new();
        }
        if line.chars().count() > MAX_ALERT_CHARS {
            errors.push(format!(
                "“{}” is too long: at most {MAX_ALERT_CHARS} characters.",
                shorten(line)
            ));
            return Vec::new();
        }
        if !out.iter().any(|o| o == line) {
            out.push(line.to_owned());
        }
    }
    if out.len() > MAX_ALERTS {
        errors.push(format!(
            "That is {} {what}: at most {MAX_ALERTS}, one a line.",
            out.len()
        ));
        return Vec::new();
    }
    out
}

/// A user value, cut short for an error message.
fn shorten(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// Whether a form post comes from this site: a browser says where from in
/// `Origin` (and `Sec-Fetch-Site`); a client that sends neither is not a
/// browser tricked by another site.
fn same_origin(site: &Site, headers: &HeaderMap) -> bool {
    if let Some(fetch) = headers.get("sec-fetch-site") {
        if !matches!(fetch.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let ours = site.config.site.url.origin().ascii_serialization();
            origin.to_str().is_ok_and(|o| o == ours)
        }
    }
}

fn render(site: &Site, status: StatusCode, view: &PreferencesView) -> Response {
    match render_preferences(view, &site.config.site, &site.templates) {
        Ok(html) => (
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
            .into_response(),
        Err(e) => {
            tracing::error!("{e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

fn view(
    site: &Site,
    record: &Subscriber,
    token: String,
    values: &FormValues,
    notice: Option<String>,
    errors: Vec<String>,
) -> PreferencesView {
    let mut offered = archive_categories(site);
    offered.extend(record.categories.iter().cloned());
    let ticked: BTreeSet<&str> = values.categories.iter().map(|c| c.trim()).collect();
    let mut groups: Vec<CategoryGroup> = Vec::new();
    for cat in &offered {
        let checked = ticked.contains(cat.as_str());
        let choice = CategoryChoice {
            name: cat.as_str().to_owned(),
            checked,
        };
        let name = cat.group();
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) => {
                g.count += 1;
                g.open |= checked;
                g.categories.push(choice);
            }
            None => groups.push(CategoryGroup {
                name,
                count: 1,
                open: checked,
                categories: vec![choice],
            }),
        }
    }
    // arXiv's group order is alphabetical but for "Other", which goes last.
    groups.sort_by_key(|g| (g.name == "Other", g.name));
    let weekday = Weekday::parse(&values.weekday).unwrap_or(Weekday::Friday);
    let unsubscribe = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &site.signer.unsubscribe_token(&record.email))
        .append_pair("via", "preferences")
        .finish();
    PreferencesView {
        root: "",
        site_title: site.config.site.title.clone(),
        email: record.email.clone(),
        unsubscribed: !record.is_active(),
        token,
        notice,
        errors,
        daily: values.cadence != Cadence::Weekly.as_str(),
        weekdays: Weekday::ALL
            .into_iter()
            .map(|d| WeekdayOption {
                value: d.as_str(),
                label: capitalized(d.as_str()),
                selected: d == weekday,
            })
            .collect(),
        category_groups: groups,
        max_papers: values.max_papers.clone(),
        min_retweets: values.min_retweets.clone(),
        authors: values.authors.clone(),
        keywords: values.keywords.clone(),
        max_list: MAX_ALERTS,
        mail_cap: site.config.mail.max_papers,
        unsubscribe_action: format!("unsubscribe?{unsubscribe}"),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A valid token for an address with no record (removed by the operator).
fn not_found(site: &Site) -> Response {
    page(
        site,
        StatusCode::NOT_FOUND,
        &message(
            "No such subscription",
            &["This address is not on the list. You can subscribe from the front page."],
        ),
    )
}

/// The reader's record now (a fresh read of the store).
async fn record_of(site: &Site, email: String) -> Result<Option<Subscriber>, Response> {
    let store = Arc::clone(&site.store);
    match tokio::task::spawn_blocking(move || store.load().map(|l| l.get(&email).cloned())).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(store_failed(site, &e)),
        Err(e) => Err(store_failed(site, &e)),
    }
}

/// `GET /preferences?token=`: the form with the reader's choices; changes nothing.
pub(crate) async fn preferences_page(
    State(site): State<Arc<Site>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token else {
        return missing_token(&site);
    };
    let email = match site.signer.verify_preferences(&token) {
        Ok(e) => e,
        Err(e) => return token_refused(&site, &e),
    };
    let record = match record_of(&site, email).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&site),
        Err(res) => return res,
    };
    let values = FormValues::of(&record);
    render(
        &site,
        StatusCode::OK,
        &view(&site, &record, token, &values, None, Vec::new()),
    )
}

/// `POST /preferences` (form with `token`): validates, then changes the
/// reader's choices, or shows what is wrong and changes nothing.
pub(crate) async fn change_preferences(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&site, &headers) {
        return page(
            &site,
            StatusCode::FORBIDDEN,
            &message(
                "This form came from another site",
                &["Nothing was changed. Open the preferences link from your email and save from there."],
            ),
        );
    }
    let (token, values) = FormValues::parse(&body);
    let Some(token) = token else {
        return missing_token(&site);
    };
    let email = match site.signer.verify_preferences(&token) {
        Ok(e) => e,
        Err(e) => return token_refused(&site, &e),
    };
    let record = match record_of(&site, email.clone()).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(&site),
        Err(res) => return res,
    };
    let mut allowed = archive_categories(&site);
    allowed.extend(record.categories.iter().cloned());
    let preferences = match values.validate(&allowed) {
        Ok(p) => p,
        Err(errors) => {
            return render(
                &site,
                StatusCode::UNPROCESSABLE_ENTITY,
                &view(&site, &record, token, &values, None, errors),
            )
        }
    };
    let now = site.clock.now();
    let store = Arc::clone(&site.store);
    let result = tokio::task::spawn_blocking(move || {
        let change = store.set_preferences(&email, &preferences, now)?;
        let record = store.load()?.get(&email).cloned();
        Ok::<_, crate::subscribers::SubscriberError>((change, record))
    })
    .await;
    match result {
        Ok(Ok((change, Some(record)))) => {
            tracing::info!(changed = change == StatusChange::Changed, "preferences");
            let notice = if change == StatusChange::Changed {
                "Saved. The next email follows these choices."
            } else {
                "Nothing to change: these were already your choices."
            };
            render(
                &site,
                StatusCode::OK,
                &view(
                    &site,
                    &record,
                    token,
                    &FormValues::of(&record),
                    Some(notice.to_owned()),
                    Vec::new(),
                ),
            )
        }
        Ok(Ok((_, None))) => not_found(&site),
        Ok(Err(e)) => store_failed(&site, &e),
        Err(e) => store_failed(&site, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> BTreeSet<Category> {
        ["cs.LG", "stat.ML"]
            .iter()
            .map(|c| Category::parse(c).unwrap())
            .collect()
    }

    fn values() -> FormValues {
        FormValues {
            cadence: "weekly".into(),
            weekday: "monday".into(),
            categories: vec!["cs.LG".into()],
            max_papers: "5".into(),
            min_retweets: String::new(),
            authors: "Ada Lovelace\n\n Ada Lovelace \nAlan Turing".into(),
            keywords: "diffusion".into(),
        }
    }

    #[test]
    fn a_good_form_becomes_choices_with_repeats_and_blank_lines_dropped() {
        let p = values().validate(&allowed()).unwrap();
        assert_eq!(p.cadence, Cadence::Weekly);
        assert_eq!(p.weekday, Some(Weekday::Monday));
        assert_eq!(p.max_papers, Some(5));
        assert_eq!(p.min_retweets, None);
        assert_eq!(p.authors, ["Ada Lovelace", "Alan Turing"]);
    }

    #[test]
    fn absurd_numbers_unknown_categories_and_long_lists_are_each_named() {
        for (max, ok) in [
            ("0", false),
            ("101", false),
            ("-1", false),
            ("ten", false),
            ("100", true),
            ("", true),
        ] {
            let v = FormValues {
                max_papers: max.into(),
                ..values()
            };
            assert_eq!(v.validate(&allowed()).is_ok(), ok, "max_papers {max:?}");
        }
        let v = FormValues {
            categories: vec!["cs.XX".into(), "hep-th".into()],
            min_retweets: "-5".into(),
            keywords: (0..21)
                .map(|i| format!("k{i}"))
                .collect::<Vec<_>>()
                .join("\n"),
            authors: "x".repeat(101),
            ..values()
        };
        let errors = v.validate(&allowed()).unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].contains("“cs.XX”"), "{errors:?}");
        assert!(errors[1].contains("“hep-th”"), "{errors:?}");
        assert!(errors[2].contains("retweets"), "{errors:?}");
        assert!(errors[3].contains("too long"), "{errors:?}");
        assert!(errors[4].contains("21 keywords"), "{errors:?}");
    }
}
