//! The digest body, line by line: a front matter block, then one block per
//! paper (heading, authors, counts, links, categories, abstract, tweets).
//! Every error names the line and says what was expected and what was found.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use pulldown_cmark::{Event, Parser as Markdown, Tag};

use super::error::DigestError;
use super::front_matter;
use super::tweet::parse_tweet;
use crate::model::{ArxivId, Category, Digest, Paper};
use crate::text;

/// Something worth telling the operator that does not stop the parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line.
    pub line: usize,
    /// What is odd.
    pub message: String,
}

/// Lines longer than this cannot be part of a digest (a paper's whole
/// abstract is a few KB); refusing them keeps the time bounded.
const MAX_LINE: usize = 1 << 20;

/// Parses the text of one digest. `path` is only used in messages and as the
/// fallback source of the digest day (`2021-02-12.md`, `2021-02-12---Hot-Papers.md`).
///
/// # Errors
/// The first place where the text does not follow the format.
pub fn parse_digest(path: &Path, text: &str) -> Result<(Digest, Vec<Warning>), DigestError> {
    Parser {
        path,
        lines: text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .collect(),
        pos: 0,
        warnings: Vec::new(),
    }
    .digest()
}

struct Parser<'a> {
    path: &'a Path,
    lines: Vec<(usize, &'a str)>,
    pos: usize,
    warnings: Vec<Warning>,
}

