//! `GET /search?q=…&page=N`: the archive's search, as a results page, or as
//! JSON for `Accept: application/json` and `/search.json`. The index is the
//! one `build` made current under `OUT/.search/`; a newer one is picked up
//! at the next request, without a restart. A query that cannot run gets a
//! page (or a 400 in JSON) that says why, never a 500.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Site;
use crate::search::{self, query, Index, Results, SearchError};
use crate::site::{render_search, search_href, SearchPage};

/// The current index, opened once and reopened when `build` makes another current.
#[derive(Debug, Default)]
pub(crate) struct Searcher {
    open: Mutex<Option<Arc<Index>>>,
}

impl Searcher {
    fn current(&self, out: &std::path::Path) -> Result<Arc<Index>, SearchError> {
        let name = search::current_name(out);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some(index), Some(name)) = (open.as_ref(), name.as_deref()) {
            if index.name() == name {
                return Ok(Arc::clone(index));
            }
        }
        let index = Arc::new(Index::open(out)?);
        *open = Some(Arc::clone(&index));
        Ok(index)
    }
}

/// `?q=&page=`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    page: Option<String>,
}

#[derive(Serialize)]
struct JsonHit<'a> {
    #[serde(flatten)]
    hit: &'a search::Hit,
    url: String,
    bibtex: String,
}

#[derive(Serialize)]
struct JsonResults<'a> {
    query: &'a str,
    total: usize,
    page: usize,
    per_page: usize,
    hits: Vec<JsonHit<'a>>,
    next: Option<String>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    query: &'a str,
    error: String,
}

/// JSON when `Accept` rates it above HTML (by quality values), else the page.
fn wants_json(headers: &HeaderMap) -> bool {
    super::negotiate::prefers(headers, "application/json", "text/html")
}

fn with_headers(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::VARY, HeaderValue::from_static("Accept")),
        ],
        body,
    )
        .into_response()
}

fn html(site: &Site, status: StatusCode, page: SearchPage<'_>) -> Response {
    match render_search(page, &site.config.site, &site.templates) {
        Ok(body) => with_headers(status, "text/html; charset=utf-8", body),
        Err(e) => {
            tracing::error!("{e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned()) + "\n";
    with_headers(status, "application/json", body)
}

/// `GET /search`.
pub(crate) async fn search(
    State(site): State<Arc<Site>>,
    Query(params): Query<SearchParams>,
    headers: HeaderMap,
) -> Response {
    answer(site, params, wants_json(&headers)).await
}

/// `GET /search.json`.
pub(crate) async fn search_json(
    State(site): State<Arc<Site>>,
    Query(params): Query<SearchParams>,
) -> Response {
    answer(site, params, true).await
}

async fn answer(site: Arc<Site>, params: SearchParams, as_json: bool) -> Response {
    let raw = params.q.unwrap_or_default();
    // What is shown back is capped too (the page escapes it).
    let shown: String = raw.chars().take(query::MAX_QUERY + 20).collect();
    let page = params
        .page
        .and_then(|p| p.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, search::MAX_PAGE);
    if raw.trim().is_empty() && !as_json {
        return html(&site, StatusCode::OK, SearchPage::Form);
    }
    let parsed = match query::parse(&raw) {
        Ok(q) => q,
        Err(e) => {
            let why = e.to_string();
            return if as_json {
                json(
                    StatusCode::BAD_REQUEST,
                    &JsonError {
                        query: &shown,
                        error: why,
                    },
                )
            } else {
                html(&site, StatusCode::OK, SearchPage::Refused(&shown, &why))
            };
        }
    };
    let searching = Arc::clone(&site);
    let found: Result<Results, SearchError> = tokio::task::spawn_blocking(move || {
        let index = searching.searcher.current(&searching.config.out)?;
        index.search(&parsed, page)
    })
    .await
    .unwrap_or_else(|e| Err(SearchError::Stopped(e.to_string())));
    let results = match found {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("search: {e}");
            let why = if matches!(e, SearchError::Missing(_)) {
                "Search is not available right now: the index has not been built."
            } else {
                "Search is not available right now; try again in a moment."
            };
            return if as_json {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &JsonError {
                        query: &shown,
                        error: why.to_owned(),
                    },
                )
            } else {
                html(
                    &site,
                    StatusCode::SERVICE_UNAVAILABLE,
                    SearchPage::Refused(&shown, why),
                )
            };
        }
    };
    if as_json {
        let link = |path: &str| site.config.site.link(path);
        let body = JsonResults {
            query: &shown,
            total: results.total,
            page: results.page,
            per_page: search::PER_PAGE,
            hits: results
                .hits
                .iter()
                .map(|h| JsonHit {
                    hit: h,
                    url: link(&format!("{}/#paper-{}", h.day, h.rank)),
                    bibtex: link(&format!("{}/papers.bib", h.day)),
                })
                .collect(),
            next: results.has_next().then(|| {
                link(&search_href(&raw, results.page + 1).replacen("search?", "search.json?", 1))
            }),
        };
        return json(StatusCode::OK, &body);
    }
    html(&site, StatusCode::OK, SearchPage::Found(&shown, &results))
}