impl<'a> Parser<'a> {
    fn error(&self, line: usize, message: impl Into<String>) -> DigestError {
        DigestError::Syntax {
            path: self.path.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn warn(&mut self, line: usize, message: impl Into<String>) {
        self.warnings.push(Warning {
            line,
            message: message.into(),
        });
    }

    /// `raw` as the model may hold it: without the characters no feed, page or
    /// message may carry and, when `display` (titles, names, metadata), without
    /// bidirectional controls. What was removed is a warning on `line` naming
    /// `what` (`the title`).
    fn clean(&mut self, line: usize, what: &str, raw: &str, display: bool) -> String {
        let unsafe_char = if display {
            text::is_unsafe_in_display
        } else {
            text::is_forbidden
        };
        let Cow::Owned(clean) = text::without(raw, unsafe_char) else {
            return raw.to_owned();
        };
        let forbidden = text::code_points(raw, text::is_forbidden);
        if !forbidden.is_empty() {
            self.warn(
                line,
                format!(
                    "removed {forbidden} from {what}: feeds, pages and mail cannot carry these characters"
                ),
            );
        }
        let bidi = text::code_points(raw, text::is_bidi_control);
        if display && !bidi.is_empty() {
            self.warn(
                line,
                format!(
                    "removed the bidirectional control {bidi} from {what}: it would reorder the text around it"
                ),
            );
        }
        clean
    }

    /// [`Self::clean`] for a piece of display text that is an optional field.
    fn clean_field(&mut self, line: usize, what: &str, raw: Option<String>) -> Option<String> {
        raw.map(|raw| self.clean(line, what, &raw, true))
    }

    /// The line number just past the end, for "file ends here" errors.
    fn end_line(&self) -> usize {
        self.lines.last().map_or(1, |(n, _)| n + 1)
    }

    fn peek(&self) -> Option<(usize, &'a str)> {
        self.lines.get(self.pos).copied()
    }

    fn skip_blank(&mut self) {
        while self.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
            self.pos += 1;
        }
    }

    /// The next non-blank line, or an error naming what was expected.
    fn next_content(
        &mut self,
        expected: &str,
        paper: u32,
    ) -> Result<(usize, &'a str), DigestError> {
        self.skip_blank();
        match self.peek() {
            Some(l) => {
                self.pos += 1;
                Ok(l)
            }
            None => Err(self.error(
                self.end_line(),
                format!("the file ends inside paper {paper}: expected {expected}"),
            )),
        }
    }

    fn digest(mut self) -> Result<(Digest, Vec<Warning>), DigestError> {
        if let Some(&(n, line)) = self.lines.iter().find(|(_, l)| l.len() > MAX_LINE) {
            return Err(self.error(
                n,
                format!(
                    "line is {} bytes long: digest lines are at most {MAX_LINE} bytes",
                    line.len()
                ),
            ));
        }
        let meta = self.front_matter()?;
        let mut papers: Vec<Paper> = Vec::new();
        let mut ranks: HashMap<u32, usize> = HashMap::new();
        loop {
            self.skip_blank();
            let Some((n, line)) = self.peek() else { break };
            let Some((rank, title)) = heading(line) else {
                return Err(self.error(
                    n,
                    format!(
                        "expected a paper heading `# N. Title`, found `{}`",
                        excerpt(line)
                    ),
                ));
            };
            let rank = rank.map_err(|found| {
                self.error(
                    n,
                    format!("expected a rank number in the heading, found `{found}`"),
                )
            })?;
            if title.is_empty() {
                return Err(self.error(n, format!("paper {rank} has an empty title")));
            }
            if let Some(first) = ranks.insert(rank, n) {
                return Err(self.error(
                    n,
                    format!("rank {rank} appears twice (first at line {first})"),
                ));
            }
            self.pos += 1;
            papers.push(self.paper(rank, title, n)?);
        }
        let Meta {
            title,
            date,
            end_date,
            published,
            slug,
            draft,
            template,
            category,
            tags,
            description,
            social_image,
        } = meta;
        let digest = Digest {
            title,
            date,
            end_date,
            published,
            slug,
            draft,
            template,
            category,
            tags,
            description,
            social_image,
            papers,
        };
        Ok((digest, self.warnings))
    }

    fn front_matter(&mut self) -> Result<Meta, DigestError> {
        self.skip_blank();
        let Some((open, first)) = self.peek() else {
            return Err(self.error(
                1,
                "the file is empty: expected front matter starting with `---`",
            ));
        };
        if first.trim() != "---" {
            return Err(self.error(
                open,
                format!(
                    "expected front matter starting with `---`, found `{}`",
                    excerpt(first)
                ),
            ));
        }
        self.pos += 1;
        let start = self.pos;
        let close = self.lines[start..]
            .iter()
            .position(|(_, l)| l.trim_end() == "---")
            .ok_or_else(|| {
                self.error(
                    open,
                    "the front matter opened here is never closed: expected a line `---` after it",
                )
            })?;
        let yaml: Vec<&str> = self.lines[start..start + close]
            .iter()
            .map(|(_, l)| *l)
            .collect();
        self.pos = start + close + 1;
        let yaml = yaml.join("\n");
        let fm = front_matter::parse(&yaml).map_err(|e| {
            let line = e.line.map_or(open, |l| open + l);
            self.error(line, format!("expected YAML front matter: {}", e.message))
        })?;
        let fm_lines: Vec<(usize, &str)> = self.lines[start..start + close].to_vec();
        let line_of = |key: &str| {
            fm_lines
                .iter()
                .find(|(_, l)| l.starts_with(key))
                .map_or(open, |(n, _)| *n)
        };
        for key in fm.unknown.keys() {
            let n = line_of(key);
            self.warn(n, format!("unknown front matter field `{key}` is ignored"));
        }

        let title_line = line_of("title");
        let title = self.clean(
            title_line,
            "the title",
            fm.title.as_deref().unwrap_or_default(),
            true,
        );
        let title = collapse_whitespace(&title);
        let date_line = line_of("date");
        let published = match &fm.date {
            None => {
                return Err(self.error(
                    open,
                    "the front matter has no `date:` (the publication time)",
                ))
            }
            Some(v) => {
                let text = front_matter::value_text(v).unwrap_or_default();
                front_matter::parse_published(&text).ok_or_else(|| {
                    self.error(
                        date_line,
                        format!(
                            "expected `date:` as an RFC 3339 time like `2021-02-13T22:40:53Z`, found `{}`",
                            excerpt(&text)
                        ),
                    )
                })?
            }
        };
        let (title_start, title_end) = title_dates(&title).map_err(|found| {
            self.error(
                title_line,
                format!("the title names an impossible date `{found}`"),
            )
        })?;
        let file_day = file_name_day(self.path);
        let date = match (title_start, file_day) {
            (Some(t), Some(f)) if t != f => {
                self.warn(
                    title_line,
                    format!("the title says {t} but the file name says {f}; using the title"),
                );
                t
            }
            (Some(t), _) => t,
            (None, Some(f)) => f,
            (None, None) => published.date_naive(),
        };
        if title.is_empty() {
            self.warn(open, "the front matter has no `title:`");
        }
        let end_date = match title_end {
            Some(end) if end < date => {
                return Err(self.error(
                    title_line,
                    format!("the title's range ends ({end}) before it starts ({date})"),
                ))
            }
            other => other,
        };
        let slug = self
            .clean_field(line_of("slug"), "the slug", fm.slug)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("hot-papers-{date}"));
        Ok(Meta {
            title: if title.is_empty() {
                format!("Hot Papers {date}")
            } else {
                title
            },
            date,
            end_date,
            published,
            slug,
            draft: fm.draft.unwrap_or(false),
            template: self.clean_field(line_of("template"), "the template", fm.template),
            category: self.clean_field(line_of("category"), "the category", fm.category),
            tags: fm
                .tags
                .unwrap_or_default()
                .iter()
                .map(|t| self.clean(line_of("tags"), "a tag", t, true))
                .collect(),
            description: self.clean_field(
                line_of("description"),
                "the description",
                fm.description,
            ),
            social_image: self.social_image(line_of("socialImage"), fm.social_image),
        })
    }

    /// `socialImage:` as the pages may use it for `og:image`: an absolute
    /// http(s) URL or a path on the site. Anything else (`javascript:…`,
    /// `data:…`, a value with spaces or control characters) is left out with
    /// a warning: the page is still worth publishing without its image.
    fn social_image(&mut self, line: usize, raw: Option<String>) -> Option<String> {
        let raw = raw?;
        let value = raw.trim();
        if value.is_empty() {
            // No image: the pages leave `og:image` out.
            return Some(raw);
        }
        let clean = !value
            .chars()
            .any(|c| c.is_whitespace() || text::is_unsafe_in_display(c));
        let allowed = clean
            && match url::Url::parse(value) {
                Ok(url) => matches!(url.scheme(), "http" | "https"),
                // A path on the site (`/media/flying-marine.jpg`).
                Err(url::ParseError::RelativeUrlWithoutBase) => !value.starts_with("//"),
                Err(_) => false,
            };
        if allowed {
            Some(raw)
        } else {
            self.warn(
                line,
                format!(
                    "`socialImage` is ignored: expected an http(s) URL or a path on the site, found `{}`",
                    excerpt(&text::display_text(value))
                ),
            );
            None
        }
    }

    fn paper(&mut self, rank: u32, title: &str, heading_line: usize) -> Result<Paper, DigestError> {
        // Authors: the line after the heading, unless the counts come first.
        self.skip_blank();
        let mut authors = Vec::new();
        if let Some((n, line)) = self.peek() {
            if !line.starts_with("- ") && heading(line).is_none() && !line.starts_with('<') {
                let line = self.clean(n, &format!("the authors of paper {rank}"), line, true);
                authors = line
                    .split(',')
                    .map(collapse_whitespace)
                    .filter(|a| !a.is_empty())
                    .collect();
                if authors.is_empty() {
                    self.warn(n, format!("paper {rank} has an empty author line"));
                }
                self.pos += 1;
            } else {
                self.warn(n, format!("paper {rank} has no author line"));
            }
        }

        let (n, line) =
            self.next_content("`- retweets: R, favorites: F (MM/DD/YYYY HH:MM:SS)`", rank)?;
        let (retweets, favorites, counted_at) = counts(line).map_err(|m| self.error(n, m))?;

        let (n, line) = self.next_content("`- links: [abs](…) | [pdf](…)`", rank)?;
        let (abs_url, pdf_url) = links(line).map_err(|m| self.error(n, m))?;
        let arxiv_id = ArxivId::from_url(&abs_url)
            .map_err(|m| self.error(n, format!("expected an arXiv abs link: {m}")))?;

        let (n, line) = self.next_content("the category line `- [cs.CV](…) | …`", rank)?;
        let categories = categories(line).map_err(|m| self.error(n, m))?;

        // The abstract: text lines up to the first tweet or the next paper.
        let mut paragraphs: Vec<String> = Vec::new();
        let mut current = String::new();
        while let Some((n, line)) = self.peek() {
            if heading(line).is_some() || is_tweet_start(line) || is_widget_script(line) {
                break;
            }
            if line.trim().is_empty() {
                if !current.is_empty() {
                    paragraphs.push(std::mem::take(&mut current));
                }
            } else {
                if !current.is_empty() {
                    current.push(' ');
                }
                let line = self.clean(n, &format!("the abstract of paper {rank}"), line, true);
                current.push_str(line.trim());
            }
            self.pos += 1;
        }
        if !current.is_empty() {
            paragraphs.push(current);
        }
        let abstract_text = paragraphs
            .iter()
            .map(|p| collapse_whitespace(p))
            .collect::<Vec<_>>()
            .join("\n\n");

        // Tweets, each followed by the widget `<script>` line.
        let mut tweets = Vec::new();
        loop {
            self.skip_blank();
            let Some((n, line)) = self.peek() else { break };
            if heading(line).is_some() {
                break;
            }
            if is_widget_script(line) {
                self.pos += 1;
                continue;
            }
            if !is_tweet_start(line) {
                return Err(self.error(
                    n,
                    format!(
                        "expected a tweet `<blockquote class=\"twitter-tweet\">` or the next paper heading, found `{}`",
                        excerpt(line)
                    ),
                ));
            }
            let markup = self.tweet_markup(n, rank)?;
            let mut tweet = parse_tweet(&markup).map_err(|m| self.error(n, m))?;
            // The tweet's HTML left the sanitizer clean; its plain fields did not.
            let what = |field: &str| format!("the {field} of a tweet of paper {rank}");
            tweet.author =
                collapse_whitespace(&self.clean(n, &what("author"), &tweet.author, true));
            tweet.handle =
                collapse_whitespace(&self.clean(n, &what("handle"), &tweet.handle, true));
            tweet.lang = collapse_whitespace(&self.clean(n, &what("language"), &tweet.lang, true));
            // Tweet text keeps its bidirectional controls: right-to-left
            // tweets use them, and the text is a paragraph of its own.
            tweet.text = self.clean(n, &what("text"), &tweet.text, false);
            tweets.push(tweet);
        }
        let title = self.clean(
            heading_line,
            &format!("the title of paper {rank}"),
            title,
            true,
        );
        if title.trim().is_empty() {
            return Err(self.error(heading_line, format!("paper {rank} has an empty title")));
        }
        Ok(Paper {
            rank,
            title: collapse_whitespace(&title),
            authors,
            retweets,
            favorites,
            counted_at,
            arxiv_id,
            abs_url,
            pdf_url,
            categories,
            abstract_text,
            tweets,
        })
    }

    /// The lines of one embed, from `<blockquote` to `</blockquote>`.
    fn tweet_markup(&mut self, start: usize, rank: u32) -> Result<String, DigestError> {
        let mut markup = String::new();
        while let Some((_, line)) = self.peek() {
            self.pos += 1;
            if !markup.is_empty() {
                markup.push('\n');
            }
            markup.push_str(line);
            if line.contains("</blockquote>") {
                return Ok(markup);
            }
        }
        Err(self.error(
            start,
            format!(
                "the tweet of paper {rank} that starts here never ends: expected `</blockquote>`"
            ),
        ))
    }
}

struct Meta {
    title: String,
    date: NaiveDate,
    end_date: Option<NaiveDate>,
    published: chrono::DateTime<chrono::FixedOffset>,
    slug: String,
    draft: bool,
    template: Option<String>,
    category: Option<String>,
    tags: Vec<String>,
    description: Option<String>,
    social_image: Option<String>,
}

/// Collapses every run of whitespace to one space and trims the ends.
#[must_use]
pub(super) fn collapse_whitespace(s: &str) -> String {
    if s.is_ascii() {
        return collapse_ascii_whitespace(s);
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// [`collapse_whitespace`] for ASCII text (most abstracts), a byte at a time.
fn collapse_ascii_whitespace(s: &str) -> String {
    // The ASCII whitespace of `char::is_whitespace`: tab, LF, VT, FF, CR, space.
    let words = s
        .as_bytes()
        .split(|b| matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' '))
        .filter(|w| !w.is_empty());
    let mut out = Vec::with_capacity(s.len());
    for word in words {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
    // Whole ASCII words of an ASCII string were copied.
    String::from_utf8(out).unwrap_or_default()
}

/// At most 80 characters of a line, for messages.
fn excerpt(line: &str) -> String {
    let line = line.trim();
    match line.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

/// `# N. Title` → (rank, title); `None` when the line is not a heading.
/// A heading whose rank is not a number yields `Some((Err(found), title))`.
fn heading(line: &str) -> Option<(Result<u32, String>, &str)> {
    let rest = line.strip_prefix("# ")?;
    let (num, title) = rest
        .split_once(". ")
        .or_else(|| rest.strip_suffix('.').map(|n| (n, "")))?;
    let num = num.trim();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        // `# Some heading. More` is not a paper heading at all unless it looks numeric.
        if num.bytes().any(|b| b.is_ascii_digit()) {
            return Some((Err(num.to_owned()), title.trim()));
        }
        return None;
    }
    Some((num.parse::<u32>().map_err(|_| num.to_owned()), title.trim()))
}

fn is_tweet_start(line: &str) -> bool {
    line.trim_start().starts_with("<blockquote")
}

fn is_widget_script(line: &str) -> bool {
    let l = line.trim();
    l.starts_with("<script") && l.ends_with("</script>")
}

/// `- retweets: R, favorites: F (MM/DD/YYYY HH:MM:SS)`.
fn counts(line: &str) -> Result<(u64, u64, NaiveDateTime), String> {
    let expected = "expected `- retweets: R, favorites: F (MM/DD/YYYY HH:MM:SS)`";
    let rest = line
        .trim()
        .strip_prefix("- retweets:")
        .ok_or_else(|| format!("{expected}, found `{}`", excerpt(line)))?;
    let (retweets, rest) = rest
        .split_once(',')
        .ok_or_else(|| format!("{expected}, found `{}`", excerpt(line)))?;
    let rest = rest
        .trim_start()
        .strip_prefix("favorites:")
        .ok_or_else(|| format!("{expected}, found `{}`", excerpt(line)))?;
    let (favorites, when) = match rest.split_once('(') {
        Some((f, w)) => (f, Some(w)),
        None => (rest, None),
    };
    let number = |what: &str, s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("expected a whole number of {what}, found `{}`", excerpt(s)))
    };
    let retweets = number("retweets", retweets)?;
    let favorites = number("favorites", favorites)?;
    let when = when
        .and_then(|w| w.trim_end().strip_suffix(')'))
        .ok_or_else(|| format!("expected the time of the count `(MM/DD/YYYY HH:MM:SS)` after the favorites, found `{}`", excerpt(line)))?;
    let counted_at =
        NaiveDateTime::parse_from_str(when.trim(), "%m/%d/%Y %H:%M:%S").map_err(|_| {
            format!(
                "expected the time of the count as `MM/DD/YYYY HH:MM:SS`, found `{}`",
                excerpt(when)
            )
        })?;
    Ok((retweets, favorites, counted_at))
}

/// The Markdown links of a list line, as (text, URL) pairs, read with
/// pulldown-cmark so that escapes and odd spacing are handled as Markdown does.
fn markdown_links(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for event in Markdown::new(line) {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) => {
                current = Some((String::new(), dest_url.into_string()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((text, _)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(pulldown_cmark::TagEnd::Link) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

/// `- links: [abs](URL) | [pdf](URL)` → (abs, pdf).
fn links(line: &str) -> Result<(String, Option<String>), String> {
    let rest = line.trim().strip_prefix("- links:").ok_or_else(|| {
        format!(
            "expected `- links: [abs](…) | [pdf](…)`, found `{}`",
            excerpt(line)
        )
    })?;
    let mut abs = None;
    let mut pdf = None;
    for (label, url) in markdown_links(rest) {
        let url = url.trim().to_owned();
        if let Some(c) = url
            .chars()
            .find(|&c| c.is_whitespace() || text::is_unsafe_in_display(c))
        {
            return Err(format!(
                "expected an http(s) URL for the `{label}` link, found one holding U+{:04X}, which a URL cannot carry",
                u32::from(c)
            ));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "expected an http(s) URL for the `{label}` link, found `{}`",
                excerpt(&url)
            ));
        }
        match label.trim().to_ascii_lowercase().as_str() {
            "abs" => abs = Some(url),
            "pdf" => pdf = Some(url),
            _ => {}
        }
    }
    let abs = abs.ok_or_else(|| {
        format!(
            "expected an `[abs](https://arxiv.org/abs/…)` link, found `{}`",
            excerpt(line)
        )
    })?;
    Ok((abs, pdf))
}

/// `- [cs.CV](…) | [cs.LG](…)` → categories.
fn categories(line: &str) -> Result<Vec<Category>, String> {
    let expected =
        "expected the category line `- [cs.CV](https://arxiv.org/list/cs.CV/recent) | …`";
    let rest = line
        .trim()
        .strip_prefix("- ")
        .ok_or_else(|| format!("{expected}, found `{}`", excerpt(line)))?;
    let found = markdown_links(rest);
    if found.is_empty() {
        return Err(format!("{expected}, found `{}`", excerpt(line)));
    }
    found
        .into_iter()
        .map(|(label, _)| Category::parse(&label).map_err(|m| format!("{expected}: {m}")))
        .collect()
}

/// The day (and range end) named in a title like "Hot Papers 2021-02-12" or
/// "Hot Papers 2021-02-12 - 2021-02-14". `Err` carries an impossible date.
fn title_dates(title: &str) -> Result<(Option<NaiveDate>, Option<NaiveDate>), String> {
    let mut found = Vec::new();
    let bytes = title.as_bytes();
    let mut i = 0;
    while i + 10 <= bytes.len() {
        // Check the shape on bytes: a slice of the str could split a character.
        let shape = bytes[i..i + 10].iter().enumerate().all(|(k, &b)| match k {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
        let bounded = (i == 0 || !bytes[i - 1].is_ascii_digit())
            && bytes.get(i + 10).is_none_or(|b| !b.is_ascii_digit());
        if shape && bounded {
            let cand = &title[i..i + 10];
            let day = NaiveDate::parse_from_str(cand, "%Y-%m-%d").map_err(|_| cand.to_owned())?;
            found.push(day);
            i += 10;
        } else {
            i += title[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    Ok((found.first().copied(), found.get(1).copied()))
}

/// The day in a file name `2021-02-12.md` or `2021-02-12---Hot-Papers.md`.
#[must_use]
pub(super) fn file_name_day(path: &Path) -> Option<NaiveDate> {
    let name = path.file_name()?.to_str()?;
    let head = name.get(..10)?;
    let rest = &name[10..];
    if !(rest.starts_with('.')
        || rest.starts_with("---")
        || rest.starts_with('-')
        || rest.starts_with('_'))
    {
        return None;
    }
    NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings() {
        assert_eq!(heading("# 1. Title  here"), Some((Ok(1), "Title  here")));
        assert_eq!(heading("# 12. A. B"), Some((Ok(12), "A. B")));
        assert_eq!(heading("## 1. no"), None);
        assert_eq!(heading("# x1. bad"), Some((Err("x1".into()), "bad")));
    }

    #[test]
    fn counts_line() {
        let (r, f, t) = counts("- retweets: 10105, favorites: 10 (02/13/2021 22:40:53)").unwrap();
        assert_eq!((r, f), (10105, 10));
        assert_eq!(t.to_string(), "2021-02-13 22:40:53");
        assert_eq!(
            counts("- retweets: many, favorites: 10 (02/13/2021 22:40:53)").unwrap_err(),
            "expected a whole number of retweets, found `many`"
        );
    }

    #[test]
    fn title_ranges() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!(
            title_dates("Hot Papers 2021-02-12").unwrap(),
            (d("2021-02-12"), None)
        );
        assert_eq!(
            title_dates("Hot Papers 2021-02-12 - 2021-02-14").unwrap(),
            (d("2021-02-12"), d("2021-02-14"))
        );
        assert_eq!(
            title_dates("Hot Papers 2021-02-30").unwrap_err(),
            "2021-02-30"
        );
    }

    #[test]
    fn file_names() {
        let d = NaiveDate::from_ymd_opt(2021, 2, 12);
        assert_eq!(file_name_day(Path::new("x/2021-02-12.md")), d);
        assert_eq!(file_name_day(Path::new("2021-02-12---Hot-Papers.md")), d);
        assert_eq!(file_name_day(Path::new("notes.md")), None);
    }

    #[test]
    fn ascii_fast_path_collapses_like_the_unicode_path() {
        for s in [
            "",
            " ",
            "a",
            "  a  b\t\tc\r\n d ",
            "x\u{0B}y\u{0C}z",
            "a \n\n b",
        ] {
            let unicode: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(collapse_whitespace(s), unicode.join(" "), "{s:?}");
        }
        assert_eq!(
            collapse_whitespace("Chlo\u{ea}  \u{3000} x"),
            "Chlo\u{ea} x"
        );
    }

    /// Found by fuzzing: a multi-byte character where a date could start.
    #[test]
    fn title_dates_skip_multibyte_characters() {
        assert_eq!(
            title_dates("Hot Papers 20\u{ce}\u{ce}\u{d2}\u{cf}\u{cc}\u{d2}"),
            Ok((None, None))
        );
        let day = NaiveDate::from_ymd_opt(2021, 2, 12);
        assert_eq!(title_dates("\u{ce}2021-02-12\u{ce}"), Ok((day, None)));
    }
}
